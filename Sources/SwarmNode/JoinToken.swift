import ClusterState
import Crypto

/// `SWMTKN-1-<CA digest>-<secret>`, as Docker swarm writes join tokens. The digest is the
/// SHA-256 of the cluster's root CA certificate (DER) in base 36, zero-padded to 50 characters:
/// a joining node refuses a manager whose root does not match it, before it sends the secret.
/// The secret (25 base-36 characters) selects the role and travels only inside that TLS session.
public struct JoinToken: Sendable, Equatable, CustomStringConvertible {
    public var caDigest: String
    public var secret: String

    public init(caDigest: String, secret: String) {
        self.caDigest = caDigest
        self.secret = secret
    }

    /// The token pinning `root`.
    public init(root: Certificate, secret: String) {
        self.init(caDigest: Self.digest(of: root), secret: secret)
    }

    public var description: String { "SWMTKN-1-\(caDigest)-\(secret)" }

    public init?(parsing text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "SWMTKN", parts[1] == "1",
              parts[2].count == 50, parts[3].count == 25,
              parts[2].allSatisfy(\.isBase36), parts[3].allSatisfy(\.isBase36) else { return nil }
        caDigest = String(parts[2])
        secret = String(parts[3])
    }

    /// Whether `certificate` is the root this token pins.
    public func pins(_ certificate: Certificate) -> Bool { Self.digest(of: certificate) == caDigest }

    /// Base 36 of the certificate's SHA-256 digest, zero-padded to 50 characters.
    public static func digest(of certificate: Certificate) -> String {
        var number = certificate.sha256Digest
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var digits: [Character] = []
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in number.indices {
                let value = remainder << 8 | Int(number[index])
                number[index] = UInt8(value / 36)
                remainder = value % 36
            }
            digits.append(alphabet[remainder])
        }
        let text = String(digits.reversed())
        return String(repeating: "0", count: max(0, 50 - text.count)) + text
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

    /// A non-zero random 64-bit number (seeds).
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
