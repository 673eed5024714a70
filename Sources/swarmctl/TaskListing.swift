import ClusterState
import Foundation

/// Prints the tasks `GET /tasks` returns for a filter the way `service ps` and `node ps` both
/// do in docker: the API's objects (`--format json`), ids only (`-q`), or the task table.
struct TaskListing {
    let connection: APIConnection
    let options: ListOptions
    let format: String?
    let noTrunc: Bool
    /// Service names by id where the caller knows them; the rest are looked up.
    var serviceNames: [String: String] = [:]
    /// docker 28 prints full ids for `service ps -q` but 12 characters for `node ps -q` (unless
    /// `--no-trunc`).
    var quietFullIDs = true

    func print() throws -> Int32 {
        if format == "json" {
            printJSON(try connection.json("GET", "/tasks", query: options.query))
            return 0
        }
        let tasks = try connection.decode([SwarmTask].self, "GET", "/tasks", query: options.query)
        var names = serviceNames
        if tasks.contains(where: { names[$0.serviceID] == nil }) {
            for service in (try? connection.decode([Service].self, "GET", "/services")) ?? [] { names[service.id] = service.spec.name }
        }
        let table = TaskTable(tasks: tasks, serviceNames: names, hostnames: try hostnames(), noTrunc: noTrunc)
        if options.quiet {
            let full = quietFullIDs || noTrunc
            writeStandardOutput(table.orderedTasks().map { (full ? $0.id : String($0.id.prefix(12))) + "\n" }.joined())
            return 0
        }
        printTable(["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"], table.rows())
        return 0
    }

    private func hostnames() throws -> [String: String] {
        let nodes = (try? connection.decode([Node].self, "GET", "/nodes")) ?? []
        return Dictionary(nodes.map { ($0.id, $0.description.hostname) }, uniquingKeysWith: { first, _ in first })
    }
}
