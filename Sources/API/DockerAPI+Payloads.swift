import ClusterState
import Foundation

/// Docker's `Secret` and `Config` objects as the routes show them. A secret's data is never
/// part of any response; a config's is (as in Docker). `Revision` is this cluster's extension:
/// 1 for a new name, +1 for each `swarmctl secret update`.
struct PayloadResponse: Encodable {
    struct SpecFields: Encodable {
        var Name: String
        var Labels: [String: String]
        var Data: String?
    }

    var ID: String
    var Version: ObjectVersion
    var CreatedAt: String
    var UpdatedAt: String
    var Spec: SpecFields
    var Revision: UInt64

    init(_ object: PayloadObject, kind: PayloadKind) {
        ID = object.id
        Version = object.version
        CreatedAt = RFC3339.format(object.createdAt.millisecondsSinceEpoch)
        UpdatedAt = RFC3339.format(object.updatedAt.millisecondsSinceEpoch)
        Spec = .init(Name: object.spec.name, Labels: object.spec.labels,
                     Data: kind == .config ? Foundation.Data(object.spec.data).base64EncodedString() : nil)
        Revision = object.revision
    }
}

/// `{"ID": …, "Revision": n}` of `POST /secrets/{ref}/revisions`.
struct PayloadRevisionResponse: Encodable {
    var ID: String
    var Revision: UInt64
}

/// A `SecretSpec` / `ConfigSpec` body: name, labels, data in base64 (Go's `[]byte`).
struct PayloadSpecBody: Decodable {
    var name: String?
    var labels: [String: String]?
    var data: String?

    enum CodingKeys: String, CodingKey { case name = "Name", labels = "Labels", data = "Data" }

    /// The fields the Docker API defines that this cluster implements; `Driver` and `Templating`
    /// are refused when set (no secret drivers or templates here).
    static let fields: [String: ServiceSpecFields.Rule] = [
        "Name": .leaf, "Labels": .leaf, "Data": .leaf,
        "Driver": .refused("secret and config drivers are not implemented by this cluster; remove --driver (the data is kept in the encrypted Raft log)"),
        "Templating": .refused("templated secrets and configs are not implemented by this cluster; remove --template-driver"),
    ]
}

/// `/secrets` and `/configs`: create, list (filters `id`, `name`, `names`, `label`), inspect,
/// update of labels, remove (refused while a service uses one), and `POST /secrets/{ref}/revisions`
/// (`swarmctl secret update`: new data under the same name, services rolled onto it).
extension DockerAPI {
    static let payloadFilterNames: Set<String> = ["id", "name", "names", "label"]

    func payloadsRoute(_ kind: PayloadKind, _ request: HTTPRequest, _ segments: [String], _ reply: @escaping Reply) -> Void? {
        switch (request.method, segments.count) {
        case ("GET", 1): return listPayloads(kind, request, reply)
        case ("POST", 2) where segments[1] == "create": return createPayload(kind, request, reply)
        case ("GET", 2): return inspectPayload(kind, segments[1], reply)
        case ("DELETE", 2): return removePayload(kind, segments[1], reply)
        case ("POST", 3) where segments[2] == "update": return updatePayload(kind, segments[1], request, reply)
        case ("POST", 3) where segments[2] == "revisions" && kind == .secret: return reviseSecret(segments[1], request, reply)
        default: return nil
        }
    }

    private func listPayloads(_ kind: PayloadKind, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let filters: DockerFilters
        switch DockerFilters.parse(request.query["filters"], allowed: Self.payloadFilterNames) {
        case let .failure(error): return reply(error.response)
        case let .success(parsed): filters = parsed
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            let matching = view.state.currentPayloads(kind).filter { object in
                filters.any("id") { object.id.hasPrefix($0) } && filters.any("name") { object.spec.name.hasPrefix($0) }
                    && filters.any("names") { object.spec.name == $0 } && filters.any("label") { NodeFilter.label($0, in: object.spec.labels) }
            }
            reply(json(200, matching.map { PayloadResponse($0, kind: kind) }))
        }
    }

