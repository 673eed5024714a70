/// Largest snapshot a follower accepts (checked before buffering any chunk).
let maxSnapshotBytes: UInt64 = 1 << 32

// Log replication (§5.3), commitment (§5.4.2), flow control and snapshot streaming.
extension RaftNode {
    mutating func appendAsLeader(_ entries: [Entry]) {
        log.append(entries)
        broadcastAppend()
    }

    mutating func broadcastAppend() {
        for member in progress.keys.sorted() where member != id {
            sendAppend(to: member)
        }
    }

    mutating func broadcastHeartbeat() {
        for member in progress.keys.sorted() where member != id {
            let peer = progress[member]!
            var heartbeat = Message(kind: .heartbeat, from: id, to: member, term: term)
            heartbeat.commit = min(peer.match, log.committed)
            heartbeat.readRound = readRound
            send(heartbeat)
        }
    }

    /// Sends `member` the entries it lacks (or a snapshot chunk when they are compacted).
    /// Returns false when nothing could be sent (paused, or nothing to send and `sendIfEmpty`
    /// is false).
    @discardableResult
    mutating func sendAppend(to member: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard var peer = progress[member], !peer.isPaused else { return false }
        let prevIndex = peer.next - 1
        guard let prevTerm = log.term(at: prevIndex) else {
            return startSnapshot(to: member)
        }
        let entries = log.slice(peer.next, log.lastIndex + 1, maxBytes: config.maxBytesPerMessage)
        if entries.isEmpty && !sendIfEmpty { return false }
        var append = Message(kind: .append, from: id, to: member, term: term)
        append.index = prevIndex
        append.logTerm = prevTerm
        append.entries = entries
        append.commit = log.committed
        if let last = entries.last {
            switch peer.state {
            case .replicate:
                peer.next = last.index + 1
                peer.inflights.add(last.index)
            case .probe:
                peer.probeSent = true
            case .snapshot:
                preconditionFailure("append to a member in snapshot state")
            }
        }
        progress[member] = peer
        send(append)
        return true
    }

    private mutating func startSnapshot(to member: NodeID) -> Bool {
        guard let snapshot = latestSnapshot, progress[member]!.recentActive else { return false }
        progress[member]!.becomeSnapshot(snapshot.metadata.index)
        sendSnapshotChunk(to: member)
        return true
    }

    mutating func sendSnapshotChunk(to member: NodeID) {
        guard let snapshot = latestSnapshot, progress[member] != nil,
              case var .snapshot(index) = progress[member]!.state else { return }
        if index != snapshot.metadata.index {
            // A newer snapshot replaced the one being streamed (only the latest image is kept):
            // restart the transfer with it, or this member would wait for chunks forever.
            progress[member]!.becomeSnapshot(snapshot.metadata.index)
            index = snapshot.metadata.index
        }
        let peer = progress[member]!
        let total = UInt64(snapshot.data.count)
        let start = min(peer.snapshotOffset, total)
        let end = min(start + UInt64(config.snapshotChunkSize), total)
        var chunk = Message(kind: .snapshotChunk, from: id, to: member, term: term)
        chunk.index = index
        chunk.snapshotMetadata = snapshot.metadata
        chunk.chunkOffset = start
        chunk.chunkTotal = total
        chunk.chunkData = Array(snapshot.data[Int(start)..<Int(end)])
        send(chunk)
    }

    // MARK: Leader side

    mutating func stepLeader(_ message: Message) {
        guard progress[message.from] != nil else { return }
        switch message.kind {
        case .appendResponse:
            progress[message.from]!.recentActive = true
            handleAppendResponse(message)
        case .heartbeatResponse:
            progress[message.from]!.recentActive = true
            handleHeartbeatResponse(message)
        case .snapshotChunkResponse:
            progress[message.from]!.recentActive = true
            handleSnapshotChunkResponse(message)
        case .readIndex:
            handleReadRequest(from: message.from, context: message.context)
        default:
            break
        }
    }

    private mutating func handleAppendResponse(_ response: Message) {
        let member = response.from
        if response.reject {
            var hint = response.rejectHint
            if response.logTerm > 0 {
                hint = log.findConflictByTerm(response.rejectHint, response.logTerm).index
            }
            if progress[member]!.maybeDecrease(rejected: response.index, matchHint: hint) {
                if progress[member]!.state == .replicate { progress[member]!.becomeProbe() }
                sendAppend(to: member)
            }
            return
        }
        let wasPaused = progress[member]!.isPaused
        guard progress[member]!.maybeUpdate(response.index) else {
            if wasPaused && !progress[member]!.isPaused { sendAppend(to: member, sendIfEmpty: false) }
            return
        }
        switch progress[member]!.state {
        case .probe:
            progress[member]!.becomeReplicate()
        case let .snapshot(index) where progress[member]!.match >= index:
            progress[member]!.becomeProbe()
            progress[member]!.becomeReplicate()
        case .replicate:
            progress[member]!.inflights.free(through: response.index)
        case .snapshot:
            break
        }
        if maybeCommit() {
            broadcastAppend()
        } else {
            // A member that was paused (probing, or in a full window) was skipped by the
            // broadcast that announced the current commit index: tell it now, or it learns it
            // only at the next heartbeat.
            if wasPaused { sendAppend(to: member) }
            while sendAppend(to: member, sendIfEmpty: false) {}
        }
        if member == leadTransferee && progress[member]!.match == log.lastIndex {
            send(Message(kind: .timeoutNow, from: id, to: member, term: term))
        }
    }

