@testable import SwarmNode
import ClusterState
import Executor
import Glibc
import XCTest

/// The task's container spec reaches the executor: here the stop signal (`--stop-signal`).
final class TaskSpecMappingTests: XCTestCase {
    private func task(stopSignal: String?) -> SwarmTask {
        SwarmTask(id: "t1", createdAt: Timestamp(millisecondsSinceEpoch: 0), serviceID: "s1", slot: 1, nodeID: "n1",
                  spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", args: ["sleep", "1"], stopSignal: stopSignal)),
                  status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 0), state: .assigned, message: ""))
    }

    func testTheStopSignalIsMappedAndDefaultsToTerm() {
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: "SIGINT"), nodeDirectory: "/tmp").stopSignal, SIGINT)
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: "KILL"), nodeDirectory: "/tmp").stopSignal, SIGKILL)
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: nil), nodeDirectory: "/tmp").stopSignal, SIGTERM)
        XCTAssertEqual(TaskSpecMapping.spec(for: task(stopSignal: ""), nodeDirectory: "/tmp").stopSignal, SIGTERM)
    }

    func testContainerSettingsReachTheExecutorAndNothingOfSwarmctlsIsInTheEnvironment() {
        var container = ContainerSpec(image: "busybox", args: ["true"], env: ["A=1"])
        container.mounts = [Mount(type: "bind", source: "/srv", target: "/data", readOnly: true, bindOptions: Mount.BindOptions(propagation: "rslave")),
                            Mount(type: "volume", source: "v1", target: "/v", volumeOptions: Mount.VolumeOptions(noCopy: true)),
                            Mount(type: "tmpfs", target: "/t", tmpfsOptions: Mount.TmpfsOptions(sizeBytes: 4096, mode: 0o700))]
        container.readOnly = true
        container.capabilityAdd = ["net_admin"]
        container.capabilityDrop = ["ALL"]
        container.ulimits = [Ulimit(name: "nofile", soft: 512, hard: 1024)]
        container.sysctls = ["kernel.shmmni": "1"]
        container.dnsConfig = DNSConfig(nameservers: ["10.0.0.53"])
        container.hosts = ["10.0.0.7 db"]
        container.groups = ["audio"]
        container.privileges = Privileges(seccomp: Privileges.Seccomp(mode: "unconfined"))
        var task = task(stopSignal: nil)
        task.spec.containerSpec = container
        let spec = TaskSpecMapping.spec(for: task, nodeDirectory: "/data/node")
        XCTAssertEqual(spec.environment, ["A=1"], "no SWARMCTL_* variables (docker sets none)")
        var volume = TaskMount(kind: .volume, source: "v1", target: "/v")
        volume.noCopy = true
        XCTAssertEqual(spec.mounts, [TaskMount(kind: .bind, source: "/srv", target: "/data", readOnly: true, propagation: .rslave), volume,
                                     TaskMount(kind: .tmpfs, target: "/t", tmpfsSizeBytes: 4096, tmpfsMode: 0o700)])
        XCTAssertTrue(spec.readOnlyRootfs)
        XCTAssertEqual(spec.capabilityAdd, ["CAP_NET_ADMIN"])
        XCTAssertEqual(spec.capabilityDrop, ["ALL"])
        XCTAssertEqual(spec.ulimits, [TaskUlimit(name: "nofile", soft: 512, hard: 1024)])
        XCTAssertEqual(spec.sysctls, ["kernel.shmmni": "1"])
        XCTAssertEqual(spec.dns, TaskDNS(nameservers: ["10.0.0.53"]))
        XCTAssertEqual(spec.extraHosts, ["10.0.0.7 db"])
        XCTAssertEqual(spec.groups, ["audio"])
        XCTAssertEqual(spec.seccomp, .unconfined)
        let plain = TaskSpecMapping.spec(for: self.task(stopSignal: nil), nodeDirectory: "/data/node")
        XCTAssertEqual(plain.seccomp, .default)
        XCTAssertNil(plain.dns)
        XCTAssertEqual(plain.containerOnlySettings, [], "a plain task runs on the process executor too")
    }
}
