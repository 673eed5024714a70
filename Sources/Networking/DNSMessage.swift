/// A DNS message (RFC 1035 §4) as values, with a parser that refuses malformed input with an error
/// and never traps, and a serializer that writes names uncompressed.
///
/// It exists because the node answers service names itself (UDP and TCP on 127.0.0.11:53 in every
/// task namespace) and bytes from a task are untrusted: every length, pointer and count is checked.
public struct DNSMessage: Equatable, Sendable {
    public var id: UInt16
    public var flags: DNSFlags
    public var questions: [DNSQuestion]
    public var answers: [DNSRecord]
    public var authorities: [DNSRecord]
    public var additionals: [DNSRecord]

    public init(id: UInt16, flags: DNSFlags, questions: [DNSQuestion] = [], answers: [DNSRecord] = [],
                authorities: [DNSRecord] = [], additionals: [DNSRecord] = []) {
        self.id = id
        self.flags = flags
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
    }

    /// Parses one message; throws `DNSError` for anything malformed or truncated.
    public static func parse(_ bytes: [UInt8]) throws(DNSError) -> DNSMessage {
        var reader = DNSReader(bytes)
        let id = try reader.u16()
        let flags = DNSFlags(rawValue: try reader.u16())
        let counts = [try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16()]
        // Each question takes at least 5 bytes and each record 11: bound counts by what is left.
        guard Int(counts[0]) * 5 <= reader.remaining else { throw DNSError("question count \(counts[0]) exceeds the message") }
        var message = DNSMessage(id: id, flags: flags)
        for _ in 0..<counts[0] {
            message.questions.append(DNSQuestion(name: try reader.name(), type: try reader.u16(), recordClass: try reader.u16()))
        }
        for (index, count) in counts.dropFirst().enumerated() {
            guard Int(count) * 11 <= reader.remaining else { throw DNSError("record count \(count) exceeds the message") }
            var records: [DNSRecord] = []
            for _ in 0..<count { records.append(try reader.record()) }
            switch index {
            case 0: message.answers = records
            case 1: message.authorities = records
            default: message.additionals = records
            }
        }
        return message
    }

    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        out.appendU16(id)
        out.appendU16(flags.rawValue)
        for count in [questions.count, answers.count, authorities.count, additionals.count] { out.appendU16(UInt16(count)) }
        for question in questions {
            out.appendName(question.name)
            out.appendU16(question.type)
            out.appendU16(question.recordClass)
        }
        for record in answers + authorities + additionals {
            out.appendName(record.name)
            out.appendU16(record.type)
            out.appendU16(record.recordClass)
            out.appendU16(UInt16(record.ttl >> 16))
            out.appendU16(UInt16(record.ttl & 0xffff))
            out.appendU16(UInt16(record.data.count))
            out += record.data
        }
        return out
    }

    /// The largest UDP answer the client accepts: its EDNS0 size (at most 4096), else 512.
    public var udpPayloadLimit: Int {
        guard let option = additionals.first(where: { $0.type == DNSRecordType.opt }) else { return 512 }
        return min(max(Int(option.recordClass), 512), 4096)
    }
}

/// The second 16-bit word of the header.
public struct DNSFlags: Equatable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var isResponse: Bool { get { rawValue & 0x8000 != 0 } set { set(0x8000, newValue) } }
    public var opcode: UInt16 { (rawValue >> 11) & 0xf }
    public var authoritative: Bool { get { rawValue & 0x0400 != 0 } set { set(0x0400, newValue) } }
    public var truncated: Bool { get { rawValue & 0x0200 != 0 } set { set(0x0200, newValue) } }
    public var recursionDesired: Bool { get { rawValue & 0x0100 != 0 } set { set(0x0100, newValue) } }
    public var recursionAvailable: Bool { get { rawValue & 0x0080 != 0 } set { set(0x0080, newValue) } }
    public var responseCode: DNSResponseCode {
        get { DNSResponseCode(rawValue: rawValue & 0xf) ?? .serverFailure }
        set { rawValue = rawValue & ~0xf | newValue.rawValue }
    }

    private mutating func set(_ bit: UInt16, _ on: Bool) { rawValue = on ? rawValue | bit : rawValue & ~bit }
}

