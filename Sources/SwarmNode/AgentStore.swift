import Agent
import Foundation
import Platform

/// `DATA/worker/tasks.json`: the tasks this node's agent knows, their containers, last statuses
/// and main pids, so that a restarted agent re-adopts its containers. Written with
/// `FileSystem.replaceAtomically` (a stale temporary file never blocks a save); every failure is
/// thrown, for the runner to log.
struct AgentStore: Sendable {
    let path: String

    init(directory: String) throws {
        try FileSystem.makeDirectories(directory)
        path = directory + "/tasks.json"
    }

    /// The saved records; none when there is no file yet. A file that cannot be decoded is an
    /// error naming it (the node then starts without records, and removes the containers).
    func load() throws -> [String: AgentRecord] {
        guard FileSystem.exists(path) else { return [:] }
        let bytes = try File.openForReading(path).readAll()
        do {
            return try JSONDecoder().decode([String: AgentRecord].self, from: Data(bytes))
        } catch {
            throw AgentStoreError.undecodable(path: path, reason: "\(error)")
        }
    }

    func save(_ records: [String: AgentRecord]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FileSystem.replaceAtomically(path, with: Array(try encoder.encode(records)), mode: 0o600)
    }
}

/// Why the agent's records could not be read.
enum AgentStoreError: Error, CustomStringConvertible {
    case undecodable(path: String, reason: String)

    var description: String {
        switch self {
        case let .undecodable(path, reason):
            return "\(path) is not a task record file (\(reason)); the node starts without it and removes the containers it finds"
        }
    }
}
