import API
import ClusterState
import Foundation
import Glibc
import SwarmNode

/// `swarmctl chaos …`: faults on a running testbed (its nodes must run with chaos enabled).
/// Cluster-wide faults are composed from per-node settings: a partition is every node on one
/// side dropping what it sends to and receives from the other side.
enum ChaosCommand {
    static func run(_ rawArguments: [String]) throws -> Int32 {
        var arguments = try CommandLineArguments(rawArguments, switches: ["--one-way", "--random"])
        let directory = arguments.takeValue("--dir") ?? ProcessInfo.processInfo.environment["TESTBED_DIR"] ?? TestbedCommand.defaultDirectory
        guard let subcommand = arguments.positionals.first else {
            throw UsageError(message: "chaos needs a subcommand: partition, heal, delay, loss, duplicate, kill-node, pause-node, kill-task, pause-task, fsync-fail, fsync-slow, disk-full or skew")
        }
        let operands = Array(arguments.positionals.dropFirst())
        if subcommand == "run" { return try ChaosRun.run(&arguments, directory: directory) }
        let testbed = try ChaosTestbed(directory: directory)
        switch subcommand {
        case "partition":
            let sideA = try nodeList(arguments.takeValue("--nodes"), testbed)
            let bridge = try arguments.takeValue("--bridge").map { try nodeList($0, testbed) } ?? []
            let oneWay = arguments.takeSwitch("--one-way")
            try arguments.finish(command: "chaos partition")
            try testbed.partition(sideA, bridge: bridge, oneWay: oneWay)
            writeStandardOutput("partitioned \(sideA.joined(separator: ",")) from the rest\(oneWay ? " (one way: they cannot send)" : "")\(bridge.isEmpty ? "" : ", bridged by \(bridge.joined(separator: ","))")\n")
        case "heal":
            try arguments.finish(command: "chaos heal")
            try testbed.heal()
            writeStandardOutput("healed every node\n")
        case "delay", "loss", "duplicate":
            let from = try nodeList(arguments.takeValue("--from"), testbed)
            let to = try nodeList(arguments.takeValue("--to"), testbed)
            let jitter = try arguments.takeValue("--jitter").map { try millis($0, flag: "--jitter") } ?? 0
            try arguments.finish(command: "chaos \(subcommand)")
            guard operands.count == 1 else { throw UsageError(message: "chaos \(subcommand) needs one amount (e.g. 200ms, 20%)") }
            try testbed.linkFault(subcommand, from: from, to: to, amount: operands[0], jitter: jitter)
            writeStandardOutput("\(subcommand) \(operands[0]) from \(from.joined(separator: ",")) to \(to.joined(separator: ","))\n")
        case "kill-node":
            try arguments.finish(command: "chaos kill-node")
            guard operands.count == 1 else { throw UsageError(message: "chaos kill-node needs one node name") }
            return try TestbedCommand.act("kill", on: operands[0], directory: directory)
        case "pause-node":
            let duration = try millis(arguments.takeValue("--for") ?? "10s", flag: "--for")
            try arguments.finish(command: "chaos pause-node")
            guard operands.count == 1 else { throw UsageError(message: "chaos pause-node needs one node name") }
            try testbed.act(ChaosAction(kind: .pauseNode, forMillis: duration), on: operands[0])
            writeStandardOutput("paused \(operands[0]) for \(duration) ms\n")
        case "kill-task", "pause-task":
            let count = try arguments.takeInt("--count", in: 1...10_000) ?? 1
            try arguments.finish(command: "chaos \(subcommand)")
            guard operands.count == 1 else { throw UsageError(message: "chaos \(subcommand) needs one service") }
            let hit = try testbed.taskFault(subcommand == "kill-task" ? .killTask : .pauseTask, service: operands[0], count: count)
            writeStandardOutput("\(subcommand == "kill-task" ? "killed" : "froze") \(hit) task(s) of \(operands[0])\n")
        case "fsync-fail", "fsync-slow", "disk-full":
            let duration = try millis(arguments.takeValue("--for") ?? "10s", flag: "--for")
            let slowness = try arguments.takeValue("--by").map { try millis($0, flag: "--by") } ?? 500
            try arguments.finish(command: "chaos \(subcommand)")
            guard operands.count == 1 else { throw UsageError(message: "chaos \(subcommand) needs one node name") }
            try testbed.update(operands[0]) { settings in
                switch subcommand {
                case "fsync-fail": settings.fsyncFailForMillis = duration
                case "disk-full": settings.diskFullForMillis = duration
                default:
                    settings.fsyncSlowMillis = slowness
                    settings.fsyncSlowForMillis = duration
                }
            }
            writeStandardOutput("\(subcommand) on \(operands[0]) for \(duration) ms\n")
        case "skew":
            try arguments.finish(command: "chaos skew")
            guard operands.count == 2 else { throw UsageError(message: "chaos skew needs a node and an offset, e.g. chaos skew worker-1 +3s") }
            let text = operands[1]
            let negative = text.hasPrefix("-")
            let magnitude = try millis(text.hasPrefix("+") || negative ? String(text.dropFirst()) : text, flag: "skew")
            try testbed.update(operands[0]) { $0.clockSkewMillis = negative ? -magnitude : magnitude }
            writeStandardOutput("skewed \(operands[0])'s clock by \(text)\n")
        default:
            throw UsageError(message: "unknown chaos subcommand '\(subcommand)': see 'swarmctl chaos --help'")
        }
        return 0
    }

