import Crypto
import Glibc
import Platform
import Raft
@testable import Transport
import XCTest

/// The cluster port's resource limits under attack: floods of idle connections from one
/// address, and many connections each holding a partial maximal frame.
final class TransportLimitsTests: XCTestCase {
    func testPreAuthTableEvictsTheSourcesOwnOldestThenTheBusiestSources() {
        var table = PreAuthTable(perSource: 2, total: 4)
        let id = { ConnectionID(rawValue: $0) }
        XCTAssertEqual(table.admit(id(1), from: 7), [])
        XCTAssertEqual(table.admit(id(2), from: 7), [])
        XCTAssertEqual(table.admit(id(3), from: 7), [id(1)], "a source over its share loses its own oldest")
        XCTAssertEqual(table.admit(id(4), from: 8), [])
        XCTAssertEqual(table.admit(id(5), from: 9), [])
        XCTAssertEqual(table.count, 4)
        XCTAssertEqual(table.admit(id(6), from: 10), [id(2)], "when full, the busiest source makes room for a new one")
        XCTAssertEqual(table.count(from: 7), 1)
        table.remove(id(6), from: 10)
        table.remove(id(99), from: 10)
        XCTAssertEqual(table.count, 3)
    }

    func testTwoThousandIdleConnectionsFromOneAddressDoNotStopAJoinOrAPeerReconnectFromAnother() throws {
        let b = try startNode("nodeb")
        let a = try startNode("nodea")
        let (bID, bAddress) = (b.id, b.address)
        try a.onLoop { $0.connect(to: bID, at: bAddress) }
        waitUntil("a links to b") { a.recorder.read { $0.connected.count } == 1 }

        let port = try XCTUnwrap(b.address.port)
        var flood: [BoundConnection] = []
        for _ in 0..<2_000 { flood.append(try BoundConnection(from: "127.0.0.2", to: port)) }
        addTeardownBlock { flood.removeAll() }
        // Connections the kernel's accept queue could not take yet keep retrying their SYNs, so
        // the flood is still arriving while the legitimate connections below are made.
        waitUntil("b is under the flood", timeoutSeconds: 30) { (try? b.onLoop { $0.refusedConnections }) ?? 0 >= 1_000 }

        // A peer reconnect from 127.0.0.1 while the flood sits in the table.
        try b.onLoop { $0.closeConnections(ofNode: "nodea", reason: "test: force a reconnect") }
        waitUntil("a reconnects despite the flood", timeoutSeconds: 15) { a.recorder.read { $0.connected.count } == 2 }
        try a.onLoop { [a] in $0.send(makeMessage(from: a.id, to: bID, index: 1), to: bID) }
        waitUntil("and its message arrives") { b.recorder.read { $0.messages.count } == 1 }

        // A join from 127.0.0.1.
        let joiner = try TLSClient(connectingTo: b.address, identity: nil)
        try joiner.handshake()
        try joiner.send(.application(ApplicationFrame(kind: 1, payload: Array("join".utf8))))
        waitUntil("the join frame arrives") { b.recorder.read { $0.applications.count } == 1 }

        let pending = try b.onLoop { $0.pendingHandshakes }
        XCTAssertLessThanOrEqual(pending, TransportConfiguration(clusterID: "c", localNodeID: 1).maxPendingHandshakesPerSource + 1,
                                 "the flooder holds at most its per-source share")
        XCTAssertTrue(b.logs.contains("from 127.0.0.2"), "evictions name the flooding source")
        XCTAssertFalse(b.logs.contains("evicted: 256 unauthenticated"), "the flood never filled the table for everyone")
    }

    func testFiftyConnectionsHoldingPartialMaximalFramesStayWithinTheMemoryBudget() throws {
        let frameLimit = 1 << 20
        let budget = 8 << 20
        let b = try startNode("nodeb") {
            $0.maxFrameSize = frameLimit
            $0.maxQueuedBytesPerPeer = 4 << 20
            $0.maxBufferedFrameBytes = budget
        }
        var clients: [TLSClient] = []
        addTeardownBlock { clients.removeAll() }
        let header: [UInt8] = withUnsafeBytes(of: UInt32(frameLimit).littleEndian, Array.init) + [FrameType.application.rawValue]
        let partial = header + [UInt8](repeating: 0x5a, count: frameLimit - 4_096)
        var maximum = 0
        for index in 0..<50 {
            let client = try TLSClient(connectingTo: b.address, identity: TestPKI.shared.identity("worker\(index)", role: .worker))
            try client.handshake()
            try? client.sendPlaintext(partial)
            clients.append(client)
            maximum = max(maximum, try b.onLoop { $0.bufferedFrameBytes })
        }
        waitUntil("every partial frame was received or refused", timeoutSeconds: 30) {
            let refused = (try? b.onLoop { $0.refusedConnections }) ?? 0
            let held = (try? b.onLoop { $0.bufferedFrameBytes }) ?? 0
            return Int(refused) + held / (frameLimit - 4_096 + Frame.headerSize) >= 50
        }
        let held = try b.onLoop { $0.bufferedFrameBytes }
        XCTAssertLessThanOrEqual(max(maximum, held), budget, "partial frames never exceed the budget")
        XCTAssertGreaterThanOrEqual(try b.onLoop { $0.refusedConnections }, 42, "connections beyond the budget were closed")
        XCTAssertTrue(b.logs.contains("frame memory budget of \(budget) bytes exhausted"))

        // Managers are outside the workers' budget: a manager's large frame still gets through.
        let a = try startNode("nodea") {
            $0.maxFrameSize = frameLimit
            $0.maxQueuedBytesPerPeer = 4 << 20
        }
        let (bID, bAddress) = (b.id, b.address)
        try a.onLoop { $0.connect(to: bID, at: bAddress) }
        let large = ApplicationFrame(kind: 1, payload: [UInt8](repeating: 7, count: frameLimit - 16))
        try a.onLoop { $0.send(application: large, to: bID) }
        waitUntil("the manager's maximal frame arrives") { b.recorder.read { $0.applications.count } == 1 }
        XCTAssertEqual(b.recorder.read { $0.applications.first?.1.peer?.nodeID }, "nodea")
    }
}
