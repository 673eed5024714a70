import ClusterState

/// What a command's objects looked like before it was applied: the half of an event that the
/// state after the command no longer holds (a removed service's name, a task's previous state).
public struct EventPrelude: Sendable {
    var nodes: [(id: String, before: Node?)]
    var services: [(id: String, before: Service?)]
    var tasks: [(id: String, before: SwarmTask?)]
    var networks: [(id: String, before: Network?)]
    /// The time the proposer stamped on the command, if it carries one.
    var time: Timestamp?
    /// A secret or config event, complete before the command applies (Docker's `Type` secret or
    /// config; it names the object, which a removal deletes).
    var payloadEvent: DockerEventMessage?
}

/// Derives Docker's events from the commands a manager applies.
///
/// It exists so `docker events` sees the cluster's history without a log of its own: every
/// manager applies the same commands in the same order and stamps events with the times the
/// proposer put in them, so the derived histories agree. Service and node events come from the
/// objects' create/update/remove; a task container's `start` and `die` come from its task's
/// reported state moving to running and to a terminal state (the agent's reports, not the
/// runtime's own events, so their times are the agent's report times). Pure: no clock, no I/O;
/// it remembers the names of recently removed services for their tasks' last events.
public struct DockerEventDeriver: Sendable {
    private var removedServiceNames: [String: String] = [:]
    private var removedOrder: [String] = []
    private static let removedServicesKept = 256

    public init() {}

    /// Call before applying `command` to `state`.
    public func prelude(_ command: ClusterCommand, in state: ClusterState) -> EventPrelude {
        let touched = state.touchedObjects(command)
        return EventPrelude(nodes: touched.nodes.map { ($0, state.nodes[$0]) },
                            services: touched.services.map { ($0, state.services[$0]) },
                            tasks: touched.tasks.map { ($0, state.tasks[$0]) },
                            networks: touched.networks.map { ($0, state.networking.networks[$0]) },
                            time: Self.time(of: command), payloadEvent: Self.payloadEvent(command, in: state))
    }

    /// create, update (labels) and remove of secrets and configs, with dockerd's `name`
    /// attribute; a `secret update` revision is the create of the new revision.
    static func payloadEvent(_ command: ClusterCommand, in state: ClusterState) -> DockerEventMessage? {
        func event(_ kind: PayloadKind, _ action: String, _ id: String, _ name: String?, _ time: Timestamp) -> DockerEventMessage {
            DockerEventMessage(type: kind.rawValue, action: action, actor: .init(id: id, attributes: ["name": name ?? ""]),
                               scope: "swarm", timeNano: nanos(time))
        }
        func name(_ kind: PayloadKind, _ id: String) -> String? {
            (kind == .secret ? state.secretObjects[id] : state.configObjects[id])?.spec.name
        }
        switch command {
        case let .createPayload(kind, object): return event(kind, "create", object.id, object.spec.name, object.createdAt)
        case let .updatePayloadLabels(kind, id, _, _, at): return event(kind, "update", id, name(kind, id), at)
        case let .removePayload(kind, id, at): return event(kind, "remove", id, name(kind, id), at)
        case let .reviseSecret(_, revision, _): return event(.secret, "create", revision.id, revision.spec.name, revision.createdAt)
        default: return nil
        }
    }