public enum DNSResponseCode: UInt16, Sendable {
    case noError = 0, formatError = 1, serverFailure = 2, nameError = 3, notImplemented = 4, refused = 5
}

public enum DNSRecordType {
    public static let a: UInt16 = 1
    public static let aaaa: UInt16 = 28
    public static let opt: UInt16 = 41
    public static let any: UInt16 = 255
}

public struct DNSQuestion: Equatable, Sendable {
    /// Labels as received (case kept); compare with `DNSName.key`.
    public var name: [String]
    public var type: UInt16
    public var recordClass: UInt16

    public init(name: [String], type: UInt16, recordClass: UInt16 = 1) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}

public struct DNSRecord: Equatable, Sendable {
    public var name: [String]
    public var type: UInt16
    public var recordClass: UInt16
    public var ttl: UInt32
    /// Raw record data (an A record: the 4 address bytes).
    public var data: [UInt8]

    public init(name: [String], type: UInt16, recordClass: UInt16 = 1, ttl: UInt32, data: [UInt8]) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }

    public static func a(_ name: [String], _ address: IPv4Address, ttl: UInt32) -> DNSRecord {
        DNSRecord(name: name, type: DNSRecordType.a, ttl: ttl, data: address.bytes)
    }
}

/// Malformed DNS input, with what was wrong.
public struct DNSError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Names as lookup keys: lowercased labels joined with dots, no trailing dot.
public enum DNSName {
    public static func key(_ labels: [String]) -> String { labels.joined(separator: ".").lowercased() }
    public static func labels(_ text: String) -> [String] { text.split(separator: ".").map(String.init) }
}

struct DNSReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(DNSError) -> UInt8 {
        guard offset < bytes.count else { throw DNSError("message truncated at byte \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(DNSError) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }

    mutating func take(_ count: Int) throws(DNSError) -> [UInt8] {
        guard count <= remaining else { throw DNSError("field of \(count) bytes runs past the message end") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A name with compression pointers; pointers must go backwards (so no loops) and the whole
    /// name stays within 255 bytes.
    mutating func name() throws(DNSError) -> [String] {
        var labels: [String] = []
        var position = offset
        var jumped = false
        var length = 0
        while true {
            guard position < bytes.count else { throw DNSError("name runs past the message end") }
            let byte = bytes[position]
            if byte & 0xc0 == 0xc0 {
                guard position + 1 < bytes.count else { throw DNSError("compression pointer truncated") }
                let target = Int(byte & 0x3f) << 8 | Int(bytes[position + 1])
                guard target < position else { throw DNSError("compression pointer does not point backwards") }
                if !jumped { offset = position + 2 }
                jumped = true
                position = target
                continue
            }
            guard byte & 0xc0 == 0 else { throw DNSError("reserved label type \(byte >> 6)") }
            if byte == 0 {
                if !jumped { offset = position + 1 }
                return labels
            }
            let end = position + 1 + Int(byte)
            guard end <= bytes.count else { throw DNSError("label runs past the message end") }
            length += Int(byte) + 1
            guard length <= 255 else { throw DNSError("name longer than 255 bytes") }
            guard bytes[(position + 1)..<end].allSatisfy({ $0 < 0x80 }) else { throw DNSError("name has a non-ASCII byte") }
            labels.append(String(decoding: bytes[(position + 1)..<end], as: UTF8.self))
            position = end
        }
    }

    mutating func record() throws(DNSError) -> DNSRecord {
        let name = try name()
        let type = try u16(), recordClass = try u16()
        let ttl = UInt32(try u16()) << 16 | UInt32(try u16())
        let count = Int(try u16())
        return DNSRecord(name: name, type: type, recordClass: recordClass, ttl: ttl, data: try take(count))
    }
}

extension Array where Element == UInt8 {
    mutating func appendU16(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xff))
    }

    /// Labels longer than 63 bytes are cut (only names we were given can reach here, parsed ones
    /// are at most 63 by construction).
    mutating func appendName(_ labels: [String]) {
        for label in labels {
            let bytes = Array(label.utf8.prefix(63))
            append(UInt8(bytes.count))
            self += bytes
        }
        append(0)
    }
}
