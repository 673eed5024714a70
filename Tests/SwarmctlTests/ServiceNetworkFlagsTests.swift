import ClusterState
import XCTest
@testable import swarmctl

/// `--network`, `--publish` (every form docker takes, and `policy=local`) and `--endpoint-mode`
/// build the spec docker would send; bad values are usage errors naming the flag.
final class ServiceNetworkFlagsTests: XCTestCase {
    private func spec(_ flags: [String], from start: ServiceSpec? = nil) throws -> ServiceSpec {
        var arguments = try CommandLineArguments(flags, switches: ServiceSpecFlags.switches)
        var spec = start ?? ServiceSpec(name: "", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")))
        try ServiceSpecFlags.apply(&arguments, to: &spec, creating: start == nil)
        try arguments.finish(command: "service create")
        return spec
    }

    func testPublishAndNetworkFormsFillTheSpec() throws {
        let built = try spec(["--network", "front", "--network", "name=back,alias=db,alias=store", "-p", "8080:80", "-p", "53/udp",
                              "--publish", "published=9090,target=90,protocol=udp,mode=host", "--publish", "published=443,target=8443,policy=local",
                              "--endpoint-mode", "vip"])
        XCTAssertEqual(built.taskTemplate.networks, [NetworkAttachmentConfig(target: "front"),
                                                     NetworkAttachmentConfig(target: "back", aliases: ["db", "store"])])
        XCTAssertEqual(built.endpointSpec, EndpointSpec(mode: "vip", ports: [
            PortConfig(protocol: "tcp", targetPort: 80, publishedPort: 8080, publishMode: "ingress"),
            PortConfig(protocol: "udp", targetPort: 53, publishMode: "ingress"),
            PortConfig(protocol: "udp", targetPort: 90, publishedPort: 9090, publishMode: "host"),
            PortConfig(protocol: "tcp", targetPort: 8443, publishedPort: 443, publishMode: "ingress", publishPolicy: "local"),
        ]))
    }

    func testUpdateAddsAndRemovesPortsAndNetworks() throws {
        let start = try spec(["--name", "web", "--network", "front", "-p", "8080:80", "-p", "9090:90/udp"])
        let updated = try spec(["--publish-rm", "80", "--publish-add", "8081:81", "--network-rm", "front", "--network-add", "back"], from: start)
        XCTAssertEqual(updated.taskTemplate.networks, [NetworkAttachmentConfig(target: "back")])
        XCTAssertEqual(updated.endpointSpec?.ports?.map(\.publishedPort), [9090, 8081])
        let cleared = try spec(["--publish-rm", "9090:90/udp", "--publish-rm", "81"], from: updated)
        XCTAssertNil(cleared.endpointSpec, "no ports and the default mode: no endpoint spec")
    }

    func testBadValuesAreUsageErrorsNamingTheFlag() {
        let cases: [([String], String)] = [
            (["-p", "127.0.0.1:8080:80"], "--publish 127.0.0.1:8080:80: binding to a host IP is not available"),
            (["-p", "8080:80/sctp"], "--publish 8080:80/sctp: protocol sctp: use tcp or udp"),
            (["-p", "70000:80"], "--publish 70000:80: 70000 is not a port number (1-65535)"),
            (["--publish", "published=80,mode=bridge,target=1"], "--publish published=80,mode=bridge,target=1: mode bridge: use ingress or host"),
            (["--publish", "published=80"], "--publish published=80: target=PORT is required"),
            (["--network", "name=a,driver-opt=x"], "--network name=a,driver-opt=x: unknown field driver-opt; use name and alias"),
            (["--endpoint-mode", "lb"], "--endpoint-mode lb: use vip or dnsrr"),
        ]
        for (flags, message) in cases {
            XCTAssertThrowsError(try spec(flags), "\(flags)") { error in
                XCTAssertTrue((error as? UsageError)?.message.hasPrefix(message) == true, "\(flags): \(error)")
            }
        }
        XCTAssertThrowsError(try spec(["--publish-rm", "80"], from: ServiceSpec(name: "w", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "b")))))
    }
}
