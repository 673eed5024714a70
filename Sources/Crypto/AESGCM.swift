import CCryptoShim
import COpenSSL

/// AES-256-GCM from the system OpenSSL (EVP), with associated data: what encrypts the Raft log and
/// snapshots at rest and wraps their keys.
///
/// It exists as a reusable object because the WAL seals one record at a time: the key schedule is
/// set up once per key and each record only re-initialises the nonce. Not thread-safe (each
/// instance owns two `EVP_CIPHER_CTX`); one owner uses it.
///
/// Nonces are the caller's responsibility and must never repeat under one key: `NonceSequence`
/// gives a random start and counts from there.
public final class AESGCM256 {
    public static let keySize = 32
    public static let nonceSize = 12
    public static let tagSize = 16
    /// OpenSSL's `EVP_CTRL_AEAD_GET_TAG` / `EVP_CTRL_AEAD_SET_TAG` (the `EVP_CTRL_GCM_*` names are macro aliases).
    private static let getTag: Int32 = 0x10
    private static let setTag: Int32 = 0x11

    private let sealer: OpaquePointer
    private let opener: OpaquePointer

    /// Sets up the cipher for `key` (32 bytes, else throws).
    public init(key: [UInt8]) throws {
        guard key.count == Self.keySize else {
            throw CryptoError("AES-256-GCM key must be \(Self.keySize) bytes, got \(key.count)")
        }
        guard let sealer = EVP_CIPHER_CTX_new() else { throw OpenSSL.error("EVP_CIPHER_CTX_new") }
        guard let opener = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_CTX_free(sealer)
            throw OpenSSL.error("EVP_CIPHER_CTX_new")
        }
        self.sealer = sealer
        self.opener = opener
        ERR_clear_error()
        guard EVP_EncryptInit_ex(sealer, EVP_aes_256_gcm(), nil, key, nil) == 1,
              EVP_DecryptInit_ex(opener, EVP_aes_256_gcm(), nil, key, nil) == 1
        else { throw OpenSSL.error("AES-256-GCM key setup") }
    }

    deinit {
        EVP_CIPHER_CTX_free(sealer)
        EVP_CIPHER_CTX_free(opener)
    }

    /// Size of the sealed form (ciphertext then tag) of `plaintextCount` bytes.
    public static func sealedSize(_ plaintextCount: Int) -> Int { plaintextCount + tagSize }

    /// Encrypts `plaintext` into `output` (exactly `sealedSize(plaintext.count)` bytes: ciphertext, then the
    /// 16-byte tag) authenticating `associatedData` too.
    public func seal(_ plaintext: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                     associatedData: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        precondition(nonce.count == Self.nonceSize, "AES-GCM nonce must be 12 bytes")
        precondition(output.count == Self.sealedSize(plaintext.count), "AES-GCM output buffer size")
        // No ERR_clear_error() up front: it costs as much as sealing a small record, and a failure
        // drains the whole queue into its message anyway.
        var length: Int32 = 0
        let out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard EVP_EncryptInit_ex(sealer, nil, nil, nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1,
              associatedData.isEmpty || EVP_EncryptUpdate(sealer, nil, &length, bytes(associatedData), Int32(associatedData.count)) == 1,
              plaintext.isEmpty || EVP_EncryptUpdate(sealer, out, &length, bytes(plaintext), Int32(plaintext.count)) == 1,
              EVP_EncryptFinal_ex(sealer, out + plaintext.count, &length) == 1,
              EVP_CIPHER_CTX_ctrl(sealer, Self.getTag, Int32(Self.tagSize), out + plaintext.count) == 1
        else { throw OpenSSL.error("AES-256-GCM seal") }
    }

    /// Decrypts and verifies `sealed` (ciphertext then tag) into `output` (`sealed.count - 16` bytes).
    /// Throws, leaving `output` zeroed, if the tag does not match: the bytes, the nonce or the
    /// associated data were altered, or another key sealed them.
    public func open(_ sealed: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
                     associatedData: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) throws {
        precondition(nonce.count == Self.nonceSize, "AES-GCM nonce must be 12 bytes")
        guard sealed.count >= Self.tagSize else { throw CryptoError("AES-256-GCM open: input shorter than the tag") }
        let count = sealed.count - Self.tagSize
        precondition(output.count == count, "AES-GCM output buffer size")
        var length: Int32 = 0
        var tag = Array(sealed[count...])
        let out = output.baseAddress.map { $0.assumingMemoryBound(to: UInt8.self) }
        var scratch = [UInt8](repeating: 0, count: 16)
        guard EVP_DecryptInit_ex(opener, nil, nil, nil, nonce.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 1,
              associatedData.isEmpty || EVP_DecryptUpdate(opener, nil, &length, bytes(associatedData), Int32(associatedData.count)) == 1,
              count == 0 || EVP_DecryptUpdate(opener, out, &length, bytes(sealed), Int32(count)) == 1,
              EVP_CIPHER_CTX_ctrl(opener, Self.setTag, Int32(Self.tagSize), &tag) == 1
        else { throw OpenSSL.error("AES-256-GCM open") }
        let finalOK = scratch.withUnsafeMutableBufferPointer { EVP_DecryptFinal_ex(opener, out.map { $0 + count } ?? $0.baseAddress!, &length) }
        guard finalOK == 1 else {
            ERR_clear_error()
            if count > 0 { output.initializeMemory(as: UInt8.self, repeating: 0) }
            throw CryptoError("AES-256-GCM authentication failed: the data, its nonce or its associated data were altered, or another key sealed it")
        }
    }

    private func bytes(_ buffer: UnsafeRawBufferPointer) -> UnsafePointer<UInt8> {
        buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
    }

    // MARK: Whole messages

    /// `nonce ‖ ciphertext ‖ tag` of `plaintext` under a fresh random nonce (for small, rarely
    /// written values such as wrapped keys).
    public func seal(_ plaintext: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let nonce = try Crypto.randomBytes(Self.nonceSize)
        var output = nonce + [UInt8](repeating: 0, count: Self.sealedSize(plaintext.count))
        try plaintext.withUnsafeBytes { plain in
            try nonce.withUnsafeBytes { nonceBytes in
                try associatedData.withUnsafeBytes { aad in
                    try output.withUnsafeMutableBytes { raw in
                        try seal(plain, nonce: nonceBytes, associatedData: aad,
                                 into: UnsafeMutableRawBufferPointer(rebasing: raw[Self.nonceSize...]))
                    }
                }
            }
        }
        return output
    }

    /// Opens what `seal(_:associatedData:)` produced; throws if anything was altered.
    public func open(_ message: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard message.count >= Self.nonceSize + Self.tagSize else {
            throw CryptoError("AES-256-GCM open: a sealed message is at least \(Self.nonceSize + Self.tagSize) bytes, got \(message.count)")
        }
        var output = [UInt8](repeating: 0, count: message.count - Self.nonceSize - Self.tagSize)
        try message.withUnsafeBytes { raw in
            try associatedData.withUnsafeBytes { aad in
                try output.withUnsafeMutableBytes { out in
                    try open(UnsafeRawBufferPointer(rebasing: raw[Self.nonceSize...]),
                             nonce: UnsafeRawBufferPointer(rebasing: raw[0..<Self.nonceSize]), associatedData: aad, into: out)
                }
            }
        }
        return output
    }
}

/// 96-bit GCM nonces that do not repeat: a random 32-bit prefix and a 64-bit counter from a random
/// start, drawn fresh for every key (a collision needs two runs to draw the same prefix and
/// overlapping counter ranges). Not thread-safe.
public struct NonceSequence {
    private let prefix: UInt32
    private var counter: UInt64

    public init() throws {
        let seed = try Crypto.randomBytes(12)
        prefix = seed[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
        counter = seed[4..<12].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// Writes the next nonce into `output` (12 bytes).
    public mutating func next(into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count == AESGCM256.nonceSize, "nonce buffer must be 12 bytes")
        output.storeBytes(of: prefix.bigEndian, toByteOffset: 0, as: UInt32.self)
        output.storeBytes(of: counter.bigEndian, toByteOffset: 4, as: UInt64.self)
        counter &+= 1
    }
}

/// Keys protecting other keys: AES-256-GCM key wrapping with a purpose label as associated data,
/// and HKDF-SHA-256 to turn an operator's unlock key into a key-encryption key.
///
/// Why GCM and not RFC 3394 key wrap: one primitive for everything at rest, and the label binds a
/// wrapped key to its use, so a wrapped data key cannot be passed off as another kind of key.
public enum KeyWrap {
    /// `nonce ‖ AES-256-GCM(kek, key) ‖ tag` with `label` authenticated.
    public static func wrap(_ key: [UInt8], under kek: [UInt8], label: String) throws -> [UInt8] {
        try AESGCM256(key: kek).seal(key, associatedData: Array(label.utf8))
    }

    /// The key `wrap` sealed; throws if the KEK is wrong, the label differs, or a byte changed.
    public static func unwrap(_ wrapped: [UInt8], under kek: [UInt8], label: String) throws -> [UInt8] {
        do {
            return try AESGCM256(key: kek).open(wrapped, associatedData: Array(label.utf8))
        } catch {
            throw CryptoError("cannot unwrap the \(label): wrong key-encryption key, or the wrapped key was altered")
        }
    }

    /// HKDF-SHA-256 (RFC 5869) of `secret` with `salt` and `info`, `count` bytes (1...8160).
    public static func hkdfSHA256(secret: [UInt8], salt: [UInt8], info: [UInt8], count: Int) throws -> [UInt8] {
        precondition(count > 0 && count <= 255 * 32, "HKDF-SHA-256 output length \(count)")
        guard !secret.isEmpty else { throw CryptoError("HKDF: the secret is empty") }
        let infoBytes = info
        var output = [UInt8](repeating: 0, count: count)
        ERR_clear_error()
        let result = secret.withUnsafeBufferPointer { secretBuffer in
            salt.withUnsafeBufferPointer { saltBuffer in
                infoBytes.withUnsafeBufferPointer { infoBuffer in
                    ccs_hkdf_sha256(secretBuffer.baseAddress, secretBuffer.count, saltBuffer.baseAddress, saltBuffer.count,
                                    infoBuffer.baseAddress, infoBuffer.count, &output, count)
                }
            }
        }
        guard result == 1 else { throw OpenSSL.error("HKDF-SHA-256") }
        return output
    }
}
