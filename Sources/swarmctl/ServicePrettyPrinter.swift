import ClusterState

/// `service inspect --pretty`: docker's human-readable layout of a service.
enum ServicePrettyPrinter {
    static func text(_ service: Service) -> String {
        let spec = service.spec
        var lines = ["", "ID:\t\t\(service.id)", "Name:\t\t\(spec.name)"]
        if !spec.labels.isEmpty {
            lines.append("Labels:")
            lines += spec.labels.keys.sorted().map { " \($0)=\(spec.labels[$0]!)" }
        }
        switch spec.mode {
        case let .replicated(replicas): lines += ["Service Mode:\tReplicated", " Replicas:\t\(replicas)"]
        case .global: lines.append("Service Mode:\tGlobal")
        }
        if let status = service.updateStatus {
            lines += ["UpdateStatus:", " State:\t\t\(status.state.rawValue)"]
            if let message = status.message { lines.append(" Message:\t\(message)") }
        }
        lines.append("Placement:")
        if let constraints = spec.taskTemplate.placement?.constraints, !constraints.isEmpty {
            lines.append(" Constraints:\t\(constraints)")
        }
        if let maximum = spec.taskTemplate.placement?.maxReplicas { lines.append(" Max Replicas Per Node:  \(maximum)") }
        lines += updateConfig("UpdateConfig", spec.updateConfig, order: "Update order")
        lines += updateConfig("RollbackConfig", spec.rollbackConfig, order: "Rollback order")
        let container = spec.taskTemplate.containerSpec
        lines += ["ContainerSpec:", " Image:\t\t\(container.image)"]
        if let command = container.command, !command.isEmpty { lines.append(" Command:\t\(command.joined(separator: " ")) ") }
        if let args = container.args, !args.isEmpty { lines.append(" Args:\t\t\(args.joined(separator: " ")) ") }
        if let env = container.env, !env.isEmpty { lines.append(" Env:\t\t\(env.joined(separator: " "))") }
        lines.append(" Init:\t\t\(container.initProcess ?? false)")
        lines.append("Resources:")
        if let reservations = spec.taskTemplate.resources?.reservations {
            lines.append(" Reservations:")
            if let cpu = reservations.nanoCPUs { lines.append("  CPU:\t\t\(Double(cpu) / 1e9)") }
            if let memory = reservations.memoryBytes { lines.append("  Memory:\t\(memory / (1 << 20))MiB") }
        }
        if let limits = spec.taskTemplate.resources?.limits {
            lines.append(" Limits:")
            if let cpu = limits.nanoCPUs { lines.append("  CPU:\t\t\(Double(cpu) / 1e9)") }
            if let memory = limits.memoryBytes { lines.append("  Memory:\t\(memory / (1 << 20))MiB") }
        }
        lines.append("Endpoint Mode:\t\(spec.endpointSpec?.mode ?? "vip")")
        return lines.joined(separator: "\n") + "\n"
    }

    private static func updateConfig(_ title: String, _ config: UpdateConfig?, order: String) -> [String] {
        guard let config else { return [] }
        var lines = [title + ":", " Parallelism:\t\(config.parallelism ?? 1)"]
        if let delay = config.delay, delay > 0 { lines.append(" Delay:\t\t\(delay / 1_000_000_000)s") }
        lines.append(" On failure:\t\(config.failureAction?.rawValue ?? "pause")")
        lines.append(" Monitoring Period: \((config.monitor ?? 5_000_000_000) / 1_000_000_000)s")
        lines.append(" Max failure ratio: \(formatRatio(config.maxFailureRatio ?? 0))")
        lines.append(" \(order):    \(config.order?.rawValue ?? "stop-first")")
        return lines
    }

    private static func formatRatio(_ ratio: Double) -> String {
        ratio == ratio.rounded() ? String(Int(ratio)) : String(ratio)
    }
}
