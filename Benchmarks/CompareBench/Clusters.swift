import API
import Foundation
import Glibc
import Platform

/// One member process of a 3-member cluster, restartable with the same command line.
final class Member: @unchecked Sendable {
    let name: String
    let api: SocketAddress
    let log: String
    var restartArguments: [String]
    let environment: [String: String]
    var process: ChildProcess?

    init(name: String, api: SocketAddress, log: String, restartArguments: [String], environment: [String: String] = [:]) {
        self.environment = environment
        self.name = name
        self.api = api
        self.log = log
        self.restartArguments = restartArguments
    }

    var pid: pid_t { process?.pid ?? 0 }

    func signal(_ signal: Int32) { if let process { _ = Glibc.kill(process.pid, signal) } }

    /// kill -9 and reap.
    func kill() {
        guard let process else { return }
        _ = Glibc.kill(process.pid, SIGCONT)
        _ = Glibc.kill(process.pid, SIGKILL)
        _ = try? process.wait()
        self.process = nil
    }

    func start() throws { process = try spawnLogged(restartArguments, log: log, environment: environment) }
}

/// What a member says about Raft: its own id, the leader it follows ("" or "0" for none), term
/// and applied index.
struct MemberStatus {
    var id: String
    var leader: String
    var term: UInt64
    var applied: UInt64
    var hasLeader: Bool { !leader.isEmpty && leader != "0" }
}

/// One write of a benchmark client; not thread-safe (one per client thread).
protocol Writer: AnyObject {
    /// Performs one write; nil on success, else why it failed.
    func write(_ sequence: Int) -> String?
}

/// A 3-member replicated store under test: swarmctl managers or etcd members.
protocol ReplicatedSystem: AnyObject, Sendable {
    var label: String { get }
    var members: [Member] { get }
    var directory: String { get }
    func status(_ index: Int, timeoutMillis: Int) -> MemberStatus?
    /// Extra health conditions beyond "all members agree on a leader".
    func healthyExtra(leader index: Int) -> Bool
    func makeWriter(member index: Int, name: String, valueSize: Int, timeoutMillis: Int) throws -> Writer
    func stop()
}

extension ReplicatedSystem {
    /// Index of the member that is leader according to a majority view of live members.
    func leaderIndex() -> Int? {
        var statuses: [MemberStatus] = []
        for index in members.indices where members[index].process != nil {
            if let status = status(index, timeoutMillis: 1000) { statuses.append(status) }
        }
        guard let leader = statuses.first(where: \.hasLeader)?.leader else { return nil }
        for index in members.indices where members[index].process != nil {
            if status(index, timeoutMillis: 1000)?.id == leader { return index }
        }
        return nil
    }

    /// All members up, agreeing on one leader, applied indexes within a few entries.
    func healthy() -> Int? {
        var statuses: [MemberStatus] = []
        for index in members.indices {
            guard members[index].process != nil, let status = status(index, timeoutMillis: 1000) else { return nil }
            statuses.append(status)
        }
        guard let leader = statuses.first?.leader, statuses.allSatisfy({ $0.hasLeader && $0.leader == leader }),
              let leaderIndex = statuses.firstIndex(where: { $0.id == leader }) else { return nil }
        let applied = statuses.map(\.applied)
        guard applied.max()! - applied.min()! <= 4 else { return nil }
        return healthyExtra(leader: leaderIndex) ? leaderIndex : nil
    }

    func waitHealthy(timeoutSeconds: Double = 60) throws -> Int {
        var leader: Int?
        try waitUntil("\(label): 3 members with one leader (logs in \(directory))", timeoutSeconds: timeoutSeconds) {
            leader = healthy()
            return leader != nil
        }
        return leader!
    }

    /// Sum of the members' CPU seconds.
    func cpuSeconds() -> Double { members.reduce(0) { $0 + ($1.process.map { processCPUSeconds($0.pid) } ?? 0) } }
}

func value(size: Int, sequence: Int) -> String {
    let stamp = String(sequence)
    return stamp + String(repeating: "x", count: max(0, size - stamp.count))
}

// MARK: - swarmctl

