import Foundation
import XCTest
@testable import ClusterState
import Wire

/// The hand-written Wire encodings (`*+WireEncoding.swift`) give exactly the bytes of the
/// `Codable` path: for many seeded random values of every covered type, for values with every
/// field set (so a new stored property without a fast-path line fails here), for the commands
/// that fall back, and for whole states.
final class WireFastEncodingTests: XCTestCase {
    private let fast: WireEncoder = {
        var encoder = WireEncoder()
        encoder.usesFastPaths = true
        return encoder
    }()

    private let codable: WireEncoder = {
        var encoder = WireEncoder()
        encoder.usesFastPaths = false
        return encoder
    }()

    private func assertSameBytes<T: Encodable>(_ value: T, _ what: @autoclosure () -> String,
                                               file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try codable.encode(value)
        let actual = try fast.encode(value)
        guard actual != expected else { return }
        let common = min(actual.count, expected.count)
        let at = (0..<common).first { actual[$0] != expected[$0] } ?? common
        XCTFail("\(what()): fast path gives \(actual.count) bytes, Codable \(expected.count); first difference at byte \(at)",
                file: file, line: line)
    }

    // MARK: Random values

    func testRandomServicesEncodeAsCodableDoes() throws {
        for seed in 0..<400 {
            var random = FixtureRandom(seed: UInt64(seed))
            try assertSameBytes(random.service(), "service, seed \(seed)")
        }
    }

    func testRandomSpecsAndTheirPartsEncodeAsCodableDoes() throws {
        for seed in 0..<300 {
            var random = FixtureRandom(seed: 10_000 + UInt64(seed))
            let spec = random.serviceSpec()
            try assertSameBytes(spec, "spec, seed \(seed)")
            try assertSameBytes(spec.taskTemplate, "task template, seed \(seed)")
            try assertSameBytes(spec.taskTemplate.containerSpec, "container spec, seed \(seed)")
            try assertSameBytes(spec.mode, "mode, seed \(seed)")
        }
    }

    func testRandomTasksAndNodesEncodeAsCodableDoes() throws {
        for seed in 0..<300 {
            var random = FixtureRandom(seed: 20_000 + UInt64(seed))
            try assertSameBytes(random.task(), "task, seed \(seed)")
            try assertSameBytes(random.node(), "node, seed \(seed)")
        }
    }

    func testRandomCommandsOfEveryCaseEncodeAsCodableDoes() throws {
        for seed in 0..<400 {
            var random = FixtureRandom(seed: 30_000 + UInt64(seed))
            for command in random.commands() {
                try assertSameBytes(command, "command \(command.caseName), seed \(seed)")
            }
        }
    }

