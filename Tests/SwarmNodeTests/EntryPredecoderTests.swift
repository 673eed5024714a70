import ClusterState
import Foundation
import Raft
import XCTest

@testable import SwarmNode

/// A follower's entries decoded off the loop (issue 15): a result is used only for the entry it
/// was decoded from (index and term), a late result for an applied entry is dropped, and a
/// snapshot drops what it covers.
final class EntryPredecoderTests: XCTestCase {
    private func entry(_ index: UInt64, term: UInt64 = 2, id: String) -> Entry {
        Entry(term: term, index: index, data: CommandCodec.encode(.removeService(id: id, at: Timestamp(millisecondsSinceEpoch: index))))
    }

    private func waitForCount(_ predecoder: EntryPredecoder, _ count: Int) {
        let deadline = Date().addingTimeInterval(10)
        while predecoder.count != count, Date() < deadline { usleep(1_000) }
        XCTAssertEqual(predecoder.count, count)
    }

    func testResultsAreUsedOnlyForTheirEntry() {
        let predecoder = EntryPredecoder()
        predecoder.decodeAhead([entry(5, id: "a"), entry(6, id: "b"), Entry(term: 2, index: 7, data: [0xFF, 0x00])])
        waitForCount(predecoder, 2)  // the undecodable one is left to the apply, which reports it
        XCTAssertEqual(predecoder.take(entry(5, id: "a")), .removeService(id: "a", at: Timestamp(millisecondsSinceEpoch: 5)))
        XCTAssertNil(predecoder.take(entry(6, term: 3, id: "c")), "another term at that index is another entry")
        XCTAssertEqual(predecoder.count, 0)
    }

    func testLateResultsForAppliedEntriesAndEntriesASnapshotCoversAreDropped() {
        let predecoder = EntryPredecoder()
        XCTAssertNil(predecoder.take(entry(9, id: "x")), "applied before its result was ready")
        predecoder.decodeAhead([entry(9, id: "x"), entry(10, id: "y"), entry(12, id: "z")])
        waitForCount(predecoder, 2)
        predecoder.skip(through: 10)
        XCTAssertEqual(predecoder.count, 1)
        XCTAssertEqual(predecoder.take(entry(12, id: "z")), .removeService(id: "z", at: Timestamp(millisecondsSinceEpoch: 12)))
    }
}
