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

/// The chaos report's fault records and timeline (issue 19's loose ends).
final class ChaosReportTimelineTests: XCTestCase {
    private let options = ChaosRun.Options(directory: "/tmp/x", schedule: [], durationSeconds: 30, workload: "services",
                                           outputDirectory: "/tmp/x", seed: 1)

    func testAnInstantaneousFaultEndsWhereItStartsAndWritesAreMeasuredFromIt() {
        let kill = FaultRecord(command: ["kill-task", "web", "--count", "2"], at: 12.5)
        XCTAssertEqual(kill.end, 12.5)
        XCTAssertEqual(FaultRecord(command: ["pause-node", "worker-1", "--for", "3000ms"], at: 4).end, 7)
        XCTAssertNil(FaultRecord(command: ["partition", "--nodes", "manager-1"], at: 4).end, "ends at the next heal")
        var writes: [Int: Int] = [:]
        for second in 0..<30 where second != 13 { writes[second] = 4 }
        let report = ChaosReport(options: options, faults: [kill], samples: [], verdict: ChaosVerdict(passed: true, anomalies: 0, lostWrites: 0, text: ""),
                                 operations: 0, healedAt: 30, writesRecovered: true, okWrites: writes)
        XCTAssertEqual(report.writeRecovery(after: kill), 1.5, "writes were back at 14 s, 1.5 s after the kill")
        XCTAssertTrue(report.markdown.contains("| 1 | `kill-task web --count 2` | 12.5 | 12.5 | 1.5 |"), report.markdown)
    }

    func testTheTimelineNamesFaultsAndLeadersAndHasValueScales() {
        let faults = [FaultRecord(command: ["partition", "--nodes", "manager-1"], at: 5), FaultRecord(command: ["kill-task", "web"], at: 9)]
        var samples: [TimelineSample] = []
        for tick in 0..<40 {
            let time = Double(tick) / 2
            samples.append(TimelineSample(time: time, leader: time < 8 ? "id-aaa" : (time < 9 ? nil : "id-bbb"),
                                          running: time < 6 ? 10 : 8, desired: 10))
        }
        var report = ChaosReport(options: options, faults: faults, samples: samples,
                                 verdict: ChaosVerdict(passed: true, anomalies: 0, lostWrites: 0, text: ""),
                                 operations: 0, healedAt: 20, writesRecovered: true, okWrites: [1: 40, 2: 20])
        report.leaderNames = ["id-aaa": "manager-1", "id-bbb": "manager-2"]
        let svg = report.svg
        XCTAssertTrue(svg.contains(">partition manager-1</text>"), "fault names on their bars")
        XCTAssertTrue(svg.contains(">kill-task web</text>"))
        XCTAssertEqual(svg.components(separatedBy: ">manager-1</text>").count - 1, 1, "the leader named once, where it starts")
        XCTAssertEqual(svg.components(separatedBy: ">manager-2</text>").count - 1, 1, "the new leader named where it takes over")
        XCTAssertFalse(svg.contains(">none</text>"), "a moment without a known leader is a grey gap, not a name")
        XCTAssertTrue(svg.contains(">40</text>") && svg.contains(">20</text>"), "the writes/s scale shows its peak and half")
        XCTAssertTrue(svg.contains(">10</text>") && svg.contains(">5</text>"), "the replicas scale")
        XCTAssertTrue(svg.contains(">time (s)</text>"))
    }
}
