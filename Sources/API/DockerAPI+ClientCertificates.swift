import Crypto
import Foundation

/// `POST /swarmctl/client-certificate` body: a PEM certificate signing request made by the
/// client, whose key never leaves it.
public struct ClientCertificateRequest: Codable, Sendable, Equatable {
    public var csr: String

    public init(csr: String) { self.csr = csr }

    enum CodingKeys: String, CodingKey { case csr = "CSR" }
}

/// The answer: the signed certificate (PEM chain, leaf first) and the CA certificates to trust,
/// in the `cert.pem`/`ca.pem` shape docker reads from DOCKER_CERT_PATH.
public struct ClientCertificateResponse: Codable, Sendable, Equatable {
    public var certificate: String
    public var ca: String

    public init(certificate: String, ca: String) {
        self.certificate = certificate
        self.ca = ca
    }

    enum CodingKeys: String, CodingKey {
        case certificate = "Certificate"
        case ca = "CA"
    }
}

/// Issuing API client certificates (`swarmctl client-cert`), on managers.
extension DockerAPI {
    func clientCertificateRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        guard segments.count == 2, segments[1] == "client-certificate" else { return nil }
        guard request.method == "POST" else { return reply(HTTPResponse.error(405, "use POST /swarmctl/client-certificate")) }
        guard let controlPlane = manager(reply) else { return () }
        let csr: CertificateSigningRequest
        switch Self.decodeBody(ClientCertificateRequest.self, request) {
        case let .failure(error): return reply(error.response)
        case let .success(body):
            do {
                csr = try CertificateSigningRequest(pem: body.csr)
            } catch {
                return reply(APIError.badRequest("CSR is not a valid PEM certificate signing request with a P-256 key: \(error)").response)
            }
        }
        return controlPlane.issueClientCertificate(csr) { [weak self] result in
            guard let self else { return }
            switch result {
            case let .success(issued): reply(json(200, issued))
            case let .failure(error): reply(error.response)
            }
        }
    }
}
