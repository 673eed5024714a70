import API
import Crypto
import Foundation
import Glibc
import Platform

/// `swarmctl client-cert --out DIR`: a certificate for the API, signed by the cluster CA.
///
/// It exists so a docker CLI, docker-py or swarmctl can reach a `tcp:` API that requires client
/// certificates: the key is made here and never leaves this machine, the manager signs a CSR
/// (OU client), and DIR gets `ca.pem cert.pem key.pem` (0600) — the DOCKER_CERT_PATH layout.
enum ClientCertificateCommand {
    static let usage = """
    Usage:  swarmctl client-cert --out DIR

    Makes a private key here, has a manager sign it as an API client certificate (OU client,
    valid 90 days) with the cluster CA, and writes DIR/ca.pem, DIR/cert.pem and DIR/key.pem
    (0600; DIR is created 0700). Then, like docker:
      DOCKER_HOST=tcp://HOST:PORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR docker node ls
      swarmctl -H tcp:HOST:PORT --tlsverify ... or DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR swarmctl ...
    """

    static let files = ["ca.pem", "cert.pem", "key.pem"]

    static func run(_ rawArguments: [String]) throws -> Int32 {
        if rawArguments.contains("--help") || rawArguments.contains("-h") {
            writeStandardOutput(usage + "\n")
            return 0
        }
        var arguments = try CommandLineArguments(rawArguments, switches: [])
        let connection = try APIConnection(host: arguments.takeValue("-H", "--host"))
        guard let directory = arguments.takeValue("--out") else {
            throw UsageError(message: "client-cert needs --out DIR: the directory for ca.pem, cert.pem and key.pem")
        }
        try arguments.finish(command: "client-cert")
        guard arguments.positionals.isEmpty else { throw UsageError(message: "client-cert takes no arguments, got '\(arguments.positionals[0])'") }
        if let existing = files.first(where: { FileSystem.exists(directory + "/" + $0) }) {
            throw CommandFailure(message: "\(directory)/\(existing) already exists: pass another --out DIR or remove the old files")
        }
        let key = try PrivateKey.generateP256()
        let csr = try CertificateSigningRequest(key: key, subject: CertificateSubject(commonName: "swarmctl-client"))
        let body = try connection.request("POST", "/swarmctl/client-certificate",
                                          body: Array(try JSONEncoder().encode(ClientCertificateRequest(csr: csr.pem))))
        guard let issued = try? JSONDecoder().decode(ClientCertificateResponse.self, from: Data(body)),
              let leaf = try? Certificate.parseChain(pem: issued.certificate).first else {
            throw CommandFailure(message: "the node at \(connection.host) sent an answer this client cannot read: are client and node the same version?")
        }
        try write(directory: directory, ca: issued.ca, certificate: issued.certificate, key: key.pem)
        writeStandardOutput("Wrote \(directory)/ca.pem, cert.pem and key.pem: \(leaf.subject.commonName), OU=client, "
                            + "valid until \(Date(timeIntervalSince1970: TimeInterval(leaf.notAfter))).\n")
        return 0
    }

    /// Writes the three files 0600 (the key first made under a temporary name), DIR 0700 if new.
    static func write(directory: String, ca: String, certificate: String, key: String) throws {
        try FileSystem.makeDirectories(directory, mode: 0o700)
        for (name, text) in [("key.pem", key), ("cert.pem", certificate), ("ca.pem", ca)] {
            let path = directory + "/" + name
            let file = try File.create(path + ".tmp", mode: 0o600)
            try file.write(Array(text.utf8), at: 0)
            try file.sync()
            try FileSystem.rename(path + ".tmp", to: path)
        }
        try FileSystem.syncDirectory(directory)
    }
}