    func testTimestampsOfEveryRangeEncodeAsCodableDoes() throws {
        var random = FixtureRandom(seed: 7)
        var values: [UInt64] = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 253_402_300_799_999,
                                253_402_300_800_000, 1_764_000_000_000, UInt64.max / 2, UInt64.max]
        for _ in 0..<2000 { values.append(random.next() % 300_000_000_000_000) }
        for millis in values {
            try assertSameBytes(Timestamp(millisecondsSinceEpoch: millis), "timestamp \(millis)")
        }
    }

    // MARK: Every field set

    /// The paths of nil optionals and empty collections in `value`. The all-fields fixtures must
    /// have none, so the byte check covers every field: a stored property added later shows up
    /// here until the fixture sets it, and then in the byte check until its type's `wireEncode`
    /// writes it.
    private func unsetFields(_ value: Any, _ path: String) -> [String] {
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            guard let wrapped = mirror.children.first?.value else { return [path] }
            return unsetFields(wrapped, path)
        }
        if [.collection, .dictionary, .set].contains(mirror.displayStyle), mirror.children.isEmpty { return [path] }
        if value is String || value is [UInt8] { return [] }
        return mirror.children.enumerated().flatMap { index, child in
            unsetFields(child.value, "\(path).\(child.label ?? String(index))")
        }
    }

    func testValuesWithEveryFieldSetEncodeAsCodableDoes() throws {
        let service = FixtureRandom.fullService()
        XCTAssertEqual(unsetFields(service, "Service"), [], "set these in FixtureRandom.fullService/fullSpec")
        try assertSameBytes(service, "service with every field set")
        let task = FixtureRandom.fullTask()
        XCTAssertEqual(unsetFields(task, "SwarmTask"), [], "set these in FixtureRandom.fullTask")
        try assertSameBytes(task, "task with every field set")
        let node = FixtureRandom.fullNode()
        XCTAssertEqual(unsetFields(node, "Node"), [], "set these in FixtureRandom.fullNode")
        try assertSameBytes(node, "node with every field set")
        try assertSameBytes(ClusterCommand.createService(service: service), "createService with every field set")
        try assertSameBytes(ClusterCommand.createTasks(tasks: [task, task]), "createTasks with every field set")
    }

    func testTheAllFieldsCheckFindsANilFieldAndAnEmptyCollection() {
        var service = FixtureRandom.fullService()
        service.updateStatus?.message = nil
        service.spec.taskTemplate.containerSpec.env = []
        let unset = unsetFields(service, "Service")
        XCTAssertEqual(unset.count, 2, "\(unset)")
        XCTAssertTrue(unset.contains { $0.hasSuffix(".updateStatus.message") }, "\(unset)")
        XCTAssertTrue(unset.contains { $0.hasSuffix(".containerSpec.env") }, "\(unset)")
    }

    // MARK: Fallbacks and states

    /// A `Codable`-only type around fast ones: the generic path hands them to their fast paths
    /// (keyed, unkeyed and single-value containers) and the bytes stay those of `encode(to:)`.
    func testFastValuesInsideCodableOnlyValuesEncodeAsCodableDoes() throws {
        var random = FixtureRandom(seed: 99)
        let outer = Outer(spec: random.serviceSpec(), commands: random.commands(), wrapped: Wrapped(service: random.service()),
                          byName: ["b": random.task(), "a": random.task()], optional: nil)
        try assertSameBytes(outer, "Codable-only wrapper")
    }

    func testStatesWithManyServicesAndTasksEncodeAsCodableDoes() throws {
        var random = FixtureRandom(seed: 5)
        let state = random.state(services: 300, tasksPerService: 2)
        XCTAssertEqual(state.services.count, 302)
        XCTAssertNotEqual(state.sortedServiceIDs, state.sortedServiceIDs.sorted(by: WireByteOrder.precedes))
        try assertSameBytes(state, "state")
        let bytes = CommandCodec.encodeState(state)
        XCTAssertEqual(CommandCodec.encodeState(try CommandCodec.decodeState(bytes)), bytes)
        try assertSameBytes(ClusterState(), "empty state")
    }

    func testCommandCodecRoundTripsThroughTheFastPath() throws {
        var random = FixtureRandom(seed: 11)
        for command in random.commands() {
            // Bytes, not values: a NaN ratio makes equal commands unequal.
            let bytes = CommandCodec.encode(command)
            XCTAssertEqual(CommandCodec.encode(try CommandCodec.decode(bytes)), bytes, command.caseName)
        }
    }

    // MARK: Cost (printed; opt-in)

    func testEncodeCostFastAgainstCodable() throws {
        guard ProcessInfo.processInfo.environment["SWARMCTL_BENCH"] == "1" else { throw XCTSkip("benchmark: run with SWARMCTL_BENCH=1") }
        var random = FixtureRandom(seed: 1)
        let command = ClusterCommand.createService(service: random.benchService(index: 1))
        let state = random.benchState(services: 5000)
        func nanoseconds(_ encoder: WireEncoder, _ iterations: Int, _ body: (WireEncoder) throws -> Int) rethrows -> Double {
            var sink = 0
            for _ in 0..<max(1, iterations / 10) { sink &+= try body(encoder) }
            let start = ContinuousClock.now
            for _ in 0..<iterations { sink &+= try body(encoder) }
            let (seconds, attoseconds) = (ContinuousClock.now - start).components
            XCTAssertGreaterThan(sink, 0)
            return (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations)
        }
        for round in 1...3 {
            let commandCodable = try nanoseconds(codable, 20_000) { try $0.encode(command).count }
            let commandFast = try nanoseconds(fast, 20_000) { try $0.encode(command).count }
            let stateCodable = try nanoseconds(codable, 5) { try $0.encode(state).count }
            let stateFast = try nanoseconds(fast, 5) { try $0.encode(state).count }
            print(String(format: "WireFastEncoding round %d: createService %d bytes: Codable %.0f ns, fast %.0f ns (%.2fx); "
                         + "snapshot of 5000 services %d bytes: Codable %.2f ms, fast %.2f ms (%.2fx)",
                         round, try fast.encode(command).count, commandCodable, commandFast, commandCodable / commandFast,
                         try fast.encode(state).count, stateCodable / 1e6, stateFast / 1e6, stateCodable / stateFast))
        }
    }
}

