import ClusterState
import Crypto
import Foundation
import Platform

/// Who this node is, written once at `init`/`join` to `DATA/node.json` and read by `run`. Its
/// key and certificates live beside it in `DATA/certificates/` (`NodeCertificates`). Mode 0600.
public struct NodeIdentity: Codable, Sendable, Equatable {
    /// Assigned by the manager that admitted the node (the CN of its certificate).
    public var nodeID: String
    /// Raft id for managers; the transport identity for every node (derived from `nodeID`).
    public var transportID: UInt64
    /// The cluster id (the O of every certificate in the cluster).
    public var clusterID: String
    public var role: NodeRole
    public var listenAddress: String
    public var advertiseAddress: String
    public var apiAddress: String
    /// Cluster addresses of the managers this node knew last (workers dial them), by transport id.
    public var managerAddresses: [UInt64: String]

    public static func path(in dataDirectory: String) -> String { dataDirectory + "/node.json" }

    public static func load(from dataDirectory: String) throws -> NodeIdentity {
        let path = path(in: dataDirectory)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NodeError("no node in \(dataDirectory): create one with 'swarmctl init' or 'swarmctl join'")
        }
        do {
            return try JSONDecoder().decode(NodeIdentity.self, from: data)
        } catch {
            throw NodeError("\(path) is damaged (\(error)): restore it from a backup, or remove the data dir and join again")
        }
    }

    /// Writes to a temporary file, fsyncs, renames into place and fsyncs the directory.
    public func save(to dataDirectory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try FileSystem.replaceAtomically(Self.path(in: dataDirectory), with: Array(data), mode: 0o600)
    }
}

/// A node-level failure with a message that says what to do.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
