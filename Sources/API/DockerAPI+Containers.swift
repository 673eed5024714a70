import ClusterState
import Foundation

/// The node-level container routes: `docker ps`, `inspect`, `logs`, `top`, `stats` and `images`
/// against the node that runs the tasks. Containers exist here only as service tasks: creating,
/// starting or removing one directly is refused, saying to use the service commands.
extension DockerAPI {
    static let containerCreationRefused = APIError(status: 400,
        "this node runs containers only as tasks of services: use 'docker service create' (or 'swarmctl service create') instead of docker run/create")

    /// `/containers/...` and `/images/json`. Returns nil when `segments` is none of them.
    func containersRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        guard let controlPlane = anyNode(reply) else { return () }
        switch (request.method, segments.count, segments.last) {
        case ("GET", 2, "json"?) where segments[0] == "containers": return listContainers(controlPlane, request, reply)
        case ("POST", 2, "create"?) where segments[0] == "containers": return reply(Self.containerCreationRefused.response)
        case ("GET", 3, "json"?): return withContainer(controlPlane, segments[1], reply) { reply(self.json(200, self.inspectBody($0))) }
        case ("GET", 3, "top"?): return withContainer(controlPlane, segments[1], reply) { self.top(controlPlane, $0, reply) }
        case ("GET", 3, "stats"?) where !request.query.bool("stream", default: true) || request.query.bool("one-shot"):
            return withContainer(controlPlane, segments[1], reply) { self.stats(controlPlane, $0, oneShot: request.query.bool("one-shot"), reply) }
        case ("GET", 3, "stats"?):
            // Streamed stats are answered on the client's connection (`streamStats`); this path has none.
            return reply(APIError.badRequest("streaming stats need the client's connection: ask with stream=false for one reading").response)
        case ("POST", 3, _) where ["start", "stop", "restart", "kill", "pause", "unpause", "rename", "update", "wait", "attach"].contains(segments[2]),
             ("DELETE", 2, _) where segments[0] == "containers":
            return withContainer(controlPlane, segments[1], reply) { container in
                reply(APIError(status: 400, "container \(container.name) is a task of service \(container.serviceName): the cluster starts, "
                               + "stops and removes it; use 'docker service update', 'scale' or 'rm'").response)
            }
        case ("POST", 3, "exec"?):
            return withContainer(controlPlane, segments[1], reply) { self.createExec($0, request, reply) }
        default: return nil
        }
    }

    func imagesRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        guard request.method == "GET", segments == ["images", "json"], let controlPlane = anyNode(reply) else { return nil }
        let images = controlPlane.localImages().map {
            ImageSummary(Id: $0.id, ParentId: "", RepoTags: $0.repoTags, RepoDigests: [], Created: $0.created, Size: $0.size,
                         SharedSize: -1, VirtualSize: $0.size, Labels: [:], Containers: -1)
        }
        return reply(json(200, images))
    }

    private func withContainer(_ controlPlane: any ControlPlane, _ reference: String, _ reply: @escaping Reply,
                               _ body: @escaping (LocalContainer) -> Void) {
        let matches = controlPlane.localContainers().filter { $0.matches(reference) }
        if let exact = matches.first(where: { $0.id == reference || $0.name == reference || $0.task.id == reference }) { return body(exact) }
        switch matches.count {
        case 1: body(matches[0])
        case 0: reply(APIError(status: 404, "No such container: \(reference)").response)
        default: reply(APIError(status: 400, "multiple containers match \(reference): give more of the id").response)
        }
    }

    // MARK: List and inspect

    private func listContainers(_ controlPlane: any ControlPlane, _ request: HTTPRequest, _ reply: @escaping Reply) {
        let filters: DockerFilters
        switch DockerFilters.parse(request.query["filters"], allowed: ["id", "name", "label", "status"]) {
        case let .failure(error): return reply(error.response)
        case let .success(parsed): filters = parsed
        }
        let all = request.query.bool("all")
        let now = Date().timeIntervalSince1970
        let listed = controlPlane.localContainers().filter { container in
            (all || container.state == .running)
                && filters.any("id") { container.id.hasPrefix($0) }
                && filters.any("name") { container.name.contains($0) }
                && filters["label"].allSatisfy { NodeFilter.label($0, in: container.labels) }
                && filters.any("status") { $0 == Self.dockerState(container) }
        }
        reply(json(200, listed.map { container in
            ContainerSummary(Id: container.id, Names: ["/" + container.name], Image: container.task.spec.containerSpec.image, ImageID: "",
                             Command: Self.commandLine(container).joined(separator: " "), Created: Int64(container.task.createdAt.millisecondsSinceEpoch / 1000),
                             Ports: [], Labels: container.labels, State: Self.dockerState(container), Status: Self.statusText(container, now: now),
                             HostConfig: ["NetworkMode": "host"], NetworkSettings: ["Networks": [:]], Mounts: [])
        }))
    }

    static func dockerState(_ container: LocalContainer) -> String { container.state.rawValue }

    /// docker's `Status` column: `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`.
    static func statusText(_ container: LocalContainer, now: Double) -> String {
        switch container.state {
        case .created: return "Created"
        case .running:
            let health = container.health.map { " (\($0))" } ?? ""
            return "Up " + humanDuration(now - (container.startedAt ?? now)) + health
        case .exited: return "Exited (\(container.exitCode ?? 0))"
        }
    }

    /// Docker's `units.HumanDuration`.
    static func humanDuration(_ seconds: Double) -> String {
        let s = Int(seconds)
        switch s {
        case ..<1: return "Less than a second"
        case 1: return "1 second"
        case ..<60: return "\(s) seconds"
        case ..<120: return "About a minute"
        case ..<3_600: return "\(s / 60) minutes"
        case ..<7_200: return "About an hour"
        case ..<(48 * 3_600): return "\(s / 3_600) hours"
        case ..<(7 * 24 * 3_600): return "\(s / 86_400) days"
        default: return "\(s / (7 * 86_400)) weeks"
        }
    }

    static func commandLine(_ container: LocalContainer) -> [String] {
        let spec = container.task.spec.containerSpec
        return (spec.command ?? []) + (spec.args ?? [])
    }

    func inspectBody(_ container: LocalContainer) -> ContainerInspectBody {
        let spec = container.task.spec.containerSpec
        let command = Self.commandLine(container)
        func time(_ seconds: Double?) -> String {
            guard let seconds else { return "0001-01-01T00:00:00Z" }
            return ServiceLogStream.timestamp(Int64(seconds * 1e9))
        }
        let state = ContainerInspectBody.State(
            Status: Self.dockerState(container), Running: container.state == .running, Paused: false, Restarting: false, OOMKilled: false,
            Dead: false, Pid: container.state == .running ? Int(container.pid ?? 0) : 0, ExitCode: Int(container.exitCode ?? 0), Error: "",
            StartedAt: time(container.startedAt), FinishedAt: time(nil),
            Health: container.health.map { ["Status": $0] })
        let config = ContainerInspectBody.Config(
            Hostname: spec.hostname ?? String(container.id.prefix(12)), User: spec.user ?? "", Env: spec.env ?? [],
            Cmd: command.isEmpty ? nil : command, Image: spec.image, WorkingDir: spec.dir ?? "", Labels: container.labels,
            Tty: false, OpenStdin: false, AttachStdin: false, AttachStdout: false, AttachStderr: false)
        return ContainerInspectBody(
            Id: container.id, Created: RFC3339.format(container.task.createdAt.millisecondsSinceEpoch), Path: command.first ?? "",
            Args: Array(command.dropFirst()), State: state, Image: spec.image, Name: "/" + container.name, RestartCount: 0,
            Driver: "overlay", Platform: "linux", HostConfig: .init(NetworkMode: "host", ReadonlyRootfs: spec.readOnly ?? false),
            Config: config, NetworkSettings: ["Networks": [:]], Mounts: [])
    }

    // MARK: Top and stats

    private func top(_ controlPlane: any ControlPlane, _ container: LocalContainer, _ reply: @escaping Reply) {
        guard container.state == .running else {
            return reply(APIError(status: 409, "Container \(container.id) is not running").response)
        }
        controlPlane.containerProcesses(container) { [weak self] result in
            guard let self else { return }
            switch result {
            case let .success(processes): reply(json(200, TopBody(Titles: processes.titles, Processes: processes.processes)))
            case let .failure(error): reply(error.response)
            }
        }
    }

    private func stats(_ controlPlane: any ControlPlane, _ container: LocalContainer, oneShot: Bool, _ reply: @escaping Reply) {
        guard container.state == .running else {
            // dockerd answers zeros for a stopped container; the CLI shows them as 0%.
            let zero = ContainerUsage(readNanos: 0, cpuNanos: 0, systemCPUNanos: 0, onlineCPUs: 0, memoryBytes: 0, memoryLimitBytes: 0, pids: 0)
            return reply(json(200, StatsBody(container, previous: zero, current: zero)))
        }
        controlPlane.containerUsage(container, intervalMillis: oneShot ? 0 : 500) { [weak self] result in
            guard let self else { return }
            switch result {
            case let .success((previous, current)): reply(json(200, StatsBody(container, previous: previous, current: current)))
            case let .failure(error): reply(error.response)
            }
        }
    }
}

