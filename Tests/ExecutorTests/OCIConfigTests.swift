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

    func testResourcesMapToCgroupLimits() {
        let config = make { $0.resources = TaskResources(memoryBytes: 64 << 20, nanoCPUs: 1_500_000_000, pidsLimit: 50) }
        XCTAssertEqual(config.linux.resources.memory, OCIConfig.Memory(limit: 64 << 20))
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
