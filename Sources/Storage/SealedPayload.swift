import Crypto

/// How a WAL record's or snapshot's payload is stored encrypted:
///
///   0..<4    data key id (UInt32 LE)
///   4..<16   GCM nonce
///   16...    AES-256-GCM ciphertext, then the 16-byte tag
///
/// The associated data binds the payload to its place, so bytes copied from one record or file to
/// another are refused even though the CRCs can be recomputed by anyone:
/// - WAL record: its header word (length, type, flags), the segment sequence and the record's byte
///   offset in the segment, and the key id.
/// - Snapshot: the file header's magic, version and length, the snapshot's term and index (which
///   the file name carries too), and the key id.
enum SealedPayload {
    static let overhead = 4 + AESGCM256.nonceSize + AESGCM256.tagSize  // 32: keeps records 8-aligned

    /// Why a stored payload could not be opened.
    enum Failure: Error, CustomStringConvertible {
        case tooShort(Int)
        case unknownKey(UInt32, known: [UInt32])
        case authentication

        var description: String {
            switch self {
            case let .tooShort(count): "the encrypted payload is \(count) bytes, shorter than its \(SealedPayload.overhead)-byte framing"
            case let .unknownKey(id, known):
                "it is encrypted under data key \(id), which is not in DATA/keys/raft-deks (holds \(known.map(String.init).joined(separator: ", ")))"
            case .authentication:
                "it fails authentication (AES-256-GCM): it was altered, or copied here from another position or file"
            }
        }
    }

    static let recordContextSize = 32

    /// Associated data of a WAL record.
    static func recordContext(word: UInt64, sequence: UInt64, offset: Int, keyID: UInt32) -> [UInt8] {
        var context = [UInt8](repeating: 0, count: recordContextSize)
        fillRecordContext(&context, word: word, sequence: sequence, offset: offset, keyID: keyID)
        return context
    }

    /// Writes a WAL record's associated data into `context` (reused by the encoder: no allocation per record).
    static func fillRecordContext(_ context: inout [UInt8], word: UInt64, sequence: UInt64, offset: Int, keyID: UInt32) {
        precondition(context.count == recordContextSize, "record context size")
        context.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: word.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: UInt64(offset).littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: UInt64(keyID).littleEndian, toByteOffset: 24, as: UInt64.self)
        }
    }

    /// Associated data of a snapshot file.
    static func snapshotContext(header: ArraySlice<UInt8>, term: UInt64, index: UInt64, keyID: UInt32) -> [UInt8] {
        var context = Array(header)
        append(term, to: &context)
        append(index, to: &context)
        append(UInt64(keyID), to: &context)
        return context
    }

    private static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// Appends the stored form of `plaintext` (under the ring's current key, `keys.currentID`) to
    /// `output`, authenticating `associatedData` (which must name that key id).
    static func seal(_ plaintext: UnsafeRawBufferPointer, keys: DataKeyRing, associatedData: [UInt8],
                     appendingTo output: inout [UInt8]) throws {
        let keyID = keys.currentID
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: plaintext.count + overhead))
        try output.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: keyID.littleEndian, toByteOffset: start, as: UInt32.self)
            let nonce = UnsafeMutableRawBufferPointer(rebasing: raw[(start + 4)..<(start + 16)])
            keys.nonces.next(into: nonce)
            try associatedData.withUnsafeBytes { aad in
                try keys.current.seal(plaintext, nonce: UnsafeRawBufferPointer(nonce), associatedData: aad,
                                      into: UnsafeMutableRawBufferPointer(rebasing: raw[(start + 16)...]))
            }
        }
    }

    /// The key id a stored payload names (nil if it is too short to name one).
    static func keyID(_ stored: UnsafeRawBufferPointer) -> UInt32? {
        stored.count >= 4 ? UInt32(littleEndian: stored.loadUnaligned(as: UInt32.self)) : nil
    }

    /// The plaintext of a stored payload, or why not.
    static func open(_ stored: UnsafeRawBufferPointer, keys: DataKeyRing, context: (UInt32) -> [UInt8]) throws(Failure) -> [UInt8] {
        guard stored.count >= overhead, let keyID = keyID(stored) else { throw .tooShort(stored.count) }
        guard let cipher = keys.cipher(keyID) else { throw .unknownKey(keyID, known: keys.ids) }
        var plaintext = [UInt8](repeating: 0, count: stored.count - overhead)
        let associatedData = context(keyID)
        do {
            try associatedData.withUnsafeBytes { aad in
                try plaintext.withUnsafeMutableBytes { out in
                    try cipher.open(UnsafeRawBufferPointer(rebasing: stored[16...]),
                                    nonce: UnsafeRawBufferPointer(rebasing: stored[4..<16]), associatedData: aad, into: out)
                }
            }
        } catch {
            throw .authentication
        }
        return plaintext
    }
}