extension QueryParameters {
    /// A boolean parameter with a default when absent.
    func bool(_ name: String, default value: Bool) -> Bool {
        self[name] == nil ? value : bool(name)
    }
}

// MARK: Docker's JSON shapes

struct ContainerSummary: Encodable {
    let Id: String
    let Names: [String]
    let Image: String
    let ImageID: String
    let Command: String
    let Created: Int64
    let Ports: [String]
    let Labels: [String: String]
    let State: String
    let Status: String
    let HostConfig: [String: String]
    let NetworkSettings: [String: [String: String]]
    let Mounts: [String]
}

struct ContainerInspectBody: Encodable {
    struct State: Encodable {
        let Status: String
        let Running: Bool
        let Paused: Bool
        let Restarting: Bool
        let OOMKilled: Bool
        let Dead: Bool
        let Pid: Int
        let ExitCode: Int
        let Error: String
        let StartedAt: String
        let FinishedAt: String
        let Health: [String: String]?
    }

    struct Config: Encodable {
        let Hostname: String
        let User: String
        let Env: [String]
        let Cmd: [String]?
        let Image: String
        let WorkingDir: String
        let Labels: [String: String]
        let Tty: Bool
        let OpenStdin: Bool
        let AttachStdin: Bool
        let AttachStdout: Bool
        let AttachStderr: Bool
    }

