import ClusterState
import Executor
import Foundation
import Platform

/// `DATA/worker/tasks.json`: the tasks this node's agent runs, their containers, last statuses
/// and main pids, written atomically (temp file, fsync, rename) after every change, so a
/// restarted agent knows what it ran.
final class AgentStore: @unchecked Sendable {
    struct Record: Codable, Equatable {
        var container: String?
        var status: TaskStatus?
        var pid: Int32?
    }

    private let path: String
    private let lock = NSLock()

    init(directory: String) throws {
        try FileSystem.makeDirectories(directory)
        path = directory + "/tasks.json"
    }

    func load() -> [String: Record] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        return (try? JSONDecoder().decode([String: Record].self, from: data)) ?? [:]
    }

    func save(_ records: [String: Record]) {
        lock.lock()
        defer { lock.unlock() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(records) else { return }
        let temporary = path + ".tmp"
        guard let file = try? File.create(temporary) else { return }
        _ = try? file.write(Array(data), at: 0)
        _ = try? file.sync()
        try? FileSystem.rename(temporary, to: path)
    }
}

/// Ends what a task left running after its agent died: the recorded main process and its
/// group, only if the executor's record of it (pid and start time) still matches (so a recycled
/// pid belonging to something else is never touched).
enum LeftoverProcesses {
    static func end(pid: Int32, nodeDirectory: String) {
        guard TaskProcessRecord.isTask(pid, nodeDirectory: nodeDirectory) else { return }
        ProcessTable.kill(processGroupOf: pid)
    }
}
