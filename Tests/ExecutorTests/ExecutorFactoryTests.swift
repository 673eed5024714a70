import Glibc
import Platform
import XCTest

@testable import Executor

/// The `executor = auto|oci|process` decision, without root.
final class ExecutorFactoryTests: XCTestCase {
    func testAutoPicksOCIOnlyWithRootAndARuntime() throws {
        XCTAssertEqual(try ExecutorFactory.choose(kind: .auto, isRoot: true, runtimePath: "/usr/sbin/runc"),
                       .oci(runtimePath: "/usr/sbin/runc"))
    }

    func testAutoNeverFallsBackToProcessesAndNamesWhatIsMissing() {
        let cases: [(isRoot: Bool, runtime: String?, names: [String], absent: [String])] = [
            (false, "/usr/sbin/runc", ["root"], ["runc or crun"]),
            (true, nil, ["no runc or crun in PATH"], ["root ("]),
            (false, nil, ["root", "no runc or crun"], []),
        ]
        for (isRoot, runtime, names, absent) in cases {
            XCTAssertThrowsError(try ExecutorFactory.choose(kind: .auto, isRoot: isRoot, runtimePath: runtime)) { error in
                let message = "\(error)"
                for name in names { XCTAssertTrue(message.contains(name), "\(message) names \(name)") }
                for name in absent { XCTAssertFalse(message.contains(name), "\(message) does not claim \(name) is missing") }
                XCTAssertTrue(message.contains("--executor process"), "says how to opt in to processes: \(message)")
                XCTAssertFalse(message.contains("\n"))
            }
        }
    }

    func testExplicitKinds() throws {
        XCTAssertEqual(try ExecutorFactory.choose(kind: .process, isRoot: true, runtimePath: "/usr/sbin/runc"), .process)
        XCTAssertEqual(try ExecutorFactory.choose(kind: .process, isRoot: false, runtimePath: nil), .process)
        XCTAssertThrowsError(try ExecutorFactory.choose(kind: .oci, isRoot: true, runtimePath: nil)) {
            XCTAssertEqual($0 as? OCIError, .runtimeMissing)
        }
        XCTAssertThrowsError(try ExecutorFactory.choose(kind: .oci, isRoot: false, runtimePath: "/usr/sbin/runc"))
        XCTAssertEqual(ExecutorKind(rawValue: "auto"), .auto)
    }

    func testMakeBuildsTheChosenBackend() throws {
        let root = try FileSystem.makeTemporaryDirectory(prefix: "factory-")
        defer { try? Tree.remove(root) }
        XCTAssertThrowsError(try ExecutorFactory.make(kind: .auto, root: root, isRoot: false, runtimePath: nil))
        XCTAssertTrue(try ExecutorFactory.make(kind: .process, root: root, isRoot: false, runtimePath: nil) is ProcessExecutor)
        if getuid() == 0, let runtime = OCIRuntime.find() {
            XCTAssertTrue(try ExecutorFactory.make(kind: .auto, root: root, runtimePath: runtime) is OCIExecutor)
        }
    }
}
