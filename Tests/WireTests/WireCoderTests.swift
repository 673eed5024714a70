import XCTest
@testable import Wire
import SeededRandom

// MARK: - Fixtures shaped like cluster objects

private enum PortProtocol: String, Codable, Equatable { case tcp, udp, sctp }

private enum Priority: Int, Codable, Equatable { case low = -1, normal = 0, high = 7 }

private struct PortConfig: Codable, Equatable {
    var name: String
    var proto: PortProtocol
    var target: UInt16
    var published: UInt16?
}

private enum TaskState: Codable, Equatable {
    case pending
    case running(pid: Int32, startedAtMillis: UInt64)
    case failed(String, exitCode: Int?)
    case exposing(PortConfig)
}

private struct Resources: Codable, Equatable {
    var nanoCPUs: Int64
    var memoryBytes: Int64
    var generic: [String: Int]
}

/// About twenty fields, nested a few levels, like a service spec.
private struct ServiceSpec: Codable, Equatable {
    var id: String
    var name: String
    var version: UInt64
    var createdAtMillis: UInt64
    var labels: [String: String]
    var image: String
    var command: [String]
    var env: [String]
    var ports: [PortConfig]
    var replicas: UInt32
    var priority: Priority
    var state: TaskState
    var resources: Resources
    var secret: [UInt8]
    var matrix: [[Int]]
    var portsByName: [String: PortConfig]
    var hostname: String?
    var stopSignal: String?
    var weight: Double
    var global: Bool

    static let sample = ServiceSpec(
        id: "svc-8f2a0c", name: "web", version: 42, createdAtMillis: 1_717_000_000_123,
        labels: ["tier": "frontend", "team": "core", "com.docker.stack": "shop"],
        image: "nginx:1.27-alpine", command: ["nginx", "-g", "daemon off;"], env: ["A=1", "B=ünïcødé"],
        ports: [PortConfig(name: "http", proto: .tcp, target: 80, published: 8080),
                PortConfig(name: "dns", proto: .udp, target: 53, published: nil)],
        replicas: 3, priority: .high, state: .running(pid: 4242, startedAtMillis: 1_717_000_000_999),
        resources: Resources(nanoCPUs: 500_000_000, memoryBytes: 256 << 20, generic: ["gpu": 1]),
        secret: Array(0...255), matrix: [[1, -2, 3], [], [Int.max, Int.min]],
        portsByName: ["admin": PortConfig(name: "admin", proto: .sctp, target: 9000, published: nil)],
        hostname: nil, stopSignal: "SIGTERM", weight: -0.0, global: false)
}

private struct IntegerExtremes: Codable, Equatable {
    var int: [Int], int8: [Int8], int16: [Int16], int32: [Int32], int64: [Int64]
    var uint: [UInt], uint8: UInt8, uint8Max: UInt8, uint16: [UInt16], uint32: [UInt32], uint64: [UInt64]

    static let sample = IntegerExtremes(
        int: [.min, -1, 0, 1, .max], int8: [.min, -1, 0, 1, .max], int16: [.min, -1, 0, 1, .max],
        int32: [.min, -1, 0, 1, .max], int64: [.min, -1, 0, 1, .max], uint: [0, 1, 127, 128, .max],
        uint8: .min, uint8Max: .max, uint16: [0, 1, .max], uint32: [0, 1, .max], uint64: [0, 1, 1 << 63, .max])
}

private struct RecordV1: Codable, Equatable {
    var id: String
    var count: Int32
}

/// V1 plus optional fields a newer release added.
private struct RecordV2: Codable, Equatable {
    var id: String
    var count: Int64
    var note: String?
    var limits: [String: Int]?
}

/// V1 without a field a newer release no longer reads.
private struct RecordV0: Codable, Equatable {
    var id: String
}

private struct Point: Codable, Equatable {
    var x: Int
    var y: Int
}

private struct Empty: Codable, Equatable {}

