// Secrets and configs in the replicated state: reads, the commands that write them, and the check
// that a service references only ones that exist.
extension ClusterState {
    // MARK: Reads

    /// The objects of `kind` by id.
    public func payloads(_ kind: PayloadKind) -> [String: PayloadObject] {
        kind == .secret ? secretObjects : configObjects
    }

    /// The current revisions of `kind`, ordered by name (what `ls` shows).
    public func currentPayloads(_ kind: PayloadKind) -> [PayloadObject] {
        payloads(kind).values.filter(\.isCurrent).sorted { ($0.spec.name, $0.id) < ($1.spec.name, $1.id) }
    }

    /// The current revision named `name`.
    public func payload(_ kind: PayloadKind, named name: String) -> PayloadObject? {
        payloads(kind).values.first { $0.isCurrent && $0.spec.name == name }
    }

    /// Finds a secret or config by full id (any revision), name (current revision), or unique id
    /// prefix of a current revision, as `docker secret inspect` does.
    public func findPayload(_ kind: PayloadKind, _ reference: String) -> Result<PayloadObject, ClusterError> {
        if let object = payloads(kind)[reference] { return .success(object) }
        if let object = payload(kind, named: reference) { return .success(object) }
        let byPrefix = currentPayloads(kind).filter { $0.id.hasPrefix(reference) }
        if byPrefix.count == 1 { return .success(byPrefix[0]) }
        if byPrefix.count > 1 { return .failure(.conflict("\(kind.noun) \(reference) is ambiguous (\(byPrefix.count) matches)")) }
        return .failure(.notFound(kind: kind.noun, id: reference))
    }

    /// Services whose current spec references a revision named `name`, ordered by name.
    public func services(referencing kind: PayloadKind, named name: String) -> [Service] {
        sortedServices.filter { service in
            service.spec.taskTemplate.containerSpec.payloadReferences.contains { reference in
                reference.kind == kind && payloads(kind)[reference.id]?.spec.name == name
            }
        }.sorted { $0.spec.name < $1.spec.name }
    }

    /// What node-bound tasks need delivered: every secret and config revision referenced by
    /// `tasks` that exists, in key order.
    public func payloads(neededBy tasks: [SwarmTask]) -> [TaskPayload] {
        var keys = Set<PayloadKey>()
        for task in tasks { for reference in task.spec.containerSpec.payloadReferences { keys.insert(reference.key) } }
        return keys.sorted().compactMap { key in
            payloads(key.kind)[key.id].map { TaskPayload(kind: key.kind, id: key.id, data: $0.spec.data) }
        }
    }

    // MARK: Writes

    mutating func applyPayloadCommand(_ command: ClusterCommand, version: ObjectVersion) throws {
        switch command {
        case let .createPayload(kind, object):
            guard cluster != nil else { throw ClusterError.notInitialized }
            guard !object.id.isEmpty else { throw ClusterError.invalid("\(kind.noun) id is empty") }
            try Self.validatePayload(kind, object.spec)
            guard payloads(kind)[object.id] == nil else { throw ClusterError.conflict("\(kind.noun) \(object.id) already exists") }
            guard payload(kind, named: object.spec.name) == nil else {
                throw ClusterError.conflict("\(Self.nameConflict): \(kind.noun) \(object.spec.name) already exists")
            }
            var created = object
            created.version = version
            created.updatedAt = created.createdAt
            created.revision = 1
            created.supersededBy = nil
            setPayload(kind, created)
        case let .updatePayloadLabels(kind, id, expected, labels, at):
            guard var object = payloads(kind)[id] else { throw ClusterError.notFound(kind: kind.noun, id: id) }
            guard expected == object.version else {
                throw ClusterError.staleVersion(kind: kind.noun, id: id, expected: expected.index, actual: object.version.index)
            }
            object.spec.labels = labels
            object.version = version
            object.updatedAt = at
            setPayload(kind, object)
        case let .removePayload(kind, id, _):
            guard let object = payloads(kind)[id] else { throw ClusterError.notFound(kind: kind.noun, id: id) }
            let users = services(referencing: kind, named: object.spec.name)
            guard users.isEmpty else {
                throw ClusterError.invalid("\(kind.noun) '\(object.spec.name)' is in use by the following service\(users.count == 1 ? "" : "s"): "
                    + users.map(\.spec.name).joined(separator: ", ") + ": remove it from them first (docker service update --\(kind.noun)-rm)")
            }
            for revision in payloads(kind).values where revision.spec.name == object.spec.name { removePayloadObject(kind, revision.id) }
        case let .reviseSecret(id, revision, at):
            try revise(id, revision, version: version, at: at)
        default:
            preconditionFailure("not a secret or config command: \(command)")
        }
    }

