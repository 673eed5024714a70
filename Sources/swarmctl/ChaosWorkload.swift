import API
import Foundation
import Glibc
import Platform
import Synchronization

/// One operation of a chaos workload, as the linearizability checker reads it (JSON Lines):
/// invoke and complete are nanoseconds since the run started; `complete` is nil when the outcome
/// is unknown (timeout, connection lost: it may take effect at any later time, or never).
struct HistoryOperation: Codable, Sendable {
    var process: Int
    var key: String
    var kind: String
    var value: String?
    var expected: String?
    var invoke: UInt64
    var complete: UInt64?
    var outcome: String

    /// Every field is written, `null` included: the checker tells "absent" from "not recorded".
    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case process, key, kind, value, expected, invoke, complete, outcome }
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(process, forKey: .process)
        try container.encode(key, forKey: .key)
        try container.encode(kind, forKey: .kind)
        try container.encode(value, forKey: .value)
        if kind == "cas" { try container.encode(expected, forKey: .expected) }
        try container.encode(invoke, forKey: .invoke)
        try container.encode(complete, forKey: .complete)
        try container.encode(outcome, forKey: .outcome)
    }
}

/// The register workload: clients read, write and compare-and-set values held in a label of a
/// few services, through the API's versioned updates, and record every operation.
///
/// It exists because a label behind a versioned update is exactly the register users build on
/// (read-modify-write with the object version), so checking its history checks the whole path:
/// API, forwarding, Raft, apply, ReadIndex reads.
final class RegisterWorkload: @unchecked Sendable {
    let apis: [String]
    let keys: [String]
    let clients: Int
    let started: UInt64
    private let history = Mutex<[HistoryOperation]>([])
    private let stop = Atomic<Bool>(false)
    /// Successful writes per second bucket, for the availability line of the timeline.
    private let okWrites = Mutex<[Int: Int]>([:])

    init(apis: [String], keys: Int = 3, clients: Int = 6, started: UInt64) {
        self.apis = apis
        self.keys = (0..<keys).map { "chaos-register-\($0)" }
        self.clients = clients
        self.started = started
    }

    /// Creates the register services (replicas 0: the workload is about the state, not tasks),
    /// each holding "init", recorded as a first write so the checker knows the initial value.
    func prepare() throws {
        let client = HTTPClient(address: try SocketAddress(parsing: apis[0]), timeoutMillis: 10_000)
        for key in keys {
            let invoke = now()
            let response = try client.send("POST", "/v1.41/services/create", body: Self.spec(key, value: "init"),
                                           headers: HTTPHeaders([("Content-Type", "application/json")]))
            guard response.status == 201 else {
                throw CommandFailure(message: "could not create the register service \(key) (\(response.status) \(String(decoding: response.body, as: UTF8.self))): run chaos on a fresh testbed")
            }
            history.withLock {
                $0.append(HistoryOperation(process: Self.setupProcess, key: key, kind: "write", value: "init", invoke: invoke, complete: now(), outcome: "ok"))
            }
        }
    }

