import API
import ClusterState
import Foundation
import Glibc
import Platform
import Synchronization
import SwarmNode

/// `swarmctl chaos run`: a nemesis schedule against the testbed while a workload runs; heals
/// everything at the end, checks the history, writes a report, and exits 1 on an anomaly or a
/// lost acknowledged write.
enum ChaosRun {
    struct Options {
        var directory: String
        var schedule: [NemesisStep]
        var durationSeconds: Double
        var workload: String
        var outputDirectory: String
        var seed: UInt64?
    }

    static func run(_ arguments: inout CommandLineArguments, directory: String) throws -> Int32 {
        let duration = Double(try ChaosCommand.millis(arguments.takeValue("--duration") ?? "60s", flag: "--duration")) / 1000
        let workload = arguments.takeValue("--workload") ?? "register"
        guard ["register", "services"].contains(workload) else { throw UsageError(message: "--workload \(workload): use register or services") }
        let scheduleFile = arguments.takeValue("--schedule")
        let randomRequested = arguments.takeSwitch("--random")
        let seed = try arguments.takeValue("--seed").map { text -> UInt64 in
            guard let value = UInt64(text) else { throw UsageError(message: "--seed \(text): expected a whole number") }
            return value
        }
        let output = arguments.takeValue("--out") ?? "chaos-report-\(Int(Date().timeIntervalSince1970))"
        try arguments.finish(command: "chaos run")
        let testbed = try ChaosTestbed(directory: directory)
        let managers = testbed.environment.nodes.filter { $0.hasPrefix("manager") }
        let workers = testbed.environment.nodes.filter { $0.hasPrefix("worker") }
        var schedule: [NemesisStep]
        var usedSeed: UInt64? = nil
        if let scheduleFile {
            guard let text = try? String(contentsOfFile: scheduleFile, encoding: .utf8) else {
                throw UsageError(message: "--schedule \(scheduleFile): cannot read the file")
            }
            schedule = try NemesisSchedule.parse(text)
        } else {
            if !randomRequested && seed == nil { writeStandardError("chaos run: no --schedule given: using a random schedule\n") }
            usedSeed = seed ?? UInt64.random(in: 1...UInt64(1) << 40)
            schedule = NemesisSchedule.random(seed: usedSeed!, duration: duration, managers: managers, workers: workers,
                                              service: workload == "services" ? "chaos-web-0" : nil)
        }
        let options = Options(directory: directory, schedule: schedule, durationSeconds: duration, workload: workload,
                              outputDirectory: output, seed: usedSeed)
        return try ChaosRunner(options: options, testbed: testbed).execute()
    }
}

/// Carries out one `chaos run`: the workload threads, the nemesis on this thread, a monitor
/// sampling the leader and the replica count, then the final check and the report.
final class ChaosRunner: @unchecked Sendable {
    let options: ChaosRun.Options
    let testbed: ChaosTestbed
    let started = monotonicNanoseconds()
    private let samples = Mutex<[TimelineSample]>([])
    private let stopMonitor = Atomic<Bool>(false)
    private var faults: [FaultRecord] = []

    init(options: ChaosRun.Options, testbed: ChaosTestbed) {
        self.options = options
        self.testbed = testbed
    }

    var elapsed: Double { Double(monotonicNanoseconds() - started) / 1e9 }

