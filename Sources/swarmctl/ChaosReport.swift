import Foundation
import Linearizability
import Platform

/// The report of a `chaos run`: Markdown with the numbers (operations, anomalies, lost
/// acknowledged writes, recovery after each fault) and an SVG timeline (faults, leader changes,
/// write availability, running replicas).
struct ChaosReport {
    let options: ChaosRun.Options
    let faults: [FaultRecord]
    let samples: [TimelineSample]
    let verdict: ChaosVerdict
    let operations: Int
    let healedAt: Double
    let writesRecovered: Bool
    /// Acknowledged writes per second of the run.
    let okWrites: [Int: Int]
    /// Testbed node names by node id, to name leaders on the timeline.
    var leaderNames: [String: String] = [:]

    var leaderChanges: Int {
        let leaders = samples.compactMap(\.leader)
        return zip(leaders, leaders.dropFirst()).filter { $0 != $1 }.count
    }

    /// Seconds from a fault's start until writes flowed again (the first second with an
    /// acknowledged write after the first silent second), 0 if they never stopped.
    func writeRecovery(after fault: FaultRecord) -> Double? {
        let first = Int(fault.start)
        let last = Int(fault.end ?? healedAt) + 30
        guard let gap = (first...last).first(where: { okWrites[$0, default: 0] == 0 }) else { return 0 }
        guard gap <= Int(fault.end ?? healedAt) + 1 || gap == first else { return 0 }
        guard let back = (gap...last).first(where: { okWrites[$0, default: 0] > 0 }) else { return nil }
        return max(0, Double(back) - fault.start)
    }

    /// Seconds from a fault's start until the full replica count ran again (services workload).
    func replicaRecovery(after fault: FaultRecord) -> Double? {
        let window = samples.filter { $0.time >= fault.start }
        guard window.contains(where: { ($0.running ?? 0) < ($0.desired ?? 0) }) else { return window.isEmpty ? nil : 0 }
        guard let dip = window.firstIndex(where: { ($0.running ?? 0) < ($0.desired ?? 0) }),
              let back = window[dip...].first(where: { $0.desired != nil && $0.running == $0.desired }) else { return nil }
        return back.time - fault.start
    }

    var summary: String {
        """
        \(verdict.passed && writesRecovered ? "PASS" : "FAIL"): \(verdict.text)
        operations \(operations), anomalies \(verdict.anomalies), lost acknowledged writes \(verdict.lostWrites), faults \(faults.count), leader changes \(leaderChanges), writes \(writesRecovered ? "recovered" : "did NOT recover") after the final heal

        """
    }

    var markdown: String {
        var text = """
        # chaos run: \(verdict.passed && writesRecovered ? "PASS" : "FAIL")

        - workload: \(options.workload); duration \(Int(options.durationSeconds)) s; \(options.seed.map { "random schedule, seed \($0) (rerun: `swarmctl chaos run --random --seed \($0) --duration \(Int(options.durationSeconds))s --workload \(options.workload)`)" } ?? "schedule file")
        - operations: \(operations); anomalies: \(verdict.anomalies); lost acknowledged writes: \(verdict.lostWrites)
        - leader changes seen: \(leaderChanges); writes after the final heal: \(writesRecovered ? "recovered" : "did not recover within 30 s")
        - check: \(verdict.text)

        ![timeline](timeline.svg)

        | # | fault | start s | end s | writes back after s | full replicas after s |
        |---|---|---:|---:|---:|---:|

        """
        for (index, fault) in faults.enumerated() {
            let writes = writeRecovery(after: fault).map { String(format: "%.1f", $0) } ?? "never"
            let replicas = options.workload == "services" ? (replicaRecovery(after: fault).map { String(format: "%.1f", $0) } ?? "never") : "–"
            text += String(format: "| %d | `%@` | %.1f | %@ | %@ | %@ |\n", index + 1, fault.label, fault.start,
                           fault.end.map { String(format: "%.1f", $0) } ?? "-", writes, replicas)
        }
        return text
    }

