import ClusterState

/// One entry of `GET /events`, in dockerd's JSON shape (`events.Message`, API 1.41).
///
/// It exists so the docker CLI (`docker events`) and docker-py (`client.events(decode=True)`)
/// render our cluster's changes as they render dockerd's: `Type`, `Action`, `Actor` with its
/// attributes, `scope` and both times; container events also carry the legacy `status`, `id`
/// and `from` fields dockerd still sends at this API version.
public struct DockerEventMessage: Codable, Sendable, Equatable {
    /// Docker's `Actor`: the object's id and what the CLI prints in parentheses.
    public struct Actor: Codable, Sendable, Equatable {
        public var id: String
        public var attributes: [String: String]

        public init(id: String, attributes: [String: String]) {
            self.id = id
            self.attributes = attributes
        }

        enum CodingKeys: String, CodingKey { case id = "ID", attributes = "Attributes" }
    }

    /// `service`, `node`, `container`, … (Docker's event types).
    public var type: String
    public var action: String
    public var actor: Actor
    /// `swarm` for cluster objects, `local` for a node's containers.
    public var scope: String
    /// When the change happened, in nanoseconds since the epoch (`timeNano`; `time` is derived).
    public var timeNano: Int64
    public var status: String?
    public var id: String?
    public var from: String?

    public init(type: String, action: String, actor: Actor, scope: String, timeNano: Int64) {
        self.type = type
        self.action = action
        self.actor = actor
        self.scope = scope
        self.timeNano = timeNano
        if type == "container" {
            status = action
            id = actor.id
            from = actor.attributes["image"]
        }
    }

    /// `time` in whole seconds.
    public var time: Int64 { timeNano / 1_000_000_000 }

    enum CodingKeys: String, CodingKey {
        case type = "Type", action = "Action", actor = "Actor", scope, time, timeNano, status, id, from
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        action = try container.decode(String.self, forKey: .action)
        actor = try container.decode(Actor.self, forKey: .actor)
        scope = try container.decodeIfPresent(String.self, forKey: .scope) ?? "local"
        let seconds = try container.decodeIfPresent(Int64.self, forKey: .time) ?? 0
        timeNano = try container.decodeIfPresent(Int64.self, forKey: .timeNano) ?? seconds * 1_000_000_000
        status = try container.decodeIfPresent(String.self, forKey: .status)
        id = try container.decodeIfPresent(String.self, forKey: .id)
        from = try container.decodeIfPresent(String.self, forKey: .from)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(status, forKey: .status)
        try container.encodeIfPresent(id, forKey: .id)
        try container.encodeIfPresent(from, forKey: .from)
        try container.encode(type, forKey: .type)
        try container.encode(action, forKey: .action)
        try container.encode(actor, forKey: .actor)
        try container.encode(scope, forKey: .scope)
        try container.encode(time, forKey: .time)
        try container.encode(timeNano, forKey: .timeNano)
    }
}
