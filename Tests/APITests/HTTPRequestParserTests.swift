@testable import API
import XCTest

final class HTTPRequestParserTests: XCTestCase {
    private let post = "POST /v1.41/nodes/abc/update?version=12&x=a+b%21 HTTP/1.1\r\nHost: api.moby.localhost\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"Role\":\"mgr\"}\n"

    private func parseAll(_ chunks: [[UInt8]], limits: HTTPLimits = HTTPLimits()) throws -> [HTTPRequest] {
        var parser = HTTPRequestParser(limits: limits)
        var requests: [HTTPRequest] = []
        for chunk in chunks {
            parser.append(chunk)
            while let request = try parser.next() { requests.append(request) }
        }
        return requests
    }

    private func parseError(_ text: String, limits: HTTPLimits = HTTPLimits()) -> HTTPParseError? {
        do {
            _ = try parseAll([Array(text.utf8)], limits: limits)
            return nil
        } catch {
            return error as? HTTPParseError
        }
    }

    func testParsesRequestLineHeadersQueryAndBody() throws {
        let requests = try parseAll([Array(post.utf8)])
        XCTAssertEqual(requests.count, 1)
        let request = requests[0]
        XCTAssertEqual(request.method, "POST")
        XCTAssertEqual(request.path, "/v1.41/nodes/abc/update")
        XCTAssertEqual(request.query["version"], "12")
        XCTAssertEqual(request.query["x"], "a b!")
        XCTAssertEqual(request.headers["content-type"], "application/json")
        XCTAssertEqual(String(decoding: request.body, as: UTF8.self), "{\"Role\":\"mgr\"}\n")
        XCTAssertTrue(request.keepAlive)
    }

    func testEverySplitPointYieldsTheSameRequests() throws {
        let bytes = Array((post + "GET /_ping HTTP/1.1\r\n\r\n").utf8)
        let whole = try parseAll([bytes])
        XCTAssertEqual(whole.count, 2)
        for split in 0...bytes.count {
            XCTAssertEqual(try parseAll([Array(bytes[..<split]), Array(bytes[split...])]), whole, "split at \(split)")
        }
        XCTAssertEqual(try parseAll(bytes.map { [$0] }), whole, "one byte at a time")
    }

    func testPipelinedRequestsComeOutInOrder() throws {
        let text = (0..<50).map { "GET /r\($0) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined()
        let requests = try parseAll([Array(text.utf8)])
        XCTAssertEqual(requests.map(\.path), (0..<50).map { "/r\($0)" })
    }

    func testChunkedBodyWithExtensionsAndTrailers() throws {
        let text = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
        let bytes = Array(text.utf8)
        for split in 0...bytes.count {
            let requests = try parseAll([Array(bytes[..<split]), Array(bytes[split...])])
            XCTAssertEqual(requests.map(\.path), ["/x", "/next"], "split at \(split)")
            XCTAssertEqual(String(decoding: requests[0].body, as: UTF8.self), "hello world")
        }
    }

    func testMissingHostIsAccepted() throws {
        let requests = try parseAll([Array("GET /version HTTP/1.1\r\n\r\n".utf8)])
        XCTAssertEqual(requests.first?.path, "/version")
    }

    func testLeadingEmptyLinesAndBareLineFeedsAreTolerated() throws {
        let requests = try parseAll([Array("\r\n\nGET /a HTTP/1.1\nHost: x\n\n".utf8)])
        XCTAssertEqual(requests.map(\.path), ["/a"])
    }

    func testHTTP10ClosesUnlessKeepAliveIsAsked() throws {
        XCTAssertFalse(try parseAll([Array("GET / HTTP/1.0\r\n\r\n".utf8)])[0].keepAlive)
        XCTAssertTrue(try parseAll([Array("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".utf8)])[0].keepAlive)
        XCTAssertFalse(try parseAll([Array("GET / HTTP/1.1\r\nConnection: close\r\n\r\n".utf8)])[0].keepAlive)
    }

    func testOversizedHeadIs431EvenBeforeItEnds() {
        let limits = HTTPLimits(maxHeadBytes: 1024, maxBodyBytes: 4096)
        let header = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 2000)
        XCTAssertEqual(parseError(header, limits: limits)?.status, 431)
        XCTAssertEqual(parseError(header + "\r\n\r\n", limits: limits)?.status, 431)
    }

    func testOversizedBodyIs413ForContentLengthAndChunked() {
        let limits = HTTPLimits(maxHeadBytes: 1024, maxBodyBytes: 10)
        XCTAssertEqual(parseError("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", limits: limits)?.status, 413)
        XCTAssertEqual(parseError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n", limits: limits)?.status, 413)
    }

    func testGarbageIs400() {
        for garbage in ["\u{16}\u{03}\u{01}\u{02}\0\u{01}\0\u{01}\u{fc}\u{03}\u{03}\r\n\r\n", "hello\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/1.1 extra\r\n\r\n",
                        "GET / HTTP/1.1\r\nno colon\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
                        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                        "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "GET / HTTP/x.y\r\n\r\n"] {
            XCTAssertEqual(parseError(garbage)?.status, 400, "for \(garbage.debugDescription)")
        }
        XCTAssertEqual(parseError("PRI * HTTP/2.0\r\n\r\n")?.status, 505)
        XCTAssertEqual(parseError("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")?.status, 501)
    }

    func testErrorIsStickyAndRandomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var parser = HTTPRequestParser(limits: HTTPLimits(maxHeadBytes: 512, maxBodyBytes: 512))
            let length = Int.random(in: 0..<700, using: &generator)
            parser.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            var failed = false
            for _ in 0..<4 {
                do { _ = try parser.next() } catch { failed = true }
            }
            if failed { XCTAssertThrowsError(try parser.next()) }
        }
    }

    func testExpectContinueIsReportedOnce() throws {
        var parser = HTTPRequestParser()
        parser.append(Array("POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        XCTAssertNil(try parser.next())
        XCTAssertTrue(parser.takeContinueRequest())
        XCTAssertFalse(parser.takeContinueRequest())
        parser.append(Array("ok".utf8))
        XCTAssertEqual(try parser.next()?.body, Array("ok".utf8))
    }

    func testAbsoluteFormTargetAndPercentDecodedPath() {
        let request = HTTPRequest(method: "GET", target: "http://h:1/v1.41/services/a%3A1?filters=%7B%22name%22%3A+%5B%22web%22%5D%7D")
        XCTAssertEqual(request.path, "/v1.41/services/a:1")
        XCTAssertEqual(request.query["filters"], "{\"name\": [\"web\"]}")
    }

    func testQueryBooleansFollowDockersRule() {
        let query = QueryParameters(parsing: "a=1&b=True&c=false&d=0&e=no&f=&g=none&h=yes")
        XCTAssertEqual(["a", "b", "c", "d", "e", "f", "g", "h", "missing"].map(query.bool), [true, true, false, false, false, false, false, true, false])
    }
}
