import ClusterState

// Splitting a network table message that would not fit one transport frame into parts that do.
// One network's table grows with its live tasks (a /16 holds 65,534 of them, about 200 bytes
// each in a frame), and a node's full set is every table it needs, so a single table may be
// larger than a frame: the parts cut tables between peers, services and tasks, and
// `NetworkTableAssembler` joins the pieces of a table back together.
extension NetworkTableMessage {
    /// Encoded bytes per part the node shell aims for: half the 16 MiB frame limit.
    public static let defaultMaxBytesPerPart = 8 << 20

    /// The smallest piece a part may hold: a table's header (only for a table with no peers and
    /// no services), one peer, a service's header (only for a service without tasks), one task.
    enum Unit {
        case table(Int)
        case peer(Int, Int)
        case service(Int, Int)
        case task(Int, Int, Int)

        var table: Int {
            switch self {
            case let .table(table), let .peer(table, _), let .service(table, _), let .task(table, _, _): table
            }
        }
    }

    /// This message as parts that each satisfy `fits` (a single peer or task that does not is
    /// alone in its part), in order: each holds a contiguous run of the tables' peers, services
    /// and tasks, the last one also the removals and host ports. `[self]` when it fits whole.
    /// Deterministic: ranges are halved until they fit.
    public func split(fitting fits: (NetworkTableMessage) -> Bool) -> [NetworkTableMessage] {
        precondition(part == nil && parts == nil, "only a whole network table message is split")
        guard !fits(self) else { return [self] }
        let units = self.units
        guard units.count > 1 else { return [self] }
        var accepted: [Range<Int>] = []
        var work: [Range<Int>] = [0..<units.count]
        while let range = work.popLast() {
            if range.count == 1 || fits(numbered(piece(units, range))) {
                accepted.append(range)
            } else {
                let middle = range.lowerBound + range.count / 2
                work.append(middle..<range.upperBound)
                work.append(range.lowerBound..<middle)
            }
        }
        precondition(accepted.count <= Int(UInt32.max), "too many parts")
        return accepted.enumerated().map { index, range in
            var part = piece(units, range)
            part.part = UInt32(index + 1)
            part.parts = UInt32(accepted.count)
            return part
        }
    }

    /// `part` with the widest part numbers, so it is measured as large as it may be sent.
    private func numbered(_ part: NetworkTableMessage) -> NetworkTableMessage {
        var part = part
        part.part = .max
        part.parts = .max
        return part
    }

    var units: [Unit] {
        var units: [Unit] = []
        for (t, table) in tables.enumerated() {
            if table.peers.isEmpty && table.services.isEmpty { units.append(.table(t)) }
            units += table.peers.indices.map { .peer(t, $0) }
            for (s, service) in table.services.enumerated() {
                units += service.tasks.isEmpty ? [.service(t, s)] : service.tasks.indices.map { .task(t, s, $0) }
            }
        }
        return units
    }

    /// The message holding `units[range]`, with the removals and host ports if it is the last.
    func piece(_ units: [Unit], _ range: Range<Int>) -> NetworkTableMessage {
        var pieces: [NetworkTable] = []
        var current: Int?
        for unit in units[range] {
            if unit.table != current {
                current = unit.table
                var header = tables[unit.table]
                header.peers = []
                header.services = []
                pieces.append(header)
            }
            let last = pieces.count - 1
            switch unit {
            case .table: break
            case let .peer(t, p): pieces[last].peers.append(tables[t].peers[p])
            case let .service(t, s): pieces[last].services.append(tables[t].services[s])
            case let .task(t, s, k):
                let service = tables[t].services[s]
                if pieces[last].services.last?.serviceID != service.serviceID {
                    var header = service
                    header.tasks = []
                    pieces[last].services.append(header)
                }
                pieces[last].services[pieces[last].services.count - 1].tasks.append(service.tasks[k])
            }
        }
        let isLast = range.upperBound == units.count
        return NetworkTableMessage(kind: kind, session: session, version: version, base: base, tables: pieces,
                                   removed: isLast ? removed : [], hostPorts: isLast ? hostPorts : (kind == .full ? [] : nil))
    }
}
