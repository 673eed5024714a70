import ClusterState
import Dispatcher

extension Workload {
    /// The secrets and configs every run creates with the cluster (ids, names, sizes): big
    /// enough that a message carrying two of them is sent in parts (`payloadBytesPerPart`).
    static let payloads: [(kind: PayloadKind, id: String, name: String, bytes: Int)] = [
        (.secret, "secret-1", "sim_db_password", 700),
        (.secret, "secret-2", "sim_api_key", 400),
        (.secret, "secret-3", "sim_tls_key", 900),
        (.config, "config-1", "sim_app_config", 300),
    ]

    /// Payload bytes per part of an assignment message: small, so the simulated agents put
    /// parts together (`AssignmentAssembler`) as the node does with 16 MiB frames.
    static let payloadBytesPerPart = 1_024
}

/// Secrets and configs in the control-plane run: the workload's services reference some, the
/// leader's dispatcher sends them with the assignments that need them (in parts when large), and
/// the delivery invariants (`PayloadInvariants`) are checked on every agent after every message
/// it applies, on every task it prepares, and at the end against what the leader sent.
extension ControlPlaneSimulator {
    /// The commands that create the workload's payloads (in the bootstrap batch).
    func payloadCommands(at: Timestamp) -> [ClusterCommand] {
        Workload.payloads.enumerated().map { index, payload in
            let data = (0..<payload.bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) }
            return .createPayload(kind: payload.kind, object: PayloadObject(id: payload.id, createdAt: at,
                                                                             spec: PayloadSpec(name: payload.name, data: data)))
        }
    }

    /// A random choice of the workload's payloads for a service (none about a third of the
    /// time), from the run's payload random stream so the other draws stay as they were.
    func choosePayloads(_ spec: inout ServiceSpec) {
        var secrets: [SecretReference] = []
        var configs: [ConfigReference] = []
        let wanted = Int(payloadRandom.next() % 3)
        for payload in Workload.payloads where wanted > 0 && payloadRandom.next() % 2 == 0 {
            switch payload.kind {
            case .secret:
                secrets.append(SecretReference(file: PayloadFile(name: payload.name), secretID: payload.id, secretName: payload.name))
            case .config:
                configs.append(ConfigReference(file: PayloadFile(name: "/etc/\(payload.name)"), configID: payload.id, configName: payload.name))
            }
        }
        spec.taskTemplate.containerSpec.secrets = secrets.isEmpty ? nil : secrets
        spec.taskTemplate.containerSpec.configs = configs.isEmpty ? nil : configs
    }

    /// Sends one message of `host`'s assignment stream as the node shell does: in parts when its
    /// payloads exceed `payloadBytesPerPart` (each part travels, and may be lost, on its own).
    func sendAssignments(_ message: AssignmentMessage, from slot: Int, to host: Int) {
        var message = message
        tamperAssignments?(&message)
        let parts = message.split(maxPayloadBytes: Workload.payloadBytesPerPart)
        if parts.count > 1 { report.assignmentMessagesSplit += 1 }
        for part in parts { send(.assignments(part), from: slot, to: host) }
    }

    /// Invariant 2 of `PayloadInvariants` after `host` applied a message.
    func checkPayloadsHeld(_ host: Int) {
        let receiver = agents[host].assignments
        if let problem = PayloadInvariants.problems(node: agents[host].nodeID, held: receiver.payloadKeys,
                                                    tasks: receiver.sortedTasks).first {
            checker.fail("secret delivery after \(agents[host].nodeID) applied assignment version \(receiver.version): \(problem)")
        }
        report.payloadChecks += 1
    }

    /// Invariant 1: the fake executor prepares `task` as the runner does, reading its payloads.
    /// Missing ones are a violation while the node's assignments still say the task needs them;
    /// otherwise (the task finished or moved meanwhile) the runner rejects it, and so does this.
    /// Returns whether the task may be prepared.
    func payloadsDelivered(for task: SwarmTask, on host: Int) -> Bool {
        let receiver = agents[host].assignments
        let missing = PayloadInvariants.missing(for: task, held: receiver.payloadKeys)
        guard let first = missing.first else { return true }
        if let current = receiver.tasks[task.id], !current.status.state.isTerminal {
            checker.fail("secret delivery: \(agents[host].nodeID) prepares task \(task.id) without \(first), which it references")
        }
        return false
    }

    /// At the end: every agent that acknowledged the leader's latest assignment version holds
    /// exactly the payloads the leader sent it, and the leader sent what the state says now.
    func payloadDeliveryProblem() -> String? {
        guard let leader = readyLeader(), managers[leader].dispatcher != nil else { return nil }
        pushAssignments(leader)
        let state = managers[leader].state
        for host in 0..<hostCount where agents[host].isUp {
            let node = nodeID(host)
            guard let sent = managers[leader].dispatcher!.sent(to: node) else { continue }
            let tasks = assignedTasks(onNode: node, slot: leader)
            if sent.held != AssignmentContent.held(PayloadDelivery.payloads(for: tasks, in: state)) {
                return "secret delivery: the leader's latest payloads for \(node) are not those its tasks need"
            }
            let receiver = agents[host].assignments
            guard receiver.session == sent.session, receiver.version == sent.version else { continue }
            if receiver.payloadKeys != sent.held {
                return "secret delivery: \(node) acknowledged version \(sent.version) but holds other payloads than the leader sent"
            }
            report.agentsPayloadsInSync += 1
        }
        return nil
    }
}
