import ClusterState

/// The `filters` query parameter as dockerd reads it: URL-decoded JSON in the map form
/// (`{"role":{"manager":true}}`, the CLI) or the list form (`{"role":["manager"]}`, docker-py).
///
/// It exists so every list route validates filter names and values the same way, with dockerd's
/// `Invalid filter 'x'` message for unknown names.
public struct DockerFilters: Sendable, Equatable {
    /// Values per filter name; within a name values are alternatives, across names all must hold.
    public private(set) var values: [String: [String]]

    public init(_ values: [String: [String]] = [:]) {
        self.values = values
    }

    /// Parses `text` (absent or empty means no filters), accepting only `allowed` names.
    public static func parse(_ text: String?, allowed: Set<String>) -> Result<DockerFilters, APIError> {
        guard let text, !text.trimmingASCIIWhitespace().isEmpty else { return .success(DockerFilters()) }
        guard let document = try? JSONValue.parse(text), case let .object(members) = document else {
            return .failure(.badRequest("invalid filters: \(text.prefix(200)) is not a JSON object"))
        }
        var values: [String: [String]] = [:]
        for (name, value) in members {
            guard allowed.contains(name) else { return .failure(.badRequest("Invalid filter '\(name)'")) }
            guard let list = filterValues(value) else {
                return .failure(.badRequest("invalid filters: the value of '\(name)' must be a list of strings or a map of strings to booleans"))
            }
            values[name, default: []] += list
        }
        return .success(DockerFilters(values))
    }

    private static func filterValues(_ value: JSONValue) -> [String]? {
        switch value {
        case let .array(items):
            let strings = items.compactMap(\.stringValue)
            return strings.count == items.count ? strings : nil
        case let .object(members):
            return members.map(\.0)
        case let .string(single):
            return [single]
        default:
            return nil
        }
    }

    public subscript(name: String) -> [String] { values[name] ?? [] }

    /// True when `name` is not filtered or one of its values satisfies `matches`.
    public func any(_ name: String, _ matches: (String) -> Bool) -> Bool {
        guard let wanted = values[name], !wanted.isEmpty else { return true }
        return wanted.contains(where: matches)
    }
}

/// `GET /nodes` filters: id (prefix), name (hostname or spec name prefix), role, membership,
/// node.label (`key` or `key=value` on the spec labels), label (engine labels: nodes here have
/// none, so a label filter matches nothing).
struct NodeFilter {
    static let names: Set<String> = ["id", "name", "role", "membership", "node.label", "label"]
    let filters: DockerFilters

    static func parse(_ text: String?) -> Result<NodeFilter, APIError> {
        switch DockerFilters.parse(text, allowed: names) {
        case let .failure(error): return .failure(error)
        case let .success(filters):
            if let role = filters["role"].first(where: { NodeRole(rawValue: $0.lowercased()) == nil }) {
                return .failure(.badRequest("Invalid role '\(role)', only worker and manager are supported"))
            }
            if let membership = filters["membership"].first(where: { !["accepted", "pending"].contains($0.lowercased()) }) {
                return .failure(.badRequest("Invalid membership '\(membership)', only accepted and pending are supported"))
            }
            return .success(NodeFilter(filters: filters))
        }
    }

    func matches(_ node: Node) -> Bool {
        filters.any("id") { node.id.hasPrefix($0) }
            && filters.any("name") { node.description.hostname.hasPrefix($0) || (node.spec.name?.hasPrefix($0) ?? false) }
            && filters.any("role") { $0.lowercased() == node.spec.role.rawValue }
            && filters.any("membership") { $0.lowercased() == "accepted" }
            && filters.any("node.label") { Self.label($0, in: node.spec.labels) }
            && filters.any("label") { _ in false }
    }

    /// `key` matches if the label exists; `key=value` if it has that value.
    static func label(_ filter: String, in labels: [String: String]) -> Bool {
        let parts = filter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let value = labels[String(parts[0])] else { return false }
        return parts.count == 1 || value == parts[1]
    }
}
