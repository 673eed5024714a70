import Glibc
@testable import Platform
import Synchronization
@testable import Transport
import XCTest

/// Platform pieces the transport relies on: address parsing, the timer heap, the event loop.
final class SocketAddressTests: XCTestCase {
    func testAcceptedForms() throws {
        XCTAssertEqual(try SocketAddress(parsing: "192.0.2.5:4242"), .tcp(ipv4: 0xc000_0205, port: 4242))
        XCTAssertEqual(try SocketAddress(parsing: "tcp:127.0.0.1:1"), .loopback(port: 1))
        XCTAssertEqual(try SocketAddress(parsing: "tcp://localhost:0"), .loopback(port: 0))
        XCTAssertEqual(try SocketAddress(parsing: "localhost:65535"), .loopback(port: 65535))
        XCTAssertEqual(try SocketAddress(parsing: "unix:/run/swarm.sock"), .unix(path: "/run/swarm.sock"))
        XCTAssertEqual(try SocketAddress(parsing: "unix:///run/swarm.sock"), .unix(path: "/run/swarm.sock"))
        XCTAssertEqual(SocketAddress.tcp(ipv4: 0xc000_0201, port: 80).description, "tcp://192.0.2.1:80")
    }

    func testRejectedFormsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("192.0.2.5", "expected HOST:PORT"),
            ("192.0.2.5:", "port '' is not a number"),
            ("192.0.2.5:65536", "port '65536' is not a number"),
            ("192.0.2.5:-1", "port '-1'"),
            ("example.com:4242", "not an IPv4 literal or localhost"),
            ("256.0.0.1:1", "not an IPv4 literal"),
            ("1.2.3:1", "not an IPv4 literal"),
            ("01.2.3.4:1", "not an IPv4 literal"),
            (":4242", "the host is empty"),
            ("unix:", "path is empty"),
            ("unix://" + String(repeating: "x", count: 108), "the limit is 107"),
        ]
        for (input, fragment) in cases {
            XCTAssertThrowsError(try SocketAddress(parsing: input), input) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(input): '\(error)' lacks '\(fragment)'")
                XCTAssertTrue("\(error)".contains(input), "\(input): the error names the input")
            }
        }
    }
}

final class TimerQueueTests: XCTestCase {
    func testTimersFireInDeadlineOrderAndCancelledOnesNever() {
        var queue = TimerQueue<String>()
        _ = queue.add(deadline: 30, "c")
        let cancelled = queue.add(deadline: 10, "x")
        _ = queue.add(deadline: 20, "b")
        _ = queue.add(deadline: 10, "a")
        XCTAssertTrue(queue.cancel(cancelled))
        XCTAssertFalse(queue.cancel(cancelled))
        XCTAssertEqual(queue.nextDeadline(), 10)
        XCTAssertNil(queue.popDue(now: 9))
        var fired: [String] = []
        while let name = queue.popDue(now: 25) { fired.append(name) }
        XCTAssertEqual(fired, ["a", "b"])
        XCTAssertEqual(queue.nextDeadline(), 30)
    }

    func testRepeatingTimerRearmsAndSkipsMissedPeriods() {
        var queue = TimerQueue<Int>()
        let handle = queue.add(deadline: 100, repeatNanos: 100, 1)
        XCTAssertEqual(queue.popDue(now: 100), 1)
        XCTAssertEqual(queue.nextDeadline(), 200)
        XCTAssertEqual(queue.popDue(now: 1_000), 1, "one firing after a stall, not nine")
        XCTAssertEqual(queue.nextDeadline(), 1_100)
        queue.cancel(handle)
        XCTAssertNil(queue.nextDeadline())
    }
}

final class EventLoopTests: XCTestCase {
    private func startLoop() throws -> EventLoopThread {
        let thread = try EventLoopThread(name: "test-loop")
        addTeardownBlock { thread.shutdown() }
        return thread
    }

    func testExecuteFromManyThreadsRunsEveryTaskOnTheLoop() throws {
        let loop = try startLoop().loop
        let count = Mutex(0)
        let offLoop = Mutex(0)
        let workers = (0..<4).map { _ in
            PlatformThread(name: "submitter") {
                for _ in 0..<1_000 {
                    loop.execute {
                        if !loop.inEventLoop { offLoop.withLock { $0 += 1 } }
                        count.withLock { $0 += 1 }
                    }
                }
            }
        }
        workers.forEach { $0.join() }
        waitUntil("4000 tasks") { count.withLock { $0 } == 4_000 }
        XCTAssertEqual(offLoop.withLock { $0 }, 0)
    }

