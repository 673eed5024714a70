import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// The seccomp filter a node compiles once and hands crun (`run.oci.seccomp_bpf_data`).
final class SeccompCompilerTests: XCTestCase {
    func testEachProfileIsCompiledToWholeInstructionsOnceAndCapabilitiesChangeTheProgram() throws {
        let compiler = SeccompCompiler()
        guard compiler.isAvailable else { throw XCTSkip("libseccomp.so.2 is not installed (apt-get install libseccomp2)") }
        let plain = SeccompProfile.make(capabilities: OCIConfig.capabilities(add: [], drop: []))
        let admin = SeccompProfile.make(capabilities: OCIConfig.capabilities(add: ["SYS_ADMIN"], drop: []))
        let program = try compiler.compile(plain)
        XCTAssertFalse(program.isEmpty)
        XCTAssertEqual(program.count % 8, 0, "a BPF program is a sequence of 8-byte instructions")
        XCTAssertNotEqual(try compiler.compile(admin), program, "SYS_ADMIN allows mount, unshare and clone with namespace flags")
        let encoded = try XCTUnwrap(compiler.base64Program(for: plain))
        XCTAssertEqual(Data(base64Encoded: encoded).map { [UInt8]($0) }, program)
        XCTAssertEqual(compiler.base64Program(for: plain), encoded)
    }

    func testWithoutLibseccompTheRuntimeCompilesTheProfileItself() {
        let compiler = SeccompCompiler(libraryName: "libseccomp-not-installed.so.9")
        XCTAssertFalse(compiler.isAvailable)
        XCTAssertNil(compiler.base64Program(for: SeccompProfile.make(capabilities: [])))
    }

    func testAProfileWithAnActionOrComparisonItCannotCompileIsLeftToTheRuntime() throws {
        let compiler = SeccompCompiler()
        guard compiler.isAvailable else { throw XCTSkip("libseccomp.so.2 is not installed (apt-get install libseccomp2)") }
        var profile = SeccompProfile.make(capabilities: [])
        profile.syscalls.append(OCIConfig.SyscallRule(names: ["ptrace"], action: "SCMP_ACT_LOG"))
        XCTAssertNil(compiler.base64Program(for: profile))
        XCTAssertThrowsError(try compiler.compile(profile))
    }
}

/// crun containers of the OCI executor: the node's compiled filter is crun's own, and it confines
/// the container; on a hybrid cgroup layout crun runs with the v2 tree hidden and the limits apply.
final class CrunContainerTests: OCITestCase {
    override var runtimeName: String? { "crun" }

    /// crun keeps the program it loads in its state directory while the container runs.
    private func loadedProgram(_ id: ContainerID) throws -> [UInt8] {
        try File.openForReading("\(executor.runtime.stateDirectory)/\(id)/seccomp.bpf").readAll()
    }

    private func bundleConfig(_ id: ContainerID) throws -> [String: Any] {
        let bytes = try File.openForReading("\(executor.root)/containers/\(id)/bundle/config.json").readAll()
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    private func awaitRunning(_ id: ContainerID) throws {
        let deadline = Date().addingTimeInterval(20)
        while try executor.inspect(id).state != .running {
            guard Date() < deadline else { return XCTFail("container \(id) did not run within 20 s") }
            usleep(20_000)
        }
    }

    func testTheNodesCompiledFilterIsTheOneCrunCompilesFromTheProfileByteForByte() throws {
        guard executor.seccompCompiler?.isAvailable == true else { throw XCTSkip("libseccomp.so.2 is not installed") }
        // crun compiles the JSON profile: the bundle's annotation is removed before the start.
        let id = try executor.prepare(containerShell("sleep 30", rootfs: rootfs, graceMillis: 0))
        var config = try bundleConfig(id)
        let annotation = try XCTUnwrap((config["annotations"] as? [String: String])?[SeccompCompiler.annotation])
        let ours = try XCTUnwrap(Data(base64Encoded: annotation).map { [UInt8]($0) })
        config["annotations"] = nil
        let file = try File.open("\(executor.root)/containers/\(id)/bundle/config.json", flags: O_WRONLY | O_TRUNC)
        try file.write(Array(try JSONSerialization.data(withJSONObject: config)), at: 0)
        try executor.start(id) { _ in }
        try awaitRunning(id)
        XCTAssertEqual(try loadedProgram(id), ours, "crun compiled a different program from the same profile")
        // With the annotation, crun loads the node's program as it is.
        let compiled = try run(containerShell("sleep 30", rootfs: rootfs, graceMillis: 0))
        try awaitRunning(compiled)
        XCTAssertEqual(try loadedProgram(compiled), ours)
    }

    func testTheCompiledFilterRefusesNamespacesAndUnconfinedHasNone() throws {
        let script = "unshare -U -r true 2>&1 && echo unshared || echo refused"
        let confined = try run(containerShell(script, rootfs: rootfs))
        XCTAssertEqual(try executor.wait(confined, timeoutMillis: 20_000), .exited(code: 0))
        let text = try output(confined)
        XCTAssertTrue(text.hasSuffix("refused\n"), text)
        XCTAssertTrue(text.contains("Operation not permitted"), text)
        XCTAssertEqual(executor.seccompCompiler?.isAvailable == true,
                       (try bundleConfig(confined)["annotations"] as? [String: String])?[SeccompCompiler.annotation] != nil)
        try executor.remove(confined)
        let unconfined = try run(containerShell(script, rootfs: rootfs) { $0.seccomp = .unconfined })
        XCTAssertNil(try bundleConfig(unconfined)["annotations"], "no filter to compile")
        _ = try executor.wait(unconfined, timeoutMillis: 20_000)
        let free = try output(unconfined)
        guard free.hasSuffix("unshared\n") else { throw XCTSkip("this kernel refuses user namespaces even unconfined: \(free)") }
    }

    func testMemoryCPUAndPidsLimitsReachTheContainersCgroups() throws {
        let id = try run(containerShell("sleep 30", rootfs: rootfs, graceMillis: 0) {
            $0.resources.memoryBytes = 64 << 20
            $0.resources.nanoCPUs = 500_000_000
            $0.resources.pidsLimit = 42
        })
        try awaitRunning(id)
        let directories = executor.cgroupDirectories(id)
        func value(_ file: String) throws -> String {
            let directory = try XCTUnwrap(directories.first { FileSystem.exists("\($0)/\(file)") }, "no cgroup has \(file): \(directories)")
            return String(decoding: try Tree.readPseudoFile("\(directory)/\(file)"), as: UTF8.self).trimmingTrailingWhitespace()
        }
        if FileSystem.exists("/sys/fs/cgroup/memory") {
            XCTAssertEqual(try value("memory.limit_in_bytes"), String(64 << 20))
            XCTAssertEqual(try value("cpu.cfs_quota_us"), "50000")
            XCTAssertEqual(try value("pids.max"), "42")
        } else {
            XCTAssertEqual(try value("memory.max"), String(64 << 20))
            XCTAssertEqual(try value("cpu.max"), "50000 100000")
            XCTAssertEqual(try value("pids.max"), "42")
        }
        // The container's own processes are in them.
        let pid = try XCTUnwrap(try executor.inspect(id).pid)
        let procs = try value("cgroup.procs")
        XCTAssertTrue(procs.split(separator: "\n").contains(Substring(String(pid))), "pid \(pid) not in \(procs)")
    }
}
