import ClusterState
import Foundation
import Glibc
import Platform

/// Starts a cluster of real `swarmctl` node processes on 127.0.0.1, each with its data dir,
/// log file and API socket in one directory. Shared by `dev` (which supervises the processes
/// until Ctrl-C) and `testbed up` (which leaves them running and records them in testbed.env).
struct LocalClusterLauncher {
    /// One started node.
    struct Member {
        var name: String
        var process: ChildProcess
        var api: String
        var clusterAddress: String
        var dataDirectory: String
    }

    /// Where a node runs when the testbed gives each node its own network namespace
    /// (`testbed up --netns`): the namespace file and the node's underlay address.
    struct Placement {
        var namespacePath: String
        var address: String
    }

    let directory: String
    /// Extra flags for every node (e.g. `--enable-chaos`).
    var nodeFlags: [String] = []
    /// Nodes placed in their own network namespace, by name; the others run on 127.0.0.1.
    var placements: [String: Placement] = [:]
    /// Extra flags for `init` only (cluster settings such as `--default-addr-pool`).
    var initFlags: [String] = []
    /// Extra flags for one node's init or join, by name (kept by the node for later runs).
    var flagsByNode: [String: [String]] = [:]
    let binary = (try? FileSystem.readLink("/proc/self/exe")) ?? CommandLine.arguments[0]

    /// Starts `managers` managers and `workers` workers and waits until all are ready;
    /// `started` sees each member as soon as it runs, so the caller can clean up on failure.
    func launch(managers: Int, workers: Int, started: (Member) -> Void) throws -> APIConnection {
        let first = try start("manager-1", ["init"] + initFlags)
        started(first)
        let connection = try APIConnection(host: first.api)
        try Self.waitUntil("manager-1 answers", seconds: 30) { (try? connection.request("GET", "/info")) != nil }
        let cluster = try connection.decode(Cluster.self, "GET", "/swarm")
        for index in 2...max(2, managers) where index <= managers {
            started(try start("manager-\(index)", ["join", "--token", cluster.joinTokens.manager, first.clusterAddress]))
        }
        for index in 1...max(1, workers) where workers > 0 {
            started(try start("worker-\(index)", ["join", "--token", cluster.joinTokens.worker, first.clusterAddress]))
        }
        let total = managers + workers
        try Self.waitUntil("all \(total) nodes are ready", seconds: 60) {
            guard let nodes = try? connection.decode([Node].self, "GET", "/nodes") else { return false }
            writeStandardError("\(nodes.filter { $0.status.state == .ready }.count)/\(total) nodes ready\n")
            return nodes.count == total && nodes.allSatisfy { $0.status.state == .ready }
        }
        // Joined managers start as learners; the cluster tolerates a manager's loss only once
        // every one of them votes.
        try Self.waitUntil("all \(managers) managers are Raft voters", seconds: 60) {
            let info = try? connection.json("GET", "/info") as? [String: Any]
            let raft = (info?["Swarm"] as? [String: Any])?["Raft"] as? [String: Any]
            return (raft?["Voters"] as? [Any])?.count == managers
        }
        return connection
    }

    /// Starts one node process with `command` (init, join …, run); stdout to /dev/null, stderr
    /// appended to NAME.log.
    func start(_ name: String, _ command: [String]) throws -> Member {
        let api = "unix:\(directory)/\(name).sock"
        let data = "\(directory)/\(name)"
        let address = try placements[name].map { "\($0.address):2377" } ?? "127.0.0.1:\(Self.freePort())"
        let arguments = command + ["--data-dir", data, "--listen-addr", address, "--api-addr", api] + nodeFlags + (flagsByNode[name] ?? [])
        let process = try spawn(name, arguments)
        writeStandardError("started \(name) (pid \(process.pid), cluster port \(address), API \(api))\n")
        return Member(name: name, process: process, api: api, clusterAddress: address, dataDirectory: data)
    }

    /// Restarts a node from its data dir (`swarmctl run`).
    func restart(_ name: String) throws -> ChildProcess {
        try spawn(name, ["run", "--data-dir", "\(directory)/\(name)"] + nodeFlags)
    }

    private func spawn(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        // A placed node enters only its network namespace (nsenter --net), not a new mount
        // namespace as `ip netns exec` would: the task namespaces it creates stay visible.
        let entry = placements[name].map { ["nsenter", "--net=\($0.namespacePath)"] } ?? []
        let quoted = (entry + [binary] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try ChildProcess.spawn("/bin/sh", arguments: ["-c", "exec \(quoted) >/dev/null 2>>'\(directory)/\(name).log'"])
    }

    static func freePort() throws -> Int {
        let socket = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
        defer { socket.close() }
        return Int(try socket.localAddress().port ?? 0)
    }

    /// Polls `condition` every 250 ms until it holds or `seconds` pass.
    static func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            usleep(250_000)
        }
        throw CommandFailure(message: "timed out after \(Int(seconds))s waiting until \(what): see the node logs in the cluster directory")
    }
}
