/// Encodes any `Encodable` value into swarmctl's compact, versionable binary form.
///
/// Cluster objects go into the Raft log and between nodes in binary (measured 11–21× faster than
/// JSON here), and hand-writing `WireCodable` for every service, task and node type would not
/// keep up with the schema. This encoder gives every `Codable` type that form for free. Fields
/// are stored as (key, length-delimited value) pairs, so a newer reader skips nothing it needs
/// and an older reader skips what it does not know; see `WireCoderFormat.swift` for the layout.
///
/// Dictionaries with `String` or `Int` keys are written in sorted key order, so equal values give
/// equal bytes. Nested containers must be filled one at a time (as synthesized `Codable` does):
/// writing to a container after a sibling container was started throws.
public struct WireEncoder: Sendable {
    /// Values nested deeper than this throw instead of producing bytes `WireDecoder` would refuse.
    public var maxDepth: Int
    /// Whether values of `WireFastEncodable` types write themselves (the same bytes, less CPU).
    /// Off: every value goes through `encode(to:)`, as the equivalence tests need. The default
    /// is on unless the environment sets `SWARMCTL_WIRE_CODABLE=1`.
    public var usesFastPaths: Bool

    public init() {
        maxDepth = WireCoding.defaultMaxDepth
        usesFastPaths = WireFastPaths.enabledByDefault
    }

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        if usesFastPaths, let fastType = WireFastPaths.fastType(of: T.self) {
            return try encodeFast(WireFastPaths.cast(value, to: fastType))
        }
        let buffer = WireEncodingBuffer(maxDepth: maxDepth, usesFastPaths: usesFastPaths)
        buffer.bytes.append(WireCoding.formatVersion)
        try buffer.encodeInNewSlot(value, depth: 1, parent: 0, key: .none)
        if let failure = buffer.failure { throw failure }
        return buffer.bytes
    }

    /// A type known to have a fast path skips the conformance check.
    public func encode<T: WireFastEncodable>(_ value: T) throws -> [UInt8] {
        guard usesFastPaths else { return try encode(value as any Encodable) }
        return try encodeFast(value)
    }

    private func encode(_ value: any Encodable) throws -> [UInt8] {
        let buffer = WireEncodingBuffer(maxDepth: maxDepth, usesFastPaths: false)
        buffer.bytes.append(WireCoding.formatVersion)
        try buffer.encodeInNewSlot(value, depth: 1, parent: 0, key: .none)
        if let failure = buffer.failure { throw failure }
        return buffer.bytes
    }

    private func encodeFast<T: WireFastEncodable>(_ value: T) throws -> [UInt8] {
        var writer = WireSlotWriter(bytes: [], maxDepth: maxDepth, depth: 0, usesFastPaths: true)
        writer.bytes.reserveCapacity(256)
        writer.bytes.append(WireCoding.formatVersion)
        try writer.writeSlot(value)
        return writer.bytes
    }
}

/// The one output buffer all containers of an `encode` call append to, and the stack of slots
/// still open in it. A container slot reserves one header byte and is patched when it closes
/// (shifting the body only when the body is 127 bytes or longer).
///
/// Encoding is strictly nested, so the open slots are also the coding path: containers keep a
/// slot id and a depth, and build `codingPath` from this stack only when asked.
final class WireEncodingBuffer {
    private struct OpenSlot {
        let id: Int
        let headerAt: Int
        let key: WirePathKey
        var isNil = false
        var sortsEntries = false
        /// False for the slot of `encodeBody`: its header belongs to a `WireSlotWriter`.
        var ownsHeader = true
    }

    // Unchecked: one encode call owns the buffer on one thread, and the checks cost a fifth of
    // the encoding time.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    let maxDepth: Int
    /// Whether values of `WireFastEncodable` types met on the way write themselves.
    let usesFastPaths: Bool
    /// The first misuse seen by a non-throwing container method; `encode` throws it at the end.
    var failure: EncodingError?
    @exclusivity(unchecked) private var open: [OpenSlot] = []
    @exclusivity(unchecked) private var nextID = 0

    init(maxDepth: Int, usesFastPaths: Bool) {
        self.maxDepth = maxDepth
        self.usesFastPaths = usesFastPaths
        bytes.reserveCapacity(256)
        open.reserveCapacity(16)
    }

    /// A buffer that is lent `WireSlotWriter`'s bytes for a `Codable` fallback.
    init(maxDepth: Int, usesFastPaths: Bool, bytes: [UInt8]) {
        self.maxDepth = maxDepth
        self.usesFastPaths = usesFastPaths
        self.bytes = bytes
    }

    // MARK: Slots

