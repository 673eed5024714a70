import Raft
@testable import Transport
import XCTest

/// Framing: `[u32 LE length][u8 type][payload]`, decoded from arbitrary chunks.
final class FrameDecoderTests: XCTestCase {
    private func sampleFrames() -> [Frame] {
        var append = makeMessage(from: 1, to: 2, index: 42)
        append.entries = [Entry(term: 1, index: 43, data: Array("hello".utf8))]
        append.commit = 40
        return [
            .raftMessage(append),
            .raftMessage(makeMessage(from: 3, to: 4, index: 7)),
            .application(ApplicationFrame(kind: 5, payload: [1, 2, 3])),
            .application(ApplicationFrame(kind: 0, payload: [])),
            .application(ApplicationFrame(kind: 9, payload: Array("join".utf8))),
        ]
    }

    private func decodeAll(_ chunks: [ArraySlice<UInt8>], maxPayloadSize: Int = FrameDecoder.defaultMaxPayloadSize) throws -> [Frame] {
        var decoder = FrameDecoder(maxPayloadSize: maxPayloadSize)
        var frames: [Frame] = []
        for chunk in chunks {
            decoder.feed(chunk)
            while let raw = try decoder.nextFrame() { frames.append(try Frame(raw)) }
        }
        XCTAssertEqual(decoder.bufferedByteCount, 0)
        return frames
    }

    func testEveryFrameTypeRoundTripsThroughEncoding() throws {
        let frames = sampleFrames()
        XCTAssertEqual(try decodeAll([ArraySlice(frames.flatMap { $0.encoded() })]), frames)
    }

    func testStreamSplitAtEveryPointDecodesTheSameFrames() throws {
        let frames = sampleFrames()
        let stream = frames.flatMap { $0.encoded() }
        for split in 0...stream.count {
            XCTAssertEqual(try decodeAll([stream[..<split], stream[split...]]), frames, "split at \(split)")
        }
    }

    func testStreamSplitAtEveryPairOfPointsDecodesTheSameFrames() throws {
        let frames = Array(sampleFrames().prefix(4))
        let stream = frames.flatMap { $0.encoded() }
        for first in 0...stream.count {
            for second in first...stream.count {
                let chunks = [stream[..<first], stream[first..<second], stream[second...]]
                XCTAssertEqual(try decodeAll(chunks), frames, "splits at \(first), \(second)")
            }
        }
    }

    func testOneByteAtATimeDecodesTheSameFrames() throws {
        let frames = sampleFrames()
        let stream = frames.flatMap { $0.encoded() }
        XCTAssertEqual(try decodeAll(stream.indices.map { stream[$0...$0] }), frames)
    }

    func testHeaderClaimingFourGibibytesIsRefusedFromTheHeaderAlone() {
        var decoder = FrameDecoder()
        decoder.feed([0xff, 0xff, 0xff, 0xff] as [UInt8])
        XCTAssertNil(try decoder.nextFrame(), "four bytes are not yet a header")
        decoder.feed([FrameType.raftMessage.rawValue])
        XCTAssertThrowsError(try decoder.nextFrame()) { error in
            XCTAssertEqual(error as? FrameError, .oversized(length: UInt32.max, limit: FrameDecoder.defaultMaxPayloadSize))
            XCTAssertEqual("\(error)", "frame of 4294967295 bytes exceeds the limit of 16777216 bytes")
        }
        XCTAssertEqual(decoder.bufferedByteCount, 0, "nothing is kept after the refusal")
    }

    func testFrameOfExactlyTheLimitIsAcceptedAndOneByteMoreIsNot() throws {
        let limit = 1000
        let atLimit = Frame.application(ApplicationFrame(kind: 1, payload: [UInt8](repeating: 0xaa, count: limit - 1)))
        XCTAssertEqual(try decodeAll([ArraySlice(atLimit.encoded())], maxPayloadSize: limit), [atLimit])
        let over = Frame.application(ApplicationFrame(kind: 1, payload: [UInt8](repeating: 0xaa, count: limit)))
        var decoder = FrameDecoder(maxPayloadSize: limit)
        decoder.feed(over.encoded().prefix(Frame.headerSize))
        XCTAssertThrowsError(try decoder.nextFrame()) { XCTAssertEqual($0 as? FrameError, .oversized(length: 1001, limit: limit)) }
    }

    func testUnknownFrameTypesAreRefused() {
        for type: UInt8 in [0, 1, 2, 3, 4, 5, 8, 200, 255] {
            var decoder = FrameDecoder()
            decoder.feed([0, 0, 0, 0, type] as [UInt8])
            XCTAssertThrowsError(try decoder.nextFrame()) { XCTAssertEqual($0 as? FrameError, .unknownType(type)) }
        }
    }

    func testErrorIsStickyEvenIfValidBytesFollow() {
        var decoder = FrameDecoder()
        decoder.feed([1, 0, 0, 0, 99, 0] as [UInt8])
        XCTAssertThrowsError(try decoder.nextFrame())
        decoder.feed(Frame.application(ApplicationFrame(kind: 1, payload: [])).encoded())
        XCTAssertThrowsError(try decoder.nextFrame()) { XCTAssertEqual($0 as? FrameError, .unknownType(99)) }
    }

    func testMalformedPayloadsAreErrorsNotTraps() {
        let cases: [(RawFrame, String)] = [
            (RawFrame(type: .application, payload: []), "application without kind"),
            (RawFrame(type: .raftMessage, payload: [0xff, 0xff]), "garbage Raft message"),
            (RawFrame(type: .raftMessage, payload: []), "empty Raft message"),
        ]
        for (raw, label) in cases {
            XCTAssertThrowsError(try Frame(raw), label) { error in
                guard case .malformed = error as? FrameError else { return XCTFail("\(label): \(error)") }
            }
        }
    }
}
