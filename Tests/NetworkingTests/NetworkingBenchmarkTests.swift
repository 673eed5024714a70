import Foundation
import Glibc
import Networking
import Platform
import XCTest

/// Data-path figures on the two-host netns topology, both sides in one run. Skipped unless
/// SWARMCTL_BENCH=1 (it measures, it does not check); needs root like the netns tests.
/// Results go to Benchmarks/README.md ("Overlay networking").
final class NetworkingBenchmarkTests: XCTestCase {
    func testMeshAgainstDirectDNSAndRuleLatency() throws {
        guard ProcessInfo.processInfo.environment["SWARMCTL_BENCH"] == "1" else { throw XCTSkip("benchmark: run with SWARMCTL_BENCH=1") }
        try NetnsTopology.requirements()
        let topology = try NetnsTopology()
        defer { topology.destroy() }
        try topology.apply(NetnsIntegrationTests.plan(host: 0), host: 0)
        try topology.apply(NetnsIntegrationTests.plan(host: 1), host: 1)
        for (task, host) in NetnsIntegrationTests.placement {
            try topology.serve(task, namespace: topology.taskNamespace(host: host, task: task), port: 80)
        }
        let host1 = topology.hostNamespace(0)
        // From host 1's namespace (a process on the node): the published port of host 2 (the
        // mesh: DNAT there, then over the overlay) against a2's overlay address straight.
        // Interleaved request by request, so both sides see the same machine load.
        let (mesh, direct) = try NetworkNamespace.perform(NetworkNamespace.path(host1)) { () throws -> ([Double], [Double]) in
            var mesh: [Double] = [], direct: [Double] = []
            for _ in 0..<2_000 {
                mesh.append(try Self.timed(to: NetnsTopology.underlay[1], port: 8080))
                direct.append(try Self.timed(to: NetnsIntegrationTests.addresses["a2"]!, port: 80))
            }
            return (mesh, direct)
        }
        let c1 = topology.taskNamespace(host: 0, task: "c1")
        let server = try DNSServer(upstreams: [])
        defer { server.stop() }
        try server.listen(id: "c1", namespacePath: NetworkNamespace.path(c1), view: DNSView.views(NetnsIntegrationTests.plan(host: 0))["c1"]!)
        let lookups = try NetworkNamespace.perform(NetworkNamespace.path(c1)) { () -> [Double] in
            let query = DNSMessage(id: 1, flags: DNSFlags(rawValue: 0x0100), questions: [DNSQuestion(name: ["web"], type: DNSRecordType.a)]).serialize()
            return (0..<10_000).map { _ in
                let begin = monotonicNanoseconds()
                _ = DNSTestClient.udp(query, port: 53, address: IPv4Address(127, 0, 0, 11))
                return Double(monotonicNanoseconds() - begin) / 1e6
            }
        }
        var applies: [Double] = []
        for round in 0..<20 {
            let plan = NetnsIntegrationTests.plan(host: 0, ready: round % 2 == 0 ? ["a1"] : ["a1", "a2"])
            let begin = monotonicNanoseconds()
            try topology.apply(plan, host: 0)
            applies.append(Double(monotonicNanoseconds() - begin) / 1e6)
        }
        print(report("mesh (host 2 published port)", mesh))
        print(report("direct (task overlay address)", direct))
        print(String(format: "mesh/direct requests/s ratio: %.2f", (Double(mesh.count) / mesh.reduce(0, +)) / (Double(direct.count) / direct.reduce(0, +))))
        print(report("DNS lookups at 127.0.0.11", lookups))
        print(report("readiness change applied (observe + rules)", applies))
    }

    static func timed(to address: IPv4Address, port: UInt16) throws -> Double {
        let begin = monotonicNanoseconds()
        guard NetnsTopology.requestHere(to: address, port: port) != nil else { throw NetworkingError("request to \(address):\(port) failed") }
        return Double(monotonicNanoseconds() - begin) / 1e6
    }

    func report(_ name: String, _ millis: [Double]) -> String {
        let sorted = millis.sorted()
        let total = millis.reduce(0, +) / 1000
        return String(format: "%@: %d in %.2f s = %.0f/s, p50 %.3f ms, p99 %.3f ms", name, millis.count, total, Double(millis.count) / total,
                      sorted[sorted.count / 2], sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
    }
}
