import Executor
import Foundation
import Networking

/// Everything a node process is configured with, from `cluster.conf` and command-line flags
/// (flags win). One key per setting; `cluster.conf.example` documents each.
public struct NodeConfiguration: Sendable, Equatable {
    public var dataDirectory: String?
    public var listenAddress: String?
    public var advertiseAddress: String?
    public var apiAddress: String?
    /// The unix API socket's group (name or gid), like dockerd's `-G`; nil: root (the owner) only.
    public var apiGroup: String?
    /// Serve a `tcp:` API without TLS (anyone who can connect is root on every node).
    public var apiInsecure = false
    /// TLS for a `tcp:` API: server certificate, its key, and the CA client certificates must chain to.
    public var apiTLSCert: String?
    public var apiTLSKey: String?
    public var apiTLSCACert: String?
    public var executor = "auto"
    /// The OCI runtime: `auto` (crun if installed, usable with this host's cgroup layout and able
    /// to keep a container after exit, else runc; see `RuntimeHostCheck`), `runc` or `crun`.
    public var runtime = "auto"
    /// Registries (HOST or HOST:PORT) image pulls reach over plain HTTP, like dockerd's.
    public var insecureRegistries: [String] = []
    public var enableChaos = false
    public var logLevel = "info"
    public var raftTickMillis = 100
    public var electionTicks = 5
    public var heartbeatTicks = 1
    public var maxInflightMessages = 256
    public var maxBytesPerMessage = 1 << 20
    public var snapshotChunkSize = 256 << 10
    public var snapshotEvery: UInt64 = 10_000
    public var snapshotRetainEntries: UInt64 = 500
    public var walSegmentSize = 64 << 20
    public var dispatcherHeartbeatMillis = 1_000
    /// `dispatcher-ack-timeout`: how long a task may stay assigned or accepted on a ready node
    /// before the leader resends it (and as long again before it marks it failed). nil: five
    /// heartbeat periods (`effectiveDispatcherAckTimeoutMillis`).
    public var dispatcherAckTimeoutMillis: Int?
    public var taskHistoryLimit = 5
    /// Node certificate validity set at `init` (nil: 90 days, Docker's default).
    public var certificateExpirySeconds: Int64?
    /// `network-prefix`: what every link, namespace and nftables table this node creates for
    /// task networking is named with (2-6 lowercase letters or digits); nil: `sw` and the first
    /// four characters of the node id, so nodes sharing a machine never collide.
    public var networkPrefix: String?
    /// `network-gateway-subnet`: the node-local bridge every task on a network also joins for
    /// outbound traffic (masqueraded), like Docker's docker_gwbridge. The node takes its first address.
    public var gatewaySubnet = NodeConfiguration.defaultGatewaySubnet
    public static let defaultGatewaySubnet = "172.30.0.0/16"
    /// `drain-delay`: how long a task on a network keeps running after the managers asked for its
    /// stop (every node dropped it from load balancing and DNS then), before it is stopped.
    public var drainDelayMillis = 2_000
    /// Every setting given explicitly (file or flag), as given: what `save(in:)` keeps so `run`
    /// restarts the node with the settings of its `init`/`join`.
    public private(set) var explicitSettings: [String: String] = [:]

    public init() {}

    /// The acknowledgement bound in force: the configured one or five heartbeat periods.
    public var effectiveDispatcherAckTimeoutMillis: Int { dispatcherAckTimeoutMillis ?? 5 * dispatcherHeartbeatMillis }

    /// Where a node keeps the settings it was started with (`DATA/node.conf`).
    public static func savedPath(in dataDirectory: String) -> String { dataDirectory + "/node.conf" }

    /// The settings saved in `dataDirectory` (if any), with `overrides`' explicit settings on top:
    /// what `run` starts with, so `--executor` and the rest given to `init`/`join` are not forgotten.
    public static func restored(in dataDirectory: String, overriddenBy overrides: NodeConfiguration) throws(ParseError) -> NodeConfiguration {
        var configuration = NodeConfiguration()
        let saved = savedPath(in: dataDirectory)
        if FileManager.default.fileExists(atPath: saved) { try configuration.load(file: saved) }
        for key in keys { if let value = overrides.explicitSettings[key] { try configuration.set(key, value) } }
        try configuration.validate()
        return configuration
    }

    /// The explicit settings as `KEY = VALUE` lines (the file format `load(file:)` reads), without
    /// the data dir (the file lives in it).
    public func savedText() -> String {
        var text = "# Written by swarmctl init/join/run: the settings this node was started with. Flags given to\n"
            + "# 'swarmctl run' override these and are saved here.\n"
        for key in Self.keys where key != "data-dir" {
            if let value = explicitSettings[key] { text += "\(key) = \(value)\n" }
        }
        return text
    }