    func execute() throws -> Int32 {
        try FileSystem.makeDirectories(options.outputDirectory)
        let apis = testbed.environment.nodes.filter { $0.hasPrefix("manager") }
            .compactMap { testbed.environment.value("\(TestbedEnvironment.prefix($0))_API") }
        let register = options.workload == "register" ? RegisterWorkload(apis: apis, started: started) : nil
        let services = options.workload == "services" ? ServicesWorkload(apis: apis, started: started) : nil
        try register?.prepare()
        try services?.prepare()
        let threads = (register?.start() ?? []) + (services?.start() ?? [])
        let monitor = Thread { [self] in monitorLoop(apis) }
        monitor.start()
        writeStandardOutput("chaos run: \(options.schedule.count) nemesis steps over \(Int(options.durationSeconds)) s, workload \(options.workload)\(options.seed.map { ", seed \($0)" } ?? "")\n")

        for step in options.schedule where step.at < options.durationSeconds {
            while elapsed < step.at { usleep(20_000) }
            perform(step)
        }
        while elapsed < options.durationSeconds { usleep(50_000) }
        healEverything()
        let healedAt = elapsed
        // Give the cluster time to recover before the workload stops, so the end is checked healthy.
        let recovered = waitForWrites(apis, seconds: 30)
        register?.finish()
        services?.finish()
        for thread in threads { while thread.isExecuting { usleep(10_000) } }
        let convergence = services?.verifyConverged(seconds: 60)
        stopMonitor.store(true, ordering: .relaxed)
        while monitor.isExecuting { usleep(10_000) }

        let verdict: ChaosVerdict
        if let register {
            let history = register.operations.sorted { $0.invoke < $1.invoke }
            try writeHistory(history)
            verdict = ChaosChecker.check(register: history)
        } else {
            verdict = services!.check(convergence: convergence ?? "not checked")
        }
        var report = ChaosReport(options: options, faults: faults, samples: samples.withLock { $0 }, verdict: verdict,
                                 operations: register?.operations.count ?? services?.operationCount ?? 0, healedAt: healedAt,
                                 writesRecovered: recovered, okWrites: register?.writesPerSecond ?? services?.writesPerSecond ?? [:])
        for node in testbed.liveNodes {
            if let status = try? testbed.status(node) { report.leaderNames[status.nodeID] = node }
        }
        try report.write(to: options.outputDirectory)
        writeStandardOutput(report.summary)
        writeStandardOutput("report: \(options.outputDirectory)/report.md, timeline: \(options.outputDirectory)/timeline.svg\n")
        return verdict.passed && recovered ? 0 : 1
    }

    private func perform(_ step: NemesisStep) {
        let label = step.command.joined(separator: " ")
        writeStandardOutput(String(format: "[%6.1fs] %@\n", elapsed, label))
        if step.isHeal, let open = faults.lastIndex(where: { $0.end == nil }) { faults[open].end = elapsed }
        if !step.isHeal { faults.append(FaultRecord(command: step.command, at: elapsed)) }
        do {
            if step.command.first == "restart" {
                _ = try TestbedCommand.act("restart", on: step.command.count > 1 ? step.command[1] : "", directory: options.directory)
            } else {
                _ = try ChaosCommand.run(step.command + ["--dir", options.directory])
            }
        } catch {
            writeStandardError("chaos run: step '\(label)' failed: \(error)\n")
        }
    }

    /// Heals every link and disk fault and restarts every killed node.
    private func healEverything() {
        writeStandardOutput(String(format: "[%6.1fs] heal everything\n", elapsed))
        for index in faults.indices where faults[index].end == nil { faults[index].end = elapsed }
        let environment = (try? TestbedEnvironment.load(directory: options.directory)) ?? testbed.environment
        for node in environment.nodes where environment.pid(of: node) == nil {
            _ = try? TestbedCommand.act("restart", on: node, directory: options.directory)
        }
        for node in environment.nodes {
            for process in environment.pid(of: node).map({ [$0] }) ?? [] { _ = kill(process, SIGCONT) }
        }
        _ = try? ChaosCommand.run(["heal", "--dir", options.directory])
    }

