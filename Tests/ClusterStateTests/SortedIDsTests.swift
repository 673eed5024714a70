@testable import ClusterState
import XCTest

/// `SortedIDs` keeps the same order a sorted array would, through inserts and removals that
/// split and empty chunks, and compares by content.
final class SortedIDsTests: XCTestCase {
    func testMatchesASortedSetThroughRandomInsertsAndRemovals() {
        var seed: UInt64 = 7
        var ids = SortedIDs()
        var reference = Set<String>()
        for step in 0..<20_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let id = "s" + String((seed >> 33) % 3_000)
            if step % 3 == 2 {
                XCTAssertEqual(ids.remove(id), reference.remove(id) != nil, "remove \(id) at step \(step)")
            } else {
                XCTAssertEqual(ids.insert(id), reference.insert(id).inserted, "insert \(id) at step \(step)")
            }
        }
        XCTAssertEqual(ids.all, reference.sorted())
        XCTAssertEqual(ids.count, reference.count)
        for id in reference { XCTAssertTrue(ids.contains(id)) }
        XCTAssertFalse(ids.contains("absent"))
    }

    func testIdsAfterWalksAcrossChunksFromAnyPoint() {
        let sorted = (0..<1_500).map { String(format: "id%05d", $0) }
        var ids = SortedIDs()
        for id in sorted.shuffled() { ids.insert(id) }
        XCTAssertEqual(ids.ids(after: nil, limit: 3), Array(sorted[0..<3]))
        XCTAssertEqual(ids.ids(after: sorted[510], limit: 700), Array(sorted[511..<1_211]))
        XCTAssertEqual(ids.ids(after: "id00510x", limit: 2), Array(sorted[511..<513]), "an id not present: the next ones")
        XCTAssertEqual(ids.ids(after: sorted[1_498], limit: 10), [sorted[1_499]])
        XCTAssertEqual(ids.ids(after: sorted[1_499], limit: 10), [])
        XCTAssertEqual(ids.ids(after: nil, limit: 0), [])
    }

    func testEqualityIsByContentWhateverTheChunks() {
        let sorted = (0..<2_000).map { String(format: "id%05d", $0) }
        var built = SortedIDs()
        for id in sorted.reversed() { built.insert(id) }
        XCTAssertEqual(built, SortedIDs(sorted: sorted))
        built.remove(sorted[5])
        XCTAssertNotEqual(built, SortedIDs(sorted: sorted))
    }

    /// The searches compare 8-byte keys first; ids where the keys cannot decide (shared
    /// prefixes, NUL bytes, non-ASCII text whose canonical form reorders it) still land where
    /// `String`'s own order puts them.
    func testOrderKeysAgreeWithStringOrderOnHardIDs() {
        let hard = ["abcdefge\u{301}", "abcdefgf", "abcdefgé", "abcdefgd", "é", "e\u{301}x", "ab", "ab\u{0}", "ab\u{0}c", "",
                    "abcdefgh", "abcdefghi", "abcdefgh0", "ABCDEFGH", "a", "zzzzzzzzzz", "\u{7f}", "\u{80}", "ü", "u\u{308}"]
        let random = (0..<3_000).map { "s\($0 * 7_919 % 3_001)-" + String($0, radix: 36) }
        var ids = SortedIDs()
        var reference = Set<String>()
        for id in (hard + random).shuffled() {
            XCTAssertEqual(ids.insert(id), reference.insert(id).inserted, "insert \(id.debugDescription)")
        }
        XCTAssertEqual(ids.all, reference.sorted())
        for id in hard { XCTAssertTrue(ids.contains(id), "contains \(id.debugDescription)") }
        XCTAssertEqual(ids.ids(after: "abcdefgf", limit: 1), [reference.sorted().first { $0 > "abcdefgf" }!])
        for id in hard { XCTAssertEqual(ids.remove(id), reference.remove(id) != nil, "remove \(id.debugDescription)") }
        XCTAssertEqual(ids.all, reference.sorted())
    }

    func testOrderKeyIsTheASCIIPrefixAndNoneForOtherText() {
        XCTAssertEqual(OrderKey.of(""), 0)
        XCTAssertEqual(OrderKey.of("a"), 0x6100_0000_0000_0000)
        XCTAssertEqual(OrderKey.of("abcdefghXYZ"), OrderKey.of("abcdefgh"))
        XCTAssertEqual(OrderKey.of("abc\u{301}"), OrderKey.none)
        XCTAssertLessThan(OrderKey.of("ab"), OrderKey.of("ab!"))
    }
}
