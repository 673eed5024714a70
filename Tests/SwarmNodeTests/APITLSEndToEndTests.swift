import Foundation
import Glibc
import Platform
import XCTest

/// A `tcp:` API served like `dockerd --tlsverify`: the real docker CLI, docker-py, swarmctl and
/// `openssl s_client` get in with a client certificate from the trusted CA, and are refused
/// without one or with one from another CA. The PKI is made with the `openssl` command.
final class APITLSEndToEndTests: XCTestCase {
    private var cluster: TestCluster!
    private var pki = ""
    private var port = 0

    override func setUpWithError() throws {
        guard FileSystem.exists("/usr/bin/openssl") else { throw XCTSkip("needs the openssl command to make the test PKI") }
        cluster = try TestCluster()
        pki = cluster.directory + "/pki"
        try FileSystem.makeDirectories(pki + "/client")
        try FileSystem.makeDirectories(pki + "/rogue")
        try makePKI()
        port = try TestCluster.freePort()
        let tlsFlags = ["--tlsverify", "--tlscacert", pki + "/ca.pem", "--tlscert", pki + "/client/cert.pem", "--tlskey", pki + "/client/key.pem"]
        try cluster.initialize("m1", apiAddress: "tcp:127.0.0.1:\(port)", extraFlags: [
            "--api-tlscert", pki + "/server-cert.pem", "--api-tlskey", pki + "/server-key.pem", "--api-tlscacert", pki + "/ca.pem",
        ]) { (try? self.cluster.cli("m1", tlsFlags + ["info"]))?.status == 0 }
    }

    override func tearDown() {
        cluster?.tearDown()
    }

    // MARK: The PKI

    /// CA, a server certificate for 127.0.0.1, a client certificate (OU=client) in the
    /// DOCKER_CERT_PATH layout, and a client certificate from another CA.
    private func makePKI() throws {
        let script = """
        set -e
        cd '\(pki)'
        ca() { openssl ecparam -name prime256v1 -genkey -noout -out "$1-key.pem"
               openssl req -x509 -new -key "$1-key.pem" -subj "/CN=$1" -days 2 -out "$1.pem" \\
                 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }
        leaf() { # KEY CERT SUBJECT CA EXTENSIONS
               openssl ecparam -name prime256v1 -genkey -noout -out "$1"
               openssl req -new -key "$1" -subj "$3" -out "$1.csr"
               printf '%s\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid,issuer\\nbasicConstraints=critical,CA:FALSE\\n' "$5" > "$1.ext"
               openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4-key.pem" -CAcreateserial -days 1 -out "$2" -extfile "$1.ext"; }
        ca ca; ca other
        leaf server-key.pem server-cert.pem /CN=node ca "subjectAltName=IP:127.0.0.1
        extendedKeyUsage=serverAuth"
        leaf client/key.pem client/cert.pem /OU=client/CN=tester ca "extendedKeyUsage=clientAuth"
        cp ca.pem client/ca.pem
        leaf rogue/key.pem rogue/cert.pem /OU=client/CN=rogue other "extendedKeyUsage=clientAuth"
        cp ca.pem rogue/ca.pem
        chmod 644 client/key.pem rogue/key.pem
        """
        let result = try shell(script)
        XCTAssertEqual(result.status, 0, result.output)
    }

    // MARK: Scenarios

    func testOpensslWithoutAClientCertificateIsRefusedAndWithOneIsAnswered() throws {
        let request = #"printf 'GET /v1.41/_ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'"#
        let sClient = "timeout 20 openssl s_client -connect 127.0.0.1:\(port) -CAfile '\(pki)/ca.pem' -verify_return_error -quiet"
        let refused = try shell("\(request) | \(sClient) 2>&1")
        XCTAssertFalse(refused.output.contains("HTTP/1.1 200"), refused.output)
        XCTAssertTrue(refused.output.lowercased().contains("certificate required"), refused.output)
        let other = try shell("\(request) | \(sClient) -cert '\(pki)/rogue/cert.pem' -key '\(pki)/rogue/key.pem' 2>&1")
        XCTAssertFalse(other.output.contains("HTTP/1.1 200"), other.output)
        XCTAssertTrue(other.output.lowercased().contains("unknown ca"), other.output)
        let admitted = try shell("\(request) | \(sClient) -cert '\(pki)/client/cert.pem' -key '\(pki)/client/key.pem' 2>&1")
        XCTAssertTrue(admitted.output.contains("HTTP/1.1 200 OK"), admitted.output)
        XCTAssertTrue(cluster.log("m1").contains("API over TLS"), cluster.log("m1"))
    }

