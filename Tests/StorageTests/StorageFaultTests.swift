import Glibc
import Platform
import Raft
@testable import Storage
import XCTest

/// Injected disk faults go through the real failure path: a failed fsync is sticky (the node
/// must stop and recover), ENOSPC fails the write, a slow fsync delays it.
final class StorageFaultTests: StorageTestCase {
    private var nowMillis: UInt64 { monotonicNanoseconds() / 1_000_000 }

    func testInjectedFsyncFailureIsStickyAndNothingUnsyncedIsRecovered() throws {
        try withStorage { storage in
            try storage.append(entries: makeEntries(1...2, term: 1), hardState: HardState(term: 1, commit: 2), sync: true)
            storage.faults.failSyncUntilMillis = nowMillis + 60_000
            XCTAssertThrowsError(try storage.append(entries: makeEntries(3...3, term: 1), hardState: nil, sync: true))
            storage.faults = StorageFaults()
            XCTAssertThrowsError(try storage.append(entries: makeEntries(3...3, term: 1), hardState: nil, sync: true),
                                 "after a failed fsync every write fails until the node reopens")
        }
        XCTAssertEqual(try reopen().entries, makeEntries(1...2, term: 1))
    }

    func testInjectedNoSpaceFailsTheWrite() throws {
        try withStorage { storage in
            storage.faults.noSpaceUntilMillis = nowMillis + 60_000
            XCTAssertThrowsError(try storage.append(entries: makeEntries(1...1, term: 1), hardState: nil, sync: false)) { error in
                XCTAssertTrue("\(error)".contains("space") || "\(error)".contains("ENOSPC") || "\(error)".contains("28"), "\(error)")
            }
        }
    }

    func testInjectedSlowFsyncDelaysTheBatch() throws {
        try withStorage { storage in
            storage.faults.slowSyncMillis = 200
            storage.faults.slowSyncUntilMillis = nowMillis + 60_000
            let started = monotonicNanoseconds()
            try storage.append(entries: makeEntries(1...1, term: 1), hardState: nil, sync: true)
            XCTAssertGreaterThanOrEqual(monotonicNanoseconds() - started, 200_000_000)
        }
        XCTAssertEqual(try reopen().entries, makeEntries(1...1, term: 1))
    }
}
