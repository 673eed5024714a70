import ClusterState

/// The service and task routes. Reads go through `readState` (linearizable), writes through
/// `propose`; each answers once, with dockerd 20.10's statuses and wording.
extension DockerAPI {
    // MARK: Services

    /// `GET /services?filters=&status=&insertDefaults=`. `ServiceStatus` only from API 1.41 on,
    /// as dockerd (older clients count tasks themselves).
    func listServices(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let filter: ServiceFilter
        switch ServiceFilter.parse(request.query["filters"]) {
        case let .failure(error): return reply(error.response)
        case let .success(parsed): filter = parsed
        }
        let withStatus = request.query.bool("status") && !APIVersion.less(Self.requestedVersion(request), (1, 41))
        let insertDefaults = request.query.bool("insertDefaults")
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            let counts = withStatus ? ServiceStatusCounts.all(in: view.state) : [:]
            let services = view.state.sortedServices.filter(filter.matches).map {
                ServiceResponse(service: $0, insertDefaults: insertDefaults, status: withStatus ? counts[$0.id] : nil)
            }
            reply(json(200, services))
        }
    }

    /// `GET /services/{id|name|prefix}?insertDefaults=`.
    func inspectService(_ reference: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let insertDefaults = request.query.bool("insertDefaults")
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch Self.resolveService(reference, in: view.state) {
            case let .failure(error): reply(error.response)
            case let .success(service): reply(json(200, ServiceResponse(service: service, insertDefaults: insertDefaults, status: nil)))
            }
        }
    }

    /// `POST /services/create` with a ServiceSpec: 201 `{"ID": ...}`. The route picks the id, the
    /// creation time and, for an unnamed service, a name; `X-Registry-Auth` is ignored.
    func createService(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        var spec: ServiceSpec
        switch Self.decodeServiceSpec(request) {
        case let .failure(error): return reply(error.response)
        case let .success(decoded): spec = decoded
        }
        // The name check reads the local state, saving a quorum round per create: a name it
        // misses is refused by the apply (409) anyway; a conflict it sees may be stale (the
        // service removed since), so a conflict is confirmed by a linearizable read.
        withLocalState(controlPlane, reply) { [weak self] local in
            guard let self else { return }
            if spec.name.isEmpty { spec.name = DockerNames.randomName { local.state.service(named: $0) != nil } }
            if let problem = ServiceSpecValidation.problem(spec) { return reply(problem.response) }
            // A secret, config or network the local state misses may be new: confirmed by a linearizable read.
            var resolved = spec
            let unresolved = Self.resolvePayloadReferences(&resolved, in: local.state) != nil
                || Self.resolveNetworks(&resolved, in: local.state) != nil
            guard local.state.service(named: spec.name) != nil || unresolved else { return proposeCreate(resolved, controlPlane, reply) }
            withState(controlPlane, reply) { [weak self] current in
                guard let self else { return }
                if current.state.service(named: spec.name) != nil { return reply(Self.nameConflict(spec.name).response) }
                if let problem = Self.resolvePayloadReferences(&spec, in: current.state) ?? Self.resolveNetworks(&spec, in: current.state) {
                    return reply(problem.response)
                }
                proposeCreate(spec, controlPlane, reply)
            }
        }
    }

    private func proposeCreate(_ spec: ServiceSpec, _ controlPlane: any ControlPlane, _ reply: @escaping Reply) {
        let service = Service(id: newID(), createdAt: now(), spec: spec)
        controlPlane.propose(.createService(service: service)) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success: reply(.json(201, ServiceCreateResponse.body(id: service.id)))
            case let .failure(error): reply(Self.dockerWording(error, name: spec.name).response)
            }
        }
    }

    /// `POST /services/{ref}/update?version=N[&rollback=previous]` with a ServiceSpec. A rollback
    /// swaps in `PreviousSpec` (the body, the current spec as the CLI sends it, is only checked).
    func updateService(_ reference: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let submitted: ServiceSpec
        let version: ObjectVersion
        switch (Self.decodeServiceSpec(request), Self.objectVersion(request, kind: "service")) {
        case let (.failure(error), _), let (_, .failure(error)): return reply(error.response)
        case let (.success(spec), .success(parsed)): (submitted, version) = (spec, parsed)
        }
        let rollback: Bool
        switch request.query["rollback"] ?? "" {
        case "", "none": rollback = false
        case "previous": rollback = true
        case let other: return reply(APIError.badRequest("unrecognized rollback option \(other)").response)
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            let service: Service
            switch Self.resolveService(reference, in: view.state) {
            case let .failure(error): return reply(error.response)
            case let .success(found): service = found
            }
            var spec = submitted
            if spec.name.isEmpty { spec.name = service.spec.name }
            if let problem = ServiceSpecValidation.problem(spec) { return reply(problem.response) }
            if let problem = Self.resolvePayloadReferences(&spec, in: view.state) ?? Self.resolveNetworks(&spec, in: view.state) {
                return reply(problem.response)
            }
            if spec.mode.isGlobal != service.spec.mode.isGlobal {
                return reply(APIError(status: 501, "rpc error: code = Unimplemented desc = service mode change is not allowed").response)
            }
            if spec.name != service.spec.name {
                return reply(APIError(status: 501, "rpc error: code = Unimplemented desc = renaming services is not supported").response)
            }
            let command: ClusterCommand = rollback
                ? .rollbackService(id: service.id, version: version, at: now())
                : .updateService(id: service.id, version: version, spec: spec, at: now())
            controlPlane.propose(command) { [weak self] result in
                guard let self else { return }
                switch result {
                case .success: reply(json(200, ServiceUpdateResponse()))
                case let .failure(error): reply(Self.dockerWording(error, name: spec.name).response)
                }
            }
        }
    }

    /// `DELETE /services/{ref}`: 200 with an empty body; the tasks are marked for removal.
    func removeService(_ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch Self.resolveService(reference, in: view.state) {
            case let .failure(error): reply(error.response)
            case let .success(service): controlPlane.propose(.removeService(id: service.id, at: now()), Self.emptyReply(reply))
            }
        }
    }

    // MARK: Tasks

    /// `GET /tasks?filters=`: tasks ordered by id, as swarmkit lists them.
    func listTasks(_ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        // Unknown filter names are refused before reading, like dockerd.
        if case let .failure(error) = DockerFilters.parse(request.query["filters"], allowed: TaskFilter.names) {
            return reply(error.response)
        }
        let text = request.query["filters"]
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch TaskFilter.parse(text, in: view.state) {
            case let .failure(error): reply(error.response)
            case let .success(filter):
                let networks = view.state.networking.networks
                reply(json(200, view.state.sortedTasks.filter { filter.matches($0, in: view.state) }.map {
                    TaskResponse(task: $0, networks: networks)
                }))
            }
        }
    }

    /// `GET /tasks/{id|prefix}`.
    func inspectTask(_ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch view.state.findTask(reference) {
            case let .success(task): reply(json(200, TaskResponse(task: task, networks: view.state.networking.networks)))
            case .failure(.conflict):
                let count = view.state.tasks.keys.filter { $0.hasPrefix(reference) }.count
                reply(Self.ambiguous("task", reference, count).response)
            case let .failure(error): reply(APIError(error).response)
            }
        }
    }

    // MARK: Helpers

    /// A service by full id, name or unique id prefix; dockerd's 404 and ambiguity wording.
    static func resolveService(_ reference: String, in state: ClusterState) -> Result<Service, APIError> {
        switch state.findService(reference) {
        case let .success(service): return .success(service)
        case .failure(.conflict):
            return .failure(ambiguous("service", reference, state.services.keys.filter { $0.hasPrefix(reference) }.count))
        case let .failure(error): return .failure(APIError(error))
        }
    }

    /// dockerd's `errAmbiguous` (an invalid parameter, 400).
    static func ambiguous(_ kind: String, _ reference: String, _ count: Int) -> APIError {
        .badRequest("\(kind) \(reference) is ambiguous (\(count) matches found)")
    }

    static func nameConflict(_ name: String) -> APIError {
        APIError(status: 409, "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service \(name) already exists")
    }

    /// A refused service command in swarmkit's wording where the state's differs.
    static func dockerWording(_ error: APIError, name: String) -> APIError {
        if error.status == 409, error.message.hasPrefix("name conflicts with an existing object") { return nameConflict(name) }
        return error
    }

    /// The API version in the request path (`/v1.40/...`), else the current one.
    static func requestedVersion(_ request: HTTPRequest) -> (Int, Int) {
        let current = APIVersion.parse(Substring(APIVersion.current))!
        guard request.path.hasPrefix("/v") else { return current }
        return APIVersion.parse(request.path.dropFirst(2).prefix { $0 != "/" }) ?? current
    }

    /// A ServiceSpec body decoded like dockerd (Go's `encoding/json`: case-insensitive keys,
    /// zero values for what is missing), with Go's messages for empty and truncated bodies, then
    /// stored without the values dockerd only shows (`ServicePresentation.canonical`). Unlike
    /// dockerd, a set field this cluster does not implement is a 400 (`ServiceSpecFields`).
    static func decodeServiceSpec(_ request: HTTPRequest) -> Result<ServiceSpec, APIError> {
        decodeServiceSpec(body: request.body)
    }

    /// `decodeServiceSpec` of a body alone; public for api-bench's `decode` micro-benchmark.
    public static func decodeServiceSpec(body: [UInt8]) -> Result<ServiceSpec, APIError> {
        guard body.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0a && $0 != 0x0d }) else {
            return .failure(.badRequest("got EOF while reading request body"))
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            if error.offset >= body.count { return .failure(.badRequest("unexpected EOF")) }
            let character = Unicode.Scalar(body[error.offset])
            return .failure(.badRequest("invalid character '\(character)' (\(error.description))"))
        }
        guard case .object = document else {
            return .failure(.badRequest("json: cannot unmarshal \(kind(of: document)) into Go value of type swarm.ServiceSpec"))
        }
        if case let .object(members)? = document["Mode"],
           let job = members.first(where: { ["replicatedjob", "globaljob"].contains($0.0.lowercased()) }) {
            return .failure(ServiceSpecValidation.invalidArgument("\(job.0) services are not supported"))
        }
        // A field this cluster does not honour is refused rather than dropped by the decoder.
        if let problem = ServiceSpecFields.problem(in: document) { return .failure(problem) }
        // The common shapes are read directly; anything else (and every error) by the lenient decoder.
        if let spec = ServiceSpecJSON.decode(document) { return .success(ServicePresentation.canonical(spec)) }
        do {
            return .success(ServicePresentation.canonical(try LenientJSONDecoder.decode(ServiceSpec.self, from: document)))
        } catch {
            return .failure(.badRequest("json: cannot unmarshal into swarm.ServiceSpec: \(error.message)"))
        }
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "bool"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
