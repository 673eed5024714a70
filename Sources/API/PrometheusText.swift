import Foundation

/// One metric family for the `/metrics` endpoint: a name, its help text, its type and samples.
///
/// It exists so the node shell and the API describe what they measure as plain values, and one
/// encoder (`PrometheusText`) owns the text exposition format (0.0.4) and its escaping rules.
public struct MetricFamily: Sendable, Equatable {
    /// The Prometheus metric type written on the `# TYPE` line.
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    public var name: String
    public var help: String
    public var kind: Kind
    /// Counter or gauge samples: labels and value.
    public var samples: [(labels: [(String, String)], value: Double)]
    /// Histogram series: labels and the histogram (only for `.histogram`).
    public var histograms: [(labels: [(String, String)], histogram: Histogram)]

    /// A counter or gauge family.
    public init(_ name: String, help: String, kind: Kind, samples: [(labels: [(String, String)], value: Double)]) {
        precondition(kind != .histogram, "use init(_:help:histograms:) for histograms")
        (self.name, self.help, self.kind, self.samples, self.histograms) = (name, help, kind, samples, [])
    }

    /// A family with one unlabelled sample.
    public init(_ name: String, help: String, kind: Kind, value: Double) {
        self.init(name, help: help, kind: kind, samples: [([], value)])
    }

    /// A histogram family, one series per label set.
    public init(_ name: String, help: String, histograms: [(labels: [(String, String)], histogram: Histogram)]) {
        (self.name, self.help, self.kind, self.samples, self.histograms) = (name, help, .histogram, [], histograms)
    }

    public static func == (lhs: MetricFamily, rhs: MetricFamily) -> Bool {
        PrometheusText.encode([lhs]) == PrometheusText.encode([rhs])
    }
}

/// A latency (or cost) histogram with fixed upper bounds, as Prometheus expects.
///
/// It exists so observations are cheap (one pass over a dozen bounds, no allocation) on the
/// node's loop; buckets are stored per bound and made cumulative only when encoded.
public struct Histogram: Sendable, Equatable {
    /// Upper bounds, strictly increasing; `+Inf` is implicit.
    public let bounds: [Double]
    /// Observations per bound (not cumulative); the last slot counts those above every bound.
    public private(set) var counts: [UInt64]
    public private(set) var sum: Double = 0
    public private(set) var count: UInt64 = 0

    /// Bounds in seconds from 0.5 ms to 10 s, for latencies.
    public static let latencySeconds: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

    public init(bounds: [Double] = Histogram.latencySeconds) {
        precondition(!bounds.isEmpty && zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "histogram bounds must increase")
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Records one observation.
    public mutating func observe(_ value: Double) {
        let slot = bounds.firstIndex { value <= $0 } ?? bounds.count
        counts[slot] += 1
        sum += value
        count += 1
    }

    /// Cumulative counts per bound, then `+Inf` (equal to `count`).
    public var cumulative: [UInt64] {
        var running: UInt64 = 0
        return counts.map { running += $0; return running }
    }
}

/// Encodes metric families in the Prometheus text exposition format, version 0.0.4.
public enum PrometheusText {
    /// The Content-Type of the format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func encode(_ families: [MetricFamily]) -> String {
        var out = ""
        for family in families {
            out += "# HELP \(family.name) \(escapeHelp(family.help))\n"
            out += "# TYPE \(family.name) \(family.kind.rawValue)\n"
            for sample in family.samples {
                out += line(family.name, sample.labels, format(sample.value))
            }
            for series in family.histograms {
                let cumulative = series.histogram.cumulative
                for (bound, total) in zip(series.histogram.bounds, cumulative) {
                    out += line(family.name + "_bucket", series.labels + [("le", format(bound))], String(total))
                }
                out += line(family.name + "_bucket", series.labels + [("le", "+Inf")], String(cumulative.last!))
                out += line(family.name + "_sum", series.labels, format(series.histogram.sum))
                out += line(family.name + "_count", series.labels, String(series.histogram.count))
            }
        }
        return out
    }

    static func line(_ name: String, _ labels: [(String, String)], _ value: String) -> String {
        guard !labels.isEmpty else { return "\(name) \(value)\n" }
        let rendered = labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",")
        return "\(name){\(rendered)} \(value)\n"
    }

    /// Label values escape backslash, double quote and newline.
    public static func escapeLabel(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// Help text escapes backslash and newline.
    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Integers without a fraction, others in Swift's shortest round-trip form.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
