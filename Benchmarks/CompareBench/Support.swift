import API
import Foundation
import Glibc
import Platform

struct BenchError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("compare-bench: \(message)\n".utf8))
    exit(1)
}

func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}

func nowMillis() -> Double { Double(monotonicNanoseconds()) / 1e6 }

func sleepMillis(_ millis: Double) { usleep(UInt32(max(0, millis) * 1000)) }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(sorted.count - 1, max(0, rank))]
}

/// A summary of repeated measurements: median and min–max.
func summary(_ values: [Double]) -> [String: Any] {
    ["median": median(values), "min": values.min() ?? 0, "max": values.max() ?? 0, "runs": values]
}

func freePort() throws -> Int {
    let socket = try Socket.listen(on: try SocketAddress(parsing: "127.0.0.1:0"))
    defer { socket.close() }
    return Int(try socket.localAddress().port ?? 0)
}

func shellQuote(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

/// Starts `argv` with stdout and stderr appended to `log` (so an unread pipe never blocks it);
/// the returned process is the program itself (`exec`), so its pid is the one to signal. With
/// `setpriv --pdeathsig KILL` the member dies if the benchmark dies (Ctrl-C, crash), so no
/// cluster outlives it. Call from the main thread: the signal follows the spawning thread.
func spawnLogged(_ argv: [String], log: String, environment: [String: String] = [:]) throws -> ChildProcess {
    // `exec VAR=value cmd` runs a program named "VAR=value": assignments go through env(1).
    let env = environment.isEmpty ? "" : "/usr/bin/env " + environment.map { "\($0.key)=\(shellQuote($0.value)) " }.joined()
    let guardian = FileSystem.exists("/usr/bin/setpriv") ? "/usr/bin/setpriv --pdeathsig KILL " : ""
    let command = "exec \(guardian)\(env)" + argv.map(shellQuote).joined(separator: " ") + " >>\(shellQuote(log)) 2>&1"
    return try ChildProcess.spawn("/bin/sh", arguments: ["-c", command])
}

/// Runs a command to completion and returns its stdout (stderr discarded); throws on failure.
func run(_ argv: [String], timeoutMillis: Int32 = 20_000) throws -> String {
    let command = argv.map(shellQuote).joined(separator: " ") + " 2>/dev/null"
    let process = try ChildProcess.spawn("/bin/sh", arguments: ["-c", command])
    var output: [UInt8] = []
    while let chunk = try process.readOutput(timeoutMilliseconds: timeoutMillis), !chunk.isEmpty { output += chunk }
    let status = try process.wait()
    guard status.exitCode == 0 else { throw BenchError("\(argv.joined(separator: " ")) failed") }
    return String(decoding: output, as: UTF8.self)
}

func waitUntil(_ what: String, timeoutSeconds: Double = 60, _ condition: () -> Bool) throws {
    let deadline = nowMillis() + timeoutSeconds * 1000
    while nowMillis() < deadline {
        if condition() { return }
        sleepMillis(100)
    }
    throw BenchError("timed out after \(Int(timeoutSeconds)) s waiting until \(what)")
}

func readText(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// VmRSS of a process in KiB (from /proc/PID/status).
func residentKiB(_ pid: pid_t) -> Double? {
    guard let text = readText("/proc/\(pid)/status") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}

/// User + system CPU seconds a process has used (from /proc/PID/stat).
func processCPUSeconds(_ pid: pid_t) -> Double {
    guard let text = readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // After the command: state(0) ppid(1) ... utime(11) stime(12)
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// CPU seconds used by this process (all threads): the load generator's own cost.
func selfCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

func machine() -> [String: Any] {
    var uts = utsname()
    uname(&uts)
    let kernel = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let memTotal = readText("/proc/meminfo")?.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }.map(String.init) ?? ""
    let cpu = readText("/proc/cpuinfo")?.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? ""
    let load = readText("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? ""
    return ["nproc": ProcessInfo.processInfo.activeProcessorCount, "memory": memTotal,
            "memory_bytes": ProcessInfo.processInfo.physicalMemory, "kernel": kernel, "cpu": cpu,
            "loadavg_at_end": load, "date": ISO8601DateFormatter().string(from: Date())]
}

func writeJSON(_ document: [String: Any], to path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
    let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
    print("wrote \(path)")
}

func jsonObject(_ bytes: [UInt8]) -> [String: Any]? {
    try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
}

func jsonBytes(_ object: Any) -> [UInt8] {
    Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
}

extension Dictionary where Key == String, Value == Any {
    subscript(path keys: String...) -> Any? {
        var current: Any? = self
        for key in keys { current = (current as? [String: Any])?[key] }
        return current
    }
}

/// A UInt64 from a JSON number or a JSON string (etcd's gateway sends 64-bit integers as strings).
func uint64(_ value: Any?) -> UInt64? {
    if let number = value as? NSNumber { return number.uint64Value }
    if let text = value as? String { return UInt64(text) }
    return nil
}

func format(_ value: Double, _ decimals: Int = 0) -> String { String(format: "%.\(decimals)f", value) }

func ratio(_ ours: Double, _ theirs: Double) -> Double { theirs == 0 ? 0 : ours / theirs }
