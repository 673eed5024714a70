import ClusterState
import SwarmNode

/// The `service create` / `service update` flags, applied to a service spec. One type for both
/// commands so a flag means the same in each; `update` starts from the current spec.
struct ServiceSpecFlags {
    /// Flags that take no value.
    static let switches: Set<String> = ["--detach", "-d", "--force", "--no-resolve-image", "--quiet", "-q", "--read-only", "--init"]

    /// Applies every flag present in `arguments` to `spec` (consuming them).
    static func apply(_ arguments: inout CommandLineArguments, to spec: inout ServiceSpec, creating: Bool) throws(UsageError) {
        if let name = arguments.takeValue("--name") { spec.name = name }
        try applyMode(&arguments, &spec, creating: creating)
        try applyContainer(&arguments, &spec.taskTemplate.containerSpec, creating: creating)
        try applyResources(&arguments, &spec.taskTemplate)
        try applyPlacement(&arguments, &spec.taskTemplate, creating: creating)
        try applyRestartPolicy(&arguments, &spec.taskTemplate)
        spec.updateConfig = try updateConfig(&arguments, prefix: "--update", spec.updateConfig)
        spec.rollbackConfig = try updateConfig(&arguments, prefix: "--rollback", spec.rollbackConfig)
        for label in arguments.takeValues("--label") + arguments.takeValues("--label-add") {
            let (key, value) = try keyValue(label, flag: "--label")
            spec.labels[key] = value
        }
        for key in arguments.takeValues("--label-rm") { spec.labels[key] = nil }
        try ServiceNetworkFlags.apply(&arguments, &spec)
    }

    private static func applyMode(_ arguments: inout CommandLineArguments, _ spec: inout ServiceSpec, creating: Bool) throws(UsageError) {
        let mode = arguments.takeValue("--mode")
        if let mode, !creating { throw UsageError(message: "--mode \(mode): a service's mode cannot change; create a new service") }
        let replicas = try arguments.takeInt("--replicas", in: 0...1_000_000)
        switch mode ?? (spec.mode.isGlobal ? "global" : "replicated") {
        case "global":
            if replicas != nil { throw UsageError(message: "--replicas only applies to replicated services") }
            spec.mode = .global
        case "replicated":
            if let replicas { spec.mode = .replicated(replicas: UInt64(replicas)) }
        default:
            throw UsageError(message: "--mode \(mode ?? ""): use replicated or global")
        }
    }

    private static func applyContainer(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec, creating: Bool) throws(UsageError) {
        if let image = arguments.takeValue("--image") { container.image = image }
        var env = container.env ?? []
        for entry in arguments.takeValues("--env") + arguments.takeValues("-e") + arguments.takeValues("--env-add") {
            let key = entry.split(separator: "=", maxSplits: 1).first.map(String.init) ?? entry
            env.removeAll { $0 == key || $0.hasPrefix(key + "=") }
            env.append(entry)
        }
        for key in arguments.takeValues("--env-rm") { env.removeAll { $0 == key || $0.hasPrefix(key + "=") } }
        container.env = env.isEmpty ? nil : env
        if let entrypoint = arguments.takeValue("--entrypoint") {
            // As docker: the string is split like a shell would; an empty one restores the image's.
            let words = try shellWords(entrypoint, flag: "--entrypoint")
            container.command = words.isEmpty ? nil : words
        }
        if let dir = arguments.takeValue("--workdir", "-w") { container.dir = dir }
        if let user = arguments.takeValue("--user", "-u") { container.user = user }
        if let hostname = arguments.takeValue("--hostname") { container.hostname = hostname }
        if let grace = arguments.takeValue("--stop-grace-period") { container.stopGracePeriod = try nanoseconds(grace, flag: "--stop-grace-period") }
        if let signal = arguments.takeValue("--stop-signal") { container.stopSignal = signal }
        if let command = arguments.takeValue("--health-cmd") {
            var health = container.healthcheck ?? HealthConfig()
            health.test = ["CMD-SHELL", command]
            container.healthcheck = health
        }
        for (flag, path) in [("--health-interval", \HealthConfig.interval), ("--health-timeout", \.timeout), ("--health-start-period", \.startPeriod)] {
            guard let text = arguments.takeValue(flag) else { continue }
            var health = container.healthcheck ?? HealthConfig()
            health[keyPath: path] = try nanoseconds(text, flag: flag)
            container.healthcheck = health
        }
        if let retries = try arguments.takeInt("--health-retries", in: 0...1_000) {
            var health = container.healthcheck ?? HealthConfig()
            health.retries = Int64(retries)
            container.healthcheck = health
        }
        if arguments.takeSwitch("--no-healthcheck") { container.healthcheck = HealthConfig(test: ["NONE"]) }
        try ContainerSettingFlags.apply(&arguments, &container)
    }

