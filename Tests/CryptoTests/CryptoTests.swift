import XCTest
@testable import Crypto

final class CryptoTests: XCTestCase {
    func testHMACSHA256MatchesRFC4231TestCase2() {
        let mac = Crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        XCTAssertEqual(Crypto.hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testSHA256OfEmptyInput() {
        XCTAssertEqual(Crypto.hex(Crypto.sha256([])), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    func testRandomBytesDiffer() throws {
        let first = try Crypto.randomBytes(32)
        let second = try Crypto.randomBytes(32)
        XCTAssertEqual(first.count, 32)
        XCTAssertNotEqual(first, second)
    }

    func testConstantTimeEqual() {
        XCTAssertTrue(Crypto.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        XCTAssertFalse(Crypto.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(Crypto.constantTimeEqual([1, 2], [1, 2, 3]))
    }

    func testHexRoundTripAndRejectsGarbage() {
        let bytes: [UInt8] = [0, 1, 0xab, 0xff]
        XCTAssertEqual(Crypto.unhex(Crypto.hex(bytes)), bytes)
        XCTAssertNil(Crypto.unhex("abc"))
        XCTAssertNil(Crypto.unhex("zz"))
    }
}