    /// Call after `command` was applied successfully; `fallback` stamps events whose command
    /// carries no time (the apply time on this manager).
    public mutating func events(_ prelude: EventPrelude, after state: ClusterState, fallback: Timestamp) -> [DockerEventMessage] {
        var events: [DockerEventMessage] = prelude.payloadEvent.map { [$0] } ?? []
        for (id, before) in prelude.nodes {
            let after = state.nodes[id]
            let time = prelude.time ?? after?.updatedAt ?? fallback
            events += Self.nodeEvent(id: id, before: before, after: after, time: time).map { [$0] } ?? []
        }
        for (id, before) in prelude.services {
            let after = state.services[id]
            if after == nil, let name = before?.spec.name { rememberRemoved(id, name) }
            let time = prelude.time ?? after?.updatedAt ?? fallback
            events += Self.serviceEvent(id: id, before: before, after: after, time: time).map { [$0] } ?? []
        }
        for (id, before) in prelude.networks {
            events += Self.networkEvent(id: id, before: before, after: state.networking.networks[id], fallback: prelude.time ?? fallback).map { [$0] } ?? []
        }
        for (id, before) in prelude.tasks {
            guard let after = state.tasks[id] else { continue }
            let serviceName = after.serviceAnnotations?.name ?? state.services[after.serviceID]?.spec.name
                ?? removedServiceNames[after.serviceID] ?? after.serviceID
            events += Self.containerEvents(before: before, after: after, serviceName: serviceName)
        }
        return events
    }

    private mutating func rememberRemoved(_ id: String, _ name: String) {
        removedServiceNames[id] = name
        removedOrder.append(id)
        if removedOrder.count > Self.removedServicesKept { removedServiceNames[removedOrder.removeFirst()] = nil }
    }

    // MARK: Services and nodes

    /// dockerd's service event: `name`, and on an update the replica count and update state
    /// when they changed (`replicas.old/new`, `updatestate.old/new`).
    static func serviceEvent(id: String, before: Service?, after: Service?, time: Timestamp) -> DockerEventMessage? {
        let action: String
        var attributes: [String: String] = [:]
        switch (before, after) {
        case let (nil, service?):
            action = "create"
            attributes["name"] = service.spec.name
        case let (service?, nil):
            action = "remove"
            attributes["name"] = service.spec.name
        case let (old?, new?) where old.version != new.version:
            action = "update"
            attributes["name"] = new.spec.name
            if case let .replicated(oldCount) = old.spec.mode, case let .replicated(newCount) = new.spec.mode, oldCount != newCount {
                attributes["replicas.old"] = String(oldCount)
                attributes["replicas.new"] = String(newCount)
            }
            if let state = new.updateStatus?.state, state != old.updateStatus?.state {
                if let oldState = old.updateStatus?.state { attributes["updatestate.old"] = oldState.rawValue }
                attributes["updatestate.new"] = state.rawValue
            }
        default:
            return nil
        }
        return DockerEventMessage(type: "service", action: action, actor: .init(id: id, attributes: attributes),
                                  scope: "swarm", timeNano: nanos(time))
    }

    /// dockerd's node event: `name` (spec name, else hostname), and on an update the
    /// availability, role and state when they changed.
    static func nodeEvent(id: String, before: Node?, after: Node?, time: Timestamp) -> DockerEventMessage? {
        func name(_ node: Node) -> String { node.spec.name.flatMap { $0.isEmpty ? nil : $0 } ?? node.description.hostname }
        let action: String
        var attributes: [String: String] = [:]
        switch (before, after) {
        case let (nil, node?):
            action = "create"
            attributes["name"] = name(node)
        case let (node?, nil):
            action = "remove"
            attributes["name"] = name(node)
        case let (old?, new?) where old.version != new.version:
            action = "update"
            attributes["name"] = name(new)
            func changed(_ key: String, _ oldValue: String, _ newValue: String) {
                guard oldValue != newValue else { return }
                attributes["\(key).old"] = oldValue
                attributes["\(key).new"] = newValue
            }
            changed("availability", old.spec.availability.rawValue, new.spec.availability.rawValue)
            changed("role", old.spec.role.rawValue, new.spec.role.rawValue)
            changed("state", old.status.state.rawValue, new.status.state.rawValue)
        default:
            return nil
        }
        return DockerEventMessage(type: "node", action: action, actor: .init(id: id, attributes: attributes),
                                  scope: "swarm", timeNano: nanos(time))
    }

