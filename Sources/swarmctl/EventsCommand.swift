import API
import ClusterState
import Foundation
import Platform

/// `swarmctl events [--since T] [--until T] [--filter K=V]... [--format json]`: the cluster's
/// service, node and task-container events as `docker events` prints them, from `GET /events`.
/// Each line is written at once (never held in a buffer), so `swarmctl events | head -1` ends.
enum EventsCommand {
    static let usage = """
    Usage:  swarmctl events [OPTIONS]

    Prints the cluster's events (services, nodes, task containers) as they happen; with --since,
    first those a manager still keeps. Ends at --until, or on Ctrl-C.

    Options:
          --since TIME       Show kept events from TIME on (seconds since the epoch, an RFC 3339
                             time, or a duration ago such as 10m)
          --until TIME       Stop at TIME (same forms)
      -f, --filter K=V       Only events matching: type=service|node|container|secret|config|network,
                             event=ACTION, label=KEY[=VALUE], service=, node=, container=, scope=
          --format json      One JSON object per line, as the API sends them
      -H, --host ADDR        The node's API (default $SWARMCTL_HOST or unix:/var/run/swarmctl.sock)
    """

    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: [])
        let connection = try APIConnection(host: arguments.takeValue("-H", "--host"))
        let since = arguments.takeValue("--since")
        let until = arguments.takeValue("--until")
        let filters = arguments.takeValues("--filter") + arguments.takeValues("-f")
        let format = arguments.takeValue("--format")
        try arguments.finish(command: "events")
        guard arguments.positionals.isEmpty else { throw UsageError(message: "events takes no arguments: use --filter to choose events") }
        if let format, format != "json" { throw UsageError(message: "--format \(format): only json is supported") }
        var query: [(String, String)] = []
        let now = Date().timeIntervalSince1970
        for (name, value) in [("since", since), ("until", until)] {
            guard let value else { continue }
            guard let seconds = timestamp(value, now: now) else {
                throw UsageError(message: "--\(name) \(value): use seconds since the epoch, an RFC 3339 time or a duration such as 10m")
            }
            query.append((name, seconds))
        }
        if !filters.isEmpty { query.append(("filters", try filterJSON(filters))) }
        return try stream(connection, query: query, json: format == "json")
    }

    private static func stream(_ connection: APIConnection, query: [(String, String)], json: Bool) throws -> Int32 {
        // Events may be minutes apart: the stream has no read deadline.
        let client = HTTPClient(address: try SocketAddress(parsing: connection.host), timeoutMillis: Int(Int32.max), tls: connection.client.tls)
        var pending: [UInt8] = []
        // An error answer is one JSON object with a message, not an event: kept for the failure.
        var refusal: [UInt8] = []
        let status: Int
        do {
            status = try client.stream("GET", "/v1.41/events", query: QueryParameters(query)) { bytes in
                pending += bytes
                while let newline = pending.firstIndex(of: 10) {
                    let line = Array(pending[..<newline])
                    pending.removeSubrange(...newline)
                    guard let event = try? JSONDecoder().decode(DockerEventMessage.self, from: Data(line)) else {
                        refusal += line
                        continue
                    }
                    guard writeStandardOutput((json ? String(decoding: line, as: UTF8.self) : render(event)) + "\n") else { return false }
                }
                return true
            }.status
        } catch {
            throw CommandFailure(message: error.description)
        }
        refusal += pending
        guard status == 200 else {
            let message = (try? JSONSerialization.jsonObject(with: Data(refusal)) as? [String: Any])?["message"] as? String
            throw CommandFailure(message: "events: \(message ?? "the node answered HTTP \(status)")")
        }
        return 0
    }

    /// docker's line: `TIME TYPE ACTION ID (k=v, …)`, attributes sorted by key.
    static func render(_ event: DockerEventMessage) -> String {
        let seconds = event.timeNano / 1_000_000_000
        let nanos = event.timeNano % 1_000_000_000
        let stamp = String(RFC3339.format(UInt64(seconds) * 1000).dropLast(5)) + "." + String(format: "%09lld", nanos) + "Z"
        let attributes = event.actor.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return "\(stamp) \(event.type) \(event.action) \(event.actor.id)" + (attributes.isEmpty ? "" : " (\(attributes))")
    }

    /// `SECONDS[.NANOS]`, RFC 3339, or a duration ago, as the API's `SECONDS.NANOS`.
    static func timestamp(_ text: String, now: Double) -> String? {
        if text.allSatisfy({ $0.isNumber || $0 == "." }), text.filter({ $0 == "." }).count <= 1, !text.isEmpty { return text }
        if let millis = RFC3339.parse(text) { return String(format: "%llu.%09llu", millis / 1000, (millis % 1000) * 1_000_000) }
        if let ago = parseDurationMillis(text), ago >= 0 {
            let at = now - Double(ago) / 1000
            return String(format: "%.9f", at)
        }
        return nil
    }

    /// `k=v` flags as the API's `filters` JSON (`{"k":{"v":true}}`).
    static func filterJSON(_ flags: [String]) throws -> String {
        var map: [String: [String: Bool]] = [:]
        for flag in flags {
            let parts = flag.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw UsageError(message: "--filter \(flag): use KEY=VALUE") }
            map[String(parts[0]), default: [:]][String(parts[1])] = true
        }
        let data = try JSONSerialization.data(withJSONObject: map, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