    let Id: String
    let Created: String
    let Path: String
    let Args: [String]
    let State: State
    let Image: String
    let Name: String
    let RestartCount: Int
    let Driver: String
    let Platform: String
    struct HostConfig: Encodable {
        let NetworkMode: String
        let ReadonlyRootfs: Bool
    }

    let HostConfig: HostConfig
    let Config: Config
    let NetworkSettings: [String: [String: String]]
    let Mounts: [String]
}

struct TopBody: Encodable {
    let Titles: [String]
    let Processes: [[String]]
}

struct ImageSummary: Encodable {
    let Id: String
    let ParentId: String
    let RepoTags: [String]
    let RepoDigests: [String]
    let Created: Int64
    let Size: Int64
    let SharedSize: Int64
    let VirtualSize: Int64
    let Labels: [String: String]
    let Containers: Int
}

/// dockerd's stats object (`types.StatsJSON`), the fields `docker stats` reads.
struct StatsBody: Encodable {
    struct CPUUsage: Encodable {
        let total_usage: UInt64
        let usage_in_kernelmode: UInt64
        let usage_in_usermode: UInt64
    }

    struct CPUStats: Encodable {
        let cpu_usage: CPUUsage
        let system_cpu_usage: UInt64
        let online_cpus: Int
        let throttling_data: [String: UInt64]

        init(_ usage: ContainerUsage) {
            cpu_usage = CPUUsage(total_usage: usage.cpuNanos, usage_in_kernelmode: 0, usage_in_usermode: 0)
            system_cpu_usage = usage.systemCPUNanos
            online_cpus = usage.onlineCPUs
            throttling_data = ["periods": 0, "throttled_periods": 0, "throttled_time": 0]
        }
    }

    struct MemoryStats: Encodable {
        let usage: UInt64
        let limit: UInt64
        let stats: [String: UInt64]
    }

    let id: String
    let name: String
    let read: String
    let preread: String
    let pids_stats: [String: Int]
    let blkio_stats: [String: [String]?]
    let num_procs: Int
    let storage_stats: [String: String]
    let cpu_stats: CPUStats
    let precpu_stats: CPUStats
    let memory_stats: MemoryStats
    let networks: [String: [String: UInt64]]?

    init(_ container: LocalContainer, previous: ContainerUsage, current: ContainerUsage) {
        id = container.id
        name = "/" + container.name
        read = current.readNanos == 0 ? "0001-01-01T00:00:00Z" : ServiceLogStream.timestamp(current.readNanos)
        preread = previous.readNanos == 0 ? "0001-01-01T00:00:00Z" : ServiceLogStream.timestamp(previous.readNanos)
        pids_stats = ["current": current.pids]
        blkio_stats = ["io_service_bytes_recursive": nil, "io_serviced_recursive": nil]
        num_procs = 0
        storage_stats = [:]
        cpu_stats = CPUStats(current)
        precpu_stats = CPUStats(previous)
        memory_stats = MemoryStats(usage: current.memoryBytes, limit: current.memoryLimitBytes, stats: [:])
        networks = nil
    }
}
