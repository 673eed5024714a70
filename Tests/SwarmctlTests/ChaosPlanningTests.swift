import XCTest
@testable import swarmctl

/// Nemesis schedules (files and seeds) and the recovery figures of the chaos report.
final class ChaosPlanningTests: XCTestCase {
    func testScheduleFileParsesAndRejectsBadLines() throws {
        let steps = try NemesisSchedule.parse("# comment\n5 partition --nodes manager-1\n\n15 heal\n2 kill-node worker-1 # crash\n")
        XCTAssertEqual(steps.map(\.at), [2, 5, 15])
        XCTAssertEqual(steps[0].command, ["kill-node", "worker-1"])
        XCTAssertTrue(steps[2].isHeal)
        XCTAssertThrowsError(try NemesisSchedule.parse("soon heal")) { error in
            XCTAssertTrue((error as? UsageError)?.message.contains("line 1") == true)
        }
    }

    func testRandomScheduleIsSeededAndHealsBeforeTheEnd() {
        let managers = ["manager-1", "manager-2", "manager-3"], workers = ["worker-1"]
        let first = NemesisSchedule.random(seed: 42, duration: 60, managers: managers, workers: workers, service: "web")
        XCTAssertEqual(first, NemesisSchedule.random(seed: 42, duration: 60, managers: managers, workers: workers, service: "web"))
        XCTAssertNotEqual(first, NemesisSchedule.random(seed: 43, duration: 60, managers: managers, workers: workers, service: "web"))
        XCTAssertFalse(first.isEmpty)
        XCTAssertTrue(first.allSatisfy { $0.at < 60 })
        let kills = first.filter { $0.command.first == "kill-node" }.map { $0.command[1] }
        let restarts = first.filter { $0.command.first == "restart" }.map { $0.command[1] }
        XCTAssertEqual(kills, restarts, "every killed node is restarted")
    }

    func testWriteRecoveryIsTheGapAfterAFault() {
        let options = ChaosRun.Options(directory: "/tmp/x", schedule: [], durationSeconds: 30, workload: "register", outputDirectory: "/tmp/x", seed: 1)
        var writes: [Int: Int] = [:]
        for second in 0..<30 where !(10...12).contains(second) { writes[second] = 5 }
        let report = ChaosReport(options: options, faults: [], samples: [], verdict: ChaosVerdict(passed: true, anomalies: 0, lostWrites: 0, text: ""),
                                 operations: 0, healedAt: 30, writesRecovered: true, okWrites: writes)
        XCTAssertEqual(report.writeRecovery(after: FaultRecord(start: 9.5, end: 15, label: "partition")), 3.5)
        XCTAssertEqual(report.writeRecovery(after: FaultRecord(start: 20, end: 24, label: "delay")), 0)
    }
}

/// The stdcopy framing of `service logs` survives arbitrary splits of the byte stream.
final class StdcopyDecoderTests: XCTestCase {
    func testFramesAcrossArbitrarySplits() {
        let frames: [[UInt8]] = [[1, 0, 0, 0, 0, 0, 0, 3] + Array("hi\n".utf8), [2, 0, 0, 0, 0, 0, 0, 4] + Array("err\n".utf8)]
        let bytes = frames.flatMap { $0 }
        for split in 0...bytes.count {
            var decoder = StdcopyDecoder()
            let decoded = decoder.feed(Array(bytes[..<split])) + decoder.feed(Array(bytes[split...]))
            XCTAssertEqual(decoded.map(\.stream), [1, 2], "split at \(split)")
            XCTAssertEqual(decoded.map { String(decoding: $0.payload, as: UTF8.self) }, ["hi\n", "err\n"])
        }
    }
}
