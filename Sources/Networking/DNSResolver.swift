/// The names one task can resolve: services and tasks on the networks it is attached to.
///
/// It exists so the DNS answer of every task namespace is computed from the plan (the replicated
/// service tables), never from gossip, and swapped whole when the tables change.
public struct DNSView: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var addresses: [IPv4Address]
        public var ttl: UInt32
        public init(addresses: [IPv4Address], ttl: UInt32) {
            self.addresses = addresses
            self.ttl = ttl
        }
    }

    /// Lowercased name → addresses.
    public var entries: [String: Entry]

    public init(entries: [String: Entry] = [:]) { self.entries = entries }

    /// TTL of a VIP answer: the VIP is stable for the service's life.
    public static let virtualIPTTL: UInt32 = 10
    /// TTL of every task address answer (`tasks.<service>`, dnsrr, task names): 0, so a client
    /// never keeps a task that has left (moby/moby#30029 is Swarm's 600 s).
    public static let taskTTL: UInt32 = 0

    /// One view per local task, from the plan: `<service>` and aliases → VIP (or ready task
    /// addresses in dnsrr mode), `tasks.<service>` → ready task addresses, `<task name>` → its
    /// address; all on the networks the task shares with the service.
    public static func views(_ plan: NodeNetworkPlan) -> [String: DNSView] {
        var result: [String: DNSView] = [:]
        for task in plan.tasks {
            result[task.id] = view(networks: task.attachments.map(\.networkID), services: plan.services)
        }
        return result
    }

    public static func view(networks: [String], services: [ServiceEntry]) -> DNSView {
        var view = DNSView()
        for network in networks {
            for service in services.sorted(by: { $0.id < $1.id }) {
                let tasks = service.readyBackends.compactMap { backend in backend.addresses[network].map { (backend, $0) } }
                let names = [service.name] + service.aliases
                if service.endpointMode == .vip, let vip = service.virtualIPs[network] {
                    for name in names { view.add(name, [vip], ttl: virtualIPTTL) }
                } else if service.endpointMode == .dnsrr, !tasks.isEmpty {
                    for name in names { view.add(name, tasks.map(\.1), ttl: taskTTL) }
                }
                if !tasks.isEmpty || service.virtualIPs[network] != nil {
                    for name in names { view.add("tasks." + name, tasks.map(\.1), ttl: taskTTL) }
                }
                for (backend, address) in tasks { view.add(backend.taskName, [address], ttl: taskTTL) }
            }
        }
        return view
    }

    mutating func add(_ name: String, _ addresses: [IPv4Address], ttl: UInt32) {
        let key = name.lowercased()
        var entry = entries[key] ?? Entry(addresses: [], ttl: ttl)
        for address in addresses where !entry.addresses.contains(address) { entry.addresses.append(address) }
        entry.ttl = min(entry.ttl, ttl)
        entries[key] = entry
    }
}

/// What to do with one query: answer it, or forward it to the node's resolvers.
public enum DNSDecision: Equatable, Sendable {
    case respond(DNSMessage)
    case forward
}

/// Answers queries from a view; pure.
public enum DNSResolver {
    /// `rotation` rotates multi-address answers, so clients that take the first address spread.
    public static func decide(_ query: DNSMessage, view: DNSView, rotation: Int = 0) -> DNSDecision {
        guard !query.flags.isResponse else { return .respond(reply(to: query, code: .formatError)) }
        guard query.flags.opcode == 0 else { return .respond(reply(to: query, code: .notImplemented)) }
        guard query.questions.count == 1, let question = query.questions.first else {
            return .respond(reply(to: query, code: .formatError))
        }
        guard question.recordClass == 1 || question.recordClass == 255,
              let entry = view.entries[DNSName.key(question.name)] else { return .forward }
        var response = reply(to: query, code: .noError)
        response.flags.authoritative = true
        if question.type == DNSRecordType.a || question.type == DNSRecordType.any {
            let addresses = rotated(entry.addresses, by: rotation)
            response.answers = addresses.map { DNSRecord.a(question.name, $0, ttl: entry.ttl) }
        }
        return .respond(response)
    }

    /// A reply carrying the query's id and question, with `code`.
    public static func reply(to query: DNSMessage, code: DNSResponseCode) -> DNSMessage {
        var flags = DNSFlags(rawValue: 0)
        flags.isResponse = true
        flags.recursionDesired = query.flags.recursionDesired
        flags.recursionAvailable = true
        flags.responseCode = code
        return DNSMessage(id: query.id, flags: flags, questions: query.questions)
    }

    /// A FORMERR reply built from the raw id alone (for input too broken to parse), or nil when
    /// there are not even two bytes.
    public static func formatError(raw: [UInt8]) -> [UInt8]? {
        guard raw.count >= 2 else { return nil }
        var flags = DNSFlags(rawValue: 0)
        flags.isResponse = true
        flags.responseCode = .formatError
        return DNSMessage(id: UInt16(raw[0]) << 8 | UInt16(raw[1]), flags: flags).serialize()
    }

    /// Serializes for UDP: over `limit` bytes, the answers are dropped and TC set (the client
    /// retries over TCP).
    public static func udpBytes(_ response: DNSMessage, limit: Int) -> [UInt8] {
        let bytes = response.serialize()
        guard bytes.count > limit else { return bytes }
        var truncated = response
        truncated.answers = []
        truncated.authorities = []
        truncated.additionals = []
        truncated.flags.truncated = true
        return truncated.serialize()
    }

    static func rotated<T>(_ items: [T], by count: Int) -> [T] {
        guard items.count > 1 else { return items }
        let shift = ((count % items.count) + items.count) % items.count
        return Array(items[shift...] + items[..<shift])
    }
}

/// The node's resolver configuration, read for forwarding (a task's own resolv.conf, pointing at
/// 127.0.0.11, is written by the executor: `NameFiles.embeddedResolvConf`).
public enum ResolverConfiguration {
    /// The node's upstream resolvers (IPv4 `nameserver` lines), at most three as in libc.
    public static func nameservers(_ resolvConf: String) -> [IPv4Address] {
        Array(resolvConf.split(separator: "\n").compactMap { line -> IPv4Address? in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { return nil }
            return IPv4Address(String(words[1]))
        }.prefix(3))
    }
}
