import Wire

/// How commands and state snapshots are written into the Raft log and snapshot files: the
/// binary `WireEncoder` form (versionable, self-delimiting, dictionaries in key order so equal
/// states give equal bytes). One place, so the format can change without touching callers.
public enum CommandCodec {
    public static func encode(_ command: ClusterCommand) -> [UInt8] {
        do {
            return try WireEncoder().encode(command)
        } catch {
            preconditionFailure("cluster command failed to encode: \(error)")
        }
    }

    public static func decode(_ bytes: [UInt8]) throws -> ClusterCommand {
        try WireDecoder().decode(ClusterCommand.self, from: bytes)
    }

    public static func encodeState(_ state: ClusterState) -> [UInt8] {
        do {
            return try WireEncoder().encode(state)
        } catch {
            preconditionFailure("cluster state failed to encode: \(error)")
        }
    }

    public static func decodeState(_ bytes: [UInt8]) throws -> ClusterState {
        try WireDecoder().decode(ClusterState.self, from: bytes)
    }
}
