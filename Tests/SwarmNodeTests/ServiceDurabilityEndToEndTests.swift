import API
import Foundation
import Glibc
import Platform
import Synchronization
import XCTest

/// Acknowledged service writes survive every manager being killed, and versioned updates never
/// lose one another, on three real manager processes with fsync.
final class ServiceDurabilityEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func formManagers() throws {
        try cluster.initialize("m1")
        try cluster.join("m2", as: "manager", via: "m1")
        try cluster.join("m3", as: "manager", via: "m1")
        try cluster.waitUntil("3 managers ready", timeoutSeconds: 40) {
            let nodes = try self.cluster.nodes(via: "m1")
            return nodes.count == 3 && nodes.allSatisfy { $0[path: "Status", "State"] as? String == "ready" }
                && nodes.filter { $0[path: "ManagerStatus", "Reachability"] as? String == "reachable" }.count == 3
        }
    }

    private func client(_ name: String) throws -> HTTPClient {
        HTTPClient(address: try SocketAddress(parsing: cluster.members[name]!.apiAddress), timeoutMillis: 10_000)
    }

    private static func spec(name: String, label: String = "0") -> [UInt8] {
        Array(#"{"Name":"\#(name)","Labels":{"counter":"\#(label)"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"]}},"Mode":{"Replicated":{"Replicas":0}}}"#.utf8)
    }

    private func serviceNames(via name: String) throws -> [String] {
        let response = try client(name).send("GET", "/v1.41/services")
        let services = try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] ?? []
        return services.compactMap { $0[path: "Spec", "Name"] as? String }
    }

    /// Snapshots every 25 entries (encoded off the loop while writes continue) and a short
    /// retained log, so the kill lands among snapshots and restarts recover from one.
    func testEveryAcknowledgedCreateSurvivesKillingAllManagers() throws {
        let config = cluster.directory + "/snapshots.conf"
        try "snapshot-every = 25\nsnapshot-retain-entries = 10\n".write(toFile: config, atomically: true, encoding: .utf8)
        cluster.nodeFlags += ["--config", config]
        try formManagers()
        let acknowledged = Mutex<[String]>([])
        let attempts = Mutex(0)
        let stop = Atomic<Bool>(false)
        let managers = ["m1", "m2", "m3"]
        let addresses = try managers.map { try SocketAddress(parsing: cluster.members[$0]!.apiAddress) }
        let group = DispatchGroup()
        for clientIndex in 0..<4 {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                for sequence in 0..<125 where !stop.load(ordering: .relaxed) {
                    let name = "svc-\(clientIndex)-\(sequence)"
                    let client = HTTPClient(address: addresses[(clientIndex + sequence) % 3], timeoutMillis: 3_000)
                    attempts.withLock { $0 += 1 }
                    guard let response = try? client.send("POST", "/v1.41/services/create", body: Self.spec(name: name),
                                                          headers: HTTPHeaders([("Content-Type", "application/json")])) else { continue }
                    if response.status == 201 { acknowledged.withLock { $0.append(name) } }
                }
            }
        }
        try cluster.waitUntil("100 creates acknowledged", timeoutSeconds: 60) { acknowledged.withLock { $0.count } >= 100 }
        for name in managers { cluster.kill(name) }
        stop.store(true, ordering: .relaxed)
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        let before = acknowledged.withLock { $0 }

        for name in managers { try cluster.restart(name) }
        var names: [String] = []
        try cluster.waitUntil("the restarted managers answer with the services", timeoutSeconds: 40) {
            names = (try? self.serviceNames(via: "m1")) ?? []
            return !names.isEmpty
        }
        let present = Set(names)
        XCTAssertEqual(names.count, present.count, "a service exists twice")
        let lost = before.filter { !present.contains($0) }
        XCTAssertEqual(lost, [], "acknowledged creates lost after kill -9 of every manager")
        XCTAssertLessThanOrEqual(present.count, attempts.withLock { $0 })
        let snapshots = try FileSystem.list(cluster.members["m1"]!.dataDirectory + "/raft/snap")
        XCTAssertFalse(snapshots.isEmpty, "m1 took no snapshot: \(snapshots)")
    }

    func testRacingVersionedUpdatesLoseNothing() throws {
        try formManagers()
        let created = try client("m1").send("POST", "/v1.41/services/create", body: Self.spec(name: "counter"),
                                            headers: HTTPHeaders([("Content-Type", "application/json")]))
        XCTAssertEqual(created.status, 201)
        let address = ["m1", "m2", "m3"].map { cluster.members[$0]!.apiAddress }
        let successes = Atomic<Int>(0)
        let attempts = Atomic<Int>(0)
        let group = DispatchGroup()
        for clientIndex in 0..<8 {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                guard let socket = try? SocketAddress(parsing: address[clientIndex % 3]) else { return }
                let client = HTTPClient(address: socket, timeoutMillis: 10_000)
                while attempts.add(1, ordering: .relaxed).newValue <= 1_000 {
                    guard let read = try? client.send("GET", "/v1.41/services/counter"), read.status == 200,
                          let service = try? JSONSerialization.jsonObject(with: Data(read.body)) as? [String: Any],
                          let version = service[path: "Version", "Index"] as? Int,
                          let counter = (service[path: "Spec", "Labels"] as? [String: String])?["counter"].flatMap({ Int($0) }) else { continue }
                    let body = Self.spec(name: "counter", label: String(counter + 1))
                    guard let write = try? client.send("POST", "/v1.41/services/counter/update",
                                                       query: QueryParameters([("version", String(version))]), body: body,
                                                       headers: HTTPHeaders([("Content-Type", "application/json")])) else { continue }
                    if write.status == 200 { successes.add(1, ordering: .relaxed) }
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 240), .success)
        let final = try client("m2").send("GET", "/v1.41/services/counter")
        let service = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(final.body)) as? [String: Any])
        let counter = (service[path: "Spec", "Labels"] as? [String: String])?["counter"]
        XCTAssertGreaterThan(successes.load(ordering: .relaxed), 0)
        XCTAssertEqual(counter, String(successes.load(ordering: .relaxed)), "every acknowledged update is counted exactly once")
    }
}