    func openSlot(key: WirePathKey) -> Int {
        nextID += 1
        open.append(OpenSlot(id: nextID, headerAt: bytes.count, key: key))
        bytes.append(0)
        return nextID
    }

    /// The keys from the top-level value down to slot `id`.
    func codingPath(through id: Int) -> [any CodingKey] {
        var path: [any CodingKey] = []
        for slot in open {
            if let key = slot.key.codingKey { path.append(key) }
            if slot.id == id { break }
        }
        return path
    }

    func codingPath(through id: Int, then key: WirePathKey) -> [any CodingKey] {
        key.appended(to: codingPath(through: id))
    }

    /// Closes every slot opened inside `id` so the caller can append to `id`'s body.
    func prepareWrite(to id: Int) throws {
        if open.last?.id == id { return }
        guard open.contains(where: { $0.id == id }) else {
            throw EncodingError.invalidValue((), .init(codingPath: codingPath(through: id),
                debugDescription: "container written to after it was closed by a sibling container"))
        }
        while let last = open.last, last.id != id { try closeTop() }
    }

    /// Closes `id` and anything still open inside it.
    func close(_ id: Int) throws {
        try prepareWrite(to: id)
        try closeTop()
    }

    private func closeTop() throws {
        guard let slot = open.last else { return }
        let length = bytes.count - slot.headerAt - 1
        if slot.isNil && length > 0 {
            throw EncodingError.invalidValue((), .init(codingPath: codingPath(through: slot.id),
                debugDescription: "nil and a value in one slot"))
        }
        if slot.sortsEntries { sortEntries(bodyStart: slot.headerAt + 1) }
        open.removeLast()
        guard slot.ownsHeader else {
            if slot.isNil {
                throw EncodingError.invalidValue((), .init(codingPath: [],
                    debugDescription: "nil in the body of a slot its fast path already opened"))
            }
            return
        }
        patchHeader(slot.isNil ? 0 : UInt64(length) + 1, at: slot.headerAt)
    }

    private func patchHeader(_ header: UInt64, at offset: Int) {
        if header < 0x80 {
            bytes[offset] = UInt8(header)
            return
        }
        let size = WireVarint.size(header)
        bytes.insert(contentsOf: repeatElement(0, count: size - 1), at: offset + 1)
        var remaining = header
        for index in 0..<size {
            bytes[offset + index] = UInt8(truncatingIfNeeded: remaining) | (index < size - 1 ? 0x80 : 0)
            remaining >>= 7
        }
    }

    /// The open slot `id` holds a keyed container whose entries must end up in key byte order.
    func sortEntriesOnClose(_ id: Int) {
        guard let index = open.lastIndex(where: { $0.id == id }) else { return }
        open[index].sortsEntries = true
    }

    private struct EntrySpan {
        let start: Int, end: Int, keyStart: Int, keyEnd: Int
    }

    private func entrySpans(from start: Int) -> [EntrySpan] {
        var cursor = WireCursor(bytes: bytes, position: start, end: bytes.count)
        var spans: [EntrySpan] = []
        while !cursor.isAtEnd {
            let at = cursor.position
            guard let entry = try? cursor.readEntry() else { return [] }
            spans.append(EntrySpan(start: at, end: entry.next, keyStart: entry.keyStart, keyEnd: entry.keyEnd))
        }
        return spans
    }

    private func sortEntries(bodyStart: Int) {
        let spans = entrySpans(from: bodyStart)
        let precedes = { (a: EntrySpan, b: EntrySpan) -> Bool in
            self.bytes[a.keyStart..<a.keyEnd].lexicographicallyPrecedes(self.bytes[b.keyStart..<b.keyEnd])
        }
        if zip(spans, spans.dropFirst()).allSatisfy({ !precedes($1, $0) }) { return }
        var body: [UInt8] = []
        body.reserveCapacity(bytes.count - bodyStart)
        for span in spans.sorted(by: precedes) { body.append(contentsOf: bytes[span.start..<span.end]) }
        bytes.replaceSubrange(bodyStart..., with: body)
    }

    /// Marks the open, still empty slot `id` as nil.
    func markNil(_ id: Int) throws {
        try requireEmpty(id)
        open[open.count - 1].isNil = true
    }

    /// A single-value container writes its body once; a second value would corrupt the slot.
    func requireEmpty(_ id: Int) throws {
        try prepareWrite(to: id)
        guard let slot = open.last, !slot.isNil, slot.headerAt == bytes.count - 1 else {
            throw EncodingError.invalidValue((), .init(codingPath: codingPath(through: id),
                debugDescription: "single value container already holds a value"))
        }
    }

