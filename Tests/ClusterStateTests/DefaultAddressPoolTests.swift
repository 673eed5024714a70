import Foundation
import XCTest
@testable import ClusterState

/// `init --default-addr-pool`: the pool the apply carves overlay and ingress subnets from (ingress
/// first, then next-fit, pool after pool, skipping subnets given explicitly), the same on every
/// replica and after a snapshot, exhaustion named, and bad values refused naming the setting.
final class DefaultAddressPoolTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func node(_ id: String) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .worker),
             description: NodeDescription(hostname: "host-\(id)", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30), engine: .init(engineVersion: "test")),
             status: NodeStatus(state: .ready, addr: "192.0.2.\(id.count)"), managerStatus: nil)
    }

    private func initialized(_ pool: DefaultAddressPool?) -> ClusterState {
        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"), defaultAddressPool: pool)
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms", members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node("n1"), secrets: secrets), index: 1).get())
        return state
    }

    @discardableResult
    private func createNetwork(_ state: inout ClusterState, _ id: String, subnet: String? = nil) -> Result<Void, ClusterError> {
        state.apply(.createNetwork(network: Network(id: id, createdAt: t0, spec: NetworkSpec(name: id, ipam: subnet.map { [IPAMConfig(subnet: $0)] } ?? []))),
                    index: state.appliedIndex + 1)
    }

    private func subnet(_ state: ClusterState, _ id: String) -> String? { state.networking.networks[id]?.subnet.description }

    private func refusal(_ cidrs: [String], _ mask: Int? = nil) -> String {
        do {
            _ = try DefaultAddressPool(cidrs: cidrs, maskLength: mask)
            return "accepted"
        } catch {
            return error.description
        }
    }

    func testIngressAndNetworksComeFromTheGivenPoolPoolAfterPool() throws {
        let pool = try DefaultAddressPool(cidrs: ["198.51.100.0/25", "203.0.113.0/26"], maskLength: 27)
        XCTAssertEqual(pool.subnetCount, 6)
        var state = initialized(pool)
        let ingress = try XCTUnwrap(state.networking.ingressNetwork)
        XCTAssertEqual(ingress.subnet.description, "198.51.100.0/27")
        XCTAssertEqual(ingress.gateway.description, "198.51.100.1")
        XCTAssertEqual(state.networking.nodeAddresses["n1"]?[ingress.id]?.description, "198.51.100.2")
        XCTAssertNoThrow(try createNetwork(&state, "a").get())
        XCTAssertNoThrow(try createNetwork(&state, "b", subnet: "198.51.100.64/27").get())
        XCTAssertNoThrow(try createNetwork(&state, "c").get())
        XCTAssertNoThrow(try createNetwork(&state, "d").get())
        XCTAssertEqual(["a", "b", "c", "d"].map { subnet(state, $0) },
                       ["198.51.100.32/27", "198.51.100.64/27", "198.51.100.96/27", "203.0.113.0/27"],
                       "c skips the subnet b was given; d continues in the second pool")
    }

    func testAnExhaustedPoolIsAClearErrorAndAFreedSubnetIsFoundAgain() throws {
        var state = initialized(try DefaultAddressPool(cidrs: ["198.51.100.0/26"], maskLength: 27))
        XCTAssertNoThrow(try createNetwork(&state, "a").get())
        XCTAssertEqual(subnet(state, "a"), "198.51.100.32/27")
        guard case let .failure(error) = createNetwork(&state, "b") else { return XCTFail("a third /27 of a /26 was handed out") }
        XCTAssertEqual(error.description, "cannot create network b: every subnet of the default address pool 198.51.100.0/26 (/27 subnets) "
            + "is in use; remove networks or give this one a subnet (--subnet)")
        XCTAssertNil(state.networking.networks["b"])
        XCTAssertNoThrow(try state.apply(.removeNetwork(id: "a", at: t0), index: state.appliedIndex + 1).get())
        XCTAssertNoThrow(try createNetwork(&state, "b").get())
        XCTAssertEqual(subnet(state, "b"), "198.51.100.32/27")
    }

    func testWithoutAPoolTheDockerDefaultApplies() throws {
        let state = initialized(nil)
        XCTAssertEqual(state.networking.ingressNetwork?.subnet.description, "10.0.0.0/24")
        XCTAssertEqual(state.cluster?.addressPool, .docker)
        XCTAssertEqual(DefaultAddressPool.docker.summary, "10.0.0.0/8 (/24 subnets)")
    }

    func testEveryReplicaAndASnapshotCarveTheSameSubnets() throws {
        let pool = try DefaultAddressPool(cidrs: ["198.51.100.0/24"], maskLength: 28)
        var first = initialized(pool)
        var second = initialized(pool)
        for name in ["a", "b", "c"] {
            createNetwork(&first, name)
            createNetwork(&second, name)
        }
        XCTAssertEqual(first, second)
        var restored = try CommandCodec.decodeState(CommandCodec.encodeState(first))
        XCTAssertEqual(restored.cluster?.defaultAddressPool, pool)
        createNetwork(&restored, "d")
        createNetwork(&first, "d")
        XCTAssertEqual(subnet(restored, "d"), "198.51.100.64/28")
        XCTAssertEqual(restored, first)
    }

    func testBadPoolsAndMaskLengthsAreRefusedByName() {
        XCTAssertEqual(refusal([]), "default address pool: give at least one IPv4 subnet in CIDR form, such as 10.20.0.0/16")
        XCTAssertEqual(refusal(["198.51.100.7/24"]),
                       "default address pool 198.51.100.7/24 is not an IPv4 subnet in CIDR form without host bits: use one such as 10.20.0.0/16")
        XCTAssertEqual(refusal(["fd00::/64"]),
                       "default address pool fd00::/64 is not an IPv4 subnet in CIDR form without host bits: use one such as 10.20.0.0/16")
        XCTAssertEqual(refusal(["16.0.0.0/4"]), "default address pool 16.0.0.0/4 has a /4 prefix: use a prefix from /8 to /30")
        XCTAssertEqual(refusal(["10.0.0.0/16", "10.0.128.0/24"]),
                       "default address pool 10.0.128.0/24 overlaps the pool 10.0.0.0/16: give pools that do not overlap")
        XCTAssertEqual(refusal(["10.0.0.0/16"], 12),
                       "default address pool mask length 12 is invalid for the pool 10.0.0.0/16: use a length from 16 (the pool's own prefix) to 30")
        XCTAssertEqual(refusal(["10.0.0.0/16", "192.0.2.0/24"], 20),
                       "default address pool mask length 20 is invalid for the pool 192.0.2.0/24: use a length from 24 (the pool's own prefix) to 30")
        XCTAssertEqual(refusal(["10.0.0.0/16"], 31),
                       "default address pool mask length 31 is invalid for the pool 10.0.0.0/16: use a length from 16 (the pool's own prefix) to 30")
        XCTAssertEqual(refusal(Array(repeating: "10.0.0.0/16", count: 17)),
                       "default address pool: 17 pools were given, at most 16 are allowed")
        XCTAssertEqual(refusal(["10.0.0.0/16"], 16), "accepted", "a pool that is one subnet")
        XCTAssertEqual(refusal(["10.0.0.0/8"], 25),
                       "default address pool mask length 25 cuts the pool 10.0.0.0/8 into 2^17 subnets: use a length up to 24 (at most 65,536 subnets per pool)")
        XCTAssertEqual(refusal(["10.0.0.0/8"], 24), "accepted", "65,536 subnets, as the built-in pool")
    }

    func testADecodedPoolIsCheckedAgain() throws {
        struct Raw: Encodable {
            var Pools: [String]
            var SubnetPrefix: Int
        }
        let bytes = try JSONEncoder().encode(Raw(Pools: ["10.0.0.0/16"], SubnetPrefix: 8))
        XCTAssertThrowsError(try JSONDecoder().decode(DefaultAddressPool.self, from: bytes))
        let good = try JSONEncoder().encode(Raw(Pools: ["10.0.0.0/16"], SubnetPrefix: 20))
        XCTAssertEqual(try JSONDecoder().decode(DefaultAddressPool.self, from: good), try DefaultAddressPool(cidrs: ["10.0.0.0/16"], maskLength: 20))
    }
}
