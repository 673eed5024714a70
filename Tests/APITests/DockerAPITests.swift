@testable import API
import ClusterState
import XCTest

final class DockerAPITests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!

    override func setUp() {
        plane = FakeControlPlane()
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
    }

    /// Sends a request straight to the router (no sockets) and returns its single answer.
    private func call(_ method: String, _ target: String, body: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: target, body: body.map { Array($0.utf8) } ?? [])) { answers.append($0) }
        XCTAssertEqual(answers.count, 1, "exactly one answer for \(method) \(target)", file: file, line: line)
        return answers.first ?? HTTPResponse(status: 0)
    }

    private func message(_ response: HTTPResponse) -> String? { jsonBody(response)["message"]?.stringValue }

    // MARK: Ping and version negotiation

    func testPingHeadersAndBody() {
        for target in ["/_ping", "/v1.41/_ping"] {
            let get = call("GET", target)
            XCTAssertEqual(get.status, 200)
            XCTAssertEqual(get.bodyText, "OK")
            XCTAssertEqual(get.headers["Api-Version"], "1.41")
            XCTAssertEqual(get.headers["Docker-Experimental"], "false")
            XCTAssertEqual(get.headers["OSType"], "linux")
            XCTAssertEqual(get.headers["Server"], "swarmctl/0.1.0 (linux)")
            XCTAssertEqual(get.headers["Cache-Control"], "no-cache, no-store, must-revalidate")
        }
        let head = call("HEAD", "/_ping")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.body, [])
        XCTAssertEqual(head.headers["Api-Version"], "1.41")
    }

    func testVersionPrefixNegotiation() {
        XCTAssertEqual(call("GET", "/v1.24/version").status, 200)
        XCTAssertEqual(call("GET", "/v1.12/version").status, 200)
        let tooNew = call("GET", "/v1.50/nodes")
        XCTAssertEqual(tooNew.status, 400)
        XCTAssertEqual(message(tooNew), "client version 1.50 is too new. Maximum supported API version is 1.41")
        let tooOld = call("GET", "/v1.11/nodes")
        XCTAssertEqual(tooOld.status, 400)
        XCTAssertEqual(tooOld.headers["Content-Type"], "text/plain; charset=utf-8")
        XCTAssertTrue(tooOld.bodyText.hasPrefix("client version 1.11 is too old. Minimum supported API version is 1.12"))
    }

    func testVersionBody() {
        let body = jsonBody(call("GET", "/version"))
        XCTAssertEqual(body["ApiVersion"], .string("1.41"))
        XCTAssertEqual(body["MinAPIVersion"], .string("1.12"))
        XCTAssertEqual(body["Version"], .string("0.1.0"))
        XCTAssertEqual(body["Os"], .string("linux"))
        XCTAssertEqual(body["Arch"], .string("amd64"))
        XCTAssertEqual(body["Platform"]?["Name"], .string("swarmctl"))
        XCTAssertEqual(body["Components"].flatMap { if case let .array(items) = $0 { items.first?["Name"] } else { nil } }, .string("Engine"))
    }

    func testUnknownRouteAndWrongMethod() {
        let unknown = call("GET", "/v1.41/nosuchendpoint")
        XCTAssertEqual(unknown.status, 404)
        XCTAssertEqual(message(unknown), "page not found")
        XCTAssertEqual(call("PUT", "/nodes").status, 405)
    }

    // MARK: Info

    func testInfoSwarmSectionOnAManager() {
        let body = jsonBody(call("GET", "/v1.41/info"))
        XCTAssertEqual(body["ID"], .string("node1aaaaaaaaaaaaaaaaaaaaa"))
        XCTAssertEqual(body["Name"], .string("alpha"))
        XCTAssertEqual(body["NCPU"], .number("2"))
        XCTAssertEqual(body["OSType"], .string("linux"))
        let swarm = try? XCTUnwrap(body["Swarm"])
        XCTAssertEqual(swarm?["NodeID"], .string("node1aaaaaaaaaaaaaaaaaaaaa"))
        XCTAssertEqual(swarm?["NodeAddr"], .string("127.0.0.1"))
        XCTAssertEqual(swarm?["LocalNodeState"], .string("active"))
        XCTAssertEqual(swarm?["ControlAvailable"], .bool(true))
        XCTAssertEqual(swarm?["Error"], .string(""))
        XCTAssertEqual(swarm?["RemoteManagers"]?.serializedText, #"[{"Addr":"127.0.0.1:4242","NodeID":"node1aaaaaaaaaaaaaaaaaaaaa"}]"#)
        XCTAssertEqual(swarm?["Nodes"], .number("3"))
        XCTAssertEqual(swarm?["Managers"], .number("1"))
        let cluster = swarm?["Cluster"]
        XCTAssertEqual(cluster?["ID"], .string("cluster0123456789abcdefgh"))
        XCTAssertEqual(cluster?["Version"]?["Index"], .number("1"))
        XCTAssertEqual(cluster?["CreatedAt"], .string("2023-11-14T22:13:20.000Z"))
        XCTAssertNotNil(cluster?["UpdatedAt"])
        XCTAssertEqual(cluster?["Spec"]?["Orchestration"]?["TaskHistoryRetentionLimit"], .number("5"))
        XCTAssertNil(cluster?["JoinTokens"], "info never shows join tokens")
        let raft = swarm?["Raft"]
        XCTAssertEqual(raft?["Leader"], .number("1"))
        XCTAssertEqual(raft?["LeaderNodeID"], .string("node1aaaaaaaaaaaaaaaaaaaaa"))
        XCTAssertEqual(raft?["Term"], .number("3"))
        XCTAssertEqual(raft?["CommitIndex"], .number("9"))
        XCTAssertEqual(raft?["AppliedIndex"], .number("9"))
    }

    func testInfoWithoutQuorumStillAnswersWithTheError() {
        plane.readFailure = .noQuorum
        let response = call("GET", "/info")
        XCTAssertEqual(response.status, 200)
        let swarm = jsonBody(response)["Swarm"]
        XCTAssertEqual(swarm?["ControlAvailable"], .bool(false))
        XCTAssertEqual(swarm?["Error"]?.stringValue, APIError.noQuorum.message)
        XCTAssertNil(swarm?["Cluster"])
    }

    func testInfoOnAWorkerHasNoClusterSection() {
        plane.local.role = .worker
        plane.local.raft = nil
        plane.local.knownManagers = [RemoteManager(nodeID: "m", addr: "192.0.2.1:4242")]
        let swarm = jsonBody(call("GET", "/info"))["Swarm"]
        XCTAssertEqual(swarm?["ControlAvailable"], .bool(false))
        XCTAssertEqual(swarm?["RemoteManagers"]?.serializedText, #"[{"Addr":"192.0.2.1:4242","NodeID":"m"}]"#)
        XCTAssertNil(swarm?["Cluster"])
        XCTAssertNil(swarm?["Nodes"])
    }

    // MARK: Swarm

    func testInspectSwarmIncludesJoinTokens() {
        let body = jsonBody(call("GET", "/v1.41/swarm"))
        XCTAssertEqual(body["ID"], .string("cluster0123456789abcdefgh"))
        XCTAssertEqual(body["JoinTokens"]?["Worker"], .string("SWMTKN-1-abc-worker"))
        XCTAssertEqual(body["JoinTokens"]?["Manager"], .string("SWMTKN-1-abc-manager"))
        XCTAssertEqual(body["Spec"]?["Raft"]?["ElectionTick"], .number("5"))
    }

    func testNotAManagerIs503WithDockersMessage() {
        plane.local.role = .worker
        for (method, target) in [("GET", "/swarm"), ("GET", "/nodes"), ("GET", "/nodes/x"), ("POST", "/swarm/update?version=1")] {
            let response = call(method, target)
            XCTAssertEqual(response.status, 503)
            XCTAssertEqual(message(response), APIError.notManager.message)
        }
    }

    func testNoQuorumIs503() {
        plane.readFailure = .noQuorum
        let response = call("GET", "/nodes")
        XCTAssertEqual(response.status, 503)
        XCTAssertEqual(message(response), APIError.noQuorum.message)
    }

    func testSwarmInitAndJoinSayAlreadyInASwarm() {
        for target in ["/v1.41/swarm/init", "/swarm/join"] {
            let response = call("POST", target, body: #"{"ListenAddr":"127.0.0.1:2377"}"#)
            XCTAssertEqual(response.status, 503)
            XCTAssertEqual(message(response), "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.")
        }
    }

    func testSwarmUpdateWithRotationsAndLowercaseKeys() {
        let version = plane.state.cluster!.version.index
        let response = call("POST", "/v1.41/swarm/update?version=\(version)&rotateWorkerToken=true&rotateManagerToken=False",
                            body: #"{"name":"default","orchestration":{"taskhistoryretentionlimit":7},"Raft":{"ElectionTick":0}}"#)
        XCTAssertEqual(response.status, 200, response.bodyText)
        XCTAssertEqual(response.body, [])
        XCTAssertEqual(plane.state.cluster?.spec.orchestration.taskHistoryRetentionLimit, 7)
        XCTAssertEqual(plane.state.cluster?.spec.raft.electionTick, 5, "zero ticks keep the current value")
        XCTAssertEqual(plane.state.cluster?.joinTokens.worker, "SWMTKN-1-abc-worker1")
        XCTAssertEqual(plane.state.cluster?.joinTokens.manager, "SWMTKN-1-abc-manager")
        XCTAssertEqual(plane.proposals.count, 2)
    }

    /// Raft settings come from each node's configuration: changing one through the API is refused
    /// naming it (it was recorded in the spec and ignored), and nothing is proposed.
    func testSwarmUpdateRefusesRaftSettingsTheNodesDoNotTakeFromTheSpec() {
        let version = plane.state.cluster!.version.index
        let response = call("POST", "/v1.41/swarm/update?version=\(version)", body: #"{"Name":"default","Raft":{"SnapshotInterval":500}}"#)
        XCTAssertEqual(response.status, 400, response.bodyText)
        XCTAssertTrue(message(response)?.contains("Raft.SnapshotInterval cannot be changed") ?? false, response.bodyText)
        XCTAssertTrue(plane.proposals.isEmpty)
    }

    /// Node certificates last at least an hour (as Docker); a manager run with chaos enabled (a
    /// test cluster) accepts down to a minute so renewal can be exercised; below that: refused.
    func testSwarmUpdateCertExpiryMinimumIsAnHourOrAMinuteOnATestCluster() {
        let version = plane.state.cluster!.version.index
        let short = call("POST", "/v1.41/swarm/update?version=\(version)", body: #"{"Name":"default","CAConfig":{"NodeCertExpiry":120000000000}}"#)
        XCTAssertEqual(short.status, 400, short.bodyText)
        XCTAssertTrue(message(short)?.contains("minimum certificate expiry time is 1h0m0s") ?? false, short.bodyText)
        XCTAssertTrue(plane.proposals.isEmpty)
        var spec = plane.state.cluster!.spec
        spec.caConfig = ClusterSpec.CAConfig(nodeCertExpiry: 120 * 1_000_000_000)
        XCTAssertNil(DockerAPI.validate(spec, testCluster: true), "2m on a test cluster")
        spec.caConfig = ClusterSpec.CAConfig(nodeCertExpiry: 30 * 1_000_000_000)
        XCTAssertEqual(DockerAPI.validate(spec, testCluster: true),
                       "minimum certificate expiry time is 1m0s on a test cluster (manager run with --enable-chaos)")
        let hour = call("POST", "/v1.41/swarm/update?version=\(version)", body: #"{"Name":"default","CAConfig":{"NodeCertExpiry":3600000000000}}"#)
        XCTAssertEqual(hour.status, 200, hour.bodyText)
    }

    func testSwarmUpdateStaleVersionAndBadInput() {
        let stale = call("POST", "/swarm/update?version=999", body: #"{"Name":"default"}"#)
        XCTAssertEqual(stale.status, 500)
        XCTAssertEqual(message(stale), "rpc error: code = Unknown desc = update out of sequence")
        let missing = call("POST", "/swarm/update", body: #"{"Name":"default"}"#)
        XCTAssertEqual(missing.status, 400)
        XCTAssertEqual(message(missing), "invalid swarm version '': strconv.ParseUint: parsing \"\": invalid syntax")
        let malformed = call("POST", "/swarm/update?version=1", body: #"{"Name":"#)
        XCTAssertEqual(malformed.status, 400)
        XCTAssertTrue(message(malformed)?.contains("malformed JSON") ?? false)
    }

    /// `docker swarm update --autolock=true` sends `EncryptionConfig.AutoLockManagers=true`: the
    /// flag and a new unlock key are proposed in one entry; `unlockkey` then shows the key;
    /// `rotateManagerUnlockKey` replaces it; `--autolock=false` clears both.
    func testSwarmUpdateTurnsAutoLockOnWithAKeyRotatesItAndTurnsItOff() {
        func update(_ body: String, query: String = "") -> HTTPResponse {
            call("POST", "/v1.41/swarm/update?version=\(plane.state.cluster!.version.index)\(query)", body: body)
        }
        func currentKey() -> String? { jsonBody(call("GET", "/v1.41/swarm/unlockkey"))["UnlockKey"]?.stringValue }
        XCTAssertEqual(currentKey(), "", "no key while autolock is off")
        let on = update(#"{"Name":"default","Orchestration":{"TaskHistoryRetentionLimit":9},"EncryptionConfig":{"AutoLockManagers":true}}"#)
        XCTAssertEqual(on.status, 200, on.bodyText)
        guard case let .setAutoLock(_, spec, key?, _)? = plane.proposals.last else { return XCTFail("\(plane.proposals)") }
        XCTAssertTrue(spec.autoLockManagers)
        XCTAssertEqual(spec.orchestration.taskHistoryRetentionLimit, 9, "the rest of the spec goes with it")
        XCTAssertTrue(key.hasPrefix("SWMKEY-1-") && key.count == 9 + 64, key)
        XCTAssertEqual(currentKey(), key)
        XCTAssertEqual(plane.state.cluster?.spec.autoLockManagers, true)

        // The docker CLI sends the full spec back: autolock still true is a plain update (same key).
        XCTAssertEqual(update(#"{"Name":"default","Labels":{"a":"b"},"EncryptionConfig":{"AutoLockManagers":true}}"#).status, 200)
        XCTAssertEqual(currentKey(), key)
        XCTAssertEqual(plane.state.cluster?.spec.labels, ["a": "b"])

        let rotated = update(#"{"Name":"default","EncryptionConfig":{"AutoLockManagers":true}}"#, query: "&rotateManagerUnlockKey=true")
        XCTAssertEqual(rotated.status, 200, rotated.bodyText)
        let newKey = currentKey()
        XCTAssertNotEqual(newKey, key)
        XCTAssertTrue(newKey?.hasPrefix("SWMKEY-1-") ?? false)

        let off = update(#"{"Name":"default","EncryptionConfig":{"AutoLockManagers":false}}"#)
        XCTAssertEqual(off.status, 200, off.bodyText)
        XCTAssertEqual(currentKey(), "")
        XCTAssertEqual(plane.state.cluster?.spec.autoLockManagers, false)
        let proposed = plane.proposals.count
        let refused = update(#"{"Name":"default"}"#, query: "&rotateManagerUnlockKey=true")
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(message(refused)?.contains("autolock is not enabled") ?? false, refused.bodyText)
        XCTAssertEqual(plane.proposals.count, proposed, "a refused rotation proposes nothing")
    }

    /// A plain spec update cannot switch autolock without its key (the state keeps them together).
    func testPlainSpecUpdateCannotChangeAutoLockWithoutAKey() {
        var spec = plane.state.cluster!.spec
        spec.encryptionConfig = ClusterSpec.EncryptionConfig(autoLockManagers: true)
        XCTAssertNoThrow(try plane.apply(.updateClusterSpec(version: plane.state.cluster!.version, spec: spec, at: Timestamp(millisecondsSinceEpoch: 1))).get())
        XCTAssertFalse(plane.state.cluster!.spec.autoLockManagers)
        XCTAssertNil(plane.state.managerUnlockKey)
        let mismatched = plane.apply(.setAutoLock(version: plane.state.cluster!.version, spec: spec, unlockKey: nil, at: Timestamp(millisecondsSinceEpoch: 2)))
        guard case .failure(.invalid)? = Optional(mismatched) else { return XCTFail("\(mismatched)") }
    }

    func testUnlockOnARunningNodeSaysNotLocked() {
        let unlock = call("POST", "/v1.41/swarm/unlock", body: #"{"UnlockKey":"SWMKEY-1-00"}"#)
        XCTAssertEqual(unlock.status, 503)
        XCTAssertEqual(message(unlock), "swarm is not locked!")
    }

    func testLeave() {
        let refused = call("POST", "/swarm/leave")
        XCTAssertEqual(refused.status, 503)
        XCTAssertEqual(message(refused), APIError.leaveManager.message)
        XCTAssertEqual(call("POST", "/v1.41/swarm/leave?force=1").status, 200)
        XCTAssertEqual(call("POST", "/swarm/leave?force=True").status, 200)
        XCTAssertEqual(plane.leaves, [false, true, true])
    }

    // MARK: Nodes

    private func nodeIDs(_ response: HTTPResponse) -> [String] {
        guard case let .array(items) = jsonBody(response) else { return [] }
        return items.compactMap { $0["ID"]?.stringValue }
    }

    func testListNodesWithManagerStatus() {
        let response = call("GET", "/v1.41/nodes")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(nodeIDs(response), ["node1aaaaaaaaaaaaaaaaaaaaa", "node2bbbbbbbbbbbbbbbbbbbbb", "node3ccccccccccccccccccccc"])
        guard case let .array(nodes) = jsonBody(response) else { return XCTFail("not an array") }
        XCTAssertEqual(nodes[0]["ManagerStatus"]?["Leader"], .bool(true))
        XCTAssertEqual(nodes[0]["ManagerStatus"]?["Reachability"], .string("reachable"))
        XCTAssertEqual(nodes[0]["ManagerStatus"]?["Addr"], .string("127.0.0.1:4242"))
        XCTAssertNil(nodes[1]["ManagerStatus"])
        XCTAssertEqual(nodes[1]["Spec"]?["Role"], .string("worker"))
        XCTAssertEqual(nodes[1]["Description"]?["Hostname"], .string("beta"))
        XCTAssertEqual(nodes[1]["Status"]?["State"], .string("ready"))
    }

    func testNodeFiltersInBothForms() {
        func ids(_ filters: String) -> [String] {
            nodeIDs(call("GET", "/nodes?filters=" + PercentEncoding.encode(filters)))
        }
        XCTAssertEqual(ids(#"{"role":{"manager":true}}"#), ["node1aaaaaaaaaaaaaaaaaaaaa"])
        XCTAssertEqual(ids(#"{"role": ["worker"]}"#), ["node2bbbbbbbbbbbbbbbbbbbbb", "node3ccccccccccccccccccccc"])
        XCTAssertEqual(ids(#"{"id":{"node2":true}}"#), ["node2bbbbbbbbbbbbbbbbbbbbb"])
        XCTAssertEqual(ids(#"{"name":["gam","alp"]}"#), ["node1aaaaaaaaaaaaaaaaaaaaa", "node3ccccccccccccccccccccc"])
        XCTAssertEqual(ids(#"{"node.label":["zone=west"]}"#), ["node3ccccccccccccccccccccc"])
        XCTAssertEqual(ids(#"{"node.label":["zone"],"role":["worker"]}"#), ["node2bbbbbbbbbbbbbbbbbbbbb", "node3ccccccccccccccccccccc"])
        XCTAssertEqual(ids(#"{"membership":["accepted"]}"#).count, 3)
        XCTAssertEqual(ids(#"{"label":["anything"]}"#), [])
        // docker-py's form: `+` for spaces in the query.
        XCTAssertEqual(nodeIDs(call("GET", "/nodes?filters=%7B%22role%22%3A+%5B%22manager%22%5D%7D")), ["node1aaaaaaaaaaaaaaaaaaaaa"])
        let bogus = call("GET", "/nodes?filters=" + PercentEncoding.encode(#"{"bogus":{"x":true}}"#))
        XCTAssertEqual(bogus.status, 400)
        XCTAssertEqual(message(bogus), "Invalid filter 'bogus'")
        XCTAssertEqual(call("GET", "/nodes?filters=" + PercentEncoding.encode(#"{"role":["boss"]}"#)).status, 400)
        XCTAssertEqual(call("GET", "/nodes?filters=not-json").status, 400)
    }

    func testInspectNodeByIDPrefixAndHostname() {
        for reference in ["node2bbbbbbbbbbbbbbbbbbbbb", "node2", "beta"] {
            XCTAssertEqual(jsonBody(call("GET", "/v1.41/nodes/\(reference)"))["ID"], .string("node2bbbbbbbbbbbbbbbbbbbbb"), reference)
        }
        let missing = call("GET", "/v1.41/nodes/nosuchnode")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(message(missing), "node nosuchnode not found")
        XCTAssertEqual(call("GET", "/nodes/node").status, 409, "an ambiguous prefix")
    }

    func testUpdateNodeAsTheCLIDoes() {
        let node = plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]!
        let response = call("POST", "/v1.41/nodes/beta/update?version=\(node.version.index)",
                            body: #"{"Labels":{"zone":"north"},"Role":"worker","Availability":"drain"}"#)
        XCTAssertEqual(response.status, 200, response.bodyText)
        XCTAssertEqual(response.body, [])
        XCTAssertNil(response.headers["Content-Type"])
        XCTAssertEqual(plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]?.spec, NodeSpec(labels: ["zone": "north"], role: .worker, availability: .drain))
        XCTAssertEqual(plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]?.updatedAt, Timestamp(millisecondsSinceEpoch: 1_800_000_000_000))
    }

    func testUpdateNodeWithStaleVersionIs500OutOfSequence() {
        let response = call("POST", "/v1.41/nodes/node1aaaaaaaaaaaaaaaaaaaaa/update?version=0", body: #"{"Role":"manager","Availability":"active"}"#)
        XCTAssertEqual(response.status, 500)
        XCTAssertEqual(message(response), "rpc error: code = Unknown desc = update out of sequence")
    }

    func testUpdateNodeBadInput() {
        let version = plane.state.nodes["node2bbbbbbbbbbbbbbbbbbbbb"]!.version.index
        let malformed = call("POST", "/nodes/beta/update?version=\(version)", body: #"{"Role": "worker", "#)
        XCTAssertEqual(malformed.status, 400)
        XCTAssertTrue(message(malformed)?.hasPrefix("invalid JSON in the request body: malformed JSON") ?? false, message(malformed) ?? "")
        XCTAssertEqual(call("POST", "/nodes/beta/update?version=\(version)", body: #"{"Role":"captain"}"#).status, 400)
        XCTAssertEqual(call("POST", "/nodes/beta/update?version=\(version)").status, 400, "empty body")
        let badVersion = call("POST", "/nodes/beta/update?version=abc", body: #"{"Role":"worker"}"#)
        XCTAssertEqual(message(badVersion), "invalid node version 'abc': strconv.ParseUint: parsing \"abc\": invalid syntax")
        XCTAssertEqual(call("POST", "/nodes/nosuchnode/update?version=1", body: #"{"Role":"worker","Availability":"active"}"#).status, 404)
    }

    func testDemotingTheLastManagerIsAFailedPrecondition() {
        let version = plane.state.nodes["node1aaaaaaaaaaaaaaaaaaaaa"]!.version.index
        let response = call("POST", "/nodes/alpha/update?version=\(version)", body: #"{"Role":"worker","Availability":"active"}"#)
        XCTAssertEqual(response.status, 400)
        XCTAssertEqual(message(response), "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm")
    }

    func testRemoveNode() {
        let manager = call("DELETE", "/v1.41/nodes/alpha")
        XCTAssertEqual(manager.status, 400)
        XCTAssertTrue(message(manager)?.contains("must be demoted to worker before removal") ?? false)
        XCTAssertEqual(call("DELETE", "/nodes/gamma").status, 400, "a live node needs force")
        XCTAssertEqual(call("DELETE", "/nodes/gamma?force=1").status, 200)
        XCTAssertNil(plane.state.nodes["node3ccccccccccccccccccccc"])
        XCTAssertEqual(call("DELETE", "/nodes/gamma?force=1").status, 404)
    }

    func testAsynchronousControlPlaneAnswersLater() {
        plane.held = []
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: "GET", target: "/nodes/beta")) { answers.append($0) }
        XCTAssertEqual(answers.count, 0, "no answer before the read completes")
        plane.held!.removeFirst()()
        XCTAssertEqual(answers.map(\.status), [200])
    }
}

extension JSONValue {
    var serializedText: String { String(decoding: serialized(), as: UTF8.self) }
}