    /// The timeline: fault bars with their names, the leader (a colour band per leader, named
    /// where it changes), acknowledged writes per second and running/desired replicas, each with
    /// a value scale, over a time axis in seconds.
    var svg: String {
        let width = 900.0, left = 70.0, plot = width - left - 20
        let span = max(options.durationSeconds, samples.last?.time ?? 1, healedAt) + 2
        func x(_ t: Double) -> Double { left + t / span * plot }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        var parts: [String] = []
        parts.append("<text x='10' y='20' font-size='12'>faults</text>")
        for (index, fault) in faults.enumerated() {
            let y = 28.0 + Double(index % 4) * 14
            let end = fault.end ?? healedAt
            let barWidth = max(2, x(end) - x(fault.start))
            parts.append("<rect x='\(number(x(fault.start)))' y='\(number(y))' width='\(number(barWidth))' height='11' fill='#d9534f' opacity='0.7'><title>\(escape(fault.label))</title></rect>")
            parts.append("<text x='\(number(x(fault.start) + barWidth + 3))' y='\(number(y + 9))' font-size='9'>\(escape(fault.shortName))</text>")
        }
        parts += leaderBand(x: x)
        parts += writesChart(x: x)
        if options.workload == "services" { parts += replicasChart(x: x) }
        parts.append("<line x1='\(number(left))' y1='292' x2='\(number(left + plot))' y2='292' stroke='#333'/>")
        for tick in stride(from: 0.0, through: span, by: max(5, (span / 10).rounded())) {
            parts.append("<line x1='\(number(x(tick)))' y1='292' x2='\(number(x(tick)))' y2='296' stroke='#333'/>")
            parts.append("<text x='\(number(x(tick)))' y='307' font-size='10' text-anchor='middle'>\(Int(tick))</text>")
        }
        parts.append("<text x='\(number(left + plot))' y='319' font-size='10' text-anchor='end'>time (s)</text>")
        return "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='325' font-family='sans-serif'>\n"
            + "<rect width='100%' height='100%' fill='white'/>\n" + parts.joined(separator: "\n") + "\n</svg>\n"
    }

    /// A colour per leader, with its name written where leadership changes to another node
    /// (grey: no leader known at that moment, e.g. during an election or while no API answered).
    private func leaderBand(x: (Double) -> Double) -> [String] {
        var parts = ["<text x='10' y='100' font-size='12'>leader</text>",
                     "<text x='10' y='114' font-size='8' fill='#777'>grey: none known</text>"]
        let palette = ["#5bc0de", "#5cb85c", "#f0ad4e", "#9b59b6", "#34495e", "#e67e22"]
        var colours: [String: String] = [:]
        var named: String?
        for (sample, next) in zip(samples, samples.dropFirst()) {
            let fill = sample.leader.map { leader in
                colours[leader] ?? { colours[leader] = palette[colours.count % palette.count]; return colours[leader]! }()
            } ?? "#cccccc"
            parts.append("<rect x='\(String(format: "%.1f", x(sample.time)))' y='90' width='\(String(format: "%.1f", max(1, x(next.time) - x(sample.time))))' height='14' fill='\(fill)'/>")
            if let leader = sample.leader, leader != named {
                named = leader
                parts.append("<text x='\(String(format: "%.1f", x(sample.time)))' y='86' font-size='9'>\(escape(leaderName(leader)))</text>")
            }
        }
        return parts
    }

    /// A node name when the testbed knows the leader's id, else the id's first 12 characters.
    private func leaderName(_ nodeID: String) -> String {
        leaderNames[nodeID] ?? String(nodeID.prefix(12))
    }

    /// Acknowledged writes per second, with a scale from 0 to the peak.
    private func writesChart(x: (Double) -> Double) -> [String] {
        let base = 180.0, height = 50.0
        let peak = max(1, okWrites.values.max() ?? 1)
        var parts = ["<text x='10' y='\(base - height / 2)' font-size='12'>writes/s</text>"]
        parts += valueScale(at: x(0), base: base, height: height, top: peak)
        for (second, count) in okWrites.sorted(by: { $0.key < $1.key }) {
            let bar = Double(count) / Double(peak) * height
            parts.append("<rect x='\(String(format: "%.1f", x(Double(second))))' y='\(String(format: "%.1f", base - bar))' width='\(String(format: "%.1f", max(1, x(1) - x(0) - 1)))' height='\(String(format: "%.1f", bar))' fill='#337ab7'/>")
        }
        return parts
    }

