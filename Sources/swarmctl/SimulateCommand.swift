import Glibc
import Simulation

/// The fault names `--faults` accepts, for help text.
enum FaultNames {
    static let list = FaultKind.allCases.map(\.rawValue).joined(separator: ", ")
}

/// The seed being simulated, readable from the trap handler so a crash of the core still names
/// the seed that caused it.
nonisolated(unsafe) private var seedInProgress: UInt64 = 0
nonisolated(unsafe) private var replayPrefix: [CChar] = []

/// `swarmctl simulate`: runs seeded simulations and prints their report.
enum SimulateCommand {
    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: ["--control-plane", "--trace", "--allow-slot-twice",
                                                                         "--managers-run-tasks"])
        if arguments.takeSwitch("--control-plane") { return try runControlPlane(&arguments) }
        let seed = try arguments.takeValue("--seed").map { text throws(UsageError) -> UInt64 in
            guard let value = UInt64(text) else { throw UsageError(message: "--seed \(text): expected a non-negative whole number") }
            return value
        }
        let seedCount = try arguments.takeInt("--seeds", in: 1...1_000_000)
        let nodes = try arguments.takeInt("--nodes", in: 1...9) ?? 3
        var template = SimulationOptions(seed: 1)
        template.nodes = nodes
        if let text = arguments.takeValue("--duration") {
            guard let millis = parseDurationMillis(text), millis >= 1000 else {
                throw UsageError(message: "--duration \(text): expected a duration of at least 1s, like 30s or 2m")
            }
            template.durationMillis = millis
        }
        if let text = arguments.takeValue("--faults") {
            switch FaultKind.parseList(text) {
            case let .success(kinds): template.faults = kinds
            case let .failure(unknown):
                throw UsageError(message: "--faults: unknown fault '\(unknown.name)': use 'all', 'none' or some of: \(FaultNames.list)")
            }
        }
        try arguments.finish(command: "simulate")
        guard arguments.positionals.isEmpty else {
            throw UsageError(message: "simulate takes no arguments, got '\(arguments.positionals[0])'")
        }
        if seed != nil && seedCount != nil { throw UsageError(message: "give either --seed or --seeds, not both") }

        let seeds: [UInt64] = seedCount.map { Array(1...UInt64($0)) } ?? [seed ?? 1]
        installCrashReporter(prefix: "swarmctl simulate --nodes \(template.nodes) --duration \(template.durationMillis / 1000)s --faults \(template.faultList) --seed ")
        var total = SimulationReport()
        for (position, current) in seeds.enumerated() {
            seedInProgress = current
            var options = template
            options.seed = current
            let report = Simulator(options: options).run()
            total.merge(report)
            if report.violation != nil { break }
            if seeds.count >= 100 && (position + 1) % (seeds.count / 10) == 0 {
                writeStandardError("simulate: \(position + 1)/\(seeds.count) seeds done\n")
            }
        }
        let header = seeds.count == 1
            ? "seed                 \(seeds[0])"
            : "seeds                1-\(seeds.count)"
        print(header)
        print("nodes                \(template.nodes)")
        print("duration             \(template.durationMillis / 1000)s virtual (+ liveness check after healing)")
        print("faults               \(template.faultList)")
        for line in total.lines() { print(line) }
        if let violation = total.violation {
            print("replay: \(replayCommand(template, seed: violation.seed))")
            return 1
        }
        return 0
    }

    static func replayCommand(_ options: SimulationOptions, seed: UInt64) -> String {
        "swarmctl simulate --seed \(seed) --nodes \(options.nodes) --duration \(options.durationMillis / 1000)s --faults \(options.faultList)"
    }

    /// `swarmctl simulate --control-plane`: 3 managers and M workers under the control-plane
    /// nemesis; every seed runs to its end, each failing seed is printed with its replay command.
    static func runControlPlane(_ arguments: inout CommandLineArguments) throws -> Int32 {
        let seed = try arguments.takeValue("--seed").map { text throws(UsageError) -> UInt64 in
            guard let value = UInt64(text) else { throw UsageError(message: "--seed \(text): expected a non-negative whole number") }
            return value
        }
        let seedCount = try arguments.takeInt("--seeds", in: 1...1_000_000)
        let tracing = arguments.takeSwitch("--trace")
        let allowTwice = arguments.takeSwitch("--allow-slot-twice")
        var template = ControlPlaneOptions(seed: 1)
        template.workers = try arguments.takeInt("--workers", in: 1...64) ?? 7
        template.enforceSingleRunningTaskPerSlot = !allowTwice
        template.managersRunTasks = arguments.takeSwitch("--managers-run-tasks")
        if let count = try arguments.takeInt("--workers-without-networking", in: 0...64) {
            guard count < template.workers else {
                throw UsageError(message: "--workers-without-networking \(count): fewer than the \(template.workers) workers (--workers), "
                    + "so the services on networks have somewhere to run")
            }
            template.workersWithoutNetworking = count
        }
        if let text = arguments.takeValue("--ack-timeout") {
            if text == "off" {
                template.acknowledgementTimeoutMillis = nil
            } else {
                guard let millis = parseDurationMillis(text), millis >= 2 * template.heartbeatPeriodMillis else {
                    throw UsageError(message: "--ack-timeout \(text): expected 'off' or a duration of at least two heartbeat periods, like 5s")
                }
                template.acknowledgementTimeoutMillis = millis
            }
        }
        if let text = arguments.takeValue("--duration") {
            guard let millis = parseDurationMillis(text), millis >= 1000 else {
                throw UsageError(message: "--duration \(text): expected a duration of at least 1s, like 30s or 2m")
            }
            template.durationMillis = millis
        }
        if let text = arguments.takeValue("--faults") {
            if text == "all" {
                template.faults = Set(ControlPlaneFault.allCases)
            } else if text == "none" {
                template.faults = []
            } else {
                var kinds = Set<ControlPlaneFault>()
                for name in text.split(separator: ",") {
                    guard let kind = ControlPlaneFault(rawValue: String(name)) else {
                        let names = ControlPlaneFault.allCases.map(\.rawValue).joined(separator: ", ")
                        throw UsageError(message: "--faults: unknown control-plane fault '\(name)': use 'all', 'none' or some of: \(names)")
                    }
                    kinds.insert(kind)
                }
                template.faults = kinds
            }
        }
        try arguments.finish(command: "simulate")
        guard arguments.positionals.isEmpty else {
            throw UsageError(message: "simulate takes no arguments, got '\(arguments.positionals[0])'")
        }
        if seed != nil && seedCount != nil { throw UsageError(message: "give either --seed or --seeds, not both") }
        let faultList = template.faults == Set(ControlPlaneFault.allCases) ? "all"
            : template.faults.isEmpty ? "none" : template.faults.sorted().map(\.rawValue).joined(separator: ",")
        let extra = (template.managersRunTasks ? " --managers-run-tasks" : "")
            + (template.acknowledgementTimeoutMillis == 5_000 ? "" : " --ack-timeout \(template.acknowledgementTimeoutMillis.map { "\($0)ms" } ?? "off")")
            + (template.workersWithoutNetworking == 1 ? "" : " --workers-without-networking \(template.workersWithoutNetworking)")
        let replay = "swarmctl simulate --control-plane --workers \(template.workers) --duration \(template.durationMillis / 1000)s --faults \(faultList)\(extra) --seed "
        let seeds: [UInt64] = seedCount.map { Array(1...UInt64($0)) } ?? [seed ?? 1]
        installCrashReporter(prefix: replay)
        var total = ControlPlaneReport()
        for (position, current) in seeds.enumerated() {
            seedInProgress = current
            var options = template
            options.seed = current
            let simulator = ControlPlaneSimulator(options: options)
            if tracing { simulator.trace = { print($0) } }
            let report = simulator.run()
            total.merge(report)
            if let violation = report.violation {
                print("FAILED seed \(current): \(violation.message)")
                print("  replay: \(replay)\(current)")
            }
            if seeds.count >= 100 && (position + 1) % (seeds.count / 10) == 0 {
                writeStandardError("simulate: \(position + 1)/\(seeds.count) seeds done\n")
            }
        }
        let header = seeds.count == 1 ? "seed                 \(seeds[0])" : "seeds                1-\(seeds.count)"
        print(header)
        print("cluster              \(template.managers) managers, \(template.workers) workers")
        print("duration             \(template.durationMillis / 1000)s virtual with faults and workload, then heal (converge within \(template.settleBoundMillis / 1000)s)")
        print("faults               \(faultList)")
        for line in total.lines() { print(line) }
        return total.violations.isEmpty ? 0 : 1
    }

    /// A precondition failure in the core traps; print which seed did it before dying.
    private static func installCrashReporter(prefix: String) {
        replayPrefix = Array(prefix.utf8CString.dropLast())
        let handler: @convention(c) (Int32) -> Void = { signal in
            var text = Array("\nswarmctl: simulation crashed (an invariant precondition failed); replay: ".utf8CString.dropLast())
            text += replayPrefix
            text += Array(String(seedInProgress).utf8CString.dropLast())
            text.append(10)
            _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            Glibc.signal(signal, SIG_DFL)
            raise(signal)
        }
        for crashSignal in [SIGILL, SIGTRAP, SIGSEGV, SIGABRT, SIGBUS] { signal(crashSignal, handler) }
    }
}
