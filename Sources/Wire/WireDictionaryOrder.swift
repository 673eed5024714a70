/// Recognizes the keyed containers the standard library's `Dictionary` writes, so the encoder
/// can put their entries in byte order of the key: Swift's iteration order depends on the
/// per-process hash seed and the insertion history, and two nodes holding equal state must
/// write equal bytes (snapshots are compared and checksummed).
///
/// `Dictionary` encodes `String`, `Int` and `CodingKeyRepresentable` keys through a keyed
/// container with one private key type. Encoding a one-entry dictionary into `Probe` once
/// reveals that type, so the check per container is one pointer comparison instead of a
/// runtime conformance lookup per value.
enum WireDictionaryOrder {
    static let keyType: ObjectIdentifier? = {
        let probe = Probe()
        try? ["k": 0].encode(to: probe)
        return probe.found.keyType
    }()

    static func isDictionaryKey<Key: CodingKey>(_: Key.Type) -> Bool {
        ObjectIdentifier(Key.self) == keyType
    }

    private final class Found {
        var keyType: ObjectIdentifier?
    }

    private struct Probe: Encoder {
        let found = Found()
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            found.keyType = ObjectIdentifier(Key.self)
            return KeyedEncodingContainer(Discard<Key>(probe: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer { DiscardUnkeyed(probe: self) }
        func singleValueContainer() -> any SingleValueEncodingContainer { DiscardUnkeyed(probe: self) }
    }

    private struct Discard<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let probe: Probe
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) {}
        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(Discard<NestedKey>(probe: probe))
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { DiscardUnkeyed(probe: probe) }
        mutating func superEncoder() -> any Encoder { probe }
        mutating func superEncoder(forKey key: Key) -> any Encoder { probe }
    }

    private struct DiscardUnkeyed: UnkeyedEncodingContainer, SingleValueEncodingContainer {
        let probe: Probe
        var codingPath: [any CodingKey] { [] }
        var count: Int { 0 }
        mutating func encodeNil() {}
        mutating func encode<T: Encodable>(_ value: T) {}
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(Discard<NestedKey>(probe: probe))
        }
        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { self }
        mutating func superEncoder() -> any Encoder { probe }
    }
}
