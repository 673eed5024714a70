import API
import Foundation
import Platform

/// The CLI's connection to a node's API: `-H ADDR`, else `$SWARMCTL_HOST`, else the default
/// socket. Turns transport failures and API errors into `swarmctl: WHAT: WHAT TO DO` messages.
struct APIConnection {
    static let defaultHost = "unix:/var/run/swarmctl.sock"
    let client: HTTPClient
    let host: String

    init(host explicit: String?) throws {
        let environment = ProcessInfo.processInfo.environment
        host = explicit ?? environment["SWARMCTL_HOST"] ?? Self.defaultHost
        let address: SocketAddress
        do {
            address = try SocketAddress(parsing: host)
        } catch {
            throw UsageError(message: "-H \(host): \(error): use unix:PATH or tcp:HOST:PORT")
        }
        client = HTTPClient(address: address, timeoutMillis: 30_000, tls: try ClientTLS.settings(for: address, environment: environment))
    }

    /// Sends a request; non-2xx answers become a failure carrying the API's message.
    func request(_ method: String, _ path: String, query: [(String, String)] = [], body: [UInt8]? = nil) throws -> [UInt8] {
        let response: HTTPResponse
        do {
            response = try client.send(method, "/v1.41" + path, query: QueryParameters(query), body: body,
                                       headers: HTTPHeaders(body == nil ? [] : [("Content-Type", "application/json")]))
        } catch {
            // The client's message already names the address and what to do.
            throw CommandFailure(message: error.description)
        }
        guard (200..<300).contains(response.status) else {
            let message = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["message"] as? String
            throw CommandFailure(message: apiErrorText(response.status, message ?? String(decoding: response.body, as: UTF8.self)))
        }
        return response.body
    }

    func decode<T: Decodable>(_ type: T.Type, _ method: String, _ path: String, query: [(String, String)] = []) throws -> T {
        let body = try request(method, path, query: query)
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch {
            throw CommandFailure(message: "the node at \(host) sent an answer this client cannot read (\(error)): are client and node the same version?")
        }
    }

    func json(_ method: String, _ path: String, query: [(String, String)] = []) throws -> Any {
        let body = try request(method, path, query: query)
        guard let value = try? JSONSerialization.jsonObject(with: Data(body)) else {
            throw CommandFailure(message: "the node at \(host) sent invalid JSON")
        }
        return value
    }

    private func apiErrorText(_ status: Int, _ message: String) -> String {
        switch status {
        case 503 where message.lowercased().contains("not a manager") || message.lowercased().contains("not a swarm manager"):
            "\(message): run this on a manager or pass -H"
        case 503: "\(message)"
        case 404: message
        default: message
        }
    }
}

/// Prints rows as aligned columns, like docker's tables.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { column, cell in
            // docker's tabwriter: minimum cell width 10, padding 3.
            column == cells.count - 1 ? cell : cell.padding(toLength: max(10, widths[column] + 3), withPad: " ", startingAt: 0)
        }.joined()
    }
    var output = line(header) + "\n"
    for row in rows { output += line(row) + "\n" }
    writeStandardOutput(output)
}

func printJSON(_ value: Any) {
    guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else { return }
    writeStandardOutput(String(decoding: data, as: UTF8.self) + "\n")
}