private struct Nest: Codable, Equatable {
    var children: [Nest]

    static func chain(depth: Int) -> Nest {
        var nest = Nest(children: [])
        for _ in 1..<depth { nest = Nest(children: [nest]) }
        return nest
    }
}

/// Uses nested containers and a super encoder by hand, as non-synthesized code might.
private struct HandWritten: Codable, Equatable {
    var title: String
    var pairs: [[Int]]
    var base: Point

    private enum Keys: String, CodingKey { case title, pairs, meta }
    private enum MetaKeys: String, CodingKey { case inner }

    init(title: String, pairs: [[Int]], base: Point) {
        self.title = title
        self.pairs = pairs
        self.base = base
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(title, forKey: .title)
        var list = container.nestedUnkeyedContainer(forKey: .pairs)
        for pair in pairs {
            var inner = list.nestedUnkeyedContainer()
            for value in pair { try inner.encode(value) }
        }
        var meta = container.nestedContainer(keyedBy: MetaKeys.self, forKey: .meta)
        try meta.encodeNil(forKey: .inner)
        try base.encode(to: container.superEncoder())
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        title = try container.decode(String.self, forKey: .title)
        var list = try container.nestedUnkeyedContainer(forKey: .pairs)
        var pairs: [[Int]] = []
        while !list.isAtEnd {
            var inner = try list.nestedUnkeyedContainer()
            var pair: [Int] = []
            while !inner.isAtEnd { pair.append(try inner.decode(Int.self)) }
            pairs.append(pair)
        }
        self.pairs = pairs
        let meta = try container.nestedContainer(keyedBy: MetaKeys.self, forKey: .meta)
        guard try meta.decodeNil(forKey: .inner) else {
            throw DecodingError.dataCorruptedError(forKey: .inner, in: meta, debugDescription: "expected nil")
        }
        base = try Point(from: container.superDecoder())
    }
}

/// Writes to a container after a sibling container was started: unsupported, must throw.
private struct Interleaving: Encodable {
    private enum Keys: String, CodingKey { case a, b, c }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        var first = container.nestedUnkeyedContainer(forKey: .a)
        _ = container.nestedUnkeyedContainer(forKey: .b)
        try first.encode(1)
    }
}

final class WireCoderTests: XCTestCase {
    private let encoder = WireEncoder()
    private let decoder = WireDecoder()

    private func roundTrip<T: Codable & Equatable>(_ value: T, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        let bytes = try encoder.encode(value)
        let decoded = try decoder.decode(T.self, from: bytes)
        XCTAssertEqual(decoded, value, file: file, line: line)
        return decoded
    }

