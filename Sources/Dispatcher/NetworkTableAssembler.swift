import ClusterState

/// The node's end of split network table messages (`NetworkTableMessage.split(fitting:)`), so a
/// node on a network with tens of thousands of tasks still gets its tables in one atomic step of
/// its stream (never DNS from half a table). The node shell puts it in front of
/// `NetworkTableReceiver`.
public typealias NetworkTableAssembler = PartAssembler<NetworkTableMessage>

extension NetworkTableMessage: SplitMessage {
    /// A part of a split message without its number is refused (0).
    public var partNumber: UInt32 { part ?? 0 }
    public var partCount: UInt32 { parts ?? 1 }

    public var asWhole: NetworkTableMessage {
        var whole = self
        whole.part = nil
        whole.parts = nil
        return whole
    }

    /// The parts in order as one message: a table cut between parts (same network id at the end
    /// of one and the start of the next) joined, and a service cut between them too; the last
    /// part's removals and host ports. nil if they do not fit together.
    public static func joinParts(_ ordered: [NetworkTableMessage]) -> NetworkTableMessage? {
        let last = ordered.last!
        guard ordered.allSatisfy({ $0.kind == last.kind && $0.base == last.base }),
              ordered.dropLast().allSatisfy({ $0.removed.isEmpty }) else { return nil }
        var tables: [NetworkTable] = []
        for table in ordered.flatMap(\.tables) {
            guard var joined = tables.last, joined.networkID == table.networkID else {
                tables.append(table)
                continue
            }
            joined.peers += table.peers
            var services = table.services[...]
            if let first = services.first, joined.services.last?.serviceID == first.serviceID {
                joined.services[joined.services.count - 1].tasks += first.tasks
                services = services.dropFirst()
            }
            joined.services += services
            tables[tables.count - 1] = joined
        }
        return NetworkTableMessage(kind: last.kind, session: last.session, version: last.version, base: last.base, tables: tables,
                                   removed: last.removed, hostPorts: last.hostPorts)
    }
}
