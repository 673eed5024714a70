import Crypto
import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// Pulls over HTTPS with the registry's certificate verified (CA and host name), plain HTTP only
/// for registries the policy allows, no downgrade through a redirect, and the manifest checked
/// against a pinned digest. The "system" CA here is a test root given as an additional root;
/// the loopback exemption is switched off so 127.0.0.1 stands for a remote registry.
final class RegistryTLSTests: XCTestCase {
    private var root = ""
    private var store: ImageStore!
    private var registries: [FakeRegistry] = []
    private var image: BuiltImage!
    private var ca: CertificateAuthority!

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "registry-tls-tests-")
        try FileSystem.makeDirectories(root + "/rootfs/etc", mode: 0o755)
        try Array("hello\n".utf8).withUnsafeBytes { try File.create(root + "/rootfs/etc/greeting", mode: 0o644).append($0) }
        image = try BuiltImage(rootfs: root + "/rootfs", scratch: root)
        store = try ImageStore(root: root + "/images")
        let now = Int64(time(nil))
        ca = try CertificateAuthority.createRoot(commonName: "registry-test-root", organization: "test", validitySeconds: 3600, now: now)
    }

    override func tearDownWithError() throws {
        for registry in registries { registry.stop() }
        if !root.isEmpty { try Tree.remove(root) }
    }

    /// A registry serving the image, over TLS with a certificate for `ip`/`dns` from `issuer`
    /// (nil: plain HTTP).
    private func startRegistry(tlsFor ip: String? = "127.0.0.1", dns: [String] = [], issuer: CertificateAuthority? = nil) throws -> FakeRegistry {
        var context: TLSContext?
        if ip != nil || !dns.isEmpty {
            let signer = issuer ?? ca!
            let key = try PrivateKey.generateP256()
            let subject = CertificateSubject(commonName: "registry")
            let leaf = try signer.issue(csr: CertificateSigningRequest(key: key, subject: subject), subject: subject, validitySeconds: 600,
                                        now: Int64(time(nil)), dnsNames: dns, ipAddresses: ip.map { [$0] } ?? [])
            context = try TLSContext(role: .server, identity: TLSIdentity(chain: [leaf], key: key), trustedRoots: [], peerVerification: .none)
        }
        let registry = try FakeRegistry(tls: context)
        registries.append(registry)
        image.serve(on: registry, repository: "test/app")
        return registry
    }

    private func remotePolicy(insecure: [String] = [], roots: [Certificate]? = nil) -> RegistryPolicy {
        RegistryPolicy(insecureRegistries: insecure, loopbackIsInsecure: false, additionalRoots: roots ?? [ca.certificate])
    }

    func testAPullOverHTTPSWithAVerifiedCertificate() throws {
        let registry = try startRegistry()
        store.registryPolicy = remotePolicy()
        let pulled = try store.pull("127.0.0.1:\(registry.port)/test/app")
        XCTAssertEqual(pulled.id, image.config)
        XCTAssertEqual(registry.count("/v2/test/app/blobs/\(image.layer)"), 1)
    }

    func testACertificateForAnotherNameOrFromAnUntrustedCAIsRefused() throws {
        let misnamed = try startRegistry(tlsFor: nil, dns: ["registry.example"])
        store.registryPolicy = remotePolicy()
        XCTAssertThrowsError(try store.pull("127.0.0.1:\(misnamed.port)/test/app")) { error in
            XCTAssertTrue("\(error)".contains("mismatch"), "\(error)")
        }
        let rogue = try CertificateAuthority.createRoot(commonName: "rogue", organization: "x", validitySeconds: 3600, now: Int64(time(nil)))
        let untrusted = try startRegistry(issuer: rogue)
        XCTAssertThrowsError(try store.pull("127.0.0.1:\(untrusted.port)/test/app")) { error in
            XCTAssertTrue("\(error)".contains("TLS"), "\(error)")
        }
        XCTAssertEqual(untrusted.count("/v2/test/app/manifests/latest"), 0, "no request went over the unverified connection")
        XCTAssertEqual(try store.list().count, 0)
    }

    func testPlainHTTPOnlyForListedRegistries() throws {
        let plain = try startRegistry(tlsFor: nil)
        store.registryPolicy = remotePolicy()
        XCTAssertThrowsError(try store.pull("127.0.0.1:\(plain.port)/test/app"), "not listed: https is spoken, the plain server fails it")
        XCTAssertEqual(plain.count("/v2/test/app/manifests/latest"), 0)
        store.registryPolicy = remotePolicy(insecure: ["127.0.0.1:\(plain.port)"])
        XCTAssertEqual(try store.pull("127.0.0.1:\(plain.port)/test/app").id, image.config)
        XCTAssertEqual(RegistryPolicy.validateEntry("http://host:5000"), "insecure-registries entry 'http://host:5000': give HOST or HOST:PORT (no scheme, path or CIDR range)")
        XCTAssertNil(RegistryPolicy.validateEntry("registry.local:5000"))
    }

    func testARedirectToPlainHTTPIsRefused() throws {
        let plain = try startRegistry(tlsFor: nil)
        let secure = try startRegistry()
        secure.route("/v2/test/app/blobs/\(image.layer)") { [port = plain.port, layer = image.layer] _ in
            (307, ["Location": "http://127.0.0.1:\(port)/v2/test/app/blobs/\(layer)"], [])
        }
        store.registryPolicy = remotePolicy()
        XCTAssertThrowsError(try store.pull("127.0.0.1:\(secure.port)/test/app")) { error in
            XCTAssertTrue("\(error)".contains("plain HTTP to a registry that is not in insecure-registries"), "\(error)")
        }
        XCTAssertEqual(plain.count("/v2/test/app/blobs/\(image.layer)"), 0)
    }

    func testAManifestThatDoesNotMatchThePinnedDigestIsRefused() throws {
        let registry = try startRegistry()
        let pinned = Digest.of(Array("another manifest".utf8))
        registry.route("/v2/test/app/manifests/\(pinned)") { [bytes = image.manifestBytes] _ in
            (200, ["Content-Type": "application/vnd.oci.image.manifest.v1+json"], bytes)
        }
        store.registryPolicy = remotePolicy()
        XCTAssertThrowsError(try store.pull("127.0.0.1:\(registry.port)/test/app@\(pinned)")) { error in
            guard case .digestMismatch(let expected, _, _) = error as? ImageError else { return XCTFail("\(error)") }
            XCTAssertEqual(expected, pinned)
        }
        XCTAssertEqual(try store.pull("127.0.0.1:\(registry.port)/test/app@\(image.manifest)").id, image.config)
    }
}
