import Wire

extension ClusterCommand: WireFastDecodable {
    /// `createService` (every service create, decoded on every manager) by hand; any other case
    /// through the synthesized `init(from:)` on the same slot. The encoder writes one entry, the
    /// case; a body with more (unknown keys beside the case) is left to `init(from:)`, which
    /// alone knows which keys name cases.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var entries = try reader.keyed()
        guard let entry = try entries.next(), try entries.next() == nil else { throw WireFastBail() }
        guard entry.key(is: "createService") else {
            self = try reader.codable(ClusterCommand.self)
            return
        }
        var seen = WireSeenKeys()
        var service: Service?
        var fields = try entry.value.keyed()
        while let field = try fields.next() {
            if field.key(is: "service") { try seen.first(0); service = try field.value.decode(Service.self) }
        }
        guard let service else { throw WireFastBail() }
        self = .createService(service: service)
    }
}
