import Crypto
import Foundation
import Glibc
import Platform
@testable import SwarmNode
import Transport
import XCTest

/// Memory on a real manager's cluster port under attack by what two worker machines hold (their
/// keys and certificates): 50 TLS connections each sending most of a maximum-size (16 MiB) frame
/// and then nothing. Partial frames of worker connections share one budget (and each worker
/// keeps at most 8 connections), so the manager stays under 200 MB and keeps working; the
/// memory goes back when the connections close.
final class ClusterPortFloodTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster()
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    private func residentBytes(_ pid: pid_t) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }

    private func allReady(_ count: Int) throws -> Bool {
        let nodes = try cluster.nodes(via: "m1")
        return nodes.count == count && nodes.allSatisfy { ($0["Status"] as? [String: Any])?["State"] as? String == "ready" }
    }

    func testFiftyConnectionsHoldingPartialMaximalFramesKeepTheManagerUnder200MB() throws {
        try cluster.initialize("m1")
        try cluster.join("w1", as: "worker", via: "m1")
        try cluster.join("w2", as: "worker", via: "m1")
        try cluster.waitUntil("3 nodes ready", timeoutSeconds: 40) { try self.allReady(3) }
        let member = try XCTUnwrap(cluster.members["m1"])
        let pid = try XCTUnwrap(member.process?.pid)
        let address = try SocketAddress(parsing: member.clusterAddress)
        let baseline = residentBytes(pid)
        XCTAssertGreaterThan(baseline, 0, "VmRSS of pid \(pid) is readable")

        let stolen = try ["w1", "w2"].map { try NodeCertificates.load(from: cluster.members[$0]!.dataDirectory, finishingInterruptedSave: false) }
        let contexts = try stolen.map { certificates in
            try TLSContext(role: .client, identity: TLSIdentity(chain: certificates.chain, key: certificates.key),
                           trustedRoots: certificates.roots, peerVerification: .required)
        }
        // Header: a frame of the maximum size (16 MiB), application type; then all but 4 KiB of it.
        let maximum = 16 << 20
        let header: [UInt8] = withUnsafeBytes(of: UInt32(maximum).littleEndian, Array.init) + [FrameType.application.rawValue]
        let partial = header + [UInt8](repeating: 0x5a, count: maximum - 4_096)
        var connections: [PartialFrameSender] = []
        defer { for connection in connections { connection.close() } }
        var peak = baseline
        var delivered = 0
        for index in 0..<50 {
            let connection = try PartialFrameSender(address: address, context: contexts[index % 2])
            if connection.send(partial) { delivered += 1 }
            connections.append(connection)
            peak = max(peak, residentBytes(pid))
        }
        // The last bytes are decrypted and buffered (or the connection refused) shortly after.
        let settle = Date().addingTimeInterval(5)
        while Date() < settle {
            peak = max(peak, residentBytes(pid))
            usleep(100_000)   // sampling RSS, not synchronisation
        }
        XCTAssertGreaterThan(delivered, 0, "some partial frames were sent in full")
        XCTAssertLessThan(peak, 200 << 20, "peak RSS \(peak >> 20) MiB (baseline \(baseline >> 20) MiB)")
        let log = cluster.log("m1")
        XCTAssertTrue(log.contains("frame memory budget of") || log.contains("keeping the newest"),
                      "connections beyond the limits were closed")
        try cluster.waitUntil("the manager still answers and sees its workers", timeoutSeconds: 30) { try self.allReady(3) }
        XCTAssertEqual(try cluster.cli("m1", ["service", "create", "--detach", "--name", "after", "busybox", "sleep", "60"]).status, 0,
                       "writes still go through")

        for connection in connections { connection.close() }
        connections = []
        try cluster.waitUntil("RSS returns near the baseline", timeoutSeconds: 30) { self.residentBytes(pid) < baseline + (48 << 20) }
        print("cluster-port flood: baseline \(baseline >> 20) MiB, peak \(peak >> 20) MiB, \(delivered) of 50 partial frames sent in full, "
              + "after \(residentBytes(pid) >> 20) MiB")
    }
}

/// One TLS client connection with a stolen worker certificate that writes bytes and never reads
/// application data. Blocking with `poll`; test thread only.
private final class PartialFrameSender {
    let socket: Socket
    let session: TLSSession
    private var isOpen = true

    init(address: SocketAddress, context: TLSContext) throws {
        let (socket, connected) = try Socket.connect(to: address)
        self.socket = socket
        session = try TLSSession(context: context)
        if !connected {
            guard wait(Int16(POLLOUT), millis: 5_000), socket.pendingError() == 0 else { throw CryptoError("connect to \(address) failed") }
        }
        try session.start()
        guard write(session.takeOutgoing()) else { throw CryptoError("handshake: the server closed the connection") }
        let deadline = Date().addingTimeInterval(10)
        while !session.isHandshakeComplete {
            guard Date() < deadline else { throw CryptoError("handshake timed out") }
            if !wait(Int16(POLLIN), millis: 100) { continue }
            var buffer = [UInt8](repeating: 0, count: 16_384)
            let result = try buffer.withUnsafeMutableBytes { try socket.read(into: $0) }
            switch result {
            case let .transferred(count):
                _ = try session.receive(Array(buffer[..<count]))
                _ = write(session.takeOutgoing())
            case .endOfFile: throw CryptoError("handshake: the server closed the connection")
            case .wouldBlock: continue
            }
        }
    }

    private func wait(_ events: Int16, millis: Int32) -> Bool {
        var poller = pollfd(fd: socket.descriptor, events: events, revents: 0)
        return Glibc.poll(&poller, 1, millis) > 0
    }

    /// Writes everything (waiting while the server's window is full, up to 10 s of no progress);
    /// false if the server closed the connection.
    private func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count && isOpen {
            do {
                let result = try bytes.withUnsafeBytes { try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                switch result {
                case let .transferred(count): offset += count
                case .wouldBlock, .endOfFile: if !wait(Int16(POLLOUT), millis: 10_000) { return false }
                }
            } catch {
                isOpen = false
            }
        }
        return isOpen
    }

    /// Encrypts and writes `plaintext` a slice at a time; false as soon as the server closed the
    /// connection (a refused connection costs the test little).
    func send(_ plaintext: [UInt8]) -> Bool {
        var offset = 0
        while offset < plaintext.count {
            let end = min(plaintext.count, offset + (256 << 10))
            guard (try? session.send(Array(plaintext[offset..<end]))) != nil, write(session.takeOutgoing()) else { return false }
            offset = end
        }
        return true
    }

    func close() {
        isOpen = false
        socket.close()
    }
}
