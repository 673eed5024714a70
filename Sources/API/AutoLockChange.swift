import Crypto

/// What a `POST /swarm/update` does to autolock (`Spec.EncryptionConfig.AutoLockManagers` and
/// `?rotateManagerUnlockKey=true`, what `docker swarm update --autolock` and
/// `docker swarm unlock-key --rotate` send).
///
/// It exists so the route decides in one place whether the update also changes the unlock key,
/// which must happen in the same Raft entry as the flag (`ClusterCommand.setAutoLock`).
enum AutoLockChange: Equatable {
    /// Autolock stays as it is; a plain spec update.
    case unchanged
    /// Autolock on with a new key (enabled, or its key rotated), or off (`false`).
    case set(Bool)
    case refused(String)

    static func decide(asked: Bool, current: Bool, rotate: Bool) -> AutoLockChange {
        if rotate {
            guard asked else {
                return .refused("cannot rotate the unlock key: autolock is not enabled (swarm update --autolock=true first)")
            }
            return .set(true)
        }
        return asked == current ? .unchanged : .set(asked)
    }

    /// The prefix of every unlock key; `Storage.ManagerKeyLock.parse` reads what follows.
    static let unlockKeyPrefix = "SWMKEY-1-"

    /// A new unlock key: 256 random bits as 64 hex digits.
    static func newUnlockKey() throws -> String {
        unlockKeyPrefix + Crypto.hex(try Crypto.randomBytes(32)).uppercased()
    }
}

/// `GET /swarm/unlockkey`'s body, `{"UnlockKey": "..."}` as dockerd writes it.
struct UnlockKeyResponse: Encodable {
    var unlockKey: String
    enum CodingKeys: String, CodingKey { case unlockKey = "UnlockKey" }
}
