import COpenSSL
import Glibc
import Platform

/// A content address, `sha256:<64 hex digits>`, as OCI images name blobs.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 64 lowercase hex digits.
    public let hex: String

    public init(hex: String) { self.hex = hex }

    /// Parses `sha256:HEX`; nil for anything else (other algorithms are not supported).
    public init?(parsing text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        let hex = String(text.dropFirst(7))
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            return nil
        }
        self.hex = hex
    }

    public var description: String { "sha256:\(hex)" }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = Digest(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad digest \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The digest of `bytes`.
    public static func of(_ bytes: [UInt8]) -> Digest {
        var hasher = SHA256Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finish()
    }

    /// The digest of a file's contents, read in chunks (layers can be large).
    public static func ofFile(_ path: String) throws -> Digest {
        let file = try File.openForReading(path)
        var hasher = SHA256Hasher()
        var offset = 0
        while true {
            let chunk = try file.read(count: 1 << 20, at: offset)
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { hasher.update($0) }
            offset += chunk.count
        }
        return hasher.finish()
    }
}

/// Incremental SHA-256 from the system OpenSSL (EVP interface).
struct SHA256Hasher: ~Copyable {
    private let context: OpaquePointer

    init() {
        guard let context = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed: out of memory") }
        precondition(EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1, "EVP_DigestInit_ex(sha256) failed")
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1, "EVP_DigestUpdate failed")
    }

    consuming func finish() -> Digest {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &output, &length) == 1 && length == 32, "EVP_DigestFinal_ex failed")
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in output {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return Digest(hex: String(decoding: hex, as: UTF8.self))
    }
}
