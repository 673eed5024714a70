/// Whether a stored payload is a secret (never shown by any route, delivered only to nodes that
/// run a task referencing it) or a config (shown by `config inspect`, delivered the same way).
public enum PayloadKind: String, Codable, Sendable, Equatable, CaseIterable {
    case secret, config

    /// The object kind in messages ("secret not found: db_pw").
    public var noun: String { rawValue }
}

/// Docker's `SecretSpec` / `ConfigSpec` as stored: the name, the labels and the data. The data
/// of one revision never changes (only the labels may be updated).
public struct PayloadSpec: Codable, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var name: String
    public var labels: [String: String]
    public var data: [UInt8]

    public init(name: String, labels: [String: String] = [:], data: [UInt8]) {
        self.name = name
        self.labels = labels
        self.data = data
    }

    /// Never the data: a spec that ends up in a log or an error message shows its size only.
    public var description: String { "PayloadSpec(name: \(name), labels: \(labels), data: \(data.count) bytes)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "labels": labels, "bytes": data.count]) }
}

/// A secret or a config in the replicated state (Docker's `Secret` and `Config` objects share
/// this shape). It exists so services can reference data that is kept in the (encrypted) Raft
/// log instead of their environment, and delivered only where a task needs it.
///
/// Revisions: `swarmctl secret update NAME` creates a new object with a new id, the same name and
/// `revision` + 1; the old one is marked `supersededBy` and stays as long as a service spec
/// (current or previous) or a task references it, so running tasks keep the value they started
/// with and a rollback finds it. Names resolve to the current revision only.
public struct PayloadObject: Codable, Sendable, Equatable {
    public var id: String
    public var version: ObjectVersion
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var spec: PayloadSpec
    /// 1 for the first revision of a name, +1 for each `secret update`.
    public var revision: UInt64
    /// The id of the revision that replaced this one; nil for the current revision.
    public var supersededBy: String?

    public init(id: String, version: ObjectVersion = ObjectVersion(index: 0), createdAt: Timestamp, spec: PayloadSpec,
                revision: UInt64 = 1, supersededBy: String? = nil) {
        self.id = id
        self.version = version
        self.createdAt = createdAt
        updatedAt = createdAt
        self.spec = spec
        self.revision = revision
        self.supersededBy = supersededBy
    }

    public var isCurrent: Bool { supersededBy == nil }
}

/// The size bound of one secret's or config's data, as Docker's (500 KiB).
public enum PayloadLimits {
    public static let maxDataBytes = 500 * 1024
}

/// One secret or config as the dispatcher delivers it to a node: the revision's id and data.
/// Kept in memory only on the node; its description never shows the data.
public struct TaskPayload: Codable, Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var kind: PayloadKind
    public var id: String
    public var data: [UInt8]

    public init(kind: PayloadKind, id: String, data: [UInt8]) {
        self.kind = kind
        self.id = id
        self.data = data
    }

    public var key: PayloadKey { PayloadKey(kind: kind, id: id) }

    public var description: String { "\(kind.rawValue) \(id) (\(data.count) bytes)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["kind": kind, "id": id, "bytes": data.count]) }
}

/// Names one delivered payload: its kind and revision id.
public struct PayloadKey: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var kind: PayloadKind
    public var id: String

    public init(kind: PayloadKind, id: String) {
        self.kind = kind
        self.id = id
    }

    public static func < (a: PayloadKey, b: PayloadKey) -> Bool {
        (a.kind.rawValue, a.id) < (b.kind.rawValue, b.id)
    }

    public var description: String { "\(kind.rawValue) \(id)" }
}
