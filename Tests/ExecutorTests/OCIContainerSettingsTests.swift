import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The container settings of a task, each observed from inside a real runc container: mounts
/// (bind, volume, tmpfs), read-only root, capabilities, ulimits, sysctls, DNS, hosts, groups,
/// and the default seccomp filter.
final class OCIContainerSettingsTests: OCITestCase {
    /// Runs `script` to completion and returns its stdout; fails the test on a non-zero exit.
    private func outputOf(_ script: String, expecting status: ExitStatus = .exited(code: 0),
                          configure: (inout TaskSpec) -> Void) throws -> String {
        let id = try run(containerShell(script, rootfs: rootfs, configure: configure))
        let exit = try executor.wait(id, timeoutMillis: 20_000)
        let result = try output(id)
        let errors = try output(id, .stderr)
        XCTAssertEqual(exit, status, "stdout: \(result) stderr: \(errors)")
        try executor.remove(id)
        return result
    }

    func testBindMountShowsTheHostDirectoryAndReadOnlyRefusesWrites() throws {
        let source = root + "/shared"
        try FileSystem.makeDirectories(source)
        try BusyboxImage.write(source + "/hello.txt", "from the host\n")
        let script = "cat /data/hello.txt; echo more > /data/new 2>/dev/null && echo writable || echo refused"
        XCTAssertEqual(try outputOf(script) { $0.mounts = [TaskMount(kind: .bind, source: source, target: "/data", readOnly: true)] },
                       "from the host\nrefused\n")
        XCTAssertFalse(FileSystem.exists(source + "/new"))
        // A mount below the source is read-only too (recursive read-only).
        try FileSystem.makeDirectories(source + "/sub")
        XCTAssertEqual(mount("tmpfs", source + "/sub", "tmpfs", 0, "size=64k"), 0, String(cString: strerror(errno)))
        defer { _ = umount2(source + "/sub", Int32(MNT_DETACH)) }
        XCTAssertEqual(try outputOf("echo x > /data/sub/f 2>/dev/null && echo sub-writable || echo sub-refused") {
            $0.mounts = [TaskMount(kind: .bind, source: source, target: "/data", readOnly: true)]
        }, "sub-refused\n")
        XCTAssertEqual(try outputOf("echo more > /data/new && echo writable") {
            $0.mounts = [TaskMount(kind: .bind, source: source, target: "/data")]
        }, "writable\n")
        XCTAssertTrue(FileSystem.exists(source + "/new"), "a writable bind mount writes through to the host")
    }

    func testBindSourceMissingOnTheNodeRejectsTheTask() throws {
        let spec = containerShell("true", rootfs: rootfs) {
            $0.mounts = [TaskMount(kind: .bind, source: "/nonexistent/srv", target: "/data")]
        }
        XCTAssertThrowsError(try executor.prepare(spec)) { error in
            XCTAssertTrue("\(error)".contains("bind source path /nonexistent/srv does not exist on this node"), "\(error)")
        }
        XCTAssertEqual(try FileSystem.list(executor.root + "/containers"), [], "a refused task leaves no bundle")
    }

