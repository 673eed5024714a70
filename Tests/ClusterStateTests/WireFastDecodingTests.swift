import SeededRandom
import Wire
import XCTest
@testable import ClusterState

/// The hand-written wire decoders (`WireFastDecodable`) against the `Codable` path they stand in
/// for: same values on every valid input, same value or same error on damaged input, no crash,
/// and a generator that sets every field so a field the fast path does not know fails here.
final class WireFastDecodingTests: XCTestCase {
    private let encoder = WireEncoder()
    private let fast = WireDecoder()
    private var codable: WireDecoder {
        var decoder = WireDecoder()
        decoder.usesFastPaths = false
        return decoder
    }

    // MARK: Equivalence on valid input

    func testRandomServicesDecodeTheSameByBothPathsAndTheFastPathTakesThem() throws {
        var random = SplitMix64(seed: 15)
        for round in 0..<300 {
            let service = WireSample.service(&random, full: round % 3 == 0)
            let bytes = try encoder.encode(service)
            let byFastOnly = try XCTUnwrap(fast.decodeFastOnly(Service.self, from: bytes), "round \(round): fast path bailed")
            XCTAssertEqual(byFastOnly, service, "round \(round)")
            XCTAssertEqual(try fast.decode(Service.self, from: bytes), service)
            XCTAssertEqual(try codable.decode(Service.self, from: bytes), service)
            XCTAssertEqual(try encoder.encode(byFastOnly), bytes, "round \(round): re-encoding differs")
        }
    }

    func testCreateServiceCommandsDecodeTheSameByBothPaths() throws {
        var random = SplitMix64(seed: 1_515)
        for round in 0..<200 {
            let command = ClusterCommand.createService(service: WireSample.service(&random, full: round.isMultiple(of: 2)))
            let bytes = CommandCodec.encode(command)
            XCTAssertEqual(fast.decodeFastOnly(ClusterCommand.self, from: bytes), command, "round \(round)")
            XCTAssertEqual(try CommandCodec.decode(bytes), command)
            XCTAssertEqual(try codable.decode(ClusterCommand.self, from: bytes), command)
        }
    }

