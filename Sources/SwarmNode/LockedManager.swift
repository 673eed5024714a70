import API
import Foundation
import Platform
import Storage

/// A restarted manager whose keys are wrapped under the cluster's unlock key (autolock): until an
/// operator supplies the key it runs only this listener on its API address. Raft, the cluster
/// port, the agent and the real API do not start, so the node neither votes nor serves.
///
/// It exists so the locked state has exactly one way out: `POST /swarm/unlock` (what
/// `swarmctl swarm unlock` and `docker swarm unlock` send) with a key that unwraps the KEK. A wrong
/// key is refused and changes nothing; every other route answers 503 saying what to do.
enum LockedManager {
    static let lockedMessage = "this node is locked: run swarmctl swarm unlock (or docker swarm unlock) and enter the unlock key"

    /// What the keys unwrap to, handed to the normal start.
    struct Unlocked: @unchecked Sendable {
        var kek: [UInt8]
        var unlockKey: String
        var certificates: NodeCertificates
    }

    /// Serves the locked API until the right key arrives (returns what it unlocked) or
    /// `stopRequested` says the process is being stopped (throws).
    static func waitForUnlock(configuration: NodeConfiguration, identity: NodeIdentity, dataDirectory: String,
                              logger: NodeLogger, stopRequested: @escaping @Sendable () -> Bool) throws -> Unlocked {
        guard !identity.apiAddress.isEmpty else {
            throw NodeError("this manager is locked (autolock) and has no API address to unlock it through: "
                            + "restart it with --api-addr, then run swarmctl swarm unlock")
        }
        let security = try APIListenerSecurity.resolve(apiAddress: identity.apiAddress, configuration: configuration,
                                                       dataDirectory: dataDirectory)
        if let files = security.tls, files == APIListenerSecurity.nodeCertificateFiles(in: dataDirectory) {
            throw NodeError("this manager is locked (autolock) and its API on \(identity.apiAddress) would serve TLS with the node's own key, "
                            + "which the unlock key seals: restart it with --api-tlscert/--api-tlskey/--api-tlscacert or a unix: "
                            + "--api-addr, then run swarmctl swarm unlock")
        }
        var serverConfiguration = HTTPServerConfiguration()
        serverConfiguration.unixPermissions = security.unixPermissions
        if let files = security.tls { serverConfiguration.tls = try APIListenerSecurity.serverContext(files) }
        let settings = serverConfiguration
        let box = ResultBox<Unlocked>()
        let loopThread = try EventLoopThread(name: "swarmctl-locked")
        defer { loopThread.shutdown() }
        let nodeID = identity.nodeID, address = identity.advertiseAddress, apiAddress = identity.apiAddress
        let unlock: @Sendable (String) -> Result<Unlocked, LockedRefusal> = { text in
            attemptUnlock(text, dataDirectory: dataDirectory, logger: logger)
        }
        let listener = LockedListener()
        try loopThread.loop.executeAndWait {
            listener.server = try HTTPServer(loop: loopThread.loop, address: try SocketAddress(parsing: apiAddress),
                                             configuration: settings) { request, responder in
                responder.respond(respond(to: request, nodeID: nodeID, nodeAddress: address) { text in
                    let outcome = unlock(text)
                    if case let .success(unlocked) = outcome { box.set(unlocked) }
                    return outcome.map { _ in () }
                })
            }
        }
        logger.warn("this manager is locked (autolock): Raft and the cluster port start after 'swarmctl swarm unlock' through \(identity.apiAddress)")
        var unlocked: Unlocked?
        while unlocked == nil {
            if stopRequested() {
                try? loopThread.loop.executeAndWait { listener.server?.stop() }
                throw NodeError("stopped while locked: nothing was started")
            }
            unlocked = box.wait(timeoutMillis: 200)
        }
        // The answer to the unlock request is written before the listener goes (the real API binds next).
        usleep(50_000)
        try? loopThread.loop.executeAndWait { listener.server?.stop() }
        logger.info("unlocked: starting Raft and the cluster port")
        return unlocked!
    }

    /// The locked listener, touched only on its loop thread.
    private final class LockedListener: @unchecked Sendable {
        var server: HTTPServer?
    }

    /// Why an unlock attempt was refused (the client sees it with status 400).
    struct LockedRefusal: Error, Sendable {
        var message: String
    }

    /// Unwraps the KEK with `text` and opens the TLS key with it; nothing on disk changes.
    static func attemptUnlock(_ text: String, dataDirectory: String, logger: NodeLogger) -> Result<Unlocked, LockedRefusal> {
        do {
            let kek = try ManagerKeyLock.unlock(dataDirectory: dataDirectory, unlockKey: text)
            let certificates = try NodeCertificates.load(from: dataDirectory, unsealingKey: kek)
            return .success(Unlocked(kek: kek, unlockKey: text.trimmingCharacters(in: .whitespacesAndNewlines), certificates: certificates))
        } catch let failure as ManagerKeyLock.Failure {
            logger.warn("unlock refused: \(failure)")
            return .failure(LockedRefusal(message: "swarm could not be unlocked: \(failure)"))
        } catch {
            logger.warn("unlock refused: \(error)")
            return .failure(LockedRefusal(message: "swarm could not be unlocked: \(error)"))
        }
    }

    /// The locked API, without I/O: `_ping`, `info` (LocalNodeState "locked", which the docker CLI
    /// checks before asking for the key) and `POST /swarm/unlock`; 503 for everything else.
    static func respond(to request: HTTPRequest, nodeID: String, nodeAddress: String,
                        unlock: (String) -> Result<Void, LockedRefusal>) -> HTTPResponse {
        let path = "/" + request.path.split(separator: "/").map(String.init).drop { $0.hasPrefix("v1.") }.joined(separator: "/")
        switch (request.method, path) {
        case ("GET", "/_ping"), ("HEAD", "/_ping"):
            return .text(200, "OK")
        case ("GET", "/info"):
            let info: [String: Any] = [
                "ID": nodeID, "Name": nodeID, "ServerVersion": "swarmctl", "OperatingSystem": "linux",
                "Swarm": ["NodeID": nodeID, "NodeAddr": nodeAddress, "LocalNodeState": "locked", "ControlAvailable": false,
                          "Error": lockedMessage] as [String: Any],
            ]
            return .json(200, Array((try? JSONSerialization.data(withJSONObject: info)) ?? Data()))
        case ("POST", "/swarm/unlock"):
            guard let body = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
                  let key = body["UnlockKey"] as? String else {
                return .error(400, "swarm could not be unlocked: the body must be {\"UnlockKey\": \"SWMKEY-1-...\"}")
            }
            switch unlock(key) {
            case .success: return HTTPResponse(status: 200)
            case let .failure(refusal): return .error(400, refusal.message)
            }
        default:
            return .error(503, lockedMessage)
        }
    }
}
