import Dispatcher
import Transport
import Wire

// Assignment messages travel in the binary Wire form, unlike the other node frames (JSON): they
// carry the bytes of secrets and configs, which JSON writes as lists of numbers (about 3.6 bytes
// per byte, and slow to decode). A message too large for one frame is sent as parts
// (`AssignmentMessage.split`) and put together by the node's `AssignmentAssembler`.
extension ApplicationFrame {
    /// `message` as an assignments frame; nil if it cannot be encoded (a bug, logged by the caller).
    init?(assignments message: AssignmentMessage) {
        guard let payload = try? WireEncoder().encode(message) else { return nil }
        self.init(kind: NodeFrameKind.assignments.rawValue, payload: payload)
    }

    /// The assignment message of an assignments frame; nil if the payload is not one.
    var assignmentMessage: AssignmentMessage? {
        try? WireDecoder().decode(AssignmentMessage.self, from: payload)
    }
}
