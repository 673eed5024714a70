import API
import ClusterState
import Executor

// The node's named volumes for the API (`docker volume ls/inspect/rm` against this node): those
// its OCI executor made under DATA/volumes. The process executor has none.
extension SwarmNode {
    public func localVolumes() -> [LocalVolume] {
        guard let oci = taskExecutor as? OCIExecutor else { return [] }
        return oci.volumes().map {
            LocalVolume(name: $0.name, mountpoint: $0.path, createdAt: Timestamp(millisecondsSinceEpoch: UInt64(max(0, $0.createdAt * 1000))))
        }
    }

    public func removeVolume(_ name: String) -> Result<Void, APIError> {
        guard let oci = taskExecutor as? OCIExecutor else { return .failure(APIError(status: 404, "get \(name): no such volume")) }
        do {
            try oci.removeVolume(name)
            return .success(())
        } catch let error as VolumeError {
            switch error {
            case .notFound: return .failure(APIError(status: 404, "\(error)"))
            case .inUse: return .failure(APIError(status: 409, "\(error)"))
            }
        } catch {
            return .failure(APIError(status: 500, "remove \(name): \(error)"))
        }
    }
}
