import API
import ClusterState
import Dispatch
import Executor
import Foundation
import Glibc
import Platform

// The node-level container API (`docker ps/inspect/top/stats/logs/images` against this node):
// this node's tasks as the leader assigned them, with the executor's view of their containers.
extension SwarmNode {
    public func localContainers() -> [LocalContainer] {
        guard let agent, let executor = taskExecutor else { return [] }
        return assignmentReceiver.tasks.values.compactMap { task -> LocalContainer? in
            guard let container = agent.container(ofTask: task.id), let info = try? executor.inspect(container) else { return nil }
            var placed = task
            if placed.nodeID == nil { placed.nodeID = identity.nodeID }
            let name = task.serviceAnnotations?.name ?? state.services[task.serviceID]?.spec.name ?? task.serviceID
            let state: LocalContainer.State = switch info.state {
            case .created: .created
            case .running: .running
            case .exited: .exited
            }
            return LocalContainer(id: container.rawValue, task: placed, serviceName: name, state: state, pid: info.pid,
                                  exitCode: info.exitStatus?.exitCode, startedAt: info.startedAt, health: info.health?.rawValue)
        }.sorted { ($0.task.createdAt, $0.task.id) > ($1.task.createdAt, $1.task.id) }
    }

    public func containerProcesses(_ container: LocalContainer, _ done: @escaping (Result<ContainerProcesses, APIError>) -> Void) {
        guard let pid = container.pid else { return done(.failure(APIError(status: 409, "Container \(container.id) is not running"))) }
        let bound = LoopBound(done, loop: loop)
        DispatchQueue.global().async { [self] in
            let processes = ContainerProcessTree.processes(under: pid)
            _ = loop.execute { bound.unwrapped(.success(processes)) }
        }
    }

    public func containerUsage(_ container: LocalContainer, intervalMillis: Int,
                               _ done: @escaping (Result<(ContainerUsage, ContainerUsage), APIError>) -> Void) {
        guard let pid = container.pid else { return done(.failure(APIError(status: 409, "Container \(container.id) is not running"))) }
        let bound = LoopBound(done, loop: loop)
        DispatchQueue.global().async { [self] in
            let first = ContainerProcessTree.usage(under: pid)
            // The CPU share is a rate: a second reading after the interval (as dockerd's one-shot=false).
            if intervalMillis > 0 { usleep(useconds_t(intervalMillis * 1_000)) }
            let second = intervalMillis > 0 ? ContainerProcessTree.usage(under: pid) : first
            _ = loop.execute { bound.unwrapped(.success((intervalMillis > 0 ? first : second, second))) }
        }
    }

    public func localImages() -> [LocalImage] {
        guard let oci = taskExecutor as? OCIExecutor, let listing = try? oci.images.list() else { return [] }
        var byID: [String: LocalImage] = [:]
        for entry in listing {
            let id = "sha256:" + entry.image.id.hex
            var image = byID[id] ?? LocalImage(id: id, repoTags: [], created: Int64(entry.image.added), size: entry.image.size)
            image.repoTags.append("\(entry.repository):\(entry.tag)")
            byID[id] = image
        }
        return byID.values.sorted { ($0.created, $0.id) > ($1.created, $1.id) }
    }
}
