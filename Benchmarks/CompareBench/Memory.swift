import API
import Foundation
import Glibc
import Platform

/// VmRSS of each pid, sampled `count` times 1 s apart; MiB per pid (median, min, max).
func sampleRSS(_ pids: [String: pid_t], count: Int) -> [String: [Double]] {
    var samples: [String: [Double]] = [:]
    for index in 0..<count {
        if index > 0 { sleepMillis(1000) }
        for (name, pid) in pids { if let kib = residentKiB(pid) { samples[name, default: []].append(kib / 1024) } }
    }
    return samples
}

/// dockerd started by the benchmark with no bridge and no iptables rules, data under `directory`.
final class Dockerd {
    let directory: String
    var process: ChildProcess?
    var containerdPID: pid_t = 0

    init(directory: String) { self.directory = directory }

    static var binary: String? { ["/usr/sbin/dockerd", "/usr/bin/dockerd"].first { FileSystem.exists($0) } }

    func start() throws {
        guard let binary = Self.binary else { throw BenchError("dockerd is not installed") }
        try FileSystem.makeDirectories(directory)
        let socket = "\(directory)/docker.sock"
        process = try spawnLogged([binary, "--bridge=none", "--iptables=false", "--ip-masq=false", "--data-root", "\(directory)/root",
                                   "--exec-root", "\(directory)/exec", "--pidfile", "\(directory)/docker.pid", "-H", "unix://\(socket)"],
                                  log: "\(directory)/dockerd.log")
        let client = HTTPClient(address: .unix(path: socket), timeoutMillis: 2000)
        try waitUntil("dockerd answers /_ping (log: \(directory)/dockerd.log)", timeoutSeconds: 40) {
            (try? client.send("GET", "/_ping"))?.status == 200
        }
        findContainerd()
    }

    /// Its managed containerd is a child process (of one of dockerd's threads).
    func findContainerd() {
        guard let process, containerdPID == 0 else { return }
        for task in (try? FileSystem.list("/proc/\(process.pid)/task")) ?? [] {
            let children = readText("/proc/\(process.pid)/task/\(task)/children") ?? ""
            for child in children.split(separator: " ").compactMap({ pid_t($0) }) where (readText("/proc/\(child)/comm") ?? "").hasPrefix("containerd") {
                containerdPID = child
            }
        }
    }

    func stop() {
        guard let process else { return }
        _ = Glibc.kill(process.pid, SIGTERM)
        let deadline = nowMillis() + 15_000
        while nowMillis() < deadline && FileSystem.exists("/proc/\(process.pid)/status")
            && !(readText("/proc/\(process.pid)/status") ?? "").contains("State:\tZ") { sleepMillis(100) }
        try? process.kill(SIGKILL)
        _ = try? process.wait()
        if containerdPID > 0 && FileSystem.exists("/proc/\(containerdPID)") { _ = Glibc.kill(containerdPID, SIGKILL) }
        self.process = nil
        // Mounts dockerd may have left under its roots go first, then the files.
        _ = try? run(["/bin/sh", "-c", "grep -o ' \(directory)[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"])
        try? FileSystem.removeTree(directory)
    }
}

