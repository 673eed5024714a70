import Foundation
import XCTest
@testable import ClusterState

final class ServiceStateTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
    private let t1 = Timestamp(millisecondsSinceEpoch: 1_764_000_060_000)

    private func node(_ id: String) -> Node {
        Node(id: id, version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
             description: NodeDescription(hostname: "host-\(id)", platform: .init(architecture: "x86_64", os: "linux"),
                                          resources: .init(nanoCPUs: 2_000_000_000, memoryBytes: 1 << 30),
                                          engine: .init(engineVersion: "test")),
             status: NodeStatus(state: .ready, addr: "192.0.2.1:4242"),
             managerStatus: ManagerStatus(raftID: 1, addr: "192.0.2.1:4242"))
    }

    private func initialized() -> ClusterState {
        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let secrets = ClusterSecrets(workerSecret: "ws", managerSecret: "ms",
                                     members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node("n1"), secrets: secrets), index: 1).get())
        return state
    }

    private func spec(_ name: String, image: String = "busybox:1", replicas: UInt64 = 3) -> ServiceSpec {
        ServiceSpec(name: name,
                    taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: image, args: ["sleep", "3600"]),
                                               restartPolicy: RestartPolicy(condition: .any, delay: 5_000_000_000)),
                    mode: .replicated(replicas: replicas), endpointSpec: EndpointSpec(mode: "vip"))
    }

    private func withService(_ id: String = "s1", name: String = "web") -> ClusterState {
        var state = initialized()
        let service = Service(id: id, createdAt: t0, spec: spec(name))
        XCTAssertNoThrow(try state.apply(.createService(service: service), index: state.appliedIndex + 1).get())
        return state
    }

    private func task(_ id: String, service: String = "s1", slot: UInt64, node: String? = nil) -> SwarmTask {
        SwarmTask(id: id, createdAt: t0, serviceID: service, slot: slot, nodeID: node, spec: spec("web").taskTemplate,
                  status: TaskStatus(timestamp: t0, state: .new, message: "created"))
    }

    @discardableResult
    private func apply(_ state: inout ClusterState, _ command: ClusterCommand) -> Result<Void, ClusterError> {
        state.apply(command, index: state.appliedIndex + 1)
    }

    func testCreateAndInspectService() throws {
        let state = withService()
        let service = try XCTUnwrap(state.services["s1"])
        XCTAssertEqual(service.version, ObjectVersion(index: 2))
        XCTAssertEqual(service.createdAt, t0)
        XCTAssertEqual(service.updatedAt, t0)
        XCTAssertEqual(service.spec.mode, .replicated(replicas: 3))
        XCTAssertNil(service.previousSpec)
        XCTAssertNil(service.updateStatus)
        XCTAssertEqual(try state.findService("web").get().id, "s1")
        XCTAssertEqual(try state.findService("s").get().id, "s1")
        XCTAssertEqual(state.findService("nope").failureValue, .notFound(kind: "service", id: "nope"))
    }

    func testServiceNeedsAnInitializedCluster() {
        var state = ClusterState()
        XCTAssertEqual(apply(&state, .createService(service: Service(id: "s1", createdAt: t0, spec: spec("web")))).failureValue,
                       .notInitialized)
    }

    func testServiceNamesAreUnique() {
        var state = withService()
        let duplicate = Service(id: "s2", createdAt: t0, spec: spec("web"))
        XCTAssertEqual(apply(&state, .createService(service: duplicate)).failureValue,
                       .conflict("name conflicts with an existing object"))
        XCTAssertNil(state.services["s2"])
        XCTAssertNoThrow(try apply(&state, .createService(service: Service(id: "s2", createdAt: t0, spec: spec("api")))).get())
        let renamed = apply(&state, .updateService(id: "s2", version: state.services["s2"]!.version, spec: spec("web"), at: t1))
        XCTAssertEqual(renamed.failureValue, .conflict("name conflicts with an existing object"))
        XCTAssertEqual(state.services["s2"]?.spec.name, "api")
    }

    func testStaleServiceVersionIsRejectedAndChangesNothing() {
        var state = withService()
        let before = state.services["s1"]!
        let stale = apply(&state, .updateService(id: "s1", version: ObjectVersion(index: 1), spec: spec("web", replicas: 5), at: t1))
        XCTAssertEqual(stale.failureValue, .staleVersion(kind: "service", id: "s1", expected: 1, actual: 2))
        XCTAssertEqual(state.services["s1"], before)
        XCTAssertEqual(apply(&state, .rollbackService(id: "s1", version: ObjectVersion(index: 1), at: t1)).failureValue,
                       .staleVersion(kind: "service", id: "s1", expected: 1, actual: 2))
        XCTAssertEqual(apply(&state, .updateService(id: "zz", version: before.version, spec: spec("web"), at: t1)).failureValue,
                       .notFound(kind: "service", id: "zz"))
    }

    func testUpdateKeepsPreviousSpecAndRollbackRestoresIt() throws {
        var state = withService()
        let original = state.services["s1"]!.spec

        // Scaling changes no task template: no rolling update.
        try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version,
                                         spec: spec("web", replicas: 5), at: t1)).get()
        XCTAssertEqual(state.services["s1"]?.previousSpec, original)
        XCTAssertNil(state.services["s1"]?.updateStatus)

        let scaled = state.services["s1"]!.spec
        try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version,
                                         spec: spec("web", image: "busybox:2", replicas: 5), at: t1)).get()
        var service = state.services["s1"]!
        XCTAssertEqual(service.version, ObjectVersion(index: state.appliedIndex))
        XCTAssertEqual(service.updatedAt, t1)
        XCTAssertEqual(service.previousSpec, scaled)
        XCTAssertEqual(service.updateStatus, UpdateStatus(state: .updating, startedAt: t1, message: "update in progress"))

        try apply(&state, .rollbackService(id: "s1", version: service.version, at: t1)).get()
        service = state.services["s1"]!
        XCTAssertEqual(service.spec, scaled)
        XCTAssertEqual(service.previousSpec?.taskTemplate.containerSpec.image, "busybox:2")
        XCTAssertEqual(service.updateStatus?.state, .rollbackStarted)
        XCTAssertEqual(service.updateStatus?.message, "manually requested rollback")
    }

    func testRollbackWithoutPreviousSpecIsRefused() {
        var state = withService()
        let result = apply(&state, .rollbackService(id: "s1", version: state.services["s1"]!.version, at: t1))
        XCTAssertEqual(result.failureValue, .invalid("service s1 does not have a previous spec"))
    }

    func testTaskStatesOnlyMoveForward() throws {
        var state = withService()
        try apply(&state, .createTasks(tasks: [task("t1", slot: 1)])).get()
        XCTAssertTrue(TaskState.new < .pending && TaskState.pending < .allocated && TaskState.running < .complete)
        XCTAssertTrue(TaskState.remove < .orphaned)

        try apply(&state, .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t1, state: .running, message: "started",
                                                                           containerStatus: ContainerStatus(pid: 42)))).get()
        XCTAssertEqual(state.tasks["t1"]?.status.state, .running)
        XCTAssertEqual(state.tasks["t1"]?.updatedAt, t1)
        let backward = apply(&state, .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t1, state: .starting, message: "late")))
        XCTAssertEqual(backward.failureValue, .invalid("task t1 cannot move from running back to starting"))
        XCTAssertEqual(state.tasks["t1"]?.status.message, "started")
        // The same state again is fine (a newer message).
        try apply(&state, .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t1, state: .running, message: "healthy"))).get()

        try apply(&state, .setTaskDesiredState(id: "t1", state: .shutdown, at: t1)).get()
        XCTAssertNotNil(apply(&state, .setTaskDesiredState(id: "t1", state: .running, at: t1)).failureValue)
        XCTAssertEqual(state.tasks["t1"]?.desiredState, .shutdown)
        XCTAssertEqual(apply(&state, .updateTaskStatus(id: "nope", status: TaskStatus(timestamp: t1, state: .running, message: ""))).failureValue,
                       .notFound(kind: "task", id: "nope"))
    }

    func testBatchedStatusReportsSkipBackwardAndUnknownTasks() throws {
        var state = withService()
        try apply(&state, .createTasks(tasks: [task("t1", slot: 1), task("t2", slot: 2)])).get()
        try apply(&state, .updateTaskStatus(id: "t2", status: TaskStatus(timestamp: t1, state: .running, message: "started"))).get()
        let reports = [TaskStatusUpdate(taskID: "t1", status: TaskStatus(timestamp: t1, state: .running, message: "started")),
                       TaskStatusUpdate(taskID: "t2", status: TaskStatus(timestamp: t1, state: .starting, message: "late")),
                       TaskStatusUpdate(taskID: "gone", status: TaskStatus(timestamp: t1, state: .running, message: ""))]
        let (result, events) = state.applyReportingEvents(.updateTaskStatuses(updates: reports), index: state.appliedIndex + 1)
        try result.get()
        XCTAssertEqual(state.tasks["t1"]?.status.state, .running)
        XCTAssertEqual(state.tasks["t2"]?.status.message, "started", "a backward report is skipped")
        XCTAssertEqual(events.map(\.id), ["t1"])
    }

    func testTaskIndexesFollowAssignRemoveAndDecode() throws {
        var state = withService()
        try apply(&state, .createTasks(tasks: [task("t1", slot: 1), task("t2", slot: 2, node: "n1")])).get()
        XCTAssertEqual(state.tasks(onNode: "n1").map(\.id), ["t2"])
        try apply(&state, .assignTask(id: "t1", nodeID: "n1", at: t1)).get()
        XCTAssertEqual(state.tasks(onNode: "n1").map(\.id), ["t1", "t2"])
        try apply(&state, .removeTasks(ids: ["t2"])).get()
        XCTAssertEqual(state.tasks(onNode: "n1").map(\.id), ["t1"])
        XCTAssertEqual(state.tasks(ofService: "s1").map(\.id), ["t1"])
        let decoded = try CommandCodec.decodeState(CommandCodec.encodeState(state))
        XCTAssertEqual(decoded, state)
        XCTAssertEqual(decoded.tasks(onNode: "n1").map(\.id), ["t1"])
    }

    func testServiceNameAndOrderIndexesFollowCreateRenameRemoveAndDecode() throws {
        var state = withService("s5", name: "web")
        try apply(&state, .createService(service: Service(id: "s2", createdAt: t0, spec: spec("api")))).get()
        try apply(&state, .createService(service: Service(id: "s9", createdAt: t0, spec: spec("db")))).get()
        XCTAssertEqual(state.sortedServiceIDs, ["s2", "s5", "s9"])
        XCTAssertEqual(state.service(named: "api")?.id, "s2")
        XCTAssertEqual(apply(&state, .createService(service: Service(id: "s3", createdAt: t0, spec: spec("api")))).failureValue,
                       .conflict(ClusterState.nameConflict))

        let version = try XCTUnwrap(state.services["s2"]?.version)
        try apply(&state, .updateService(id: "s2", version: version, spec: spec("gateway"), at: t1)).get()
        XCTAssertNil(state.service(named: "api"), "the old name is free after a rename")
        XCTAssertEqual(state.service(named: "gateway")?.id, "s2")
        try apply(&state, .createService(service: Service(id: "s1", createdAt: t0, spec: spec("api")))).get()
        XCTAssertEqual(state.service(named: "api")?.id, "s1")

        try apply(&state, .removeService(id: "s5", at: t1)).get()
        XCTAssertNil(state.service(named: "web"))
        XCTAssertEqual(state.sortedServiceIDs, ["s1", "s2", "s9"])
        XCTAssertEqual(state.sortedServices.map(\.id), ["s1", "s2", "s9"])

        let decoded = try CommandCodec.decodeState(CommandCodec.encodeState(state))
        XCTAssertEqual(decoded, state, "the derived indexes are rebuilt identically on decode")
        XCTAssertEqual(decoded.service(named: "gateway")?.id, "s2")
    }

    func testTasksByServiceNodeAndDesiredState() throws {
        var state = withService()
        try apply(&state, .addNode(node: node("n2"), transportID: 2)).get()
        try apply(&state, .createService(service: Service(id: "s2", createdAt: t0, spec: spec("api")))).get()
        try apply(&state, .createTasks(tasks: [task("t3", slot: 1), task("t1", slot: 2), task("t2", service: "s2", slot: 1)])).get()
        XCTAssertEqual(state.tasks(ofService: "s1").map(\.id), ["t3", "t1"], "ordered by slot")
        XCTAssertEqual(state.tasks(ofService: "s2").map(\.id), ["t2"])

        try apply(&state, .assignTask(id: "t1", nodeID: "n2", at: t1)).get()
        try apply(&state, .assignTask(id: "t2", nodeID: "n2", at: t1)).get()
        XCTAssertEqual(state.tasks(onNode: "n2").map(\.id), ["t1", "t2"])
        XCTAssertEqual(state.tasks(onNode: "n1").map(\.id), [])
        XCTAssertEqual(state.tasks["t1"]?.status.state, .assigned)
        XCTAssertEqual(apply(&state, .assignTask(id: "t1", nodeID: "n1", at: t1)).failureValue,
                       .conflict("task t1 is already assigned to node n2"))
        XCTAssertEqual(apply(&state, .assignTask(id: "t3", nodeID: "n9", at: t1)).failureValue, .notFound(kind: "node", id: "n9"))
        XCTAssertEqual(state.tasks(desiredState: .running).map(\.id), ["t1", "t2", "t3"])
    }

    func testCreateTasksIsAllOrNothing() throws {
        var state = withService()
        let result = apply(&state, .createTasks(tasks: [task("t1", slot: 1), task("t2", service: "ghost", slot: 1)]))
        XCTAssertEqual(result.failureValue, .notFound(kind: "service", id: "ghost"))
        XCTAssertTrue(state.tasks.isEmpty)
        try apply(&state, .createTasks(tasks: [task("t1", slot: 1)])).get()
        XCTAssertEqual(apply(&state, .createTasks(tasks: [task("t1", slot: 2)])).failureValue, .conflict("task t1 already exists"))
    }

    func testRemoveServiceMarksItsTasksForRemoval() throws {
        var state = withService()
        try apply(&state, .createService(service: Service(id: "s2", createdAt: t0, spec: spec("api")))).get()
        try apply(&state, .createTasks(tasks: [task("t1", slot: 1), task("t2", slot: 2), task("t9", service: "s2", slot: 1)])).get()
        try apply(&state, .removeService(id: "s1", at: t1)).get()
        XCTAssertNil(state.services["s1"])
        XCTAssertEqual(state.tasks(ofService: "s1").map(\.desiredState), [.remove, .remove])
        XCTAssertEqual(state.tasks["t1"]?.updatedAt, t1)
        XCTAssertEqual(state.tasks["t9"]?.desiredState, .running)
        XCTAssertNil(state.service(named: "web"), "the name is free again")
        XCTAssertEqual(apply(&state, .removeService(id: "s1", at: t1)).failureValue, .notFound(kind: "service", id: "s1"))

        try apply(&state, .removeTasks(ids: ["t1", "t2"])).get()
        XCTAssertEqual(state.tasks.keys.sorted(), ["t9"])
        XCTAssertEqual(apply(&state, .removeTasks(ids: ["t9", "t1"])).failureValue, .notFound(kind: "task", id: "t1"))
        XCTAssertNotNil(state.tasks["t9"], "a refused removal removes nothing")
    }

    // Response bodies of a real dockerd 20.10 (../shared/reference/docker-api/samples/).
    private let inspectWithDefaults = #"{"ID":"q0lgyztldancl6a2vhi9su0sf","Version":{"Index":15},"CreatedAt":"2026-11-26T14:20:43.354699502Z","UpdatedAt":"2026-11-26T14:20:43.354699502Z","Spec":{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Init":false,"StopGracePeriod":10000000000,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":3}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip"}},"Endpoint":{"Spec":{}}}"#

    private let inspectDuringRollback = #"{"ID":"q0lgyztldancl6a2vhi9su0sf","Version":{"Index":112},"CreatedAt":"2026-11-26T14:20:43.354699502Z","UpdatedAt":"2026-11-26T14:23:27.469878882Z","Spec":{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:2","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":5}},"EndpointSpec":{"Mode":"vip"}},"PreviousSpec":{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:2","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Env":["FOO=bar"],"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":5}},"EndpointSpec":{"Mode":"vip"}},"Endpoint":{"Spec":{}},"UpdateStatus":{"State":"rollback_started","StartedAt":"2026-11-26T14:23:27.469871101Z","Message":"manually requested rollback"}}"#

    private let taskInspect = #"{"ID":"xhv9r25l72mt5tn0vomn2ymjs","Version":{"Index":137},"CreatedAt":"2026-11-26T14:23:50.886218338Z","UpdatedAt":"2026-11-26T14:24:02.454682444Z","Labels":{},"Spec":{"ContainerSpec":{"Image":"localbusybox:2","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"ServiceID":"q0lgyztldancl6a2vhi9su0sf","Slot":2,"NodeID":"sar93ogsng86ui8sjq2k9chof","Status":{"Timestamp":"2026-11-26T14:24:02.376165401Z","State":"running","Message":"started","ContainerStatus":{"ContainerID":"9f8e5e9affba4dc2473c334016e6cce3b3be9c277f05409a6f4f69ac04986e4f","PID":22717,"ExitCode":0},"PortStatus":{}},"DesiredState":"running"}"#

    private func object(_ data: Data) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testServiceDecodesDockersJSONAndReencodesItsKeys() throws {
        let service = try JSONDecoder().decode(Service.self, from: Data(inspectWithDefaults.utf8))
        XCTAssertEqual(service.id, "q0lgyztldancl6a2vhi9su0sf")
        XCTAssertEqual(service.version, ObjectVersion(index: 15))
        XCTAssertEqual(service.spec.mode, .replicated(replicas: 3))
        XCTAssertEqual(service.spec.taskTemplate.containerSpec.stopGracePeriod, 10_000_000_000)
        XCTAssertEqual(service.spec.taskTemplate.restartPolicy, RestartPolicy(condition: .any, delay: 5_000_000_000, maxAttempts: 0))
        XCTAssertEqual(service.spec.updateConfig, .dockerDefault)

        let original = try object(Data(inspectWithDefaults.utf8))
        let reencoded = try object(JSONEncoder().encode(service))
        XCTAssertEqual(Set(reencoded.keys), ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "Endpoint"])
        let originalSpec = try XCTUnwrap(original["Spec"] as? [String: Any])
        let spec = try XCTUnwrap(reencoded["Spec"] as? [String: Any])
        XCTAssertEqual(Set(spec.keys), Set(originalSpec.keys))
        let template = try XCTUnwrap(spec["TaskTemplate"] as? [String: Any])
        XCTAssertEqual(Set(template.keys), Set((originalSpec["TaskTemplate"] as! [String: Any]).keys))
        let container = try XCTUnwrap(template["ContainerSpec"] as? [String: Any])
        XCTAssertEqual(Set(container.keys), ["Image", "Args", "Init", "StopGracePeriod", "Isolation", "DNSConfig"], "as dockerd shows them")
        XCTAssertEqual(container["StopGracePeriod"] as? Int, 10_000_000_000)
        XCTAssertEqual((spec["Mode"] as? [String: Any])?["Replicated"] as? [String: Int], ["Replicas": 3])
        XCTAssertEqual(spec["UpdateConfig"] as? NSDictionary, originalSpec["UpdateConfig"] as? NSDictionary)
        XCTAssertEqual(spec["RollbackConfig"] as? NSDictionary, originalSpec["RollbackConfig"] as? NSDictionary)
        XCTAssertEqual(template["RestartPolicy"] as? NSDictionary, (originalSpec["TaskTemplate"] as! [String: Any])["RestartPolicy"] as? NSDictionary)
        XCTAssertEqual(reencoded["Version"] as? [String: Int], ["Index": 15])
        XCTAssertEqual(reencoded["CreatedAt"] as? String, "2026-11-26T14:20:43.354Z")
        // And back: our own JSON decodes to the same value.
        XCTAssertEqual(try JSONDecoder().decode(Service.self, from: JSONEncoder().encode(service)), service)
    }

    func testInsertDefaultsMatchesDockerd() throws {
        let withDefaults = try JSONDecoder().decode(Service.self, from: Data(inspectWithDefaults.utf8)).spec
        // What `docker service create` sent (POST_services_create_cli.json), plus what dockerd stored with it.
        var created = try JSONDecoder().decode(ServiceSpec.self, from: Data(#"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Mode":"vip"}}"#.utf8))
        created.taskTemplate.containerSpec.isolation = "default"
        created.taskTemplate.runtime = "container"
        XCTAssertEqual(created.withDockerDefaults(), withDefaults)
        XCTAssertEqual(withDefaults.withDockerDefaults(), withDefaults, "idempotent")
        var custom = created
        custom.updateConfig = UpdateConfig(parallelism: 2, order: .startFirst)
        XCTAssertEqual(custom.withDockerDefaults().updateConfig,
                       UpdateConfig(parallelism: 2, failureAction: .pause, monitor: 5_000_000_000, maxFailureRatio: 0, order: .startFirst))
    }

    func testServiceDuringRollbackKeepsPreviousSpecAndUpdateStatus() throws {
        let service = try JSONDecoder().decode(Service.self, from: Data(inspectDuringRollback.utf8))
        XCTAssertEqual(service.previousSpec?.taskTemplate.containerSpec.env, ["FOO=bar"])
        XCTAssertNil(service.spec.taskTemplate.containerSpec.env)
        XCTAssertEqual(service.updateStatus?.state, .rollbackStarted)
        let reencoded = try object(JSONEncoder().encode(service))
        let status = try XCTUnwrap(reencoded["UpdateStatus"] as? [String: Any])
        XCTAssertEqual(status["State"] as? String, "rollback_started")
        XCTAssertEqual(status["Message"] as? String, "manually requested rollback")
        XCTAssertNotNil(status["StartedAt"] as? String)
        XCTAssertEqual(((reencoded["PreviousSpec"] as? [String: Any])?["TaskTemplate"] as? [String: Any])
            .flatMap { $0["ContainerSpec"] as? [String: Any] }?["Env"] as? [String], ["FOO=bar"])
    }

    func testTaskDecodesDockersJSONAndReencodesItsKeys() throws {
        let task = try JSONDecoder().decode(SwarmTask.self, from: Data(taskInspect.utf8))
        XCTAssertEqual(task.slot, 2)
        XCTAssertEqual(task.nodeID, "sar93ogsng86ui8sjq2k9chof")
        XCTAssertEqual(task.status.state, .running)
        XCTAssertEqual(task.status.containerStatus?.pid, 22717)
        XCTAssertEqual(task.desiredState, .running)
        let reencoded = try object(JSONEncoder().encode(task))
        XCTAssertEqual(Set(reencoded.keys), ["ID", "Version", "CreatedAt", "UpdatedAt", "Spec", "ServiceID", "Slot", "NodeID",
                                             "Status", "DesiredState"])
        let status = try XCTUnwrap(reencoded["Status"] as? [String: Any])
        XCTAssertEqual(status["State"] as? String, "running")
        XCTAssertEqual((status["ContainerStatus"] as? [String: Any])?["PID"] as? Int, 22717)
        XCTAssertEqual((status["ContainerStatus"] as? [String: Any])?["ContainerID"] as? String,
                       "9f8e5e9affba4dc2473c334016e6cce3b3be9c277f05409a6f4f69ac04986e4f")
    }

    func testGlobalModeIsDockerShaped() throws {
        var global = spec("agent")
        global.mode = .global
        let json = try object(JSONEncoder().encode(global))
        XCTAssertEqual((json["Mode"] as? [String: Any]).map { Array($0.keys) }, ["Global"])
        XCTAssertEqual(try JSONDecoder().decode(ServiceSpec.self, from: JSONEncoder().encode(global)).mode, .global)
        let minimal = try JSONDecoder().decode(ServiceSpec.self, from: Data(#"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"i"}}}"#.utf8))
        XCTAssertEqual(minimal.mode, .replicated(replicas: 1))
        XCTAssertEqual(minimal.labels, [:])
    }

    func testServiceStateAndCommandsRoundTripThroughTheCodec() throws {
        var state = withService()
        try apply(&state, .createTasks(tasks: [task("t1", slot: 1, node: "n1")])).get()
        var updated = spec("web", image: "busybox:2")
        updated.updateConfig = .dockerDefault
        updated.taskTemplate.placement = Placement(constraints: ["node.role==manager"],
                                                   preferences: [PlacementPreference(spreadDescriptor: "node.labels.zone")])
        updated.taskTemplate.resources = ResourceRequirements(limits: ResourceAmounts(nanoCPUs: 500_000_000, memoryBytes: 1 << 26))
        updated.taskTemplate.containerSpec.healthcheck = HealthConfig(test: ["CMD", "true"], interval: 1_000_000_000)
        try apply(&state, .updateService(id: "s1", version: state.services["s1"]!.version, spec: updated, at: t1)).get()
        XCTAssertEqual(try CommandCodec.decodeState(CommandCodec.encodeState(state)), state)

        let commands: [ClusterCommand] = [
            .createService(service: state.services["s1"]!),
            .updateService(id: "s1", version: ObjectVersion(index: 4), spec: updated, at: t1),
            .rollbackService(id: "s1", version: ObjectVersion(index: 5), at: t1),
            .setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 6),
                                    status: UpdateStatus(state: .completed, startedAt: t0, completedAt: t1, message: "done"), at: t1),
            .removeService(id: "s1", at: t1),
            .createTasks(tasks: [state.tasks["t1"]!]),
            .updateTaskStatus(id: "t1", status: TaskStatus(timestamp: t1, state: .failed, message: "exit", err: "code 1",
                                                           containerStatus: ContainerStatus(containerID: "c", pid: 1, exitCode: 1))),
            .setTaskDesiredState(id: "t1", state: .shutdown, at: t1),
            .assignTask(id: "t1", nodeID: "n1", at: t1),
            .removeTasks(ids: ["t1", "t2"]),
        ]
        for command in commands {
            XCTAssertEqual(try CommandCodec.decode(CommandCodec.encode(command)), command)
        }
    }

    func testApplyingTheSameCommandsGivesEqualStates() throws {
        func run() throws -> ClusterState {
            var state = withService()
            try apply(&state, .createTasks(tasks: (1...5).map { task("t\($0)", slot: UInt64($0)) })).get()
            for id in ["t2", "t4"] { try apply(&state, .assignTask(id: id, nodeID: "n1", at: t1)).get() }
            try apply(&state, .removeService(id: "s1", at: t1)).get()
            return state
        }
        let a = try run(), b = try run()
        XCTAssertEqual(a, b)
        XCTAssertEqual(CommandCodec.encodeState(a), CommandCodec.encodeState(b))
    }
}

final class ServiceUpdateStatusAndEventTests: XCTestCase {
    private let t0 = Timestamp(millisecondsSinceEpoch: 1_764_000_000_000)
    private let t1 = Timestamp(millisecondsSinceEpoch: 1_764_000_060_000)

    private func spec(_ image: String, mode: ServiceMode = .replicated(replicas: 2)) -> ServiceSpec {
        ServiceSpec(name: "web", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: image)), mode: mode)
    }

    private func initialized() -> ClusterState {
        var state = ClusterState()
        let cluster = Cluster(id: "c1", version: ObjectVersion(index: 0), createdAt: t0, spec: ClusterSpec(),
                              joinTokens: JoinTokens(worker: "W", manager: "M"))
        let node = Node(id: "n1", version: ObjectVersion(index: 0), createdAt: t0, spec: NodeSpec(role: .manager),
                        description: NodeDescription(hostname: "h", platform: .init(architecture: "x86_64", os: "linux"),
                                                     resources: .init(nanoCPUs: 1, memoryBytes: 1), engine: .init(engineVersion: "t")),
                        status: NodeStatus(state: .ready, addr: "192.0.2.1:1"), managerStatus: ManagerStatus(raftID: 1, addr: "192.0.2.1:1"))
        let secrets = ClusterSecrets(workerSecret: "w", managerSecret: "m", members: ["1": ClusterMember(nodeID: "n1")])
        XCTAssertNoThrow(try state.apply(.initialize(cluster: cluster, firstNode: node, secrets: secrets), index: 1).get())
        XCTAssertNoThrow(try state.apply(.createService(service: Service(id: "s1", createdAt: t0, spec: spec("a:1"))), index: 2).get())
        return state
    }

    func testUpdateStatusMovesFromUpdatingToCompletedAndRollbackToRollbackCompleted() throws {
        var state = initialized()
        let noUpdate = state.apply(.setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 2),
                                                           status: UpdateStatus(state: .completed), at: t1), index: 3)
        XCTAssertEqual(noUpdate.failureValue, .invalid("service s1 update status cannot move from none to completed"))

        try state.apply(.updateService(id: "s1", version: ObjectVersion(index: 2), spec: spec("a:2"), at: t1), index: 4).get()
        XCTAssertEqual(state.services["s1"]?.updateStatus?.state, .updating)
        let completed = UpdateStatus(state: .completed, startedAt: t1, completedAt: t1, message: "update completed")
        XCTAssertEqual(state.apply(.setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 2), status: completed, at: t1),
                                   index: 5).failureValue,
                       .staleVersion(kind: "service", id: "s1", expected: 2, actual: 4))
        try state.apply(.setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 4), status: completed, at: t1), index: 6).get()
        XCTAssertEqual(state.services["s1"]?.updateStatus, completed)
        XCTAssertEqual(state.services["s1"]?.version, ObjectVersion(index: 6))

        try state.apply(.rollbackService(id: "s1", version: ObjectVersion(index: 6), at: t1), index: 7).get()
        XCTAssertNotNil(state.apply(.setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 7),
                                                            status: UpdateStatus(state: .completed), at: t1), index: 8).failureValue)
        try state.apply(.setServiceUpdateStatus(id: "s1", version: ObjectVersion(index: 7),
                                                status: UpdateStatus(state: .rollbackCompleted, message: "rollback completed"), at: t1),
                        index: 9).get()
        XCTAssertEqual(state.services["s1"]?.updateStatus?.state, .rollbackCompleted)
        XCTAssertEqual(state.services["s1"]?.spec.taskTemplate.containerSpec.image, "a:1")
    }

    func testModeChangeIsRefused() {
        var state = initialized()
        let result = state.apply(.updateService(id: "s1", version: ObjectVersion(index: 2), spec: spec("a:1", mode: .global), at: t1), index: 3)
        XCTAssertEqual(result.failureValue, .invalid("service mode change is not allowed"))
    }

    func testEventsNameEveryChangedObject() throws {
        var state = initialized()
        let task = { (id: String) in
            SwarmTask(id: id, createdAt: self.t0, serviceID: "s1", slot: 1, spec: self.spec("a:1").taskTemplate,
                      status: TaskStatus(timestamp: self.t0, state: .new, message: "created"))
        }
        var (result, events) = state.applyReportingEvents(.createTasks(tasks: [task("t2"), task("t1")]), index: 3)
        XCTAssertNoThrow(try result.get())
        XCTAssertEqual(events, [ClusterEvent(kind: .task, action: .create, id: "t1", index: 3),
                                ClusterEvent(kind: .task, action: .create, id: "t2", index: 3)])

        (result, events) = state.applyReportingEvents(.assignTask(id: "t1", nodeID: "n1", at: t1), index: 4)
        XCTAssertEqual(events, [ClusterEvent(kind: .task, action: .update, id: "t1", index: 4)])

        (result, events) = state.applyReportingEvents(.removeService(id: "s1", at: t1), index: 5)
        XCTAssertEqual(events.map(\.action), [.remove, .update, .update])
        XCTAssertEqual(events.map(\.id), ["s1", "t1", "t2"])

        (result, events) = state.applyReportingEvents(.removeService(id: "s1", at: t1), index: 6)
        XCTAssertNotNil(result.failureValue)
        XCTAssertEqual(events, [], "a refused command reports nothing")

        (result, events) = state.applyReportingEvents(.removeTasks(ids: ["t1"]), index: 7)
        XCTAssertEqual(events, [ClusterEvent(kind: .task, action: .remove, id: "t1", index: 7)])
        (result, events) = state.applyReportingEvents(.rotateJoinToken(role: .worker, secret: "s", token: "W2", at: t1), index: 8)
        XCTAssertEqual(events, [ClusterEvent(kind: .cluster, action: .update, id: "c1", index: 8)])
    }

    func testStateWithoutServicesDecodesFromAnOlderSnapshot() throws {
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ClusterState())) as! [String: Any]
        old["services"] = nil
        old["tasks"] = nil
        let decoded = try JSONDecoder().decode(ClusterState.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertEqual(decoded, ClusterState())
    }
}
