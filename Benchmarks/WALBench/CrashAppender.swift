import Glibc
import Platform
import Raft
import Storage

/// The victim process of the crash test: appends synced batches forever and acknowledges each
/// one on stdout only after its fdatasync returned, so every "ack" line is a durability promise
/// the test checks after a SIGKILL.
///
/// Output protocol (one line per `write(1, ...)`, atomic on a pipe):
///   `ready <last index>` after recovery, then `ack <last index of batch>` per durable batch.
/// Entry payloads are `walPattern(index:term:size:)`, so the checker can verify every byte.
struct CrashAppender {
    let directory: String
    let segmentSize: Int

    static let snapshotEvery: UInt64 = 500

    func run() throws {
        let options = RaftStorage.Options(segmentSize: segmentSize, retainedEntries: 100)
        let (storage, state) = try RaftStorage.open(dataDirectory: directory, options: options)
        var last = state.entries.last?.index ?? state.snapshot.metadata.index
        let term = state.hardState.term + 1
        var nextSnapshot = (last / Self.snapshotEvery + 1) * Self.snapshotEvery
        var random = SplitMix64(seed: UInt64(getpid()) ^ monotonicNanoseconds())
        emit("ready \(last)")
        while true {
            let count = UInt64(random.next() % 32 + 1)
            let entries = (last + 1...last + count).map {
                Entry(term: term, index: $0, data: walPattern(index: $0, term: term, size: walPatternSize($0)))
            }
            try storage.append(entries: entries, hardState: HardState(term: term, vote: 1, commit: last + count), sync: true)
            last += count
            emit("ack \(last)")
            if last >= nextSnapshot {
                try storage.saveSnapshot(walSnapshot(index: last, term: term))
                try storage.compact()
                nextSnapshot += Self.snapshotEvery
            }
        }
    }

    private func emit(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let written = write(1, raw.baseAddress! + done, raw.count - done)
                if written < 0 && errno == EINTR { continue }
                precondition(written > 0, "stdout closed")
                done += written
            }
        }
    }
}

/// Payload size for an index: varied, so records straddle sectors and segment ends differently.
func walPatternSize(_ index: UInt64) -> Int { Int(index % 200) + 1 }

/// Recognisable, non-zero payload bytes for (index, term).
func walPattern(index: UInt64, term: UInt64, size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: (index &* 131 &+ term &* 17 &+ UInt64($0)) % 251 + 1) }
}

func walSnapshot(index: UInt64, term: UInt64) -> Snapshot {
    Snapshot(metadata: SnapshotMetadata(index: index, term: term, confState: ConfState(voters: [1])),
             data: walPattern(index: index, term: term, size: 64))
}
