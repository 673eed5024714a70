import ClusterState

/// The network routes: overlay networks only (`Driver: overlay`, scope `swarm`); the built-in
/// `ingress` network is one of them. Reads go through `readState`, writes through `propose`.
extension DockerAPI {
    func networksRoute(_ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        switch (request.method, segments.count) {
        case ("GET", 1): return listNetworks(request, reply)
        case ("POST", 2) where segments[1] == "create": return createNetwork(request, reply)
        case ("GET", 2): return inspectNetwork(segments[1], reply)
        case ("DELETE", 2): return removeNetwork(segments[1], reply)
        default: return nil
        }
    }

    /// `GET /networks?filters=`, ordered by name as the docker CLI shows them.
    func listNetworks(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let filter: NetworkFilter
        switch NetworkFilter.parse(request.query["filters"]) {
        case let .failure(error): return reply(error.response)
        case let .success(parsed): filter = parsed
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            let networks = view.state.sortedNetworks.filter { filter.matches($0, in: view.state) }
                .sorted { ($0.spec.name, $0.id) < ($1.spec.name, $1.id) }
            reply(json(200, networks.map(NetworkResponse.init)))
        }
    }

    /// `GET /networks/{id|name|prefix}` (`scope` and `verbose` change nothing: every network is
    /// swarm-scoped and has no per-node details here).
    func inspectNetwork(_ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch Self.resolveNetwork(reference, in: view.state) {
            case let .failure(error): reply(error.response)
            case let .success(network): reply(json(200, NetworkResponse(network: network)))
            }
        }
    }

    /// `POST /networks/create`: 201 `{"Id": ..., "Warning": ""}`.
    func createNetwork(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let body: NetworkCreateRequest
        switch Self.decodeBody(NetworkCreateRequest.self, request) {
        case let .failure(error): return reply(error.response)
        case let .success(decoded): body = decoded
        }
        if let problem = body.problem() { return reply(problem.response) }
        let spec = body.spec
        if let problem = ClusterState.networkSpecProblem(spec) { return reply(APIError.badRequest(problem).response) }
        let network = Network(id: newID(), createdAt: now(), spec: spec)
        controlPlane.propose(.createNetwork(network: network)) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success: reply(json(201, NetworkCreateResponse(id: network.id)))
            case let .failure(error): reply(error.response)
            }
        }
    }

    /// `DELETE /networks/{ref}`: 204; refused (400) while a service or a live task uses it,
    /// naming them.
    func removeNetwork(_ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch Self.resolveNetwork(reference, in: view.state) {
            case let .failure(error): reply(error.response)
            case let .success(network):
                controlPlane.propose(.removeNetwork(id: network.id, at: now())) { result in
                    switch result {
                    case .success: reply(HTTPResponse(status: 204))
                    case let .failure(error): reply(error.response)
                    }
                }
            }
        }
    }

    /// A network by id, name or unique id prefix; the predefined names of a Docker engine get a
    /// 404 that says why they do not exist here.
    static func resolveNetwork(_ reference: String, in state: ClusterState) -> Result<Network, APIError> {
        switch state.findNetwork(reference) {
        case let .success(network): return .success(network)
        case .failure(.conflict):
            return .failure(ambiguous("network", reference, state.networking.networks.keys.filter { $0.hasPrefix(reference) }.count))
        case .failure:
            if ["host", "bridge", "none", "docker_gwbridge"].contains(reference) {
                return .failure(APIError(status: 404, "network \(reference) not found: this cluster has overlay networks only (each task "
                    + "gets its own network namespace); use an overlay network, or --publish mode=host for a port on the node"))
            }
            return .failure(APIError(status: 404, "network \(reference) not found"))
        }
    }

    /// Moves the legacy `Networks` into `TaskTemplate.Networks` (as dockerd does) and replaces
    /// each network name with its id; a network that does not exist is a 404.
    static func resolveNetworks(_ spec: inout ServiceSpec, in state: ClusterState) -> APIError? {
        if let legacy = spec.networks, !legacy.isEmpty, (spec.taskTemplate.networks ?? []).isEmpty {
            spec.taskTemplate.networks = legacy
        }
        spec.networks = nil
        guard var networks = spec.taskTemplate.networks else { return nil }
        for index in networks.indices {
            switch resolveNetwork(networks[index].target, in: state) {
            case let .failure(error): return error
            case let .success(network): networks[index].target = network.id
            }
            if networks[index].aliases?.isEmpty == true { networks[index].aliases = nil }
        }
        spec.taskTemplate.networks = networks.isEmpty ? nil : networks
        return nil
    }
}
