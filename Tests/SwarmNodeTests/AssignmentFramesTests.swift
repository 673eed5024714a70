import ClusterState
import Dispatcher
@testable import SwarmNode
import Transport
import XCTest

/// Assignment frames: 40 secrets of 500 KiB for one node exceed the 16 MiB frame limit as one
/// message; as parts, every frame fits, and each decodes back to the part that was sent.
final class AssignmentFramesTests: XCTestCase {
    /// `count` bytes that differ per `seed`, written in place (`map` over 20 MiB took seconds in debug builds).
    private static func bytes(count: Int, seed: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var value = UInt8(truncatingIfNeeded: seed)
            for offset in 0..<count {
                buffer[offset] = value
                value = value &+ 31
            }
            initialized = count
        }
    }

    func testFortySecretsOf500KiBFitTheFrameLimitOnlyAsParts() throws {
        let t0 = Timestamp(millisecondsSinceEpoch: 0)
        let payloads = (0..<40).map { index in
            TaskPayload(kind: .secret, id: "secret\(index)", data: Self.bytes(count: PayloadLimits.maxDataBytes - 1, seed: index))
        }
        var container = ContainerSpec(image: "busybox")
        container.secrets = payloads.map { SecretReference(file: PayloadFile(name: $0.id), secretID: $0.id, secretName: $0.id) }
        let task = SwarmTask(id: "t1", version: ObjectVersion(index: 3), createdAt: t0, serviceID: "svc", slot: 1, nodeID: "n1",
                             spec: TaskTemplate(containerSpec: container), status: TaskStatus(timestamp: t0, state: .assigned, message: "assigned"))
        let message = AssignmentMessage(kind: .full, session: 1 << 32 | 1, version: 1, base: 0, tasks: [task], payloads: payloads)
        let limit = FrameDecoder.defaultMaxPayloadSize

        let whole = try XCTUnwrap(ApplicationFrame(assignments: message))
        XCTAssertGreaterThan(whole.payload.count, limit, "one frame cannot carry them")
        let parts = message.split(maxPayloadBytes: AssignmentMessage.defaultMaxPayloadBytesPerPart)
        XCTAssertGreaterThan(parts.count, 1)
        var assembler = AssignmentAssembler()
        var rebuilt: AssignmentMessage?
        for part in parts {
            let frame = try XCTUnwrap(ApplicationFrame(assignments: part))
            XCTAssertLessThanOrEqual(frame.payload.count + 1, limit, "part \(part.part) of \(part.parts) fits a frame")
            let decoded = try XCTUnwrap(frame.assignmentMessage)
            XCTAssertEqual(decoded, part)
            rebuilt = assembler.add(decoded)
        }
        XCTAssertEqual(rebuilt, message)
        XCTAssertNil(ApplicationFrame(kind: NodeFrameKind.assignments.rawValue, payload: Array("{}".utf8)).assignmentMessage,
                     "a payload that is not a Wire assignment message is refused, not guessed")
    }
}
