import ClusterState
import Foundation
import Transport
import Wire

/// The binary payloads of forwarded writes between managers (frame kinds `forwardCommand` and
/// `forwardResult`). A follower already holds the command in its log encoding (it checks the
/// entry size with it), so it sends those bytes and the leader proposes them as they are: no
/// JSON on the way, no decode and re-encode on the leader. Failures travel as a typed
/// `RequestFailure` (binary `Codable`), so the forwarder gets back exactly the failure the
/// leader saw instead of matching on its text.
///
/// Layout: one format byte (`binaryFormat`), the request id (8 bytes, little-endian), then the
/// command's log bytes, or the `WireEncoder` form of `ForwardOutcome`. A payload starting with
/// `{` is the JSON form older nodes send; it is still accepted.
enum ForwardFrames {
    static let binaryFormat: UInt8 = 0xB1

    static func command(requestID: UInt64, encoded: [UInt8]) -> ApplicationFrame {
        var payload = [UInt8]()
        payload.reserveCapacity(9 + encoded.count)
        payload.append(binaryFormat)
        appendUInt64(requestID, to: &payload)
        payload.append(contentsOf: encoded)
        return ApplicationFrame(kind: NodeFrameKind.forwardCommand.rawValue, payload: payload)
    }

    /// The request id and the command's log bytes; nil if the payload is neither form.
    static func decodeCommand(_ payload: [UInt8]) -> (requestID: UInt64, encoded: [UInt8])? {
        if payload.first == UInt8(ascii: "{") {
            guard let legacy = try? JSONDecoder().decode(ForwardCommand.self, from: Data(payload)) else { return nil }
            return (legacy.requestID, CommandCodec.encode(legacy.command))
        }
        guard payload.count > 9, payload[0] == binaryFormat else { return nil }
        return (readUInt64(payload, at: 1), Array(payload[9...]))
    }

    /// The encoded outcome of a write that succeeded (most answers): encoded once.
    private static let successOutcome: [UInt8] = (try? WireEncoder().encode(ForwardOutcome(failure: nil))) ?? []

    static func result(requestID: UInt64, failure: RequestFailure?) -> ApplicationFrame {
        var payload = [binaryFormat]
        appendUInt64(requestID, to: &payload)
        // A value of these plain types always encodes; an empty tail would read as success.
        payload.append(contentsOf: failure == nil ? successOutcome : (try? WireEncoder().encode(ForwardOutcome(failure: failure))) ?? [])
        return ApplicationFrame(kind: NodeFrameKind.forwardResult.rawValue, payload: payload)
    }

    static func decodeResult(_ payload: [UInt8]) -> (requestID: UInt64, failure: RequestFailure?)? {
        if payload.first == UInt8(ascii: "{") {
            guard let legacy = try? JSONDecoder().decode(ForwardResult.self, from: Data(payload)) else { return nil }
            return (legacy.requestID, legacy.failure?.requestFailure)
        }
        guard payload.count > 9, payload[0] == binaryFormat else { return nil }
        if payload[9...].elementsEqual(successOutcome) { return (readUInt64(payload, at: 1), nil) }
        guard let outcome = try? WireDecoder().decode(ForwardOutcome.self, from: Array(payload[9...])) else { return nil }
        return (readUInt64(payload, at: 1), outcome.failure)
    }

    private static func appendUInt64(_ value: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    private static func readUInt64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
}

/// What the leader answers a forwarded write: nil failure means committed and applied.
struct ForwardOutcome: Codable, Equatable {
    var failure: RequestFailure?
}
