/// A file the task's container sees at `target`, read-only, with the given owner and mode: a
/// secret (under /run/secrets) or a config (anywhere).
///
/// It exists so the agent can hand secrets and configs to an executor without the executor
/// knowing the service spec. The data lives in memory until the executor writes it to a tmpfs
/// outside the node's data directory; the description never shows it.
public struct TaskFile: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public enum Kind: String, Sendable {
        case secret, config
    }

    public var kind: Kind
    /// Absolute path inside the container.
    public var target: String
    public var data: [UInt8]
    public var uid: UInt32
    public var gid: UInt32
    /// Permission bits (0444 by default in Docker).
    public var mode: UInt32

    public init(kind: Kind, target: String, data: [UInt8], uid: UInt32 = 0, gid: UInt32 = 0, mode: UInt32 = 0o444) {
        precondition(target.hasPrefix("/"), "a task file's target must be absolute: \(target)")
        self.kind = kind
        self.target = target
        self.data = data
        self.uid = uid
        self.gid = gid
        self.mode = mode
    }

    public var description: String { "\(kind.rawValue) file \(target) (\(data.count) bytes, \(uid):\(gid) \(String(mode, radix: 8)))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["kind": kind, "target": target, "bytes": data.count]) }
}
