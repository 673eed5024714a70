@testable import API
import Glibc
import XCTest

/// The shortcuts on the request and response path give what the general rules give.
final class HTTPFastPathTests: XCTestCase {
    func testTheDateHeaderIsTheCurrentSecond() {
        let before = time(nil)
        let text = HTTPDate.now()
        let after = time(nil)
        XCTAssertTrue((before...after).map { HTTPDate.format(secondsSinceEpoch: $0) }.contains(text), text)
        XCTAssertEqual(HTTPDate.format(secondsSinceEpoch: 784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT")
    }

    func testContentLengthOfOneFieldOfDigitsAndTheOtherForms() throws {
        func length(_ values: [String]) throws(HTTPParseError) -> Int? {
            try BodyFraming.contentLength(HTTPHeaders(values.map { ("Content-Length", $0) }))
        }
        XCTAssertEqual(try length(["12"]), 12)
        XCTAssertEqual(try length(["007"]), 7)
        XCTAssertEqual(try length([" 12 "]), 12)
        XCTAssertEqual(try length(["3,3"]), 3)
        XCTAssertEqual(try length(["3", "3"]), 3)
        XCTAssertNil(try length([]))
        for bad in [["1,2"], ["3", "4"], [""], ["-1"], ["1e3"], ["1234567890123456789"], ["١٢"]] {
            XCTAssertThrowsError(try length(bad), "\(bad)") { XCTAssertEqual(($0 as? HTTPParseError)?.status, 400) }
        }
    }

    func testKeepAliveWithAndWithoutAConnectionHeader() {
        XCTAssertTrue(HTTPRequest(method: "GET", target: "/", minorVersion: 1).keepAlive)
        XCTAssertFalse(HTTPRequest(method: "GET", target: "/", minorVersion: 0).keepAlive)
        XCTAssertFalse(HTTPRequest(method: "GET", target: "/", minorVersion: 1, headers: HTTPHeaders([("connection", "Close")])).keepAlive)
        XCTAssertTrue(HTTPRequest(method: "GET", target: "/", minorVersion: 0, headers: HTTPHeaders([("Connection", "keep-alive")])).keepAlive)
    }

    func testHTTPVersions() throws {
        XCTAssertEqual(try HeadSyntax.minorVersion("HTTP/1.1"), 1)
        XCTAssertEqual(try HeadSyntax.minorVersion("HTTP/1.0"), 0)
        XCTAssertEqual(try HeadSyntax.minorVersion("HTTP/1.7"), 7)
        XCTAssertThrowsError(try HeadSyntax.minorVersion("HTTP/2.0")) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 505) }
        XCTAssertThrowsError(try HeadSyntax.minorVersion("HTTP/1.1 ")) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 400) }
    }

    func testTokenBytes() {
        let token = Set("!#$%&'*+-.^_`|~".utf8).union(UInt8(ascii: "a")...UInt8(ascii: "z")).union(UInt8(ascii: "A")...UInt8(ascii: "Z"))
            .union(UInt8(ascii: "0")...UInt8(ascii: "9"))
        for byte in UInt8.min...UInt8.max {
            XCTAssertEqual(HeadSyntax.isTokenByte(byte), token.contains(byte), "\(byte)")
        }
    }

    func testResponseHeadBytes() {
        let head = HTTPWire.responseHead(status: 201, headers: HTTPHeaders([("Content-Type", "application/json"), ("content-length", "9"),
                                                                          ("Date", "Sun, 06 Nov 1994 08:49:37 GMT")]),
                                         contentLength: 35, chunked: false, close: true)
        XCTAssertEqual(String(decoding: head, as: UTF8.self),
                       "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                       + "Content-Length: 35\r\nConnection: close\r\n\r\n")
        let streamed = String(decoding: HTTPWire.responseHead(status: 599, headers: HTTPHeaders(), contentLength: nil, chunked: true, close: false),
                              as: UTF8.self)
        XCTAssertTrue(streamed.hasPrefix("HTTP/1.1 599 Status 599\r\nDate: "), streamed)
        XCTAssertTrue(streamed.hasSuffix(" GMT\r\nTransfer-Encoding: chunked\r\n\r\n"), streamed)
    }

    func testServiceIDs() {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyz")
        var counts: [Character: Int] = [:]
        var seen = Set<String>()
        for _ in 0..<2_000 {
            let id = DockerNames.randomID()
            XCTAssertEqual(id.count, 25)
            XCTAssertTrue(id.allSatisfy(alphabet.contains), id)
            XCTAssertTrue(seen.insert(id).inserted, id)
            for character in id { counts[character, default: 0] += 1 }
        }
        // 50,000 characters: each of the 36 about 1,389 times.
        XCTAssertEqual(Set(counts.keys), alphabet)
        XCTAssertTrue(counts.values.allSatisfy { (1_150...1_650).contains($0) }, "\(counts)")
    }

    func testOnlyPrivilegedRequestsAreAudited() {
        func line(_ method: String, _ target: String) -> String? { DockerAPI.auditLine(HTTPRequest(method: method, target: target)) }
        XCTAssertNil(line("POST", "/v1.41/services/create"))
        XCTAssertNil(line("POST", "/v1.41/services/web/update?version=3"))
        XCTAssertNil(line("GET", "/v1.41/secrets"))
        XCTAssertNil(line("POST", "/v1.41/nodes/abc"))
        XCTAssertEqual(line("POST", "/v1.41/nodes/abc/update?version=2"), "API POST /nodes/abc/update?version=2 by a client of the unix socket or plain TCP")
        XCTAssertEqual(line("DELETE", "/nodes/abc"), "API DELETE /nodes/abc by a client of the unix socket or plain TCP")
        XCTAssertEqual(line("POST", "/v1.41/secrets/create"), "API POST /secrets/create by a client of the unix socket or plain TCP")
        XCTAssertEqual(line("POST", "/v1.41/swarm/leave?force=1"), "API POST /swarm/leave?force=1 by a client of the unix socket or plain TCP")
        XCTAssertNotNil(line("POST", "/v1.41/swarmctl/client-certificate"))
        XCTAssertNotNil(line("DELETE", "/v1.41/configs/abc"))
    }
}
