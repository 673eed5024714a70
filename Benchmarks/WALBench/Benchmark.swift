import Foundation
import Glibc
import Platform
import Raft
import Storage

struct BenchSettings {
    var directory: String?
    var seconds: Double
    var repeats: Int
    var jsonPath: String
    /// Also run the WAL cases with encryption at rest disabled, interleaved with the others.
    var compareEncryption = false

    var cases: [BenchCase] { BenchCase.allCases.filter { compareEncryption || !$0.isPlaintext } }
}

/// One measured configuration: the raw disk, or the WAL with a batch size.
enum BenchCase: CaseIterable, CustomStringConvertible {
    case raw, rawPreallocated, batch1, batch16, batch256, plain1, plain16, plain256

    var batchSize: Int {
        switch self {
        case .raw, .rawPreallocated, .batch1, .plain1: 1
        case .batch16, .plain16: 16
        case .batch256, .plain256: 256
        }
    }

    var isRaw: Bool { self == .raw || self == .rawPreallocated }

    /// The WAL with encryption at rest disabled (`--compare-encryption`).
    var isPlaintext: Bool { self == .plain1 || self == .plain16 || self == .plain256 }

    /// The encrypted case a plaintext case is compared with.
    var encryptedCounterpart: BenchCase {
        switch self {
        case .plain1: .batch1
        case .plain16: .batch16
        case .plain256: .batch256
        default: self
        }
    }

    var description: String {
        switch self {
        case .raw: "raw 4 KiB append + fdatasync"
        case .rawPreallocated: "raw 4 KiB overwrite of zeros + fdatasync"
        case .batch1: "WAL batch 1"
        case .batch16: "WAL batch 16"
        case .batch256: "WAL batch 256"
        case .plain1: "WAL batch 1, no encryption"
        case .plain16: "WAL batch 16, no encryption"
        case .plain256: "WAL batch 256, no encryption"
        }
    }

    var key: String {
        switch self {
        case .raw: "raw_4k_append_fdatasync"
        case .rawPreallocated: "raw_4k_overwrite_zero_filled_fdatasync"
        case .batch1: "wal_batch_1"
        case .batch16: "wal_batch_16"
        case .batch256: "wal_batch_256"
        case .plain1: "wal_batch_1_unencrypted"
        case .plain16: "wal_batch_16_unencrypted"
        case .plain256: "wal_batch_256_unencrypted"
        }
    }
}

/// Result of one timed run.
struct RunResult {
    /// Entries (or raw writes) per second.
    var rate: Double
    /// Latency of one batch (append + fdatasync), microseconds.
    var p50: Double
    var p99: Double
}

/// Measures WAL group commit against the raw disk in the same run: the cases are interleaved and
/// repeated, and medians reported, so a noisy neighbour or a slow minute hits all of them alike.
struct WALBenchmark {
    let settings: BenchSettings
    static let entryBytes = 128
    /// Size of the zero-filled file for the raw overwrite case (one default WAL segment).
    static let rawFileBytes = 64 << 20

    init(_ settings: BenchSettings) { self.settings = settings }

    func run() throws {
        let root = try FileSystem.makeTemporaryDirectory(prefix: "wal-bench-", base: settings.directory)
        defer { try? FileSystem.removeTree(root) }
        var results: [BenchCase: [RunResult]] = [:]
        var recoveries: [Recovery] = []
        for repeatIndex in 0..<settings.repeats {
            let directory = root + "/run-\(repeatIndex)"
            var workloads = try settings.cases.map { try makeWorkload($0, in: directory + "/" + $0.key) }
            try interleave(&workloads, repeatIndex: repeatIndex)
            for workload in workloads {
                let result = workload.result()
                results[workload.benchCase, default: []].append(result)
                log("  run \(repeatIndex + 1)  \(padded(workload.benchCase.description, 42)) \(padded(String(Int(result.rate)), 9, left: true)) /s   batch p50 \(Int(result.p50)) µs")
            }
            workloads.removeAll()  // closes the storages
            recoveries.append(try measureRecovery(directory + "/" + BenchCase.batch256.key))
            try FileSystem.removeTree(directory)
        }
        let report = Report(results: results, recoveries: recoveries, settings: settings, directory: root)
        print(report.table())
        try report.writeJSON(to: settings.jsonPath)
        print("wrote \(settings.jsonPath)")
    }

    /// Runs every workload for `seconds` in total, as `slices` short turns in rotating order, so
    /// a burst of outside disk activity hits all cases alike instead of ruining one of them.
    private func interleave(_ workloads: inout [Workload], repeatIndex: Int) throws {
        let slice = settings.seconds / Double(Self.slices)
        for turn in 0..<Self.slices {
            for position in rotated(Array(workloads.indices), by: repeatIndex + turn) {
                try workloads[position].run(seconds: slice)
            }
        }
    }

    /// Turns per case per repeat.
    static let slices = 10

    private func makeWorkload(_ benchCase: BenchCase, in directory: String) throws -> Workload {
        switch benchCase {
        case .raw: try rawWorkload(benchCase, directory, preallocated: false)
        case .rawPreallocated: try rawWorkload(benchCase, directory, preallocated: true)
        case .batch1, .batch16, .batch256, .plain1, .plain16, .plain256: try walWorkload(benchCase, directory)
        }
    }

