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

    func testAHybridLayoutWhoseV2TreeOwnsAControllerIsRefusedForCrunWithTheMountThatFixesIt() throws {
        try FileSystem.makeDirectories(root + "/memory")
        try write("/unified/cgroup.controllers", "hugetlb\n")
        let problem = try XCTUnwrap(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root))
        XCTAssertTrue(problem.contains("cgroups in hybrid mode not supported"), problem)
        XCTAssertTrue(problem.contains("hugetlb"), problem)
        XCTAssertTrue(problem.contains("mount -t cgroup -o hugetlb cgroup \(root)/hugetlb"), problem)
        XCTAssertTrue(problem.contains("--runtime runc"), problem)
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "runc", cgroupRoot: root), "runc runs on a hybrid layout")
    }

    func testAHybridLayoutWithAnEmptyV2TreeAndAPureV2LayoutAreFineForCrun() throws {
        try write("/unified/cgroup.controllers", "")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root))
        try write("/cgroup.controllers", "cpu memory pids hugetlb\n")
        try write("/unified/cgroup.controllers", "hugetlb\n")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root), "a unified root is pure v2")
    }

    func testAPureV1LayoutIsFineForCrun() throws {
        try FileSystem.makeDirectories(root + "/memory")
        XCTAssertNil(RuntimeHostCheck.problem(runtime: "crun", cgroupRoot: root))
    }
}
