/// The autolock part of a `POST /swarm/update` body (`Spec.EncryptionConfig.AutoLockManagers`,
/// what `docker swarm update --autolock=true` sends).
///
/// It exists because `ClusterSpec` does not store the setting: managers cannot be locked yet, so
/// a request to enable autolock must be seen and refused rather than dropped by the decoder.
struct AutoLockRequest: Decodable {
    struct EncryptionConfig: Decodable {
        var autoLockManagers: Bool?
        enum CodingKeys: String, CodingKey { case autoLockManagers = "AutoLockManagers" }
    }

    var encryptionConfig: EncryptionConfig?

    /// True when the body asks for autolock on; false, absent or null leave it off (as it is).
    var enablesAutoLock: Bool { encryptionConfig?.autoLockManagers == true }

    enum CodingKeys: String, CodingKey { case encryptionConfig = "EncryptionConfig" }
}

/// `GET /swarm/unlockkey`'s body, `{"UnlockKey": "..."}` as dockerd writes it.
struct UnlockKeyResponse: Encodable {
    var unlockKey: String
    enum CodingKeys: String, CodingKey { case unlockKey = "UnlockKey" }
}
