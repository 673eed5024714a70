/// The one door between the networking code and the kernel: observe what exists under a prefix,
/// apply batched steps.
///
/// It exists so the controller and the renderers are tested with a recording fake and no root,
/// while the real implementation (`HostNetworkPlumbing`) is a thin layer of `ip -batch` and `nft -f`.
public protocol NetworkPlumbing: AnyObject {
    func observe(names: NetworkNames) throws -> ObservedNetworkState
    /// Applies the steps in order and stops at the first failure, which it throws.
    func apply(_ steps: [PlumbingStep]) throws
}

/// A fake kernel for tests: records every step and keeps a simplified model of namespaces, links,
/// forwarding entries and tables, so a second render against it shows what would be adopted.
public final class RecordingPlumbing: NetworkPlumbing {
    public private(set) var applied: [[PlumbingStep]] = []
    public var state = ObservedNetworkState()
    /// Set to make the next `apply` fail (once), as a crash half-way would.
    public var failNextApply: NetworkingError?

    public init() {}

    public func observe(names: NetworkNames) throws -> ObservedNetworkState { state }

    public func apply(_ steps: [PlumbingStep]) throws {
        if let failure = failNextApply {
            failNextApply = nil
            throw failure
        }
        applied.append(steps)
        for step in steps { model(step) }
    }

    private func model(_ step: PlumbingStep) {
        switch step {
        case let .ip(nil, lines):
            for words in lines.map({ $0.split(separator: " ").map(String.init) }) { modelIP(words) }
        case let .bridge(nil, lines):
            for words in lines.map({ $0.split(separator: " ").map(String.init) }) where words.first == "fdb" {
                let entry = ForwardingEntry(mac: words[2], destination: IPv4Address(words[6])!)
                if words[1] == "append" { state.forwardingEntries[words[4], default: []].insert(entry) }
                if words[1] == "del" { state.forwardingEntries[words[4]]?.remove(entry) }
            }
        case let .nft(nil, ruleset):
            for line in ruleset.split(separator: "\n") where line.hasPrefix("table ip ") {
                state.tables.insert(String(line.split(separator: " ")[2]))
            }
            for line in ruleset.split(separator: "\n") where line.hasPrefix("delete table ip ") && !ruleset.contains("{\n") {
                state.tables.remove(String(line.split(separator: " ")[3]))
            }
        default: break
        }
    }

    private func modelIP(_ words: [String]) {
        switch (words[0], words[1]) {
        case ("netns", "add"): state.namespaces.insert(words[2])
        case ("netns", "del"): state.namespaces.remove(words[2])
        case ("link", "add"): state.links.insert(words[2])
        case ("link", "del"):
            state.links.remove(words[2])
            state.forwardingEntries[words[2]] = nil
        default: break
        }
    }
}
