import Glibc
import Platform
import XCTest

@testable import Executor

/// The `executor = auto|oci|process` decision, without root.
final class ExecutorFactoryTests: XCTestCase {
    func testAutoPicksOCIOnlyWithRootAndARuntime() throws {
        XCTAssertEqual(try ExecutorFactory.choose(kind: .auto, isRoot: true, runtimePath: "/usr/sbin/runc"),
                       .oci(runtimePath: "/usr/sbin/runc"))
        guard case .process(let warning?) = try ExecutorFactory.choose(kind: .auto, isRoot: false, runtimePath: "/usr/sbin/runc")
        else { return XCTFail("auto without root must fall back to process with a warning") }
        XCTAssertTrue(warning.contains("not running as root") && !warning.contains("\n"), warning)
        guard case .process(let missing?) = try ExecutorFactory.choose(kind: .auto, isRoot: true, runtimePath: nil)
        else { return XCTFail("auto without runc must fall back to process with a warning") }
        XCTAssertTrue(missing.contains("no runc or crun"), missing)
    }

    func testExplicitKinds() throws {
        XCTAssertEqual(try ExecutorFactory.choose(kind: .process, isRoot: true, runtimePath: "/usr/sbin/runc"),
                       .process(warning: nil))
        XCTAssertThrowsError(try ExecutorFactory.choose(kind: .oci, isRoot: true, runtimePath: nil)) {
            XCTAssertEqual($0 as? OCIError, .runtimeMissing)
        }
        XCTAssertThrowsError(try ExecutorFactory.choose(kind: .oci, isRoot: false, runtimePath: "/usr/sbin/runc"))
        XCTAssertEqual(ExecutorKind(rawValue: "auto"), .auto)
    }

    func testMakeBuildsTheChosenBackend() throws {
        let root = try FileSystem.makeTemporaryDirectory(prefix: "factory-")
        defer { try? Tree.remove(root) }
        let (process, warning) = try ExecutorFactory.make(kind: .auto, root: root, isRoot: false, runtimePath: nil)
        XCTAssertTrue(process is ProcessExecutor)
        XCTAssertNotNil(warning)
        if getuid() == 0, let runtime = OCIRuntime.find() {
            let (oci, none) = try ExecutorFactory.make(kind: .auto, root: root, runtimePath: runtime)
            XCTAssertTrue(oci is OCIExecutor)
            XCTAssertNil(none)
        }
    }
}
