import Foundation
import XCTest

@testable import Executor

/// The bundle's config.json as a pure function of the task (no root needed).
final class OCIConfigTests: XCTestCase {
    private func make(_ change: (inout TaskSpec) -> Void = { _ in }) -> OCIConfig {
        var spec = TaskSpec(command: ["sh"])
        change(&spec)
        return OCIConfig.make(spec: spec, args: spec.command, environment: ["A=1"],
                              user: OCIConfig.User(uid: 0, gid: 0, additionalGids: nil), rootfs: "/r",
                              hostname: "h", cgroupsPath: "/swarmctl/x")
    }

    func testNamespacesHostNetworkByDefault() {
        XCTAssertEqual(make().linux.namespaces.map(\.type), ["pid", "ipc", "uts", "mount"])
        XCTAssertEqual(make { $0.network = .none }.linux.namespaces.map(\.type), ["pid", "ipc", "uts", "mount", "network"])
    }

    func testTaskWithAttachmentsJoinsItsPreparedNetworkNamespaceByPath() throws {
        let config = make { $0.networkNamespacePath = "/run/netns/sw-t-abc" }
        XCTAssertEqual(config.linux.namespaces.last, OCIConfig.Namespace(type: "network", path: "/run/netns/sw-t-abc"))
        XCTAssertEqual(config.linux.namespaces.filter { $0.type == "network" }.count, 1)
        XCTAssertFalse(config.mounts.contains { $0.destination == "/etc/hosts" && $0.source == "/etc/hosts" },
                       "the node's name files are not shared with a task on its own network")
        let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(config)) as? [String: Any]
        let namespaces = (json?["linux"] as? [String: Any])?["namespaces"] as? [[String: String]]
        XCTAssertEqual(namespaces?.last, ["type": "network", "path": "/run/netns/sw-t-abc"], "what runc reads")
        XCTAssertFalse(make().linux.namespaces.contains { $0.path != nil }, "without attachments nothing changes")
        XCTAssertEqual(NameFiles.embeddedResolvConf(node: "nameserver 10.0.0.2\nsearch corp.example\n"),
                       "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n")
        XCTAssertEqual(TaskSpec(command: ["sh"]).containerOnlySettings, [])
        var spec = TaskSpec(command: ["sh"])
        spec.networkNamespacePath = "/run/netns/x"
        XCTAssertEqual(spec.containerOnlySettings, ["network attachments (--network)"], "the process backend refuses it")
    }

    func testResourcesMapToCgroupLimits() {
        let config = make { $0.resources = TaskResources(memoryBytes: 64 << 20, nanoCPUs: 1_500_000_000, pidsLimit: 50) }
        XCTAssertEqual(config.linux.resources.memory?.limit, 64 << 20)
        if Cgroups.swapLimitSupported { XCTAssertEqual(config.linux.resources.memory?.swap, 64 << 20, "no swap beyond the limit") }
        XCTAssertEqual(config.linux.resources.cpu, OCIConfig.CPU(quota: 150_000, period: 100_000))
        XCTAssertEqual(config.linux.resources.pids, OCIConfig.Pids(limit: 50))
        let unlimited = make()
        XCTAssertNil(unlimited.linux.resources.memory)
        XCTAssertNil(unlimited.linux.resources.cpu)
        XCTAssertNil(unlimited.linux.resources.pids)
    }

    func testHardeningDefaults() throws {
        let config = make()
        XCTAssertTrue(config.process.noNewPrivileges)
        XCTAssertEqual(config.process.capabilities.bounding.count, 14)
        XCTAssertFalse(config.process.capabilities.bounding.contains("CAP_SYS_ADMIN"))
        XCTAssertTrue(config.linux.maskedPaths.contains("/proc/kcore"))
        XCTAssertTrue(config.linux.readonlyPaths.contains("/proc/sys"))
        XCTAssertEqual(config.linux.resources.devices, [OCIConfig.DeviceRule(allow: false, access: "rwm")])
        let nonRoot = OCIConfig.make(spec: TaskSpec(command: ["sh"]), args: ["sh"], environment: [],
                                     user: OCIConfig.User(uid: 1000, gid: 1000, additionalGids: nil), rootfs: "/r",
                                     hostname: "h", cgroupsPath: "/c")
        XCTAssertEqual(nonRoot.process.capabilities.effective, [], "a non-root user starts with no effective capabilities")
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        XCTAssertTrue(json.contains("\"cgroupsPath\":\"\\/swarmctl\\/x\"") || json.contains("\"cgroupsPath\":\"/swarmctl/x\""))
        XCTAssertFalse(json.contains("\"memory\""), "unset limits are omitted")
    }

    func testEnvironmentMergesImageAndTask() {
        XCTAssertEqual(OCIExecutor.environment(image: ["PATH=/bin", "A=image", "B=2"], task: ["A=task"]),
                       ["PATH=/bin", "B=2", "A=task"])
        XCTAssertEqual(OCIExecutor.environment(image: [], task: ["A=1"]), ["A=1", TaskSpawner.defaultPath])
    }

    func testRuntimeExitCodesAbove128AreSignals() {
        XCTAssertEqual(OCIContainer.decodeRuntimeExit(.exited(code: 137)), .signaled(signal: 9))
        XCTAssertEqual(OCIContainer.decodeRuntimeExit(.exited(code: 3)), .exited(code: 3))
        XCTAssertEqual(OCIContainer.decodeRuntimeExit(.exited(code: 255)), .exited(code: 255))
    }
}