    /// Running (green) against desired (dashed) replicas, with a scale from 0 to the most desired.
    private func replicasChart(x: (Double) -> Double) -> [String] {
        let base = 270.0, height = 50.0
        let top = max(1, samples.compactMap(\.desired).max() ?? 1)
        var parts = ["<text x='10' y='\(base - height / 2)' font-size='12'>replicas</text>"]
        parts += valueScale(at: x(0), base: base, height: height, top: top)
        func point(_ time: Double, _ value: Int) -> String {
            String(format: "%.1f,%.1f", x(time), base - Double(value) / Double(top) * height)
        }
        let running = samples.compactMap { sample in sample.running.map { point(sample.time, $0) } }
        let desired = samples.compactMap { sample in sample.desired.map { point(sample.time, $0) } }
        parts.append("<polyline fill='none' stroke='#999' stroke-dasharray='4' points='\(desired.joined(separator: " "))'/>")
        parts.append("<polyline fill='none' stroke='#5cb85c' points='\(running.joined(separator: " "))'/>")
        return parts
    }

    /// A vertical axis at `left` from `base` (0) up `height` (`top`), labelled at 0, half and top.
    private func valueScale(at left: Double, base: Double, height: Double, top: Int) -> [String] {
        var parts = ["<line x1='\(String(format: "%.1f", left))' y1='\(base)' x2='\(String(format: "%.1f", left))' y2='\(base - height)' stroke='#333'/>"]
        for value in Set([0, top / 2, top]).sorted() {
            let y = base - Double(value) / Double(top) * height
            parts.append("<line x1='\(String(format: "%.1f", left - 3))' y1='\(String(format: "%.1f", y))' x2='\(String(format: "%.1f", left))' y2='\(String(format: "%.1f", y))' stroke='#333'/>")
            parts.append("<text x='\(String(format: "%.1f", left - 5))' y='\(String(format: "%.1f", y + 3))' font-size='9' text-anchor='end'>\(value)</text>")
        }
        return parts
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: "'", with: "&apos;")
    }

    func write(to directory: String) throws {
        try Data(markdown.utf8).write(to: URL(fileURLWithPath: directory + "/report.md"))
        try Data(svg.utf8).write(to: URL(fileURLWithPath: directory + "/timeline.svg"))
    }
}

/// Checks a register history with the linearizability checker (the same one as `swarmctl check
/// linearizable`): an acknowledged write that was lost shows as a read no order can explain.
enum ChaosChecker {
    static func check(register history: [HistoryOperation]) -> ChaosVerdict {
        let ok = history.filter { $0.outcome == "ok" }.count
        let unknown = history.filter { $0.outcome == "unknown" }.count
        let summary = "register workload: \(ok) ok, \(unknown) unknown"
        let encoder = JSONEncoder()
        let lines = history.compactMap { try? encoder.encode($0) }.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n")
        let parsed: History
        do {
            parsed = try History.parse(lines)
        } catch {
            return ChaosVerdict(passed: false, anomalies: 1, lostWrites: 0, text: "\(summary); the recorded history is malformed: \(error)")
        }
        let deadline = monotonicNanoseconds() + 120_000_000_000
        switch LinearizabilityChecker.check(parsed, budget: CheckBudget(maxStates: 20_000_000, shouldStop: { monotonicNanoseconds() > deadline })) {
        case .linearizable:
            return ChaosVerdict(passed: true, anomalies: 0, lostWrites: 0, text: "\(summary); linearizable")
        case let .notLinearizable(key, window):
            let lostWrite = window.contains { $0.kind != .read && $0.outcome == .ok }
            return ChaosVerdict(passed: false, anomalies: 1, lostWrites: lostWrite ? 1 : 0,
                                text: "\(summary); NOT linearizable on \(key): \(LinearizabilityChecker.explain(window)) (window of \(window.count) operations; see history.jsonl and 'swarmctl check linearizable --history')")
        case let .unknown(reason):
            return ChaosVerdict(passed: false, anomalies: 0, lostWrites: 0, text: "\(summary); the check did not finish: \(reason)")
        }
    }
}
