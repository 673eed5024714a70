import Wire

// Fast Wire encoding of the commands of the write path (a service created, updated or removed;
// tasks created, placed, reported): the bytes of the synthesized `Codable` conformance through
// `WireEncoder` (`{"<case>": {"<label>": value, …}}`), checked by `WireFastEncodingTests`.
// The other cases are rare and go through `encode(to:)` on the same bytes.

extension ClusterCommand: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        switch self {
        case let .createService(service):
            try writer.encodeNested(forKey: "createService") { try $0.encode(service, forKey: "service") }
        case let .updateService(id, version, spec, at):
            try writer.encodeNested(forKey: "updateService") { caseWriter in
                caseWriter.encode(id, forKey: "id")
                try caseWriter.encode(version, forKey: "version")
                try caseWriter.encode(spec, forKey: "spec")
                try caseWriter.encode(at, forKey: "at")
            }
        case let .removeService(id, at):
            try writer.encodeNested(forKey: "removeService") { caseWriter in
                caseWriter.encode(id, forKey: "id")
                try caseWriter.encode(at, forKey: "at")
            }
        case let .createTasks(tasks):
            try writer.encodeNested(forKey: "createTasks") { try $0.encode(tasks, forKey: "tasks") }
        case let .updateTaskStatus(id, status):
            try writer.encodeNested(forKey: "updateTaskStatus") { caseWriter in
                caseWriter.encode(id, forKey: "id")
                try caseWriter.encode(status, forKey: "status")
            }
        case let .updateTaskStatuses(updates):
            try writer.encodeNested(forKey: "updateTaskStatuses") { try $0.encode(updates, forKey: "updates") }
        case let .setTaskDesiredState(id, state, at):
            try writer.encodeNested(forKey: "setTaskDesiredState") { caseWriter in
                caseWriter.encode(id, forKey: "id")
                caseWriter.encode(state.rawValue, forKey: "state")
                try caseWriter.encode(at, forKey: "at")
            }
        case let .assignTask(id, nodeID, at):
            try writer.encodeNested(forKey: "assignTask") { caseWriter in
                caseWriter.encode(id, forKey: "id")
                caseWriter.encode(nodeID, forKey: "nodeID")
                try caseWriter.encode(at, forKey: "at")
            }
        case let .removeTasks(ids):
            try writer.encodeNested(forKey: "removeTasks") { try $0.encode(ids, forKey: "ids") }
        default:
            try writer.encodeBodyWithCodable(self)
        }
    }
}
