// wal-bench: durability and speed of the Raft WAL (issue 3).
//
//   wal-bench [--dir DIR] [--seconds S] [--repeats N] [--json PATH] [--compare-encryption]
//       Entries/s with one fdatasync per batch for batches of 1, 16 and 256 128-byte entries,
//       interleaved (10 rotating turns per case per repeat) with the raw 4 KiB append +
//       fdatasync rate of the same disk; medians of N repeats of S seconds per case. The WAL
//       encrypts at rest (AES-256-GCM); --compare-encryption adds the same cases with encryption
//       disabled, interleaved, and prints encrypted/plaintext ratios.
//   wal-bench crash-append DIR [--segment-size BYTES]
//       Appends batches forever, printing "ack <index>" after each batch's fsync returned; used by
//       StorageTests' crash test, which SIGKILLs it at random moments.
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())

func option(_ name: String, in arguments: [String]) -> String? {
    guard let position = arguments.firstIndex(of: name), position + 1 < arguments.count else { return nil }
    return arguments[position + 1]
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("wal-bench: \(message)\n".utf8))
    exit(2)
}

do {
    if arguments.first == "crash-append" {
        guard arguments.count >= 2 else { fail("usage: wal-bench crash-append DIR [--segment-size BYTES]") }
        let segmentSize = option("--segment-size", in: arguments).flatMap(Int.init) ?? (64 << 10)
        try CrashAppender(directory: arguments[1], segmentSize: segmentSize).run()
    } else {
        let settings = BenchSettings(
            directory: option("--dir", in: arguments),
            seconds: option("--seconds", in: arguments).flatMap(Double.init) ?? 1.0,
            repeats: option("--repeats", in: arguments).flatMap(Int.init) ?? 5,
            jsonPath: option("--json", in: arguments) ?? "Benchmarks/results/wal.json",
            compareEncryption: arguments.contains("--compare-encryption"))
        try WALBenchmark(settings).run()
    }
} catch {
    fail("\(error)")
}