    /// A bad key or value, with where it was found.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let message: String
        public var description: String { message }
    }

    /// Every key the file and the flags accept (flag `--KEY`).
    public static let keys = [
        "data-dir", "listen-addr", "advertise-addr", "api-addr", "api-group", "api-insecure", "api-tlscert", "api-tlskey",
        "api-tlscacert", "executor", "insecure-registries", "enable-chaos", "log-level",
        "raft-tick", "election-ticks", "heartbeat-ticks", "max-inflight-messages", "max-bytes-per-message",
        "snapshot-chunk-size", "snapshot-every", "snapshot-retain-entries", "wal-segment-size",
        "dispatcher-heartbeat", "dispatcher-ack-timeout", "task-history-limit", "cert-expiry",
        "runtime", "network-prefix", "network-gateway-subnet", "drain-delay",
    ]

    /// Keys that are switches on the command line (`--KEY` without a value; `KEY = true` in the file).
    public static let switchKeys: Set<String> = ["enable-chaos", "api-insecure"]

    /// Reads `KEY = VALUE` lines; `#` starts a comment. Unknown keys and bad values are errors
    /// naming the file and line.
    public mutating func load(file path: String) throws(ParseError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ParseError(message: "cannot read config file \(path): check the path and permissions")
        }
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ParseError(message: "\(path):\(number + 1): expected KEY = VALUE, got '\(trimmed)'")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            do {
                try set(key, value)
            } catch {
                throw ParseError(message: "\(path):\(number + 1): \(error.message)")
            }
        }
        do {
            try validate()
        } catch {
            throw ParseError(message: "\(path): \(error.message)")
        }
    }

    /// Sets one setting from its textual form (shared by the file and the flags).
    public mutating func set(_ key: String, _ value: String) throws(ParseError) {
        try apply(key, value)
        explicitSettings[key] = value
    }

    private mutating func apply(_ key: String, _ value: String) throws(ParseError) {
        switch key {
        case "data-dir": dataDirectory = value
        case "listen-addr": listenAddress = value
        case "advertise-addr": advertiseAddress = value
        case "api-addr": apiAddress = value
        case "api-group":
            guard !value.isEmpty else { throw ParseError(message: "api-group is empty: name a group, e.g. docker") }
            apiGroup = value
        case "api-insecure": apiInsecure = try Self.bool(key, value)
        case "api-tlscert": apiTLSCert = value
        case "api-tlskey": apiTLSKey = value
        case "api-tlscacert": apiTLSCACert = value
        case "executor":
            guard ["auto", "oci", "process"].contains(value) else {
                throw ParseError(message: "executor '\(value)': use auto, oci or process")
            }
            executor = value
        case "insecure-registries":
            let entries = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let problem = entries.lazy.compactMap(RegistryPolicy.validateEntry).first { throw ParseError(message: problem) }
            insecureRegistries += entries
        case "enable-chaos": enableChaos = try Self.bool(key, value)
        case "log-level":
            guard ["debug", "info", "warn", "error"].contains(value) else {
                throw ParseError(message: "log-level '\(value)': use debug, info, warn or error")
            }
            logLevel = value
        case "raft-tick": raftTickMillis = try Self.duration(key, value, minimum: 1)
        case "election-ticks": electionTicks = try Self.integer(key, value, 2...1000)
        case "heartbeat-ticks": heartbeatTicks = try Self.integer(key, value, 1...100)
        case "max-inflight-messages": maxInflightMessages = try Self.integer(key, value, 1...100_000)
        case "max-bytes-per-message": maxBytesPerMessage = try Self.size(key, value)
        case "snapshot-chunk-size": snapshotChunkSize = try Self.size(key, value)
        case "snapshot-every": snapshotEvery = UInt64(try Self.integer(key, value, 1...100_000_000))
        case "snapshot-retain-entries": snapshotRetainEntries = UInt64(try Self.integer(key, value, 0...100_000_000))
        case "wal-segment-size": walSegmentSize = try Self.size(key, value)
        case "dispatcher-heartbeat": dispatcherHeartbeatMillis = try Self.duration(key, value, minimum: 10)
        case "dispatcher-ack-timeout": dispatcherAckTimeoutMillis = try Self.duration(key, value, minimum: 1)
        case "task-history-limit": taskHistoryLimit = try Self.integer(key, value, 0...1000)
        // At least 1h, checked in `validate` (1m with enable-chaos, which may come later in the file).
        case "cert-expiry": certificateExpirySeconds = Int64(try Self.duration(key, value, minimum: 60_000) / 1000)
        case "runtime":
            guard ["auto", "runc", "crun"].contains(value) else {
                throw ParseError(message: "runtime '\(value)': use auto, runc or crun")
            }
            runtime = value
        case "network-prefix":
            do { try NetworkNames.validate(prefix: value) } catch { throw ParseError(message: "\(error.description)") }
            networkPrefix = value
        case "network-gateway-subnet":
            guard let subnet = IPv4Subnet(value), (8...29).contains(subnet.prefixLength), subnet.description == value else {
                throw ParseError(message: "network-gateway-subnet '\(value)': expected an IPv4 subnet like 172.30.0.0/16 "
                    + "(prefix length 8 to 29, no host bits set)")
            }
            gatewaySubnet = value
        case "drain-delay": drainDelayMillis = try Self.duration(key, value, minimum: 0)
        default:
            throw ParseError(message: "unknown key '\(key)': see cluster.conf.example for the keys")
        }
    }

    /// Checks the settings that constrain each other (after the file and the flags).
    public func validate() throws(ParseError) {
        if electionTicks <= heartbeatTicks {
            throw ParseError(message: "election-ticks (\(electionTicks)) must exceed heartbeat-ticks (\(heartbeatTicks))")
        }
        let tlsFiles = [apiTLSCert, apiTLSKey, apiTLSCACert]
        if tlsFiles.contains(where: { $0 != nil }) && tlsFiles.contains(where: { $0 == nil }) {
            throw ParseError(message: "api-tlscert, api-tlskey and api-tlscacert go together: give all three")
        }
        if apiInsecure && apiTLSCert != nil {
            throw ParseError(message: "api-insecure and api-tlscert contradict each other: drop one")
        }
        if let expiry = certificateExpirySeconds, expiry < ClusterSigner.minimumNodeValiditySeconds, !enableChaos {
            throw ParseError(message: "cert-expiry (\(expiry)s) must be at least 1h; shorter certificates (down to 1m) are only "
                + "for test clusters whose nodes run with enable-chaos, to exercise renewal")
        }
        if let ackTimeout = dispatcherAckTimeoutMillis, ackTimeout < 2 * dispatcherHeartbeatMillis {
            throw ParseError(message: "dispatcher-ack-timeout (\(ackTimeout) ms) must be at least twice dispatcher-heartbeat "
                + "(\(dispatcherHeartbeatMillis) ms): a node acknowledges its tasks through its heartbeats")
        }
    }

    static func bool(_ key: String, _ value: String) throws(ParseError) -> Bool {
        switch value.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw ParseError(message: "\(key) '\(value)': use true or false")
        }
    }

    static func integer(_ key: String, _ value: String, _ range: ClosedRange<Int>) throws(ParseError) -> Int {
        guard let number = Int(value), range.contains(number) else {
            throw ParseError(message: "\(key) '\(value)': expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    static func duration(_ key: String, _ value: String, minimum: Int) throws(ParseError) -> Int {
        guard let millis = Duration.parseMillis(value), millis >= minimum else {
            throw ParseError(message: "\(key) '\(value)': expected a duration like 100ms, 1s or 2m (at least \(minimum)ms)")
        }
        return millis
    }

    static func size(_ key: String, _ value: String) throws(ParseError) -> Int {
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("", 1)]
        for (suffix, scale) in units where value.hasSuffix(suffix) {
            if let number = Int(value.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), number > 0 {
                return number * scale
            }
        }
        throw ParseError(message: "\(key) '\(value)': expected a size like 64MiB, 256KiB or 4096")
    }
}

/// Docker-style durations: `1h`, `2m`, `30s`, `250ms`, `1m30s`; a bare number means seconds.
public enum Duration {
    public static func parseMillis(_ text: String) -> Int? {
        if let seconds = Double(text), seconds >= 0 { return Int(seconds * 1000) }
        var total = 0.0
        var number = ""
        var unit = ""
        func flush() -> Bool {
            guard let value = Double(number) else { return false }
            let scales: [String: Double] = ["h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1]
            guard let scale = scales[unit] else { return false }
            total += value * scale
            number = ""
            unit = ""
            return true
        }
        for character in text {
            if character.isNumber || character == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(character)
            } else {
                unit.append(character)
            }
        }
        guard !number.isEmpty, flush() else { return nil }
        return Int(total)
    }
}
