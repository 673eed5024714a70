/// A type the coder writes directly as a slot body instead of going through `Encodable`:
/// the standard scalars, `String`, and `[UInt8]` (as a raw byte string, not a list of numbers).
/// Knowing the body size up front lets the encoder write the slot header without back-patching.
protocol WirePrimitive {
    var wireBodyCount: Int { get }
    func writeWireBody(to out: inout [UInt8])
    /// Reads a body that must be exactly `bytes[slot.start..<slot.end]`.
    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> Self
}

extension WirePrimitive {
    /// Header and body, for a value in a fresh slot.
    func writeWireSlot(to out: inout [UInt8]) {
        WireVarint.append(UInt64(wireBodyCount) + 1, to: &out)
        writeWireBody(to: &out)
    }
}

/// Reads a varint that fills the whole slot body.
private func readWholeVarint(_ bytes: [UInt8], _ slot: WireSlot, _ type: String) throws(WireFormatIssue) -> UInt64 {
    var cursor = WireCursor(bytes: bytes, position: slot.start, end: slot.end)
    let value = try cursor.readVarint()
    guard cursor.isAtEnd else {
        throw WireFormatIssue(reason: "\(slot.end - cursor.position) bytes after the \(type) varint at byte \(slot.start)")
    }
    return value
}

private func readFixed(_ bytes: [UInt8], _ slot: WireSlot, width: Int, _ type: String) throws(WireFormatIssue) -> UInt64 {
    guard slot.count == width else {
        throw WireFormatIssue(reason: "\(type) needs \(width) bytes, the slot at byte \(slot.start) has \(slot.count)")
    }
    var value: UInt64 = 0
    for index in 0..<width { value |= UInt64(bytes[slot.start + index]) << UInt64(8 * index) }
    return value
}

private func appendFixed(_ value: UInt64, width: Int, to out: inout [UInt8]) {
    for index in 0..<width { out.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * index))) }
}

extension WirePrimitive where Self: FixedWidthInteger & SignedInteger {
    var wireBodyCount: Int { WireVarint.size(WireVarint.zigzag(Int64(self))) }

    func writeWireBody(to out: inout [UInt8]) { WireVarint.append(WireVarint.zigzag(Int64(self)), to: &out) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> Self {
        let wide = WireVarint.unzigzag(try readWholeVarint(bytes, slot, "\(Self.self)"))
        guard let value = Self(exactly: wide) else {
            throw WireFormatIssue(reason: "\(wide) at byte \(slot.start) does not fit in \(Self.self)")
        }
        return value
    }
}

extension WirePrimitive where Self: FixedWidthInteger & UnsignedInteger {
    var wireBodyCount: Int { WireVarint.size(UInt64(self)) }

    func writeWireBody(to out: inout [UInt8]) { WireVarint.append(UInt64(self), to: &out) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> Self {
        let wide = try readWholeVarint(bytes, slot, "\(Self.self)")
        guard let value = Self(exactly: wide) else {
            throw WireFormatIssue(reason: "\(wide) at byte \(slot.start) does not fit in \(Self.self)")
        }
        return value
    }
}

extension Int: WirePrimitive {}
extension Int8: WirePrimitive {}
extension Int16: WirePrimitive {}
extension Int32: WirePrimitive {}
extension Int64: WirePrimitive {}
extension UInt: WirePrimitive {}
extension UInt8: WirePrimitive {}
extension UInt16: WirePrimitive {}
extension UInt32: WirePrimitive {}
extension UInt64: WirePrimitive {}

extension Bool: WirePrimitive {
    var wireBodyCount: Int { 1 }

    func writeWireBody(to out: inout [UInt8]) { out.append(self ? 1 : 0) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> Bool {
        switch try readFixed(bytes, slot, width: 1, "Bool") {
        case 0: return false
        case 1: return true
        case let other: throw WireFormatIssue(reason: "Bool byte \(other) at byte \(slot.start)")
        }
    }
}

extension Double: WirePrimitive {
    var wireBodyCount: Int { 8 }

    func writeWireBody(to out: inout [UInt8]) { appendFixed(bitPattern, width: 8, to: &out) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> Double {
        Double(bitPattern: try readFixed(bytes, slot, width: 8, "Double"))
    }
}

extension Float: WirePrimitive {
    var wireBodyCount: Int { 4 }

    func writeWireBody(to out: inout [UInt8]) { appendFixed(UInt64(bitPattern), width: 4, to: &out) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> Float {
        Float(bitPattern: UInt32(truncatingIfNeeded: try readFixed(bytes, slot, width: 4, "Float")))
    }
}

extension String: WirePrimitive {
    var wireBodyCount: Int { utf8.count }

    func writeWireBody(to out: inout [UInt8]) { out.append(contentsOf: utf8) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> String {
        // Decoding repairs invalid UTF-8, so a faithful copy proves the input was valid; this is
        // several times cheaper than `String(validating:)`, which is not specialized here.
        let value = String(decoding: bytes[slot.start..<slot.end], as: UTF8.self)
        guard WireCursor.bytes(bytes, slot.start, slot.end, equal: value.utf8) else {
            throw WireFormatIssue(reason: "invalid UTF-8 in the string at byte \(slot.start)")
        }
        return value
    }
}

extension Array: WirePrimitive where Element == UInt8 {
    var wireBodyCount: Int { count }

    func writeWireBody(to out: inout [UInt8]) { out.append(contentsOf: self) }

    static func readWireBody(_ bytes: [UInt8], _ slot: WireSlot) throws(WireFormatIssue) -> [UInt8] {
        Array(bytes[slot.start..<slot.end])
    }
}

/// Finds the primitive type behind a generic `T` by metatype identity, which costs a few
/// pointer comparisons where `value as? any WirePrimitive` costs a runtime conformance lookup
/// on every field.
enum WirePrimitives {
    private static let byteArray = ObjectIdentifier([UInt8].self)

    static func type<T>(of _: T.Type) -> (any WirePrimitive.Type)? {
        switch ObjectIdentifier(T.self) {
        case ObjectIdentifier(String.self): String.self
        case ObjectIdentifier(Int.self): Int.self
        case ObjectIdentifier(UInt64.self): UInt64.self
        case ObjectIdentifier(Bool.self): Bool.self
        case byteArray: [UInt8].self
        case ObjectIdentifier(Double.self): Double.self
        case ObjectIdentifier(UInt32.self): UInt32.self
        case ObjectIdentifier(Int64.self): Int64.self
        case ObjectIdentifier(Int32.self): Int32.self
        case ObjectIdentifier(UInt16.self): UInt16.self
        case ObjectIdentifier(UInt8.self): UInt8.self
        case ObjectIdentifier(Int16.self): Int16.self
        case ObjectIdentifier(Int8.self): Int8.self
        case ObjectIdentifier(UInt.self): UInt.self
        case ObjectIdentifier(Float.self): Float.self
        default: nil
        }
    }

    /// `value` seen as `P`; only called when `type(of: T.self)` returned `P`, so the two are
    /// the same type and the bit cast is an identity.
    static func cast<T, P: WirePrimitive>(_ value: T, to _: P.Type) -> P {
        unsafeBitCast(value, to: P.self)
    }

    static func cast<P: WirePrimitive, T>(_ value: P, back _: T.Type) -> T {
        unsafeBitCast(value, to: T.self)
    }
}
