import ClusterState

/// One named volume of the node that answers, as the node shell reports it.
public struct LocalVolume: Sendable, Equatable {
    public var name: String
    public var mountpoint: String
    public var createdAt: Timestamp

    public init(name: String, mountpoint: String, createdAt: Timestamp) {
        self.name = name
        self.mountpoint = mountpoint
        self.createdAt = createdAt
    }
}

/// Docker's `Volume` object (`docker volume ls/inspect`): always the local driver, node scope.
struct VolumeResponse: Encodable {
    let Name: String
    let Driver = "local"
    let Mountpoint: String
    let CreatedAt: String
    let Labels: [String: String] = [:]
    let Scope = "local"
    let Options: [String: String] = [:]

    init(_ volume: LocalVolume) {
        Name = volume.name
        Mountpoint = volume.mountpoint
        CreatedAt = RFC3339.format(volume.createdAt.millisecondsSinceEpoch)
    }
}

struct VolumeListResponse: Encodable {
    let Volumes: [VolumeResponse]
    let Warnings: [String]? = nil
}

/// `GET /volumes`, `GET /volumes/NAME`, `DELETE /volumes/NAME` on the node whose volumes they
/// are (DATA/volumes: made by the first task that mounts them, kept until removed here).
/// `POST /volumes/create` is refused: a volume is made by the first task that mounts it.
extension DockerAPI {
    func volumesRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        guard segments.count <= 2 else { return nil }
        guard let controlPlane = anyNode(reply) else { return () }
        let volumes = controlPlane.localVolumes()
        switch (request.method, segments.count) {
        case ("GET", 1):
            return reply(json(200, VolumeListResponse(Volumes: volumes.map(VolumeResponse.init))))
        case ("POST", 2) where segments[1] == "create":
            return reply(APIError(status: 400, "volumes are made on the node by the first task that mounts them "
                + "(--mount type=volume,src=NAME,dst=PATH); there is no need to create them").response)
        case ("GET", 2):
            guard let volume = volumes.first(where: { $0.name == segments[1] }) else {
                return reply(APIError(status: 404, "get \(segments[1]): no such volume").response)
            }
            return reply(json(200, VolumeResponse(volume)))
        case ("DELETE", 2):
            switch controlPlane.removeVolume(segments[1]) {
            case .success: return reply(HTTPResponse(status: 204))
            case let .failure(error): return reply(error.response)
            }
        default:
            return nil
        }
    }
}
