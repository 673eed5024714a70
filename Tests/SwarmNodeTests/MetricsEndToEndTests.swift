import API
import Foundation
import Platform
import XCTest

/// `GET /metrics` on a real node: valid Prometheus text (checked by a small parser) with the
/// Raft, dispatcher, task, orchestration, storage and API metrics.
final class MetricsEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    /// One parsed exposition: sample values by series (`name{labels}`), HELP and TYPE by family.
    struct Exposition {
        var samples: [String: Double] = [:]
        var help: [String: String] = [:]
        var type: [String: String] = [:]

        /// Parses the text format; throws naming the first line that is not valid.
        init(_ text: String) throws {
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
                if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                    guard parts.count == 4 else { throw ParseError(line: String(line)) }
                    if parts[1] == "HELP" { help[parts[2]] = parts[3] } else { type[parts[2]] = parts[3] }
                    continue
                }
                guard let space = line.lastIndex(of: " ") else { throw ParseError(line: String(line)) }
                let series = String(line[..<space])
                let valueText = line[line.index(after: space)...]
                guard let value = Double(valueText) ?? (valueText == "+Inf" ? .infinity : nil),
                      series.range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?$"#,
                                   options: .regularExpression) != nil else { throw ParseError(line: String(line)) }
                samples[series] = value
            }
        }

        /// The family a series belongs to (histogram suffixes stripped when the base is typed).
        func family(of series: String) -> String {
            let name = String(series.prefix { $0 != "{" })
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                let base = String(name.dropLast(suffix.count))
                if type[base] == "histogram" { return base }
            }
            return name
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        var line: String
        var description: String { "not a Prometheus text line: \(line)" }
    }

    func testMetricsEndpointServesValidPrometheusText() throws {
        try cluster.initialize("m1")
        let created = try cluster.cli("m1", ["service", "create", "--detach", "--name", "web", "--replicas", "2", "busybox", "sleep", "3600"])
        XCTAssertEqual(created.status, 0, created.output)
        let client = HTTPClient(address: try SocketAddress(parsing: cluster.members["m1"]!.apiAddress), timeoutMillis: 10_000)
        defer { client.close() }

        var exposition = try Exposition("")
        try cluster.waitUntil("both replicas are counted as running in /metrics", timeoutSeconds: 30) {
            let response = try client.send("GET", "/metrics")
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            exposition = try Exposition(String(decoding: response.body, as: UTF8.self))
            return exposition.samples[#"swarmctl_tasks{state="running"}"#] == 2
        }

        for series in exposition.samples.keys {
            let family = exposition.family(of: series)
            XCTAssertNotNil(exposition.help[family], "no HELP for \(series)")
            XCTAssertNotNil(exposition.type[family], "no TYPE for \(series)")
        }
        for name in ["swarmctl_raft_term", "swarmctl_raft_commit_index", "swarmctl_raft_applied_index", "swarmctl_raft_is_leader",
                     "swarmctl_raft_proposals_total", "swarmctl_raft_elections_total", "swarmctl_raft_leader_changes_total",
                     "swarmctl_raft_storage_save_seconds_count", "swarmctl_dispatcher_sessions", "swarmctl_dispatcher_resyncs_total",
                     "swarmctl_orchestration_round_seconds_count", "swarmctl_orchestration_last_round_seconds"] {
            XCTAssertNotNil(exposition.samples[name], "missing \(name)")
        }
        XCTAssertGreaterThan(exposition.samples["swarmctl_raft_term"] ?? 0, 0)
        XCTAssertEqual(exposition.samples["swarmctl_raft_is_leader"], 1)
        XCTAssertGreaterThanOrEqual(exposition.samples["swarmctl_raft_elections_total"] ?? 0, 1, "the node elected itself")
        XCTAssertGreaterThanOrEqual(exposition.samples["swarmctl_raft_leader_changes_total"] ?? 0, 1)
        XCTAssertGreaterThan(exposition.samples["swarmctl_raft_proposals_total"] ?? 0, 0)
        XCTAssertGreaterThan(exposition.samples["swarmctl_raft_storage_save_seconds_count"] ?? 0, 0)
        XCTAssertEqual(exposition.samples["swarmctl_raft_storage_save_seconds_bucket{le=\"+Inf\"}"],
                       exposition.samples["swarmctl_raft_storage_save_seconds_count"])
        XCTAssertGreaterThanOrEqual(exposition.samples["swarmctl_raft_applied_index"] ?? 0, 1)
        XCTAssertEqual(exposition.samples["swarmctl_dispatcher_sessions"], 1, "the manager's own agent has a session")
        XCTAssertNotNil(exposition.samples[#"swarmctl_api_request_duration_seconds_count{method="GET"}"#])
        XCTAssertNotNil(exposition.samples[#"swarmctl_api_request_duration_seconds_count{method="POST"}"#])

        let versioned = try client.send("GET", "/v1.41/metrics")
        XCTAssertEqual(versioned.status, 200)
    }

    func testWorkerAnswersWithoutRaftOrTaskMetrics() throws {
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        var exposition = try Exposition("")
        try cluster.waitUntil("the worker serves /metrics", timeoutSeconds: 30) {
            let client = HTTPClient(address: try SocketAddress(parsing: self.cluster.members["w1"]!.apiAddress), timeoutMillis: 5_000)
            defer { client.close() }
            guard let response = try? client.send("GET", "/metrics"), response.status == 200 else { return false }
            exposition = try Exposition(String(decoding: response.body, as: UTF8.self))
            return true
        }
        XCTAssertNotNil(exposition.samples["swarmctl_dispatcher_gaps_seen_total"])
        XCTAssertEqual(exposition.samples["swarmctl_dispatcher_sessions"], 0)
        XCTAssertFalse(exposition.samples.keys.contains { $0.hasPrefix("swarmctl_raft_") || $0.hasPrefix("swarmctl_tasks") },
                       "a worker has no Raft or replicated state: \(exposition.samples.keys.sorted())")
    }
}
