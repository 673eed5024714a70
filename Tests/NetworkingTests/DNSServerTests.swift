import Glibc
import Networking
import Platform
import XCTest
import SeededRandom

/// Service discovery answers from the plan, and the server over UDP and TCP on 127.0.0.1 with a
/// fake upstream (another server) for forwarded names: nothing leaves the machine.
final class DNSServerTests: XCTestCase {
    func testViewsAnswerServicesTasksAndNamesPerNetwork() {
        let views = DNSView.views(PlanFixtures.plan)
        let web = views["taskweb1"]!.entries, db = views["taskdb1"]!.entries
        XCTAssertEqual(web["web"], .init(addresses: [IPv4Address("10.0.1.2")!, IPv4Address("10.255.0.5")!], ttl: DNSView.virtualIPTTL))
        XCTAssertEqual(web["www"]?.addresses, [IPv4Address("10.0.1.2")!, IPv4Address("10.255.0.5")!])
        XCTAssertEqual(web["tasks.web"], .init(addresses: ["10.0.1.3", "10.0.1.4", "10.255.0.6", "10.255.0.7"].map { IPv4Address($0)! }, ttl: 0),
                       "only ready tasks, TTL 0")
        XCTAssertEqual(web["web.2.taskweb2"], .init(addresses: [IPv4Address("10.0.1.4")!, IPv4Address("10.255.0.7")!], ttl: 0), "on both shared networks")
        XCTAssertNil(web["web.3.taskweb3"], "a task that is not ready is not in DNS")
        XCTAssertNil(web["db"], "db is on another network")
        XCTAssertEqual(db["db"], .init(addresses: [IPv4Address("10.0.2.3")!, IPv4Address("10.0.2.4")!], ttl: 0), "dnsrr: every ready task")
        XCTAssertNil(db["web"])
    }

    func testResolverAnswersKnownNamesAndForwardsOthers() throws {
        let view = DNSView.views(PlanFixtures.plan)["taskdb1"]!
        let query = DNSMessage(id: 7, flags: DNSFlags(rawValue: 0x0100), questions: [DNSQuestion(name: ["DB"], type: DNSRecordType.a)])
        guard case let .respond(answer) = DNSResolver.decide(query, view: view, rotation: 1) else { return XCTFail("db is known") }
        XCTAssertEqual(answer.answers.map(\.data), [[10, 0, 2, 4], [10, 0, 2, 3]], "rotated, case-insensitive")
        XCTAssertEqual(answer.answers.map(\.ttl), [0, 0])
        var aaaa = query
        aaaa.questions[0].type = DNSRecordType.aaaa
        guard case let .respond(empty) = DNSResolver.decide(aaaa, view: view) else { return XCTFail("known name, no IPv6") }
        XCTAssertEqual(empty.flags.responseCode, .noError)
        XCTAssertEqual(empty.answers, [])
        var other = query
        other.questions[0].name = ["example", "org"]
        XCTAssertEqual(DNSResolver.decide(other, view: view), .forward)
    }

    func testNodeNameserversAreReadForForwarding() {
        let node = "# generated\nnameserver 10.1.1.1\nnameserver 10.1.1.2\nnameserver ::1\nsearch corp.example\noptions edns0\n"
        XCTAssertEqual(ResolverConfiguration.nameservers(node), [IPv4Address(10, 1, 1, 1), IPv4Address(10, 1, 1, 2)])
    }

