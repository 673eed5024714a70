@testable import API
import ClusterState
import Foundation
import XCTest

/// `/secrets` and `/configs` against the fake control plane, with the bodies the docker CLI and
/// docker-py send: a secret's data never comes back from any route, references resolve, removal
/// is refused while used, a revision rolls the services.
final class PayloadRoutesTests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!
    private var idCounter = 0
    private static let value = "s3cr3t-value-\(UInt32.random(in: 0..<UInt32.max))"

    override func setUp() {
        plane = FakeControlPlane()
        idCounter = 0
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) }, newID: { [unowned self] in
                            idCounter += 1
                            return "obj\(idCounter)" + String(repeating: "x", count: 22 - String(idCounter).count)
                        })
    }

    private func call(_ method: String, _ target: String, body: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: target, body: body.map { Array($0.utf8) } ?? [])) { answers.append($0) }
        XCTAssertEqual(answers.count, 1, "exactly one answer for \(method) \(target)", file: file, line: line)
        let answer = answers.first ?? HTTPResponse(status: 0)
        XCTAssertFalse(answer.bodyText.contains(Self.value), "\(method) \(target) returned the secret's data", file: file, line: line)
        XCTAssertFalse(answer.bodyText.contains(Self.base64(Self.value)), "\(method) \(target) returned the secret's data", file: file, line: line)
        return answer
    }

    private static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    private func message(_ response: HTTPResponse) -> String { jsonBody(response)["message"]?.stringValue ?? "" }

    /// What `docker secret create NAME -` sends.
    @discardableResult
    private func createSecret(_ name: String, _ data: String = PayloadRoutesTests.value, file: StaticString = #filePath, line: UInt = #line) -> String {
        let response = call("POST", "/v1.41/secrets/create",
                            body: #"{"Name":"\#(name)","Labels":{"team":"db"},"Data":"\#(Self.base64(data))"}"#, file: file, line: line)
        XCTAssertEqual(response.status, 201, response.bodyText, file: file, line: line)
        return jsonBody(response)["ID"]?.stringValue ?? ""
    }

    /// `docker service create --secret NAME busybox cat /run/secrets/NAME` after the CLI resolved the id.
    private func createService(_ name: String, secretID: String, secretName: String) -> HTTPResponse {
        call("POST", "/v1.41/services/create", body: #"""
        {"Name":"\#(name)","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["cat","/run/secrets/\#(secretName)"],
        "Secrets":[{"File":{"Name":"\#(secretName)","UID":"0","GID":"0","Mode":292},"SecretID":"\#(secretID)","SecretName":"\#(secretName)"}]}},
        "Mode":{"Replicated":{"Replicas":1}}}
        """#)
    }

    func testCreateInspectAndListNeverShowTheData() throws {
        let id = createSecret("db_pw")
        XCTAssertEqual(plane.state.secretObjects[id]?.spec.data, Array(Self.value.utf8))
        let inspected = call("GET", "/v1.41/secrets/db_pw")
        XCTAssertEqual(inspected.status, 200)
        XCTAssertEqual(jsonBody(inspected)["ID"]?.stringValue, id)
        XCTAssertEqual(jsonBody(inspected)["Spec"]?["Name"]?.stringValue, "db_pw")
        XCTAssertEqual(jsonBody(inspected)["Spec"]?["Labels"]?["team"]?.stringValue, "db")
        XCTAssertNil(jsonBody(inspected)["Spec"]?["Data"], "no Data key at all")
        XCTAssertEqual(call("GET", "/v1.41/secrets/\(id.prefix(5))").status, 200, "an id prefix resolves")
        createSecret("api_key", "other")
        let listing = call("GET", "/v1.41/secrets")
        guard case let .array(items) = jsonBody(listing) else { return XCTFail(listing.bodyText) }
        XCTAssertEqual(items.compactMap { $0["Spec"]?["Name"]?.stringValue }, ["api_key", "db_pw"])
        XCTAssertEqual(call("GET", "/v1.41/secrets/nope").status, 404)
        XCTAssertEqual(call("POST", "/v1.41/secrets/create", body: #"{"Name":"db_pw","Data":"eA=="}"#).status, 409)
    }

    func testListFiltersByNameIdAndLabel() {
        let first = createSecret("db_pw")
        call("POST", "/v1.41/secrets/create", body: #"{"Name":"db_user","Labels":{"env":"prod"},"Data":"eA=="}"#)
        func names(_ filters: String) -> [String] {
            guard case let .array(items) = jsonBody(call("GET", "/v1.41/secrets?filters=" + PercentEncoding.encode(filters))) else { return [] }
            return items.compactMap { $0["Spec"]?["Name"]?.stringValue }
        }
        XCTAssertEqual(names(#"{"name":{"db":true}}"#), ["db_pw", "db_user"], "name is a prefix, as in dockerd")
        XCTAssertEqual(names(#"{"names":["db_pw"]}"#), ["db_pw"])
        XCTAssertEqual(names(#"{"id":["\#(first.prefix(5))"]}"#), ["db_pw"])
        XCTAssertEqual(names(#"{"label":["env=prod"]}"#), ["db_user"])
        XCTAssertEqual(names(#"{"label":["team"]}"#), ["db_pw"])
        XCTAssertEqual(call("GET", "/v1.41/secrets?filters=" + PercentEncoding.encode(#"{"driver":["x"]}"#)).status, 400)
    }

    func testBadBodiesAreRefusedNaming() {
        XCTAssertEqual(call("POST", "/v1.41/secrets/create", body: #"{"Name":"x"}"#).status, 400, "no data")
        XCTAssertTrue(message(call("POST", "/v1.41/secrets/create", body: #"{"Name":"x","Data":"!!"}"#)).contains("base64"))
        let driver = call("POST", "/v1.41/secrets/create", body: #"{"Name":"x","Data":"eA==","Driver":{"Name":"vault"}}"#)
        XCTAssertEqual(driver.status, 400)
        XCTAssertTrue(message(driver).contains("unsupported field Driver"), message(driver))
        let big = String(repeating: "A", count: 700_000)
        XCTAssertTrue(message(call("POST", "/v1.41/secrets/create", body: #"{"Name":"x","Data":"\#(big)"}"#)).contains("500 KiB"))
    }

    func testUpdateChangesOnlyLabels() throws {
        let id = createSecret("db_pw")
        let version = plane.state.secretObjects[id]!.version.index
        let relabel = call("POST", "/v1.41/secrets/\(id)/update?version=\(version)", body: #"{"Name":"db_pw","Labels":{"a":"b"}}"#)
        XCTAssertEqual(relabel.status, 200, relabel.bodyText)
        XCTAssertEqual(plane.state.secretObjects[id]?.spec.labels, ["a": "b"])
        let newVersion = plane.state.secretObjects[id]!.version.index
        let data = call("POST", "/v1.41/secrets/\(id)/update?version=\(newVersion)", body: #"{"Name":"db_pw","Data":"\#(Self.base64("x"))"}"#)
        XCTAssertEqual(data.status, 400)
        XCTAssertTrue(message(data).contains("only updates to Labels are allowed"), message(data))
        XCTAssertEqual(plane.state.secretObjects[id]?.spec.data, Array(Self.value.utf8))
    }

    func testAServiceReferencingAnUnknownSecretIsRefusedAndAKnownOneResolves() throws {
        let unknown = createService("web", secretID: "", secretName: "ghost")
        XCTAssertEqual(unknown.status, 400)
        XCTAssertTrue(message(unknown).contains("secret not found: ghost"), message(unknown))
        let id = createSecret("db_pw")
        // docker-py may send the id only, our CLI the name only: both resolve.
        XCTAssertEqual(createService("by-name", secretID: "", secretName: "db_pw").status, 201)
        let byName = try XCTUnwrap(plane.state.service(named: "by-name"))
        XCTAssertEqual(byName.spec.taskTemplate.containerSpec.secrets?.first?.secretID, id)
        let inspected = call("GET", "/v1.41/services/by-name")
        guard case let .array(references)? = jsonBody(inspected)["Spec"]?["TaskTemplate"]?["ContainerSpec"]?["Secrets"] else {
            return XCTFail("no Secrets in \(inspected.bodyText)")
        }
        XCTAssertEqual(references.first?["SecretName"]?.stringValue, "db_pw")
        XCTAssertEqual(references.first?["SecretID"]?.stringValue, id)
        let update = call("POST", "/v1.41/services/\(byName.id)/update?version=\(byName.version.index)", body: #"""
        {"Name":"by-name","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Secrets":[{"SecretID":"nope","SecretName":"ghost"}]}},"Mode":{"Replicated":{"Replicas":1}}}
        """#)
        XCTAssertEqual(update.status, 400, "an update adding an unknown secret is refused too")
    }

    func testRemoveIsRefusedWhileUsedNamingTheServicesThenSucceeds() throws {
        let id = createSecret("db_pw")
        XCTAssertEqual(createService("api", secretID: id, secretName: "db_pw").status, 201)
        let refused = call("DELETE", "/v1.41/secrets/db_pw")
        XCTAssertEqual(refused.status, 400)
        XCTAssertTrue(message(refused).contains("in use by the following service: api"), message(refused))
        XCTAssertEqual(call("DELETE", "/v1.41/services/api").status, 200)
        XCTAssertEqual(call("DELETE", "/v1.41/secrets/db_pw").status, 204)
        XCTAssertTrue(plane.state.secretObjects.isEmpty)
    }

    func testARevisionKeepsTheNameAndMovesTheServices() throws {
        let first = createSecret("db_pw", "v1")
        XCTAssertEqual(createService("api", secretID: first, secretName: "db_pw").status, 201)
        let revised = call("POST", "/v1.41/secrets/db_pw/revisions", body: #"{"Data":"\#(Self.base64(Self.value))"}"#)
        XCTAssertEqual(revised.status, 201, revised.bodyText)
        let second = try XCTUnwrap(jsonBody(revised)["ID"]?.stringValue)
        XCTAssertEqual(jsonBody(revised)["Revision"], .number("2"))
        XCTAssertEqual(jsonBody(call("GET", "/v1.41/secrets/db_pw"))["ID"]?.stringValue, second)
        XCTAssertEqual(jsonBody(call("GET", "/v1.41/secrets/db_pw"))["Revision"], .number("2"))
        XCTAssertEqual(plane.state.service(named: "api")?.spec.taskTemplate.containerSpec.secrets?.first?.secretID, second)
        XCTAssertEqual(call("POST", "/v1.41/configs/x/revisions", body: #"{"Data":"eA=="}"#).status, 405, "configs have no revisions")
    }

    func testConfigsShowTheirDataAndMayTargetAnyPath() throws {
        let created = call("POST", "/v1.41/configs/create", body: #"{"Name":"app.conf","Data":"\#(Self.base64("listen 80"))"}"#)
        XCTAssertEqual(created.status, 201)
        let inspected = call("GET", "/v1.41/configs/app.conf")
        XCTAssertEqual(jsonBody(inspected)["Spec"]?["Data"]?.stringValue, Self.base64("listen 80"))
        let service = call("POST", "/v1.41/services/create", body: #"""
        {"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Configs":[{"File":{"Name":"/etc/app.conf","UID":"0","GID":"0","Mode":292},"ConfigName":"app.conf"}]}}}
        """#)
        XCTAssertEqual(service.status, 201, service.bodyText)
        XCTAssertEqual(plane.state.service(named: "web")?.spec.taskTemplate.containerSpec.payloadReferences.map(\.target), ["/etc/app.conf"])
    }
}