    /// Decoding must either succeed or throw a `DecodingError`; reaching here at all means no trap.
    private func assertDecodingErrorOrValue<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try decoder.decode(type, from: bytes)
        } catch is DecodingError {
        } catch {
            XCTFail("non-DecodingError \(error) for \(bytes)", file: file, line: line)
        }
    }

    // MARK: Round trips

    func testNestedStructRoundTrips() throws {
        _ = try roundTrip(ServiceSpec.sample)
    }

    func testEnumsWithRawValuesAndAssociatedValuesRoundTrip() throws {
        for proto in [PortProtocol.tcp, .udp, .sctp] { _ = try roundTrip(proto) }
        for priority in [Priority.low, .normal, .high] { _ = try roundTrip(priority) }
        let states: [TaskState] = [
            .pending, .running(pid: -1, startedAtMillis: .max), .failed("oom", exitCode: 137), .failed("", exitCode: nil),
            .exposing(PortConfig(name: "p", proto: .udp, target: 1, published: 2)),
        ]
        for state in states { _ = try roundTrip(state) }
        _ = try roundTrip(states)
    }

    func testOptionalsRoundTripNilAndNonNil() throws {
        _ = try roundTrip(Optional<Int>.none)
        _ = try roundTrip(Optional<Int>.some(0))
        _ = try roundTrip(Optional<String>.some(""))
        _ = try roundTrip([1, nil, 3, nil] as [Int?])
        _ = try roundTrip([nil, PortConfig(name: "a", proto: .tcp, target: 1, published: nil)] as [PortConfig?])
        _ = try roundTrip(["a": nil, "b": 2] as [String: Int?])
        _ = try roundTrip(RecordV2(id: "x", count: 1, note: nil, limits: nil))
        _ = try roundTrip(RecordV2(id: "x", count: 1, note: "n", limits: [:]))
    }

    func testEmptyAndNestedCollectionsRoundTrip() throws {
        _ = try roundTrip([Int]())
        _ = try roundTrip([[Int]]())
        _ = try roundTrip([[], [1], [], [2, 3]] as [[Int]])
        _ = try roundTrip([[[String]]]([[[]], [["a", ""]]]))
        _ = try roundTrip([String: String]())
        _ = try roundTrip(["a": ["x": [1, 2]], "b": [:]] as [String: [String: [Int]]])
        _ = try roundTrip([7: "seven", -1: "minus one"] as [Int: String])
        _ = try roundTrip(Set(["a", "b", "c"]))
        _ = try roundTrip(Empty())
        _ = try roundTrip([Empty(), Empty()])
        _ = try roundTrip("")
        _ = try roundTrip("emoji 🐳 and ß")
    }

    func testByteArraysRoundTripAsRawByteStrings() throws {
        let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let bytes = try encoder.encode(payload)
        // Version byte, a two-byte slot header (1001), then the bytes themselves: not 1000 numbers.
        XCTAssertEqual(bytes.count, 1 + 2 + payload.count)
        XCTAssertEqual(Array(bytes.suffix(payload.count)), payload)
        _ = try roundTrip(payload)
        _ = try roundTrip([UInt8]())
        _ = try roundTrip([[1, 2], [], [255]] as [[UInt8]])
    }

    func testIntegerExtremesOfEveryWidthRoundTrip() throws {
        _ = try roundTrip(IntegerExtremes.sample)
        _ = try roundTrip(Int.min)
        _ = try roundTrip(UInt64.max)
        _ = try roundTrip(Int8.min)
    }

    func testDoublesIncludingSignedZeroInfinityAndNaNRoundTrip() throws {
        let values: [Double] = [0, -0.0, 1.5, -1e300, .infinity, -.infinity, .greatestFiniteMagnitude,
                                .leastNonzeroMagnitude, .nan, -.nan, .signalingNaN]
        let decoded = try decoder.decode([Double].self, from: try encoder.encode(values))
        XCTAssertEqual(decoded.map(\.bitPattern), values.map(\.bitPattern))
        let floats: [Float] = [-0.0, .infinity, .nan, 3.25]
        XCTAssertEqual(try decoder.decode([Float].self, from: try encoder.encode(floats)).map(\.bitPattern), floats.map(\.bitPattern))
        XCTAssertEqual(try decoder.decode(Double.self, from: try encoder.encode(-0.0)).sign, .minus)
    }

    func testHandWrittenNestedContainersAndSuperEncoderRoundTrip() throws {
        _ = try roundTrip(HandWritten(title: "t", pairs: [[1, 2], [], [3]], base: Point(x: -5, y: 9)))
    }

    // MARK: Format

    func testKeyedEncodingIsCompactKeyValueSlots() throws {
        // version 1; top slot of 8 bytes; "x" -> zigzag(1) = 2; "y" -> zigzag(-2) = 3.
        XCTAssertEqual(try encoder.encode(Point(x: 1, y: -2)), [1, 9, 1, 0x78, 2, 2, 1, 0x79, 2, 3])
    }

    func testDictionaryEncodingDoesNotDependOnInsertionOrder() throws {
        var forward: [String: Int] = [:]
        var backward: [String: Int] = [:]
        let keys = (0..<200).map { "key-\($0)" }
        for (index, key) in keys.enumerated() { forward[key] = index }
        for (index, key) in keys.enumerated().reversed() { backward[key] = index }
        XCTAssertEqual(try encoder.encode(forward), try encoder.encode(backward))
        XCTAssertEqual(try encoder.encode([3: "c", 1: "a", 2: "b"]), try encoder.encode([2: "b", 1: "a", 3: "c"]))
        // Entries are in key byte order: version, top slot, then "a", "b", "c".
        XCTAssertEqual(try encoder.encode(["c": true, "a": false, "b": true]),
                       [1, 13, 1, 0x61, 2, 0, 1, 0x62, 2, 1, 1, 0x63, 2, 1])
    }

    func testLongBodiesGetMultiByteHeadersAfterBackPatching() throws {
        let long = Nest(children: Array(repeating: Nest.chain(depth: 3), count: 100))
        let longString = String(repeating: "z", count: 70_000)
        _ = try roundTrip(long)
        _ = try roundTrip(["k": longString])
        _ = try roundTrip(HandWritten(title: longString, pairs: Array(repeating: [1, 2, 3], count: 500), base: Point(x: 1, y: 2)))
    }

    // MARK: Versioning

    func testNewerWriterExtraFieldsAreIgnored() throws {
        let newer = RecordV2(id: "r1", count: 12, note: "added in v2", limits: ["cpu": 2])
        let old = try decoder.decode(RecordV1.self, from: try encoder.encode(newer))
        XCTAssertEqual(old, RecordV1(id: "r1", count: 12))
    }

    func testOlderWriterMissingOptionalFieldsDecodeAsNil() throws {
        let older = RecordV1(id: "r1", count: -7)
        let new = try decoder.decode(RecordV2.self, from: try encoder.encode(older))
        XCTAssertEqual(new, RecordV2(id: "r1", count: -7, note: nil, limits: nil))
        XCTAssertEqual(try decoder.decode(RecordV0.self, from: try encoder.encode(older)), RecordV0(id: "r1"))
    }

    func testMissingRequiredFieldThrowsKeyNotFound() throws {
        let bytes = try encoder.encode(RecordV0(id: "r1"))
        XCTAssertThrowsError(try decoder.decode(RecordV1.self, from: bytes)) { error in
            guard case let DecodingError.keyNotFound(key, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(key.stringValue, "count")
        }
    }

    func testIntegerOutOfRangeForNarrowerTypeThrows() throws {
        struct Narrow: Codable { var x: Int8; var y: Int8 }
        XCTAssertThrowsError(try decoder.decode(Narrow.self, from: try encoder.encode(Point(x: 1, y: 300)))) { error in
            guard case let DecodingError.dataCorrupted(context) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(context.codingPath.map(\.stringValue), ["y"])
            XCTAssertTrue(context.debugDescription.contains("Int8"), context.debugDescription)
        }
    }

    func testUnknownEnumCaseFromNewerWriterThrows() throws {
        let bytes = try encoder.encode(["stopped": ["pid": 1]])
        XCTAssertThrowsError(try decoder.decode(TaskState.self, from: bytes))
    }

    // MARK: Hostile input

    func testTruncationAtEveryOffsetThrows() throws {
        let bytes = try encoder.encode(ServiceSpec.sample)
        for cut in 0..<bytes.count {
            XCTAssertThrowsError(try decoder.decode(ServiceSpec.self, from: Array(bytes.prefix(cut))), "prefix of \(cut) bytes")
        }
    }

    func testTrailingBytesWrongVersionAndEmptyInputThrow() throws {
        let bytes = try encoder.encode(Point(x: 1, y: 2))
        XCTAssertThrowsError(try decoder.decode(Point.self, from: bytes + [0]))
        XCTAssertThrowsError(try decoder.decode(Point.self, from: [2] + bytes.dropFirst()))
        XCTAssertThrowsError(try decoder.decode(Point.self, from: []))
    }

    func testHugeClaimedLengthsThrowBeforeAllocating() {
        let varintMax: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        XCTAssertThrowsError(try decoder.decode([UInt8].self, from: [1] + varintMax))
        XCTAssertThrowsError(try decoder.decode(String.self, from: [1, 0xFF, 0xFF, 0xFF, 0x7F, 0x61]))
        // A keyed entry whose key claims 2^40 bytes.
        XCTAssertThrowsError(try decoder.decode(Point.self, from: [1, 7, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]))
        // An 11-byte varint overflows.
        XCTAssertThrowsError(try decoder.decode(UInt64.self, from: [1, 12] + [UInt8](repeating: 0xFF, count: 10) + [1]))
    }

    func testInvalidUTF8AndBoolBytesThrow() {
        XCTAssertThrowsError(try decoder.decode(String.self, from: [1, 3, 0xC3, 0x28]))
        XCTAssertThrowsError(try decoder.decode(Bool.self, from: [1, 2, 2]))
        XCTAssertThrowsError(try decoder.decode(Double.self, from: [1, 4, 0, 0, 0]))
    }

    func testRandomByteStringsNeverCrash() throws {
        var random = SplitMix64(seed: 0x5157_4152_4D43_544C)
        let valid = try encoder.encode(ServiceSpec.sample)
        for round in 0..<4000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0...48, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 1:
                // Plausible prefix, random rest: reaches past the version and header checks.
                let rest = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                bytes = [1, UInt8(rest.count + 1)] + rest
            default:
                // A valid encoding with a few bytes changed.
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            assertDecodingErrorOrValue(ServiceSpec.self, bytes)
            assertDecodingErrorOrValue(TaskState.self, bytes)
            assertDecodingErrorOrValue([String: [Int?]].self, bytes)
            assertDecodingErrorOrValue([[UInt8]].self, bytes)
            assertDecodingErrorOrValue(Nest.self, bytes)
            assertDecodingErrorOrValue(HandWritten.self, bytes)
        }
    }

    func testDepthLimitIsEnforcedOnDecodeAndEncode() throws {
        var deepEncoder = WireEncoder()
        deepEncoder.maxDepth = 10_000
        let deep = try deepEncoder.encode(Nest.chain(depth: 1000))
        XCTAssertThrowsError(try decoder.decode(Nest.self, from: deep)) { error in
            guard case let DecodingError.dataCorrupted(context) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(context.debugDescription.contains("nesting"), context.debugDescription)
        }
        XCTAssertThrowsError(try encoder.encode(Nest.chain(depth: 1000))) { error in
            XCTAssertTrue(error is EncodingError, "\(error)")
        }
        // Each Nest level is two (the struct, then its array), so 30 levels fit in 64.
        _ = try roundTrip(Nest.chain(depth: 30))
    }

    func testInterleavedContainerWritesThrowInsteadOfCorrupting() {
        XCTAssertThrowsError(try encoder.encode(Interleaving())) { error in
            XCTAssertTrue(error is EncodingError, "\(error)")
        }
    }

    // MARK: Timing (printed, not asserted)

    func testTimingOfATwentyFieldStruct() throws {
        let value = ServiceSpec.sample
        let iterations = 2000
        var size = 0
        let encodeStart = ContinuousClock.now
        for _ in 0..<iterations { size = try encoder.encode(value).count }
        let encodeTime = ContinuousClock.now - encodeStart
        let bytes = try encoder.encode(value)
        let decodeStart = ContinuousClock.now
        for _ in 0..<iterations { _ = try decoder.decode(ServiceSpec.self, from: bytes) }
        let decodeTime = ContinuousClock.now - decodeStart
        func microseconds(_ total: Duration) -> String {
            let (seconds, attoseconds) = total.components
            return String((Double(seconds) * 1e6 + Double(attoseconds) / 1e12) / Double(iterations))
        }
        print("WireCoder: ServiceSpec \(size) bytes; encode \(microseconds(encodeTime)) µs, decode \(microseconds(decodeTime)) µs")
    }
}