/// Three swarmctl managers (real processes, `init` then `join`, WAL with fsync), API on TCP loopback.
final class SwarmCluster: ReplicatedSystem, @unchecked Sendable {
    let label: String
    let binary: String
    /// Extra environment of every member (`compare-bench encryption` sets the benchmark-only
    /// plaintext switch on one of its two clusters).
    let environment: [String: String]
    let directory: String
    var members: [Member] = []
    var workers: [Member] = []
    var joinTokens: (manager: String, worker: String) = ("", "")
    var firstAddress = ""
    /// How one write is made: `service-create` (one new replicas-0 service per write) or the
    /// fallback `node-update` (GET the node, POST its spec with a new label at that version).
    var writeMode = "service-create"

    init(binary: String, base: String, label: String = "swarmctl", environment: [String: String] = [:]) throws {
        self.binary = binary
        self.label = label
        self.environment = environment
        directory = try FileSystem.makeTemporaryDirectory(prefix: "swarmctl-compare-", base: base)
    }

    func cli(_ index: Int, _ arguments: [String]) throws -> String {
        try run([binary, "-H", members[index].api.description] + arguments)
    }

    func start() throws {
        for index in 1...3 {
            let name = "m\(index)"
            let listen = "127.0.0.1:\(try freePort())"
            let apiPort = try freePort()
            var arguments = ["--data-dir", "\(directory)/\(name)", "--listen-addr", listen, "--api-addr", "tcp:127.0.0.1:\(apiPort)",
                             "--executor", "process", "--api-insecure"]
            if index == 1 {
                arguments = ["init"] + arguments
                firstAddress = listen
            } else {
                arguments = ["join", "--token", joinTokens.manager] + arguments + [firstAddress]
            }
            let member = Member(name: name, api: .loopback(port: UInt16(apiPort)), log: "\(directory)/\(name).log",
                                restartArguments: [binary] + arguments, environment: environment)
            try member.start()
            // Later starts resume from the data directory.
            member.restartArguments = [binary, "run", "--data-dir", "\(directory)/\(name)", "--api-insecure"]
            members.append(member)
            try waitUntil("\(name) answers") { (try? self.cli(index - 1, ["info"])) != nil }
            if index == 1 {
                joinTokens.manager = try cli(0, ["join-token", "manager", "-q"]).trimmingCharacters(in: .whitespacesAndNewlines)
                joinTokens.worker = try cli(0, ["join-token", "worker", "-q"]).trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        _ = try waitHealthy()
        let probe = HTTPClient(address: members[0].api, timeoutMillis: 10_000)
        let answer = try probe.send("POST", "/v1.41/services/create", body: Self.serviceSpec(name: "probe", value: "x"),
                                    headers: HTTPHeaders([("Content-Type", "application/json")]))
        if answer.status == 404 {
            writeMode = "node-update"
            note("swarmctl: POST /services/create is not served by this build (404): writes fall back to versioned node updates")
        }
    }

    /// A worker joined with the process executor (for the memory benchmark).
    func addWorker() throws -> Member {
        let name = "w\(workers.count + 1)"
        let apiPort = try freePort()
        let arguments = [binary, "join", "--token", joinTokens.worker, "--executor", "process", "--data-dir", "\(directory)/\(name)",
                         "--listen-addr", "127.0.0.1:\(try freePort())", "--api-addr", "tcp:127.0.0.1:\(apiPort)", "--api-insecure", firstAddress]
        let member = Member(name: name, api: .loopback(port: UInt16(apiPort)), log: "\(directory)/\(name).log", restartArguments: arguments)
        try member.start()
        workers.append(member)
        let client = HTTPClient(address: member.api, timeoutMillis: 2000)
        try waitUntil("worker \(name) answers") { (try? client.send("GET", "/v1.41/info"))?.status == 200 }
        return member
    }

    static func serviceSpec(name: String, value: String, replicas: Int = 0, constraint: String? = nil) -> [UInt8] {
        var template: [String: Any] = ["ContainerSpec": ["Image": "busybox", "Args": ["sleep", "3600"]]]
        if let constraint { template["Placement"] = ["Constraints": [constraint]] }
        return jsonBytes(["Name": name, "Labels": ["v": value], "TaskTemplate": template,
                          "Mode": ["Replicated": ["Replicas": replicas]]] as [String: Any])
    }

    func status(_ index: Int, timeoutMillis: Int) -> MemberStatus? {
        let client = HTTPClient(address: members[index].api, timeoutMillis: timeoutMillis)
        guard let answer = try? client.send("GET", "/v1.41/info"), answer.status == 200,
              let info = jsonObject(answer.body), let raft = info[path: "Swarm", "Raft"] as? [String: Any],
              let id = uint64(raft["RaftID"]) else { return nil }
        return MemberStatus(id: String(id), leader: String(uint64(raft["Leader"]) ?? 0), term: uint64(raft["Term"]) ?? 0,
                            applied: uint64(raft["AppliedIndex"]) ?? 0)
    }

    /// The leader has three voters and no learner (a joined manager starts as a learner) and sees
    /// all three managers reachable (as `Benchmarks/failover/run.sh` requires).
    func healthyExtra(leader index: Int) -> Bool {
        let client = HTTPClient(address: members[index].api, timeoutMillis: 1000)
        guard let info = try? client.send("GET", "/v1.41/info"), info.status == 200,
              let raft = jsonObject(info.body)?[path: "Swarm", "Raft"] as? [String: Any],
              (raft["Voters"] as? [Any])?.count == 3, ((raft["Learners"] as? [Any]) ?? []).isEmpty else { return false }
        guard let answer = try? client.send("GET", "/v1.41/nodes"), answer.status == 200,
              let nodes = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [[String: Any]] else { return false }
        let managers = nodes.compactMap { $0["ManagerStatus"] as? [String: Any] }
        return managers.count == 3 && managers.allSatisfy { $0["Reachability"] as? String == "reachable" }
    }

    func makeWriter(member index: Int, name: String, valueSize: Int, timeoutMillis: Int) throws -> Writer {
        let client = HTTPClient(address: members[index].api, timeoutMillis: timeoutMillis)
        switch writeMode {
        case "service-create": return ServiceCreateWriter(client: client, prefix: name, valueSize: valueSize)
        default: return NodeUpdateWriter(client: client, node: members[index].name, valueSize: valueSize, label: name)
        }
    }

    func stop() {
        for member in members + workers { member.kill() }
        try? FileSystem.removeTree(directory)
    }
}

/// `POST /services/create` of a new service with 0 replicas (so no task follows): one Raft entry,
/// no read before it, no version to track, no conflict between clients.
final class ServiceCreateWriter: Writer {
    let client: HTTPClient
    let prefix: String
    let valueSize: Int
    let headers = HTTPHeaders([("Content-Type", "application/json")])

    init(client: HTTPClient, prefix: String, valueSize: Int) {
        self.client = client
        self.prefix = prefix
        self.valueSize = valueSize
    }

    func write(_ sequence: Int) -> String? {
        let body = Self.body(name: "\(prefix)-\(sequence)", value: value(size: valueSize, sequence: sequence))
        do {
            let answer = try client.send("POST", "/v1.41/services/create", body: body, headers: headers)
            return answer.status == 201 ? nil : "\(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))"
        } catch {
            return "\(error)"
        }
    }
}

extension ServiceCreateWriter {
    /// The spec `SwarmCluster.serviceSpec` builds for a replicas-0 service, written by
    /// interpolation as `EtcdPutWriter` writes its body (JSONSerialization per write made the load
    /// generator cost 1.5× etcd's). The name and value are letters, digits and dashes: nothing to
    /// escape.
    static func body(name: String, value: String) -> [UInt8] {
        Array(#"{"Name":"\#(name)","Labels":{"v":"\#(value)"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"]}},"Mode":{"Replicated":{"Replicas":0}}}"#.utf8)
    }
}

/// Fallback when services are not served: GET the member's own node, then POST its spec with a
/// label `LABEL=value` at the version read (two requests, three Raft rounds: the read, the
/// route's own read, the write). Clients sharing a node conflict; only successes count.
final class NodeUpdateWriter: Writer {
    let client: HTTPClient
    let valueSize: Int
    let label: String
    var nodeID = ""
    let headers = HTTPHeaders([("Content-Type", "application/json")])

    init(client: HTTPClient, node: String, valueSize: Int, label: String) {
        self.client = client
        self.valueSize = valueSize
        self.label = label
    }

    func write(_ sequence: Int) -> String? {
        do {
            if nodeID.isEmpty {
                let info = try client.send("GET", "/v1.41/info")
                nodeID = (jsonObject(info.body)?[path: "Swarm", "NodeID"] as? String) ?? ""
            }
            let read = try client.send("GET", "/v1.41/nodes/\(nodeID)")
            guard read.status == 200, let node = jsonObject(read.body), let version = uint64(node[path: "Version", "Index"]),
                  var spec = node["Spec"] as? [String: Any] else { return "read \(read.status)" }
            var labels = spec["Labels"] as? [String: Any] ?? [:]
            labels[label] = value(size: valueSize, sequence: sequence)
            spec["Labels"] = labels
            let answer = try client.send("POST", "/v1.41/nodes/\(nodeID)/update", query: QueryParameters([("version", String(version))]),
                                         body: jsonBytes(spec), headers: headers)
            return answer.status == 200 ? nil : "\(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))"
        } catch {
            return "\(error)"
        }
    }
}

// MARK: - etcd

/// A 3-member etcd cluster (Debian's etcd-server 3.4) on 127.0.0.1, defaults otherwise (fsync on,
/// heartbeat 100 ms, election timeout 1 s), data in a temporary directory.
final class EtcdCluster: ReplicatedSystem, @unchecked Sendable {
    let label = "etcd"
    let directory: String
    var members: [Member] = []
    let binary: String

    init(base: String) throws {
        binary = ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileSystem.exists($0) } ?? ""
        guard !binary.isEmpty else { throw BenchError("etcd is not installed: run Benchmarks/compare/run.sh, which installs etcd-server") }
        directory = try FileSystem.makeTemporaryDirectory(prefix: "etcd-compare-", base: base)
    }

    func start() throws {
        var peers: [(String, Int, Int)] = []
        for index in 1...3 { peers.append(("e\(index)", try freePort(), try freePort())) }
        let initial = peers.map { "\($0.0)=http://127.0.0.1:\($0.2)" }.joined(separator: ",")
        for (name, client, peer) in peers {
            let arguments = [binary, "--name", name, "--data-dir", "\(directory)/\(name)",
                             "--listen-client-urls", "http://127.0.0.1:\(client)", "--advertise-client-urls", "http://127.0.0.1:\(client)",
                             "--listen-peer-urls", "http://127.0.0.1:\(peer)", "--initial-advertise-peer-urls", "http://127.0.0.1:\(peer)",
                             "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", "compare-bench"]
            let member = Member(name: name, api: .loopback(port: UInt16(client)), log: "\(directory)/\(name).log", restartArguments: arguments)
            try member.start()
            members.append(member)
        }
        _ = try waitHealthy()
    }

    func status(_ index: Int, timeoutMillis: Int) -> MemberStatus? {
        let client = HTTPClient(address: members[index].api, timeoutMillis: timeoutMillis)
        guard let answer = try? client.send("POST", "/v3/maintenance/status", body: Array("{}".utf8)), answer.status == 200,
              let object = jsonObject(answer.body), let id = object[path: "header", "member_id"] as? String else { return nil }
        return MemberStatus(id: id, leader: object["leader"] as? String ?? "", term: uint64(object["raftTerm"]) ?? 0,
                            applied: uint64(object["raftAppliedIndex"]) ?? 0)
    }

    func healthyExtra(leader index: Int) -> Bool { true }

    func makeWriter(member index: Int, name: String, valueSize: Int, timeoutMillis: Int) throws -> Writer {
        EtcdPutWriter(client: HTTPClient(address: members[index].api, timeoutMillis: timeoutMillis), prefix: name, valueSize: valueSize)
    }

    func stop() {
        for member in members { member.kill() }
        try? FileSystem.removeTree(directory)
    }
}

/// `POST /v3/kv/put` through the gRPC-JSON gateway: a new key per write, base64 key and value.
final class EtcdPutWriter: Writer {
    let client: HTTPClient
    let prefix: String
    let valueSize: Int
    let headers = HTTPHeaders([("Content-Type", "application/json")])

    init(client: HTTPClient, prefix: String, valueSize: Int) {
        self.client = client
        self.prefix = prefix
        self.valueSize = valueSize
    }

    func write(_ sequence: Int) -> String? {
        let key = Data("bench/\(prefix)-\(sequence)".utf8).base64EncodedString()
        let encoded = Data(value(size: valueSize, sequence: sequence).utf8).base64EncodedString()
        let body = Array(#"{"key":"\#(key)","value":"\#(encoded)"}"#.utf8)
        do {
            let answer = try client.send("POST", "/v3/kv/put", body: body, headers: headers)
            guard answer.status == 200 else { return "\(answer.status) \(String(decoding: answer.body.prefix(200), as: UTF8.self))" }
            // The gateway answers errors in the body ({"error": ...}) on some paths.
            if answer.body.count < 400, let object = jsonObject(answer.body), object["error"] != nil {
                return String(decoding: answer.body.prefix(200), as: UTF8.self)
            }
            return nil
        } catch {
            return "\(error)"
        }
    }
}