    private static func applyResources(_ arguments: inout CommandLineArguments, _ template: inout TaskTemplate) throws(UsageError) {
        var resources = template.resources ?? ResourceRequirements()
        var limits = resources.limits ?? ResourceAmounts()
        var reservations = resources.reservations ?? ResourceAmounts()
        if let cpu = arguments.takeValue("--limit-cpu") { limits.nanoCPUs = try nanoCPUs(cpu, flag: "--limit-cpu") }
        if let memory = arguments.takeValue("--limit-memory") { limits.memoryBytes = try bytes(memory, flag: "--limit-memory") }
        if let pids = try arguments.takeInt("--limit-pids", in: 0...1 << 30) { limits.pids = Int64(pids) }
        if let cpu = arguments.takeValue("--reserve-cpu") { reservations.nanoCPUs = try nanoCPUs(cpu, flag: "--reserve-cpu") }
        if let memory = arguments.takeValue("--reserve-memory") { reservations.memoryBytes = try bytes(memory, flag: "--reserve-memory") }
        resources.limits = limits == ResourceAmounts() ? nil : limits
        resources.reservations = reservations == ResourceAmounts() ? nil : reservations
        template.resources = resources == ResourceRequirements() ? nil : resources
    }

    private static func applyPlacement(_ arguments: inout CommandLineArguments, _ template: inout TaskTemplate, creating: Bool) throws(UsageError) {
        var placement = template.placement ?? Placement()
        var constraints = placement.constraints ?? []
        constraints += arguments.takeValues("--constraint") + arguments.takeValues("--constraint-add")
        for removed in arguments.takeValues("--constraint-rm") { constraints.removeAll { $0 == removed } }
        for constraint in constraints where !constraint.contains("==") && !constraint.contains("!=") {
            throw UsageError(message: "--constraint \(constraint): expected KEY==VALUE or KEY!=VALUE (e.g. node.labels.zone==a)")
        }
        placement.constraints = constraints.isEmpty ? nil : constraints
        var preferences = placement.preferences ?? []
        for preference in arguments.takeValues("--placement-pref") + arguments.takeValues("--placement-pref-add") {
            guard preference.hasPrefix("spread="), preference.count > 7 else {
                throw UsageError(message: "--placement-pref \(preference): expected spread=node.labels.KEY")
            }
            preferences.append(PlacementPreference(spreadDescriptor: String(preference.dropFirst(7))))
        }
        placement.preferences = preferences.isEmpty ? nil : preferences
        if let maximum = try arguments.takeInt("--replicas-max-per-node", in: 0...1_000_000) {
            placement.maxReplicas = maximum == 0 ? nil : UInt64(maximum)
        }
        template.placement = placement == Placement() ? nil : placement
    }

    private static func applyRestartPolicy(_ arguments: inout CommandLineArguments, _ template: inout TaskTemplate) throws(UsageError) {
        var policy = template.restartPolicy ?? RestartPolicy()
        if let condition = arguments.takeValue("--restart-condition") {
            guard let parsed = RestartCondition(rawValue: condition) else {
                throw UsageError(message: "--restart-condition \(condition): use any, on-failure or none")
            }
            policy.condition = parsed
        }
        if let delay = arguments.takeValue("--restart-delay") { policy.delay = try nanoseconds(delay, flag: "--restart-delay") }
        if let attempts = try arguments.takeInt("--restart-max-attempts", in: 0...1_000_000) { policy.maxAttempts = UInt64(attempts) }
        if let window = arguments.takeValue("--restart-window") { policy.window = try nanoseconds(window, flag: "--restart-window") }
        template.restartPolicy = policy == RestartPolicy() ? template.restartPolicy : policy
    }

