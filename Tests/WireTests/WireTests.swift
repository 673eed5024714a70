import XCTest
@testable import Wire

final class WireTests: XCTestCase {
    func testVarintRoundTripsBoundaryValues() throws {
        let values: [UInt64] = [0, 1, 127, 128, 255, 16_383, 16_384, UInt64(UInt32.max), .max]
        var writer = WireWriter()
        for value in values { writer.writeVarint(value) }
        var reader = WireReader(writer.bytes)
        for value in values { XCTAssertEqual(try reader.readVarint(), value) }
        XCTAssertTrue(reader.isAtEnd)
    }

    func testFixedWidthIntegersAreLittleEndian() throws {
        var writer = WireWriter()
        writer.writeUInt32(0x0102_0304)
        writer.writeUInt64(0x0102_0304_0506_0708)
        XCTAssertEqual(Array(writer.bytes.prefix(4)), [4, 3, 2, 1])
        var reader = WireReader(writer.bytes)
        XCTAssertEqual(try reader.readUInt32(), 0x0102_0304)
        XCTAssertEqual(try reader.readUInt64(), 0x0102_0304_0506_0708)
    }

    func testTruncatedInputThrowsInsteadOfTrapping() {
        var writer = WireWriter()
        writer.writeBytes([1, 2, 3, 4, 5])
        for cut in 0..<writer.bytes.count {
            var reader = WireReader(Array(writer.bytes.prefix(cut)))
            XCTAssertThrowsError(try reader.readBytes(), "prefix of \(cut) bytes")
        }
    }

    func testOverlongVarintIsRejected() {
        var reader = WireReader([UInt8](repeating: 0xFF, count: 11))
        XCTAssertThrowsError(try reader.readVarint()) { XCTAssertEqual($0 as? WireError, .varintTooLong) }
    }

    func testLengthAboveLimitIsRejectedBeforeAllocating() {
        var writer = WireWriter()
        writer.writeVarint(1 << 40)
        var reader = WireReader(writer.bytes)
        XCTAssertThrowsError(try reader.readBytes(limit: 1024)) {
            XCTAssertEqual($0 as? WireError, .lengthTooLarge(1 << 40, limit: 1024))
        }
    }

    func testHostileItemCountIsBoundedByRemainingBytes() {
        var writer = WireWriter()
        writer.writeVarint(1_000_000)
        writer.writeRaw([1, 2, 3])
        var reader = WireReader(writer.bytes)
        XCTAssertThrowsError(try reader.readCount(minimumItemSize: 1))
    }

    func testBoolRejectsBytesOtherThanZeroAndOne() {
        var reader = WireReader([2])
        XCTAssertThrowsError(try reader.readBool())
    }

    func testCRC32CMatchesTheStandardCheckValue() {
        // The CRC-32C check value from RFC 3720 / the Castagnoli paper: "123456789" -> 0xE3069283.
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
    }

    func testCRC32CCanContinueAcrossChunks() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = CRC32C.checksum(bytes[..<split])
            XCTAssertEqual(CRC32C.checksum(bytes[split...], continuing: first), whole, "split at \(split)")
        }
    }
}
