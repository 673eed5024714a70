import Networking
import XCTest
import SeededRandom

/// The DNS codec on known packets, and fuzzed: random and mutated bytes never trap.
final class DNSCodecTests: XCTestCase {
    /// `dig web` as sent by a resolver: id 0x1234, RD, one question web/A/IN, an EDNS0 OPT (size 1232).
    let digQuery: [UInt8] = [0x12, 0x34, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1,
                             3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1,
                             0, 0, 0x29, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]

    func testParsesARealQuery() throws {
        let message = try DNSMessage.parse(digQuery)
        XCTAssertEqual(message.id, 0x1234)
        XCTAssertTrue(message.flags.recursionDesired)
        XCTAssertFalse(message.flags.isResponse)
        XCTAssertEqual(message.questions, [DNSQuestion(name: ["web"], type: DNSRecordType.a)])
        XCTAssertEqual(message.udpPayloadLimit, 1232)
        XCTAssertEqual(message.serialize(), digQuery, "uncompressed input serializes back byte for byte")
    }

    func testParsesCompressedAnswer() throws {
        // Response to the query above: answer name is a pointer to offset 12.
        var bytes: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 3, 0x77, 0x65, 0x62, 0, 0, 1, 0, 1]
        bytes += [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 1, 2]
        let message = try DNSMessage.parse(bytes)
        XCTAssertEqual(message.answers, [DNSRecord.a(["web"], IPv4Address(10, 0, 1, 2), ttl: 0)])
    }

    func testRefusesPointerLoopsAndTruncation() {
        let loop: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]
        XCTAssertThrowsError(try DNSMessage.parse(loop)) { XCTAssertTrue("\($0)".contains("backwards"), "\($0)") }
        for length in 0..<digQuery.count - 11 {
            XCTAssertThrowsError(try DNSMessage.parse(Array(digQuery.prefix(length))), "prefix of \(length) bytes")
        }
        let hugeCount: [UInt8] = [0, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0]
        XCTAssertThrowsError(try DNSMessage.parse(hugeCount))
    }

    func testFuzzedInputNeverTraps() {
        var generator = SplitMix64(seed: 16)
        var parsed = 0
        for round in 0..<60_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                bytes = digQuery
                for _ in 0...(generator.next() % 4) {
                    let index = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[index] = UInt8(truncatingIfNeeded: generator.next())
                    case 1: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: index)
                    default: bytes.remove(at: index)
                    }
                    if bytes.isEmpty { break }
                }
            }
            if let message = try? DNSMessage.parse(bytes) {
                parsed += 1
                _ = DNSResolver.decide(message, view: DNSView(entries: ["web": .init(addresses: [IPv4Address(10, 0, 0, 2)], ttl: 0)]))
                XCTAssertNoThrow(try DNSMessage.parse(message.serialize()), "a parsed message reparses after serializing")
            }
        }
        XCTAssertGreaterThan(parsed, 1_000, "mutations should often stay parseable, or the fuzzer tests nothing")
    }
}
