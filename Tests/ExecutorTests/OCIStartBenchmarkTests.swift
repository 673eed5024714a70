import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// Start-to-running time of 50 containers on this node, next to plain `runc run --detach` of the
/// same bundle as the floor. Skipped unless SWARMCTL_BENCH=1 (it takes ~30 s and measures, not checks).
final class OCIStartBenchmarkTests: XCTestCase {
    func testStartToRunningOf50ContainersAgainstPlainRunc() throws {
        guard ProcessInfo.processInfo.environment["SWARMCTL_BENCH"] == "1" else {
            throw XCTSkip("benchmark: run with SWARMCTL_BENCH=1")
        }
        let runtime = try requireContainerSupport()
        let root = try FileSystem.makeTemporaryDirectory(prefix: "oci-bench-")
        let parent = "/swarmctl-bench-\(randomContainerHex().prefix(8))"
        let executor = try OCIExecutor(root: root + "/node", runtimePath: runtime, cgroupParent: parent)
        let floorState = root + "/floor-state"
        var floorIDs: [String] = []
        defer {
            executor.removeAll()
            for id in floorIDs { _ = try? HostCommand.run([runtime, "--root", floorState, "delete", "--force", id]) }
            for directory in Cgroups.existingDirectories(cgroupsPath: parent) {
                for child in (try? FileSystem.list(directory)) ?? [] { _ = rmdir("\(directory)/\(child)") }
                _ = rmdir(directory)
            }
            try? Tree.remove(root)
        }
        try BusyboxImage.makeRootfs(at: root + "/busybox")
        let count = 50
        var prepareAndStart: [Double] = []
        var startOnly: [Double] = []
        var bundles: [String] = []
        for _ in 0..<count {
            let begin = monotonicNanoseconds()
            let id = try executor.prepare(containerShell("sleep 300", rootfs: root + "/busybox"))
            let prepared = monotonicNanoseconds()
            try executor.start(id, onExit: { _ in })
            let running = monotonicNanoseconds()
            prepareAndStart.append(Double(running - begin) / 1e6)
            startOnly.append(Double(running - prepared) / 1e6)
            bundles.append("\(executor.root)/containers/\(id)/bundle")
        }
        // The floor: the same bundles (own cgroup each), started by runc directly.
        var floor: [Double] = []
        for (index, bundle) in bundles.enumerated() {
            let floorBundle = "\(root)/floor-\(index)"
            try FileSystem.makeDirectories(floorBundle)
            var config = try String(contentsOfFile: bundle + "/config.json", encoding: .utf8)
            config = config.replacingOccurrences(of: "\"cgroupsPath\" : \"\(parent)/", with: "\"cgroupsPath\" : \"\(parent)/floor-")
            try config.write(toFile: floorBundle + "/config.json", atomically: true, encoding: .utf8)
            let id = "floor-\(index)"
            let begin = monotonicNanoseconds()
            // A detached container keeps runc's stdio: give it /dev/null so the helper's pipes close
            // when runc returns (the sh exec costs ~1 ms, counted against the floor).
            try HostCommand.check(["/bin/sh", "-c", "exec \"$0\" --root \"$1\" run --detach --bundle \"$2\" \"$3\" "
                                   + "</dev/null >/dev/null 2>&1", runtime, floorState, floorBundle, id]) {
                OCIError.runtime($0)
            }
            floor.append(Double(monotonicNanoseconds() - begin) / 1e6)
            floorIDs.append(id)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let report = String(format: "start-to-running, %d containers, median per container: prepare+start %.1f ms, "
                            + "start %.1f ms; plain runc run --detach %.1f ms; ratio start/runc %.2f, prepare+start/runc %.2f",
                            count, median(prepareAndStart), median(startOnly), median(floor),
                            median(startOnly) / median(floor), median(prepareAndStart) / median(floor))
        print(report)
        XCTAssertEqual(prepareAndStart.count, count)
    }
}
