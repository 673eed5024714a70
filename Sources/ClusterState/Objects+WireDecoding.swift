import Wire

// Hand-written wire decoders for the small objects every command and object carries (see
// `WireFastDecodable`).

extension ObjectVersion: WireFastDecodable {
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        var seen = WireSeenKeys()
        var index: UInt64?
        var entries = try reader.keyed()
        while let entry = try entries.next() {
            if entry.key(is: "Index") { try seen.first(0); index = try entry.value.uint64() }
        }
        guard let index else { throw WireFastBail() }
        self.init(index: index)
    }
}

extension Timestamp: WireFastDecodable {
    /// An RFC 3339 string, as written. `init(from:)` also takes a number where the slot is not a
    /// string; that, and a string that does not parse, is left to it.
    public init(wireFast reader: WireSlotReader) throws(WireFastBail) {
        try reader.checkDepth()
        guard let millis = try reader.withUTF8({ RFC3339.parse(utf8: $0) }) else { throw WireFastBail() }
        self.init(millisecondsSinceEpoch: millis)
    }
}