    static func spec(_ name: String, value: String?) -> [UInt8] {
        let labels = value.map { #"{"value":"\#($0)"}"# } ?? "{}"
        return Array(#"{"Name":"\#(name)","Labels":\#(labels),"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":0}}}"#.utf8)
    }

    func start() -> [Thread] {
        (0..<clients).map { process in
            let thread = Thread { [self] in runClient(process) }
            thread.start()
            return thread
        }
    }

    func finish() { stop.store(true, ordering: .relaxed) }

    var operations: [HistoryOperation] { history.withLock { $0 } }
    var writesPerSecond: [Int: Int] { okWrites.withLock { $0 } }

    private func now() -> UInt64 { monotonicNanoseconds() - started }

    /// The process id of the setup writes (clients use 0..<clients, then fresh ids).
    static let setupProcess = 1_000_000

    private func runClient(_ client: Int) {
        var process = client
        var random = SystemRandomNumberGenerator()
        var sequence = 0
        var api = client % apis.count
        while !stop.load(ordering: .relaxed) {
            guard let address = try? SocketAddress(parsing: apis[api]) else { return }
            let client = HTTPClient(address: address, timeoutMillis: 2_000)
            let key = keys.randomElement(using: &random)!
            sequence += 1
            let operation: HistoryOperation
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4: operation = read(client, process, key)
            case 4..<8: operation = write(client, process, key, value: "\(process)-\(sequence)")
            default: operation = compareAndSet(client, process, key, value: "\(process)-\(sequence)")
            }
            history.withLock { $0.append(operation) }
            if operation.outcome == "ok" && operation.kind != "read" {
                okWrites.withLock { $0[Int(operation.invoke / 1_000_000_000), default: 0] += 1 }
            }
            // A client that failed moves to another manager, as a real client would; after an
            // unknown outcome it continues as a new process (its old operation may still apply).
            if operation.outcome != "ok" { api = (api + 1) % apis.count }
            if operation.outcome == "unknown" { process += clients }
        }
    }

    /// The service's version and label value, or nil when the read failed.
    private func readLabel(_ client: HTTPClient, _ key: String) -> (version: Int, value: String?)?? {
        guard let response = try? client.send("GET", "/v1.41/services/\(key)") else { return nil }
        guard response.status == 200, let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let version = (object["Version"] as? [String: Any])?["Index"] as? Int else { return .some(nil) }
        let labels = (object["Spec"] as? [String: Any])?["Labels"] as? [String: String]
        return .some((version, labels?["value"]))
    }

    private func read(_ client: HTTPClient, _ process: Int, _ key: String) -> HistoryOperation {
        let invoke = now()
        switch readLabel(client, key) {
        case .some(.some(let state)):
            return HistoryOperation(process: process, key: key, kind: "read", value: state.value, invoke: invoke, complete: now(), outcome: "ok")
        default:
            // A failed read has no effect: record it as failed.
            return HistoryOperation(process: process, key: key, kind: "read", invoke: invoke, complete: now(), outcome: "fail")
        }
    }

    private func write(_ client: HTTPClient, _ process: Int, _ key: String, value: String) -> HistoryOperation {
        let invoke = now()
        guard case .some(.some(let state)) = readLabel(client, key) else {
            return HistoryOperation(process: process, key: key, kind: "write", value: value, invoke: invoke, complete: now(), outcome: "fail")
        }
        return update(client, process, key, version: state.version, value: value, kind: "write", expected: nil, invoke: invoke)
    }

    private func compareAndSet(_ client: HTTPClient, _ process: Int, _ key: String, value: String) -> HistoryOperation {
        let invoke = now()
        guard case .some(.some(let state)) = readLabel(client, key) else {
            return HistoryOperation(process: process, key: key, kind: "cas", value: value, expected: nil, invoke: invoke, complete: now(), outcome: "fail")
        }
        // The expected value is what we just read: the update's version makes the swap atomic.
        return update(client, process, key, version: state.version, value: value, kind: "cas", expected: state.value, invoke: invoke)
    }

    private func update(_ client: HTTPClient, _ process: Int, _ key: String, version: Int, value: String, kind: String,
                        expected: String?, invoke: UInt64) -> HistoryOperation {
        var operation = HistoryOperation(process: process, key: key, kind: kind, value: value, expected: expected, invoke: invoke,
                                         complete: nil, outcome: "unknown")
        guard let response = try? client.send("POST", "/v1.41/services/\(key)/update", query: QueryParameters([("version", String(version))]),
                                              body: Self.spec(key, value: value),
                                              headers: HTTPHeaders([("Content-Type", "application/json")])) else { return operation }
        switch response.status {
        case 200:
            operation.outcome = "ok"
            operation.complete = now()
        case 400, 404, 409:
            operation.outcome = "fail"
            operation.complete = now()
        case 500 where String(decoding: response.body, as: UTF8.self).contains("out of sequence"):
            operation.outcome = "fail"
            operation.complete = now()
        default:
            // 503 and timeouts: the write may or may not have been committed.
            break
        }
        return operation
    }
}
