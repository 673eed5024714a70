@testable import API
import Glibc
import Platform
import Synchronization
import XCTest

final class HTTPServerTests: XCTestCase {
    func testKeepAliveRoundTripsOverUnixSocket() throws {
        let harness = try startServer(handler: echoHandler)
        let client = HTTPClient(address: harness.address)
        for index in 0..<20 {
            let response = try client.send("POST", "/v1.41/echo", query: QueryParameters([("n", "\(index)")]), body: Array("hi".utf8))
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.bodyText, "POST /v1.41/echo n=\(index) body=hi")
        }
        XCTAssertEqual(harness.connectionCount, 1, "all requests reused one connection")
    }

    func testKeepAliveRoundTripsOverTCP() throws {
        let harness = try startServer(tcp: true, handler: echoHandler)
        XCTAssertNotEqual(harness.address.port, 0)
        let client = HTTPClient(address: harness.address)
        for _ in 0..<5 { XCTAssertEqual(try client.send("GET", "/x").bodyText, "GET /x  body=") }
        XCTAssertEqual(harness.connectionCount, 1)
    }

    func testStaleUnixSocketFileIsReplaced() throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let path = directory.path + "/stale.sock"
        _ = try Socket.listen(on: .unix(path: path))   // closed at once, file left behind
        let thread = try EventLoopThread(name: "stale")
        defer { thread.shutdown() }
        let server = try thread.loop.executeAndWait { try HTTPServer(loop: thread.loop, address: .unix(path: path), handler: echoHandler) }
        XCTAssertEqual(try HTTPClient(address: .unix(path: path)).send("GET", "/a").status, 200)
        try thread.loop.executeAndWait { server.stop() }
        XCTAssertNotEqual(access(path, F_OK), 0, "stop removes the socket file")
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let harness = try startServer(handler: echoHandler)
        let raw = try RawClient(harness.address)
        try raw.send((0..<100).map { "GET /p\($0) HTTP/1.1\r\n\r\n" }.joined())
        for index in 0..<100 {
            XCTAssertEqual(try raw.readResponse()?.bodyText, "GET /p\(index)  body=")
        }
    }

    func testAsynchronousResponderAnswersLaterOnTheLoop() throws {
        let pending = Shelf<HTTPResponder>()
        let harness = try startServer { _, responder in pending.append(responder) }
        let raw = try RawClient(harness.address)
        try raw.send("GET /slow HTTP/1.1\r\n\r\nGET /second HTTP/1.1\r\n\r\n")
        waitUntil("the first request reaches the handler") { pending.count == 1 }
        XCTAssertEqual(pending.count, 1, "the pipelined second request waits for the first answer")
        try harness.onLoop {
            let responder = pending.removeFirst()
            XCTAssertTrue(responder.isConnectionOpen)
            XCTAssertTrue(responder.respond(.text(202, "later")))
            XCTAssertFalse(responder.respond(.text(500, "twice")), "only the first answer counts")
        }
        let first = try XCTUnwrap(raw.readResponse())
        XCTAssertEqual(first.status, 202)
        XCTAssertEqual(first.bodyText, "later")
        waitUntil("the second request reaches the handler") { pending.count == 1 }
        try harness.onLoop { pending.removeFirst().respond(.text(200, "second")) }
        XCTAssertEqual(try raw.readResponse()?.bodyText, "second")
    }

    func testResponderOfAVanishedClientIsHarmless() throws {
        let pending = Shelf<HTTPResponder>()
        let harness = try startServer { _, responder in pending.append(responder) }
        do {
            let raw = try RawClient(harness.address)
            try raw.send("GET /a HTTP/1.1\r\n\r\n")
            waitUntil("the handler has the request") { pending.count == 1 }
        }
        waitUntil("the server notices the close") { harness.connectionCount == 0 }
        try harness.onLoop {
            let responder = pending[0]
            XCTAssertFalse(responder.isConnectionOpen)
            XCTAssertFalse(responder.respond(.text(200, "nobody")))
        }
    }

    func testStreamedChunkedResponse() throws {
        let streams = Shelf<HTTPResponseStream>()
        let harness = try startServer { request, responder in
            guard request.path == "/logs" else { responder.respond(.text(200, "plain")); return }
            guard let stream = responder.startStream(status: 200) else { return }
            stream.write(Array("first ".utf8))
            streams.append(stream)
        }
        nonisolated(unsafe) let client = HTTPClient(address: harness.address)
        let seen = Mutex<[String]>([])
        let reader = Thread {
            let head = try? client.stream("GET", "/logs") { piece in
                seen.withLock { $0.append(String(decoding: piece, as: UTF8.self)) }
                return true
            }
            seen.withLock { $0.append("end \(head?.status ?? 0) \(head?.headers["Transfer-Encoding"] ?? "")") }
        }
        waitUntil("the first chunk arrives") { seen.withLock { $0 } == ["first "] }
        try harness.onLoop {
            let stream = streams[0]
            stream.write(Array("second".utf8))
            stream.finish()
        }
        reader.join()
        XCTAssertEqual(seen.withLock { $0 }, ["first ", "second", "end 200 chunked"])
        XCTAssertEqual(try client.send("GET", "/again").status, 200, "the connection is reusable after the stream")
    }

    func testStreamLearnsThatTheClientLeft() throws {
        let closed = Mutex(false)
        let harness = try startServer { _, responder in
            responder.startStream()?.onClose = { closed.withLock { $0 = true } }
        }
        let raw = try RawClient(harness.address)
        try raw.send("GET /logs?follow=1 HTTP/1.1\r\n\r\n")
        XCTAssertTrue(try raw.readMore(), "the head arrives")
        raw.socket.close()
        waitUntil("onClose runs") { closed.withLock { $0 } }
    }

    func testHeadResponsesCarryNoBody() throws {
        let harness = try startServer { _, responder in responder.respond(.text(200, "OK")) }
        let raw = try RawClient(harness.address)
        try raw.send("HEAD /_ping HTTP/1.1\r\n\r\nGET /_ping HTTP/1.1\r\n\r\n")
        let head = try XCTUnwrap(raw.readResponse(isHead: true))
        XCTAssertEqual(head.headers["Content-Length"], "2")
        XCTAssertEqual(head.body, [])
        XCTAssertEqual(try raw.readResponse()?.bodyText, "OK", "the next response starts right after the HEAD headers")
    }

    func testMalformedRequestGets400JSONAndClose() throws {
        let harness = try startServer(handler: echoHandler)
        let raw = try RawClient(harness.address)
        try raw.send("THIS IS NOT HTTP\r\n\r\n")
        let response = try XCTUnwrap(raw.readResponse())
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(response.headers["Content-Type"], "application/json")
        XCTAssertEqual(response.headers["Connection"], "close")
        XCTAssertEqual(jsonBody(response)["message"]?.stringValue, "malformed request line")
        XCTAssertTrue(try raw.isClosedByPeer())
    }

    func testOversizedHeadersAndBodyGet431And413() throws {
        var configuration = HTTPServerConfiguration()
        configuration.limits = HTTPLimits(maxHeadBytes: 4096, maxBodyBytes: 1000)
        let harness = try startServer(configuration: configuration, handler: echoHandler)
        let big = try RawClient(harness.address)
        try big.send("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 10_000) + "\r\n\r\n")
        XCTAssertEqual(try big.readResponse()?.status, 431)
        let body = try RawClient(harness.address)
        try body.send("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + String(repeating: "b", count: 5000))
        XCTAssertEqual(try body.readResponse()?.status, 413)
    }

    func testChunkedRequestBodyReachesTheHandler() throws {
        let harness = try startServer(handler: echoHandler)
        let raw = try RawClient(harness.address)
        try raw.send("POST /c HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        XCTAssertEqual(try raw.readResponse()?.bodyText, "POST /c  body=abcde")
    }

    func testExpectContinueGetsInterimResponse() throws {
        let harness = try startServer(handler: echoHandler)
        let raw = try RawClient(harness.address)
        try raw.send("POST /e HTTP/1.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        XCTAssertTrue(try raw.readMore(), "100 Continue arrives before the body is sent")
        try raw.send("ok")
        XCTAssertEqual(try raw.readResponse()?.bodyText, "POST /e  body=ok")
    }

    func testIdleConnectionIsClosed() throws {
        var configuration = HTTPServerConfiguration()
        configuration.idleTimeoutMillis = 100
        let harness = try startServer(configuration: configuration, handler: echoHandler)
        let raw = try RawClient(harness.address)
        try raw.send("GET /a HTTP/1.1\r\n\r\n")
        XCTAssertEqual(try raw.readResponse()?.status, 200)
        XCTAssertTrue(try raw.isClosedByPeer())
        waitUntil("the server forgets the connection") { harness.connectionCount == 0 }
    }

    func testSlowRequestGets408() throws {
        var configuration = HTTPServerConfiguration()
        configuration.requestTimeoutMillis = 100
        let harness = try startServer(configuration: configuration, handler: echoHandler)
        let raw = try RawClient(harness.address)
        try raw.send("GET /slow HTTP/1.1\r\nX-Partial: ")
        let response = try XCTUnwrap(raw.readResponse())
        XCTAssertEqual(response.status, 408)
        XCTAssertNotNil(jsonBody(response)["message"]?.stringValue)
        XCTAssertTrue(try raw.isClosedByPeer())
    }

    func testBurstOfMalformedRequestsLeavesServerAnswering() throws {
        let harness = try startServer(tcp: true, handler: echoHandler)
        let garbage = ["\u{0}\u{1}\u{2}\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                       "GET / HTTP/1.1\r\n: empty\r\n\r\n", "POST / HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n"]
        for index in 0..<200 {
            let raw = try RawClient(harness.address)
            try raw.send(garbage[index % garbage.count])
            let status = try raw.readResponse()?.status
            XCTAssertTrue(status == 400 || status == 505, "request \(index) got \(String(describing: status))")
        }
        let client = HTTPClient(address: harness.address)
        XCTAssertEqual(try client.send("GET", "/still-here").bodyText, "GET /still-here  body=")
        waitUntil("the malformed connections are gone") { harness.connectionCount <= 1 }
    }

    func testConnectionLimitRefusesExtraClients() throws {
        var configuration = HTTPServerConfiguration()
        configuration.maxConnections = 2
        let harness = try startServer(configuration: configuration, handler: echoHandler)
        let first = HTTPClient(address: harness.address)
        let second = HTTPClient(address: harness.address)
        XCTAssertEqual(try first.send("GET", "/1").status, 200)
        XCTAssertEqual(try second.send("GET", "/2").status, 200)
        let third = try RawClient(harness.address)
        try? third.send("GET /3 HTTP/1.1\r\n\r\n")
        XCTAssertNil(try third.readResponse())
        XCTAssertEqual(try first.send("GET", "/1").status, 200)
    }
}

/// A thread for a blocking client in a test; `join` waits for it.
final class Thread: @unchecked Sendable {
    private let thread: PlatformThread

    init(_ body: @escaping @Sendable () -> Void) {
        thread = PlatformThread(name: "test-client", body)
    }

    func join() { thread.join() }
}
