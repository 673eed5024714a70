import Foundation
import Glibc

/// The real plumbing: each step is one tool invocation (`ip -batch`, `bridge -batch`, `nft -f`),
/// run in the node's own network namespace or, with `-n`/`ip netns exec`, in a task's.
///
/// It exists as the only code that touches the kernel's network configuration, so everything
/// above it is pure and tested with `RecordingPlumbing`.
public final class HostNetworkPlumbing: NetworkPlumbing {
    /// Where `ip netns add` keeps named namespaces.
    public static let namespaceDirectory = "/run/netns"
    /// Whether `conntrack` is installed; without it removed backends' entries expire on their own
    /// (TCP: when the connection ends; UDP: 30 s of silence) and `skippedConntrackFlushes` counts them.
    public let hasConntrack: Bool
    public private(set) var skippedConntrackFlushes = 0

    public init() {
        hasConntrack = HostNetworkPlumbing.toolExists("conntrack")
    }

    public static func toolExists(_ name: String) -> Bool {
        ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/", "/usr/local/sbin/", "/usr/local/bin/"].contains { access($0 + name, X_OK) == 0 }
    }

    public func apply(_ steps: [PlumbingStep]) throws {
        for step in steps { try apply(step) }
    }

    private func apply(_ step: PlumbingStep) throws {
        switch step {
        case let .ip(namespace, lines):
            try check(["ip"] + netns(namespace) + ["-batch", "-"], input: lines.joined(separator: "\n") + "\n")
        case let .bridge(namespace, lines):
            try check(["bridge"] + netns(namespace) + ["-batch", "-"], input: lines.joined(separator: "\n") + "\n")
        case let .nft(namespace, ruleset):
            try check(exec(namespace) + ["nft", "-f", "-"], input: ruleset)
        case let .flushConntrack(namespace, source):
            guard hasConntrack else {
                skippedConntrackFlushes += 1
                return
            }
            let output = try CommandRunner.run(exec(namespace) + ["conntrack", "-D", "--reply-src", "\(source)"])
            // conntrack exits 1 when nothing matched: that is success here.
            if !output.succeeded && !output.text.contains("0 flow entries") {
                throw NetworkingError("conntrack -D --reply-src \(source) failed: \(output.text)")
            }
        case let .sysctl(namespace, key, value):
            if namespace == nil {
                try writeSetting(key, value)
            } else {
                try check(exec(namespace) + ["sysctl", "-qw", "\(key)=\(value)"], input: "")
            }
        }
    }

    private func netns(_ namespace: String?) -> [String] { namespace.map { ["-n", $0] } ?? [] }
    private func exec(_ namespace: String?) -> [String] { namespace.map { ["ip", "netns", "exec", $0] } ?? [] }

    private func check(_ arguments: [String], input: String) throws {
        let output = try CommandRunner.run(arguments, input: input)
        guard output.succeeded else {
            let shown = input.split(separator: "\n").prefix(40).joined(separator: "\n")
            throw NetworkingError("\(arguments.joined(separator: " ")) failed (exit \(output.code)): \(output.text.trimmingCharacters(in: .whitespacesAndNewlines))\ninput was:\n\(shown)")
        }
    }

    private func writeSetting(_ key: String, _ value: String) throws {
        let path = "/proc/sys/" + key.replacingOccurrences(of: ".", with: "/")
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw NetworkingError("cannot set \(key): \(String(cString: strerror(errno))) (needs root)") }
        defer { close(descriptor) }
        let bytes = Array((value + "\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else {
            throw NetworkingError("cannot set \(key)=\(value): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: observing

    public func observe(names: NetworkNames) throws -> ObservedNetworkState {
        var state = ObservedNetworkState()
        state.namespaces = Set((try? FileManager.default.contentsOfDirectory(atPath: HostNetworkPlumbing.namespaceDirectory)) ?? [])
            .filter { $0.hasPrefix(names.namespacePrefix) }
        state.links = Set(try linkNames().filter(names.owns(link:)))
        for link in state.links where link.hasPrefix(names.prefix + "x") {
            state.forwardingEntries[link] = try forwardingEntries(device: link)
        }
        state.tables = Set(try tables().filter { $0 == names.table })
        return state
    }

    private func json(_ arguments: [String]) throws -> [[String: Any]] {
        let output = try CommandRunner.run(arguments, separateErrors: true)
        guard output.succeeded else { throw NetworkingError("\(arguments.joined(separator: " ")) failed: \(output.errors)") }
        let text = output.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return [] }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw NetworkingError("\(arguments.joined(separator: " ")) printed unexpected output: \(text.prefix(200))")
        }
        return parsed
    }

    private func linkNames() throws -> [String] {
        try json(["ip", "-j", "link", "show"]).compactMap { $0["ifname"] as? String }
    }

    private func forwardingEntries(device: String) throws -> Set<ForwardingEntry> {
        Set(try json(["bridge", "-j", "fdb", "show", "dev", device]).compactMap { entry in
            guard let mac = entry["mac"] as? String, let dst = (entry["dst"] as? String).flatMap(IPv4Address.init) else { return nil }
            return ForwardingEntry(mac: mac, destination: dst)
        })
    }

    private func tables() throws -> [String] {
        let output = try CommandRunner.run(["nft", "list", "tables", "ip"])
        guard output.succeeded else { throw NetworkingError("nft list tables failed: \(output.text): install nftables (apt-get install -y nftables)") }
        return output.text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ")
            return words.count == 3 && words[0] == "table" ? String(words[2]) : nil
        }
    }
}
