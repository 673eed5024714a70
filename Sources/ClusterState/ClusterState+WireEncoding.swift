import Wire

// Fast Wire encoding of the whole state (a snapshot): the bytes of `encode(to:)` through
// `WireEncoder`, checked by `WireFastEncodingTests`. Services, tasks and nodes write themselves;
// services in the order the state already keeps (`sortedServiceIDs`, checked against byte order
// while writing), so a snapshot of many services sorts nothing. The small parts (the cluster
// object, secrets, networking, payloads) go through `encode(to:)`.

extension ClusterState: WireFastEncodable {
    public func wireEncode(to writer: inout WireSlotWriter) throws {
        try writer.encodeCodableIfPresent(cluster, forKey: "cluster")
        try writer.encode(nodes, forKey: "nodes")
        try writer.encodeCodableIfPresent(secrets, forKey: "secrets")
        try writer.encode(services, forKey: "services", sortedKeys: sortedServiceIDs)
        try writer.encode(tasks, forKey: "tasks")
        writer.encode(appliedIndex, forKey: "appliedIndex")
        try writer.encodeCodable(networking, forKey: "networking")
        try writer.encodeCodable(secretObjects, forKey: "secretObjects")
        try writer.encodeCodable(configObjects, forKey: "configObjects")
    }
}