    private func rotated<T>(_ items: [T], by amount: Int) -> [T] {
        let shift = amount % items.count
        return Array(items[shift...] + items[..<shift])
    }

    private func log(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// 4 KiB writes, each followed by fdatasync: appends to a growing file (what the disk gives
    /// anyone), or overwrites of a zero-filled preallocated file (the best case the WAL aims at).
    private func rawWorkload(_ benchCase: BenchCase, _ directory: String, preallocated: Bool) throws -> Workload {
        try FileSystem.makeDirectories(directory)
        let file = try File.create(directory + "/raw")
        if preallocated {
            try file.writeZeros(at: 0, count: Self.rawFileBytes)
            try file.syncData()
        }
        let block = [UInt8](repeating: 0xA5, count: 4096)
        var offset = 0
        return Workload(benchCase) {
            try file.write(block, at: offset)
            try file.syncData()
            offset += block.count
            if preallocated && offset == Self.rawFileBytes { offset = 0 }
        }
    }

    /// Synced batches of 128-byte entries through `RaftStorage` with default options (encryption
    /// at rest on), or with encryption disabled for the plaintext cases.
    private func walWorkload(_ benchCase: BenchCase, _ directory: String) throws -> Workload {
        let options = RaftStorage.Options(encryption: benchCase.isPlaintext ? .disabled : .dataDirectoryKey)
        let (storage, _) = try RaftStorage.open(dataDirectory: directory, options: options, logger: StorageLogger { _ in })
        let data = [UInt8](repeating: 0x5A, count: Self.entryBytes)
        let batch = UInt64(benchCase.batchSize)
        var next: UInt64 = 1
        return Workload(benchCase) {
            let entries = (0..<batch).map { Entry(term: 1, index: next + $0, data: data) }
            next += batch
            try storage.append(entries: entries, hardState: HardState(term: 1, vote: 1, commit: next - 1), sync: true)
        }
    }

    /// Start-up cost: `open` of the log the batch-256 run just wrote (read, CRC-check, replay).
    private func measureRecovery(_ directory: String) throws -> Recovery {
        let start = monotonicNanoseconds()
        let (storage, state) = try RaftStorage.open(dataDirectory: directory, logger: StorageLogger { _ in })
        let seconds = Double(monotonicNanoseconds() - start) / 1e9
        return Recovery(entries: state.entries.count, segments: storage.segmentNames.count, seconds: seconds)
    }
}

/// One case's operation and what its turns measured so far.
final class Workload {
    let benchCase: BenchCase
    private let operation: () throws -> Void
    private var latencies: [UInt64] = []
    private var elapsed: UInt64 = 0

    init(_ benchCase: BenchCase, _ operation: @escaping () throws -> Void) {
        self.benchCase = benchCase
        self.operation = operation
        latencies.reserveCapacity(100_000)
    }

    /// Repeats the operation for `seconds`.
    func run(seconds: Double) throws {
        let start = monotonicNanoseconds()
        let deadline = start + UInt64(seconds * 1e9)
        var now = start
        while now < deadline {
            try operation()
            let after = monotonicNanoseconds()
            latencies.append(after - now)
            now = after
        }
        elapsed += now - start
    }

    func result() -> RunResult {
        precondition(!latencies.isEmpty, "\(benchCase) never ran")
        let sorted = latencies.sorted()
        return RunResult(rate: Double(sorted.count * benchCase.batchSize) / (Double(elapsed) / 1e9),
                         p50: Double(sorted[sorted.count / 2]) / 1e3,
                         p99: Double(sorted[min(sorted.count - 1, sorted.count * 99 / 100)]) / 1e3)
    }
}

/// How long `open` took to recover a log.
struct Recovery {
    var entries: Int
    var segments: Int
    var seconds: Double
    var entriesPerSecond: Double { Double(entries) / seconds }
}

/// Medians, the ratio to the raw disk, the table and the JSON file.
struct Report {
    let results: [BenchCase: [RunResult]]
    let recoveries: [Recovery]
    let settings: BenchSettings
    let directory: String

    func median(_ benchCase: BenchCase, _ value: (RunResult) -> Double) -> Double {
        let sorted = results[benchCase, default: []].map(value).sorted()
        precondition(!sorted.isEmpty, "no runs for \(benchCase)")
        return sorted[sorted.count / 2]
    }

    var raw: Double { median(.raw, \.rate) }

    var rawPreallocated: Double { median(.rawPreallocated, \.rate) }

