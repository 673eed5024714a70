/// The distinguished name fields swarmctl uses: CN = node id, OU = role, O = cluster id.
public struct CertificateSubject: Sendable, Equatable, Hashable, Codable {
    public var commonName: String
    public var organizationalUnit: String?
    public var organization: String?
    public init(commonName: String, organizationalUnit: String? = nil, organization: String? = nil) {
        self.commonName = commonName
        self.organizationalUnit = organizationalUnit
        self.organization = organization
    }
}
