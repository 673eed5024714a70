import COpenSSL

/// Cryptographic primitives from the system OpenSSL (never hand-rolled): HMAC-SHA-256 for
/// handshake proofs, SHA-256 for fingerprints, and the OS-seeded CSPRNG for secrets and nonces.
public enum Crypto {
    /// Why OpenSSL refused; these only happen if the library is broken or out of entropy.
    public struct Failure: Error, CustomStringConvertible {
        public let operation: String
        public var description: String { "OpenSSL \(operation) failed" }
    }

    /// HMAC-SHA-256 of `message` under `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withUnsafeBufferPointer { keyBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                HMAC(EVP_sha256(), keyBuffer.baseAddress, Int32(keyBuffer.count),
                     messageBuffer.baseAddress, messageBuffer.count, &output, &length)
            }
        }
        precondition(result != nil, "HMAC-SHA-256 failed inside OpenSSL")
        return Array(output.prefix(Int(length)))
    }

    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        data.withUnsafeBufferPointer { buffer in _ = SHA256(buffer.baseAddress, buffer.count, &output) }
        return output
    }

    /// `count` bytes from OpenSSL's CSPRNG.
    public static func randomBytes(_ count: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        guard count == 0 || RAND_bytes(&output, Int32(count)) == 1 else { throw Failure(operation: "RAND_bytes") }
        return output
    }

    /// Compares secrets without leaking where they differ through timing.
    public static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.isEmpty { return true }
        return lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in CRYPTO_memcmp(left.baseAddress, right.baseAddress, lhs.count) == 0 }
        }
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }

    public static func unhex(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 2)
        func value(_ character: UInt8) -> UInt8? {
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        for position in stride(from: 0, to: characters.count, by: 2) {
            guard let high = value(characters[position]), let low = value(characters[position + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}
