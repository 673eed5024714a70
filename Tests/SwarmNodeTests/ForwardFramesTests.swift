import ClusterState
import XCTest

@testable import SwarmNode

/// A forwarded write's answer: success is sent as pre-encoded bytes and recognised without a
/// decoder (issue 15); failures still travel typed, and both read back as they were sent.
final class ForwardFramesTests: XCTestCase {
    func testResultsReadBackAsSent() throws {
        let failures: [RequestFailure?] = [nil, .rejected(.conflict("name web is taken")), .noQuorum("no leader; retry")]
        for (offset, failure) in failures.enumerated() {
            let frame = ForwardFrames.result(requestID: 7 + UInt64(offset), failure: failure)
            let decoded = try XCTUnwrap(ForwardFrames.decodeResult(frame.payload), "\(String(describing: failure))")
            XCTAssertEqual(decoded.requestID, 7 + UInt64(offset))
            XCTAssertEqual(decoded.failure, failure)
        }
    }

    func testACommandFrameCarriesTheBytesAsTheyAre() throws {
        let encoded = CommandCodec.encode(.removeService(id: "s1", at: Timestamp(millisecondsSinceEpoch: 5)))
        let decoded = try XCTUnwrap(ForwardFrames.decodeCommand(ForwardFrames.command(requestID: 42, encoded: encoded).payload))
        XCTAssertEqual(decoded.requestID, 42)
        XCTAssertEqual(decoded.encoded, encoded)
        XCTAssertNil(ForwardFrames.decodeResult([ForwardFrames.binaryFormat, 1, 2]), "a truncated answer is refused")
    }
}
