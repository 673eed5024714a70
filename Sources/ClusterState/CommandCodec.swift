import Foundation

/// How commands and state snapshots are written into the Raft log and snapshot files.
/// One place, so the format can change without touching callers.
public enum CommandCodec {
    public static func encode(_ command: ClusterCommand) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(command))
        } catch {
            preconditionFailure("cluster command failed to encode: \(error)")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws -> ClusterCommand {
        try JSONDecoder().decode(ClusterCommand.self, from: Data(bytes))
    }

    public static func encodeState(_ state: ClusterState) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(state))
        } catch {
            preconditionFailure("cluster state failed to encode: \(error)")
        }
    }

    public static func decodeState(_ bytes: [UInt8]) throws -> ClusterState {
        try JSONDecoder().decode(ClusterState.self, from: Data(bytes))
    }
}
