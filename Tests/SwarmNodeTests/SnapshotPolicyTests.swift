import XCTest

@testable import SwarmNode

/// A snapshot is due every `snapshot-every` entries; once the state is large, also only after
/// the log since the last snapshot holds twice as many bytes as that snapshot (issue 15: a fixed
/// interval made each write pay more for snapshots as the state grew).
final class SnapshotPolicyTests: XCTestCase {
    func testASmallStateSnapshotsOnTheEntryCountAlone() {
        var policy = SnapshotPolicy()
        policy.sized(SnapshotPolicy.largeSnapshotBytes - 1)
        XCTAssertFalse(policy.isDue(appliedEntries: 19, every: 20))
        XCTAssertTrue(policy.isDue(appliedEntries: 20, every: 20), "no bytes applied yet, but the state is small")
    }

    func testALargeStateWaitsUntilTheLogIsTwiceAsLargeAsTheSnapshot() {
        let size = 16_000_000
        var policy = SnapshotPolicy()
        policy.sized(size)
        for _ in 0..<1_000 { policy.applied(byteCount: size / 1_000) }
        XCTAssertFalse(policy.isDue(appliedEntries: 1_000, every: 100), "the log is only as large as the snapshot")
        for _ in 0..<1_000 { policy.applied(byteCount: size / 1_000 - 1) }
        XCTAssertFalse(policy.isDue(appliedEntries: 2_000, every: 100), "the log is still short of twice the snapshot")
        policy.applied(byteCount: 1_000)
        XCTAssertTrue(policy.isDue(appliedEntries: 2_001, every: 100))
        XCTAssertFalse(policy.isDue(appliedEntries: 99, every: 100), "the entry count still applies")

        policy.captured()
        XCTAssertFalse(policy.isDue(appliedEntries: 1_000, every: 100), "bytes count again from a capture")
        policy.sized(1_000)
        XCTAssertTrue(policy.isDue(appliedEntries: 100, every: 100), "the state shrank below the threshold")
    }
}
