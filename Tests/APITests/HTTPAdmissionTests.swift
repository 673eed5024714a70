@testable import API
import Glibc
import Platform
import Synchronization
import XCTest

/// Request heads are judged before bodies are read: only JSON bodies (a browser's `text/plain`
/// CSRF POST is refused), no browser requests, and a body budget shared by all connections.
final class HTTPAdmissionTests: XCTestCase {
    /// One entry per request the handler saw.
    private let calls = Shelf<String>()

    private func countingEcho() -> @Sendable (HTTPRequest, HTTPResponder) -> Void {
        { [calls] request, responder in
            calls.append(request.path)
            echoHandler(request, responder)
        }
    }

    func testATextPlainPostIsRefusedBeforeItsBodyIsRead() throws {
        let harness = try startServer(handler: countingEcho())
        let raw = try RawClient(harness.address)
        // What a cross-site <form enctype="text/plain"> or fetch(no-cors) sends; the body never follows.
        try raw.send("POST /v1.41/services/create HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
        let response = try XCTUnwrap(raw.readResponse())
        XCTAssertEqual(response.status, 415)
        XCTAssertTrue(jsonBody(response)["message"]?.stringValue?.contains("application/json") == true, response.bodyText)
        XCTAssertEqual(calls.count, 0, "the handler never saw it")
    }

    func testJSONBodiesWithParametersAndEmptyBodiesPass() throws {
        let harness = try startServer(handler: countingEcho())
        let raw = try RawClient(harness.address)
        for contentType in ["application/json", "application/json; charset=utf-8", "Application/JSON"] {
            try raw.send("POST /a HTTP/1.1\r\nContent-Type: \(contentType)\r\nContent-Length: 2\r\n\r\n{}")
            XCTAssertEqual(try raw.readResponse()?.status, 200, contentType)
        }
        // docker's `swarm leave --force` and docker-py: POST with no body and no Content-Type.
        try raw.send("POST /v1.41/swarm/leave?force=1 HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        XCTAssertEqual(try raw.readResponse()?.status, 200)
        XCTAssertEqual(calls.count, 4)
    }

    func testOtherBodiesAndLabelsAreRefused() throws {
        let harness = try startServer(handler: countingEcho())
        let cases = [
            "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",                                        // body without a type
            "POST /a HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n",               // empty text/plain form
            "POST /a HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b",
            "POST /a HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 2\r\n\r\n--",
            "PUT /a HTTP/1.1\r\nContent-Type: application/jsonx\r\nContent-Length: 2\r\n\r\n{}",
            "POST /a HTTP/1.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        ]
        for text in cases {
            let raw = try RawClient(harness.address)
            try raw.send(text)
            XCTAssertEqual(try raw.readResponse()?.status, 415, text)
        }
        XCTAssertEqual(calls.count, 0)
    }

    func testBrowserRequestsAreRefused() throws {
        let harness = try startServer(handler: countingEcho())
        for header in ["Origin: http://evil.example", "Sec-Fetch-Site: cross-site", "Origin: null"] {
            let raw = try RawClient(harness.address)
            try raw.send("POST /v1.41/swarm/leave?force=1 HTTP/1.1\r\n\(header)\r\nContent-Length: 0\r\n\r\n")
            let response = try XCTUnwrap(raw.readResponse())
            XCTAssertEqual(response.status, 403, header)
            XCTAssertTrue(response.bodyText.contains("web browsers"), response.bodyText)
        }
        XCTAssertEqual(calls.count, 0)
    }

    func testARouteTakesOtherBodiesOnlyWhenExemptedByName() throws {
        var configuration = HTTPServerConfiguration()
        configuration.admission.rawBodyAllowed = { method, path in method == "POST" && path == "/v1.41/images/load" }
        let harness = try startServer(configuration: configuration, handler: countingEcho())
        let tar = "POST /v1.41/images/load HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 3\r\n\r\ntar"
        let raw = try RawClient(harness.address)
        try raw.send(tar)
        XCTAssertEqual(try raw.readResponse()?.status, 200)
        let elsewhere = try RawClient(harness.address)
        try elsewhere.send(tar.replacingOccurrences(of: "/images/load", with: "/services/create"))
        XCTAssertEqual(try elsewhere.readResponse()?.status, 415)
    }

    func testBodiesShareOneBudgetThatIsGivenBackWhenAnsweredOrClosed() throws {
        var configuration = HTTPServerConfiguration()
        configuration.limits = HTTPLimits(maxHeadBytes: 4096, maxBodyBytes: 800)
        configuration.maxBufferedBodyBytes = 1000
        let pending = Shelf<HTTPResponder>()
        let harness = try startServer(configuration: configuration) { _, responder in pending.append(responder) }
        let head = "POST /b HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 600\r\n\r\n"
        let body = String(repeating: " ", count: 600)

        let holder = try RawClient(harness.address)
        try holder.send(head + body)
        waitUntil("the first body reaches the handler") { pending.count == 1 }
        XCTAssertEqual(try harness.onLoop { harness.server.bufferedBodyBytes }, 600)

        let refused = try RawClient(harness.address)
        try refused.send(head)   // no body sent: the answer must not wait for it
        let answer = try XCTUnwrap(refused.readResponse())
        XCTAssertEqual(answer.status, 503)
        XCTAssertTrue(answer.bodyText.contains("retry the request later"), answer.bodyText)

        // Closing mid-body gives its reservation back.
        let quitter = try RawClient(harness.address)
        try harness.onLoop { _ = pending.removeFirst().respond(.text(200, "done")) }
        XCTAssertEqual(try holder.readResponse()?.status, 200)
        XCTAssertEqual(try harness.onLoop { harness.server.bufferedBodyBytes }, 0, "answering released the body")
        try quitter.send(head + String(body.prefix(100)))
        waitUntil("the partial body is reserved") { (try? harness.onLoop { harness.server.bufferedBodyBytes }) == 600 }
        quitter.socket.close()
        waitUntil("closing released it") { (try? harness.onLoop { harness.server.bufferedBodyBytes }) == 0 }

        let later = try RawClient(harness.address)
        try later.send(head + body)
        waitUntil("a later body fits again") { pending.count == 1 }
    }

    func testAChunkedBodyIsChargedAsItGrows() throws {
        var configuration = HTTPServerConfiguration()
        configuration.limits = HTTPLimits(maxHeadBytes: 4096, maxBodyBytes: 100_000)
        configuration.maxBufferedBodyBytes = 1000
        let harness = try startServer(configuration: configuration, handler: echoHandler)
        let raw = try RawClient(harness.address)
        let chunk = "200\r\n" + String(repeating: "x", count: 0x200) + "\r\n"
        try raw.send("POST /c HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk + chunk)
        XCTAssertEqual(try raw.readResponse()?.status, 503)
        waitUntil("nothing stays reserved") { (try? harness.onLoop { harness.server.bufferedBodyBytes }) == 0 }
    }
}
