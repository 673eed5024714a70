import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// A task with network attachments runs in the namespace the node's plumbing prepared (joined by
/// path), with /etc/resolv.conf pointing at the node's DNS server. Needs root, runc and ip.
final class OCINetworkNamespaceTests: OCITestCase {
    func testContainerJoinsThePreparedNamespaceByPath() throws {
        let name = "ocins\(randomContainerHex().prefix(8))"
        guard (try? HostCommand.run(["ip", "netns", "add", name]))?.succeeded == true else {
            throw XCTSkip("ip netns add failed: needs iproute2 and root")
        }
        defer { _ = try? HostCommand.run(["ip", "netns", "del", name]) }
        var info = stat()
        XCTAssertEqual(stat("/run/netns/\(name)", &info), 0)
        let id = try run(containerShell("readlink /proc/self/ns/net; cat /etc/resolv.conf", rootfs: rootfs) {
            $0.networkNamespacePath = "/run/netns/\(name)"
        })
        let exit = try executor.wait(id, timeoutMillis: 20_000)
        let errors = try output(id, .stderr)
        XCTAssertEqual(exit, .exited(code: 0), errors)
        let lines = try output(id).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "net:[\(info.st_ino)]", "the container's network namespace is the prepared one")
        XCTAssertEqual(lines.dropFirst().first, "nameserver 127.0.0.11")
        XCTAssertEqual(lines.last, "options ndots:0")
        try executor.remove(id)
    }
}
