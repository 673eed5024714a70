import Wire

// Fast Wire encoding of a service and everything in its spec: the bytes of their `Codable`
// conformances through `WireEncoder` (keys in the order `encode(to:)` writes them, nil optionals
// left out as `encodeIfPresent` does, raw-value enums as their raw string), checked by
// `WireFastEncodingTests`. A new stored property needs a line here too; the all-fields test
// fails until it has one.

extension Service: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(id, forKey: "ID")
        try writer.encode(version, forKey: "Version")
        try writer.encode(createdAt, forKey: "CreatedAt")
        try writer.encode(updatedAt, forKey: "UpdatedAt")
        try writer.encode(spec, forKey: "Spec")
        try writer.encodeIfPresent(previousSpec, forKey: "PreviousSpec")
        try writer.encodeIfPresent(updateStatus, forKey: "UpdateStatus")
        try writer.encodeIfPresent(endpoint, forKey: "Endpoint")
    }
}

extension UpdateStatus: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(state.rawValue, forKey: "State")
        try writer.encodeIfPresent(startedAt, forKey: "StartedAt")
        try writer.encodeIfPresent(completedAt, forKey: "CompletedAt")
        writer.encodeIfPresent(message, forKey: "Message")
    }
}

extension ServiceSpec: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(name, forKey: "Name")
        try writer.encode(labels, forKey: "Labels")
        try writer.encode(taskTemplate, forKey: "TaskTemplate")
        try writer.encode(mode, forKey: "Mode")
        try writer.encodeIfPresent(updateConfig, forKey: "UpdateConfig")
        try writer.encodeIfPresent(rollbackConfig, forKey: "RollbackConfig")
        try writer.encodeIfPresent(endpointSpec, forKey: "EndpointSpec")
        try writer.encodeIfPresent(networks, forKey: "Networks")
    }
}

extension ServiceMode: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        switch self {
        case let .replicated(replicas):
            try writer.encodeNested(forKey: "Replicated") { $0.encode(replicas, forKey: "Replicas") }
        case .global:
            try writer.encodeNested(forKey: "Global") { _ in }
        }
    }
}

extension TaskTemplate: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encode(containerSpec, forKey: "ContainerSpec")
        try writer.encodeIfPresent(resources, forKey: "Resources")
        try writer.encodeIfPresent(restartPolicy, forKey: "RestartPolicy")
        try writer.encodeIfPresent(placement, forKey: "Placement")
        writer.encodeIfPresent(forceUpdate, forKey: "ForceUpdate")
        writer.encodeIfPresent(runtime, forKey: "Runtime")
        try writer.encodeIfPresent(networks, forKey: "Networks")
    }
}

extension ContainerSpec: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encode(image, forKey: "Image")
        try writer.encodeIfPresent(labels, forKey: "Labels")
        try writer.encodeIfPresent(command, forKey: "Command")
        try writer.encodeIfPresent(args, forKey: "Args")
        writer.encodeIfPresent(hostname, forKey: "Hostname")
        try writer.encodeIfPresent(env, forKey: "Env")
        writer.encodeIfPresent(dir, forKey: "Dir")
        writer.encodeIfPresent(user, forKey: "User")
        writer.encodeIfPresent(initProcess, forKey: "Init")
        writer.encodeIfPresent(stopGracePeriod, forKey: "StopGracePeriod")
        writer.encodeIfPresent(stopSignal, forKey: "StopSignal")
        try writer.encodeIfPresent(healthcheck, forKey: "Healthcheck")
        writer.encodeIfPresent(isolation, forKey: "Isolation")
        try writer.encodeIfPresent(groups, forKey: "Groups")
        try writer.encodeIfPresent(privileges, forKey: "Privileges")
        writer.encodeIfPresent(readOnly, forKey: "ReadOnly")
        try writer.encodeIfPresent(mounts, forKey: "Mounts")
        try writer.encodeIfPresent(hosts, forKey: "Hosts")
        try writer.encodeIfPresent(dnsConfig, forKey: "DNSConfig")
        try writer.encodeIfPresent(sysctls, forKey: "Sysctls")
        try writer.encodeIfPresent(capabilityAdd, forKey: "CapabilityAdd")
        try writer.encodeIfPresent(capabilityDrop, forKey: "CapabilityDrop")
        try writer.encodeIfPresent(ulimits, forKey: "Ulimits")
        try writer.encodeIfPresent(secrets, forKey: "Secrets")
        try writer.encodeIfPresent(configs, forKey: "Configs")
    }
}

extension HealthConfig: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeIfPresent(test, forKey: "Test")
        writer.encodeIfPresent(interval, forKey: "Interval")
        writer.encodeIfPresent(timeout, forKey: "Timeout")
        writer.encodeIfPresent(retries, forKey: "Retries")
        writer.encodeIfPresent(startPeriod, forKey: "StartPeriod")
    }
}

extension ResourceRequirements: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeIfPresent(limits, forKey: "Limits")
        try writer.encodeIfPresent(reservations, forKey: "Reservations")
    }
}

extension ResourceAmounts: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encodeIfPresent(nanoCPUs, forKey: "NanoCPUs")
        writer.encodeIfPresent(memoryBytes, forKey: "MemoryBytes")
        writer.encodeIfPresent(pids, forKey: "Pids")
    }
}

extension RestartPolicy: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encodeIfPresent(condition?.rawValue, forKey: "Condition")
        writer.encodeIfPresent(delay, forKey: "Delay")
        writer.encodeIfPresent(maxAttempts, forKey: "MaxAttempts")
        writer.encodeIfPresent(window, forKey: "Window")
    }
}

extension Placement: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeIfPresent(constraints, forKey: "Constraints")
        try writer.encodeIfPresent(preferences, forKey: "Preferences")
        writer.encodeIfPresent(maxReplicas, forKey: "MaxReplicas")
    }
}

extension PlacementPreference: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        guard let spread else { return }
        try writer.encodeNested(forKey: "Spread") { $0.encode(spread.spreadDescriptor, forKey: "SpreadDescriptor") }
    }
}

extension UpdateConfig: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encodeIfPresent(parallelism, forKey: "Parallelism")
        writer.encodeIfPresent(delay, forKey: "Delay")
        writer.encodeIfPresent(failureAction?.rawValue, forKey: "FailureAction")
        writer.encodeIfPresent(monitor, forKey: "Monitor")
        writer.encodeIfPresent(maxFailureRatio, forKey: "MaxFailureRatio")
        writer.encodeIfPresent(order?.rawValue, forKey: "Order")
    }
}

extension EndpointSpec: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encodeIfPresent(mode, forKey: "Mode")
        try writer.encodeIfPresent(ports, forKey: "Ports")
    }
}

extension PortConfig: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        writer.encodeIfPresent(name, forKey: "Name")
        writer.encodeIfPresent(`protocol`, forKey: "Protocol")
        writer.encode(targetPort, forKey: "TargetPort")
        writer.encodeIfPresent(publishedPort, forKey: "PublishedPort")
        writer.encodeIfPresent(publishMode, forKey: "PublishMode")
        writer.encodeIfPresent(publishPolicy, forKey: "PublishPolicy")
    }
}
