import API
import Executor
import Glibc
import Platform
import Storage
import Synchronization
import Transport

// Fault injection on a real node (`enable-chaos`): link faults through the transport's fault
// rules, disk faults through the storage's, clock skew through the shell's clock, and one-off
// actions (pause the loop, kill or freeze a task's processes).
extension SwarmNode {
    public var chaosStatus: ChaosStatus {
        ChaosStatus(nodeID: identity.nodeID, transportID: identity.transportID, enabled: configuration.enableChaos,
                    settings: chaosSettings)
    }

    public func applyChaos(_ settings: ChaosSettings, _ done: @escaping (Result<Void, APIError>) -> Void) {
        guard configuration.enableChaos else { return done(.failure(.chaosDisabled)) }
        var rules = FaultRules()
        rules.dropAllTo = Set(settings.dropTo)
        rules.dropAllFrom = Set(settings.dropFrom)
        rules.dropProbability = Self.byPeer(settings.lossProbability)
        rules.delayMillis = Self.byPeer(settings.delayMillis)
        rules.jitterMillis = Self.byPeer(settings.jitterMillis)
        rules.duplicateProbability = Self.byPeer(settings.duplicateProbability)
        transport.faultRules = rules
        let now = monotonicNanoseconds() / 1_000_000
        var faults = StorageFaults()
        faults.failSyncUntilMillis = settings.fsyncFailForMillis > 0 ? now + UInt64(settings.fsyncFailForMillis) : 0
        faults.noSpaceUntilMillis = settings.diskFullForMillis > 0 ? now + UInt64(settings.diskFullForMillis) : 0
        faults.slowSyncMillis = UInt32(max(0, settings.fsyncSlowMillis))
        faults.slowSyncUntilMillis = settings.fsyncSlowForMillis > 0 ? now + UInt64(settings.fsyncSlowForMillis) : 0
        let chosen = faults
        replicatedLog?.enqueueStorageJob { $0.faults = chosen }
        Clock.skewMillis.store(Int64(settings.clockSkewMillis), ordering: .relaxed)
        chaosSettings = settings
        logger.warn("chaos: faults now \(settings == ChaosSettings() ? "none (healed)" : "\(settings)")")
        done(.success(()))
    }

    public func performChaos(_ action: ChaosAction, _ done: @escaping (Result<Void, APIError>) -> Void) {
        guard configuration.enableChaos else { return done(.failure(.chaosDisabled)) }
        switch action.kind {
        case .pauseNode:
            let millis = max(0, min(action.forMillis ?? 1_000, 600_000))
            logger.warn("chaos: pausing the event loop for \(millis) ms")
            done(.success(()))
            // Blocks the loop thread itself: no ticks, no I/O, no API, as a stalled process.
            loop.afterCurrentIteration { usleep(UInt32(millis) * 1000) }
        case .killTask, .pauseTask:
            let signal = action.kind == .killTask ? SIGKILL : SIGSTOP
            var hit = 0
            for taskID in action.taskIDs ?? [] {
                guard let container = agent?.container(ofTask: taskID),
                      let pid = try? taskExecutor?.inspect(container).pid, pid > 0 else { continue }
                _ = kill(-pid, signal)
                _ = kill(pid, signal)
                hit += 1
            }
            logger.warn("chaos: \(action.kind.rawValue) on \(hit) of \((action.taskIDs ?? []).count) tasks")
            guard hit > 0 || (action.taskIDs ?? []).isEmpty else {
                return done(.failure(.badRequest("none of these tasks runs on this node: \((action.taskIDs ?? []).joined(separator: ", "))")))
            }
            done(.success(()))
        }
    }

    private static func byPeer<T>(_ values: [String: T]) -> [UInt64: T] {
        Dictionary(uniqueKeysWithValues: values.compactMap { key, value in UInt64(key).map { ($0, value) } })
    }
}
