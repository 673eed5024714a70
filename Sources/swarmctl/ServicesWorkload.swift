import API
import Foundation
import Glibc
import Platform
import Synchronization

/// The services workload of `chaos run`: one client creates, scales and removes services while
/// faults happen, remembering every acknowledged change. Afterwards every acknowledged change
/// must be visible (unless a later change of unknown outcome may have replaced it) and every
/// service must reconverge to its replica count.
final class ServicesWorkload: @unchecked Sendable {
    /// What the workload believes about one service: its last acknowledged replica count (nil:
    /// removed), and whether a later write's outcome is unknown (then either is acceptable).
    struct Belief {
        var replicas: Int?
        var uncertain: Bool
    }

    let apis: [String]
    let started: UInt64
    private let beliefs = Mutex<[String: Belief]>([:])
    private let stop = Atomic<Bool>(false)
    private let operations = Atomic<Int>(0)
    private let okWrites = Mutex<[Int: Int]>([:])

    init(apis: [String], started: UInt64) {
        self.apis = apis
        self.started = started
    }

    var operationCount: Int { operations.load(ordering: .relaxed) }
    var writesPerSecond: [Int: Int] { okWrites.withLock { $0 } }

    static func spec(_ name: String, replicas: Int) -> [UInt8] {
        Array(#"{"Name":"\#(name)","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"]},"RestartPolicy":{"Condition":"any","Delay":500000000}},"Mode":{"Replicated":{"Replicas":\#(replicas)}}}"#.utf8)
    }

    /// A first service the nemesis can kill tasks of.
    func prepare() throws {
        let client = HTTPClient(address: try SocketAddress(parsing: apis[0]), timeoutMillis: 10_000)
        let response = try client.send("POST", "/v1.41/services/create", body: Self.spec("chaos-web-0", replicas: 4),
                                       headers: HTTPHeaders([("Content-Type", "application/json")]))
        guard response.status == 201 else {
            throw CommandFailure(message: "could not create chaos-web-0 (\(response.status)): run chaos on a fresh testbed")
        }
        beliefs.withLock { $0["chaos-web-0"] = Belief(replicas: 4, uncertain: false) }
    }

    func start() -> [Thread] {
        let thread = Thread { [self] in loop() }
        thread.start()
        return [thread]
    }

    func finish() { stop.store(true, ordering: .relaxed) }

    private func loop() {
        var random = SystemRandomNumberGenerator()
        var sequence = 1
        var api = 0
        while !stop.load(ordering: .relaxed) {
            guard let address = try? SocketAddress(parsing: apis[api % apis.count]) else { return }
            let client = HTTPClient(address: address, timeoutMillis: 3_000)
            let known = beliefs.withLock { $0.filter { $0.value.replicas != nil }.map(\.key).sorted() }
            let choice = Int.random(in: 0..<10, using: &random)
            let ok: Bool?
            if choice < 4 || known.count < 2 {
                let name = "chaos-web-\(sequence)"
                sequence += 1
                let replicas = Int.random(in: 1...3, using: &random)
                ok = write(name, replicas: replicas) {
                    try client.send("POST", "/v1.41/services/create", body: Self.spec(name, replicas: replicas),
                                    headers: HTTPHeaders([("Content-Type", "application/json")]))
                }
            } else if choice < 8 {
                let name = known.randomElement(using: &random)!
                let replicas = Int.random(in: 0...4, using: &random)
                ok = scale(client, name, replicas: replicas)
            } else {
                let name = known.filter { $0 != "chaos-web-0" }.randomElement(using: &random) ?? "chaos-web-0"
                ok = name == "chaos-web-0" ? nil : write(name, replicas: nil) { try client.send("DELETE", "/v1.41/services/\(name)") }
            }
            operations.add(1, ordering: .relaxed)
            if ok == true { okWrites.withLock { $0[Int((monotonicNanoseconds() - started) / 1_000_000_000), default: 0] += 1 } }
            if ok != true { api += 1 }
            usleep(100_000)
        }
    }

    /// Sends one write; records an acknowledged result, or marks the service uncertain.
    private func write(_ name: String, replicas: Int?, _ send: () throws -> HTTPResponse) -> Bool {
        guard let response = try? send() else {
            beliefs.withLock { $0[name, default: Belief(replicas: nil, uncertain: true)].uncertain = true }
            return false
        }
        switch response.status {
        case 200, 201, 204:
            beliefs.withLock { $0[name] = Belief(replicas: replicas, uncertain: false) }
            return true
        case 500 where !String(decoding: response.body, as: UTF8.self).contains("out of sequence"), 503:
            beliefs.withLock { $0[name, default: Belief(replicas: nil, uncertain: true)].uncertain = true }
            return false
        default:
            return false
        }
    }

    private func scale(_ client: HTTPClient, _ name: String, replicas: Int) -> Bool {
        guard let read = try? client.send("GET", "/v1.41/services/\(name)"), read.status == 200,
              let object = try? JSONSerialization.jsonObject(with: Data(read.body)) as? [String: Any],
              let version = (object["Version"] as? [String: Any])?["Index"] as? Int else { return false }
        return write(name, replicas: replicas) {
            try client.send("POST", "/v1.41/services/\(name)/update", query: QueryParameters([("version", String(version))]),
                            body: Self.spec(name, replicas: replicas), headers: HTTPHeaders([("Content-Type", "application/json")]))
        }
    }

    /// The services as the cluster now has them: name → (replicas, running).
    private func observed() -> [String: (replicas: Int, running: Int)]? {
        for api in apis {
            guard let address = try? SocketAddress(parsing: api) else { continue }
            let client = HTTPClient(address: address, timeoutMillis: 3_000)
            guard let response = try? client.send("GET", "/v1.41/services", query: QueryParameters([("status", "true")])), response.status == 200,
                  let list = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] else { continue }
            var result: [String: (replicas: Int, running: Int)] = [:]
            for service in list {
                guard let spec = service["Spec"] as? [String: Any], let name = spec["Name"] as? String, name.hasPrefix("chaos-web-") else { continue }
                let replicas = ((spec["Mode"] as? [String: Any])?["Replicated"] as? [String: Any])?["Replicas"] as? Int ?? 0
                let running = (service["ServiceStatus"] as? [String: Any])?["RunningTasks"] as? Int ?? 0
                result[name] = (replicas, running)
            }
            return result
        }
        return nil
    }