private struct Wrapped: Codable {
    var service: Service

    init(service: Service) { self.service = service }
    init(from decoder: any Decoder) throws { service = try decoder.singleValueContainer().decode(Service.self) }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(service)
    }
}

private struct Outer: Codable {
    var spec: ServiceSpec
    var commands: [ClusterCommand]
    var wrapped: Wrapped
    var byName: [String: SwarmTask]
    var optional: Service?
}

private extension ClusterCommand {
    var caseName: String { String(String(describing: self).prefix { $0 != "(" }) }
}

/// Seeded random cluster values (SplitMix64), with optionals nil or set at random.
struct FixtureRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed &+ 0x5DEE_CE66_D1CE_4E5B }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func coin() -> Bool { next() & 1 == 0 }
    mutating func maybe<T>(_ make: (inout FixtureRandom) -> T) -> T? { coin() ? make(&self) : nil }

    private static let pieces = ["a", "web", "Z", "ünï", "é", "e\u{301}", "😀", "0", "-", " ", "nginx:1.27", "", "k=v", "/run/x"]

    mutating func string() -> String {
        var text = ""
        for _ in 0..<below(4) { text += Self.pieces[below(Self.pieces.count)] }
        if below(20) == 0 { text += String(repeating: "x", count: 100 + below(200)) }
        return text
    }

    mutating func strings() -> [String] { (0..<below(4)).map { _ in string() } }

    mutating func labels() -> [String: String] {
        var labels: [String: String] = [:]
        for _ in 0..<below(5) { labels[string()] = string() }
        return labels
    }

    mutating func int64() -> Int64 {
        switch below(4) {
        case 0: Int64(below(3)) - 1
        case 1: Int64(bitPattern: next())
        case 2: Int64(below(1 << 20))
        default: [Int64.min, Int64.max, 127, 128, -64, -65][below(6)]
        }
    }

    mutating func uint64() -> UInt64 { below(2) == 0 ? UInt64(below(300)) : next() >> UInt64(below(64)) }
    mutating func uint32() -> UInt32 { UInt32(truncatingIfNeeded: uint64()) }
    mutating func timestamp() -> Timestamp { Timestamp(millisecondsSinceEpoch: 1_600_000_000_000 + UInt64(below(1 << 40))) }
    mutating func version() -> ObjectVersion { ObjectVersion(index: uint64()) }
    mutating func pick<T>(_ values: [T]) -> T { values[below(values.count)] }

    mutating func containerSpec() -> ContainerSpec {
        var spec = ContainerSpec(image: string(), labels: maybe { $0.labels() }, command: maybe { $0.strings() },
                                 args: maybe { $0.strings() }, hostname: maybe { $0.string() }, env: maybe { $0.strings() },
                                 dir: maybe { $0.string() }, user: maybe { $0.string() }, initProcess: maybe { $0.coin() },
                                 stopGracePeriod: maybe { $0.int64() }, stopSignal: maybe { $0.string() },
                                 healthcheck: maybe { random in
                                     HealthConfig(test: random.maybe { $0.strings() }, interval: random.maybe { $0.int64() },
                                                  timeout: random.maybe { $0.int64() }, retries: random.maybe { $0.int64() },
                                                  startPeriod: random.maybe { $0.int64() })
                                 }, isolation: maybe { $0.string() })
        spec.groups = maybe { $0.strings() }
        spec.privileges = maybe { random in
            Privileges(seccomp: random.maybe { Privileges.Seccomp(mode: $0.maybe { $0.string() }) }, noNewPrivileges: random.maybe { $0.coin() })
        }
        spec.readOnly = maybe { $0.coin() }
        spec.mounts = maybe { random in (0..<random.below(3)).map { _ in random.mount() } }
        spec.hosts = maybe { $0.strings() }
        spec.dnsConfig = maybe { random in
            DNSConfig(nameservers: random.maybe { $0.strings() }, search: random.maybe { $0.strings() }, options: random.maybe { $0.strings() })
        }
        spec.sysctls = maybe { $0.labels() }
        spec.capabilityAdd = maybe { $0.strings() }
        spec.capabilityDrop = maybe { $0.strings() }
        spec.ulimits = maybe { random in (0..<random.below(3)).map { _ in Ulimit(name: random.string(), soft: random.int64(), hard: random.int64()) } }
        spec.secrets = maybe { random in
            (0..<random.below(3)).map { _ in SecretReference(file: random.maybe { $0.payloadFile() }, secretID: random.string(), secretName: random.string()) }
        }
        spec.configs = maybe { random in
            (0..<random.below(3)).map { _ in ConfigReference(file: random.maybe { $0.payloadFile() }, configID: random.string(), configName: random.string()) }
        }
        return spec
    }

    mutating func payloadFile() -> PayloadFile { PayloadFile(name: string(), uid: string(), gid: string(), mode: uint32()) }

    mutating func mount() -> Mount {
        Mount(type: string(), source: maybe { $0.string() }, target: string(), readOnly: maybe { $0.coin() },
              bindOptions: maybe { Mount.BindOptions(propagation: $0.maybe { $0.string() }) },
              volumeOptions: maybe { Mount.VolumeOptions(noCopy: $0.maybe { $0.coin() }) },
              tmpfsOptions: maybe { Mount.TmpfsOptions(sizeBytes: $0.maybe { $0.int64() }, mode: $0.maybe { $0.uint32() }) })
    }

    mutating func resourceAmounts() -> ResourceAmounts {
        ResourceAmounts(nanoCPUs: maybe { $0.int64() }, memoryBytes: maybe { $0.int64() }, pids: maybe { $0.int64() })
    }

    mutating func networks() -> [NetworkAttachmentConfig] {
        (0..<below(3)).map { _ in NetworkAttachmentConfig(target: string(), aliases: maybe { $0.strings() }) }
    }

    mutating func taskTemplate() -> TaskTemplate {
        TaskTemplate(containerSpec: containerSpec(),
                     resources: maybe { ResourceRequirements(limits: $0.maybe { $0.resourceAmounts() }, reservations: $0.maybe { $0.resourceAmounts() }) },
                     restartPolicy: maybe { random in
                         RestartPolicy(condition: random.maybe { $0.pick([.none, .onFailure, .any]) }, delay: random.maybe { $0.int64() },
                                       maxAttempts: random.maybe { $0.uint64() }, window: random.maybe { $0.int64() })
                     },
                     placement: maybe { random in
                         Placement(constraints: random.maybe { $0.strings() },
                                   preferences: random.maybe { random in
                                       (0..<random.below(3)).map { _ in
                                           var preference = PlacementPreference(spreadDescriptor: random.string())
                                           if random.below(4) == 0 { preference.spread = nil }
                                           return preference
                                       }
                                   },
                                   maxReplicas: random.maybe { $0.uint64() })
                     },
                     forceUpdate: maybe { $0.uint64() }, runtime: maybe { $0.string() }, networks: maybe { $0.networks() })
    }

    mutating func updateConfig() -> UpdateConfig {
        UpdateConfig(parallelism: maybe { $0.uint64() }, delay: maybe { $0.int64() },
                     failureAction: maybe { $0.pick([.pause, .continue, .rollback]) }, monitor: maybe { $0.int64() },
                     maxFailureRatio: maybe { $0.pick([0, -0.0, 0.5, 1e300, .infinity, .nan, Double(bitPattern: $0.next())]) },
                     order: maybe { $0.pick([.stopFirst, .startFirst]) })
    }

    mutating func portConfig() -> PortConfig {
        PortConfig(name: maybe { $0.string() }, protocol: maybe { $0.string() }, targetPort: uint32(), publishedPort: maybe { $0.uint32() },
                   publishMode: maybe { $0.string() }, publishPolicy: maybe { $0.string() })
    }

    mutating func endpointSpec() -> EndpointSpec {
        EndpointSpec(mode: maybe { $0.string() }, ports: maybe { random in (0..<random.below(3)).map { _ in random.portConfig() } })
    }

    mutating func serviceSpec() -> ServiceSpec {
        ServiceSpec(name: string(), labels: labels(), taskTemplate: taskTemplate(),
                    mode: coin() ? .replicated(replicas: uint64()) : .global, updateConfig: maybe { $0.updateConfig() },
                    rollbackConfig: maybe { $0.updateConfig() }, endpointSpec: maybe { $0.endpointSpec() }, networks: maybe { $0.networks() })
    }

    mutating func service() -> Service {
        var service = Service(id: string(), version: version(), createdAt: timestamp(), spec: serviceSpec(),
                              previousSpec: maybe { $0.serviceSpec() },
                              updateStatus: maybe { random in
                                  UpdateStatus(state: random.pick([.updating, .paused, .completed, .rollbackStarted, .rollbackPaused, .rollbackCompleted]),
                                               startedAt: random.maybe { $0.timestamp() }, completedAt: random.maybe { $0.timestamp() },
                                               message: random.maybe { $0.string() })
                              })
        service.updatedAt = timestamp()
        service.endpoint = maybe { random in
            ServiceEndpoint(spec: random.endpointSpec(), ports: (0..<random.below(3)).map { _ in random.portConfig() },
                            virtualIPs: (0..<random.below(3)).map { _ in VirtualIP(networkID: random.string(), addr: random.string()) })
        }
        return service
    }

    mutating func taskStatus() -> TaskStatus {
        TaskStatus(timestamp: timestamp(), state: pick(TaskState.allCases), message: string(), err: maybe { $0.string() },
                   containerStatus: maybe { ContainerStatus(containerID: $0.maybe { $0.string() }, pid: $0.maybe { $0.int64() }, exitCode: $0.maybe { $0.int64() }) })
    }

    mutating func task() -> SwarmTask {
        var task = SwarmTask(id: string(), version: version(), createdAt: timestamp(), serviceID: string(), slot: maybe { $0.uint64() },
                             nodeID: maybe { $0.string() }, spec: taskTemplate(), desiredState: pick(TaskState.allCases), status: taskStatus())
        task.updatedAt = timestamp()
        task.networksAttachments = maybe { random in
            (0..<random.below(3)).map { _ in NetworkAttachment(networkID: random.string(), addresses: random.strings(), aliases: random.maybe { $0.strings() }) }
        }
        task.serviceAnnotations = maybe { TaskServiceAnnotations(name: $0.string()) }
        return task
    }

    mutating func node() -> Node {
        var node = Node(id: string(), version: version(), createdAt: timestamp(),
                        spec: NodeSpec(name: maybe { $0.string() }, labels: labels(), role: pick([.worker, .manager]),
                                       availability: pick([.active, .pause, .drain])),
                        description: NodeDescription(hostname: string(), platform: .init(architecture: string(), os: string()),
                                                     resources: .init(nanoCPUs: int64(), memoryBytes: int64()),
                                                     engine: .init(engineVersion: string(), plugins: maybe { random in
                                                         (0..<random.below(3)).map { _ in EnginePlugin(type: random.string(), name: random.string()) }
                                                     })),
                        status: NodeStatus(state: pick([.unknown, .down, .ready, .disconnected]), message: maybe { $0.string() }, addr: string()),
                        managerStatus: maybe { ManagerStatus(raftID: $0.uint64(), addr: $0.string(), leader: $0.maybe { $0.coin() }, reachability: $0.maybe { $0.string() }) })
        node.updatedAt = timestamp()
        return node
    }

    /// One command of every case (fast and fallback), with random contents.
    mutating func commands() -> [ClusterCommand] {
        let cluster = Cluster(id: string(), version: version(), createdAt: timestamp(), spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: string(), manager: string()))
        let secrets = ClusterSecrets(workerSecret: string(), managerSecret: string(), members: ["1": ClusterMember(nodeID: string())])
        let payload = PayloadObject(id: string(), version: version(), createdAt: timestamp(),
                                    spec: PayloadSpec(name: string(), labels: labels(), data: Array(string().utf8)))
        return [
            .initialize(cluster: cluster, firstNode: node(), secrets: secrets),
            .addNode(node: node(), transportID: uint64()),
            .updateNodeSpec(id: string(), version: version(), spec: NodeSpec(role: .worker), at: timestamp()),
            .setNodeStatus(id: string(), state: .down, message: maybe { $0.string() }, at: timestamp()),
            .setManagerStatus(id: string(), managerStatus: maybe { ManagerStatus(raftID: $0.uint64(), addr: $0.string()) }, at: timestamp()),
            .removeNode(id: string(), force: coin(), at: timestamp()),
            .setNodeDescription(id: string(), description: node().description, at: timestamp()),
            .rotateJoinToken(role: .manager, secret: string(), token: string(), at: timestamp()),
            .updateClusterSpec(version: version(), spec: ClusterSpec(), at: timestamp()),
            .setAutoLock(version: version(), spec: ClusterSpec(), unlockKey: maybe { $0.string() }, at: timestamp()),
            .createService(service: service()),
            .updateService(id: string(), version: version(), spec: serviceSpec(), at: timestamp()),
            .rollbackService(id: string(), version: version(), at: timestamp()),
            .setServiceUpdateStatus(id: string(), version: version(), status: UpdateStatus(state: .paused, message: maybe { $0.string() }), at: timestamp()),
            .removeService(id: string(), at: timestamp()),
            .createTasks(tasks: (0..<below(3)).map { _ in task() }),
            .updateTaskStatus(id: string(), status: taskStatus()),
            .updateTaskStatuses(updates: (0..<below(3)).map { _ in TaskStatusUpdate(taskID: string(), status: taskStatus()) }),
            .setTaskDesiredState(id: string(), state: pick(TaskState.allCases), at: timestamp()),
            .assignTask(id: string(), nodeID: string(), at: timestamp()),
            .removeTasks(ids: strings()),
            .removeNetwork(id: string(), at: timestamp()),
            .createPayload(kind: pick(PayloadKind.allCases), object: payload),
            .updatePayloadLabels(kind: pick(PayloadKind.allCases), id: string(), version: version(), labels: labels(), at: timestamp()),
            .removePayload(kind: pick(PayloadKind.allCases), id: string(), at: timestamp()),
            .reviseSecret(id: string(), revision: payload, at: timestamp()),
        ]
    }

    /// A state built by applying commands: a cluster, nodes, services with tasks.
    mutating func state(services count: Int, tasksPerService: Int) -> ClusterState {
        var state = ClusterState()
        let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "n1")])
        var first = node()
        first.id = "n1"
        apply(&state, .initialize(cluster: cluster, firstNode: first, secrets: secrets))
        // Stored directly (no apply): random specs need not pass the create checks.
        for index in 0..<count {
            var service = self.service()
            service.id = "s\(next() % 1_000_000)-\(index)"
            service.spec.name = "name-\(index)"
            state.store(service)
            for slot in 0..<tasksPerService {
                var task = self.task()
                task.id = "\(service.id)-t\(slot)"
                task.serviceID = service.id
                state.tasks[task.id] = task
                state.indexTask(task)
            }
        }
        // Ids whose Swift order (`sortedServiceIDs`) is not their byte order: the writer re-sorts.
        for id in ["\u{E9}", "e\u{301}z"] {
            var service = self.service()
            service.id = id
            service.spec.name = "name-\(id)"
            state.store(service)
        }
        return state
    }

    private func apply(_ state: inout ClusterState, _ command: ClusterCommand) {
        if case let .failure(error) = state.apply(command, index: state.appliedIndex + 1) {
            preconditionFailure("fixture command \(command.caseName) refused: \(error)")
        }
    }

    /// A service like the write benchmark's (`compare-bench writes`: busybox, replicas 0).
    mutating func benchService(index: Int) -> Service {
        let spec = ServiceSpec(name: "bench-\(index)-\(next() % 1_000_000)", labels: ["bench": "writes"],
                               taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1.36", args: ["sleep", "3600"]),
                                                          restartPolicy: RestartPolicy(condition: .any, delay: 5_000_000_000, maxAttempts: 0)),
                               mode: .replicated(replicas: 0), endpointSpec: EndpointSpec(mode: "vip"))
        var service = Service(id: String(format: "%025llx", next()), createdAt: timestamp(), spec: spec)
        service.endpoint = ServiceEndpoint(spec: EndpointSpec(mode: "vip"))
        return service
    }

    mutating func benchState(services count: Int) -> ClusterState {
        var state = ClusterState()
        let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
        var first = node()
        first.id = "n1"
        apply(&state, .initialize(cluster: Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                                                   joinTokens: JoinTokens(worker: "W", manager: "M")),
                                  firstNode: first, secrets: ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: [:])))
        for index in 0..<count { apply(&state, .createService(service: benchService(index: index))) }
        return state
    }

    static func fullService() -> Service {
        var random = FixtureRandom(seed: 424_242)
        var spec = random.fullSpec()
        spec.name = "full"
        var service = Service(id: "s-full", version: ObjectVersion(index: 9), createdAt: random.timestamp(), spec: spec,
                              previousSpec: random.fullSpec(),
                              updateStatus: UpdateStatus(state: .rollbackPaused, startedAt: random.timestamp(),
                                                         completedAt: random.timestamp(), message: "paused"))
        service.endpoint = ServiceEndpoint(spec: spec.endpointSpec!, ports: spec.endpointSpec!.ports!,
                                           virtualIPs: [VirtualIP(networkID: "net", addr: "10.0.0.2/24")])
        return service
    }

    mutating func fullSpec() -> ServiceSpec {
        var container = ContainerSpec(image: "img", labels: ["l": "v"], command: ["c"], args: ["a"], hostname: "h", env: ["E=1"],
                                      dir: "/d", user: "u", initProcess: true, stopGracePeriod: 7, stopSignal: "SIGINT",
                                      healthcheck: HealthConfig(test: ["CMD", "true"], interval: 1, timeout: 2, retries: 3, startPeriod: 4),
                                      isolation: "default")
        container.groups = ["g"]
        container.privileges = Privileges(seccomp: .init(mode: "default"), noNewPrivileges: true)
        container.readOnly = true
        container.mounts = [Mount(type: "tmpfs", source: "s", target: "/t", readOnly: true, bindOptions: .init(propagation: "rslave"),
                                  volumeOptions: .init(noCopy: true), tmpfsOptions: .init(sizeBytes: 1 << 20, mode: 0o1770))]
        container.hosts = ["10.0.0.1 host"]
        container.dnsConfig = DNSConfig(nameservers: ["1.1.1.1"], search: ["example"], options: ["ndots:1"])
        container.sysctls = ["net.core.somaxconn": "1024", "a": "b"]
        container.capabilityAdd = ["NET_ADMIN"]
        container.capabilityDrop = ["ALL"]
        container.ulimits = [Ulimit(name: "nofile", soft: 512, hard: 1024)]
        container.secrets = [SecretReference(file: PayloadFile(name: "s"), secretID: "sid", secretName: "sn")]
        container.configs = [ConfigReference(file: PayloadFile(name: "/c"), configID: "cid", configName: "cn")]
        let template = TaskTemplate(containerSpec: container,
                                    resources: ResourceRequirements(limits: ResourceAmounts(nanoCPUs: 1, memoryBytes: 2, pids: 3),
                                                                    reservations: ResourceAmounts(nanoCPUs: 4, memoryBytes: 5, pids: 6)),
                                    restartPolicy: RestartPolicy(condition: .onFailure, delay: 1, maxAttempts: 2, window: 3),
                                    placement: Placement(constraints: ["node.role==worker"], preferences: [PlacementPreference(spreadDescriptor: "node.labels.zone")],
                                                         maxReplicas: 2),
                                    forceUpdate: 1, runtime: "container", networks: [NetworkAttachmentConfig(target: "net", aliases: ["x"])])
        return ServiceSpec(name: string(), labels: ["b": "1", "a": "2"], taskTemplate: template, mode: .replicated(replicas: 2),
                           updateConfig: UpdateConfig(parallelism: 1, delay: 2, failureAction: .rollback, monitor: 3, maxFailureRatio: 0.25, order: .startFirst),
                           rollbackConfig: UpdateConfig.dockerDefault.filled(from: UpdateConfig(delay: 9)),
                           endpointSpec: EndpointSpec(mode: "vip", ports: [PortConfig(name: "http", protocol: "tcp", targetPort: 80, publishedPort: 8080,
                                                                                     publishMode: "ingress", publishPolicy: "local")]),
                           networks: [NetworkAttachmentConfig(target: "legacy", aliases: ["y"])])
    }

    static func fullTask() -> SwarmTask {
        var random = FixtureRandom(seed: 4343)
        var task = SwarmTask(id: "t-full", version: ObjectVersion(index: 3), createdAt: random.timestamp(), serviceID: "s-full", slot: 2,
                             nodeID: "n1", spec: random.fullSpec().taskTemplate, desiredState: .running,
                             status: TaskStatus(timestamp: random.timestamp(), state: .running, message: "started", err: "none",
                                                containerStatus: ContainerStatus(containerID: "c", pid: 42, exitCode: 0)))
        task.networksAttachments = [NetworkAttachment(networkID: "net", addresses: ["10.0.0.3/24"], aliases: ["z"])]
        task.serviceAnnotations = TaskServiceAnnotations(name: "full")
        return task
    }

    static func fullNode() -> Node {
        var random = FixtureRandom(seed: 4444)
        return Node(id: "n-full", version: ObjectVersion(index: 1), createdAt: random.timestamp(),
                    spec: NodeSpec(name: "n", labels: ["zone": "a"], role: .manager, availability: .drain),
                    description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                                 resources: .init(nanoCPUs: 2, memoryBytes: 3),
                                                 engine: .init(engineVersion: "1", plugins: [.overlayNetwork])),
                    status: NodeStatus(state: .ready, message: "ok", addr: "192.0.2.1"),
                    managerStatus: ManagerStatus(raftID: 7, addr: "192.0.2.1:4242", leader: true, reachability: "reachable"))
    }
}