    static func nodeList(_ text: String?, _ testbed: ChaosTestbed) throws -> [String] {
        guard let text, !text.isEmpty else { throw UsageError(message: "name the nodes, e.g. --nodes manager-1,worker-2 (see 'swarmctl testbed ls')") }
        let names = text.split(separator: ",").map(String.init)
        for name in names where !testbed.environment.nodes.contains(name) {
            throw UsageError(message: "no node \(name) in the testbed: see 'swarmctl testbed ls'")
        }
        return names
    }

    static func millis(_ text: String, flag: String) throws -> Int {
        guard let value = Duration.parseMillis(text) else {
            throw UsageError(message: "\(flag) \(text): expected a duration such as 200ms, 10s or 1m")
        }
        return value
    }
}

/// The testbed's nodes as chaos sees them: their APIs, transport ids and current settings.
struct ChaosTestbed {
    let environment: TestbedEnvironment

    init(directory: String) throws {
        environment = try TestbedEnvironment.load(directory: directory)
    }

    func connection(_ node: String) throws -> APIConnection {
        guard let api = environment.value("\(TestbedEnvironment.prefix(node))_API") else {
            throw CommandFailure(message: "the testbed does not record \(node)'s API address")
        }
        return try APIConnection(host: api)
    }

    func status(_ node: String) throws -> ChaosStatus {
        let status = try connection(node).decode(ChaosStatus.self, "GET", "/swarmctl/chaos")
        guard status.enabled else { throw CommandFailure(message: "\(node) runs without chaos: restart it with --enable-chaos") }
        return status
    }

    /// Reads NODE's settings, lets `change` edit them, and writes them back.
    func update(_ node: String, _ change: (inout ChaosSettings) throws -> Void) throws {
        var settings = try status(node).settings
        try change(&settings)
        _ = try connection(node).request("POST", "/swarmctl/chaos", body: Array(try JSONEncoder().encode(settings)))
    }

    func act(_ action: ChaosAction, on node: String) throws {
        _ = try connection(node).request("POST", "/swarmctl/chaos/action", body: Array(try JSONEncoder().encode(action)))
    }

    /// Nodes that are running (a killed node has no pid and cannot take settings).
    var liveNodes: [String] { environment.nodes.filter { environment.pid(of: $0) != nil } }

    func partition(_ sideA: [String], bridge: [String], oneWay: Bool) throws {
        let sideB = liveNodes.filter { !sideA.contains($0) && !bridge.contains($0) }
        guard !sideB.isEmpty else { throw UsageError(message: "the partition leaves no node on the other side") }
        let idsA = try sideA.map { try status($0).transportID }
        let idsB = try sideB.map { try status($0).transportID }
        for node in sideA {
            try update(node) { settings in
                settings.dropTo = Array(Set(settings.dropTo).union(idsB)).sorted()
                if !oneWay { settings.dropFrom = Array(Set(settings.dropFrom).union(idsB)).sorted() }
            }
        }
        for node in sideB {
            try update(node) { settings in
                settings.dropFrom = Array(Set(settings.dropFrom).union(idsA)).sorted()
                if !oneWay { settings.dropTo = Array(Set(settings.dropTo).union(idsA)).sorted() }
            }
        }
    }

    func heal() throws {
        for node in liveNodes {
            _ = try connection(node).request("POST", "/swarmctl/chaos", body: Array(try JSONEncoder().encode(ChaosSettings())))
        }
    }

    func linkFault(_ kind: String, from: [String], to: [String], amount: String, jitter: Int) throws {
        let targets = try to.map { String(try status($0).transportID) }
        for node in from {
            try update(node) { settings in
                for target in targets {
                    switch kind {
                    case "delay":
                        settings.delayMillis[target] = try ChaosCommand.millis(amount, flag: "delay")
                        settings.jitterMillis[target] = jitter
                    default:
                        guard let percent = Double(amount.replacingOccurrences(of: "%", with: "")), (0...100).contains(percent) else {
                            throw UsageError(message: "\(kind) \(amount): expected a percentage such as 20%")
                        }
                        if kind == "loss" { settings.lossProbability[target] = percent / 100 } else { settings.duplicateProbability[target] = percent / 100 }
                    }
                }
            }
        }
    }

    /// Kills or freezes up to `count` running tasks of `service`, each through its own node.
    func taskFault(_ kind: ChaosAction.Kind, service: String, count: Int) throws -> Int {
        guard let manager = liveNodes.first(where: { $0.hasPrefix("manager") }) else { throw CommandFailure(message: "no manager of the testbed runs") }
        let api = try connection(manager)
        let resolved = try api.decode(Service.self, "GET", "/services/\(service)")
        let filter = "{\"service\":{\"\(resolved.id)\":true},\"desired-state\":{\"running\":true}}"
        let tasks = try api.decode([SwarmTask].self, "GET", "/tasks", query: [("filters", filter)])
            .filter { $0.status.state == .running }.sorted { $0.id < $1.id }
        var nodeNames: [String: String] = [:]
        for node in liveNodes { nodeNames[try status(node).nodeID] = node }
        var hit = 0
        for task in tasks.prefix(count) {
            guard let nodeID = task.nodeID, let node = nodeNames[nodeID] else { continue }
            try act(ChaosAction(kind: kind, taskIDs: [task.id]), on: node)
            hit += 1
        }
        guard hit > 0 else { throw CommandFailure(message: "no running task of \(service) on a live testbed node") }
        return hit
    }
}