    func testBindPropagationReachesTheRuntime() throws {
        // A shared mount on the host: what is mounted below it later reaches an rslave bind in a
        // running container, and does not reach an rprivate one.
        let source = root + "/prop"
        try FileSystem.makeDirectories(source + "/later")
        XCTAssertEqual(mount(source, source, nil, UInt(MS_BIND), nil), 0)
        defer { _ = umount2(source, Int32(MNT_DETACH)) }
        XCTAssertEqual(mount(nil, source, nil, UInt(MS_SHARED), nil), 0, String(cString: strerror(errno)))
        let script = "echo started; while ! grep -q ' /data/later ' /proc/self/mountinfo; do sleep 0.05; done; echo propagated; sleep 300"
        let slave = try run(containerShell(script, rootfs: rootfs) {
            $0.mounts = [TaskMount(kind: .bind, source: source, target: "/data", propagation: .rslave)]
        })
        let isolated = try run(containerShell(script, rootfs: rootfs) {
            $0.mounts = [TaskMount(kind: .bind, source: source, target: "/data", propagation: .rprivate)]
        })
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try output(slave).contains("started") && output(isolated).contains("started") })
        XCTAssertEqual(mount("tmpfs", source + "/later", "tmpfs", 0, "size=64k"), 0)
        defer { _ = umount2(source + "/later", Int32(MNT_DETACH)) }
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try output(slave).contains("propagated") }, "rslave sees the host's new mount")
        XCTAssertFalse(try output(isolated).contains("propagated"), "rprivate does not")
        _ = try executor.stop(slave, graceMillis: 0)
        _ = try executor.stop(isolated, graceMillis: 0)
    }

    func testVolumeIsCreatedOnFirstUseAndOutlivesTheTask() throws {
        let volume = TaskMount(kind: .volume, source: "v1", target: "/v")
        XCTAssertEqual(try outputOf("ls /v | wc -l; echo kept > /v/file") { $0.mounts = [volume] }.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertTrue(FileSystem.exists(executor.volumesDirectory + "/v1/file"))
        XCTAssertEqual(try outputOf("cat /v/file") { $0.mounts = [volume] }, "kept\n", "the next task sees the volume")
        XCTAssertThrowsError(try executor.prepare(containerShell("true", rootfs: rootfs) {
            $0.mounts = [TaskMount(kind: .volume, source: "../escape", target: "/v")]
        }))
    }

    func testNewVolumeIsFilledFromTheImageUnlessNoCopy() throws {
        try FileSystem.makeDirectories(rootfs + "/seed")
        try BusyboxImage.write(rootfs + "/seed/a", "from the image\n")
        XCTAssertEqual(chown(rootfs + "/seed", 65534, 65534), 0)
        XCTAssertEqual(try outputOf("cat /seed/a; touch /seed/b && echo writable") {
            $0.mounts = [TaskMount(kind: .volume, source: "copied", target: "/seed")]
            $0.user = "nobody"
        }, "from the image\nwritable\n", "the volume's root is owned as the image's directory")
        var empty = TaskMount(kind: .volume, source: "empty", target: "/seed")
        empty.noCopy = true
        XCTAssertEqual(try outputOf("ls /seed | wc -l") { $0.mounts = [empty] }.trimmingCharacters(in: .whitespaces), "0\n")
    }

    func testTmpfsWithSizeAndModeInMountinfo() throws {
        let script = "grep ' /t ' /proc/self/mountinfo; stat -c %a /t; echo x > /t/f && echo writable"
        let out = try outputOf(script) {
            $0.mounts = [TaskMount(kind: .tmpfs, target: "/t", tmpfsSizeBytes: 1 << 20, tmpfsMode: 0o1770)]
        }
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, out)
        XCTAssertTrue(lines[0].contains(" - tmpfs ") && lines[0].contains("size=1024k"), lines[0])
        XCTAssertEqual(Array(lines.dropFirst()), ["1770", "writable"])
    }

    func testReadOnlyRootRefusesWritesButMountsStayWritable() throws {
        let script = "touch /probe 2>/dev/null && echo root-writable || echo root-readonly; touch /t/ok && echo tmpfs-writable"
        XCTAssertEqual(try outputOf(script) {
            $0.readOnlyRootfs = true
            $0.mounts = [TaskMount(kind: .tmpfs, target: "/t")]
        }, "root-readonly\ntmpfs-writable\n")
    }

    func testCapabilityDropAllLeavesNoneAndAddGrantsOne() throws {
        XCTAssertEqual(try outputOf("grep CapEff /proc/self/status") { $0.capabilityDrop = ["ALL"] }, "CapEff:\t0000000000000000\n")
        // CAP_NET_ADMIN is bit 12: the default set plus it.
        XCTAssertEqual(try outputOf("grep CapEff /proc/self/status") { $0.capabilityAdd = ["CAP_NET_ADMIN"] },
                       "CapEff:\t00000000a80435fb\n")
        XCTAssertEqual(try outputOf("grep CapEff /proc/self/status") {
            $0.capabilityDrop = ["ALL"]
            $0.capabilityAdd = ["CAP_CHOWN"]
        }, "CapEff:\t0000000000000001\n")
        let chown = try outputOf("touch /tmp/f; chown 65534 /tmp/f 2>/dev/null && echo allowed || echo refused") {
            $0.capabilityDrop = ["CAP_CHOWN"]
        }
        XCTAssertEqual(chown, "refused\n")
    }

    func testUlimitsApplyInside() throws {
        XCTAssertEqual(try outputOf("ulimit -n; ulimit -Hn") { $0.ulimits = [TaskUlimit(name: "nofile", soft: 512, hard: 1024)] },
                       "512\n1024\n")
    }

    func testNamespacedSysctlIsSetInTheContainerOnly() throws {
        let host = try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8)
        XCTAssertEqual(try outputOf("cat /proc/sys/kernel/shmmni") { $0.sysctls = ["kernel.shmmni": "1234"] }, "1234\n")
        XCTAssertEqual(try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8), host, "the node's value is untouched")
    }

    func testDNSAndHostsFilesAreTheTasks() throws {
        let out = try outputOf("cat /etc/resolv.conf; echo ---; grep db /etc/hosts; grep -c localhost /etc/hosts") {
            $0.dns = TaskDNS(nameservers: ["10.0.0.53"], search: ["example.internal"], options: ["ndots:2"])
            $0.extraHosts = ["10.0.0.7 db db.internal"]
        }
        let parts = out.components(separatedBy: "---\n")
        XCTAssertEqual(parts.first, "nameserver 10.0.0.53\nsearch example.internal\noptions ndots:2\n")
        let hosts = parts.last?.split(separator: "\n").map(String.init) ?? []
        XCTAssertEqual(hosts.first, "10.0.0.7\tdb\tdb.internal")
        XCTAssertGreaterThanOrEqual(Int(hosts.last ?? "") ?? 0, 1, "the node's entries stay: \(out)")
    }

    func testSupplementaryGroups() throws {
        XCTAssertEqual(try outputOf("id -G") {
            $0.user = "nobody"
            $0.groups = ["nogroup", "1234"]
        }.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.sorted(), ["1234", "65534"])
        XCTAssertThrowsError(try executor.prepare(containerShell("true", rootfs: rootfs) { $0.groups = ["wheel"] })) {
            XCTAssertEqual($0 as? OCIError, .unknownGroup("wheel"))
        }
    }

    func testDefaultSeccompRefusesNamespacesAndUnconfinedAllowsThem() throws {
        let script = "unshare -U -r true 2>&1 && echo unshared || echo refused"
        let confined = try outputOf(script) { _ in }
        XCTAssertTrue(confined.hasSuffix("refused\n"), confined)
        XCTAssertTrue(confined.contains("Operation not permitted"), confined)
        let unconfined = try outputOf(script) { $0.seccomp = .unconfined }
        guard unconfined.hasSuffix("unshared\n") else {
            throw XCTSkip("this kernel refuses user namespaces even unconfined: \(unconfined)")
        }
    }

    func testInitRunsTheCommandAsItsChildForwardsTheStopSignalAndReapsOrphans() throws {
        guard FileSystem.exists(executor.initBinary) else {
            throw XCTSkip("swarmctl-init is not built next to the tests (\(executor.initBinary)): swift build --build-tests")
        }
        // An orphan: a background job whose parent exits at once; it must not stay a zombie.
        let script = "echo pid=$$; tr '\\0' ' ' < /proc/1/cmdline; echo; (sleep 0.1 &); sleep 0.5; "
            + "echo zombies=$(grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l); echo ready; sleep 300"
        let id = try run(containerShell(script, rootfs: rootfs, graceMillis: 5_000) { $0.initProcess = true })
        XCTAssertTrue(try eventually(timeoutMillis: 10_000) { try output(id).contains("\nzombies=") })
        let lines = try output(id).split(separator: "\n").map(String.init)
        // Not 1: the init is; the pids between went to the runtime's threads before it exec'd the init.
        XCTAssertNotEqual(lines.first, "pid=1", "the command is the init's child")
        XCTAssertTrue(lines.dropFirst().first?.hasPrefix("/sbin/docker-init -- /bin/sh -c") == true, "\(lines)")
        XCTAssertTrue(lines.contains("zombies=0"), "\(lines)")
        // sh as PID 1 would ignore TERM and wait for the KILL after the grace period.
        let start = monotonicNanoseconds()
        // The init exits as the command did: 128 + SIGTERM, which the runtime reports as the signal.
        XCTAssertEqual(try executor.stop(id), .signaled(signal: SIGTERM))
        XCTAssertLessThan(milliseconds(since: start), 3_000, "TERM reached the command through the init")
    }

    func testInitMissingRejectsTheTask() throws {
        let other = try OCIExecutor(root: root + "/other", runtimePath: executor.runtime.path, cgroupParent: cgroupParent,
                                    initBinary: root + "/nonexistent-init")
        XCTAssertThrowsError(try other.prepare(containerShell("true", rootfs: rootfs) { $0.initProcess = true })) {
            XCTAssertEqual($0 as? OCIError, .initMissing(self.root + "/nonexistent-init"))
        }
    }

    func testOrdinaryWorkRunsUnderTheDefaultFilter() throws {
        // Pipes, forks, files, a background job and a signal, the clock.
        let script = "echo hi | sha256sum | wc -c; sleep 30 & kill $!; wait; "
            + "seq 1 100 > /tmp/n && tail -1 /tmp/n; date +%Y >/dev/null && echo done"
        XCTAssertEqual(try outputOf(script) { _ in }, "68\n100\ndone\n")
    }
}

