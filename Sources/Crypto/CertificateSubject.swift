/// The distinguished name fields swarmctl uses: CN = node id, OU = role ("swarm-manager",
/// "swarm-worker", "client"), O = cluster id. Authorization reads these from the peer's verified
/// certificate, so the CA (never the requester) decides them.
public struct CertificateSubject: Sendable, Equatable, Hashable, Codable {
    public var commonName: String
    public var organizationalUnit: String?
    public var organization: String?

    public init(commonName: String, organizationalUnit: String? = nil, organization: String? = nil) {
        self.commonName = commonName
        self.organizationalUnit = organizationalUnit
        self.organization = organization
    }

    /// X.520 upper bound for CN, OU and O.
    public static let maximumFieldLength = 64

    /// Refuses empty or over-long fields and control characters (which would make a name ambiguous in logs).
    func validate() throws {
        try Self.check("CN", commonName)
        if let organizationalUnit { try Self.check("OU", organizationalUnit) }
        if let organization { try Self.check("O", organization) }
    }

    private static func check(_ field: String, _ value: String) throws {
        guard !value.isEmpty else { throw CryptoError("certificate subject: \(field) is empty") }
        guard value.count <= maximumFieldLength else {
            throw CryptoError("certificate subject: \(field) is longer than \(maximumFieldLength) characters")
        }
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw CryptoError("certificate subject: \(field) contains a control character")
        }
    }
}
