import Crypto
import Glibc
import Platform
import Synchronization
@testable import Transport
import XCTest

/// The per-source handshake rate on the cluster port: one address starting TLS handshakes in a
/// loop gets a bounded number of them (the node's CPU is not its to spend), and a join from
/// another address goes through meanwhile.
final class HandshakeRateTests: XCTestCase {
    func testTheBucketAllowsABurstThenTheRateAndKeepsSourcesApart() {
        var limiter = HandshakeRateLimiter(perSecond: 10, burst: 3)
        let admitted = (0..<5).map { _ in limiter.admit(from: 7, nowMillis: 1_000) }
        XCTAssertEqual(admitted, [true, true, true, false, false], "a burst of 3, then nothing at the same instant")
        XCTAssertTrue(limiter.admit(from: 8, nowMillis: 1_000), "another source has its own bucket")
        XCTAssertFalse(limiter.admit(from: 7, nowMillis: 1_050), "half a token after 50 ms")
        XCTAssertTrue(limiter.admit(from: 7, nowMillis: 1_150), "one token after 100 ms at 10/s")
        XCTAssertFalse(limiter.admit(from: 7, nowMillis: 1_150))
        let later = (0..<5).map { _ in limiter.admit(from: 7, nowMillis: 60_000) }
        XCTAssertEqual(later, [true, true, true, false, false], "refills to the burst, never beyond")
        XCTAssertFalse(limiter.admit(from: 7, nowMillis: 59_000), "a clock going backwards gives nothing")
    }

    func testIdleSourcesAreForgottenSoTheTableStaysBounded() {
        var limiter = HandshakeRateLimiter(perSecond: 10, burst: 2)
        for source in 0..<UInt64(HandshakeRateLimiter.pruneThreshold) { _ = limiter.admit(from: source, nowMillis: 0) }
        XCTAssertEqual(limiter.trackedSources, HandshakeRateLimiter.pruneThreshold)
        XCTAssertTrue(limiter.admit(from: 999_999, nowMillis: 10_000))
        XCTAssertEqual(limiter.trackedSources, 1, "every refilled source was dropped, the newcomer kept")
    }

    func testAHandshakeFloodFromOneAddressIsRateLimitedAndAJoinFromAnotherGetsThrough() throws {
        let rate = 20, burst = 20
        let b = try startNode("nodeb") {
            $0.maxHandshakesPerSourcePerSecond = rate
            $0.handshakeBurstPerSource = burst
        }
        let port = try XCTUnwrap(b.address.port)
        let flood = HandshakeFlooder(source: "127.0.0.2", port: port)
        let started = monotonicNanoseconds()
        flood.start(threads: 4)
        addTeardownBlock { flood.stop() }
        waitUntil("the flood is rate limited", timeoutSeconds: 20) { (try? b.onLoop { $0.rateLimitedConnections }) ?? 0 >= 50 }

        // A join from 127.0.0.1 while the flood goes on.
        let joinStarted = monotonicNanoseconds()
        let joiner = try TLSClient(connectingTo: b.address, identity: nil)
        try joiner.handshake()
        try joiner.send(.application(ApplicationFrame(kind: 1, payload: Array("join".utf8))))
        waitUntil("the join frame arrives", timeoutSeconds: 10) { b.recorder.read { $0.applications.count } == 1 }
        let joinSeconds = Double(monotonicNanoseconds() - joinStarted) / 1e9
        XCTAssertLessThan(joinSeconds, 5, "the join was not held up by the flood")

        // Keep the flood on for 2 s in all, so the bound below covers the rate, not only the burst.
        while monotonicNanoseconds() - started < 2_000_000_000 { usleep(10_000) }
        let answered = flood.stop()
        let elapsed = Double(monotonicNanoseconds() - started) / 1e9
        let allowed = Double(burst) + Double(rate) * elapsed
        XCTAssertGreaterThan(flood.attempts, answered, "the flooder tried more than it got")
        XCTAssertLessThanOrEqual(Double(answered), allowed + Double(rate),
                                 "handshakes served to one address: \(answered) in \(elapsed) s (rate \(rate)/s, burst \(burst))")
        XCTAssertTrue(b.logs.contains("refused new connections from 127.0.0.2"), "refusals name the source")
        print("handshake flood: \(flood.attempts) attempts from 127.0.0.2, \(answered) answered in \(String(format: "%.1f", elapsed)) s; "
              + "join from 127.0.0.1 in \(String(format: "%.3f", joinSeconds)) s")
    }
}

/// Threads that connect from `source` and start a TLS handshake (a ClientHello, no certificate)
/// over and over, counting the connections the server answered with its handshake flight.
private final class HandshakeFlooder: @unchecked Sendable {
    let source: String
    let port: UInt16
    private let state = Mutex<(attempts: Int, answered: Int, stopped: Bool, running: Int)>((0, 0, false, 0))

    init(source: String, port: UInt16) {
        self.source = source
        self.port = port
    }

    var attempts: Int { state.withLock { $0.attempts } }

    func start(threads: Int) {
        for _ in 0..<threads {
            state.withLock { $0.running += 1 }
            Thread.detachNewThread { [self] in
                while !state.withLock({ $0.stopped }) {
                    let answered = (try? attempt()) ?? false
                    state.withLock {
                        $0.attempts += 1
                        if answered { $0.answered += 1 }
                    }
                }
                state.withLock { $0.running -= 1 }
            }
        }
    }

    /// Stops the threads (waiting for them) and returns how many handshakes were answered.
    @discardableResult
    func stop() -> Int {
        state.withLock { $0.stopped = true }
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while state.withLock({ $0.running }) > 0 && monotonicNanoseconds() < deadline { usleep(1_000) }
        return state.withLock { $0.answered }
    }

    /// One connection: ClientHello out, then true if the server's flight came back (it did the
    /// expensive part), false if it closed the connection first.
    private func attempt() throws -> Bool {
        let connection = try BoundConnection(from: source, to: port)
        var poller = pollfd(fd: connection.descriptor, events: Int16(POLLOUT), revents: 0)
        guard Glibc.poll(&poller, 1, 1_000) > 0 else { return false }
        let session = try TLSSession(context: try TestPKI.joinContext())
        try session.start()
        let hello = session.takeOutgoing()
        guard hello.withUnsafeBytes({ Glibc.send(connection.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == hello.count else {
            return false
        }
        poller = pollfd(fd: connection.descriptor, events: Int16(POLLIN), revents: 0)
        guard Glibc.poll(&poller, 1, 1_000) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.recv(connection.descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0
    }
}
