import XCTest
@testable import Wire
import SeededRandom

// Fixtures: a Codable struct using every kind of field, with a hand-written fast path.

private enum Flavor: String, Codable { case plain, fancy = "fancy-flavor" }

private struct Leaf: Codable, Equatable, WireFastEncodable {
    var name: String
    var count: Int?

    func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(name, forKey: "name")
        if let count { writer.encode(count, forKey: "count") }
    }
}

/// Codable only: met inside a fast value, it goes through `encode(to:)`.
private struct Plain: Codable, Equatable {
    var leaf: Leaf
    var leaves: [Leaf]
    var flag: Bool
}

private struct Everything: Codable, Equatable, WireFastEncodable {
    var text: String
    var flag: Bool
    var unsigned: UInt64
    var unsigned32: UInt32
    var signed: Int64
    var int: Int
    var real: Double
    var raw: [UInt8]
    var words: [String]
    var labels: [String: String]
    var leaf: Leaf
    var leaves: [Leaf]
    var leavesByName: [String: Leaf]
    var flavor: Flavor
    var maybeText: String?
    var maybeLeaf: Leaf?
    var plain: Plain
    var plainByName: [String: Plain]

    func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(text, forKey: "text")
        writer.encode(flag, forKey: "flag")
        writer.encode(unsigned, forKey: "unsigned")
        writer.encode(unsigned32, forKey: "unsigned32")
        writer.encode(signed, forKey: "signed")
        writer.encode(int, forKey: "int")
        writer.encode(real, forKey: "real")
        writer.encode(bytes: raw, forKey: "raw")
        try writer.encode(words, forKey: "words")
        try writer.encode(labels, forKey: "labels")
        try writer.encode(leaf, forKey: "leaf")
        try writer.encode(leaves, forKey: "leaves")
        try writer.encode(leavesByName, forKey: "leavesByName")
        writer.encode(flavor.rawValue, forKey: "flavor")
        writer.encodeIfPresent(maybeText, forKey: "maybeText")
        try writer.encodeIfPresent(maybeLeaf, forKey: "maybeLeaf")
        try writer.encodeCodable(plain, forKey: "plain")
        try writer.encodeCodable(plainByName, forKey: "plainByName")
    }
}

/// A fast path for some cases only; the others write their body through `encode(to:)`.
private enum Choice: Codable, Equatable, WireFastEncodable {
    case fast(leaf: Leaf)
    case slow(leaf: Leaf, note: String?)

    func wireEncode(to writer: inout WireSlotWriter) throws {
        switch self {
        case let .fast(leaf): try writer.encodeNested(forKey: "fast") { try $0.encode(leaf, forKey: "leaf") }
        case .slow: try writer.encodeBodyWithCodable(self)
        }
    }
}

/// A dictionary written with a caller's key order, which the writer must check.
private struct Ordered: Encodable, WireFastEncodable {
    var values: [String: Leaf]
    var order: [String]

    enum CodingKeys: String, CodingKey { case values }

    func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encode(values, forKey: "values", sortedKeys: order)
    }
}

private struct Chain: Codable, WireFastEncodable {
    var next: [Chain]

    static func of(depth: Int) -> Chain { depth <= 1 ? Chain(next: []) : Chain(next: [of(depth: depth - 1)]) }

    func wireEncode(to writer: inout WireSlotWriter) throws { try writer.encode(next, forKey: "next") }
}

final class WireSlotWriterTests: XCTestCase {
    private func encoders() -> (fast: WireEncoder, codable: WireEncoder) {
        var fast = WireEncoder()
        fast.usesFastPaths = true
        var codable = WireEncoder()
        codable.usesFastPaths = false
        return (fast, codable)
    }

    private func assertSameBytes<T: Encodable>(_ value: T, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (fast, codable) = encoders()
        XCTAssertEqual(try fast.encode(value), try codable.encode(value), what, file: file, line: line)
    }

    private static let pieces = ["a", "B", "é", "e\u{301}", "ünï", "😀", "", "zz", "\u{E9}z", "e\u{301}z"]

    private func randomText(_ random: inout SplitMix64) -> String {
        var text = ""
        for _ in 0..<random.below(4) { text += Self.pieces[random.below(Self.pieces.count)] }
        if random.below(10) == 0 { text += String(repeating: "long", count: 40 + random.below(100)) }
        return text
    }

