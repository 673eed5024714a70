import Foundation

/// This node's injected faults, as `GET /swarmctl/chaos` shows them and `POST /swarmctl/chaos`
/// replaces them. Off unless the node runs with `enable-chaos`.
///
/// It exists so `swarmctl chaos` can compose cluster-wide faults (partitions, delays, disk
/// failures) from per-node settings: each node only ever changes what it sends, what it
/// accepts, its own disk and its own clock.
public struct ChaosSettings: Codable, Sendable, Equatable {
    /// Transport ids of peers this node sends nothing to / accepts nothing from.
    public var dropTo: [UInt64] = []
    public var dropFrom: [UInt64] = []
    /// Per peer (transport id as a decimal string): drop probability, delay, jitter, duplication.
    public var lossProbability: [String: Double] = [:]
    public var delayMillis: [String: Int] = [:]
    public var jitterMillis: [String: Int] = [:]
    public var duplicateProbability: [String: Double] = [:]
    /// Disk faults, as durations from the moment the request is applied (0: off).
    public var fsyncFailForMillis: Int = 0
    public var fsyncSlowMillis: Int = 0
    public var fsyncSlowForMillis: Int = 0
    public var diskFullForMillis: Int = 0
    /// Added to this node's wall clock (timestamps it writes) and timers' view of time.
    public var clockSkewMillis: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case dropTo = "DropTo", dropFrom = "DropFrom", lossProbability = "LossProbability", delayMillis = "DelayMillis"
        case jitterMillis = "JitterMillis", duplicateProbability = "DuplicateProbability"
        case fsyncFailForMillis = "FsyncFailForMillis", fsyncSlowMillis = "FsyncSlowMillis", fsyncSlowForMillis = "FsyncSlowForMillis"
        case diskFullForMillis = "DiskFullForMillis", clockSkewMillis = "ClockSkewMillis"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dropTo = try container.decodeIfPresent([UInt64].self, forKey: .dropTo) ?? []
        dropFrom = try container.decodeIfPresent([UInt64].self, forKey: .dropFrom) ?? []
        lossProbability = try container.decodeIfPresent([String: Double].self, forKey: .lossProbability) ?? [:]
        delayMillis = try container.decodeIfPresent([String: Int].self, forKey: .delayMillis) ?? [:]
        jitterMillis = try container.decodeIfPresent([String: Int].self, forKey: .jitterMillis) ?? [:]
        duplicateProbability = try container.decodeIfPresent([String: Double].self, forKey: .duplicateProbability) ?? [:]
        fsyncFailForMillis = try container.decodeIfPresent(Int.self, forKey: .fsyncFailForMillis) ?? 0
        fsyncSlowMillis = try container.decodeIfPresent(Int.self, forKey: .fsyncSlowMillis) ?? 0
        fsyncSlowForMillis = try container.decodeIfPresent(Int.self, forKey: .fsyncSlowForMillis) ?? 0
        diskFullForMillis = try container.decodeIfPresent(Int.self, forKey: .diskFullForMillis) ?? 0
        clockSkewMillis = try container.decodeIfPresent(Int.self, forKey: .clockSkewMillis) ?? 0
    }

    /// Why these settings cannot be applied, or nil.
    public var problem: String? {
        if (lossProbability.values.contains { !(0...1).contains($0) }) || (duplicateProbability.values.contains { !(0...1).contains($0) }) {
            return "probabilities must be between 0 and 1"
        }
        if (delayMillis.values.contains { $0 < 0 }) || (jitterMillis.values.contains { $0 < 0 }) { return "delays must not be negative" }
        if [fsyncFailForMillis, fsyncSlowMillis, fsyncSlowForMillis, diskFullForMillis].contains(where: { $0 < 0 }) {
            return "durations must not be negative"
        }
        let peers = Array(lossProbability.keys) + Array(delayMillis.keys) + Array(jitterMillis.keys) + Array(duplicateProbability.keys)
        if let bad = peers.first(where: { UInt64($0) == nil }) { return "peer '\(bad)' is not a transport id" }
        return nil
    }
}

/// `GET /swarmctl/chaos`: who this node is on the cluster port, and its current faults.
public struct ChaosStatus: Codable, Sendable, Equatable {
    public var nodeID: String
    public var transportID: UInt64
    public var enabled: Bool
    public var settings: ChaosSettings

    public init(nodeID: String, transportID: UInt64, enabled: Bool, settings: ChaosSettings) {
        self.nodeID = nodeID
        self.transportID = transportID
        self.enabled = enabled
        self.settings = settings
    }

    enum CodingKeys: String, CodingKey { case nodeID = "NodeID", transportID = "TransportID", enabled = "Enabled", settings = "Settings" }
}

/// Faults that act once rather than persist: pause this node's event loop, kill or freeze tasks.
public struct ChaosAction: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case pauseNode = "pause-node", killTask = "kill-task", pauseTask = "pause-task" }
    public var kind: Kind
    public var forMillis: Int?
    public var taskIDs: [String]?

    public init(kind: Kind, forMillis: Int? = nil, taskIDs: [String]? = nil) {
        self.kind = kind
        self.forMillis = forMillis
        self.taskIDs = taskIDs
    }

    enum CodingKeys: String, CodingKey { case kind = "Kind", forMillis = "ForMillis", taskIDs = "TaskIDs" }
}

extension APIError {
    public static let chaosDisabled = APIError(status: 403,
        "chaos is not enabled on this node: start it with --enable-chaos (or enable-chaos = true in its config) to accept fault injection")
}

// `/swarmctl/chaos` routes: GET the status, POST settings (replacing them), POST /action.
extension DockerAPI {
    func chaosRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        guard segments.count >= 2, segments[1] == "chaos", let controlPlane = anyNode(reply) else { return nil }
        switch (request.method, segments.count) {
        case ("GET", 2):
            return reply(json(200, controlPlane.chaosStatus))
        case ("POST", 2):
            guard controlPlane.chaosStatus.enabled else { return reply(APIError.chaosDisabled.response) }
            switch Self.decodeBody(ChaosSettings.self, request) {
            case let .failure(error): return reply(error.response)
            case let .success(settings):
                if let problem = settings.problem { return reply(APIError.badRequest(problem).response) }
                return controlPlane.applyChaos(settings, Self.emptyReply(reply))
            }
        case ("POST", 3) where segments[2] == "action":
            guard controlPlane.chaosStatus.enabled else { return reply(APIError.chaosDisabled.response) }
            switch Self.decodeBody(ChaosAction.self, request) {
            case let .failure(error): return reply(error.response)
            case let .success(action): return controlPlane.performChaos(action, Self.emptyReply(reply))
            }
        default:
            return nil
        }
    }
}