    /// Non-throwing container methods record misuse here; `encode` throws the first one.
    func record(_ error: any Error) {
        guard failure == nil else { return }
        failure = error as? EncodingError
            ?? EncodingError.invalidValue((), .init(codingPath: [], debugDescription: "\(error)", underlyingError: error))
    }

    // MARK: Values

    func writeSlot<P: WirePrimitive, T>(of _: P.Type, _ value: T) {
        WirePrimitives.cast(value, to: P.self).writeWireSlot(to: &bytes)
    }

    func writeBody<P: WirePrimitive, T>(of _: P.Type, _ value: T) {
        WirePrimitives.cast(value, to: P.self).writeWireBody(to: &bytes)
    }

    func writeKey(_ key: some CodingKey) {
        var name = key.stringValue
        name.withUTF8 { utf8 in
            WireVarint.append(UInt64(utf8.count), to: &bytes)
            bytes.append(contentsOf: utf8)
        }
    }

    /// Throws if a value at `depth` would be nested too deeply for `WireDecoder` to accept.
    func checkDepth(_ depth: Int, inside id: Int, then key: WirePathKey) throws {
        guard depth <= maxDepth else {
            throw EncodingError.invalidValue((), .init(codingPath: codingPath(through: id, then: key),
                debugDescription: "nesting deeper than \(maxDepth) levels"))
        }
    }

    /// Writes `value` as a new slot at the end of `parent`'s body: directly if it is a
    /// primitive, otherwise through its `encode(to:)` into a back-patched slot.
    func encodeInNewSlot<T: Encodable>(_ value: T, depth: Int, parent: Int, key: WirePathKey) throws {
        if let primitive = WirePrimitives.type(of: T.self) {
            writeSlot(of: primitive, value)
            return
        }
        if usesFastPaths, let fastType = WireFastPaths.fastType(of: T.self) {
            try checkDepth(depth, inside: parent, then: key)
            try writeFast(WireFastPaths.cast(value, to: fastType), depth: depth - 1) { try $0.writeSlot($1) }
            return
        }
        try checkDepth(depth, inside: parent, then: key)
        let id = openSlot(key: key)
        try value.encode(to: WireEncoderImpl(buffer: self, slot: id, depth: depth))
        try close(id)
    }

    /// Lends the bytes to a `WireSlotWriter` writing a body at `depth` (a swap, not a copy);
    /// slots open here stay valid because the writer only appends.
    func writeFast<F: WireFastEncodable>(_ value: F, depth: Int,
                                         _ write: (inout WireSlotWriter, F) throws -> Void) throws {
        var writer = WireSlotWriter(bytes: [], maxDepth: maxDepth, depth: depth, usesFastPaths: true)
        swap(&writer.bytes, &bytes)
        defer { swap(&writer.bytes, &bytes) }
        try write(&writer, value)
    }

    /// `value.encode(to:)` writing into the body of a slot a `WireSlotWriter` opened at `depth`.
    func encodeBody<T: Encodable>(_ value: T, depth: Int) throws {
        nextID += 1
        let id = nextID
        open.append(OpenSlot(id: id, headerAt: bytes.count - 1, key: .none, ownsHeader: false))
        try value.encode(to: WireEncoderImpl(buffer: self, slot: id, depth: depth))
        try close(id)
    }
}