func runMemory(_ options: Options) throws {
    let swarm = try SwarmCluster(binary: options.swarmctl, base: options.tempBase)
    let etcd = try EtcdCluster(base: options.tempBase)
    let dockerd = Dockerd(directory: "\(options.tempBase)/dockerd-compare-\(getpid())")
    defer { swarm.stop(); etcd.stop(); dockerd.stop() }
    try swarm.start()
    let worker = try swarm.addWorker()
    try etcd.start()
    var dockerNote = ""
    if Dockerd.binary == nil {
        dockerNote = "dockerd not installed (apt-get install docker.io failed or was skipped): not measured"
    } else {
        do { try dockerd.start() } catch {
            dockerNote = "dockerd did not start here: \(error); not measured"
            dockerd.stop()
        }
    }
    if !dockerNote.isEmpty { note(dockerNote) }
    var swarmLeader = try swarm.waitHealthy()
    let etcdLeader = try etcd.waitHealthy()
    print("idle for \(Int(options.idleSeconds)) s, then \(options.samples) samples 1 s apart")
    sleepMillis(options.idleSeconds * 1000)

    var pids: [String: pid_t] = ["swarmctl manager (leader)": swarm.members[swarmLeader].pid, "swarmctl worker": worker.pid,
                                 "etcd member (leader)": etcd.members[etcdLeader].pid]
    for (index, member) in swarm.members.enumerated() where index != swarmLeader { pids["swarmctl manager (follower \(member.name))"] = member.pid }
    for (index, member) in etcd.members.enumerated() where index != etcdLeader { pids["etcd member (follower \(member.name))"] = member.pid }
    dockerd.findContainerd()
    if let process = dockerd.process { pids["dockerd"] = process.pid }
    if dockerd.containerdPID > 0 { pids["containerd (started by dockerd)"] = dockerd.containerdPID }
    let idle = sampleRSS(pids, count: options.samples)

    // 10,000 tasks held in the state: 100 services × 100 replicas that no node can take.
    var loaded: [String: [Double]] = [:]
    var loadedNote = ""
    var taskCount = 0
    var taskBytes = 0.0
    var retriedCreates = 0
    var leaderChanges = 0
    if swarm.writeMode != "service-create" {
        loadedNote = "not measured: this build does not serve POST /services/create, so no tasks can be created through the API"
    } else {
        let client = HTTPClient(address: swarm.members[swarmLeader].api, timeoutMillis: 30_000)
        let termBefore = swarm.status(swarmLeader, timeoutMillis: 2000)?.term ?? 0
        for index in 0..<options.services {
            let body = SwarmCluster.serviceSpec(name: "mem-\(index)", value: "x", replicas: options.replicas, constraint: "node.labels.none==1")
            // 503 (no leader for a moment) is retried like a client would; 409 means an earlier
            // attempt did commit.
            var attempt = 0
            while true {
                attempt += 1
                let answer = try? client.send("POST", "/v1.41/services/create", body: body, headers: HTTPHeaders([("Content-Type", "application/json")]))
                if let answer, answer.status == 201 || (answer.status == 409 && attempt > 1) { break }
                if let answer, answer.status != 503 { throw BenchError("service create answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))") }
                retriedCreates += 1
                guard attempt < 300 else { throw BenchError("service create kept failing: \(answer.map { String(decoding: $0.body, as: UTF8.self) } ?? "no answer")") }
                sleepMillis(100)
            }
        }
        let wanted = options.services * options.replicas
        let deadline = nowMillis() + 180_000
        while nowMillis() < deadline {
            if let answer = try? client.send("GET", "/v1.41/tasks"), answer.status == 200,
               let tasks = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [Any] {
                taskCount = tasks.count
                taskBytes = tasks.isEmpty ? 0 : Double(answer.body.count) / Double(tasks.count)
                if taskCount >= wanted { break }
            } else if nowMillis() > deadline - 170_000 && taskCount == 0 {
                // GET /tasks not served: fall back on the service list's desired counts.
            }
            sleepMillis(1000)
        }
        if taskCount < wanted {
            loadedNote = "only \(taskCount) of \(wanted) tasks appeared in the state within 180 s (orchestrator not creating tasks for unplaceable replicas?)"
        }
        // Leader elections while the tasks were created (the leader's loop busy past the election timeout).
        let newLeader = (try? swarm.waitHealthy()) ?? swarmLeader
        leaderChanges = Int((swarm.status(newLeader, timeoutMillis: 2000)?.term ?? termBefore) - termBefore)
        if leaderChanges > 0 || retriedCreates > 0 {
            note("while creating \(wanted) tasks: term advanced by \(leaderChanges), \(retriedCreates) create attempts answered 503 and were retried")
        }
        swarmLeader = newLeader
        print("state holds \(taskCount) tasks (\(format(taskBytes)) bytes of JSON each); idle for \(Int(options.idleSeconds)) s")
        // A comparable etcd: the same number of keys with values the size of our task objects.
        let etcdClient = HTTPClient(address: etcd.members[etcdLeader].api, timeoutMillis: 10_000)
        let putValue = Data(String(repeating: "t", count: Int(max(taskBytes, 512))).utf8).base64EncodedString()
        for index in 0..<max(taskCount, wanted) {
            let key = Data("tasks/\(index)".utf8).base64EncodedString()
            _ = try etcdClient.send("POST", "/v3/kv/put", body: Array(#"{"key":"\#(key)","value":"\#(putValue)"}"#.utf8))
        }
        sleepMillis(options.idleSeconds * 1000)
        var loadedPIDs: [String: pid_t] = [:]
        for (index, member) in swarm.members.enumerated() { loadedPIDs["swarmctl manager \(index == swarmLeader ? "(leader)" : "(follower \(member.name))") with tasks"] = member.pid }
        for (index, member) in etcd.members.enumerated() { loadedPIDs["etcd member \(index == etcdLeader ? "(leader)" : "(follower \(member.name))") with as many keys"] = member.pid }
        loaded = sampleRSS(loadedPIDs, count: options.samples)
    }

    print("")
    print("| process | RSS MiB median (min–max) |")
    print("|---|---:|")
    var rows: [String: Any] = [:]
    for (name, values) in (idle.merging(loaded) { $1 }).sorted(by: { $0.key < $1.key }) {
        print("| \(name) | \(format(median(values), 1)) (\(format(values.min()!, 1))–\(format(values.max()!, 1))) |")
        rows[name] = summary(values)
    }
    let managerIdle = median(idle["swarmctl manager (leader)"] ?? [])
    let workerIdle = median(idle["swarmctl worker"] ?? [])
    let etcdIdle = median(idle["etcd member (leader)"] ?? [])
    let dockerIdle = median(idle["dockerd"] ?? [])
    print("")
    print("ratio idle manager / idle etcd leader: \(format(ratio(managerIdle, etcdIdle), 2))×" + (dockerIdle > 0 ? "; idle worker / idle dockerd: \(format(ratio(workerIdle, dockerIdle), 2))×" : ""))
    let managerLoaded = median(loaded.first { $0.key.hasPrefix("swarmctl manager (leader)") }?.value ?? [])
    let etcdLoaded = median(loaded.first { $0.key.hasPrefix("etcd member (leader)") }?.value ?? [])
    if managerLoaded > 0 { print("ratio leader with \(taskCount) tasks / etcd leader with as many keys: \(format(ratio(managerLoaded, etcdLoaded), 2))×") }
    print("goal idle RSS ≤ 30 MB: manager \(format(managerIdle * 1.048576, 1)) MB, worker \(format(workerIdle * 1.048576, 1)) MB — \(max(managerIdle, workerIdle) * 1.048576 <= 30 ? "met" : "MISSED")")
    if !loadedNote.isEmpty { print("10,000 tasks: \(loadedNote)") }
    if !dockerNote.isEmpty { print(dockerNote) }
    let document: [String: Any] = [
        "benchmark": "memory",
        "command": "bash Benchmarks/compare/run.sh memory",
        "setup": [
            "swarmctl": "3 managers + 1 worker (process executor) on 127.0.0.1; idle \(options.idleSeconds) s before sampling",
            "etcd": "etcd \(etcdVersion()) 3 members on 127.0.0.1, defaults",
            "dockerd": Dockerd.binary == nil ? "not installed" : "dockerd --bridge=none --iptables=false --ip-masq=false, own data-root, unix socket only",
            "tasks": "\(options.services) services × \(options.replicas) replicas with constraint node.labels.none==1 (pending, never placed); etcd given as many keys with values of the same JSON size",
            "samples": "VmRSS from /proc/PID/status, \(options.samples) samples 1 s apart",
        ] as [String: Any],
        "rss_mib": rows,
        "tasks_in_state": taskCount, "task_json_bytes": taskBytes,
        "swarmctl_terms_advanced_while_creating_tasks": leaderChanges, "swarmctl_create_attempts_retried_after_503": retriedCreates,
        "notes": [loadedNote, dockerNote].filter { !$0.isEmpty },
        "ratios": ["idle_manager_over_idle_etcd": ratio(managerIdle, etcdIdle),
                   "leader_with_tasks_over_etcd_leader_with_as_many_keys": ratio(managerLoaded, etcdLoaded), "idle_worker_over_idle_dockerd": ratio(workerIdle, dockerIdle)],
        "goal": ["idle_rss_mb_at_most": 30, "manager_mb": managerIdle * 1.048576, "worker_mb": workerIdle * 1.048576,
                 "met": max(managerIdle, workerIdle) * 1.048576 <= 30],
        "peer_reference_from_issue": ["etcd_idle_mb": 27],
        "machine": machine(),
    ]
    try writeJSON(document, to: options.output ?? "Benchmarks/results/memory.json")
}