    /// Docker's rules: a name of letters, digits, `-`, `_`, `.` (64 at most, starting and ending
    /// with a letter or digit), and 1 byte to 500 KiB of data.
    static func validatePayload(_ kind: PayloadKind, _ spec: PayloadSpec) throws {
        let name = spec.name
        let allowed = name.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, isAlphanumeric(name.utf8.first!), isAlphanumeric(name.utf8.last!) else {
            throw ClusterError.invalid("invalid name \"\(name)\": a \(kind.noun) name is 1 to 64 letters, digits, '-', '_' or '.', "
                + "starting and ending with a letter or digit")
        }
        guard !spec.data.isEmpty, spec.data.count < PayloadLimits.maxDataBytes else {
            throw ClusterError.invalid("\(kind.noun) data must be larger than 0 and less than 500 KiB (\(PayloadLimits.maxDataBytes) bytes); "
                + "it has \(spec.data.count) bytes")
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private mutating func setPayload(_ kind: PayloadKind, _ object: PayloadObject) {
        switch kind {
        case .secret: secretObjects[object.id] = object
        case .config: configObjects[object.id] = object
        }
    }

    private mutating func removePayloadObject(_ kind: PayloadKind, _ id: String) {
        switch kind {
        case .secret: secretObjects[id] = nil
        case .config: configObjects[id] = nil
        }
    }

    /// A new revision of secret `id`'s name; every service referencing any revision of the name
    /// moves to it (its old spec kept as `PreviousSpec`, a rolling update started), and earlier
    /// revisions nothing references any more are dropped.
    private mutating func revise(_ id: String, _ revision: PayloadObject, version: ObjectVersion, at: Timestamp) throws {
        guard var current = secretObjects[id] else { throw ClusterError.notFound(kind: "secret", id: id) }
        guard current.isCurrent else {
            throw ClusterError.conflict("secret \(current.spec.name) revision \(current.revision) was replaced meanwhile: try again")
        }
        guard !revision.id.isEmpty, secretObjects[revision.id] == nil else { throw ClusterError.conflict("secret \(revision.id) already exists") }
        var next = revision
        next.spec.name = current.spec.name
        if next.spec.labels.isEmpty { next.spec.labels = current.spec.labels }
        try Self.validatePayload(.secret, next.spec)
        next.revision = current.revision + 1
        next.supersededBy = nil
        next.version = version
        next.createdAt = at
        next.updatedAt = at
        current.supersededBy = next.id
        current.version = version
        current.updatedAt = at
        secretObjects[current.id] = current
        secretObjects[next.id] = next
        let name = current.spec.name
        for service in services(referencing: .secret, named: name) {
            var updated = service
            var spec = service.spec
            spec.taskTemplate.containerSpec.secrets = spec.taskTemplate.containerSpec.secrets?.map { reference in
                guard secretObjects[reference.secretID]?.spec.name == name else { return reference }
                var moved = reference
                moved.secretID = next.id
                return moved
            }
            updated.previousSpec = service.spec
            updated.spec = spec
            updated.updateStatus = UpdateStatus(state: .updating, startedAt: at, message: "update in progress: secret \(name) revision \(next.revision)")
            updated.version = version
            updated.updatedAt = at
            store(updated)
        }
        pruneSecretRevisions(named: name)
    }

    /// Drops superseded revisions of `name` that no service spec (current or previous) and no
    /// task references.
    private mutating func pruneSecretRevisions(named name: String) {
        let superseded = Set(secretObjects.values.filter { !$0.isCurrent && $0.spec.name == name }.map(\.id))
        guard !superseded.isEmpty else { return }
        var used = Set<String>()
        for service in services.values {
            for spec in [service.spec] + (service.previousSpec.map { [$0] } ?? []) {
                for reference in spec.taskTemplate.containerSpec.secrets ?? [] { used.insert(reference.secretID) }
            }
        }
        for task in tasks.values { for reference in task.spec.containerSpec.secrets ?? [] { used.insert(reference.secretID) } }
        for id in superseded where !used.contains(id) { secretObjects[id] = nil }
    }

    // MARK: Checks of service specs

    /// Every reference names an existing secret or config revision under its name, with a
    /// numeric owner, and no two references share a target.
    func checkPayloadReferences(_ container: ContainerSpec) throws {
        var targets: [String: String] = [:]
        for reference in container.payloadReferences {
            let noun = reference.kind.noun
            guard !reference.id.isEmpty, let object = payloads(reference.kind)[reference.id], object.spec.name == reference.name else {
                throw ClusterError.invalid("\(noun) not found: \(reference.name.isEmpty ? reference.id : reference.name): "
                    + "create it first (docker \(noun) create \(reference.name.isEmpty ? "NAME" : reference.name) FILE)")
            }
            if let file = reference.file {
                for (field, value) in [("UID", file.uid), ("GID", file.gid)] where !value.isEmpty && UInt32(value) == nil {
                    throw ClusterError.invalid("\(noun) \(reference.name): File.\(field) \"\(value)\" is not a number: give a numeric id")
                }
                guard file.mode <= 0o777 else {
                    throw ClusterError.invalid("\(noun) \(reference.name): File.Mode \(String(file.mode, radix: 8)) has bits beyond 0777: give permission bits only")
                }
            }
            let target = reference.target
            guard !target.split(separator: "/").contains(".."), target != "/run/secrets/", !target.hasSuffix("/") else {
                throw ClusterError.invalid("\(noun) \(reference.name): target \(target) is not a file path: name a file without '..'")
            }
            if let other = targets[target] {
                throw ClusterError.invalid("\(noun) references '\(other)' and '\(reference.name)' have a conflicting target: '\(target)'")
            }
            targets[target] = reference.name
        }
    }
}