/// The `Encoder` handed to `encode(to:)`: one slot of the shared buffer.
struct WireEncoderImpl: Encoder {
    let buffer: WireEncodingBuffer
    let slot: Int
    let depth: Int
    var codingPath: [any CodingKey] { buffer.codingPath(through: slot) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if WireDictionaryOrder.isDictionaryKey(Key.self) { buffer.sortEntriesOnClose(slot) }
        return KeyedEncodingContainer(WireKeyedEncodingContainer<Key>(buffer: buffer, slot: slot, depth: depth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        WireUnkeyedEncodingContainer(buffer: buffer, slot: slot, depth: depth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        WireSingleValueEncodingContainer(encoder: self)
    }
}

/// Appends (key, slot) entries to the body of its slot.
struct WireKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let buffer: WireEncodingBuffer
    let slot: Int
    let depth: Int
    var codingPath: [any CodingKey] { buffer.codingPath(through: slot) }

    private func startEntry(_ key: Key) throws {
        try buffer.prepareWrite(to: slot)
        buffer.writeKey(key)
    }

    private func encodePrimitive(_ value: some WirePrimitive, _ key: Key) throws {
        try startEntry(key)
        value.writeWireSlot(to: &buffer.bytes)
    }

    mutating func encodeNil(forKey key: Key) throws {
        try startEntry(key)
        buffer.bytes.append(0)
    }

    mutating func encode(_ value: Bool, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: String, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encodePrimitive(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encodePrimitive(value, key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try startEntry(key)
        try buffer.encodeInNewSlot(value, depth: depth + 1, parent: slot, key: .key(key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(WireKeyedEncodingContainer<NestedKey>(buffer: buffer, slot: openNested(key), depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        WireUnkeyedEncodingContainer(buffer: buffer, slot: openNested(key), depth: depth + 1)
    }

    mutating func superEncoder() -> any Encoder {
        WireEncoderImpl(buffer: buffer, slot: openNested(WireKey.superKey), depth: depth + 1)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        WireEncoderImpl(buffer: buffer, slot: openNested(key), depth: depth + 1)
    }

    /// Starts an entry whose slot stays open until something is written to an enclosing slot.
    /// These methods cannot throw, so misuse is recorded and thrown by `encode`.
    private func openNested(_ key: some CodingKey) -> Int {
        do {
            try buffer.prepareWrite(to: slot)
            try buffer.checkDepth(depth + 1, inside: slot, then: .key(key))
        } catch {
            buffer.record(error)
        }
        buffer.writeKey(key)
        return buffer.openSlot(key: .key(key))
    }
}

/// Appends element slots to the body of its slot.
struct WireUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let buffer: WireEncodingBuffer
    let slot: Int
    let depth: Int
    private(set) var count = 0
    var codingPath: [any CodingKey] { buffer.codingPath(through: slot) }

    init(buffer: WireEncodingBuffer, slot: Int, depth: Int) {
        self.buffer = buffer
        self.slot = slot
        self.depth = depth
    }

    private mutating func startElement() throws {
        try buffer.prepareWrite(to: slot)
        count += 1
    }

    private mutating func encodePrimitive(_ value: some WirePrimitive) throws {
        try startElement()
        value.writeWireSlot(to: &buffer.bytes)
    }

    mutating func encodeNil() throws {
        try startElement()
        buffer.bytes.append(0)
    }

    mutating func encode(_ value: Bool) throws { try encodePrimitive(value) }
    mutating func encode(_ value: String) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Double) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Float) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int8) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int16) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int32) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int64) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt8) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt16) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt32) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt64) throws { try encodePrimitive(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = count
        try startElement()
        try buffer.encodeInNewSlot(value, depth: depth + 1, parent: slot, key: .index(index))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(WireKeyedEncodingContainer<NestedKey>(buffer: buffer, slot: openNested(), depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        WireUnkeyedEncodingContainer(buffer: buffer, slot: openNested(), depth: depth + 1)
    }

    mutating func superEncoder() -> any Encoder {
        WireEncoderImpl(buffer: buffer, slot: openNested(), depth: depth + 1)
    }

    private mutating func openNested() -> Int {
        let index = count
        do {
            try startElement()
            try buffer.checkDepth(depth + 1, inside: slot, then: .index(index))
        } catch {
            buffer.record(error)
        }
        return buffer.openSlot(key: .index(index))
    }
}

/// Writes one value as the body of the encoder's own slot.
struct WireSingleValueEncodingContainer: SingleValueEncodingContainer {
    let encoder: WireEncoderImpl
    var codingPath: [any CodingKey] { encoder.codingPath }

    private func encodePrimitive(_ value: some WirePrimitive) throws {
        try encoder.buffer.requireEmpty(encoder.slot)
        value.writeWireBody(to: &encoder.buffer.bytes)
    }

    mutating func encodeNil() throws { try encoder.buffer.markNil(encoder.slot) }

    mutating func encode(_ value: Bool) throws { try encodePrimitive(value) }
    mutating func encode(_ value: String) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Double) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Float) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int8) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int16) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int32) throws { try encodePrimitive(value) }
    mutating func encode(_ value: Int64) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt8) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt16) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt32) throws { try encodePrimitive(value) }
    mutating func encode(_ value: UInt64) throws { try encodePrimitive(value) }

    /// A wrapped value shares this slot (a `Codable` newtype costs no extra bytes).
    mutating func encode<T: Encodable>(_ value: T) throws {
        try encoder.buffer.requireEmpty(encoder.slot)
        if let primitive = WirePrimitives.type(of: T.self) {
            encoder.buffer.writeBody(of: primitive, value)
            return
        }
        try encoder.buffer.checkDepth(encoder.depth + 1, inside: encoder.slot, then: .none)
        if encoder.buffer.usesFastPaths, let fastType = WireFastPaths.fastType(of: T.self) {
            try encoder.buffer.writeFast(WireFastPaths.cast(value, to: fastType), depth: encoder.depth + 1) { try $1.wireEncode(to: &$0) }
            return
        }
        try value.encode(to: WireEncoderImpl(buffer: encoder.buffer, slot: encoder.slot, depth: encoder.depth + 1))
    }
}
