import ClusterState
import Foundation
import Glibc
import SwarmNode

/// `swarmctl ca [--rotate] [--cert-expiry DURATION] [--detach] [-q]`, like `docker swarm ca`:
/// prints the cluster's root CA certificate; `--rotate` asks the leader for a new root (it
/// cross-signs it with the old one, every node renews onto it, and the old root is retired once
/// all live nodes hold a certificate from the new one); `--cert-expiry` sets how long node
/// certificates last. Both go through `POST /swarm/update` with `Spec.CAConfig`, as the docker
/// CLI sends them (`ForceRotate` raised by one).
enum CACommand {
    static let help = """
    Usage:  swarmctl ca [--rotate] [--cert-expiry DURATION] [--detach] [-q]

    Show the cluster's root CA certificate, rotate it, or set how long node certificates last.

    Options:
      --rotate                 Create a new root CA; nodes renew onto it, then the old root is retired
                               and the join tokens change (their CA digest pins the new root)
      --cert-expiry DURATION   Validity of node certificates issued from now on (at least 1h; default 2160h;
                               down to 1m on a test cluster whose managers run with --enable-chaos)
      -d, --detach             Do not wait for the rotation to finish
      -q, --quiet              Print only the certificate
    """

    /// Longest wait for a rotation: every live node must renew (within a few heartbeats).
    static let rotationTimeoutSeconds = 120.0

    static func run(_ connection: APIConnection, _ arguments: inout CommandLineArguments) throws -> Int32 {
        let rotate = arguments.takeSwitch("--rotate")
        let detach = arguments.takeSwitch("-d", "--detach")
        let quiet = arguments.takeSwitch("-q", "--quiet")
        let expiry = try arguments.takeValue("--cert-expiry").map { text -> Int64 in
            // The manager enforces the minimum: 1h, or 1m on a test cluster (run with --enable-chaos).
            guard let millis = Duration.parseMillis(text), millis >= 60_000 else {
                throw UsageError(message: "--cert-expiry '\(text)': expected a duration of at least 1h, like 720h "
                    + "(1m on a test cluster whose managers run with --enable-chaos)")
            }
            return Int64(millis) * 1_000_000
        }
        try arguments.finish(command: "ca")
        guard arguments.positionals.isEmpty else { throw UsageError(message: "ca takes no arguments") }
        if rotate || expiry != nil {
            let cluster = try connection.decode(Cluster.self, "GET", "/swarm")
            var spec = cluster.spec
            var caConfig = spec.caConfig ?? ClusterSpec.CAConfig()
            if let expiry { caConfig.nodeCertExpiry = expiry }
            if rotate { caConfig.forceRotate += 1 }
            spec.caConfig = caConfig
            _ = try connection.request("POST", "/swarm/update", query: [("version", String(cluster.version.index))],
                                       body: Array(try JSONEncoder().encode(spec)))
        }
        if rotate && !detach { try waitForRotation(connection, quiet: quiet) }
        let swarm = try connection.json("GET", "/swarm") as? [String: Any] ?? [:]
        guard let root = (swarm["TLSInfo"] as? [String: Any])?["TrustRoot"] as? String, !root.isEmpty else {
            throw CommandFailure(message: "the manager did not return the root CA certificate: is it a manager of an initialized cluster?")
        }
        writeStandardOutput(root.hasSuffix("\n") ? root : root + "\n")
        return 0
    }

    /// Polls until the leader reports the rotation finished (it may take a moment to start).
    private static func waitForRotation(_ connection: APIConnection, quiet: Bool) throws {
        let started = Date()
        var sawRotation = false
        while Date().timeIntervalSince(started) < rotationTimeoutSeconds {
            let swarm = try connection.json("GET", "/swarm") as? [String: Any] ?? [:]
            let inProgress = swarm["RootRotationInProgress"] as? Bool ?? false
            if inProgress { sawRotation = true }
            if sawRotation && !inProgress {
                if !quiet { writeStandardError("Root CA rotation complete: every node holds a certificate from the new root.\n") }
                return
            }
            if !sawRotation && Date().timeIntervalSince(started) > 10 {
                throw CommandFailure(message: "the leader did not start the rotation within 10s: check 'swarmctl info' for a leader")
            }
            if !quiet && inProgress { writeStandardError("rotating the root CA: waiting for every live node to renew its certificate…\n") }
            usleep(500_000)
        }
        throw CommandFailure(message: "the root CA rotation is still in progress after \(Int(rotationTimeoutSeconds))s: "
            + "a node that is up but not heartbeating keeps it waiting; run 'swarmctl ca' again later, or remove the node")
    }
}