    func testTheDockerCLIRunsServicesWithTheCertificateAndFailsWithoutIt() throws {
        guard FileSystem.exists("/usr/local/bin/docker") else { throw XCTSkip("the docker CLI is not installed") }
        let base = "DOCKER_HOST=tcp://127.0.0.1:\(port) DOCKER_CONFIG='\(cluster.directory)/docker-config' DOCKER_CLI_HINTS=false"
        let verified = "\(base) DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH='\(pki)/client'"
        for command in ["node ls", "service create --detach --name web busybox sleep 3600", "service ls", "service ps web"] {
            let result = try shell("\(verified) timeout 60 docker \(command) 2>&1")
            XCTAssertEqual(result.status, 0, "docker \(command): \(result.output)")
            if command == "service ls" { XCTAssertTrue(result.output.contains("web"), result.output) }
        }
        // docker exec through TLS: the CLI's end of stdin arrives as close_notify.
        try cluster.waitUntil("the task container runs", timeoutSeconds: 30) {
            try self.shell("\(verified) timeout 60 docker ps -q").output.split(separator: "\n").count == 1
        }
        let id = try shell("\(verified) timeout 60 docker ps -q").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let exec = try shell("printf 'over tls\\n' | \(verified) timeout 60 docker exec -i \(id) sh -c 'cat; exit 6' 2>&1")
        XCTAssertEqual(exec.status, 6, exec.output)
        XCTAssertEqual(exec.output, "over tls\n")
        let removed = try shell("\(verified) timeout 60 docker service rm web 2>&1")
        XCTAssertEqual(removed.status, 0, removed.output)
        let plain = try shell("\(base) timeout 60 docker node ls 2>&1")
        XCTAssertNotEqual(plain.status, 0, plain.output)
        let rogue = try shell("\(base) DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH='\(pki)/rogue' timeout 60 docker node ls 2>&1")
        XCTAssertNotEqual(rogue.status, 0, rogue.output)
        XCTAssertFalse(rogue.output.contains("HOSTNAME"), rogue.output)
    }

    func testDockerPyWithTLSConfigDoesTheSame() throws {
        guard try shell("python3 -c 'import docker' 2>&1").status == 0 else { throw XCTSkip("docker-py is not installed") }
        let script = """
        import docker, sys
        from docker.tls import TLSConfig
        d = '\(pki)/client'
        tls = TLSConfig(client_cert=(d + '/cert.pem', d + '/key.pem'), ca_cert=d + '/ca.pem', verify=True)
        c = docker.DockerClient(base_url='tcp://127.0.0.1:\(port)', tls=tls, version='1.41')
        print('nodes', len(c.nodes.list()))
        s = c.services.create('busybox', command=['sleep', '3600'], name='pyweb')
        print('services', [x.name for x in c.services.list()])
        s.remove()
        print('after', [x.name for x in c.services.list()])
        try:
            docker.DockerClient(base_url='tcp://127.0.0.1:\(port)', version='1.41',
                                tls=TLSConfig(ca_cert=d + '/ca.pem', verify=True)).nodes.list()
            print('UNEXPECTED: no certificate was accepted')
        except Exception as e:
            print('refused without a certificate:', type(e).__name__)
        """
        try script.write(toFile: cluster.directory + "/tls.py", atomically: true, encoding: .utf8)
        // requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE (set on this machine) override a session's CA
        // (psf/requests#3829), which would replace TLSConfig's ca_cert with the system store.
        let result = try shell("env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE timeout 120 python3 '\(cluster.directory)/tls.py' 2>&1")
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("nodes 1"), result.output)
        XCTAssertTrue(result.output.contains("services ['pyweb']"), result.output)
        XCTAssertTrue(result.output.contains("after []"), result.output)
        XCTAssertTrue(result.output.contains("refused without a certificate"), result.output)
        XCTAssertFalse(result.output.contains("UNEXPECTED"), result.output)
    }

    func testSwarmctlTakesDockersEnvironmentAndFailsWithoutIt() throws {
        let host = "tcp:127.0.0.1:\(port)"
        let withEnvironment = try shell("DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH='\(pki)/client' '\(cluster.binary)' -H \(host) node ls 2>&1")
        XCTAssertEqual(withEnvironment.status, 0, withEnvironment.output)
        let plain = try shell("'\(cluster.binary)' -H \(host) node ls 2>&1")
        XCTAssertEqual(plain.status, 1, plain.output)
        let rogue = try shell("DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH='\(pki)/rogue' '\(cluster.binary)' -H \(host) node ls 2>&1")
        XCTAssertEqual(rogue.status, 1, rogue.output)
        XCTAssertTrue(rogue.output.contains("TLS with swarmctl at \(host) failed"), rogue.output)
        let missing = try shell("DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH='\(pki)/nowhere' '\(cluster.binary)' -H \(host) node ls 2>&1")
        XCTAssertEqual(missing.status, 2, missing.output)
        XCTAssertTrue(missing.output.contains("cannot read it"), missing.output)
    }

    // MARK: Helpers

    /// Runs a shell script; its status and combined output (60 s of silence kills it).
    private func shell(_ script: String) throws -> (status: Int32, output: String) {
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", script])
        var output: [UInt8] = []
        while let chunk = try process.readOutput(timeoutMilliseconds: 60_000), !chunk.isEmpty { output += chunk }
        let result = try process.wait()
        return (result.exitCode ?? -1, String(decoding: output, as: UTF8.self))
    }
}
