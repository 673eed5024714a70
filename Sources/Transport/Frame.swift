import Raft
import Wire

/// The type byte of a frame. It exists so the decoder can refuse unknown types from the header
/// alone. Values are part of the wire protocol: never renumber (1–5 were the HMAC handshake,
/// replaced by TLS; they are refused like any unknown type).
public enum FrameType: UInt8, Sendable, CaseIterable {
    case raftMessage = 6
    case application = 7
}

/// An opaque message the node shell defines (join requests and responses, worker heartbeats,
/// forwarded writes, API forwarding); Transport only frames and routes it.
///
/// It exists so the node's own protocols ride the same authenticated connection as Raft without
/// Transport depending on their types.
public struct ApplicationFrame: Sendable, Equatable {
    public var kind: UInt8
    public var payload: [UInt8]

    public init(kind: UInt8, payload: [UInt8]) {
        self.kind = kind
        self.payload = payload
    }
}

/// One frame as it travels between nodes: `[u32 little-endian payload length][u8 type][payload]`.
///
/// It exists as the single vocabulary of the cluster port inside TLS: Raft messages and
/// application frames. The length counts the payload only (not the type byte), and is checked
/// against the receiver's limit before any payload is buffered (`FrameDecoder`).
public enum Frame: Sendable, Equatable {
    case raftMessage(Message)
    case application(ApplicationFrame)

    /// Bytes before the payload: length (4) and type (1).
    public static let headerSize = 5

    public var type: FrameType {
        switch self {
        case .raftMessage: .raftMessage
        case .application: .application
        }
    }

    /// The complete frame, header included.
    public func encoded() -> [UInt8] {
        var payload = WireWriter()
        encodePayload(to: &payload)
        return Self.frame(type: type, payload: payload.bytes)
    }

    /// Header plus `payload`; the payload must fit in a u32 length.
    public static func frame(type: FrameType, payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= Int(UInt32.max), "frame payload of \(payload.count) bytes cannot be framed")
        var bytes = [UInt8]()
        bytes.reserveCapacity(headerSize + payload.count)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(type.rawValue)
        bytes.append(contentsOf: payload)
        return bytes
    }

    private func encodePayload(to writer: inout WireWriter) {
        switch self {
        case let .raftMessage(message): message.encode(to: &writer)
        case let .application(frame):
            writer.writeUInt8(frame.kind)
            writer.writeRaw(frame.payload)
        }
    }

    /// Decodes a frame's payload; malformed payloads are errors, never traps.
    public init(_ raw: RawFrame) throws(FrameError) {
        do {
            self = try Self.decode(raw)
        } catch let error as FrameError {
            throw error
        } catch {
            throw FrameError.malformed(raw.type, "\(error)")
        }
    }

    private static func decode(_ raw: RawFrame) throws -> Frame {
        switch raw.type {
        case .raftMessage: return .raftMessage(try Message(wireBytes: raw.payload))
        case .application:
            guard let kind = raw.payload.first else { throw FrameError.malformed(.application, "missing kind byte") }
            return .application(ApplicationFrame(kind: kind, payload: Array(raw.payload.dropFirst())))
        }
    }
}

/// A frame whose header has been checked but whose payload is not yet decoded. It exists to keep
/// framing (`FrameDecoder`, pure and cheap) apart from payload decoding (`Frame.init(_:)`), so
/// each can be tested and fail on its own terms.
public struct RawFrame: Sendable, Equatable {
    public var type: FrameType
    public var payload: [UInt8]

    public init(type: FrameType, payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }
}

/// Why bytes from a peer are not a valid frame. It exists so the log says exactly what the peer
/// sent wrong; any of these closes the connection.
public enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The header announced more payload than this node accepts.
    case oversized(length: UInt32, limit: Int)
    case unknownType(UInt8)
    case malformed(FrameType, String)

    public var description: String {
        switch self {
        case let .oversized(length, limit): "frame of \(length) bytes exceeds the limit of \(limit) bytes"
        case let .unknownType(type): "unknown frame type \(type)"
        case let .malformed(type, detail): "malformed \(type) frame: \(detail)"
        }
    }
}
