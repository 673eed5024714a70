import Foundation
import Wire
import XCTest
@testable import ClusterState

/// A node's reported description (`setNodeDescription`) and the task networking it says it runs
/// (`Engine.Plugins`, as Docker lists plugins): applied as reported, refused for an unknown node,
/// carried through the log codec, shown in Docker's shape, and absent in old encodings (then the
/// node counts as able).
final class NodeDescriptionTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)

    private func description(plugins: [EnginePlugin]?) -> NodeDescription {
        NodeDescription(hostname: "host-m1", platform: .init(architecture: "x86_64", os: "linux"),
                        resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30),
                        engine: .init(engineVersion: "test", plugins: plugins))
    }

    private func initialized() throws -> ClusterState {
        var state = ClusterState()
        let node = Node(id: "m1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: description(plugins: nil), status: NodeStatus(state: .ready, addr: "127.0.0.1:1"),
                        managerStatus: ManagerStatus(raftID: 1, addr: "127.0.0.1:1"))
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        try state.apply(.initialize(cluster: cluster, firstNode: node,
                                    secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: ["1": ClusterMember(nodeID: "m1")])),
                        index: 1).get()
        return state
    }

    func testTheReportedDescriptionReplacesTheOldOneAndSaysWhetherTheNodeRunsTaskNetworking() throws {
        var state = try initialized()
        XCTAssertTrue(state.nodes["m1"]!.runsTaskNetworking, "a node that never reported counts as able")
        let later = Timestamp(millisecondsSinceEpoch: t0.millisecondsSinceEpoch + 5_000)
        try state.apply(.setNodeDescription(id: "m1", description: description(plugins: []), at: later), index: 2).get()
        XCTAssertEqual(state.nodes["m1"]!.description.engine.plugins, [])
        XCTAssertFalse(state.nodes["m1"]!.runsTaskNetworking)
        XCTAssertEqual(state.nodes["m1"]!.version, ObjectVersion(index: 2))
        XCTAssertEqual(state.nodes["m1"]!.updatedAt, later)
        try state.apply(.setNodeDescription(id: "m1", description: description(plugins: [.overlayNetwork]), at: later), index: 3).get()
        XCTAssertTrue(state.nodes["m1"]!.runsTaskNetworking)
        XCTAssertFalse(description(plugins: [EnginePlugin(type: "Volume", name: "local")]).runsTaskNetworking)

        let unknown = state.apply(.setNodeDescription(id: "nope", description: description(plugins: []), at: later), index: 4)
        XCTAssertEqual(unknown.failureValue, .notFound(kind: "node", id: "nope"))
    }

    func testTheCommandRoundTripsAndPluginsShowInDockersShape() throws {
        let command = ClusterCommand.setNodeDescription(id: "m1", description: description(plugins: [.overlayNetwork]), at: t0)
        XCTAssertEqual(try CommandCodec.decode(CommandCodec.encode(command)), command)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(description(plugins: [.overlayNetwork]))) as! [String: Any]
        let plugins = (json["Engine"] as? [String: Any])?["Plugins"] as? [[String: String]]
        XCTAssertEqual(plugins, [["Type": "Network", "Name": "overlay"]])
    }

    /// The engine as nodes wrote it before `Plugins` existed.
    private struct EngineBeforePlugins: Codable {
        var engineVersion: String
        enum CodingKeys: String, CodingKey { case engineVersion = "EngineVersion" }
    }

    func testAnEngineWrittenBeforePluginsDecodesWithoutThemAndCountsAsAble() throws {
        let old = try WireEncoder().encode(EngineBeforePlugins(engineVersion: "swarmctl"))
        let engine = try WireDecoder().decode(NodeDescription.Engine.self, from: old)
        XCTAssertEqual(engine, NodeDescription.Engine(engineVersion: "swarmctl", plugins: nil))
        var described = description(plugins: nil)
        described.engine = engine
        XCTAssertTrue(described.runsTaskNetworking)
    }
}