    /// Polls until a write through some manager succeeds (true) or `seconds` pass (false).
    private func waitForWrites(_ apis: [String], seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var attempt = 0
        while Date() < deadline {
            attempt += 1
            if let address = try? SocketAddress(parsing: apis[attempt % apis.count]) {
                let client = HTTPClient(address: address, timeoutMillis: 2_000)
                let body = RegisterWorkload.spec("chaos-probe-\(attempt)-\(started)", value: "probe")
                if let response = try? client.send("POST", "/v1.41/services/create", body: body,
                                                   headers: HTTPHeaders([("Content-Type", "application/json")])),
                   response.status == 201 {
                    _ = try? client.send("DELETE", "/v1.41/services/chaos-probe-\(attempt)-\(started)")
                    return true
                }
            }
            usleep(200_000)
        }
        return false
    }

    private func monitorLoop(_ apis: [String]) {
        var index = 0
        while !stopMonitor.load(ordering: .relaxed) {
            var sample = TimelineSample(time: elapsed, leader: nil, running: nil, desired: nil)
            for offset in 0..<apis.count {
                guard let address = try? SocketAddress(parsing: apis[(index + offset) % apis.count]) else { continue }
                let client = HTTPClient(address: address, timeoutMillis: 500)
                guard let response = try? client.send("GET", "/v1.41/info"), response.status == 200,
                      let info = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
                      let raft = (info["Swarm"] as? [String: Any])?["Raft"] as? [String: Any] else { continue }
                let leader = raft["LeaderNodeID"] as? String
                sample.leader = (leader?.isEmpty ?? true) ? nil : leader
                if options.workload == "services", let services = try? client.send("GET", "/v1.41/services", query: QueryParameters([("status", "true")])),
                   let list = try? JSONSerialization.jsonObject(with: Data(services.body)) as? [[String: Any]] {
                    let statuses = list.compactMap { $0["ServiceStatus"] as? [String: Any] }
                    sample.running = statuses.reduce(0) { $0 + ($1["RunningTasks"] as? Int ?? 0) }
                    sample.desired = statuses.reduce(0) { $0 + ($1["DesiredTasks"] as? Int ?? 0) }
                }
                break
            }
            samples.withLock { $0.append(sample) }
            index += 1
            usleep(250_000)
        }
    }

    private func writeHistory(_ history: [HistoryOperation]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var text = ""
        for operation in history { text += String(decoding: try encoder.encode(operation), as: UTF8.self) + "\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: options.outputDirectory + "/history.jsonl"))
    }
}

/// One injected fault, from injection to heal (seconds into the run).
struct FaultRecord {
    /// Faults that happen at one moment (a killed task): they end where they start.
    static let instantaneous: Set<String> = ["kill-task"]

    var start: Double
    var end: Double?
    var label: String

    init(start: Double, end: Double?, label: String) {
        self.start = start
        self.end = end
        self.label = label
    }

    /// The record of `command` injected at `time`: an instantaneous fault ends at once, one
    /// with its own length (`--for`) after it, the others at the next heal (`end` nil until then).
    init(command: [String], at time: Double) {
        let length = command.firstIndex(of: "--for").flatMap { index in
            index + 1 < command.count ? Duration.parseMillis(command[index + 1]) : nil
        }
        let end: Double? = Self.instantaneous.contains(command.first ?? "") ? time : length.map { time + Double($0) / 1000 }
        self.init(start: time, end: end, label: command.joined(separator: " "))
    }

    /// A short name for the timeline: the fault and its first target (`partition manager-1`).
    var shortName: String {
        let words = label.split(separator: " ").map(String.init)
        guard let kind = words.first else { return label }
        let target = words.dropFirst().first { !$0.hasPrefix("--") && !$0.hasSuffix("ms") && !$0.hasSuffix("%") }
            ?? words.firstIndex(of: "--from").flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil }
        return target.map { "\(kind) \($0)" } ?? kind
    }
}

/// What the monitor saw at one moment.
struct TimelineSample {
    var time: Double
    var leader: String?
    var running: Int?
    var desired: Int?
}

/// The outcome of the history check.
struct ChaosVerdict {
    var passed: Bool
    var anomalies: Int
    var lostWrites: Int
    var text: String
}