    func testTimersFireInOrderAndCancelledTimersDoNot() throws {
        let loop = try startLoop().loop
        let fired = Mutex<[String]>([])
        try loop.executeAndWait {
            loop.schedule(afterMillis: 30) { fired.withLock { $0.append("late") } }
            let cancelled = loop.schedule(afterMillis: 10) { fired.withLock { $0.append("cancelled") } }
            loop.schedule(afterMillis: 5) { fired.withLock { $0.append("early") } }
            XCTAssertTrue(loop.cancel(cancelled))
        }
        waitUntil("both timers") { fired.withLock { $0.count } == 2 }
        XCTAssertEqual(fired.withLock { $0 }, ["early", "late"])
    }

    func testRepeatingTimerFiresUntilCancelled() throws {
        let loop = try startLoop().loop
        let ticks = Mutex(0)
        let handle = try loop.executeAndWait { loop.scheduleRepeating(everyMillis: 2) { ticks.withLock { $0 += 1 } } }
        waitUntil("three ticks") { ticks.withLock { $0 } >= 3 }
        let atCancel = try loop.executeAndWait { () -> Int in
            loop.cancel(handle)
            return ticks.withLock { $0 }
        }
        // Ten periods later, no tick may have run since the cancel.
        let marker = OneShot<Bool>()
        try loop.executeAndWait { loop.schedule(afterMillis: 20) { marker.set(true) } }
        XCTAssertEqual(marker.wait(timeoutMillis: 5_000), true)
        XCTAssertEqual(ticks.withLock { $0 }, atCancel)
    }

    func testBlockingWorkCompletesOnTheLoopThread() throws {
        let loop = try startLoop().loop
        let pool = WorkerPool(threads: 2, name: "test-pool")
        addTeardownBlock { pool.shutdown() }
        let result = OneShot<(Int, Bool)>()
        try loop.executeAndWait {
            loop.blockingWork(on: pool, { () -> Int in
                precondition(!loop.inEventLoop)
                return 6 * 7
            }, completion: { outcome in
                result.set(((try? outcome.get()) ?? -1, loop.inEventLoop))
            })
        }
        let (value, onLoop) = try XCTUnwrap(result.wait(timeoutMillis: 5_000))
        XCTAssertEqual(value, 42)
        XCTAssertTrue(onLoop)
    }

    func testStoppedLoopRefusesWorkInsteadOfHanging() throws {
        let thread = try startLoop()
        thread.shutdown()
        XCTAssertFalse(thread.loop.execute {})
        XCTAssertThrowsError(try thread.loop.executeAndWait { 1 }) { XCTAssertEqual($0 as? EventLoopError, .notRunning) }
    }

    func testUnixSocketConnectsAndCarriesBytes() throws {
        let path = "/tmp/swarmctl-transport-test-\(getpid()).sock"
        let listener = try Socket.listen(on: .unix(path: path))
        defer { unlink(path) }
        let client = try RawSocket.connect(to: .unix(path: path))
        let server = try RawSocket.accept(on: listener)
        let frame = Frame.application(ApplicationFrame(kind: 3, payload: [1, 2]))
        try client.send(frame.encoded())
        XCTAssertEqual(try server.readFrame(), frame)
        client.socket.close()
        XCTAssertTrue(server.waitForClose())
    }
}

final class PeerQueueAndBackoffTests: XCTestCase {
    func testQueueDropsOldestWhenFullOfFramesOrBytes() {
        var queue = PeerQueue(maxFrames: 3, maxBytes: 10)
        for value in UInt8(1)...5 { queue.append([value]) }
        XCTAssertEqual(queue.count, 3)
        XCTAssertEqual(queue.droppedFrames, 2)
        XCTAssertEqual(queue.popFirst(), [3])
        queue.append([UInt8](repeating: 9, count: 9))
        XCTAssertEqual(queue.byteCount, 10, "frame [4] made room by bytes; [5] still fits")
        XCTAssertEqual(queue.droppedFrames, 3)
        queue.append([UInt8](repeating: 1, count: 11))
        XCTAssertEqual(queue.droppedFrames, 4, "a frame over the byte limit is dropped itself")
        XCTAssertEqual(queue.popFirst(), [5])
        XCTAssertEqual(queue.popFirst()?.count, 9)
        XCTAssertNil(queue.popFirst())
    }

    func testBackoffGrowsToTheCapWithJitterAndResets() {
        var backoff = ReconnectBackoff(initialMillis: 50, maxMillis: 2_000)
        let lows = (0..<10).map { _ in backoff.nextDelay { $0.lowerBound } }
        XCTAssertEqual(lows, [25, 50, 100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000])
        XCTAssertEqual(backoff.nextDelay { $0.upperBound }, 2_000)
        backoff.reset()
        XCTAssertEqual(backoff.nextDelay { $0.upperBound }, 50)
    }
}
