import Foundation

/// The options every `ls`/`ps` shares with docker's: `-q`/`--quiet` (ids only) and repeated
/// `-f`/`--filter KEY=VALUE`, sent as the API's `filters` query in its map form
/// (`{"name":{"web":true}}`). The node checks the keys and values (`Invalid filter 'x'`).
struct ListOptions {
    var quiet = false
    /// Values per key, in the order given; values of one key are alternatives, keys must all hold.
    var filters: [String: [String]] = [:]

    /// Consumes `-q`, `--quiet`, `-f` and `--filter` from `arguments`.
    init(_ arguments: inout CommandLineArguments) throws(UsageError) {
        quiet = arguments.takeSwitch("-q", "--quiet")
        for text in arguments.takeValues("--filter") + arguments.takeValues("-f") {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw UsageError(message: "--filter \(text): bad format of filter, expected KEY=VALUE (e.g. name=web)")
            }
            filters[String(text[..<equals]), default: []].append(String(text[text.index(after: equals)...]))
        }
    }

    /// Adds a filter the command itself needs (e.g. the service of `service ps`).
    mutating func require(_ key: String, _ value: String) { filters[key, default: []].append(value) }

    /// The `filters` query parameter, or none without filters.
    var query: [(String, String)] {
        guard !filters.isEmpty else { return [] }
        let map = filters.mapValues { values in Dictionary(values.map { ($0, true) }, uniquingKeysWith: { first, _ in first }) }
        guard let data = try? JSONSerialization.data(withJSONObject: map, options: [.sortedKeys]) else { return [] }
        return [("filters", String(decoding: data, as: UTF8.self))]
    }

    /// The switches of list commands: `-f` takes a value there (it is `--follow` for `logs`).
    static let switches: Set<String> = ["-q", "--quiet", "--no-trunc"]
}
