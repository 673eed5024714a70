import ClusterState

/// One placement constraint (`node.labels.zone==b`), parsed once and matched against nodes by
/// the scheduler, the global orchestrator and the constraint enforcer. Public so the API can
/// refuse a malformed constraint when the service is created instead of leaving tasks pending.
public struct PlacementConstraint: Sendable, Equatable, CustomStringConvertible {
    /// What the constraint looks at.
    public enum Key: Sendable, Equatable {
        case nodeID, hostname, role, platformOS, platformArch
        case nodeLabel(String)
    }

    public var key: Key
    public var equals: Bool
    public var value: String
    /// The text as written, for pending-reason messages.
    public var description: String

    /// Why a constraint was refused, in words a user can act on.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Parses `KEY==VALUE` or `KEY!=VALUE`; keys are case-insensitive, as in Docker.
    public static func parse(_ text: String) throws(ParseError) -> PlacementConstraint {
        let trimmed = text.trimmingSpaces
        let (equals, range): (Bool, Range<String.Index>)
        if let found = trimmed.firstRange(of: "!=") {
            (equals, range) = (false, found)
        } else if let found = trimmed.firstRange(of: "==") {
            (equals, range) = (true, found)
        } else {
            throw ParseError(description: "invalid constraint \"\(text)\": expected KEY==VALUE or KEY!=VALUE")
        }
        let rawKey = String(trimmed[..<range.lowerBound]).trimmingSpaces
        let value = String(trimmed[range.upperBound...]).trimmingSpaces
        guard !rawKey.isEmpty, !value.isEmpty, !value.contains("="), !value.contains("!") else {
            throw ParseError(description: "invalid constraint \"\(text)\": expected KEY==VALUE or KEY!=VALUE")
        }
        let key: Key
        switch rawKey.lowercased() {
        case "node.id": key = .nodeID
        case "node.hostname": key = .hostname
        case "node.role": key = .role
        case "node.platform.os": key = .platformOS
        case "node.platform.arch": key = .platformArch
        default:
            let prefix = "node.labels."
            guard rawKey.lowercased().hasPrefix(prefix), rawKey.count > prefix.count else {
                throw ParseError(description: "invalid constraint \"\(text)\": unsupported key \(rawKey)")
            }
            key = .nodeLabel(String(rawKey.dropFirst(prefix.count)))
        }
        return PlacementConstraint(key: key, equals: equals, value: value, description: "\(rawKey)\(equals ? "==" : "!=")\(value)")
    }

    /// Parses every constraint of a placement; the first error wins.
    public static func parseAll(_ texts: [String]?) throws(ParseError) -> [PlacementConstraint] {
        var parsed: [PlacementConstraint] = []
        for text in texts ?? [] { parsed.append(try parse(text)) }
        return parsed
    }

    /// Values compare case-insensitively (as Docker does); a missing label never equals anything.
    public func matches(_ node: Node) -> Bool {
        let candidates: [String]
        switch key {
        case .nodeID: candidates = [node.id]
        case .hostname: candidates = [node.description.hostname]
        case .role: candidates = [node.spec.role.rawValue]
        case .platformOS: candidates = [node.description.platform.os]
        case .platformArch: candidates = Self.architectureAliases(node.description.platform.architecture)
        case let .nodeLabel(label): candidates = node.spec.labels[label].map { [$0] } ?? []
        }
        let wanted = value.lowercased()
        let found = candidates.contains { $0.lowercased() == wanted }
        return equals ? found : !found
    }

    static func architectureAliases(_ arch: String) -> [String] {
        switch arch.lowercased() {
        case "x86_64", "amd64": ["x86_64", "amd64"]
        case "aarch64", "arm64": ["aarch64", "arm64"]
        default: [arch]
        }
    }
}

extension [PlacementConstraint] {
    /// The first constraint `node` fails, if any.
    func firstUnmet(by node: Node) -> PlacementConstraint? { first { !$0.matches(node) } }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
