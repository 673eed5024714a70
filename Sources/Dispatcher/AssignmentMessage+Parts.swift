import ClusterState

// Splitting an assignment message whose secrets and configs would not fit one transport frame
// (16 MiB; a node's tasks may reference many payloads of up to 500 KiB each) into parts that do.
extension AssignmentMessage {
    /// Payload bytes per part the node shell sends: with base64 (4/3) and the tasks of a full set
    /// on the last part, each part stays well under the 16 MiB frame limit.
    public static let defaultMaxPayloadBytesPerPart = 4 << 20

    /// Bytes of payload data this message carries.
    public var payloadBytes: Int { payloads.reduce(0) { $0 + $1.data.count } }

    /// This message as parts of at most `maxPayloadBytes` of payload data each (a payload larger
    /// than that alone in its part), in order: payload-only parts first, the last one with the
    /// tasks, removals and forgets and the remaining payloads. `[self]` when it fits one part.
    /// `AssignmentAssembler` puts the parts back together, in whatever order they arrive.
    public func split(maxPayloadBytes: Int) -> [AssignmentMessage] {
        precondition(parts == 1, "only a whole assignment message is split")
        precondition(maxPayloadBytes > 0, "the payload budget of a part must be positive")
        guard payloadBytes > maxPayloadBytes else { return [self] }
        var chunks: [[TaskPayload]] = [[]]
        var used = 0
        for payload in payloads {
            if used + payload.data.count > maxPayloadBytes && !chunks[chunks.count - 1].isEmpty {
                chunks.append([])
                used = 0
            }
            chunks[chunks.count - 1].append(payload)
            used += payload.data.count
        }
        let count = UInt32(chunks.count)
        return chunks.enumerated().map { index, chunk in
            let last = index == chunks.count - 1
            var part = AssignmentMessage(kind: kind, session: session, version: version, base: base, tasks: last ? tasks : [],
                                         removed: last ? removed : [], payloads: chunk, forget: last ? forget : [])
            part.part = UInt32(index + 1)
            part.parts = count
            return part
        }
    }
}