    private mutating func handleHeartbeatResponse(_ response: Message) {
        let member = response.from
        progress[member]!.probeSent = false
        if progress[member]!.state == .replicate && progress[member]!.inflights.isFull {
            progress[member]!.inflights.freeFirst()
        }
        if case .snapshot = progress[member]!.state {
            sendSnapshotChunk(to: member)
        } else if progress[member]!.match < log.lastIndex {
            sendAppend(to: member)
        }
        if response.readRound > 0 { acknowledgeReadRound(response.readRound, from: member) }
    }

    private mutating func handleSnapshotChunkResponse(_ response: Message) {
        let member = response.from
        guard case let .snapshot(index) = progress[member]!.state, index == response.index else { return }
        progress[member]!.snapshotOffset = response.chunkOffset
        sendSnapshotChunk(to: member)
    }

    /// Commits the highest index replicated on a quorum of voters, but only by counting
    /// replicas of an entry of the current term (§5.4.2, Figure 8).
    @discardableResult
    mutating func maybeCommit() -> Bool {
        guard role == .leader else { return false }
        var matches = confState.voters.map { progress[$0]?.match ?? 0 }
        guard !matches.isEmpty else { return false }
        matches.sort(by: >)
        let candidate = matches[confState.quorum - 1]
        guard candidate > log.committed, log.term(at: candidate) == term else { return false }
        log.commit(to: candidate)
        releaseReadsAwaitingCommit()
        return true
    }

    // MARK: Follower side

    mutating func handleAppend(_ append: Message) {
        var response = Message(kind: .appendResponse, from: id, to: append.from, term: term)
        if append.index < log.committed {
            response.index = log.committed
        } else if let lastMatch = log.maybeAppend(
            prevIndex: append.index, prevTerm: append.logTerm, leaderCommit: append.commit, entries: append.entries)
        {
            response.index = lastMatch
        } else {
            let hint = log.findConflictByTerm(min(append.index, log.lastIndex), append.logTerm)
            response.index = append.index
            response.reject = true
            response.rejectHint = hint.index
            response.logTerm = hint.term
        }
        send(response)
    }

    mutating func handleHeartbeat(_ heartbeat: Message) {
        log.commit(to: min(heartbeat.commit, log.lastIndex))
        var response = Message(kind: .heartbeatResponse, from: id, to: heartbeat.from, term: term)
        response.readRound = heartbeat.readRound
        send(response)
    }

    mutating func handleSnapshotChunk(_ chunk: Message) {
        guard let metadata = chunk.snapshotMetadata, chunk.chunkTotal <= maxSnapshotBytes else { return }
        if metadata.index <= log.committed {
            incomingSnapshot = nil
            var response = Message(kind: .appendResponse, from: id, to: chunk.from, term: term)
            response.index = log.committed
            send(response)
            return
        }
        if chunk.chunkOffset == 0 && incomingSnapshot?.metadata != metadata {
            incomingSnapshot = (metadata, [])
        }
        let received = UInt64(incomingSnapshot?.data.count ?? 0)
        let fits = received + UInt64(chunk.chunkData.count) <= chunk.chunkTotal
        guard incomingSnapshot?.metadata == metadata, chunk.chunkOffset == received, fits else {
            var response = Message(kind: .snapshotChunkResponse, from: id, to: chunk.from, term: term)
            response.index = metadata.index
            response.chunkOffset = incomingSnapshot?.metadata == metadata ? received : 0
            send(response)
            return
        }
        incomingSnapshot!.data.append(contentsOf: chunk.chunkData)
        if UInt64(incomingSnapshot!.data.count) == chunk.chunkTotal {
            let snapshot = Snapshot(metadata: metadata, data: incomingSnapshot!.data)
            incomingSnapshot = nil
            restore(snapshot)
            var response = Message(kind: .appendResponse, from: id, to: chunk.from, term: term)
            // Only the snapshot's last entry is known to match the leader's log: when our log
            // already held it, entries after it may be from a deposed leader (etcd answers with
            // the commit index here for the same reason).
            response.index = metadata.index
            send(response)
        } else {
            var response = Message(kind: .snapshotChunkResponse, from: id, to: chunk.from, term: term)
            response.index = metadata.index
            response.chunkOffset = UInt64(incomingSnapshot!.data.count)
            send(response)
        }
    }

    /// Installs a snapshot from the leader. When our log already holds its last entry, only the
    /// commit index moves and the entries are applied as usual.
    mutating func restore(_ snapshot: Snapshot) {
        let metadata = snapshot.metadata
        if log.matchTerm(metadata.index, metadata.term) {
            log.commit(to: metadata.index)
            return
        }
        log.restore(metadata)
        confState = metadata.confState
        latestSnapshot = snapshot
        pendingSnapshot = snapshot
    }
}