    func testServesUDPAndTCPAndForwardsToUpstream() throws {
        let upstream = try DNSServer(upstreams: [])
        defer { upstream.stop() }
        let upstreamPort = try upstream.listen(id: "up", address: .loopback, port: 0,
                                               view: DNSView(entries: ["outside.test": .init(addresses: [IPv4Address(198, 51, 100, 7)], ttl: 300)]))
        let server = try DNSServer(upstreams: [DNSServer.Upstream(address: .loopback, port: upstreamPort)], timeoutMillis: 2_000)
        defer { server.stop() }
        let port = try server.listen(id: "task", address: .loopback, port: 0, view: DNSView.views(PlanFixtures.plan)["taskweb1"]!)

        let web = try DNSMessage.parse(try XCTUnwrap(DNSTestClient.udp(query("tasks.web"), port: port)))
        XCTAssertEqual(web.answers.count, 4)
        let viaTCP = try DNSMessage.parse(try XCTUnwrap(DNSTestClient.tcp(query("web"), port: port)))
        XCTAssertEqual(Set(viaTCP.answers.map(\.data)), [[10, 0, 1, 2], [10, 255, 0, 5]])
        let outside = try DNSMessage.parse(try XCTUnwrap(DNSTestClient.udp(query("outside.test"), port: port)))
        XCTAssertEqual(outside.answers.map(\.data), [[198, 51, 100, 7]], "forwarded to the upstream")
        let outsideTCP = try DNSMessage.parse(try XCTUnwrap(DNSTestClient.tcp(query("outside.test"), port: port)))
        XCTAssertEqual(outsideTCP.answers.map(\.data), [[198, 51, 100, 7]])
        XCTAssertEqual(server.forwarded, 2)
    }

    func testSilentUpstreamGivesServerFailureAfterTheTimeout() throws {
        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f000001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &length) } }
        let server = try DNSServer(upstreams: [DNSServer.Upstream(address: .loopback, port: UInt16(bigEndian: address.sin_port))], timeoutMillis: 300)
        defer { server.stop() }
        let port = try server.listen(id: "task", address: .loopback, port: 0, view: DNSView())
        let started = monotonicNanoseconds()
        let reply = try DNSMessage.parse(try XCTUnwrap(DNSTestClient.udp(query("nowhere.test"), port: port, timeoutMillis: 3_000)))
        XCTAssertEqual(reply.flags.responseCode, .serverFailure)
        XCTAssertGreaterThanOrEqual(monotonicNanoseconds() - started, 300_000_000)
    }

    func testMalformedDatagramsGetFormatErrorsAndTheServerKeepsServing() throws {
        let server = try DNSServer(upstreams: [])
        defer { server.stop() }
        let port = try server.listen(id: "task", address: .loopback, port: 0, view: DNSView.views(PlanFixtures.plan)["taskweb1"]!)
        var generator = SplitMix64(seed: 5)
        for _ in 0..<200 {
            let junk = (0..<Int(2 + generator.next() % 60)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = DNSTestClient.udp(junk, port: port, timeoutMillis: 50)
        }
        let answer = try DNSMessage.parse(try XCTUnwrap(DNSTestClient.udp(query("web"), port: port)))
        XCTAssertEqual(answer.answers.count, 2)
        XCTAssertGreaterThan(server.malformed, 0)
    }

    func query(_ name: String) -> [UInt8] {
        DNSMessage(id: 0x4242, flags: DNSFlags(rawValue: 0x0100), questions: [DNSQuestion(name: DNSName.labels(name), type: DNSRecordType.a)]).serialize()
    }
}

extension IPv4Address {
    static let loopback = IPv4Address(127, 0, 0, 1)
}

/// A blocking DNS client for tests.
enum DNSTestClient {
    static func udp(_ query: [UInt8], port: UInt16, address: IPv4Address = .loopback, timeoutMillis: Int = 3_000) -> [UInt8]? {
        let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutMillis / 1000, tv_usec: (timeoutMillis % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = address.value.bigEndian
        _ = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            sendto(descriptor, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? Array(buffer[0..<count]) : nil
    }

    static func tcp(_ query: [UInt8], port: UInt16, address: IPv4Address = .loopback) -> [UInt8]? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = address.value.bigEndian
        let connected = withUnsafePointer(to: &target) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        let framed = [UInt8(query.count >> 8), UInt8(query.count & 0xff)] + query
        guard send(descriptor, framed, framed.count, 0) == framed.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while response.count < 2 || response.count < 2 + (Int(response[0]) << 8 | Int(response[1])) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return nil }
            response += buffer[0..<count]
        }
        return Array(response[2...])
    }
}
