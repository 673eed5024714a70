import XCTest
@testable import Crypto

/// AES-256-GCM, key wrapping and HKDF: known-answer vectors, and every kind of tampering refused.
final class AESGCMTests: XCTestCase {
    // The GCM specification's test case 16 (AES-256, 60-byte plaintext, 20-byte AAD).
    private let key = Crypto.unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")!
    private let nonce = Crypto.unhex("cafebabefacedbaddecaf888")!
    private let aad = Crypto.unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")!
    private let plaintext = Crypto.unhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")!
    private let expected = Crypto.unhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        + "76fc6ece0f4e1768cddf8853bb2d551b")!

    private func seal(_ cipher: AESGCM256, _ plaintext: [UInt8], nonce: [UInt8], aad: [UInt8]) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: AESGCM256.sealedSize(plaintext.count))
        try plaintext.withUnsafeBytes { p in
            try nonce.withUnsafeBytes { n in
                try aad.withUnsafeBytes { a in try output.withUnsafeMutableBytes { try cipher.seal(p, nonce: n, associatedData: a, into: $0) } }
            }
        }
        return output
    }

    private func open(_ cipher: AESGCM256, _ sealed: [UInt8], nonce: [UInt8], aad: [UInt8]) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: sealed.count - AESGCM256.tagSize)
        try sealed.withUnsafeBytes { s in
            try nonce.withUnsafeBytes { n in
                try aad.withUnsafeBytes { a in try output.withUnsafeMutableBytes { try cipher.open(s, nonce: n, associatedData: a, into: $0) } }
            }
        }
        return output
    }

    func testSealMatchesTheGCMSpecificationTestCase16AndOpens() throws {
        let cipher = try AESGCM256(key: key)
        XCTAssertEqual(try seal(cipher, plaintext, nonce: nonce, aad: aad), expected)
        XCTAssertEqual(try open(cipher, expected, nonce: nonce, aad: aad), plaintext)
        // The same object seals again with the same result (contexts are re-initialised per call).
        XCTAssertEqual(try seal(cipher, plaintext, nonce: nonce, aad: aad), expected)
    }

    func testEveryFlippedBitOfCiphertextOrTagIsRefused() throws {
        let cipher = try AESGCM256(key: key)
        for bit in 0..<(expected.count * 8) {
            var damaged = expected
            damaged[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
            XCTAssertThrowsError(try open(cipher, damaged, nonce: nonce, aad: aad), "bit \(bit)") { error in
                XCTAssertTrue("\(error)".contains("authentication failed"), "\(error)")
            }
        }
    }

    func testAlteredAssociatedDataNonceOrKeyIsRefused() throws {
        let cipher = try AESGCM256(key: key)
        var otherAAD = aad
        otherAAD[0] ^= 1
        XCTAssertThrowsError(try open(cipher, expected, nonce: nonce, aad: otherAAD))
        XCTAssertThrowsError(try open(cipher, expected, nonce: nonce, aad: []))
        var otherNonce = nonce
        otherNonce[11] ^= 1
        XCTAssertThrowsError(try open(cipher, expected, nonce: otherNonce, aad: aad))
        var otherKey = key
        otherKey[31] ^= 1
        XCTAssertThrowsError(try open(try AESGCM256(key: otherKey), expected, nonce: nonce, aad: aad))
        // Still usable after refusals.
        XCTAssertEqual(try open(cipher, expected, nonce: nonce, aad: aad), plaintext)
    }

    func testEmptyPlaintextIsAuthenticatedToo() throws {
        let cipher = try AESGCM256(key: key)
        let tagOnly = try seal(cipher, [], nonce: nonce, aad: aad)
        XCTAssertEqual(tagOnly.count, 16)
        XCTAssertEqual(try open(cipher, tagOnly, nonce: nonce, aad: aad), [])
        var otherAAD = aad
        otherAAD[3] ^= 0x80
        XCTAssertThrowsError(try open(cipher, tagOnly, nonce: nonce, aad: otherAAD))
    }

    func testWrongKeySizesAndShortMessagesAreRefusedNotTrapped() throws {
        XCTAssertThrowsError(try AESGCM256(key: Array(key.prefix(16))))
        XCTAssertThrowsError(try AESGCM256(key: key).open([1, 2, 3], associatedData: []))
    }

    func testWholeMessagesUseFreshNonces() throws {
        let cipher = try AESGCM256(key: key)
        let first = try cipher.seal(plaintext, associatedData: aad)
        let second = try cipher.seal(plaintext, associatedData: aad)
        XCTAssertNotEqual(first, second)
        XCTAssertEqual(try cipher.open(first, associatedData: aad), plaintext)
        XCTAssertEqual(try cipher.open(second, associatedData: aad), plaintext)
    }

    func testNonceSequenceCountsWithoutRepeating() throws {
        var sequence = try NonceSequence()
        var seen = Set<[UInt8]>()
        for _ in 0..<1000 {
            var nonce = [UInt8](repeating: 0, count: 12)
            nonce.withUnsafeMutableBytes { sequence.next(into: $0) }
            XCTAssertTrue(seen.insert(nonce).inserted)
        }
        var other = try NonceSequence()
        var nonce = [UInt8](repeating: 0, count: 12)
        nonce.withUnsafeMutableBytes { other.next(into: $0) }
        XCTAssertFalse(seen.contains(nonce), "a second sequence starts somewhere else")
    }

    func testKeyWrapRoundTripAndRefusals() throws {
        let kek = try Crypto.randomBytes(32)
        let dataKey = try Crypto.randomBytes(32)
        let wrapped = try KeyWrap.wrap(dataKey, under: kek, label: "raft data key 1")
        XCTAssertEqual(wrapped.count, 12 + 32 + 16)
        XCTAssertFalse(Crypto.hex(wrapped).contains(Crypto.hex(dataKey)))
        XCTAssertEqual(try KeyWrap.unwrap(wrapped, under: kek, label: "raft data key 1"), dataKey)
        XCTAssertThrowsError(try KeyWrap.unwrap(wrapped, under: kek, label: "raft data key 2"), "another label")
        XCTAssertThrowsError(try KeyWrap.unwrap(wrapped, under: try Crypto.randomBytes(32), label: "raft data key 1"), "another KEK")
        for position in wrapped.indices {
            var damaged = wrapped
            damaged[position] ^= 0x01
            XCTAssertThrowsError(try KeyWrap.unwrap(damaged, under: kek, label: "raft data key 1"), "byte \(position)") { error in
                XCTAssertTrue("\(error)".contains("cannot unwrap the raft data key 1"), "\(error)")
            }
        }
    }

    func testHKDFMatchesRFC5869TestCase1() throws {
        let okm = try KeyWrap.hkdfSHA256(secret: [UInt8](repeating: 0x0b, count: 22), salt: Crypto.unhex("000102030405060708090a0b0c")!,
                                         info: Crypto.unhex("f0f1f2f3f4f5f6f7f8f9")!, count: 42)
        XCTAssertEqual(Crypto.hex(okm), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        XCTAssertThrowsError(try KeyWrap.hkdfSHA256(secret: [], salt: [], info: [1], count: 32))
    }
}