/// The process executor cannot mount or confine: it refuses such tasks instead of ignoring them.
final class ProcessExecutorContainerSettingsTests: XCTestCase {

    func testProcessExecutorRefusesContainerSettings() throws {
        let root = try FileSystem.makeTemporaryDirectory(prefix: "process-settings-")
        defer { try? Tree.remove(root) }
        let process = try ProcessExecutor(root: root)
        var spec = TaskSpec(command: ["true"])
        spec.mounts = [TaskMount(kind: .tmpfs, target: "/t")]
        spec.readOnlyRootfs = true
        XCTAssertThrowsError(try process.prepare(spec)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("mounts (--mount)") && message.contains("read-only") && message.contains("--executor oci"), message)
        }
        var unconfined = TaskSpec(command: ["true"])
        unconfined.seccomp = .unconfined
        XCTAssertNoThrow(try process.prepare(unconfined), "unconfined is what the process executor is anyway")
        process.removeAll()
    }
}

/// `docker volume ls/rm` on the node: the executor's volumes and their removal.
final class OCIVolumeTests: OCITestCase {
    func testVolumesAreListedAndRemovedOnlyWhenNoContainerMountsThem() throws {
        let id = try run(containerShell("echo x > /v/f; sleep 300", rootfs: rootfs) {
            $0.mounts = [TaskMount(kind: .volume, source: "data", target: "/v")]
        })
        XCTAssertEqual(executor.volumes().map(\.name), ["data"])
        XCTAssertThrowsError(try executor.removeVolume("data")) {
            XCTAssertEqual($0 as? VolumeError, .inUse("data", containers: [id.rawValue]))
        }
        _ = try executor.stop(id, graceMillis: 0)
        XCTAssertThrowsError(try executor.removeVolume("data"), "an exited container not yet removed still holds it")
        try executor.remove(id)
        try executor.removeVolume("data")
        XCTAssertEqual(executor.volumes(), [])
        XCTAssertThrowsError(try executor.removeVolume("data")) { XCTAssertEqual($0 as? VolumeError, .notFound("data")) }
    }
}