    private func randomEverything(_ random: inout SplitMix64) -> Everything {
        func leaf() -> Leaf { Leaf(name: randomText(&random), count: random.below(2) == 0 ? nil : Int(Int64(bitPattern: random.next()))) }
        var labels: [String: String] = [:]
        var leavesByName: [String: Leaf] = [:]
        var plainByName: [String: Plain] = [:]
        for _ in 0..<random.below(6) {
            labels[randomText(&random)] = randomText(&random)
            leavesByName[randomText(&random)] = leaf()
            plainByName[randomText(&random)] = Plain(leaf: leaf(), leaves: [leaf()], flag: true)
        }
        return Everything(
            text: randomText(&random), flag: random.below(2) == 0, unsigned: random.next() >> UInt64(random.below(64)),
            unsigned32: UInt32(truncatingIfNeeded: random.next()), signed: Int64(bitPattern: random.next()) >> Int64(random.below(64)),
            int: random.below(300) - 150, real: [0.5, -0.0, .infinity, .nan, Double(bitPattern: random.next())][random.below(5)],
            raw: (0..<random.below(200)).map { _ in UInt8(truncatingIfNeeded: random.next()) },
            words: (0..<random.below(4)).map { _ in randomText(&random) }, labels: labels, leaf: leaf(),
            leaves: (0..<random.below(40)).map { _ in leaf() }, leavesByName: leavesByName,
            flavor: random.below(2) == 0 ? .plain : .fancy, maybeText: random.below(2) == 0 ? nil : randomText(&random),
            maybeLeaf: random.below(2) == 0 ? nil : leaf(), plain: Plain(leaf: leaf(), leaves: [leaf(), leaf()], flag: false),
            plainByName: plainByName)
    }

    func testEveryWriterMethodGivesTheCodableBytes() throws {
        for seed in 0..<500 {
            var random = SplitMix64(seed: UInt64(seed))
            try assertSameBytes(randomEverything(&random), "seed \(seed)")
        }
    }

    func testLongBodiesGetTheSameMultiByteHeaders() throws {
        var random = SplitMix64(seed: 1)
        var value = randomEverything(&random)
        for size in [126, 127, 128, 16_383, 16_384, 70_000] {
            value.text = String(repeating: "x", count: size)
            value.leaves = (0..<size / 50).map { Leaf(name: "leaf-\($0)", count: $0) }
            try assertSameBytes(value, "body around \(size) bytes")
        }
    }

    func testFastValuesInsideCodableContainersAndCasesWithoutAFastPath() throws {
        let leaf = Leaf(name: "l", count: 3)
        try assertSameBytes([Choice.fast(leaf: leaf), .slow(leaf: leaf, note: nil), .slow(leaf: leaf, note: "n")], "array of choices")
        try assertSameBytes(["b": Choice.slow(leaf: leaf, note: "x"), "a": .fast(leaf: leaf)], "dictionary of choices")
        try assertSameBytes(Plain(leaf: leaf, leaves: [leaf, Leaf(name: "m", count: nil)], flag: true), "Codable around fast")
        let decoded = try WireDecoder().decode([Choice].self, from: try WireEncoder().encode([Choice.slow(leaf: leaf, note: "n"), .fast(leaf: leaf)]))
        XCTAssertEqual(decoded, [.slow(leaf: leaf, note: "n"), .fast(leaf: leaf)])
    }

    func testDictionaryEntriesAreInUTF8ByteOrderNotSwiftStringOrder() throws {
        // "é" (C3 A9) sorts after "e\u{301}z" (65 CC 81 7A) by bytes, before it by `<`.
        let keys = ["\u{E9}", "e\u{301}z", "a", "Z", "😀"]
        XCTAssertNotEqual(keys.sorted(), keys.sorted(by: WireByteOrder.precedes))
        let values = Dictionary(uniqueKeysWithValues: keys.map { ($0, Leaf(name: $0, count: nil)) })
        try assertSameBytes(Ordered(values: values, order: []), "keys sorted by the writer")
        try assertSameBytes(Ordered(values: values, order: keys.sorted()), "Swift order given: the writer re-sorts")
        try assertSameBytes(Ordered(values: values, order: keys.sorted(by: WireByteOrder.precedes)), "byte order given")
        try assertSameBytes(Ordered(values: values, order: Array(keys.sorted(by: WireByteOrder.precedes).dropLast()) + ["zz"]),
                            "a key missing from the dictionary")
        try assertSameBytes(Ordered(values: values, order: keys.sorted(by: WireByteOrder.precedes) + ["zz"]), "one key too many")
    }

    func testTheDepthLimitHoldsOnTheFastPath() throws {
        var encoder = WireEncoder()
        encoder.maxDepth = 10
        // Chain.of(depth: n) nests n chains, each one slot for itself and one for its array.
        XCTAssertNoThrow(try encoder.encode(Chain.of(depth: 5)))
        XCTAssertThrowsError(try encoder.encode(Chain.of(depth: 6))) { XCTAssertTrue($0 is EncodingError, "\($0)") }
        encoder.usesFastPaths = false
        XCTAssertNoThrow(try encoder.encode(Chain.of(depth: 5)))
        XCTAssertThrowsError(try encoder.encode(Chain.of(depth: 6)))
    }

    func testTimingOfEverythingFastAgainstCodable() throws {
        var random = SplitMix64(seed: 3)
        let value = randomEverything(&random)
        let (fast, codable) = encoders()
        func microseconds(_ encoder: WireEncoder) throws -> Double {
            let start = ContinuousClock.now
            for _ in 0..<500 { _ = try encoder.encode(value) }
            let (seconds, attoseconds) = (ContinuousClock.now - start).components
            return (Double(seconds) * 1e6 + Double(attoseconds) / 1e12) / 500
        }
        print("WireSlotWriter: Everything encode Codable \(try microseconds(codable)) µs, fast \(try microseconds(fast)) µs")
    }
}