    private static func updateConfig(_ arguments: inout CommandLineArguments, prefix: String, _ current: UpdateConfig?) throws(UsageError) -> UpdateConfig? {
        var config = current ?? UpdateConfig()
        if let parallelism = try arguments.takeInt("\(prefix)-parallelism", in: 0...1_000_000) { config.parallelism = UInt64(parallelism) }
        if let delay = arguments.takeValue("\(prefix)-delay") { config.delay = try nanoseconds(delay, flag: "\(prefix)-delay") }
        if let monitor = arguments.takeValue("\(prefix)-monitor") { config.monitor = try nanoseconds(monitor, flag: "\(prefix)-monitor") }
        if let action = arguments.takeValue("\(prefix)-failure-action") {
            guard let parsed = UpdateFailureAction(rawValue: action), prefix == "--update" || parsed != .rollback else {
                throw UsageError(message: "\(prefix)-failure-action \(action): use pause, continue\(prefix == "--update" ? " or rollback" : "")")
            }
            config.failureAction = parsed
        }
        if let ratio = arguments.takeValue("\(prefix)-max-failure-ratio") {
            guard let value = Double(ratio), (0...1).contains(value) else {
                throw UsageError(message: "\(prefix)-max-failure-ratio \(ratio): expected a number from 0 to 1")
            }
            config.maxFailureRatio = value
        }
        if let order = arguments.takeValue("\(prefix)-order") {
            guard let parsed = UpdateOrder(rawValue: order) else {
                throw UsageError(message: "\(prefix)-order \(order): use stop-first or start-first")
            }
            config.order = parsed
        }
        return config == UpdateConfig() ? current : config
    }

    // MARK: Values

    /// `sh -c 'echo "a b"'` → `["sh", "-c", "echo \"a b\""]`: blanks separate words, single quotes
    /// keep everything, double quotes keep all but `\"` and `\\`, a backslash outside quotes
    /// escapes the next character.
    static func shellWords(_ text: String, flag: String) throws(UsageError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            switch (quote, character) {
            case ("'", "'"), ("\"", "\""):
                quote = nil
            case ("\"", "\\"):
                guard let next = iterator.next() else { throw UsageError(message: "\(flag) \(text): ends inside a quote") }
                current += next == "\"" || next == "\\" ? String(next) : "\\\(next)"
            case (_?, _):
                current.append(character)
            case (nil, "'"), (nil, "\""):
                quote = character
                inWord = true
            case (nil, "\\"):
                guard let next = iterator.next() else { throw UsageError(message: "\(flag) \(text): ends with a lone backslash") }
                current.append(next)
                inWord = true
            case (nil, " "), (nil, "\t"), (nil, "\n"):
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case (nil, _):
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil else { throw UsageError(message: "\(flag) \(text): a quote is not closed") }
        if inWord { words.append(current) }
        return words
    }

    static func keyValue(_ text: String, flag: String) throws(UsageError) -> (String, String) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let key = parts.first, !key.isEmpty else { throw UsageError(message: "\(flag) \(text): expected KEY=VALUE") }
        return (String(key), parts.count > 1 ? String(parts[1]) : "")
    }

    static func nanoseconds(_ text: String, flag: String) throws(UsageError) -> Int64 {
        guard let millis = Duration.parseMillis(text) else {
            throw UsageError(message: "\(flag) \(text): expected a duration such as 500ms, 10s or 1m30s")
        }
        return Int64(millis) * 1_000_000
    }

    static func nanoCPUs(_ text: String, flag: String) throws(UsageError) -> Int64 {
        guard let cpus = Double(text), cpus >= 0, cpus <= 4096 else {
            throw UsageError(message: "\(flag) \(text): expected a number of CPUs such as 0.5 or 2")
        }
        return Int64((cpus * 1e9).rounded())
    }

    /// `512M`, `1g`, `1048576` (bytes), as docker's memory flags.
    static func bytes(_ text: String, flag: String) throws(UsageError) -> Int64 {
        let units: [Character: Int64] = ["b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
        var number = text.lowercased()
        if number.hasSuffix("ib") || (number.hasSuffix("b") && number.count > 1 && units[number.dropLast().last ?? " "] != nil) {
            number = String(number.dropLast(number.hasSuffix("ib") ? 2 : 1))
        }
        var multiplier: Int64 = 1
        if let unit = number.last, let value = units[unit] {
            multiplier = value
            number.removeLast()
        }
        guard let value = Double(number), value >= 0, value * Double(multiplier) < 9e18 else {
            throw UsageError(message: "\(flag) \(text): expected a size such as 512M or 2G")
        }
        return Int64(value * Double(multiplier))
    }
}
