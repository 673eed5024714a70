import ClusterState
import Crypto

/// `SWMTKN-1-<cluster fingerprint>-<secret>`, as Docker swarm writes join tokens. The
/// fingerprint names the cluster (and is the transport's cluster id); the secret keys the join
/// handshake and never crosses the wire.
public struct JoinToken: Sendable, Equatable, CustomStringConvertible {
    public var fingerprint: String
    public var secret: String

    public init(fingerprint: String, secret: String) {
        self.fingerprint = fingerprint
        self.secret = secret
    }

    public var description: String { "SWMTKN-1-\(fingerprint)-\(secret)" }

    public init?(parsing text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "SWMTKN", parts[1] == "1",
              parts[2].count == 50, parts[3].count == 25,
              parts[2].allSatisfy(\.isBase36), parts[3].allSatisfy(\.isBase36) else { return nil }
        fingerprint = String(parts[2])
        secret = String(parts[3])
    }

    /// The handshake key derived from the secret.
    public var handshakeKey: [UInt8] { Self.handshakeKey(secret: secret) }

    public static func handshakeKey(secret: String) -> [UInt8] {
        Crypto.sha256(Array("swarmctl join token:\(secret)".utf8))
    }
}

/// Random identifiers in Docker's style (lower-case base 36), from OpenSSL's CSPRNG.
public enum RandomID {
    /// 25 characters, like Docker's node, service and task ids.
    public static func objectID() throws -> String { try base36(count: 25) }

    public static func base36(count: Int) throws -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var result = ""
        while result.count < count {
            for byte in try Crypto.randomBytes(count * 2) where byte < 252 && result.count < count {
                result.append(alphabet[Int(byte) % 36])
            }
        }
        return result
    }

    /// A non-zero 64-bit identity for Raft and the transport.
    public static func transportID() throws -> UInt64 {
        while true {
            let bytes = try Crypto.randomBytes(8)
            let value = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & 0x7FFF_FFFF_FFFF_FFFF
            if value != 0 { return value }
        }
    }
}

extension Character {
    var isBase36: Bool { isASCII && (isNumber || isLowercase) }
}
