import Wire

// Fast Wire encoding of tasks (snapshots hold every task; `createTasks` carries new ones): the
// bytes of their `Codable` conformances through `WireEncoder` (`WireFastEncodingTests`).

extension SwarmTask: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(id, forKey: "ID")
        try writer.encode(version, forKey: "Version")
        try writer.encode(createdAt, forKey: "CreatedAt")
        try writer.encode(updatedAt, forKey: "UpdatedAt")
        writer.encode(serviceID, forKey: "ServiceID")
        writer.encodeIfPresent(slot, forKey: "Slot")
        writer.encodeIfPresent(nodeID, forKey: "NodeID")
        try writer.encode(spec, forKey: "Spec")
        writer.encode(desiredState.rawValue, forKey: "DesiredState")
        try writer.encode(status, forKey: "Status")
        try writer.encodeIfPresent(networksAttachments, forKey: "NetworksAttachments")
        if let serviceAnnotations {
            try writer.encodeNested(forKey: "ServiceAnnotations") { $0.encode(serviceAnnotations.name, forKey: "Name") }
        }
    }
}

extension TaskStatus: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encode(timestamp, forKey: "Timestamp")
        writer.encode(state.rawValue, forKey: "State")
        writer.encode(message, forKey: "Message")
        writer.encodeIfPresent(err, forKey: "Err")
        if let containerStatus {
            try writer.encodeNested(forKey: "ContainerStatus") { statusWriter in
                statusWriter.encodeIfPresent(containerStatus.containerID, forKey: "ContainerID")
                statusWriter.encodeIfPresent(containerStatus.pid, forKey: "PID")
                statusWriter.encodeIfPresent(containerStatus.exitCode, forKey: "ExitCode")
            }
        }
    }
}

extension TaskStatusUpdate: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(taskID, forKey: "taskID")
        try writer.encode(status, forKey: "status")
    }
}
