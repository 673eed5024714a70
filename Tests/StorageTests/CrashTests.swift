import Glibc
import Platform
import Raft
import Storage
import XCTest

/// SIGKILLs a real process appending to the WAL at 50 seeded random moments; after each kill,
/// every batch it acknowledged as durable must be recovered, byte for byte.
///
/// The victim is `wal-bench crash-append`, built by `swift build` (run it before `swift test`
/// with the same scratch path; `.ci/run` does). It is looked up next to the test bundle.
final class CrashTests: XCTestCase {
    static let seed: UInt64 = 0x5EED_CAFE
    static let kills = 50

    func testSIGKILLAtRandomMomentsLosesNoAcknowledgedBatch() throws {
        let binary = try locateWALBench()
        let directory = try FileSystem.makeTemporaryDirectory(prefix: "storage-crash-")
        defer { try? FileSystem.removeTree(directory) }
        var random = SplitMix64(seed: Self.seed)
        var acknowledged: UInt64 = 0
        let started = monotonicNanoseconds()
        for round in 1...Self.kills {
            // One round in five kills during start-up (recovery, tail repair); the rest while appending.
            let duringStartup = random.next() % 5 == 0
            let runMilliseconds = random.next() % (duringStartup ? 20 : 150)
            let output = try runAndKill(binary, directory: directory, waitForReady: !duringStartup,
                                        runMilliseconds: runMilliseconds)
            XCTAssertGreaterThanOrEqual(output.recovered ?? acknowledged, acknowledged,
                                        "round \(round): the child recovered less than was acknowledged")
            acknowledged = max(acknowledged, output.acknowledged ?? 0)
            try verifyRecovery(directory, acknowledged: acknowledged, round: round)
        }
        XCTAssertGreaterThan(acknowledged, 100, "the victim made too little progress to test anything")
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        print("crash test: \(Self.kills) SIGKILLs, \(acknowledged) entries acknowledged and recovered, \(seconds) s")
        XCTAssertLessThan(seconds, 60, "crash test too slow")
    }

    private struct ChildOutput {
        var recovered: UInt64?
        var acknowledged: UInt64?
    }

    /// Starts the victim, lets it run for `runMilliseconds` (counted from its "ready" line if
    /// `waitForReady`, else from the spawn), then kills it.
    private func runAndKill(_ binary: String, directory: String, waitForReady: Bool,
                            runMilliseconds: UInt64) throws -> ChildOutput {
        let child = try ChildProcess.spawn(binary, arguments: ["crash-append", directory, "--segment-size", "65536"])
        var text = ""
        if waitForReady {
            try readUntil(child, &text, deadline: monotonicNanoseconds() + 20_000_000_000) { $0.contains("\n") }
            XCTAssertTrue(text.hasPrefix("ready "), "victim did not start: \(text)")
        }
        let killAt = monotonicNanoseconds() + runMilliseconds * 1_000_000
        try readUntil(child, &text, deadline: killAt) { _ in false }
        try child.kill(SIGKILL)
        let status = try child.wait()
        XCTAssertEqual(status.signal, SIGKILL, "victim exited by itself (exit code \(String(describing: status.exitCode)))")
        try readUntil(child, &text, deadline: monotonicNanoseconds() + 5_000_000_000) { _ in false }
        return parse(text)
    }

    /// Reads the child's stdout into `text` until `done(text)`, end of file, or the deadline.
    private func readUntil(_ child: ChildProcess, _ text: inout String, deadline: UInt64,
                           _ done: (String) -> Bool) throws {
        while !done(text) {
            let now = monotonicNanoseconds()
            guard now < deadline else { return }
            let waitMilliseconds = Int32(min((deadline - now) / 1_000_000 + 1, 1000))
            guard let bytes = try child.readOutput(timeoutMilliseconds: waitMilliseconds) else { return }
            text += String(decoding: bytes, as: UTF8.self)
        }
    }

    private func parse(_ text: String) -> ChildOutput {
        var output = ChildOutput()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = UInt64(parts[1]) else { continue }
            if parts[0] == "ready" { output.recovered = value }
            if parts[0] == "ack" { output.acknowledged = max(output.acknowledged ?? 0, value) }
        }
        return output
    }

    /// Opens the storage in this process and checks every acknowledged entry and the snapshot.
    private func verifyRecovery(_ directory: String, acknowledged: UInt64, round: Int) throws {
        let (storage, state) = try RaftStorage.open(dataDirectory: directory, options: RaftStorage.Options(segmentSize: 65536, retainedEntries: 100),
                                                    logger: StorageLogger { _ in })
        withExtendedLifetime(storage) {}
        let snapshot = state.snapshot.metadata
        if !state.snapshot.isEmpty {
            XCTAssertEqual(state.snapshot.data, crashPattern(index: snapshot.index, term: snapshot.term, size: 64),
                           "round \(round): snapshot \(snapshot.index) damaged")
        }
        let last = state.entries.last?.index ?? snapshot.index
        XCTAssertGreaterThanOrEqual(last, acknowledged, "round \(round): acknowledged entries lost")
        for (offset, entry) in state.entries.enumerated() {
            XCTAssertEqual(entry.index, snapshot.index + UInt64(offset) + 1, "round \(round): log not contiguous")
            XCTAssertEqual(entry.data, crashPattern(index: entry.index, term: entry.term, size: Int(entry.index % 200) + 1),
                           "round \(round): entry \(entry.index) damaged")
        }
        XCTAssertLessThanOrEqual(state.hardState.commit, last, "round \(round)")
    }

    private func locateWALBench() throws -> String {
        let executable = (try? FileSystem.readLink("/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = FileSystem.parentDirectory(of: executable)
        // On Linux the test runner is `<products>/swarmctlPackageTests.xctest`; on Darwin it sits
        // inside the bundle, three levels further down.
        for _ in 0..<4 {
            let candidate = directory + "/wal-bench"
            if FileSystem.exists(candidate) { return candidate }
            directory = FileSystem.parentDirectory(of: directory)
        }
        throw XCTSkip("wal-bench is not built next to the test bundle (\(executable)); run `swift build` with the same --scratch-path before `swift test`")
    }
}

/// Must match `walPattern` in Benchmarks/WALBench/CrashAppender.swift.
func crashPattern(index: UInt64, term: UInt64, size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: (index &* 131 &+ term &* 17 &+ UInt64($0)) % 251 + 1) }
}
