@testable import API
import ClusterState
import Platform
import XCTest

/// The `/networks` routes against a fake control plane: create (refusing what is not
/// implemented, naming it), list with filters, inspect, remove (refused while in use), and the
/// network fields of services and tasks.
final class NetworkRoutesTests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!
    private var idCounter = 0

    override func setUp() {
        plane = FakeControlPlane()
        idCounter = 0
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) }, newID: { [unowned self] in
                            idCounter += 1
                            return "net\(idCounter)" + String(repeating: "x", count: 22 - String(idCounter).count)
                        })
    }

    private func call(_ method: String, _ target: String, body: String? = nil) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: method, target: target, body: body.map { Array($0.utf8) } ?? [])) { answers.append($0) }
        XCTAssertEqual(answers.count, 1)
        return answers.first ?? HTTPResponse(status: 0)
    }

    private func message(_ response: HTTPResponse) -> String { jsonBody(response)["message"]?.stringValue ?? "" }

    private func names(_ response: HTTPResponse) -> [String] {
        guard case let .array(items) = jsonBody(response) else { return [] }
        return items.compactMap { $0["Name"]?.stringValue }
    }

    /// What the docker CLI 28 sends for `docker network create -d overlay …`.
    private func cliBody(_ name: String, driver: String = "overlay", extra: String = "") -> String {
        #"{"Name":"\#(name)","CheckDuplicate":true,"Driver":"\#(driver)","Scope":"","EnableIPv6":null,"IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{"team":"a"}\#(extra)}"#
    }

    func testCreateInspectListAndRemove() {
        let created = call("POST", "/v1.41/networks/create", body: cliBody("front"))
        XCTAssertEqual(created.status, 201, created.bodyText)
        XCTAssertEqual(jsonBody(created)["Id"]?.stringValue, "net1xxxxxxxxxxxxxxxxxxxxx")
        let inspected = jsonBody(call("GET", "/v1.41/networks/front"))
        XCTAssertEqual(inspected["Driver"]?.stringValue, "overlay")
        XCTAssertEqual(inspected["Scope"]?.stringValue, "swarm")
        XCTAssertEqual(inspected["IPAM"]?["Config"]?.serializedText, #"[{"Gateway":"10.0.1.1","Subnet":"10.0.1.0/24"}]"#)
        XCTAssertEqual(inspected["Options"]?.serializedText, #"{"com.docker.network.driver.overlay.vxlanid_list":"4097"}"#)
        XCTAssertEqual(inspected["Labels"]?.serializedText, #"{"team":"a"}"#)
        XCTAssertEqual(names(call("GET", "/networks")), ["front", "ingress"])
        XCTAssertEqual(names(call("GET", "/networks?filters=" + PercentEncoding.encode(#"{"label":{"team=a":true}}"#))), ["front"])
        XCTAssertEqual(names(call("GET", "/networks?filters=" + PercentEncoding.encode(#"{"type":{"builtin":true}}"#))), ["ingress"])
        XCTAssertEqual(names(call("GET", "/networks?filters=" + PercentEncoding.encode(#"{"name":{"fro":true}}"#))), ["front"])
        XCTAssertEqual(call("GET", "/networks?filters=" + PercentEncoding.encode(#"{"colour":{"red":true}}"#)).status, 400)

        let conflict = call("POST", "/networks/create", body: cliBody("front"))
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(message(conflict), "network with name front already exists")
        XCTAssertEqual(call("DELETE", "/networks/front").status, 204)
        XCTAssertEqual(call("GET", "/networks/front").status, 404)
    }

    func testUnimplementedSettingsAreRefusedNamingThem() {
        let cases: [(String, String)] = [
            (cliBody("b", driver: "bridge"), "network driver bridge is not available"),
            (cliBody("m", driver: "macvlan"), "network driver macvlan is not available"),
            (cliBody("v6").replacingOccurrences(of: #""EnableIPv6":null"#, with: #""EnableIPv6":true"#), "IPv6 networks are not implemented"),
            (cliBody("i").replacingOccurrences(of: #""Internal":false"#, with: #""Internal":true"#), "internal networks are not implemented"),
            (cliBody("e").replacingOccurrences(of: #""Options":{}"#, with: #""Options":{"encrypted":""}"#), "network driver option encrypted"),
            (cliBody("r").replacingOccurrences(of: #""Config":[]"#, with: #""Config":[{"Subnet":"10.5.0.0/16","IPRange":"10.5.1.0/24"}]"#),
             "IPAM ranges are not implemented"),
            (cliBody("g").replacingOccurrences(of: #""Config":[]"#, with: #""Config":[{"Subnet":"10.5.0.0/16","Gateway":"10.6.0.1"}]"#),
             "gateway 10.6.0.1 is not a host address of subnet 10.5.0.0/16"),
            (cliBody("bad name"), "invalid network name bad name"),
        ]
        for (body, expected) in cases {
            let response = call("POST", "/networks/create", body: body)
            XCTAssertEqual(response.status, 400, body)
            XCTAssertTrue(message(response).contains(expected), "\(expected): \(message(response))")
        }
        XCTAssertEqual(plane.state.networking.networks.count, 1, "only ingress")
        let host = call("GET", "/networks/host?scope=swarm")
        XCTAssertEqual(host.status, 404)
        XCTAssertTrue(message(host).contains("this cluster has overlay networks only"), message(host))
    }

    func testServicesAndTasksShowTheirNetworksAsDockerd() throws {
        XCTAssertEqual(call("POST", "/networks/create", body: cliBody("front")).status, 201)
        let create = #"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Networks":[{"Target":"front","Aliases":["www"]}]},"EndpointSpec":{"Mode":"vip","Ports":[{"TargetPort":80,"PublishedPort":8080}]}}"#
        let created = call("POST", "/services/create", body: create)
        XCTAssertEqual(created.status, 201, created.bodyText)
        let service = try XCTUnwrap(plane.state.service(named: "web"))
        plane.apply(.createTasks(tasks: [SwarmTask(id: "task1", createdAt: service.createdAt, serviceID: service.id, slot: 1,
                                                   spec: service.spec.taskTemplate, status: TaskStatus(timestamp: service.createdAt, state: .new, message: ""))]))
        let endpoint = jsonBody(call("GET", "/services/web"))["Endpoint"]
        XCTAssertEqual(endpoint?["Ports"]?.serializedText, #"[{"Protocol":"tcp","PublishMode":"ingress","PublishedPort":8080,"TargetPort":80}]"#)
        XCTAssertEqual(endpoint?["VirtualIPs"]?.serializedText,
                       #"[{"Addr":"10.0.0.5/24","NetworkID":"\#(plane.state.networking.ingressNetwork!.id)"},{"Addr":"10.0.1.2/24","NetworkID":"net1xxxxxxxxxxxxxxxxxxxxx"}]"#)
        let attachments = jsonBody(call("GET", "/tasks/task1"))["NetworksAttachments"]
        guard case let .array(items)? = attachments else { return XCTFail("no NetworksAttachments") }
        XCTAssertEqual(items.map { $0["Network"]?["Spec"]?["Name"]?.stringValue }, ["ingress", "front"])
        XCTAssertEqual(items.last?["Network"]?["IPAMOptions"]?["Configs"]?.serializedText, #"[{"Gateway":"10.0.1.1","Subnet":"10.0.1.0/24"}]"#)
        XCTAssertEqual(items.last?["Network"]?["DriverState"]?["Options"]?.serializedText, #"{"com.docker.network.driver.overlay.vxlanid_list":"4097"}"#)
        XCTAssertEqual(items.map { $0["Addresses"]?.serializedText }, [#"["10.0.0.6/24"]"#, #"["10.0.1.3/24"]"#])

        let inUse = call("DELETE", "/networks/front")
        XCTAssertEqual(inUse.status, 400)
        XCTAssertEqual(message(inUse), "rpc error: code = FailedPrecondition desc = network front is in use by service web: "
                       + "remove the service or detach it (docker service update --network-rm front)")
    }

    /// A service with host-mode ports and no network: its tasks join ingress inside swarmctl (a
    /// namespace behind the gateway bridge, as dockerd's docker_gwbridge), but like dockerd's the
    /// service shows no VirtualIPs; publishing an ingress port gives it one, dropping it takes it.
    func testAHostModeOnlyServiceShowsNoVirtualIPAsDockerd() throws {
        let create = #"{"Name":"echo","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":8081,"PublishMode":"host"}]}}"#
        XCTAssertEqual(call("POST", "/services/create", body: create).status, 201)
        var endpoint = jsonBody(call("GET", "/services/echo"))["Endpoint"]
        XCTAssertEqual(endpoint?["Ports"]?.serializedText, #"[{"Protocol":"tcp","PublishMode":"host","PublishedPort":8081,"TargetPort":80}]"#)
        XCTAssertNil(endpoint?["VirtualIPs"], "\(endpoint?.serializedText ?? "")")

        let service = try XCTUnwrap(plane.state.service(named: "echo"))
        var spec = service.spec
        spec.endpointSpec?.ports?.append(PortConfig(targetPort: 81, publishedPort: 8082, publishMode: "ingress"))
        XCTAssertNoThrow(try plane.apply(.updateService(id: service.id, version: service.version, spec: spec, at: service.createdAt)).get())
        endpoint = jsonBody(call("GET", "/services/echo"))["Endpoint"]
        let ingressID = plane.state.networking.ingressNetwork!.id
        XCTAssertEqual(endpoint?["VirtualIPs"]?.serializedText, #"[{"Addr":"10.0.0.5/24","NetworkID":"\#(ingressID)"}]"#)

        let updated = try XCTUnwrap(plane.state.service(named: "echo"))
        XCTAssertNoThrow(try plane.apply(.updateService(id: updated.id, version: updated.version, spec: service.spec, at: service.createdAt)).get())
        XCTAssertNil(jsonBody(call("GET", "/services/echo"))["Endpoint"]?["VirtualIPs"])
        XCTAssertNil(plane.state.networking.pools[ingressID]?.address(of: "vip:\(service.id)"), "the ingress VIP went back to the pool")
    }
}
