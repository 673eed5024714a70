import XCTest
@testable import ClusterState

/// Secrets and configs in the replicated state: creation rules, references from services,
/// removal refused while used, revisions rolling the services that use them.
final class PayloadStateTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
    private let t1 = Timestamp(millisecondsSinceEpoch: 1_764_000_060_000)

    private func initialized() -> ClusterState {
        var state = ClusterState()
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "h1", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1_000_000_000, memoryBytes: 1 << 30),
                                                     engine: .init(engineVersion: "test")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1:4242"), managerStatus: ManagerStatus(raftID: 1, addr: "192.0.2.1:4242"))
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node,
                                                     secrets: ClusterSecrets(workerSecret: "w", managerSecret: "m", members: [:])),
                                         index: 1).get())
        return state
    }

    @discardableResult
    private func apply(_ state: inout ClusterState, _ command: ClusterCommand) -> Result<Void, ClusterError> {
        state.apply(command, index: state.appliedIndex + 1)
    }

    private func secret(_ id: String, _ name: String, _ data: String = "hunter2") -> PayloadObject {
        PayloadObject(id: id, createdAt: t0, spec: PayloadSpec(name: name, labels: ["team": "db"], data: Array(data.utf8)))
    }

    private func service(_ id: String, _ name: String, secrets: [SecretReference] = [], configs: [ConfigReference] = []) -> Service {
        var container = ContainerSpec(image: "busybox", args: ["cat", "/run/secrets/db_pw"])
        container.secrets = secrets
        container.configs = configs
        return Service(id: id, createdAt: t0, spec: ServiceSpec(name: name, taskTemplate: TaskTemplate(containerSpec: container)))
    }

    private func reference(_ id: String, _ name: String, target: String? = nil) -> SecretReference {
        SecretReference(file: PayloadFile(name: target ?? name), secretID: id, secretName: name)
    }

    func testCreateKeepsTheDataAndRefusesADuplicateNameBadNamesAndBadSizes() throws {
        var state = initialized()
        XCTAssertNoThrow(try apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw"))).get())
        let stored = try XCTUnwrap(state.secretObjects["s1"])
        XCTAssertEqual(stored.spec.data, Array("hunter2".utf8))
        XCTAssertEqual(stored.revision, 1)
        XCTAssertEqual(stored.version, ObjectVersion(index: 2))
        guard case .failure(.conflict) = apply(&state, .createPayload(kind: .secret, object: secret("s2", "db_pw"))) else {
            return XCTFail("a second secret named db_pw was accepted")
        }
        XCTAssertNoThrow(try apply(&state, .createPayload(kind: .config, object: secret("c1", "db_pw"))).get(),
                         "configs have names of their own")
        for name in ["", "-x", "a/b", String(repeating: "a", count: 65)] {
            guard case .failure(.invalid) = apply(&state, .createPayload(kind: .secret, object: secret("x", name))) else {
                return XCTFail("name \(name) was accepted")
            }
        }
        var empty = secret("e", "empty")
        empty.spec.data = []
        var huge = secret("h", "huge")
        huge.spec.data = [UInt8](repeating: 1, count: PayloadLimits.maxDataBytes)
        for object in [empty, huge] {
            guard case let .failure(.invalid(message)) = apply(&state, .createPayload(kind: .secret, object: object)) else {
                return XCTFail("\(object.spec.data.count) bytes were accepted")
            }
            XCTAssertTrue(message.contains("500 KiB"), message)
        }
        XCTAssertEqual(Set(state.secretObjects.keys), ["s1"])
    }

    func testAServiceMayReferenceOnlyExistingSecretsUnderTheirNamesWithDistinctTargets() throws {
        var state = initialized()
        apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw")))
        apply(&state, .createPayload(kind: .config, object: secret("c1", "app.conf")))
        guard case let .failure(.invalid(message)) = apply(&state, .createService(service: service("a", "a", secrets: [reference("nope", "ghost")]))) else {
            return XCTFail("an unknown secret was accepted")
        }
        XCTAssertTrue(message.contains("secret not found: ghost"), message)
        guard case .failure(.invalid) = apply(&state, .createService(service: service("a", "a", secrets: [reference("s1", "other")]))) else {
            return XCTFail("a reference whose name does not match the id was accepted")
        }
        let clash = service("a", "a", secrets: [reference("s1", "db_pw", target: "x")],
                            configs: [ConfigReference(file: PayloadFile(name: "/run/secrets/x"), configID: "c1", configName: "app.conf")])
        guard case let .failure(.invalid(conflict)) = apply(&state, .createService(service: clash)) else {
            return XCTFail("two references with one target were accepted")
        }
        XCTAssertTrue(conflict.contains("conflicting target"), conflict)
        var badOwner = reference("s1", "db_pw")
        badOwner.file?.uid = "root"
        guard case .failure(.invalid) = apply(&state, .createService(service: service("a", "a", secrets: [badOwner]))) else {
            return XCTFail("a non-numeric UID was accepted")
        }
        XCTAssertNoThrow(try apply(&state, .createService(service: service("a", "a", secrets: [reference("s1", "db_pw")]))).get())
        XCTAssertEqual(state.services["a"]?.spec.taskTemplate.containerSpec.secrets?.map(\.secretID), ["s1"])
    }

    func testRemoveIsRefusedWhileAServiceUsesTheSecretAndNamesTheServices() throws {
        var state = initialized()
        apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw")))
        apply(&state, .createService(service: service("a", "api", secrets: [reference("s1", "db_pw")])))
        apply(&state, .createService(service: service("b", "worker", secrets: [reference("s1", "db_pw")])))
        guard case let .failure(.invalid(message)) = apply(&state, .removePayload(kind: .secret, id: "s1", at: t1)) else {
            return XCTFail("a secret in use was removed")
        }
        XCTAssertTrue(message.contains("in use by the following services: api, worker"), message)
        XCTAssertNotNil(state.secretObjects["s1"])
        apply(&state, .removeService(id: "a", at: t1))
        apply(&state, .removeService(id: "b", at: t1))
        XCTAssertNoThrow(try apply(&state, .removePayload(kind: .secret, id: "s1", at: t1)).get())
        XCTAssertTrue(state.secretObjects.isEmpty)
    }

    func testLabelsChangeUnderTheVersionAndTheDataNever() throws {
        var state = initialized()
        apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw")))
        guard case .failure(.staleVersion) = apply(&state, .updatePayloadLabels(kind: .secret, id: "s1", version: ObjectVersion(index: 1),
                                                                                 labels: [:], at: t1)) else {
            return XCTFail("a stale version was accepted")
        }
        XCTAssertNoThrow(try apply(&state, .updatePayloadLabels(kind: .secret, id: "s1", version: ObjectVersion(index: 2),
                                                                labels: ["a": "b"], at: t1)).get())
        XCTAssertEqual(state.secretObjects["s1"]?.spec.labels, ["a": "b"])
        XCTAssertEqual(state.secretObjects["s1"]?.spec.data, Array("hunter2".utf8))
    }

    /// `swarmctl secret update`: revision 2 becomes what the name means, the services using the
    /// name move to it in one step (old spec kept for rollback), and revision 1 stays while
    /// something references it; a third revision drops what nothing references any more.
    func testARevisionRollsEveryServiceUsingTheNameAndKeepsOnlyReferencedRevisions() throws {
        var state = initialized()
        apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw", "old")))
        apply(&state, .createPayload(kind: .secret, object: secret("o1", "other")))
        apply(&state, .createService(service: service("a", "api", secrets: [reference("s1", "db_pw"), reference("o1", "other")])))
        apply(&state, .createService(service: service("b", "plain")))
        let before = state.services["b"]
        let next = PayloadObject(id: "s2", createdAt: t1, spec: PayloadSpec(name: "ignored", data: Array("new".utf8)))
        XCTAssertNoThrow(try apply(&state, .reviseSecret(id: "s1", revision: next, at: t1)).get())

        let revision = try XCTUnwrap(state.secretObjects["s2"])
        XCTAssertEqual(revision.spec.name, "db_pw")
        XCTAssertEqual(revision.revision, 2)
        XCTAssertEqual(revision.spec.labels, ["team": "db"], "labels carry over when none are given")
        XCTAssertEqual(state.secretObjects["s1"]?.supersededBy, "s2")
        XCTAssertEqual(state.payload(.secret, named: "db_pw")?.id, "s2")
        XCTAssertEqual(state.currentPayloads(.secret).map(\.id), ["s2", "o1"])
        let rolled = try XCTUnwrap(state.services["a"])
        XCTAssertEqual(rolled.spec.taskTemplate.containerSpec.secrets?.map(\.secretID), ["s2", "o1"])
        XCTAssertEqual(rolled.previousSpec?.taskTemplate.containerSpec.secrets?.map(\.secretID), ["s1", "o1"])
        XCTAssertEqual(rolled.updateStatus?.state, .updating)
        XCTAssertEqual(state.services["b"], before, "a service without the secret is untouched")

        guard case .failure(.conflict) = apply(&state, .reviseSecret(id: "s1", revision: secret("s9", "x"), at: t1)) else {
            return XCTFail("a replaced revision was revised again")
        }
        apply(&state, .updateService(id: "a", version: rolled.version, spec: rolled.spec, at: t1))  // PreviousSpec no longer has s1
        XCTAssertNoThrow(try apply(&state, .reviseSecret(id: "s2", revision: secret("s3", "x", "newer"), at: t1)).get())
        XCTAssertNil(state.secretObjects["s1"], "nothing references revision 1 any more")
        XCTAssertEqual(state.secretObjects["s2"]?.supersededBy, "s3", "revision 2 is the services' previous spec")
        XCTAssertEqual(state.services["a"]?.spec.taskTemplate.containerSpec.secrets?.first?.secretID, "s3")
    }

    func testTasksNeedOnlyTheRevisionsTheyReference() throws {
        var state = initialized()
        apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw", "pw")))
        apply(&state, .createPayload(kind: .secret, object: secret("s2", "unused")))
        apply(&state, .createPayload(kind: .config, object: secret("c1", "conf", "cfg")))
        let spec = service("a", "api", secrets: [reference("s1", "db_pw")],
                           configs: [ConfigReference(file: PayloadFile(name: "/etc/app.conf"), configID: "c1", configName: "conf")]).spec
        let task = SwarmTask(id: "t1", createdAt: t0, serviceID: "a", slot: 1, nodeID: "n1", spec: spec.taskTemplate,
                             status: TaskStatus(timestamp: t0, state: .assigned, message: ""))
        let payloads = state.payloads(neededBy: [task])
        XCTAssertEqual(payloads.map(\.key), [PayloadKey(kind: .config, id: "c1"), PayloadKey(kind: .secret, id: "s1")])
        XCTAssertEqual(payloads.map(\.data), [Array("cfg".utf8), Array("pw".utf8)])
        XCTAssertFalse("\(payloads)".contains("pw\""), "a payload's description hides its data")
        XCTAssertEqual(spec.taskTemplate.containerSpec.payloadReferences.map(\.target), ["/run/secrets/db_pw", "/etc/app.conf"])
    }

    func testSecretsSurviveASnapshotRoundTrip() throws {
        var state = initialized()
        apply(&state, .createPayload(kind: .secret, object: secret("s1", "db_pw")))
        apply(&state, .createPayload(kind: .config, object: secret("c1", "conf")))
        let decoded = try CommandCodec.decodeState(CommandCodec.encodeState(state))
        XCTAssertEqual(decoded, state)
        XCTAssertEqual(decoded.secretObjects["s1"]?.spec.data, Array("hunter2".utf8))
    }
}
