import Foundation
import Glibc
import Platform
import XCTest

@testable import Executor

/// Polls `condition` until it holds or `timeoutMillis` passes; the only way tests wait for
/// another thread or process (no fixed sleeps).
func eventually(timeoutMillis: Int = 5_000, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
    while monotonicNanoseconds() < deadline {
        if try condition() { return true }
        usleep(2_000)
    }
    return try condition()
}

/// Pids of processes in process group `pgid` that are still alive (zombies excluded: they are
/// dead, only waiting for their new parent to reap them).
func liveProcesses(inGroup pgid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        // After "pid (comm)": state, ppid, pgrp, ...
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let group = Int32(fields[2]) else { return false }
        return group == pgid && fields[0] != "Z"
    }
}

/// Everything an exec's descriptor yields until its end (a terminal master reads EIO once every
/// slave is closed, which ends it too).
func readToEnd(_ descriptor: Int32) -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return bytes }
        bytes += buffer[0..<count]
    }
}

func milliseconds(since start: UInt64) -> Int {
    Int((monotonicNanoseconds() - start) / 1_000_000)
}

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

func shell(_ script: String, environment: [String] = [], workingDirectory: String? = nil,
           graceMillis: Int = 5_000, logLimits: LogLimits = LogLimits()) -> TaskSpec {
    TaskSpec(command: ["/bin/sh", "-c", script], environment: environment, workingDirectory: workingDirectory,
             stopGraceMillis: graceMillis, logLimits: logLimits)
}
