import Glibc
import Platform
import XCTest

@testable import Executor

/// crun's refusal of a hybrid cgroup layout whose v2 tree owns controllers, found before any
/// container is started: layouts are faked as directories, so the test runs anywhere.
final class RuntimeHostCheckTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = try FileSystem.makeTemporaryDirectory(prefix: "runtime-host-check-")
    }

    override func tearDownWithError() throws {
        try Tree.remove(root)
    }

    private func write(_ path: String, _ text: String) throws {
        try FileSystem.makeDirectories(FileSystem.parentDirectory(of: root + path))
        let file = try File.open(root + path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(Array(text.utf8), at: 0)
    }

    func testAHybridLayoutWhoseV2TreeOwnsAControllerIsRefusedForCrunWithoutUnshareWithTheMountThatFixesIt() throws {
        try FileSystem.makeDirectories(root + "/memory")
        try write("/unified/cgroup.controllers", "hugetlb\n")
        let problem = try XCTUnwrap(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root, unshare: nil))
        XCTAssertTrue(problem.contains("cgroups in hybrid mode not supported"), problem)
        XCTAssertTrue(problem.contains("hugetlb"), problem)
        XCTAssertTrue(problem.contains("unshare (util-linux)"), problem)
        XCTAssertTrue(problem.contains("mount -t cgroup -o hugetlb cgroup \(root)/hugetlb"), problem)
        XCTAssertTrue(problem.contains("--runtime runc"), problem)
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "runc", cgroupRoot: root, unshare: nil), "runc runs on a hybrid layout")
    }

    func testOnAHybridLayoutCrunRunsAndExecsWhereTheV2TreeIsUnmountedAndRuncAsItIs() throws {
        try FileSystem.makeDirectories(root + "/memory")
        try write("/unified/cgroup.controllers", "hugetlb\n")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root, unshare: "/usr/bin/unshare"))
        XCTAssertEqual(RuntimeHostCheck.hiddenTree(runtime: "crun", cgroupRoot: root), root + "/unified")
        XCTAssertNil(RuntimeHostCheck.hiddenTree(runtime: "runc", cgroupRoot: root))
        guard let unshare = OCIRuntime.find(names: ["unshare"]) else { throw XCTSkip("unshare (util-linux) is not installed") }
        let crun = OCIRuntime(path: "/usr/bin/crun", stateDirectory: root + "/state", cgroupRoot: root)
        let view = try XCTUnwrap(crun.cgroupView)
        XCTAssertEqual(view, CgroupView(unshare: unshare, hiddenTree: root + "/unified", treeIsShared: false))
        let id = ContainerID("c1")
        // run: the shim itself lives in the namespace and unmounts the tree before the runtime.
        let run = crun.runArguments(id: id, bundle: "/b", pidFile: "/p")
        XCTAssertEqual(run.first, "/usr/bin/crun")
        let shim = OCIShim.command(directory: "/d", run: run, view: crun.cgroupView)
        XCTAssertEqual(Array(shim.prefix(5)), [unshare, "--mount", "--propagation", "slave", "/bin/sh"])
        XCTAssertTrue(shim[6].contains("umount -l '\(root)/unified' || exit 125\n\"$@\""), shim[6])
        XCTAssertFalse(shim[6].contains("make-private"), "a private tree's unmount cannot reach the host")
        XCTAssertEqual(Array(shim.suffix(run.count)), run)
        // exec: through a shell that unmounts the tree, then becomes the runtime.
        XCTAssertEqual(Array(crun.execArguments(id: id, pidFile: "/p", command: ["true"]).prefix(view.wrapper.count)), view.wrapper)
        XCTAssertTrue(CgroupView(unshare: unshare, hiddenTree: "/t", treeIsShared: true).hideCommands.hasPrefix("mount --make-private '/t' && "))
        let runc = OCIRuntime(path: "/usr/sbin/runc", stateDirectory: root + "/state", cgroupRoot: root)
        XCTAssertNil(runc.cgroupView)
        XCTAssertEqual(OCIShim.command(directory: "/d", run: ["runc"], view: nil).first, "/bin/sh")
        // A pure v1 layout: nothing to hide.
        try Tree.remove(root + "/unified")
        XCTAssertNil(OCIRuntime(path: "/usr/bin/crun", stateDirectory: root + "/state", cgroupRoot: root).cgroupView)
    }

    func testASharedMountIsToldFromAPrivateOneInMountinfo() {
        let mountinfo = """
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            42 31 0:39 / /sys/fs/cgroup/shared rw,relatime shared:9 - cgroup2 cgroup2 rw
            43 31 0:40 / /sys/fs/cgroup/slave rw,relatime master:3 - cgroup2 cgroup2 rw
            """
        XCTAssertFalse(OCIRuntime.isSharedMount("/sys/fs/cgroup/unified", mountinfo: mountinfo))
        XCTAssertTrue(OCIRuntime.isSharedMount("/sys/fs/cgroup/shared", mountinfo: mountinfo))
        XCTAssertFalse(OCIRuntime.isSharedMount("/sys/fs/cgroup/slave", mountinfo: mountinfo))
        XCTAssertFalse(OCIRuntime.isSharedMount("/nowhere", mountinfo: mountinfo))
    }

    func testACrunBinaryIsAskedAboutRunKeepOnce() throws {
        let counter = root + "/asked"
        let path = root + "/bin-counted/crun"
        try write("/bin-counted/crun", "#!/bin/sh\necho x >> '\(counter)'\necho 'Usage: run --keep'\n")
        XCTAssertEqual(chmod(path, 0o755), 0)
        XCTAssertTrue(OCIRuntime.supportsKeep(path: path))
        XCTAssertTrue(OCIRuntime(path: path, stateDirectory: root + "/state").keepsAfterExit)
        XCTAssertTrue(OCIRuntime.supportsKeep(path: path))
        XCTAssertEqual(String(decoding: try File.openForReading(counter).readAll(), as: UTF8.self), "x\n", "probed more than once")
    }

    func testAHybridLayoutWithAnEmptyV2TreeAndAPureV2LayoutAreFineForCrun() throws {
        try write("/unified/cgroup.controllers", "")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root))
        try write("/cgroup.controllers", "cpu memory pids hugetlb\n")
        try write("/unified/cgroup.controllers", "hugetlb\n")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root), "a unified root is pure v2")
    }

    /// A fake runtime binary named `name` whose `run --help` prints `help`.
    private func fakeRuntime(_ name: String, help: String) throws -> String {
        let path = "\(root)/bin-\(help.contains("--keep") ? "new" : "old")/\(name)"
        try write(String(path.dropFirst(root.count)), "#!/bin/sh\necho '\(help)'\n")
        XCTAssertEqual(chmod(path, 0o755), 0)
        return path
    }

    func testOnlyACrunWithRunKeepKeepsContainersAfterExitAndRuncAlwaysDoes() throws {
        let old = try fakeRuntime("crun", help: "Usage: run [OPTION...] --pid-file=FILE --no-subreaper")
        let new = try fakeRuntime("crun", help: "Usage: run [OPTION...] --pid-file=FILE --keep --no-subreaper")
        XCTAssertFalse(OCIRuntime.supportsKeep(path: old), "crun 1.8 deletes the container and its cgroups at exit")
        XCTAssertTrue(OCIRuntime.supportsKeep(path: new))
        XCTAssertFalse(OCIRuntime(path: old, stateDirectory: root).runArguments(id: ContainerID("c1"), bundle: "/b", pidFile: "/p")
            .contains("--keep"))
        XCTAssertTrue(OCIRuntime(path: new, stateDirectory: root).runArguments(id: ContainerID("c1"), bundle: "/b", pidFile: "/p")
            .contains("--keep"))
        XCTAssertTrue(OCIRuntime.supportsKeep(path: "/nonexistent/runc"), "runc is not asked: its run always has --keep")
    }

    func testAPureV1LayoutIsFineForCrun() throws {
        try FileSystem.makeDirectories(root + "/memory")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root))
    }
}
