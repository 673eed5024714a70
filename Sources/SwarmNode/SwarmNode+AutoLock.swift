import ClusterState
import Platform
import Storage

// Autolock on a running manager: the Raft storage opens with the KEK the node holds, and the KEK
// and the TLS key are rewrapped whenever the replicated unlock key changes.
extension SwarmNode {
    /// How the Raft storage is encrypted: under the KEK the node holds, creating one (stored in
    /// clear until the cluster's autolock wraps it) for a new manager.
    func raftEncryption() throws -> RaftStorage.Encryption {
        if ManagerKeys.benchmarkPlaintext {
            logger.warn("\(ManagerKeys.benchmarkPlaintextVariable)=1: the Raft log and snapshots are NOT encrypted at rest (benchmark only)")
            return .disabled
        }
        if managerKeys.kek == nil { managerKeys.kek = try ManagerKeyLock.currentOrNewKey(dataDirectory: dataDirectory) }
        return .keyEncryptionKey(managerKeys.kek!)
    }

    /// The key the TLS private key file is sealed under: the KEK while autolock wraps it.
    var tlsSealingKey: [UInt8]? { managerKeys.wrappedUnder == nil ? nil : managerKeys.kek }

    /// Brings the data dir in line with the replicated unlock key: wraps the KEK and seals the
    /// TLS key under a new key, or stores both in clear when autolock was turned off. Runs after
    /// each Ready batch on the loop (a change is rare: two small files, fsynced); a failure is
    /// logged and retried at the next batch.
    func followAutoLock() {
        guard let current = raft, let kek = managerKeys.kek, current.appliedIndex >= managerKeys.followFromIndex,
              state.cluster != nil else { return }
        let wanted = state.managerUnlockKey
        guard wanted != managerKeys.wrappedUnder else { return }
        do {
            if let wanted {
                try ManagerKeyLock.lock(dataDirectory: dataDirectory, kek: kek, unlockKey: wanted)
                try certificates.save(to: dataDirectory, sealingKey: kek)
                logger.info("autolock: the Raft keys and the TLS key are now wrapped under the \(managerKeys.wrappedUnder == nil ? "" : "new ")unlock key")
            } else {
                try certificates.save(to: dataDirectory, sealingKey: nil)
                try ManagerKeyLock.unlockPermanently(dataDirectory: dataDirectory, kek: kek)
                logger.info("autolock turned off: the Raft keys and the TLS key are stored unwrapped again")
            }
            managerKeys.wrappedUnder = wanted
        } catch {
            logger.error("autolock: could not rewrap this manager's keys (\(error)); retrying at the next batch")
        }
    }

    /// A demoted manager keeps no Raft keys (a worker is never locked): the keys directory goes
    /// with the Raft log and the TLS key is stored in clear again.
    func forgetManagerKeys() {
        if managerKeys.wrappedUnder != nil {
            do { try certificates.save(to: dataDirectory, sealingKey: nil) } catch {
                logger.warn("demoted: could not store the TLS key unsealed (\(error))")
            }
        }
        managerKeys = ManagerKeys()
        do { try FileSystem.removeTree(ManagerKeyLock.keysDirectory(in: dataDirectory)) } catch {
            logger.warn("demoted: could not remove the Raft keys (\(error))")
        }
    }
}
