import XCTest

@testable import SwarmNode

/// `EncodedCommandKey` finds a forwarded command by its log bytes exactly as a `[UInt8]` key
/// did (same equality), only hashed in bulk.
final class EncodedCommandKeyTests: XCTestCase {
    func testKeysAreEqualExactlyWhenTheBytesAre() {
        let bytes = (0..<2_500).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var changed = bytes
        changed[2_499] ^= 1
        XCTAssertEqual(EncodedCommandKey(bytes), EncodedCommandKey(Array(bytes)))
        XCTAssertEqual(EncodedCommandKey(bytes).hashValue, EncodedCommandKey(Array(bytes)).hashValue)
        XCTAssertNotEqual(EncodedCommandKey(bytes), EncodedCommandKey(changed))
        XCTAssertNotEqual(EncodedCommandKey(bytes), EncodedCommandKey(Array(bytes.dropLast())))
        XCTAssertNotEqual(EncodedCommandKey([]), EncodedCommandKey([0]))

        var commands: [EncodedCommandKey: Int] = [EncodedCommandKey(bytes): 1, EncodedCommandKey(changed): 2, EncodedCommandKey([]): 3]
        XCTAssertEqual(commands[EncodedCommandKey(Array(bytes))], 1)
        XCTAssertEqual(commands.removeValue(forKey: EncodedCommandKey(changed)), 2)
        XCTAssertNil(commands[EncodedCommandKey(changed)])
        XCTAssertEqual(commands[EncodedCommandKey([])], 3)
    }
}
