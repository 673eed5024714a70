@testable import API
import Platform
import XCTest

final class HTTPClientTests: XCTestCase {
    func testConnectionRefusedSaysWhatToDo() throws {
        let directory = try TempDirectory()
        defer { directory.remove() }
        let client = HTTPClient(address: .unix(path: directory.path + "/none.sock"))
        XCTAssertThrowsError(try client.send("GET", "/_ping")) { error in
            let failure = error as? HTTPClientError
            XCTAssertEqual(failure?.kind, .cannotConnect)
            XCTAssertEqual(failure?.description,
                           "cannot connect to swarmctl at unix:\(directory.path)/none.sock: no such file or directory: is the node running? pass -H or set SWARMCTL_HOST")
        }
        let listener = try Socket.listen(on: .loopback(port: 0))
        let port = try XCTUnwrap(listener.address.port)
        listener.close()
        XCTAssertThrowsError(try HTTPClient(address: .loopback(port: port)).send("GET", "/_ping")) { error in
            XCTAssertEqual("\(error)", "cannot connect to swarmctl at tcp:127.0.0.1:\(port): connection refused: is the node running? pass -H or set SWARMCTL_HOST")
        }
    }

    func testReadsChunkedContentLengthAndUntilCloseBodies() throws {
        let harness = try startServer { request, responder in
            switch request.path {
            case "/chunked":
                let stream = responder.startStream()
                for piece in ["a", "bc", "def"] { stream?.write(Array(piece.utf8)) }
                stream?.finish()
            default:
                responder.respond(.text(200, String(repeating: "x", count: 100_000)))
            }
        }
        let client = HTTPClient(address: harness.address)
        XCTAssertEqual(try client.send("GET", "/chunked").bodyText, "abcdef")
        XCTAssertEqual(try client.send("GET", "/big").body.count, 100_000)

        var parser = HTTPResponseParser(isHeadRequest: false)
        var queue = ByteQueue()
        queue.append(Array("HTTP/1.0 200 OK\r\n\r\nuntil close".utf8))
        XCTAssertEqual(try parser.next(&queue), .head(status: 200, headers: HTTPHeaders()))
        XCTAssertEqual(try parser.next(&queue), .body(Array("until close".utf8)))
        XCTAssertNil(try parser.next(&queue))
        XCTAssertTrue(parser.finishAtEndOfFile())
    }

    func testReconnectsWhenTheServerClosedAnIdleConnection() throws {
        var configuration = HTTPServerConfiguration()
        configuration.idleTimeoutMillis = 50
        let harness = try startServer(configuration: configuration, handler: echoHandler)
        let client = HTTPClient(address: harness.address)
        XCTAssertEqual(try client.send("GET", "/1").status, 200)
        waitUntil("the idle connection is closed") { harness.connectionCount == 0 }
        XCTAssertEqual(try client.send("POST", "/2", body: Array("b".utf8)).bodyText, "POST /2  body=b")
    }

    func testTimesOutWhenNoAnswerComes() throws {
        let harness = try startServer { _, _ in }   // never answers
        let client = HTTPClient(address: harness.address, timeoutMillis: 100)
        XCTAssertThrowsError(try client.send("GET", "/hang")) { error in
            XCTAssertEqual((error as? HTTPClientError)?.kind, .timedOut)
            XCTAssertTrue("\(error)".contains("did not answer within 100 ms"), "\(error)")
        }
    }

    func testPathsAndQueriesAreEncoded() throws {
        let harness = try startServer(handler: echoHandler)
        let client = HTTPClient(address: harness.address)
        let response = try client.send("GET", "/services/web app", query: QueryParameters([("filters", #"{"name":{"a b":true}}"#)]))
        XCTAssertEqual(response.bodyText, #"GET /services/web app filters={"name":{"a b":true}} body="#)
    }
}
