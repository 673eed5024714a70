import Glibc
import Platform

/// Why the durable Raft state could not be opened or written.
///
/// Corruption errors name the file, the byte offset and what the operator can do, because a node
/// that refuses to start is only useful if the person reading the log knows what to do next.
public struct StorageError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// Damage before the tail of the log, or state that does not fit together: refusing to start.
        case corruption
        /// Another process holds the data directory.
        case locked
        /// A system call failed.
        case io
    }

    public let kind: Kind
    public let file: String
    public let offset: Int?
    public let detail: String
    /// Corruption where the bytes pass their CRC but not their AES-GCM authentication: deliberate
    /// alteration, bytes moved from elsewhere, or keys that are not this data dir's. Recovery never
    /// works around it (no falling back to an older snapshot).
    public let failedAuthentication: Bool

    public static let remedy =
        "Restore the data dir from a backup, or remove it and rejoin the node to the cluster (it will receive a snapshot from the leader)."

    public init(_ kind: Kind, file: String, offset: Int? = nil, _ detail: String, failedAuthentication: Bool = false) {
        self.kind = kind
        self.file = file
        self.offset = offset
        self.detail = detail
        self.failedAuthentication = failedAuthentication
    }

    static func corruption(_ file: String, at offset: Int? = nil, _ detail: String) -> StorageError {
        StorageError(.corruption, file: file, offset: offset, detail)
    }

    public var description: String {
        let place = offset.map { "\(file) at byte \($0)" } ?? file
        switch kind {
        case .corruption: return "raft storage corrupt: \(place): \(detail). Refusing to start. \(Self.remedy)"
        case .locked: return "raft storage busy: \(place): \(detail)"
        case .io: return "raft storage I/O error: \(place): \(detail)"
        }
    }
}

/// Where storage reports what it repaired or skipped (a torn tail, a corrupt snapshot).
///
/// A value, not a global, so tests can capture the messages and the node can route them into its
/// own log. The default writes one line to stderr.
public struct StorageLogger: Sendable {
    public let warn: @Sendable (String) -> Void

    public init(warn: @escaping @Sendable (String) -> Void) {
        self.warn = warn
    }

    public static let standardError = StorageLogger { message in
        var line = Array("swarmctl storage: warning: \(message)\n".utf8)
        line.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let written = write(2, raw.baseAddress! + done, raw.count - done)
                if written <= 0 { break }
                done += written
            }
        }
    }
}

func ioError(_ error: Error, _ file: String) -> StorageError {
    if let storage = error as? StorageError { return storage }
    return StorageError(.io, file: file, String(describing: error))
}