    /// dockerd's network events: `create` and `destroy`, with the name and driver (`type`).
    static func networkEvent(id: String, before: Network?, after: Network?, fallback: Timestamp) -> DockerEventMessage? {
        let (action, network, time): (String, Network, Timestamp)
        switch (before, after) {
        case let (nil, created?): (action, network, time) = ("create", created, created.createdAt)
        case let (removed?, nil): (action, network, time) = ("destroy", removed, fallback)
        default: return nil
        }
        return DockerEventMessage(type: "network", action: action,
                                  actor: .init(id: id, attributes: ["name": network.spec.name, "type": network.spec.driver]),
                                  scope: "swarm", timeNano: nanos(time))
    }

    // MARK: Task containers

    /// `start` when the task's reported state reaches running, `die` (with `exitCode`) when a
    /// task that ran reaches a terminal state; both for a task that started and exited between
    /// two reports (a terminal report with an exit code and no running one before it).
    static func containerEvents(before: SwarmTask?, after: SwarmTask, serviceName: String) -> [DockerEventMessage] {
        let old = before?.status.state ?? .new
        let new = after.status.state
        guard old != new else { return [] }
        let exitCode = after.status.containerStatus?.exitCode
        let ranBefore = old >= .running && !old.isTerminal
        let starts = old < .running && (new == .running || (new.isTerminal && exitCode != nil))
        let dies = new.isTerminal && !old.isTerminal && (ranBefore || starts)
        var events: [DockerEventMessage] = []
        let id = after.status.containerStatus?.containerID ?? before?.status.containerStatus?.containerID ?? after.id
        let time = nanos(after.status.timestamp)
        var attributes = containerAttributes(after, serviceName: serviceName)
        if starts {
            events.append(DockerEventMessage(type: "container", action: "start", actor: .init(id: id, attributes: attributes),
                                             scope: "local", timeNano: time))
        }
        if dies {
            attributes["exitCode"] = String(exitCode ?? (new == .complete ? 0 : 255))
            events.append(DockerEventMessage(type: "container", action: "die", actor: .init(id: id, attributes: attributes),
                                             scope: "local", timeNano: time))
        }
        return events
    }

    /// The labels dockerd's swarm executor puts on a task container, plus the container's own
    /// labels, its image and its name (`SERVICE.SLOT.TASK`, or `SERVICE.NODE.TASK` when global).
    public static func containerAttributes(_ task: SwarmTask, serviceName: String) -> [String: String] {
        var attributes = task.spec.containerSpec.labels ?? [:]
        let taskName = containerName(task, serviceName: serviceName)
        attributes["com.docker.swarm.node.id"] = task.nodeID ?? ""
        attributes["com.docker.swarm.service.id"] = task.serviceID
        attributes["com.docker.swarm.service.name"] = serviceName
        attributes["com.docker.swarm.task"] = ""
        attributes["com.docker.swarm.task.id"] = task.id
        attributes["com.docker.swarm.task.name"] = taskName
        attributes["image"] = task.spec.containerSpec.image
        attributes["name"] = taskName
        return attributes
    }

    public static func containerName(_ task: SwarmTask, serviceName: String) -> String {
        "\(serviceName).\(task.slot.map(String.init) ?? task.nodeID ?? "0").\(task.id)"
    }

    // MARK: Times

    static func nanos(_ time: Timestamp) -> Int64 { Int64(time.millisecondsSinceEpoch) * 1_000_000 }

    /// The time the proposer put in `command`, for the node and service events it makes.
    static func time(of command: ClusterCommand) -> Timestamp? {
        switch command {
        case let .initialize(_, firstNode, _): firstNode.createdAt
        case let .addNode(node, _): node.createdAt
        case let .updateNodeSpec(_, _, _, at), let .setNodeStatus(_, _, _, at), let .setManagerStatus(_, _, at),
             let .removeNode(_, _, at), let .updateService(_, _, _, at), let .rollbackService(_, _, at),
             let .setServiceUpdateStatus(_, _, _, at), let .removeService(_, at), let .setNodeDescription(_, _, at):
            at
        case let .createService(service): service.createdAt
        case let .removeNetwork(_, at): at
        default: nil
        }
    }
}
