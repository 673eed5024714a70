/// What kind of election a node starts.
enum CampaignKind {
    /// Ask first whether a real election could win (thesis §9.6); no term changes.
    case preVote
    case election
    /// A real election the leader asked for with TimeoutNow: voters skip their lease check.
    case transfer
}

// Leader election (§5.2, §5.4.1), PreVote and CheckQuorum.
extension RaftNode {
    /// Clears per-term state; a new term also clears the vote.
    mutating func reset(term newTerm: UInt64) {
        if newTerm != term {
            term = newTerm
            vote = noNode
        }
        leader = noNode
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = config.electionTicks + Int(random.next() % UInt64(config.electionTicks))
        votes = [:]
        leadTransferee = noNode
        pendingReads = []
        readsAwaitingCommit = []
        progress = [:]
    }

    mutating func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
        if newLeader != noNode { leaderLostFastRetry = false }
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader cannot become a pre-candidate")
        // The term stays; only the votes and the leader are cleared (a pre-candidate must not
        // keep a leader, or peers stay "in lease" forever: etcd #9586).
        votes = [:]
        leader = noNode
        role = .preCandidate
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "a leader cannot become a candidate")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate can win an election")
        reset(term: term)
        role = .leader
        leader = id
        for member in confState.voters { addProgress(member, isLearner: false) }
        for member in confState.learners { addProgress(member, isLearner: true) }
        progress[id]?.match = log.stableIndex
        // Any unapplied membership change in our log must apply before another is proposed.
        pendingConfIndex = log.lastIndex
        appendAsLeader([Entry(term: term, index: log.lastIndex + 1, kind: .leaderNoop)])
    }

    mutating func addProgress(_ member: NodeID, isLearner: Bool) {
        var peer = PeerProgress(next: log.lastIndex + 1, isLearner: isLearner, maxInflight: config.maxInflightMessages)
        peer.recentActive = true
        if member == id { peer.match = log.stableIndex }
        progress[member] = peer
    }

    mutating func campaign(_ kind: CampaignKind) {
        let requestKind: MessageKind
        let requestTerm: UInt64
        if kind == .preVote {
            becomePreCandidate()
            requestKind = .preVote
            requestTerm = term + 1
        } else {
            becomeCandidate()
            requestKind = .vote
            requestTerm = term
        }
        recordVote(from: id, granted: true)
        if tallyVotes() { return }
        for voter in confState.voters where voter != id {
            var request = Message(kind: requestKind, from: id, to: voter, term: requestTerm)
            request.index = log.lastIndex
            request.logTerm = log.lastTerm
            request.isTransfer = kind == .transfer
            send(request)
        }
    }

    mutating func recordVote(from voter: NodeID, granted: Bool) {
        if votes[voter] == nil { votes[voter] = granted }
    }

    /// Counts votes of current voters; wins, loses, or keeps waiting. Returns true if decided.
    @discardableResult
    mutating func tallyVotes() -> Bool {
        var granted = 0
        var rejected = 0
        for voter in confState.voters {
            switch votes[voter] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        if granted >= confState.quorum {
            if role == .preCandidate {
                campaign(.election)
            } else {
                becomeLeader()
            }
            return true
        }
        if rejected >= confState.quorum {
            let fastRetry = leaderLostFastRetry
            becomeFollower(term: term, leader: noNode)
            if fastRetry {
                // The leader's peers may not have noticed its death yet: try again in 1–2 ticks.
                leaderLostFastRetry = true
                electionElapsed = max(0, randomizedElectionTimeout - 1 - Int(random.next() % 2))
            }
            return true
        }
        return false
    }

    /// RequestVote and PreVote (§5.2, §5.4.1): at most one vote per term, first come first
    /// served, only to candidates whose log is at least as up to date as ours.
    mutating func handleVoteRequest(_ request: Message) {
        let canVote = vote == request.from
            || (vote == noNode && leader == noNode)
            || (request.kind == .preVote && request.term > term)
        let granted = canVote && log.isUpToDate(lastIndex: request.index, lastTerm: request.logTerm)
        let responseKind: MessageKind = request.kind == .vote ? .voteResponse : .preVoteResponse
        if granted {
            // A pre-vote grant answers in the term it was asked about; nothing changes here.
            send(Message(kind: responseKind, from: id, to: request.from, term: request.term))
            if request.kind == .vote {
                electionElapsed = 0
                vote = request.from
            }
        } else {
            var response = Message(kind: responseKind, from: id, to: request.from, term: term)
            response.reject = true
            send(response)
        }
    }

    /// CheckQuorum: did a quorum of voters (counting ourselves) talk to us in the last election
    /// timeout? Clears the marks for the next round.
    mutating func quorumRecentlyActive() -> Bool {
        var active = 0
        for voter in confState.voters {
            if voter == id || progress[voter]?.recentActive == true { active += 1 }
        }
        for member in progress.keys where member != id { progress[member]?.recentActive = false }
        return active >= confState.quorum
    }

    /// Leadership transfer (thesis §3.10): bring `target` up to date, then tell it to campaign.
    public mutating func transferLeadership(to target: NodeID) {
        guard role == .leader, target != id, confState.voters.contains(target) else { return }
        guard leadTransferee != target else { return }
        leadTransferee = target
        electionElapsed = 0
        if progress[target]?.match == log.lastIndex {
            send(Message(kind: .timeoutNow, from: id, to: target, term: term))
        } else {
            sendAppend(to: target)
        }
    }
}
