import Glibc

// `GET /metrics`: the node's metrics (from the control plane) plus the API's own request
// latency, in the Prometheus text format.
extension DockerAPI {
    /// Methods with their own latency series; any other is counted as "other" (bounded labels).
    static let measuredMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE"]

    static func monotonicNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Records one answered request's latency under its method label.
    func recordLatency(method: String, startedNanos: UInt64) {
        let label = Self.measuredMethods.contains(method) ? method : "other"
        let seconds = Double(Self.monotonicNanos() &- startedNanos) / 1e9
        requestLatency[label, default: Histogram()].observe(seconds)
    }

    /// The metrics response (200, `text/plain; version=0.0.4`).
    func metrics() -> HTTPResponse {
        var families = controlPlane?.metricFamilies() ?? []
        let series = requestLatency.keys.sorted().map { (labels: [("method", $0)], histogram: requestLatency[$0]!) }
        families.append(MetricFamily("swarmctl_api_request_duration_seconds",
                                     help: "Latency of answered Docker API requests, by HTTP method.", histograms: series))
        return HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", PrometheusText.contentType)]),
                            body: Array(PrometheusText.encode(families).utf8))
    }
}
