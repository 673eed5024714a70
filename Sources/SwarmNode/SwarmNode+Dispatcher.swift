import ClusterState
import Platform
import Raft
import Storage
import Transport

// The dispatcher's liveness half: every node heartbeats the managers once per period; the
// leader marks nodes ready or down and keeps Raft membership in line with the managers in the
// cluster state (learner first, voter once caught up).
extension SwarmNode {
    func dispatcherRound() {
        guard !isStopped else { return }
        sendHeartbeats()
        connectToManagers()
        sendTaskReports()
        guard raft?.role == .leader else { return }
        dispatcherRunner.recordHeartbeat(nodeID: identity.nodeID)
        dispatcherRunner.dispatchHeartbeat(nodeID: identity.nodeID, link: 0, ack: assignmentReceiver.ack, in: state)
        dispatchNetworkTableHeartbeat(nodeID: identity.nodeID, link: 0, ack: networkTableStream.receiver.ack)
        dispatcherRunner.recordReportedDescription(reportedDescription, of: identity.nodeID, in: state)
        dispatcherRunner.guardAcknowledgements(in: state)
        dispatcherRunner.updateNodeStatuses(in: state)
        reconcileRaftMembership()
    }

    func sendHeartbeats() {
        let frame = ApplicationFrame(.heartbeat, Heartbeat(nodeID: identity.nodeID, assignments: assignmentReceiver.ack,
                                                                networkTables: networkTableStream.receiver.ack,
                                                                description: reportedDescription))
        var managers = Set(identity.managerAddresses.keys)
        for manager in state.managers { if let id = manager.managerStatus?.raftID { managers.insert(id) } }
        for manager in managers.sorted() where manager != identity.transportID {
            transport.send(application: frame, to: manager)
        }
    }

    func handleHeartbeat(_ heartbeat: Heartbeat, on connection: ConnectionInfo) {
        guard raft != nil, let member = state.member(transportID: connection.remoteNodeID),
              member.id == heartbeat.nodeID else { return }
        dispatcherRunner.recordHeartbeat(nodeID: heartbeat.nodeID)
        nodeConnections[heartbeat.nodeID] = connection.id
        var addresses: [UInt64: String] = [:]
        for manager in state.managers { if let status = manager.managerStatus { addresses[status.raftID] = status.addr } }
        let raftMember = raft!.confState.contains(connection.remoteNodeID)
        let response = HeartbeatResponse(role: member.spec.role, raftMember: raftMember, managerAddresses: addresses,
                                         leader: raft!.leader, trustedRootsPEM: state.secrets?.ca?.trustedRootsPEM)
        transport.reply(application: ApplicationFrame(.heartbeatResponse, response), on: connection.id)
        if raft!.role == .leader {
            dispatcherRunner.dispatchHeartbeat(nodeID: heartbeat.nodeID, link: connection.id.rawValue, ack: heartbeat.assignments ?? .none, in: state)
            dispatchNetworkTableHeartbeat(nodeID: heartbeat.nodeID, link: connection.id.rawValue, ack: heartbeat.networkTables ?? .none)
            dispatcherRunner.recordReportedDescription(heartbeat.description, of: heartbeat.nodeID, in: state)
        }
    }

    /// A worker learns the current managers, and that it was promoted.
    func followHeartbeatResponse(_ response: HeartbeatResponse) {
        if let leader = response.leader, leader != noNode { knownLeader = leader }
        if !response.managerAddresses.isEmpty && response.managerAddresses != identity.managerAddresses {
            identity.managerAddresses = response.managerAddresses
            try? identity.save(to: dataDirectory)
            connectToManagers()
        }
        if response.role == .worker && !response.raftMember && raft != nil {
            stepDownToWorker()
        }
        if response.role == .manager && raft == nil {
            logger.info("promoted to manager: starting Raft as a learner")
            identity.role = .manager
            do {
                try identity.save(to: dataDirectory)
                try startRaft(bootstrap: nil)
            } catch {
                logger.error("could not start as a manager: \(error)")
            }
        }
    }

    /// After a demotion has left the Raft membership: stop Raft and keep running as a worker.
    func stepDownToWorker() {
        guard raft != nil else { return }
        logger.info("demoted: left the Raft membership, continuing as a worker")
        failAllPending(.notManager)
        // Waits for a batch in flight before the log is removed under it.
        closeRaft()
        // A worker keeps no replicated state: the old log would be re-applied from index 1 onto
        // the state it already built if the node were promoted again (a crash loop), and it holds
        // the join tokens. A later promotion starts empty and catches up from the leader.
        state = ClusterState()
        noteNetworkTablesChanged()
        do {
            try FileSystem.removeTree(RaftStorage.directory(in: dataDirectory))
        } catch {
            logger.warn("demoted: could not remove the old Raft log (\(error)); it is ignored from now on")
        }
        forgetManagerKeys()
        identity.role = .worker
        try? identity.save(to: dataDirectory)
    }

    /// A manager that applied its own demotion and its removal from Raft becomes a worker.
    func followOwnRole() {
        guard let current = raft, current.appliedIndex > 0,
              state.nodes[identity.nodeID]?.spec.role == .worker,
              !current.confState.contains(identity.transportID) else { return }
        stepDownToWorker()
    }

    /// One membership change per round toward "the voters and learners are exactly the managers
    /// of the cluster state": add missing ones as learners, promote caught-up learners, remove
    /// the rest.
    func reconcileRaftMembership() {
        guard let log = replicatedLog, log.raft.role == .leader else { return }
        var current = log.raft
        let desired = Set(state.managers.compactMap { $0.managerStatus?.raftID })
        guard !desired.isEmpty else { return }
        let conf = current.confState
        let members = Set(conf.voters + conf.learners)
        var change: ConfChange?
        if let missing = desired.subtracting(members).sorted().first {
            change = ConfChange(kind: .addLearner, nodeID: missing)
        } else if let learner = conf.learners.first(where: { desired.contains($0) }),
                  let progress = current.progress(of: learner), progress.isReplicating, progress.match >= current.commitIndex {
            change = ConfChange(kind: .addVoter, nodeID: learner)
        } else if let extra = members.subtracting(desired).sorted().first {
            change = ConfChange(kind: .removeNode, nodeID: extra)
        }
        guard let change else { return }
        do {
            try current.proposeConfChange(change)
            log.raft = current
            logger.info("membership: proposing \(change.kind) \(change.nodeID)")
            processReady()
        } catch {
            logger.debug("membership change \(change.kind) \(change.nodeID) deferred: \(error)")
        }
    }
}