    func testOtherCommandsTakeTheCodablePathFromTheSameBytes() throws {
        let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
        var random = SplitMix64(seed: 7)
        let spec = WireSample.spec(&random, full: true)
        let commands: [ClusterCommand] = [
            .updateService(id: "s1", version: ObjectVersion(index: 4), spec: spec, at: t0),
            .removeService(id: "s1", at: t0),
            .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t0, state: .running, message: "started")),
            .removeTasks(ids: ["a", "b"]),
            .setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 9),
                                    status: UpdateStatus(state: .updating, startedAt: t0, message: "m"), at: t0),
        ]
        for command in commands {
            let bytes = CommandCodec.encode(command)
            XCTAssertEqual(fast.decodeFastOnly(ClusterCommand.self, from: bytes), command)
            XCTAssertEqual(try CommandCodec.decode(bytes), command)
        }
    }

    func testRandomTasksAndTaskCommandsDecodeTheSameByBothPaths() throws {
        var random = SplitMix64(seed: 2_024)
        for round in 0..<200 {
            let task = WireSample.task(&random, full: round % 3 == 0)
            let bytes = try encoder.encode(task)
            XCTAssertEqual(fast.decodeFastOnly(SwarmTask.self, from: bytes), task, "round \(round): fast path bailed or differs")
            XCTAssertEqual(try codable.decode(SwarmTask.self, from: bytes), task)
        }
        let tasks = (0..<5).map { _ in WireSample.task(&random, full: false) }
        let command = ClusterCommand.createTasks(tasks: tasks)
        XCTAssertEqual(try CommandCodec.decode(CommandCodec.encode(command)), command)
        XCTAssertEqual(fast.decodeFastOnly([SwarmTask].self, from: try encoder.encode(tasks)), tasks)
        var unset: [String] = []
        WireSample.collectUnset(WireSample.task(&random, full: true), path: "SwarmTask", into: &unset)
        XCTAssertEqual(unset, [], "a task field is never set by WireSample (teach the sample and the fast decoder the new field)")
    }

    func testDamagedTasksGiveTheSameValueOrTheSameErrorByBothPaths() throws {
        var random = SplitMix64(seed: 405)
        for round in 0..<100 {
            let bytes = try encoder.encode(WireSample.task(&random, full: round % 2 == 0))
            for _ in 0..<10 {
                var flipped = bytes
                flipped[1 + random.below(flipped.count - 1)] ^= UInt8(1) << UInt8(random.below(8))
                if case let .mismatch(what) = compare(SwarmTask.self, flipped) { XCTFail("round \(round): \(what)") }
            }
        }
    }

    func testServiceDictionariesAndSnapshotsDecodeTheSameByBothPaths() throws {
        var random = SplitMix64(seed: 99)
        var services: [String: Service] = [:]
        for _ in 0..<40 {
            let service = WireSample.service(&random, full: false)
            services[service.id] = service
        }
        let bytes = try encoder.encode(services)
        XCTAssertEqual(fast.decodeFastOnly([String: Service].self, from: bytes), services)
        XCTAssertEqual(try codable.decode([String: Service].self, from: bytes), services)

        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: WireSample.t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: WireSample.t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1, memoryBytes: 1), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1:4242"), managerStatus: ManagerStatus(raftID: 1, addr: "192.0.2.1:4242"))
        let secrets = ClusterSecrets(workerSecret: "w", managerSecret: "m", members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node, secrets: secrets), index: 1).get())
        for index in 0..<20 {
            let spec = ServiceSpec(name: "web\(index)", labels: ["k": "v\(index)"],
                                   taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1", args: ["sleep", "1"])),
                                   mode: .replicated(replicas: 0))
            let service = Service(id: "s\(index)", createdAt: WireSample.t0, spec: spec)
            XCTAssertNoThrow(try state.apply(.createService(service: service), index: state.appliedIndex + 1).get())
        }
        for _ in 0..<10 {
            let task = WireSample.task(&random, full: false)
            state.tasks[task.id] = task
            state.indexTask(task)
        }
        let snapshot = CommandCodec.encodeState(state)
        XCTAssertEqual(try CommandCodec.decodeState(snapshot), state)
        XCTAssertEqual(try codable.decode(ClusterState.self, from: snapshot), state)
    }

    // MARK: The generator knows every field

    func testFullSamplesSetEveryOptionalAndFillEveryCollection() {
        var random = SplitMix64(seed: 3)
        let service = WireSample.service(&random, full: true)
        var unset: [String] = []
        WireSample.collectUnset(service, path: "Service", into: &unset)
        XCTAssertEqual(unset, [], "a field is never set by WireSample (teach the sample and the fast decoder the new field)")
        // The walk does see unset fields, inside the shared spec too.
        var sparse: [String] = []
        WireSample.collectUnset(Service(id: "s", createdAt: WireSample.t0, spec: ServiceSpec(
            name: "n", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "i"), runtime: "r"))), path: "Service", into: &sparse)
        XCTAssertTrue(sparse.contains("Service.specStorage.value.taskTemplate.containerSpec.hostname"), "\(sparse)")
        XCTAssertFalse(sparse.contains("Service.specStorage.value.taskTemplate.runtime"))
    }

    /// A field with a default (not optional) escapes the check above; the stored-property count of
    /// each type the fast decoders read catches it. Changing a number here means teaching the
    /// type's `init(wireFast:)` (and `WireSample`) the new field.
    func testEveryFastTypeHasTheFieldsItsDecoderReads() {
        let t0 = WireSample.t0
        let container = ContainerSpec(image: "i")
        let template = TaskTemplate(containerSpec: container)
        let spec = ServiceSpec(name: "n", taskTemplate: template)
        let expected: [(Any, Int)] = [
            (Service(id: "s", createdAt: t0, spec: spec), 8), (spec, 8), (template, 7), (container, 25),
            (HealthConfig(), 5), (ResourceRequirements(), 2), (ResourceAmounts(), 3), (RestartPolicy(), 4), (Placement(), 3),
            (PlacementPreference(spreadDescriptor: "d"), 1), (PlacementPreference.Spread(spreadDescriptor: "d"), 1),
            (UpdateConfig(), 6), (EndpointSpec(), 2), (PortConfig(targetPort: 1), 6), (NetworkAttachmentConfig(target: "t"), 2),
            (Mount(type: "bind", target: "/t"), 7), (Mount.BindOptions(), 1), (Mount.VolumeOptions(), 1), (Mount.TmpfsOptions(), 2),
            (Privileges(), 2), (Privileges.Seccomp(), 1), (DNSConfig(), 3), (Ulimit(name: "n", soft: 1, hard: 1), 3),
            (PayloadFile(name: "f"), 4), (SecretReference(secretID: "i", secretName: "n"), 3),
            (ConfigReference(configID: "i", configName: "n"), 3), (UpdateStatus(state: .updating), 4),
            (ServiceEndpoint(spec: EndpointSpec()), 3), (VirtualIP(networkID: "n", addr: "a"), 2), (ObjectVersion(index: 1), 1),
            (t0, 1), (ServiceMode.Replicated(replicas: 1), 1),
            (SwarmTask(id: "t", createdAt: t0, serviceID: "s", spec: template,
                       status: TaskStatus(timestamp: t0, state: .new, message: "")), 12),
            (TaskServiceAnnotations(name: "n"), 1), (TaskStatus(timestamp: t0, state: .new, message: ""), 5),
            (ContainerStatus(), 3), (NetworkAttachment(networkID: "n", addresses: []), 3),
        ]
        for (value, count) in expected {
            XCTAssertEqual(Mirror(reflecting: value).children.count, count,
                           "\(type(of: value)) changed its stored properties: teach its init(wireFast:) and WireSample")
        }
    }

    // MARK: Damaged input

    func testDamagedCommandsGiveTheSameValueOrTheSameErrorByBothPaths() throws {
        var random = SplitMix64(seed: 404)
        var outcomes = (values: 0, errors: 0)
        for round in 0..<120 {
            let bytes = CommandCodec.encode(.createService(service: WireSample.service(&random, full: round % 4 == 0)))
            var variants: [[UInt8]] = []
            for _ in 0..<12 {
                var flipped = bytes
                let at = 1 + random.below(flipped.count - 1)
                flipped[at] ^= UInt8(1) << UInt8(random.below(8))
                variants.append(flipped)
            }
            for _ in 0..<4 {
                var replaced = bytes
                replaced[1 + random.below(replaced.count - 1)] = UInt8(truncatingIfNeeded: random.next())
                variants.append(replaced)
            }
            variants.append(Array(bytes.prefix(1 + random.below(bytes.count - 1))))
            for variant in variants {
                switch compare(ClusterCommand.self, variant) {
                case .value: outcomes.values += 1
                case .error: outcomes.errors += 1
                case let .mismatch(what): XCTFail("round \(round): \(what)")
                }
            }
        }
        // Both kinds happened, so the comparison saw successes on damaged input too.
        XCTAssertGreaterThan(outcomes.values, 50)
        XCTAssertGreaterThan(outcomes.errors, 50)
    }

    func testRandomBytesNeverCrashEitherPath() {
        var random = SplitMix64(seed: 8)
        for _ in 0..<3_000 {
            var bytes: [UInt8] = [1]
            for _ in 0..<random.below(64) { bytes.append(UInt8(truncatingIfNeeded: random.next())) }
            for type in [ClusterCommand.self, Service.self, ServiceSpec.self] as [any WireFastDecodable.Type] {
                if case let .mismatch(what) = compareAny(type, bytes) { XCTFail(what) }
            }
        }
    }

    func testUnknownKeysAreSkippedAndRepeatedOrNilRequiredKeysAgree() throws {
        // A keyed body is laid out like a [String: V]: unknown keys next to known ones.
        let withUnknown = try encoder.encode(["Index": UInt64(5), "Zzz": 9])
        XCTAssertEqual(fast.decodeFastOnly(ObjectVersion.self, from: withUnknown), ObjectVersion(index: 5))
        // A known key twice: the fast path leaves it to Codable, which keeps its own rule.
        let twice = WireSample.document(keyed: [("Index", [0x03]), ("Index", [0x07])])
        XCTAssertNil(fast.decodeFastOnly(ObjectVersion.self, from: twice))
        XCTAssertEqual(try fast.decode(ObjectVersion.self, from: twice), try codable.decode(ObjectVersion.self, from: twice))
        // A required key with a nil slot, and an optional one: same outcome both ways.
        let nilIndex = WireSample.document(keyed: [("Index", nil)])
        if case let .mismatch(what) = compare(ObjectVersion.self, nilIndex) { XCTFail(what) }
        let nilName = WireSample.document(keyed: [("Name", nil), ("Replicas", nil)])
        if case let .mismatch(what) = compare(ServiceSpec.self, nilName) { XCTFail(what) }
    }

    func testDepthLimitGivesTheSameOutcome() throws {
        var random = SplitMix64(seed: 12)
        let bytes = CommandCodec.encode(.createService(service: WireSample.service(&random, full: true)))
        for depth in 1...10 {
            var shallowFast = WireDecoder()
            shallowFast.maxDepth = depth
            var shallowCodable = shallowFast
            shallowCodable.usesFastPaths = false
            let left = Result { try shallowFast.decode(ClusterCommand.self, from: bytes) }
            let right = Result { try shallowCodable.decode(ClusterCommand.self, from: bytes) }
            XCTAssertEqual(describe(left), describe(right), "maxDepth \(depth)")
        }
    }

    // MARK: Helpers

    private enum Outcome {
        case value
        case error
        case mismatch(String)
    }

    private func compare<T: WireFastDecodable & Equatable>(_: T.Type, _ bytes: [UInt8]) -> Outcome {
        let left = Result { try fast.decode(T.self, from: bytes) }
        let right = Result { try codable.decode(T.self, from: bytes) }
        switch (left, right) {
        case let (.success(a), .success(b)):
            if let only = fast.decodeFastOnly(T.self, from: bytes), only != b { return .mismatch("fast-only value differs") }
            return a == b ? .value : .mismatch("values differ")
        case let (.failure(a), .failure(b)):
            return "\(a)" == "\(b)" ? .error : .mismatch("errors differ: \(a) / \(b)")
        default:
            return .mismatch("one path failed: fast \(describe(left)), codable \(describe(right))")
        }
    }

    private func compareAny(_ type: any WireFastDecodable.Type, _ bytes: [UInt8]) -> Outcome {
        switch type {
        case is ClusterCommand.Type: compare(ClusterCommand.self, bytes)
        case is Service.Type: compare(Service.self, bytes)
        default: compare(ServiceSpec.self, bytes)
        }
    }

    private func describe<T>(_ result: Result<T, any Error>) -> String {
        switch result {
        case let .success(value): "value \(value)"
        case let .failure(error): "error \(error)"
        }
    }
}