    func table() -> String {
        var lines = ["| case | entries/s (median of \(settings.repeats)) | batch p50 µs | batch p99 µs | vs raw append | vs raw zero-filled |",
                     "|---|---:|---:|---:|---:|---:|"]
        for benchCase in settings.cases {
            let rate = median(benchCase, \.rate)
            lines.append("| \(benchCase.description) | \(Int(rate)) | \(Int(median(benchCase, \.p50))) | "
                + "\(Int(median(benchCase, \.p99))) | \(ratio(rate, raw)) | \(ratio(rate, rawPreallocated)) |")
        }
        let batch1 = median(.batch1, \.rate) / raw
        let batch256 = median(.batch256, \.rate)
        lines.append("")
        lines.append(String(format: "targets: batch 1 ≥ 80%% of raw: %.0f%% %@; batch 256 ≥ 200,000 entries/s: %.0f %@",
                            batch1 * 100, (batch1 >= 0.8 ? "PASS" : "FAIL") as NSString,
                            batch256, (batch256 >= 200_000 ? "PASS" : "FAIL") as NSString))
        for plain in settings.cases where plain.isPlaintext {
            let encrypted = median(plain.encryptedCounterpart, \.rate)
            let baseline = median(plain, \.rate)
            lines.append(String(format: "encryption at rest, batch %d: %.0f entries/s encrypted vs %.0f plaintext (%.1f%% of plaintext)",
                                plain.batchSize, encrypted, baseline, encrypted / baseline * 100))
        }
        let recovery = medianRecovery
        lines.append(String(format: "recovery (open after the batch-256 run): %d entries in %d segments in %.2f s (%.0f entries/s)",
                            recovery.entries, recovery.segments, recovery.seconds, recovery.entriesPerSecond))
        lines.append("machine: \(Machine.summary)")
        return lines.joined(separator: "\n")
    }

    var medianRecovery: Recovery {
        let sorted = recoveries.sorted { $0.entriesPerSecond < $1.entriesPerSecond }
        precondition(!sorted.isEmpty, "no recovery measured")
        return sorted[sorted.count / 2]
    }

    private func ratio(_ value: Double, _ base: Double) -> String { String(format: "%.2f×", value / base) }

    func writeJSON(to path: String) throws {
        var cases: [String: Any] = [:]
        for benchCase in settings.cases {
            cases[benchCase.key] = [
                "description": benchCase.description,
                "batch_size": benchCase.isRaw ? 0 : benchCase.batchSize,
                "median_per_second": median(benchCase, \.rate).rounded(),
                "runs_per_second": results[benchCase, default: []].map { $0.rate.rounded() },
                "median_batch_p50_us": median(benchCase, \.p50).rounded(),
                "median_batch_p99_us": median(benchCase, \.p99).rounded(),
            ]
        }
        var encryption: [String: Any] = [:]
        for plain in settings.cases where plain.isPlaintext {
            encryption["batch_\(plain.batchSize)_encrypted_to_plaintext"] =
                (median(plain.encryptedCounterpart, \.rate) / median(plain, \.rate) * 1000).rounded() / 1000
        }
        var document: [String: Any] = [
            "benchmark": "wal-bench",
            "command": "swift run -c release --scratch-path .build-storage wal-bench",
            "entry_bytes": WALBenchmark.entryBytes,
            "seconds_per_case_per_repeat": settings.seconds,
            "turns_per_case_per_repeat": WALBenchmark.slices,
            "repeats": settings.repeats,
            "cases": cases,
            "ratio_batch1_to_raw": (median(.batch1, \.rate) / raw * 1000).rounded() / 1000,
            "ratio_batch1_to_raw_zero_filled": (median(.batch1, \.rate) / rawPreallocated * 1000).rounded() / 1000,
            "targets": [
                "batch1_at_least_80_percent_of_raw": median(.batch1, \.rate) / raw >= 0.8,
                "batch256_at_least_200k_per_second": median(.batch256, \.rate) >= 200_000,
            ],
            "recovery_median": [
                "entries": medianRecovery.entries,
                "segments": medianRecovery.segments,
                "seconds": (medianRecovery.seconds * 1000).rounded() / 1000,
                "entries_per_second": medianRecovery.entriesPerSecond.rounded(),
            ],
            "machine": Machine.json(directory: directory),
        ]
        if settings.compareEncryption {
            document["encryption_at_rest"] = encryption
            document["command"] = "swift run -c release --scratch-path .build-storage wal-bench --compare-encryption"
        }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        let parent = FileSystem.parentDirectory(of: path)
        try FileSystem.makeDirectories(parent)
        try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: path))
    }
}

func padded(_ text: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? fill + text : text + fill
}

/// Facts about the machine that make a figure comparable to another one.
enum Machine {
    static var processors: Int { sysconf(Int32(_SC_NPROCESSORS_ONLN)) }

    static var memoryMiB: Int {
        let info = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("MemTotal:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    static var kernel: String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static var cpuModel: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("model name") } ?? ""
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }

    /// The 1-minute load average: other work on the machine skews fsync figures.
    static var load: String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").first.map(String.init) ?? "unknown"
    }

    static var date: String { ISO8601DateFormatter().string(from: Date()) }

    static var summary: String {
        "\(processors) CPUs (\(cpuModel)), \(memoryMiB) MiB, Linux \(kernel), load \(load), \(date)"
    }

    static func json(directory: String) -> [String: Any] {
        ["nproc": processors, "memory_mib": memoryMiB, "kernel": kernel, "cpu": cpuModel, "date": date,
         "load_average_1min_at_end": load,
         "bench_directory": directory]
    }
}
