import Foundation
import Glibc
import Platform
import XCTest

/// The swarmctl process of a worker restarts (SIGTERM, then kill -9) while its OCI containers
/// run: the restarted agent re-adopts them. Every container keeps its pid, no task is replaced,
/// `service logs` goes on without a gap, and health checks go on (the probes the restarted node
/// runs are counted inside the container). Skipped without root, runc or a static busybox.
final class ReadoptionEndToEndTests: XCTestCase {
    private var cluster: TestCluster!

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw XCTSkip("the OCI executor needs root") }
        guard ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"].contains(where: FileSystem.exists) else {
            throw XCTSkip("the OCI executor needs runc: apt-get install -y runc")
        }
        guard FileSystem.exists("/bin/busybox") else { throw XCTSkip("needs a static busybox: apt-get install -y busybox-static") }
        cluster = try TestCluster()
        cluster.nodeFlags = ["--raft-tick", "50ms", "--executor", "oci"]
        let rootfs = cluster.directory + "/rootfs"
        try shell("mkdir -p '\(rootfs)/bin' '\(rootfs)/etc' '\(rootfs)/tmp' && cp /bin/busybox '\(rootfs)/bin/' && "
            + "for a in $(/bin/busybox --list); do [ $a = busybox ] || ln -s busybox '\(rootfs)/bin/'$a; done && "
            + "printf 'root:x:0:0::/:/bin/sh\\n' > '\(rootfs)/etc/passwd' && printf 'root:x:0:\\n' > '\(rootfs)/etc/group'")
        for node in ["m1", "w1"] {
            let imported = try cluster.runOnce(["image", "import", "bb:1", rootfs, "--data-dir", cluster.directory + "/" + node])
            XCTAssertEqual(imported.status, 0, imported.output)
        }
        try ReadoptionScenario.start(cluster)
    }

    override func tearDown() {
        guard let cluster else { return }
        for node in ["m1", "w1"] { cluster.kill(node) }
        for node in ["m1", "w1"] {
            let state = cluster.directory + "/\(node)/runc"
            try? shell("for id in $(runc --root '\(state)' list -q); do runc --root '\(state)' delete --force $id; done")
        }
        try? shell("grep '\(cluster.directory)' /proc/self/mountinfo | cut -d' ' -f5 | sort -r | xargs -r -n1 umount -l")
        cluster.tearDown()
    }

    private func shell(_ script: String) throws {
        let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", "{ \(script); } >/dev/null 2>&1"])
        XCTAssertEqual(try process.wait().exitCode, 0, script)
    }

    /// Health probes run so far in each container (the probe appends to a file in its /tmp,
    /// which is the overlay's upper directory on the worker).
    private func probes() -> Int {
        let containers = cluster.directory + "/w1/containers"
        return ((try? FileSystem.list(containers)) ?? []).reduce(0) { total, id in
            let text = (try? String(contentsOfFile: "\(containers)/\(id)/bundle/upper/tmp/probes", encoding: .utf8)) ?? ""
            return total + text.split(separator: "\n").count
        }
    }

    func testRestartedWorkerReadoptsItsContainersAfterSIGTERMAndKill9() throws {
        let scenario = ReadoptionScenario(cluster: cluster, probes: probes)
        let before = try scenario.createTicker(replicas: 2, healthCommand: "echo probe >> /tmp/probes", image: "bb:1", ticker: "$(hostname)")
        try scenario.restartTwice(keeping: before)
        try scenario.leaveStops(before.values.map(\.pid))
    }
}
