import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// Skips the calling test unless it runs as root with an OCI runtime and busybox-static
/// installed (CI installs them: `.ci/run`).
/// The runtime is `name`, else `SWARMCTL_TEST_RUNTIME` (runc or crun: the whole suite with one
/// runtime), else runc, else crun.
func requireContainerSupport(runtime name: String? = nil) throws -> String {
    guard getuid() == 0 else { throw XCTSkip("OCI tests need root (runc creates namespaces and cgroups)") }
    let names = (name ?? ProcessInfo.processInfo.environment["SWARMCTL_TEST_RUNTIME"]).map { [$0] } ?? ["runc", "crun"]
    guard let runtime = OCIRuntime.find(names: names) else {
        throw XCTSkip("OCI tests need \(names.joined(separator: " or ")) in PATH: apt-get install -y \(names[0])")
    }
    guard access(BusyboxImage.binary, X_OK) == 0 else {
        throw XCTSkip("OCI tests need a static busybox at \(BusyboxImage.binary): apt-get install -y busybox-static")
    }
    return runtime
}

/// A minimal root file system built from the host's static busybox: /bin/busybox, a symlink
/// per applet, /etc/passwd and /etc/group with root and nobody, and empty /tmp, /proc, /sys, /dev.
enum BusyboxImage {
    static let binary = "/bin/busybox"

    static func makeRootfs(at directory: String) throws {
        for sub in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
            // A root file system is traversable by a container's non-root users.
            try FileSystem.makeDirectories("\(directory)/\(sub)", mode: 0o755)
        }
        let result = try HostCommand.check(["cp", binary, "\(directory)/bin/busybox"]) { OCIError.rootfs($0) }
        _ = result
        let applets = try HostCommand.check([binary, "--list"]) { OCIError.rootfs($0) }
        for applet in String(decoding: applets.stdout, as: UTF8.self).split(separator: "\n") where applet != "busybox" {
            _ = symlink("busybox", "\(directory)/bin/\(applet)")
        }
        try write("\(directory)/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        try write("\(directory)/etc/group", "root:x:0:\nnogroup:x:65534:\n")
        chmod("\(directory)/tmp", 0o1777)
    }

    static func write(_ path: String, _ text: String) throws {
        let file = try File.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        try file.write(Array(text.utf8), at: 0)
    }
}

/// Mount points whose path contains `fragment` (from /proc/self/mountinfo).
func mounts(containing fragment: String) -> [String] {
    let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ")
        return fields.count > 4 && fields[4].contains(fragment) ? String(fields[4]) : nil
    }
}

/// A task running busybox `sh -c script` in the test rootfs.
func containerShell(_ script: String, rootfs: String, graceMillis: Int = 5_000,
                    configure: (inout TaskSpec) -> Void = { _ in }) -> TaskSpec {
    var spec = TaskSpec(command: ["/bin/sh", "-c", script], stopGraceMillis: graceMillis)
    spec.rootfs = rootfs
    configure(&spec)
    return spec
}

/// Per-test OCI executor on a busybox root file system, torn down so that no container, cgroup,
/// mount or bundle outlives a test even when it fails (tear-down removes, then asserts).
class OCITestCase: XCTestCase {
    var root = ""
    var rootfs = ""
    var cgroupParent = ""
    var executor: OCIExecutor!
    /// The runtime this test case needs (nil: `requireContainerSupport`'s choice).
    var runtimeName: String? { nil }

    override func setUpWithError() throws {
        let runtime = try requireContainerSupport(runtime: runtimeName)
        root = try FileSystem.makeTemporaryDirectory(prefix: "oci-tests-")
        rootfs = root + "/busybox"
        try BusyboxImage.makeRootfs(at: rootfs)
        cgroupParent = "/swarmctl-test-\(randomContainerHex().prefix(8))"
        executor = try OCIExecutor(root: root + "/node", runtimePath: runtime, cgroupParent: cgroupParent)
    }

    override func tearDownWithError() throws {
        guard let executor else { return }
        executor.removeAll()
        // Collect what is left, clean it up by force, then assert: a failing test must not leak.
        let known = (try? executor.runtime.list()) ?? ["(runc list failed)"]
        for id in known { executor.runtime.deleteQuietly(ContainerID(id)) }
        var cgroups: [String] = []
        for directory in Cgroups.existingDirectories(cgroupsPath: cgroupParent) {
            let children = ((try? FileSystem.list(directory)) ?? []).filter { FileSystem.isDirectory("\(directory)/\($0)") }
            cgroups += children.map { "\(directory)/\($0)" }
            children.forEach { _ = rmdir("\(directory)/\($0)") }
            _ = rmdir(directory)
        }
        let leftMounts = mounts(containing: root)
        for leftover in leftMounts.reversed() { _ = umount2(leftover, Int32(MNT_DETACH)) }
        let bundles = (try? FileSystem.list(root + "/node/containers")) ?? []
        try Tree.remove(root)
        XCTAssertEqual(known, [], "runc still knew containers")
        XCTAssertEqual(cgroups, [], "container cgroups were left behind")
        XCTAssertEqual(leftMounts, [], "mounts were left behind")
        XCTAssertEqual(bundles, [], "bundles were left behind")
    }

    func run(_ spec: TaskSpec, onExit: @escaping @Sendable (ExitStatus) -> Void = { _ in }) throws -> ContainerID {
        let id = try executor.prepare(spec)
        try executor.start(id, onExit: onExit)
        return id
    }

    func output(_ id: ContainerID, _ stream: LogStream = .stdout) throws -> String {
        text(try executor.logs(id, stream: stream))
    }
}