/// Docker's health rules as a pure state machine.
final class HealthStateTests: XCTestCase {
    func testStartPeriodForgivesFailuresUntilTheFirstSuccess() {
        var state = HealthState(check: HealthCheck(command: ["x"], retries: 2, startPeriodMillis: 1_000), startedAtMillis: 0)
        XCTAssertFalse(state.record(success: false, nowMillis: 100))
        XCTAssertFalse(state.record(success: false, nowMillis: 200))
        XCTAssertEqual(state.status, .starting)
        XCTAssertTrue(state.record(success: true, nowMillis: 300))
        XCTAssertEqual(state.status, .healthy)
        XCTAssertFalse(state.record(success: false, nowMillis: 400), "one failure is within the retries")
        XCTAssertTrue(state.record(success: false, nowMillis: 500))
        XCTAssertEqual(state.status, .unhealthy)
        XCTAssertTrue(state.record(success: true, nowMillis: 600))
        XCTAssertEqual(state.failingStreak, 0)
    }

    func testFailuresAfterTheStartPeriodCount() {
        var state = HealthState(check: HealthCheck(command: ["x"], retries: 1, startPeriodMillis: 100), startedAtMillis: 0)
        XCTAssertTrue(state.record(success: false, nowMillis: 150))
        XCTAssertEqual(state.status, .unhealthy)
    }
}

/// Container settings in config.json: capabilities, limits, mounts, sysctls, seccomp.
final class OCIConfigSettingsTests: XCTestCase {
    private func make(_ change: (inout TaskSpec) -> Void, mounts: [OCIConfig.Mount] = [],
                      files: OCIConfig.BundleFiles = OCIConfig.BundleFiles()) -> OCIConfig {
        var spec = TaskSpec(command: ["sh"])
        change(&spec)
        return OCIConfig.make(spec: spec, args: spec.command, environment: [], user: OCIConfig.User(uid: 0, gid: 0, additionalGids: nil),
                              rootfs: "/r", hostname: "h", cgroupsPath: "/c", mounts: mounts, files: files)
    }

    func testCapabilitiesFollowDockersAddDropRules() {
        let defaults = OCIConfig.defaultCapabilities
        XCTAssertEqual(OCIConfig.capabilities(add: [], drop: []), defaults)
        XCTAssertEqual(OCIConfig.capabilities(add: [], drop: ["ALL"]), [])
        XCTAssertEqual(OCIConfig.capabilities(add: ["CAP_NET_ADMIN"], drop: ["ALL"]), ["CAP_NET_ADMIN"])
        XCTAssertEqual(OCIConfig.capabilities(add: ["CAP_NET_ADMIN", "CAP_CHOWN"], drop: ["CAP_KILL"]),
                       defaults.filter { $0 != "CAP_KILL" } + ["CAP_NET_ADMIN"])
        let all = OCIConfig.capabilities(add: ["ALL"], drop: ["CAP_SYS_ADMIN"])
        XCTAssertFalse(all.contains("CAP_SYS_ADMIN"))
        XCTAssertTrue(all.contains("CAP_SYS_PTRACE") && all.contains("CAP_CHOWN"))
        let dropped = make { $0.capabilityDrop = ["ALL"] }.process.capabilities
        XCTAssertEqual([dropped.bounding, dropped.effective, dropped.permitted], [[], [], []])
    }