    private func inspectPayload(_ kind: PayloadKind, _ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch Self.resolvePayload(kind, reference, in: view.state) {
            case let .success(object): reply(json(200, PayloadResponse(object, kind: kind)))
            case let .failure(error): reply(error.response)
            }
        }
    }

    /// `POST /secrets/create` with a SecretSpec: 201 `{"ID": …}`.
    private func createPayload(_ kind: PayloadKind, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let spec: PayloadSpec
        switch Self.decodePayloadSpec(kind, request, requireData: true) {
        case let .failure(error): return reply(error.response)
        case let .success(body): spec = PayloadSpec(name: body.name ?? "", labels: body.labels ?? [:], data: body.data)
        }
        let object = PayloadObject(id: newID(), createdAt: now(), spec: spec)
        controlPlane.propose(.createPayload(kind: kind, object: object)) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success: reply(json(201, ServiceCreateResponse(id: object.id)))
            case let .failure(error): reply(Self.payloadWording(error).response)
            }
        }
    }

    /// `POST /secrets/{ref}/update?version=N`: only the labels may change (the data of a
    /// revision never does; `swarmctl secret update` makes a new revision).
    private func updatePayload(_ kind: PayloadKind, _ reference: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let version: ObjectVersion
        let body: (name: String?, labels: [String: String]?, data: [UInt8])
        switch (Self.objectVersion(request, kind: kind.noun), Self.decodePayloadSpec(kind, request, requireData: false)) {
        case let (.failure(error), _), let (_, .failure(error)): return reply(error.response)
        case let (.success(parsed), .success(decoded)): (version, body) = (parsed, decoded)
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            let object: PayloadObject
            switch Self.resolvePayload(kind, reference, in: view.state) {
            case let .failure(error): return reply(error.response)
            case let .success(found): object = found
            }
            let renamed = body.name.map { !$0.isEmpty && $0 != object.spec.name } ?? false
            guard !renamed, body.data.isEmpty || body.data == object.spec.data else {
                return reply(APIError(status: 400, "rpc error: code = InvalidArgument desc = only updates to Labels are allowed"
                    + (kind == .secret ? "; to change a secret's data use swarmctl secret update \(object.spec.name)" : "")).response)
            }
            controlPlane.propose(.updatePayloadLabels(kind: kind, id: object.id, version: version, labels: body.labels ?? [:], at: now()),
                                 Self.emptyReply(reply))
        }
    }

    /// `DELETE /secrets/{ref}`: 204; refused (400) while a service references it, naming them.
    private func removePayload(_ kind: PayloadKind, _ reference: String, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            switch Self.resolvePayload(kind, reference, in: view.state) {
            case let .failure(error): reply(error.response)
            case let .success(object):
                controlPlane.propose(.removePayload(kind: kind, id: object.id, at: now())) { result in
                    switch result {
                    case .success: reply(HTTPResponse(status: 204))
                    case let .failure(error): reply(Self.payloadWording(error).response)
                    }
                }
            }
        }
    }

    /// `POST /secrets/{ref}/revisions` with `{"Data": base64, "Labels": …}` (labels optional: kept
    /// when absent): 201 `{"ID": new revision id, "Revision": n}`. Every service referencing the
    /// secret's name is updated to the new revision and rolls under its update config.
    private func reviseSecret(_ reference: String, _ request: HTTPRequest, _ reply: @escaping Reply) {
        guard let controlPlane = manager(reply) else { return }
        let body: (name: String?, labels: [String: String]?, data: [UInt8])
        switch Self.decodePayloadSpec(.secret, request, requireData: true) {
        case let .failure(error): return reply(error.response)
        case let .success(decoded): body = decoded
        }
        withState(controlPlane, reply) { [weak self] view in
            guard let self else { return }
            let current: PayloadObject
            switch Self.resolvePayload(.secret, reference, in: view.state) {
            case let .failure(error): return reply(error.response)
            case let .success(found): current = found
            }
            guard current.isCurrent else {
                return reply(APIError.badRequest("secret \(reference) is revision \(current.revision), which was replaced: name the secret by its name").response)
            }
            let revision = PayloadObject(id: newID(), createdAt: now(),
                                         spec: PayloadSpec(name: current.spec.name, labels: body.labels ?? [:], data: body.data))
            controlPlane.propose(.reviseSecret(id: current.id, revision: revision, at: now())) { [weak self] result in
                guard let self else { return }
                switch result {
                case .success: reply(json(201, PayloadRevisionResponse(ID: revision.id, Revision: current.revision + 1)))
                case let .failure(error): reply(Self.payloadWording(error).response)
                }
            }
        }
    }

    // MARK: Helpers

    /// By id (any revision), name (current revision) or unique id prefix; dockerd's wording.
    static func resolvePayload(_ kind: PayloadKind, _ reference: String, in state: ClusterState) -> Result<PayloadObject, APIError> {
        switch state.findPayload(kind, reference) {
        case let .success(object): return .success(object)
        case .failure(.conflict):
            return .failure(ambiguous(kind.noun, reference, state.currentPayloads(kind).filter { $0.id.hasPrefix(reference) }.count))
        case .failure: return .failure(APIError(status: 404, "\(kind.noun) \(reference) not found"))
        }
    }

    /// A refused payload command: a name conflict is 409 (as dockerd), a rule broken is 400.
    static func payloadWording(_ error: APIError) -> APIError {
        if error.status == 409 { return APIError(status: 409, "rpc error: code = AlreadyExists desc = \(error.message)") }
        return error
    }

    /// Decodes a SecretSpec/ConfigSpec body; fields this cluster does not implement are refused,
    /// `Data` must be base64 (and present at create). The data never appears in an error.
    static func decodePayloadSpec(_ kind: PayloadKind, _ request: HTTPRequest, requireData: Bool)
        -> Result<(name: String?, labels: [String: String]?, data: [UInt8]), APIError> {
        let document: JSONValue
        do {
            document = try JSONValue.parse(request.body)
        } catch {
            return .failure(.badRequest("invalid JSON in the request body: a \(kind == .secret ? "Secret" : "Config")Spec object is required"))
        }
        if let problem = ServiceSpecFields.problem(in: document, rules: PayloadSpecBody.fields) { return .failure(problem) }
        let body: PayloadSpecBody
        do {
            body = try LenientJSONDecoder.decode(PayloadSpecBody.self, from: document)
        } catch {
            return .failure(.badRequest("json: cannot unmarshal into swarm.\(kind == .secret ? "Secret" : "Config")Spec: "
                + "Name and the Labels' values must be strings and Data a base64 string"))
        }
        var data: [UInt8] = []
        if let text = body.data, !text.isEmpty {
            guard let decoded = Foundation.Data(base64Encoded: text) else {
                return .failure(.badRequest("\(kind.noun) Data is not valid base64: send the bytes base64-encoded"))
            }
            data = Array(decoded)
        }
        if requireData && data.isEmpty {
            return .failure(.badRequest("rpc error: code = InvalidArgument desc = \(kind.noun) data must be larger than 0 and less than 500 KiB"))
        }
        return .success((body.name, body.labels, data))
    }

    /// Completes the secret and config references of a service spec as dockerd's CLI would:
    /// a missing id from the current revision of the name, a missing name from the id, a missing
    /// `File` as Docker's default (the name, uid and gid 0, mode 0444). Nil when every reference
    /// resolves; otherwise the 400 naming the first that does not.
    static func resolvePayloadReferences(_ spec: inout ServiceSpec, in state: ClusterState) -> APIError? {
        var container = spec.taskTemplate.containerSpec
        var secrets = container.secrets ?? []
        for index in secrets.indices {
            switch resolveReference(.secret, id: secrets[index].secretID, name: secrets[index].secretName, in: state) {
            case let .failure(error): return error
            case let .success((id, name)):
                secrets[index].secretID = id
                secrets[index].secretName = name
                if secrets[index].file == nil { secrets[index].file = PayloadFile(name: name) }
            }
        }
        var configs = container.configs ?? []
        for index in configs.indices {
            switch resolveReference(.config, id: configs[index].configID, name: configs[index].configName, in: state) {
            case let .failure(error): return error
            case let .success((id, name)):
                configs[index].configID = id
                configs[index].configName = name
                if configs[index].file == nil { configs[index].file = PayloadFile(name: "/" + name) }
            }
        }
        if container.secrets != nil { container.secrets = secrets }
        if container.configs != nil { container.configs = configs }
        spec.taskTemplate.containerSpec = container
        return nil
    }

    private static func resolveReference(_ kind: PayloadKind, id: String, name: String, in state: ClusterState)
        -> Result<(String, String), APIError> {
        let object = id.isEmpty ? state.payload(kind, named: name) : state.payloads(kind)[id]
        guard let object, name.isEmpty || object.spec.name == name else {
            let shown = name.isEmpty ? id : name
            return .failure(APIError(status: 400, "rpc error: code = InvalidArgument desc = \(kind.noun) not found: \(shown): "
                + "create it first (docker \(kind.noun) create \(name.isEmpty ? "NAME" : name) FILE)"))
        }
        return .success((object.id, object.spec.name))
    }
}
