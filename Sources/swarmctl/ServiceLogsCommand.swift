import API
import ClusterState
import Foundation
import Platform

/// `swarmctl service logs [--follow] [--tail N] [--timestamps] [--since T] [--until T] [--details]
/// SERVICE|TASK`: the tasks' output, merged by write time, as
/// docker prints it (`web.2.taskid@host    | message`), read from the stdcopy stream of
/// `/services/{id}/logs`.
enum ServiceLogsCommand {
    static func run(_ connection: APIConnection, _ arguments: inout CommandLineArguments, _ operands: [String]) throws -> Int32 {
        let follow = arguments.takeSwitch("--follow", "-f")
        let timestamps = arguments.takeSwitch("--timestamps", "-t")
        let tail = arguments.takeValue("--tail", "-n") ?? "all"
        let details = arguments.takeSwitch("--details")
        let since = arguments.takeValue("--since")
        let until = arguments.takeValue("--until")
        try arguments.finish(command: "service logs")
        guard operands.count == 1 else { throw UsageError(message: "service logs needs exactly one service or task") }
        guard tail == "all" || Int(tail).map({ $0 >= 0 }) == true else { throw UsageError(message: "--tail \(tail): use a number or all") }
        // A service name or id, else a task id (`service logs TASK`, as docker).
        let path: String
        let serviceName: String
        if let service = try? connection.decode(Service.self, "GET", "/services/\(operands[0])") {
            (path, serviceName) = ("/services/\(service.id)/logs", service.spec.name)
        } else if let task = try? connection.decode(SwarmTask.self, "GET", "/tasks/\(operands[0])") {
            let service = try? connection.decode(Service.self, "GET", "/services/\(task.serviceID)")
            (path, serviceName) = ("/tasks/\(task.id)/logs", service?.spec.name ?? task.serviceID)
        } else {
            throw CommandFailure(message: "no such service or task: \(operands[0]): see 'swarmctl service ls' and 'swarmctl service ps SERVICE'")
        }
        let names = try TaskNames(host: connection.host, serviceName: serviceName)
        names.showDetails = details
        var query = [("details", "1"), ("stdout", "1"), ("stderr", "1"), ("tail", tail)]
        if follow { query.append(("follow", "1")) }
        if timestamps { query.append(("timestamps", "1")) }
        let now = Date().timeIntervalSince1970
        for (name, value) in [("since", since), ("until", until)] {
            guard let value else { continue }
            guard let seconds = EventsCommand.timestamp(value, now: now) else {
                throw UsageError(message: "--\(name) \(value): use seconds since the epoch, an RFC 3339 time or a duration such as 10m")
            }
            query.append((name, seconds))
        }
        // `logs -f | head -1`: once the reader of our output has gone, stop waiting for more.
        if follow { StandardOutputWatch.exitWhenReaderLeaves() }
        // Following waits for output indefinitely; a plain read still has a deadline.
        let client = HTTPClient(address: try SocketAddress(parsing: connection.host), timeoutMillis: follow ? Int(Int32.max) : 30_000,
                                tls: connection.client.tls)
        var decoder = StdcopyDecoder()
        let head: HTTPResponseHead
        do {
            // Each line is written at once (not through stdio's buffer), so `logs -f | head -1`
            // sees it; when the reader has gone the stream stops.
            head = try client.stream("GET", "/v1.41" + path, query: QueryParameters(query)) { bytes in
                decoder.feed(bytes).allSatisfy { writeStandardOutput(names.line($0, timestamps: timestamps) + "\n") }
            }
        } catch {
            throw CommandFailure(message: error.description)
        }
        guard head.status == 200 else { throw CommandFailure(message: "the node refused the logs request (HTTP \(head.status))") }
        return 0
    }
}

/// Splits a stdcopy byte stream (8-byte headers: stream, 0, 0, 0, big-endian length) into frames.
struct StdcopyDecoder {
    private var buffer: [UInt8] = []

    mutating func feed(_ bytes: [UInt8]) -> [(stream: UInt8, payload: [UInt8])] {
        buffer += bytes
        var frames: [(UInt8, [UInt8])] = []
        while buffer.count >= 8 {
            let length = Int(buffer[4]) << 24 | Int(buffer[5]) << 16 | Int(buffer[6]) << 8 | Int(buffer[7])
            guard buffer.count >= 8 + length else { break }
            frames.append((buffer[0], Array(buffer[8..<(8 + length)])))
            buffer.removeFirst(8 + length)
        }
        return frames
    }
}

/// Turns a log frame's details into docker's `service.slot.task@host` prefix, looking tasks and
/// nodes up once each.
final class TaskNames {
    private let connection: APIConnection
    private let serviceName: String
    private var prefixes: [String: String] = [:]
    /// `--details`: the swarm attributes are printed before the message, as docker does.
    var showDetails = false

    init(host: String, serviceName: String) throws {
        connection = try APIConnection(host: host)
        self.serviceName = serviceName
    }

    func line(_ frame: (stream: UInt8, payload: [UInt8]), timestamps: Bool) -> String {
        var text = String(decoding: frame.payload, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        var stamp = ""
        if timestamps, let space = text.firstIndex(of: " ") {
            stamp = String(text[..<space]) + " "
            text = String(text[text.index(after: space)...])
        }
        guard text.hasPrefix("com.docker.swarm."), let space = text.firstIndex(of: " ") else { return stamp + text }
        var details: [String: String] = [:]
        for pair in text[..<space].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { details[String(parts[0])] = String(parts[1]) }
        }
        let message = String(text[text.index(after: space)...])
        let shown = showDetails ? String(text[...space]) : ""
        return stamp + prefix(task: details["com.docker.swarm.task.id"] ?? "", node: details["com.docker.swarm.node.id"] ?? "") + "    | " + shown + message
    }

    private func prefix(task: String, node: String) -> String {
        if let known = prefixes[task] { return known }
        let slot = (try? connection.decode(SwarmTask.self, "GET", "/tasks/\(task)"))?.slot.map { String($0) } ?? node
        let host = (try? connection.decode(Node.self, "GET", "/nodes/\(node)"))?.description.hostname ?? node
        let text = "\(serviceName).\(slot).\(task.prefix(12))@\(host)"
        prefixes[task] = text
        return text
    }
}
