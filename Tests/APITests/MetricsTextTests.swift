@testable import API
import ClusterState
import XCTest

/// The Prometheus text encoder (format 0.0.4) and the `/metrics` route.
final class MetricsTextTests: XCTestCase {
    func testLabelValuesEscapeBackslashQuoteAndNewline() {
        let family = MetricFamily("m", help: "a\\b\nc", kind: .gauge, samples: [([("path", "C:\\x \"q\"\nnext")], 2)])
        XCTAssertEqual(PrometheusText.encode([family]),
                       "# HELP m a\\\\b\\nc\n# TYPE m gauge\nm{path=\"C:\\\\x \\\"q\\\"\\nnext\"} 2\n")
    }

    func testHistogramBucketsAreCumulativeAndInfEqualsCount() {
        var histogram = Histogram(bounds: [0.5, 1, 10])
        for value in [0.25, 0.5, 0.75, 2, 20, 30] { histogram.observe(value) }
        let text = PrometheusText.encode([MetricFamily("lat_seconds", help: "Latency.", histograms: [([("method", "GET")], histogram)])])
        XCTAssertEqual(text, """
            # HELP lat_seconds Latency.
            # TYPE lat_seconds histogram
            lat_seconds_bucket{method="GET",le="0.5"} 2
            lat_seconds_bucket{method="GET",le="1"} 3
            lat_seconds_bucket{method="GET",le="10"} 4
            lat_seconds_bucket{method="GET",le="+Inf"} 6
            lat_seconds_sum{method="GET"} 53.5
            lat_seconds_count{method="GET"} 6

            """)
    }

    func testCountersPrintIntegersWithoutFraction() {
        let text = PrometheusText.encode([MetricFamily("c_total", help: "C.", kind: .counter, value: 12345678901)])
        XCTAssertTrue(text.hasSuffix("c_total 12345678901\n"), text)
    }

    func testMetricsRouteAnswersTextWithRequestLatencyByMethod() {
        let plane = FakeControlPlane()
        let api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                            now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        api.handle(HTTPRequest(method: "GET", target: "/_ping")) { _ in }
        api.handle(HTTPRequest(method: "BREW", target: "/_ping")) { _ in }
        var response: HTTPResponse?
        api.handle(HTTPRequest(method: "GET", target: "/v1.41/metrics")) { response = $0 }
        XCTAssertEqual(response?.status, 200)
        XCTAssertEqual(response?.headers["Content-Type"], PrometheusText.contentType)
        let body = String(decoding: response?.body ?? [], as: UTF8.self)
        XCTAssertTrue(body.contains("swarmctl_api_request_duration_seconds_count{method=\"GET\"} 1\n"), body)
        XCTAssertTrue(body.contains("swarmctl_api_request_duration_seconds_count{method=\"other\"} 1\n"), body)
        XCTAssertFalse(body.contains("BREW"), body)
    }
}
