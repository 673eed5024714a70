import ClusterState

/// The query of `GET /events`: the `since`/`until` window and the `filters`, as dockerd reads
/// them.
///
/// It exists so the streaming route only asks `includes` and `window` questions: which kept and
/// new events to send and when to stop. Values within one filter name are alternatives; across
/// names all must hold; every `label` filter must hold (dockerd's rules).
public struct EventQuery: Sendable, Equatable {
    /// Docker's event types; a `type` filter naming anything else is refused.
    static let types: Set<String> = ["builder", "config", "container", "daemon", "image", "network", "node", "plugin",
                                     "secret", "service", "volume"]
    static let filterNames: Set<String> = ["type", "event", "label", "scope", "container", "service", "node", "image",
                                           "secret", "config", "network", "volume"]

    public var filters: DockerFilters
    /// Nanoseconds since the epoch; nil when not given.
    public var since: Int64?
    public var until: Int64?

    public static func parse(_ query: QueryParameters) -> Result<EventQuery, APIError> {
        let filters: DockerFilters
        switch DockerFilters.parse(query["filters"], allowed: filterNames) {
        case let .failure(error): return .failure(error)
        case let .success(parsed): filters = parsed
        }
        if let type = filters["type"].first(where: { !types.contains($0) }) {
            return .failure(.badRequest("invalid filter 'type=\(type)': use one of \(types.sorted().joined(separator: ", "))"))
        }
        if let scope = filters["scope"].first(where: { $0 != "local" && $0 != "swarm" }) {
            return .failure(.badRequest("invalid filter 'scope=\(scope)': use local or swarm"))
        }
        var parsed = EventQuery(filters: filters)
        for (name, keyPath) in [("since", \EventQuery.since), ("until", \EventQuery.until)] {
            guard let text = query[name], !text.isEmpty else { continue }
            guard let nanos = timestamp(text) else {
                return .failure(.badRequest("invalid value for \(name): \(text): use seconds since the epoch (SECONDS[.NANOSECONDS]) or an RFC 3339 time"))
            }
            parsed[keyPath: keyPath] = nanos
        }
        if let since = parsed.since, let until = parsed.until, since > until {
            return .failure(.badRequest("since time (\(text(since))) cannot be after until time (\(text(until)))"))
        }
        return .success(parsed)
    }

    public init(filters: DockerFilters = DockerFilters(), since: Int64? = nil, until: Int64? = nil) {
        self.filters = filters
        self.since = since
        self.until = until
    }

    /// `SECONDS[.FRACTION]` (what the docker CLI and docker-py send) or RFC 3339.
    static func timestamp(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        if let seconds = Int64(parts[0]), seconds >= 0, seconds < Int64.max / 1_000_000_000 {
            guard parts.count == 2 else { return seconds * 1_000_000_000 }
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy(\.isNumber), let digits = Int64(fraction) else { return nil }
            var nanos = digits
            for _ in fraction.count..<9 { nanos *= 10 }
            return seconds * 1_000_000_000 + nanos
        }
        return RFC3339.parse(text).map { Int64($0) * 1_000_000 }
    }

    private static func text(_ nanos: Int64) -> String {
        RFC3339.format(UInt64(max(0, nanos / 1_000_000)))
    }

    /// Whether the query asks for kept events (`since` or `until` given), as dockerd decides.
    public var wantsHistory: Bool { since != nil || until != nil }

    /// Whether `event` falls inside the window.
    public func inWindow(_ event: DockerEventMessage) -> Bool {
        event.timeNano >= (since ?? 0) && event.timeNano <= (until ?? Int64.max)
    }

    /// Whether `event` passes the filters.
    public func includes(_ event: DockerEventMessage) -> Bool {
        filters.any("type") { $0 == event.type }
            && filters.any("scope") { $0 == event.scope }
            && filters.any("event") { $0 == event.action || event.action.hasPrefix($0 + ":") }
            && filters["label"].allSatisfy { NodeFilter.label($0, in: event.actor.attributes) }
            && ["container", "service", "node", "secret", "config", "network", "volume"].allSatisfy { matchesObject($0, event) }
            && filters.any("image") { event.actor.attributes["image"]?.hasPrefix($0) == true || (event.type == "image" && event.actor.id.hasPrefix($0)) }
    }

    /// dockerd's object filters: the event is of that type and its id or name starts with the value.
    private func matchesObject(_ name: String, _ event: DockerEventMessage) -> Bool {
        filters.any(name) { value in
            event.type == name && (event.actor.id.hasPrefix(value) || event.actor.attributes["name"]?.hasPrefix(value) == true)
        }
    }
}