    func testUlimitsReplaceTheDefaultOpenFilesLimit() {
        let limits = make { $0.ulimits = [TaskUlimit(name: "nofile", soft: 512, hard: 1024), TaskUlimit(name: "nproc", soft: 10, hard: 10)] }
            .process.rlimits
        XCTAssertEqual(limits, [OCIConfig.Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 512),
                                OCIConfig.Rlimit(type: "RLIMIT_NPROC", hard: 10, soft: 10)])
    }

    func testMountOptions() {
        XCTAssertEqual(OCIConfig.mount(TaskMount(kind: .bind, source: "/srv", target: "/data", readOnly: true), source: "/srv"),
                       OCIConfig.Mount(destination: "/data", type: "bind", source: "/srv", options: ["rbind", "ro", "rro", "rprivate"]))
        XCTAssertEqual(OCIConfig.mount(TaskMount(kind: .bind, source: "/srv", target: "/d", propagation: .rslave), source: "/srv").options,
                       ["rbind", "rw", "rslave"])
        XCTAssertEqual(OCIConfig.mount(TaskMount(kind: .tmpfs, target: "/t", tmpfsSizeBytes: 65536, tmpfsMode: 0o700), source: "tmpfs"),
                       OCIConfig.Mount(destination: "/t", type: "tmpfs", source: "tmpfs",
                                       options: ["nosuid", "nodev", "noexec", "rw", "mode=700", "size=65536"]))
        let shared = make { $0.mounts = [TaskMount(kind: .bind, source: "/srv", target: "/d", propagation: .rshared)] }
        XCTAssertEqual(shared.linux.rootfsPropagation, "rshared")
        let slave = make { $0.mounts = [TaskMount(kind: .bind, source: "/srv", target: "/d", propagation: .rslave)] }
        XCTAssertEqual(slave.linux.rootfsPropagation, "rslave", "crun's default root (rprivate) would leave the bind no master")
        XCTAssertNil(make { _ in }.linux.rootfsPropagation)
    }

    func testTaskMountsAndOwnNameFilesReplaceTheDefaults() {
        let config = make({ _ in }, mounts: [OCIConfig.Mount(destination: "/dev/shm", type: "tmpfs", source: "tmpfs", options: [])],
                          files: OCIConfig.BundleFiles(resolvConf: "/b/resolv.conf", hosts: nil))
        XCTAssertEqual(config.mounts.filter { $0.destination == "/dev/shm" }.map(\.options), [[]], "one /dev/shm, the task's")
        XCTAssertEqual(config.mounts.first { $0.destination == "/etc/resolv.conf" }?.source, "/b/resolv.conf")
    }

    func testSysctlsAndSeccomp() throws {
        let config = make { $0.sysctls = ["kernel.shmmni": "1234"] }
        XCTAssertEqual(config.linux.sysctl, ["kernel.shmmni": "1234"])
        XCTAssertNil(make { _ in }.linux.sysctl)
        let seccomp = try XCTUnwrap(config.linux.seccomp)
        XCTAssertEqual(seccomp.defaultAction, "SCMP_ACT_ERRNO")
        let allowed = Set(seccomp.syscalls.filter { $0.action == "SCMP_ACT_ALLOW" && $0.args == nil }.flatMap(\.names))
        for call in ["read", "execve", "clone3", "openat", "futex", "epoll_wait"] where call != "clone3" {
            XCTAssertTrue(allowed.contains(call), call)
        }
        for call in ["unshare", "setns", "mount", "keyctl", "add_key", "bpf", "ptrace", "init_module", "kexec_load", "userfaultfd",
                     "open_by_handle_at", "perf_event_open", "clone", "clone3", "personality"] {
            XCTAssertFalse(allowed.contains(call), "\(call) is allowed without conditions")
        }
        let clone = try XCTUnwrap(seccomp.syscalls.first { $0.names == ["clone"] })
        XCTAssertEqual(clone.args?.first?.op, "SCMP_CMP_MASKED_EQ")
        XCTAssertEqual((clone.args?.first?.value ?? 0) & 0x1000_0000, 0x1000_0000, "CLONE_NEWUSER is among the refused flags")
        XCTAssertEqual(seccomp.syscalls.first { $0.names == ["clone3"] }?.errnoRet, 38, "clone3 says ENOSYS so libc uses clone")
        XCTAssertNil(make { $0.seccomp = .unconfined }.linux.seccomp)
        let admin = try XCTUnwrap(make { $0.capabilityAdd = ["CAP_SYS_ADMIN"] }.linux.seccomp)
        XCTAssertTrue(admin.syscalls.contains { $0.names.contains("mount") && $0.args == nil }, "SYS_ADMIN allows mount, as in Docker")
    }

    func testNameFiles() {
        let node = "# generated\nnameserver 1.1.1.1\nsearch corp\noptions edns0\n"
        XCTAssertEqual(NameFiles.resolvConf(TaskDNS(nameservers: ["10.0.0.53"]), node: node),
                       "nameserver 10.0.0.53\nsearch corp\noptions edns0\n")
        XCTAssertEqual(NameFiles.resolvConf(TaskDNS(search: ["a", "b"], options: ["ndots:1"]), node: node),
                       "nameserver 1.1.1.1\nsearch a b\noptions ndots:1\n")
        XCTAssertEqual(NameFiles.hosts(base: "127.0.0.1 localhost", extra: ["10.0.0.7 db  db2"]), "127.0.0.1 localhost\n10.0.0.7\tdb\tdb2\n")
    }
}
