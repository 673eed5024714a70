@testable import API
import ClusterState
import XCTest
import SeededRandom

/// The service and task routes against the fake control plane (a real ClusterState), with the
/// bodies the docker CLI 28.2 and docker-py 7.1 send and dockerd 20.10's answers as the oracle
/// (reference/docker-api/samples and errors).
final class DockerServiceAPITests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!
    private var idCounter = 0
    private static let now = Timestamp(millisecondsSinceEpoch: 1_800_000_000_000)

    override func setUp() {
        plane = FakeControlPlane()
        idCounter = 0
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Self.now }, newID: { [unowned self] in
                            idCounter += 1
                            return "svc\(idCounter)" + String(repeating: "x", count: 22 - String(idCounter).count)
                        })
    }

    private func call(_ method: String, _ target: String, body: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: target, body: body.map { Array($0.utf8) } ?? [])) { answers.append($0) }
        XCTAssertEqual(answers.count, 1, "exactly one answer for \(method) \(target)", file: file, line: line)
        return answers.first ?? HTTPResponse(status: 0)
    }

    private func message(_ response: HTTPResponse) -> String? { jsonBody(response)["message"]?.stringValue }

    private func filtered(_ path: String, _ filters: String) -> String { path + "?filters=" + PercentEncoding.encode(filters) }

    private func ids(_ response: HTTPResponse, file: StaticString = #filePath, line: UInt = #line) -> [String] {
        XCTAssertEqual(response.status, 200, response.bodyText, file: file, line: line)
        guard case let .array(items) = jsonBody(response) else { return [] }
        return items.compactMap { $0["ID"]?.stringValue }
    }

    /// The body `docker service create --name NAME --replicas N --no-resolve-image IMAGE sleep 3600` sends.
    private func cliCreateBody(name: String, replicas: Int? = 3, image: String = "localbusybox:1", labels: String = "{}") -> String {
        let mode = replicas.map { #"{"Replicated":{"Replicas":\#($0)}}"# } ?? #"{"Global":{}}"#
        return #"{"Name":"\#(name)","Labels":\#(labels),"TaskTemplate":{"ContainerSpec":{"Image":"\#(image)","Args":["sleep","3600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":\#(mode),"EndpointSpec":{"Mode":"vip"}}"#
    }

    @discardableResult
    private func create(_ name: String, replicas: Int? = 3, labels: String = "{}", file: StaticString = #filePath, line: UInt = #line) -> String {
        let response = call("POST", "/v1.41/services/create", body: cliCreateBody(name: name, replicas: replicas, labels: labels))
        XCTAssertEqual(response.status, 201, response.bodyText, file: file, line: line)
        return jsonBody(response)["ID"]?.stringValue ?? ""
    }

    private func service(_ id: String) -> Service? { plane.state.services[id] }

    /// Tasks as the orchestrator and agents would leave them.
    private func addTask(_ id: String, service serviceID: String, slot: UInt64? = nil, node: String? = nil,
                        desired: TaskState = .running, state: TaskState = .running, spec: TaskTemplate? = nil) {
        let template = spec ?? service(serviceID)!.spec.taskTemplate
        let task = SwarmTask(id: id, createdAt: Timestamp(millisecondsSinceEpoch: 1_799_000_000_000), serviceID: serviceID, slot: slot,
                             nodeID: node, spec: template, desiredState: desired,
                             status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1_799_000_001_000), state: state, message: state.rawValue,
                                                containerStatus: state == .running ? ContainerStatus(containerID: "c-\(id)", pid: 42, exitCode: 0) : nil))
        XCTAssertNoThrow(try plane.apply(.createTasks(tasks: [task])).get())
    }

    // MARK: Create

    func testCreateAsTheCLIDoesAnswers201WithTheIDOnly() {
        let response = call("POST", "/v1.41/services/create", body: cliCreateBody(name: "web"))
        XCTAssertEqual(response.status, 201)
        XCTAssertEqual(response.headers["Content-Type"], "application/json")
        XCTAssertEqual(response.bodyText, #"{"ID":"svc1xxxxxxxxxxxxxxxxxxxxx"}"# + "\n", "dockerd sends no Warnings key on create")
        let stored = try? XCTUnwrap(service("svc1xxxxxxxxxxxxxxxxxxxxx"))
        XCTAssertEqual(stored?.spec.name, "web")
        XCTAssertEqual(stored?.spec.mode, .replicated(replicas: 3))
        XCTAssertEqual(stored?.spec.taskTemplate.containerSpec.args, ["sleep", "3600"])
        XCTAssertEqual(stored?.spec.taskTemplate.containerSpec.initProcess, false)
        XCTAssertEqual(stored?.spec.endpointSpec?.mode, "vip")
        XCTAssertEqual(stored?.createdAt, Self.now)
        XCTAssertNil(stored?.spec.taskTemplate.containerSpec.stopGracePeriod, "the spec is stored as submitted, without defaults")
        XCTAssertEqual(plane.proposals.count, 1)
    }

    func testCreateAsDockerPyDoesWithLowercaseModeAndNullArgs() {
        let body = #"{"Name": "web", "Labels": {"team": "x"}, "TaskTemplate": {"ContainerSpec": {"Image": "localbusybox:1", "Command": ["sh", "-c", "echo sdk hello; exec sleep 3600"], "Args": null, "Env": ["A=1"]}}, "Mode": {"replicated": {"Replicas": 3}}}"#
        let response = call("POST", "/v1.41/services/create", body: body)
        XCTAssertEqual(response.status, 201, response.bodyText)
        let stored = service("svc1xxxxxxxxxxxxxxxxxxxxx")
        XCTAssertEqual(stored?.spec.mode, .replicated(replicas: 3))
        XCTAssertEqual(stored?.spec.labels, ["team": "x"])
        XCTAssertEqual(stored?.spec.taskTemplate.containerSpec.command, ["sh", "-c", "echo sdk hello; exec sleep 3600"])
        XCTAssertNil(stored?.spec.taskTemplate.containerSpec.args)
        XCTAssertEqual(stored?.spec.taskTemplate.containerSpec.env, ["A=1"])
        // Responses use Docker's capitalisation: docker-py's scale() looks for 'Global' in Spec.Mode.
        XCTAssertEqual(jsonBody(call("GET", "/services/web"))["Spec"]?["Mode"]?.serializedText, #"{"Replicated":{"Replicas":3}}"#)
    }

    func testCreateWithAllKeysInLowercase() {
        let body = #"{"name":"low","labels":{"Tier":"Front"},"tasktemplate":{"containerspec":{"image":"busybox","args":["true"]},"restartpolicy":{"condition":"on-failure","maxattempts":3}},"mode":{"replicated":{"replicas":2}}}"#
        XCTAssertEqual(call("POST", "/services/create", body: body).status, 201)
        let stored = plane.state.service(named: "low")
        XCTAssertEqual(stored?.spec.labels, ["Tier": "Front"], "map keys are kept verbatim")
        XCTAssertEqual(stored?.spec.mode, .replicated(replicas: 2))
        XCTAssertEqual(stored?.spec.taskTemplate.restartPolicy, RestartPolicy(condition: .onFailure, maxAttempts: 3))
    }

    func testReplicatedWithoutReplicasMeansOne() {
        let body = #"{"Name":"one","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{}}}"#
        XCTAssertEqual(call("POST", "/services/create", body: body).status, 201)
        XCTAssertEqual(jsonBody(call("GET", "/services/one"))["Spec"]?["Mode"]?.serializedText, #"{"Replicated":{"Replicas":1}}"#,
                       "always send Replicas: the CLI's fallback dereferences it")
    }

    func testCreateWithoutANameGetsADockerStyleName() {
        let response = call("POST", "/services/create", body: #"{"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}"#)
        XCTAssertEqual(response.status, 201, response.bodyText)
        let name = service("svc1xxxxxxxxxxxxxxxxxxxxx")?.spec.name ?? ""
        XCTAssertNil(ServiceSpecValidation.nameProblem(name), name)
        XCTAssertTrue(name.contains("_"), name)
    }

    func testCreateErrorsAsDockerd() {
        let noImage = call("POST", "/v1.41/services/create", body: #"{"Name":"bad","TaskTemplate":{"ContainerSpec":{}}}"#)
        XCTAssertEqual(noImage.status, 400)
        XCTAssertEqual(message(noImage), "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided")

        let truncated = call("POST", "/v1.41/services/create", body: #"{"Name":"#)
        XCTAssertEqual(truncated.status, 400)
        XCTAssertEqual(message(truncated), "unexpected EOF")

        let empty = call("POST", "/v1.41/services/create")
        XCTAssertEqual(empty.status, 400)
        XCTAssertEqual(message(empty), "got EOF while reading request body")

        for body in [#"{"Name": }"#, "[1,2]", #""web""#, #"{"Name":"x","Mode":{"Replicated":{"Replicas":"three"}}}"#,
                     #"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":5}}}"#, String(repeating: "[", count: 5000)] {
            let response = call("POST", "/services/create", body: body)
            XCTAssertEqual(response.status, 400, body)
            XCTAssertNotNil(message(response), body)
        }

        create("web")
        let conflict = call("POST", "/v1.41/services/create", body: cliCreateBody(name: "web", image: "localbusybox:2"))
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(message(conflict), "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists")

        let badName = call("POST", "/services/create", body: cliCreateBody(name: "no spaces allowed"))
        XCTAssertEqual(badName.status, 400)
        XCTAssertEqual(message(badName), "rpc error: code = InvalidArgument desc = name must be valid as a DNS name component")

        let published = #"{"Name":"pub","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}"#
        XCTAssertEqual(call("POST", "/services/create", body: published).status, 201, "the cluster has its ingress network")
        let taken = call("POST", "/services/create", body: published.replacingOccurrences(of: #""pub""#, with: #""pub2""#))
        XCTAssertEqual(taken.status, 400)
        XCTAssertEqual(message(taken)?.hasPrefix("rpc error: code = FailedPrecondition desc = port '8080' is already in use by service 'pub'"), true,
                       message(taken) ?? "")

        let job = call("POST", "/services/create", body: #"{"Name":"job","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"ReplicatedJob":{}}}"#)
        XCTAssertEqual(job.status, 400)

        XCTAssertEqual(plane.proposals.count, 3, "only the valid creates and the port conflict (refused by the apply) were proposed")
        XCTAssertEqual(plane.state.services.count, 2)
    }

    func testCreateRaceLosesWithDockersConflictWording() {
        plane.held = []
        var answers: [HTTPResponse] = []
        for _ in 0..<2 {
            api.handle(HTTPRequest(method: "POST", target: "/services/create", body: Array(cliCreateBody(name: "web").utf8))) { answers.append($0) }
        }
        // Both read the state before either proposal is applied; the second apply is refused.
        while !(plane.held ?? []).isEmpty { plane.held!.removeFirst()() }
        XCTAssertEqual(answers.map(\.status).sorted(), [201, 409])
        XCTAssertEqual(answers.compactMap { message($0) }.filter { !$0.isEmpty },
                       ["rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists"])
        XCTAssertEqual(plane.state.services.count, 1)
    }

    func testCreateChecksTheNameLocallyAndConfirmsAConflictLinearizably() throws {
        let viewWithoutWeb = plane.state
        let id = create("web")
        let viewWithWeb = plane.state
        // A lagging manager that misses "web": the apply refuses the duplicate, in Docker's wording.
        plane.staleLocalState = viewWithoutWeb
        let refused = call("POST", "/services/create", body: cliCreateBody(name: "web"))
        XCTAssertEqual(refused.status, 409)
        XCTAssertEqual(message(refused), "rpc error: code = AlreadyExists desc = name conflicts with an existing object: service web already exists")
        XCTAssertEqual(plane.state.services.values.filter { $0.spec.name == "web" }.count, 1)

        // A lagging manager that still sees a removed "web": the conflict is confirmed by a
        // linearizable read, which finds the name free.
        plane.staleLocalState = nil
        XCTAssertEqual(call("DELETE", "/services/\(id)").status, 200)
        plane.staleLocalState = viewWithWeb
        let reads = plane.localReads
        XCTAssertEqual(call("POST", "/services/create", body: cliCreateBody(name: "web")).status, 201)
        XCTAssertEqual(plane.localReads, reads + 1)
        XCTAssertNotEqual(plane.state.service(named: "web")?.id, id)
    }

    func testServiceRoutesNeedAManager() {
        plane.local.role = .worker
        for (method, target) in [("GET", "/services?status=true"), ("POST", "/services/create"), ("GET", "/services/web"),
                                 ("POST", "/services/web/update?version=1"), ("DELETE", "/services/web"), ("GET", "/tasks"), ("GET", "/tasks/x")] {
            let response = call(method, target, body: "{}")
            XCTAssertEqual(response.status, 503, target)
            XCTAssertEqual(message(response), APIError.notManager.message, target)
        }
        plane.local.role = .manager
        plane.readFailure = .noQuorum
        XCTAssertEqual(call("GET", "/services").status, 503)
        XCTAssertEqual(call("GET", "/tasks").status, 503)
    }

    // MARK: Inspect and list

    func testInspectShapesAndInsertDefaults() {
        let id = create("web")
        let plain = jsonBody(call("GET", "/v1.41/services/web?insertDefaults=false"))
        XCTAssertEqual(plain["ID"], .string(id))
        XCTAssertEqual(plain["Version"]?["Index"], .number(String(service(id)!.version.index)))
        XCTAssertEqual(plain["CreatedAt"], .string("2027-01-15T08:00:00.000Z"))
        XCTAssertEqual(plain["Endpoint"]?.serializedText, #"{"Spec":{}}"#)
        XCTAssertNil(plain["PreviousSpec"])
        XCTAssertNil(plain["UpdateStatus"])
        XCTAssertNil(plain["ServiceStatus"])
        let template = plain["Spec"]?["TaskTemplate"]
        XCTAssertEqual(template?["Runtime"], .string("container"), "dockerd always shows the runtime")
        XCTAssertEqual(template?["ContainerSpec"]?["Isolation"], .string("default"))
        XCTAssertEqual(template?["Resources"]?.serializedText, #"{"Limits":{},"Reservations":{}}"#)
        XCTAssertEqual(template?["Placement"]?.serializedText, "{}")
        XCTAssertEqual(template?["ForceUpdate"], .number("0"))
        XCTAssertNil(template?["ContainerSpec"]?["StopGracePeriod"])
        XCTAssertNil(plain["Spec"]?["UpdateConfig"])

        let defaults = jsonBody(call("GET", "/v1.41/services/web?insertDefaults=true"))["Spec"]
        XCTAssertEqual(defaults?["TaskTemplate"]?["ContainerSpec"]?["StopGracePeriod"], .number("10000000000"))
        XCTAssertEqual(defaults?["TaskTemplate"]?["RestartPolicy"]?.serializedText, #"{"Condition":"any","Delay":5000000000,"MaxAttempts":0}"#)
        let dockerdDefault = #"{"FailureAction":"pause","MaxFailureRatio":0,"Monitor":5000000000,"Order":"stop-first","Parallelism":1}"#
        XCTAssertEqual(defaults?["UpdateConfig"]?.serializedText, dockerdDefault)
        XCTAssertEqual(defaults?["RollbackConfig"]?.serializedText, dockerdDefault)
        XCTAssertEqual(jsonBody(call("GET", "/services/web?insertDefaults=True"))["Spec"], defaults, "docker-py sends True")
        XCTAssertNil(service(id)?.spec.updateConfig, "insertDefaults changes the answer, not the state")
    }

    func testInspectByIDNameAndPrefixAndDockersErrors() {
        let web = create("web")
        let other = create("web2")
        for reference in [web, "web", "svc1"] {
            XCTAssertEqual(jsonBody(call("GET", "/services/\(reference)"))["ID"], .string(web), reference)
        }
        XCTAssertEqual(jsonBody(call("GET", "/services/web2"))["ID"], .string(other))
        let missing = call("GET", "/v1.41/services/nosuchservice?insertDefaults=true")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(message(missing), "service nosuchservice not found")
        let ambiguous = call("GET", "/services/svc")
        XCTAssertEqual(ambiguous.status, 400)
        XCTAssertEqual(message(ambiguous), "service svc is ambiguous (2 matches found)")
    }

    func testListWithStatusCountsRunningAndDesiredTasks() {
        let web = create("web", replicas: 3)
        let global = create("glob", replicas: nil)
        addTask("t1", service: web, slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa")
        addTask("t2", service: web, slot: 2, node: "node2bbbbbbbbbbbbbbbbbbbbb", state: .starting)
        addTask("t3", service: web, slot: 3, node: "node3ccccccccccccccccccccc")
        addTask("t4", service: web, slot: 3, node: "node3ccccccccccccccccccccc", desired: .shutdown, state: .running)
        addTask("g1", service: global, node: "node1aaaaaaaaaaaaaaaaaaaaa")
        addTask("g2", service: global, node: "node2bbbbbbbbbbbbbbbbbbbbb", state: .assigned)
        addTask("g3", service: global, node: "node3ccccccccccccccccccccc", desired: .shutdown, state: .shutdown)

        let response = call("GET", "/v1.41/services?status=true")
        guard case let .array(services) = jsonBody(response), services.count == 2 else { return XCTFail(response.bodyText) }
        let byName = Dictionary(uniqueKeysWithValues: services.map { ($0["Spec"]?["Name"]?.stringValue ?? "", $0) })
        XCTAssertEqual(byName["web"]?["ServiceStatus"]?.serializedText, #"{"CompletedTasks":0,"DesiredTasks":3,"RunningTasks":2}"#)
        XCTAssertEqual(byName["glob"]?["ServiceStatus"]?.serializedText, #"{"CompletedTasks":0,"DesiredTasks":2,"RunningTasks":1}"#)
        XCTAssertEqual(byName["glob"]?["Spec"]?["Mode"]?.serializedText, #"{"Global":{}}"#)

        XCTAssertEqual(jsonBody(call("GET", "/services?status=True")), jsonBody(response), "docker-py's True")
        guard case let .array(old) = jsonBody(call("GET", "/v1.40/services?status=true")) else { return XCTFail() }
        XCTAssertTrue(old.allSatisfy { $0["ServiceStatus"] == nil }, "API 1.40 has no ServiceStatus, as dockerd")
        guard case let .array(plain) = jsonBody(call("GET", "/services")) else { return XCTFail() }
        XCTAssertTrue(plain.allSatisfy { $0["ServiceStatus"] == nil })
    }

    func testServiceFiltersInBothFormsWithPrefixes() {
        let web = create("web", labels: #"{"tier":"front","team":"a"}"#)
        let web2 = create("web2", labels: #"{"tier":"back"}"#)
        let db = create("db", replicas: nil, labels: #"{"team":"a"}"#)
        func list(_ filters: String) -> [String] { ids(call("GET", filtered("/v1.41/services", filters))) }
        XCTAssertEqual(list(#"{"name":{"web":true}}"#), [web, web2], "name is a prefix, as swarmkit's NamePrefixes")
        XCTAssertEqual(list(#"{"name":["web2"]}"#), [web2], "the legacy list form (docker-py)")
        XCTAssertEqual(list(#"{"name":["db","web2"]}"#), [web2, db])
        XCTAssertEqual(list(#"{"id":{"svc2":true}}"#), [web2])
        XCTAssertEqual(list(#"{"id":{"nosuchservice":true}}"#), [], "the CLI's service ps probe gets an empty list")
        XCTAssertEqual(list(#"{"mode":{"global":true}}"#), [db])
        XCTAssertEqual(list(#"{"mode":["replicated"]}"#), [web, web2])
        XCTAssertEqual(list(#"{"label":["tier"]}"#), [web, web2])
        XCTAssertEqual(list(#"{"label":["tier=front"]}"#), [web])
        XCTAssertEqual(list(#"{"label":["team=a","tier"]}"#), [web], "every label filter must hold")
        XCTAssertEqual(list(#"{"runtime":["container"]}"#).count, 3)
        XCTAssertEqual(list(#"{"name":{"web":true},"label":{"team":true}}"#), [web])
        // docker-py's query encoding: `+` for spaces.
        XCTAssertEqual(ids(call("GET", "/services?filters=%7B%22name%22%3A+%5B%22db%22%5D%7D&status=True")), [db])

        let bogus = call("GET", filtered("/services", #"{"bogus":{"x":true}}"#))
        XCTAssertEqual(bogus.status, 400)
        XCTAssertEqual(message(bogus), "Invalid filter 'bogus'")
        XCTAssertEqual(call("GET", "/services?filters=%7Bnot-json").status, 400)
        XCTAssertEqual(call("GET", filtered("/services", #"{"name":[1]}"#)).status, 400)
    }

    // MARK: Update, rollback, remove

    /// The spec the CLI sends back: what it read with insertDefaults=false, edited.
    private func inspectedSpec(_ reference: String) -> (version: UInt64, spec: String) {
        let body = jsonBody(call("GET", "/v1.41/services/\(reference)?insertDefaults=false"))
        let version = UInt64(body["Version"]?["Index"].flatMap { if case let .number(text) = $0 { text } else { nil } } ?? "") ?? 0
        return (version, body["Spec"]?.serializedText ?? "")
    }

    func testScaleAsTheCLIDoesIsNotATemplateChange() {
        let id = create("web")
        let (version, spec) = inspectedSpec("web")
        XCTAssertTrue(spec.contains(#""Runtime":"container""#))
        let response = call("POST", "/v1.41/services/\(id)/update?version=\(version)", body: spec.replacingOccurrences(of: #""Replicas":3"#, with: #""Replicas":5"#))
        XCTAssertEqual(response.status, 200, response.bodyText)
        XCTAssertEqual(response.bodyText, #"{"Warnings":null}"# + "\n")
        XCTAssertEqual(service(id)?.spec.mode, .replicated(replicas: 5))
        XCTAssertNil(service(id)?.updateStatus, "the echoed Runtime and Isolation do not start a rolling update")
        XCTAssertEqual(service(id)?.updatedAt, Self.now)
        XCTAssertGreaterThan(service(id)!.version.index, version)
    }

    func testEnvAddStartsAnUpdateAndKeepsThePreviousSpec() {
        let id = create("web")
        let (version, spec) = inspectedSpec("web")
        let edited = spec.replacingOccurrences(of: #""Args":["sleep","3600"]"#, with: #""Args":["sleep","3600"],"Env":["A=1"]"#)
        let response = call("POST", "/v1.41/services/\(id)/update?registryAuthFrom=spec&version=\(version)", body: edited)
        XCTAssertEqual(response.status, 200, response.bodyText)
        let body = jsonBody(call("GET", "/services/web"))
        XCTAssertEqual(body["Spec"]?["TaskTemplate"]?["ContainerSpec"]?["Env"]?.serializedText, #"["A=1"]"#)
        XCTAssertNil(body["PreviousSpec"]?["TaskTemplate"]?["ContainerSpec"]?["Env"])
        XCTAssertEqual(body["PreviousSpec"]?["TaskTemplate"]?["Runtime"], .string("container"))
        XCTAssertEqual(body["UpdateStatus"]?["State"], .string("updating"))
        XCTAssertEqual(body["UpdateStatus"]?["Message"], .string("update in progress"))
    }

    func testUpdateWithLowercaseKeysAsDockerPyScale() {
        let id = create("web")
        let version = service(id)!.version.index
        let body = #"{"name": "web", "labels": {}, "mode": {"replicated": {"replicas": 7}}, "tasktemplate": {"containerspec": {"image": "localbusybox:1", "args": ["sleep", "3600"], "init": false, "isolation": "default"}, "resources": {"limits": {}, "reservations": {}}, "placement": {}, "forceupdate": 0, "runtime": "container"}, "endpointspec": {"mode": "vip"}}"#
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)", body: body).status, 200)
        XCTAssertEqual(service(id)?.spec.mode, .replicated(replicas: 7))
        XCTAssertNil(service(id)?.updateStatus)
    }

    func testStaleVersionIsRejectedAndNotApplied() {
        let id = create("web")
        let (version, spec) = inspectedSpec("web")
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)", body: spec.replacingOccurrences(of: #""Replicas":3"#, with: #""Replicas":4"#)).status, 200)
        let before = plane.state
        let stale = call("POST", "/v1.41/services/web/update?version=\(version)", body: spec.replacingOccurrences(of: #""Replicas":3"#, with: #""Replicas":9"#))
        XCTAssertEqual(stale.status, 500)
        XCTAssertEqual(message(stale), "rpc error: code = Unknown desc = update out of sequence")
        XCTAssertEqual(plane.state.services, before.services, "nothing applied")
        XCTAssertEqual(service(id)?.spec.mode, .replicated(replicas: 4))
    }

    func testUpdateInputErrors() {
        create("web")
        let (version, spec) = inspectedSpec("web")
        let missing = call("POST", "/v1.41/services/web/update", body: spec)
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(message(missing), "invalid service version '': strconv.ParseUint: parsing \"\": invalid syntax")
        XCTAssertEqual(message(call("POST", "/services/web/update?version=-1", body: spec)),
                       "invalid service version '-1': strconv.ParseUint: parsing \"-1\": invalid syntax")
        let unknown = call("POST", "/services/nosuchservice/update?version=\(version)", body: spec)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(message(unknown), "service nosuchservice not found")
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)", body: #"{"Name":"#).status, 400)
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)").status, 400)
        let noImage = call("POST", "/services/web/update?version=\(version)", body: #"{"Name":"web","TaskTemplate":{"ContainerSpec":{}}}"#)
        XCTAssertEqual(message(noImage), "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided")
        let rename = call("POST", "/services/web/update?version=\(version)", body: spec.replacingOccurrences(of: #""Name":"web""#, with: #""Name":"www""#))
        XCTAssertEqual(rename.status, 501)
        XCTAssertEqual(message(rename), "rpc error: code = Unimplemented desc = renaming services is not supported")
        let modeChange = call("POST", "/services/web/update?version=\(version)",
                              body: spec.replacingOccurrences(of: #"{"Replicated":{"Replicas":3}}"#, with: #"{"Global":{}}"#))
        XCTAssertEqual(modeChange.status, 501)
        XCTAssertEqual(message(modeChange), "rpc error: code = Unimplemented desc = service mode change is not allowed")
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)&rollback=sideways", body: spec).status, 400)
        XCTAssertEqual(plane.proposals.count, 1, "only the create reached the log")
    }

    func testRollbackSwapsInThePreviousSpec() {
        let id = create("web")
        var (version, spec) = inspectedSpec("web")
        let noPrevious = call("POST", "/v1.41/services/\(id)/update?rollback=previous&version=\(version)", body: spec)
        XCTAssertEqual(noPrevious.status, 400)
        XCTAssertEqual(message(noPrevious), "rpc error: code = FailedPrecondition desc = service \(id) does not have a previous spec")

        let first = service(id)!.spec
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)", body: spec.replacingOccurrences(of: "localbusybox:1", with: "localbusybox:2")).status, 200)
        let second = service(id)!.spec
        (version, spec) = inspectedSpec("web")
        // The CLI sends the current spec unchanged; the server swaps in PreviousSpec.
        let rollback = call("POST", "/v1.41/services/\(id)/update?rollback=previous&version=\(version)", body: spec)
        XCTAssertEqual(rollback.status, 200, rollback.bodyText)
        XCTAssertEqual(rollback.bodyText, #"{"Warnings":null}"# + "\n")
        XCTAssertEqual(service(id)?.spec, first)
        XCTAssertEqual(service(id)?.previousSpec, second)
        let body = jsonBody(call("GET", "/services/web"))
        XCTAssertEqual(body["UpdateStatus"]?["State"], .string("rollback_started"))
        XCTAssertEqual(body["UpdateStatus"]?["Message"], .string("manually requested rollback"))
        XCTAssertEqual(body["UpdateStatus"]?["StartedAt"], .string("2027-01-15T08:00:00.000Z"))
        XCTAssertEqual(call("POST", "/services/web/update?rollback=previous&version=\(version)", body: spec).status, 500, "stale rollback")
    }

    func testRemoveService() {
        let id = create("web")
        addTask("t1", service: id, slot: 1, node: "node2bbbbbbbbbbbbbbbbbbbbb")
        let response = call("DELETE", "/v1.41/services/web")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.body, [])
        XCTAssertNil(response.headers["Content-Type"])
        XCTAssertNil(service(id))
        XCTAssertEqual(plane.state.tasks["t1"]?.desiredState, .remove)
        let again = call("DELETE", "/v1.41/services/web")
        XCTAssertEqual(again.status, 404)
        XCTAssertEqual(message(again), "service web not found")
    }

    func testLogsStreamEveryTasksOutputInStdcopyFramesWithDetails() throws {
        let id = create("web")
        let task = SwarmTask(id: "task1xxxxxxxxxxxxxxxxxxxxx", createdAt: Timestamp(millisecondsSinceEpoch: 1), serviceID: id, slot: 1,
                             nodeID: "node2bbbbbbbbbbbbbbbbbbbbb", spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")),
                             status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .running, message: "started"))
        plane.apply(.createTasks(tasks: [task]))
        plane.taskOutput[task.id] = [TaskLogLine(stream: 1, timeNanos: 10, sequence: 1, data: Array("hello\n".utf8)),
                                     TaskLogLine(stream: 2, timeNanos: 20, sequence: 2, data: Array("oops\n".utf8)),
                                     TaskLogLine(stream: 1, timeNanos: 30, sequence: 3, data: Array("world\n".utf8))]
        // The API is loop-confined: the server calls it on its loop thread only.
        nonisolated(unsafe) let api = self.api!
        let server = try startServer { request, responder in api.handle(request, responder) }
        let client = HTTPClient(address: server.address, timeoutMillis: 5_000)
        let response = try client.send("GET", "/v1.41/services/web/logs", query: QueryParameters([("details", "1"), ("stdout", "1"), ("stderr", "1"), ("tail", "all")]))
        XCTAssertEqual(response.status, 200)
        XCTAssertNil(response.headers["Content-Type"], "dockerd sends the log stream without a content type")
        var frames: [(UInt8, String)] = []
        var body = response.body[...]
        while body.count >= 8 {
            let length = Int(body[body.startIndex + 4]) << 24 | Int(body[body.startIndex + 5]) << 16 | Int(body[body.startIndex + 6]) << 8 | Int(body[body.startIndex + 7])
            frames.append((body[body.startIndex], String(decoding: body.dropFirst(8).prefix(length), as: UTF8.self)))
            body = body.dropFirst(8 + length)
        }
        let details = "com.docker.swarm.node.id=node2bbbbbbbbbbbbbbbbbbbbb,com.docker.swarm.service.id=\(id),com.docker.swarm.task.id=\(task.id) "
        XCTAssertEqual(frames.map(\.0), [1, 2, 1], "stdout and stderr interleaved by write time")
        XCTAssertEqual(frames.map(\.1), [details + "hello\n", details + "oops\n", details + "world\n"])
        XCTAssertEqual(try client.send("GET", "/services/nosuchservice/logs", query: QueryParameters([("stdout", "1")])).status, 404)
        XCTAssertEqual(try client.send("GET", "/services/web/logs").status, 400, "no stream chosen")
    }

    func testUnknownServiceAndTaskMethodsAre405() {
        XCTAssertEqual(call("PUT", "/services").status, 405)
        XCTAssertEqual(call("POST", "/tasks/x").status, 405)
        XCTAssertEqual(call("GET", "/tasks/a/b/c").status, 404)
    }

    // MARK: Tasks

    private func seedTasks() -> (web: String, db: String) {
        let web = create("web", labels: #"{"tier":"front"}"#)
        let db = create("db", replicas: nil)
        addTask("ta1", service: web, slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa")
        addTask("ta2", service: web, slot: 2, node: "node2bbbbbbbbbbbbbbbbbbbbb")
        addTask("tb1", service: web, slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa", desired: .shutdown, state: .shutdown)
        addTask("tc3", service: web, slot: 3, desired: .running, state: .pending)
        addTask("td1", service: db, node: "node3ccccccccccccccccccccc")
        return (web, db)
    }

    func testTaskShapeMatchesDockerd() {
        let (web, _) = seedTasks()
        let response = call("GET", "/v1.41/tasks/ta2")
        XCTAssertEqual(response.status, 200)
        let task = jsonBody(response)
        guard case let .object(members) = task else { return XCTFail(response.bodyText) }
        // The keys of reference/docker-api/samples/GET_tasks_id.json.
        XCTAssertEqual(Set(members.map(\.0)), ["ID", "Version", "CreatedAt", "UpdatedAt", "Labels", "Spec", "ServiceID", "Slot", "NodeID", "Status", "DesiredState"])
        XCTAssertEqual(task["Labels"]?.serializedText, "{}")
        XCTAssertEqual(task["ServiceID"], .string(web))
        XCTAssertEqual(task["Slot"], .number("2"))
        XCTAssertEqual(task["NodeID"], .string("node2bbbbbbbbbbbbbbbbbbbbb"))
        XCTAssertEqual(task["DesiredState"], .string("running"))
        XCTAssertEqual(task["Status"]?["State"], .string("running"))
        XCTAssertEqual(task["Status"]?["ContainerStatus"]?.serializedText, #"{"ContainerID":"c-ta2","ExitCode":0,"PID":42}"#)
        XCTAssertEqual(task["Status"]?["PortStatus"]?.serializedText, "{}")
        XCTAssertEqual(task["Spec"]?["ContainerSpec"]?["Image"], .string("localbusybox:1"), "service ps needs Spec.ContainerSpec")
        XCTAssertEqual(task["Spec"]?["ContainerSpec"]?["Isolation"], .string("default"))
        XCTAssertNil(task["Spec"]?["Runtime"], "tasks show no Runtime, as dockerd")

        let global = jsonBody(call("GET", "/tasks/td1"))
        XCTAssertNil(global["Slot"], "global tasks have no slot")
        let pending = jsonBody(call("GET", "/tasks/tc3"))
        XCTAssertNil(pending["NodeID"], "unassigned tasks have no node")
        XCTAssertNil(pending["Status"]?["ContainerStatus"])

        let missing = call("GET", "/v1.41/tasks/nosuchtask")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(message(missing), "task nosuchtask not found")
        XCTAssertEqual(jsonBody(call("GET", "/tasks/td"))["ID"], .string("td1"), "a unique prefix")
        XCTAssertEqual(call("GET", "/tasks/t").status, 400, "an ambiguous prefix")
    }

    func testTaskFilters() {
        let (web, db) = seedTasks()
        func list(_ filters: String) -> [String] { ids(call("GET", filtered("/v1.41/tasks", filters))) }
        XCTAssertEqual(ids(call("GET", "/tasks")), ["ta1", "ta2", "tb1", "tc3", "td1"])
        XCTAssertEqual(list(#"{"service":{"\#(web)":true}}"#), ["ta1", "ta2", "tb1", "tc3"], "the CLI's form")
        XCTAssertEqual(list(#"{"service":["web"]}"#), ["ta1", "ta2", "tb1", "tc3"], "by name, docker-py's form")
        XCTAssertEqual(list(#"{"service":["svc2"]}"#), ["td1"], "by id prefix")
        XCTAssertEqual(list(#"{"service":["web","db"]}"#).count, 5)
        XCTAssertEqual(list(#"{"node":["beta"]}"#), ["ta2"], "by hostname")
        XCTAssertEqual(list(#"{"node":{"node1aaaaaaaaaaaaaaaaaaaaa":true}}"#), ["ta1", "tb1"])
        XCTAssertEqual(list(#"{"desired-state":["running"],"service":["\#(web)"]}"#), ["ta1", "ta2", "tc3"])
        XCTAssertEqual(list(#"{"desired-state":{"shutdown":true}}"#), ["tb1"])
        XCTAssertEqual(list(#"{"desired-state":["Running","shutdown"]}"#).count, 5)
        XCTAssertEqual(list(#"{"desired-state":["accepted"]}"#), [])
        XCTAssertEqual(list(#"{"id":["ta"]}"#), ["ta1", "ta2"])
        XCTAssertEqual(list(#"{"name":["web.1."]}"#), ["ta1", "tb1"], "names are service.slot.id")
        XCTAssertEqual(list(#"{"name":["db.node3"]}"#), ["td1"], "global tasks use the node id")
        XCTAssertEqual(list(#"{"label":["tier=front"]}"#).count, 4, "labels are the service's")
        XCTAssertEqual(list(#"{"runtime":["container"]}"#).count, 5)
        _ = db

        let bogus = call("GET", filtered("/v1.41/tasks", #"{"bogus":{"x":true}}"#))
        XCTAssertEqual(bogus.status, 400)
        XCTAssertEqual(message(bogus), "Invalid filter 'bogus'")
        let unknownService = call("GET", filtered("/tasks", #"{"service":["nosuchservice"]}"#))
        XCTAssertEqual(unknownService.status, 404)
        XCTAssertEqual(message(unknownService), "service nosuchservice not found")
        XCTAssertEqual(call("GET", filtered("/tasks", #"{"node":["nosuchnode"]}"#)).status, 404)
        let badState = call("GET", filtered("/tasks", #"{"desired-state":["sleeping"]}"#))
        XCTAssertEqual(badState.status, 400)
        XCTAssertEqual(message(badState), "Invalid desired-state filter: 'sleeping'")
    }

    func testUpToDateFilterFollowsTheTaskTemplateThroughUpdateAndRollback() {
        let id = create("web")
        addTask("old1", service: id, slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa")
        let upToDate = filtered("/v1.41/tasks", #"{"_up-to-date":{"true":true},"service":{"\#(id)":true}}"#)
        XCTAssertEqual(ids(call("GET", upToDate)), ["old1"])

        var (version, spec) = inspectedSpec("web")
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)", body: spec.replacingOccurrences(of: #""Replicas":3"#, with: #""Replicas":4"#)).status, 200)
        XCTAssertEqual(ids(call("GET", upToDate)), ["old1"], "scaling keeps tasks up to date")

        (version, spec) = inspectedSpec("web")
        XCTAssertEqual(call("POST", "/services/web/update?version=\(version)", body: spec.replacingOccurrences(of: "localbusybox:1", with: "localbusybox:2")).status, 200)
        XCTAssertEqual(ids(call("GET", upToDate)), [], "the old task is dirty after an image change")
        addTask("new1", service: id, slot: 1, node: "node1aaaaaaaaaaaaaaaaaaaaa", desired: .ready, state: .pending)
        XCTAssertEqual(ids(call("GET", upToDate)), ["new1"])
        XCTAssertEqual(ids(call("GET", filtered("/tasks", #"{"service":["web"]}"#))), ["new1", "old1"])

        (version, spec) = inspectedSpec("web")
        XCTAssertEqual(call("POST", "/services/web/update?rollback=previous&version=\(version)", body: spec).status, 200)
        XCTAssertEqual(ids(call("GET", upToDate)), ["old1"], "after a rollback the earlier tasks are up to date again")
        XCTAssertEqual(ids(call("GET", filtered("/tasks", #"{"_up-to-date":["true"]}"#))), ["old1"])
    }

    // MARK: Info

    func testClusterSpecShowsDockerdsDefaultSections() {
        for spec in [jsonBody(call("GET", "/info"))["Swarm"]?["Cluster"]?["Spec"], jsonBody(call("GET", "/swarm"))["Spec"]] {
            // `docker info` prints "Expiry Duration: 3 months" from CAConfig (cli/05-info-swarm.md).
            XCTAssertEqual(spec?["CAConfig"]?.serializedText, #"{"NodeCertExpiry":7776000000000000}"#)
            XCTAssertEqual(spec?["TaskDefaults"]?.serializedText, "{}")
            XCTAssertEqual(spec?["EncryptionConfig"]?.serializedText, #"{"AutoLockManagers":false}"#)
            XCTAssertEqual(spec?["Raft"]?["SnapshotInterval"], .number("10000"))
            XCTAssertEqual(spec?["Name"], .string("default"))
        }
    }

    // MARK: Concurrency

    /// Eight clients interleave read-modify-write scale requests through the asynchronous control
    /// plane (completions held and released in a seeded order). Every update based on a stale
    /// read is refused, so the replica count ends at the initial count plus the successes.
    func testInterleavedReadModifyWriteUpdatesNeverLoseAnUpdate() {
        let id = create("web", replicas: 0)
        plane.held = []
        var generator = SplitMix64(seed: 7)
        var successes = 0
        var refusals = 0
        var remaining = Array(repeating: 10, count: 8)
        var inFlight = 0

        func startRound(_ client: Int) {
            guard remaining[client] > 0 else { return }
            remaining[client] -= 1
            inFlight += 1
            api.handle(HTTPRequest(method: "GET", target: "/services/web?insertDefaults=false")) { [self] read in
                let body = jsonBody(read)
                let version = body["Version"]?["Index"].flatMap { if case let .number(text) = $0 { text } else { nil } } ?? ""
                let replicas = body["Spec"]?["Mode"]?["Replicated"]?["Replicas"].flatMap { if case let .number(text) = $0 { Int(text) } else { nil } } ?? -1
                let spec = (body["Spec"]?.serializedText ?? "").replacingOccurrences(of: #""Replicas":\#(replicas)"#, with: #""Replicas":\#(replicas + 1)"#)
                api.handle(HTTPRequest(method: "POST", target: "/services/\(id)/update?version=\(version)", body: Array(spec.utf8))) { answer in
                    inFlight -= 1
                    switch answer.status {
                    case 200: successes += 1
                    case 500: refusals += 1
                        XCTAssertEqual(jsonBody(answer)["message"]?.stringValue, "rpc error: code = Unknown desc = update out of sequence")
                    default: XCTFail("unexpected answer \(answer.status) \(answer.bodyText)")
                    }
                    startRound(client)
                }
            }
        }
        for client in 0..<8 { startRound(client) }
        while !(plane.held ?? []).isEmpty {
            let index = Int(generator.next() % UInt64(plane.held!.count))
            plane.held!.remove(at: index)()
        }
        XCTAssertEqual(inFlight, 0)
        XCTAssertEqual(successes + refusals, 80)
        XCTAssertGreaterThan(successes, 0)
        XCTAssertGreaterThan(refusals, 0, "the seeded interleaving produces conflicts")
        XCTAssertEqual(service(id)?.spec.mode, .replicated(replicas: UInt64(successes)))
    }
}
