// wire-bench: CPU of decoding what the write path decodes, by the hand-written fast path
// (`WireFastDecodable`) and by the `Codable` path, interleaved in one process.
//
//   wire-bench [--rounds N] [--services N] [--repeats N]
//       ns per `ClusterCommand.createService` as the benchmark writes it (replicas-0 service,
//       name, one label, image, args) and for a service with every field set, and µs per
//       `[String: Service]` of N services (a snapshot's bulk); the two paths alternate run by run,
//       medians and minimums of the repeats, and their ratios. Each decoded value is checked
//       against the other path first.
//   wire-bench --profile fast|codable [--rounds N]
//       Only decodes the benchmark command N times by one path (for `perf record`).
import ClusterState
import Foundation
import Wire

func option(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let position = arguments.firstIndex(of: name), position + 1 < arguments.count,
          let value = Int(arguments[position + 1]) else { return fallback }
    return value
}

let rounds = option("--rounds", 5_000)
let serviceCount = option("--services", 1_000)
let repeats = option("--repeats", 15)
let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

func benchmarkService(_ index: Int) -> Service {
    let spec = ServiceSpec(name: "w\(index)", labels: ["v": "\(index * 7919)"],
                           taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "3600"])),
                           mode: .replicated(replicas: 0))
    return Service(id: "svc\(index)abcdefghijklmnopqrst", version: ObjectVersion(index: UInt64(index)), createdAt: t0, spec: spec)
}

func fullService(_ index: Int) -> Service {
    var container = ContainerSpec(image: "registry.example/team/app:1.2.3", labels: ["team": "a", "tier": "web"],
                                  command: ["/bin/app"], args: ["--port", "8080"], hostname: "app", env: ["A=1", "B=2", "C=3"],
                                  dir: "/srv", user: "1000", initProcess: true, stopGracePeriod: 10_000_000_000,
                                  stopSignal: "SIGTERM", healthcheck: HealthConfig(test: ["CMD", "true"], interval: 1_000_000_000),
                                  isolation: "default")
    container.mounts = [Mount(type: "volume", source: "data", target: "/data")]
    container.dnsConfig = DNSConfig(nameservers: ["192.0.2.53"])
    container.secrets = [SecretReference(file: PayloadFile(name: "s"), secretID: "sec1", secretName: "s")]
    let template = TaskTemplate(containerSpec: container,
                                resources: ResourceRequirements(limits: ResourceAmounts(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 28)),
                                restartPolicy: RestartPolicy(condition: .any, delay: 5_000_000_000, maxAttempts: 0),
                                placement: Placement(constraints: ["node.role==worker"]),
                                networks: [NetworkAttachmentConfig(target: "net1", aliases: ["app"])])
    let spec = ServiceSpec(name: "full\(index)", labels: ["a": "1", "b": "2"], taskTemplate: template, mode: .replicated(replicas: 3),
                           updateConfig: .dockerDefault, rollbackConfig: .dockerDefault,
                           endpointSpec: EndpointSpec(mode: "vip", ports: [PortConfig(protocol: "tcp", targetPort: 80, publishedPort: 8080)]))
    var service = Service(id: "full\(index)abcdefghijklmnopq", version: ObjectVersion(index: UInt64(index)), createdAt: t0, spec: spec)
    service.endpoint = ServiceEndpoint(spec: spec.endpointSpec!, ports: spec.endpointSpec!.ports!,
                                       virtualIPs: [VirtualIP(networkID: "net1", addr: "10.0.1.2/24")])
    return service
}

let codable: WireDecoder = {
    var decoder = WireDecoder()
    decoder.usesFastPaths = false
    return decoder
}()
let fast = WireDecoder()

/// ns per call of `body` for one timed run of `count` calls.
func timed(_ count: Int, _ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<count { try body() }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(count)
}

/// Both paths timed in alternation (`repeats` runs each), so a busy machine slows both alike;
/// prints min and median of each and the ratio of the medians.
func compare<T: Decodable & Equatable>(_ name: String, _ type: T.Type, _ bytes: [UInt8], count: Int, unit: Double, _ unitName: String) throws {
    guard try fast.decode(type, from: bytes) == codable.decode(type, from: bytes) else {
        fatalError("\(name): the two paths decode different values")
    }
    var fastRuns: [Double] = [], codableRuns: [Double] = []
    for _ in 0..<repeats {
        fastRuns.append(try timed(count) { _ = try fast.decode(type, from: bytes) })
        codableRuns.append(try timed(count) { _ = try codable.decode(type, from: bytes) })
    }
    fastRuns.sort()
    codableRuns.sort()
    func fixed(_ value: Double) -> String { String(Double((value * 100).rounded()) / 100) }
    let fastMedian = fastRuns[repeats / 2], codableMedian = codableRuns[repeats / 2]
    print("\(name) (\(bytes.count) B): fast \(fixed(fastMedian / unit)) \(unitName) (min \(fixed(fastRuns[0] / unit))), "
          + "Codable \(fixed(codableMedian / unit)) \(unitName) (min \(fixed(codableRuns[0] / unit))), "
          + "Codable/fast \(fixed(codableMedian / fastMedian))× (of the minimums \(fixed(codableRuns[0] / fastRuns[0]))×)")
}

// `--profile fast|codable`: decode the benchmark command with one path only, for `perf record`.
if let position = CommandLine.arguments.firstIndex(of: "--profile"), position + 1 < CommandLine.arguments.count {
    let decoder = CommandLine.arguments[position + 1] == "fast" ? fast : codable
    let bytes = CommandCodec.encode(.createService(service: benchmarkService(1)))
    for _ in 0..<rounds { _ = try decoder.decode(ClusterCommand.self, from: bytes) }
    exit(0)
}

let encoder = WireEncoder()
try compare("createService, benchmark spec", ClusterCommand.self,
            CommandCodec.encode(.createService(service: benchmarkService(1))), count: rounds, unit: 1, "ns")
try compare("createService, every part set", ClusterCommand.self,
            CommandCodec.encode(.createService(service: fullService(1))), count: rounds / 4, unit: 1, "ns")
var services: [String: Service] = [:]
for index in 0..<serviceCount {
    let service = index % 10 == 0 ? fullService(index) : benchmarkService(index)
    services[service.id] = service
}
try compare("[String: Service] of \(serviceCount) (1 in 10 full)", [String: Service].self, try encoder.encode(services),
            count: max(1, 20_000 / serviceCount), unit: 1000, "µs")
