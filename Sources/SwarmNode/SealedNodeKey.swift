import Crypto

/// A locked manager's TLS private key at rest: `DATA/certificates/node-key.pem` holds
/// `SWNODEKEY1\n` followed by the PEM sealed (AES-256-GCM, `KeyWrap`) under the manager's
/// key-encryption key, which is itself wrapped under the unlock key.
///
/// It exists because autolock must protect the node's identity as well as its Raft data: with
/// the key in clear, a copy of a stopped manager's data dir could join the cluster as that manager.
/// An unlocked manager (and every worker) keeps the plain PEM file.
enum SealedNodeKey {
    static let magic: [UInt8] = Array("SWNODEKEY1\n".utf8)
    static let label = "swarmctl node TLS key"

    /// True when the file's bytes are a sealed key.
    static func isSealed(_ bytes: [UInt8]) -> Bool { bytes.count > magic.count && Array(bytes.prefix(magic.count)) == magic }

    /// What to write for `pem`: sealed under `sealingKey`, or as is.
    static func stored(_ pem: [UInt8], sealingKey: [UInt8]?) throws -> [UInt8] {
        guard let sealingKey else { return pem }
        return magic + (try KeyWrap.wrap(pem, under: sealingKey, label: label))
    }

    /// The PEM text of a stored key (sealed or not).
    static func open(_ bytes: [UInt8], path: String, unsealingKey: [UInt8]?) throws -> String {
        guard isSealed(bytes) else { return String(decoding: bytes, as: UTF8.self) }
        guard let unsealingKey else {
            throw NodeError("\(path) is sealed under the manager's locked keys: unlock the manager (swarmctl swarm unlock) to read it")
        }
        do {
            return String(decoding: try KeyWrap.unwrap(Array(bytes[magic.count...]), under: unsealingKey, label: label), as: UTF8.self)
        } catch {
            throw NodeError("\(path) does not open with this manager's key-encryption key (\(error)): restore DATA/certificates and DATA/keys "
                            + "from one backup, or remove the data dir and join again")
        }
    }
}
