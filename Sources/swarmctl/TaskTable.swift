import ClusterState
import Foundation

/// The rows of `service ps`, as docker prints them: one group per slot (per node for global
/// services), the current task first and its history indented with ` \_ `.
struct TaskTable {
    var tasks: [SwarmTask]
    var serviceNames: [String: String]
    var hostnames: [String: String]
    var noTrunc: Bool
    var now = Date().timeIntervalSince1970

    func rows() -> [[String]] {
        groupedTasks().flatMap { members in members.enumerated().map { position, task in row(task, isHistory: position > 0) } }
    }

    /// The tasks in table order (what `-q` prints).
    func orderedTasks() -> [SwarmTask] { groupedTasks().flatMap { $0 } }

    /// One group per slot in slot order, the current task first and then its history.
    private func groupedTasks() -> [[SwarmTask]] {
        var groups: [String: [SwarmTask]] = [:]
        for task in tasks { groups[groupKey(task), default: []].append(task) }
        return groups.keys.sorted(by: groupOrder).map { key in
            groups[key]!.sorted { ($0.desiredState <= .running ? 0 : 1, -Int($0.createdAt.millisecondsSinceEpoch)) < ($1.desiredState <= .running ? 0 : 1, -Int($1.createdAt.millisecondsSinceEpoch)) }
        }
    }

    /// `web.1` for a replica, `web.NODEID` for a global task.
    func taskName(_ task: SwarmTask) -> String {
        let service = serviceNames[task.serviceID] ?? task.serviceID
        if let slot = task.slot { return "\(service).\(slot)" }
        return "\(service).\(task.nodeID ?? "")"
    }

    private func groupKey(_ task: SwarmTask) -> String { taskName(task) }

    /// Slots in numeric order within a service.
    private func groupOrder(_ left: String, _ right: String) -> Bool {
        let leftParts = left.split(separator: ".", maxSplits: 1)
        let rightParts = right.split(separator: ".", maxSplits: 1)
        if leftParts.first != rightParts.first { return left < right }
        if let leftSlot = leftParts.last.flatMap({ Int($0) }), let rightSlot = rightParts.last.flatMap({ Int($0) }) {
            return leftSlot < rightSlot
        }
        return left < right
    }

    private func row(_ task: SwarmTask, isHistory: Bool) -> [String] {
        let id = noTrunc ? task.id : String(task.id.prefix(12))
        var image = task.spec.containerSpec.image
        if !noTrunc, let at = image.firstIndex(of: "@") { image = String(image[..<at]) }
        let node = task.nodeID.map { hostnames[$0] ?? String($0.prefix(12)) } ?? ""
        let state = task.status.state.rawValue.capitalized
        let ago = Self.humanDuration(seconds: now - Double(task.status.timestamp.millisecondsSinceEpoch) / 1000)
        return [id, (isHistory ? " \\_ " : "") + taskName(task), image, node, task.desiredState.rawValue.capitalized,
                "\(state) \(ago) ago", errorText(task), ""]
    }

    /// The error, or for a task waiting to be placed the scheduler's reason (so users see why).
    private func errorText(_ task: SwarmTask) -> String {
        if let err = task.status.err, !err.isEmpty { return noTrunc ? err : Self.quoteTruncated(err) }
        if task.status.state == .pending, task.status.message.hasPrefix("no suitable node") {
            return noTrunc ? task.status.message : Self.quoteTruncated(task.status.message)
        }
        return ""
    }

    /// Docker quotes the error and cuts it at 29 characters plus an ellipsis.
    static func quoteTruncated(_ text: String) -> String {
        let cut = text.count > 29 ? String(text.prefix(29)) + "…" : text
        return "\"\(cut)\""
    }

    /// go-units' HumanDuration, which docker uses for "Running 5 seconds ago".
    static func humanDuration(seconds: Double) -> String {
        let value = max(0, seconds)
        switch value {
        case ..<1: return "Less than a second"
        case ..<2: return "1 second"
        case ..<60: return "\(Int(value)) seconds"
        case ..<120: return "About a minute"
        case ..<(46 * 60): return "\(Int(value / 60)) minutes"
        case ..<(90 * 60): return "About an hour"
        case ..<(48 * 3600): return "\(Int(value / 3600)) hours"
        case ..<(14 * 86400): return "\(Int(value / 86400)) days"
        case ..<(60 * 86400): return "\(Int(value / (7 * 86400))) weeks"
        case ..<(730 * 86400): return "\(Int(value / (30 * 86400))) months"
        default: return "\(Int(value / (365 * 86400))) years"
        }
    }
}
