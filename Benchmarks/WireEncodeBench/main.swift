// wire-encode-bench: CPU of the Wire encodings of the write path, the hand-written fast paths against
// the `Codable` path, both in this process (same machine, same moment).
//
//   swift build -c release --product wire-encode-bench
//   .build/release/wire-encode-bench [--services 1000,10000] [--rounds 5]
//
// Prints, per round: ns to encode one `createService` command shaped like `compare-bench
// writes` (a replicas-0 busybox service with a 128-byte label), and ms to encode a snapshot
// (`ClusterState`) holding N such services, each with Codable and with fast paths, and checks
// that both give the same bytes.
import ClusterState
import Foundation
import Wire

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("wire-encode-bench: \(message)\n".utf8))
    exit(code)
}

struct Options {
    var services = [1000, 10_000]
    var rounds = 5

    init(_ arguments: [String]) {
        var index = 0
        while index + 1 < arguments.count {
            let (flag, value) = (arguments[index], arguments[index + 1])
            switch flag {
            case "--services": services = value.split(separator: ",").compactMap { Int($0) }
            case "--rounds": rounds = Int(value) ?? rounds
            default:
                fail("unknown option \(flag): use --services N,M and --rounds N", code: 2)
            }
            index += 2
        }
    }
}

/// A service as the write benchmark creates it, with its endpoint as the apply leaves it.
func benchService(_ index: Int) -> Service {
    let value = String(repeating: "v", count: 128)
    let spec = ServiceSpec(name: "bench-\(index)", labels: ["v": value],
                           taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "3600"])),
                           mode: .replicated(replicas: 0))
    let id = String(String(UInt64(index) &* 0x9E37_79B9_7F4A_7C15, radix: 36).reversed()).padding(toLength: 25, withPad: "0", startingAt: 0)
    var service = Service(id: id, version: ObjectVersion(index: UInt64(index) + 10),
                          createdAt: Timestamp(millisecondsSinceEpoch: 1_764_000_000_000 + UInt64(index)), spec: spec)
    service.endpoint = ServiceEndpoint(spec: EndpointSpec())
    return service
}

func state(services count: Int) -> ClusterState {
    var state = ClusterState()
    let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
    let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                    description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                                 resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "1")),
                    status: NodeStatus(state: .ready, addr: "127.0.0.1:4242"), managerStatus: ManagerStatus(raftID: 1, addr: "127.0.0.1:4242"))
    let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                          joinTokens: JoinTokens(worker: "W", manager: "M"))
    _ = state.apply(.initialize(cluster: cluster, firstNode: node,
                                secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: ["1": ClusterMember(nodeID: "n1")])),
                    index: 1)
    for index in 0..<count {
        if case let .failure(error) = state.apply(.createService(service: benchService(index)), index: state.appliedIndex + 1) {
            fail("the fixture's create was refused: \(error)")
        }
    }
    return state
}

func encoder(fast: Bool) -> WireEncoder {
    var encoder = WireEncoder()
    encoder.usesFastPaths = fast
    return encoder
}

/// Nanoseconds per call, after a warm-up of a tenth of the calls.
func measure(_ iterations: Int, _ body: () throws -> Int) rethrows -> Double {
    var sink = 0
    for _ in 0..<max(1, iterations / 10) { sink &+= try body() }
    let start = ContinuousClock.now
    for _ in 0..<iterations { sink &+= try body() }
    let (seconds, attoseconds) = (ContinuousClock.now - start).components
    if sink == 42 { print("") }
    return (Double(seconds) * 1e9 + Double(attoseconds) / 1e9) / Double(iterations)
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

let options = Options(Array(CommandLine.arguments.dropFirst()))
let (fast, codable) = (encoder(fast: true), encoder(fast: false))
let command = ClusterCommand.createService(service: benchService(1))
let states = options.services.map { ($0, state(services: $0)) }
for (count, state) in states {
    guard try fast.encode(state) == codable.encode(state) else { fail("snapshot bytes differ") }
    _ = count
}
guard try fast.encode(command) == codable.encode(command) else { fail("command bytes differ") }

var commandRatios: [Double] = []
var snapshotRatios: [Int: [Double]] = [:]
for round in 1...options.rounds {
    let commandCodable = try measure(50_000) { try codable.encode(command).count }
    let commandFast = try measure(50_000) { try fast.encode(command).count }
    commandRatios.append(commandCodable / commandFast)
    var line = "round \(round): createService (\(try fast.encode(command).count) B) Codable \(Int(commandCodable)) ns, fast \(Int(commandFast)) ns"
    for (count, state) in states {
        let iterations = max(3, 200_000 / count)
        let snapshotCodable = try measure(iterations) { try codable.encode(state).count }
        let snapshotFast = try measure(iterations) { try fast.encode(state).count }
        snapshotRatios[count, default: []].append(snapshotCodable / snapshotFast)
        line += "; snapshot \(count) services (\(try fast.encode(state).count / 1024) KiB) Codable "
            + "\(Int(snapshotCodable / 1e3)) µs, fast \(Int(snapshotFast / 1e3)) µs"
    }
    print(line)
}
var summary = "median Codable/fast: createService \(String(format: "%.2f", median(commandRatios)))x"
for (count, _) in states { summary += ", snapshot \(count) \(String(format: "%.2f", median(snapshotRatios[count]!)))x" }
print(summary)