    /// Polls until every service runs its replica count; returns a description of the outcome.
    func verifyConverged(seconds: Double) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        let began = Date()
        var last = "no manager answered"
        while Date() < deadline {
            if let seen = observed() {
                let behind = seen.filter { $0.value.running != $0.value.replicas }
                if behind.isEmpty { return String(format: "converged %.1f s after the workload stopped", Date().timeIntervalSince(began)) }
                last = "\(behind.count) services not converged: " + behind.keys.sorted().prefix(5).map { "\($0) \(seen[$0]!.running)/\(seen[$0]!.replicas)" }.joined(separator: ", ")
            }
            usleep(250_000)
        }
        return "NOT converged within \(Int(seconds)) s: \(last)"
    }

    /// Every acknowledged change is visible at the end (certain beliefs only).
    func check(convergence: String) -> ChaosVerdict {
        guard let seen = observed() else { return ChaosVerdict(passed: false, anomalies: 1, lostWrites: 0, text: "no manager answered the final read") }
        var lost: [String] = []
        for (name, belief) in beliefs.withLock({ $0 }) where !belief.uncertain {
            switch (belief.replicas, seen[name]) {
            case (nil, nil): break
            case let (expected?, actual?) where actual.replicas == expected: break
            default: lost.append("\(name): acknowledged \(belief.replicas.map { "\($0) replicas" } ?? "removal"), found \(seen[name].map { "\($0.replicas) replicas" } ?? "nothing")")
            }
        }
        let converged = convergence.hasPrefix("converged")
        var text = "services workload: \(beliefs.withLock { $0.count }) services touched; \(lost.isEmpty ? "every acknowledged change is visible" : "\(lost.count) acknowledged changes lost: \(lost.prefix(5).joined(separator: "; "))"); \(convergence)"
        if !converged { text += " (reconvergence failed)" }
        return ChaosVerdict(passed: lost.isEmpty && converged, anomalies: converged ? 0 : 1, lostWrites: lost.count, text: text)
    }
}
