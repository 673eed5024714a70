import Platform

/// One WAL segment on disk, identified by its name `%016x-%016x.wal` (sequence, first index).
///
/// The sequence orders segments and exposes a missing one; the first index lets compaction decide
/// which segments are wholly older than what must be kept without opening them.
struct SegmentFile: Equatable, Sendable {
    let sequence: UInt64
    /// No entry with a lower index is live in this segment or any later one, unless rewritten there.
    let firstIndex: UInt64
    let path: String

    var name: String { Self.name(sequence: sequence, firstIndex: firstIndex) }

    static func name(sequence: UInt64, firstIndex: UInt64) -> String {
        hex16(sequence) + "-" + hex16(firstIndex) + ".wal"
    }

    /// Parses a segment name; nil for anything else in the directory.
    static func parse(name: String, directory: String) -> SegmentFile? {
        guard name.hasSuffix(".wal") else { return nil }
        let parts = name.dropLast(4).split(separator: "-")
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
              let sequence = UInt64(parts[0], radix: 16), let first = UInt64(parts[1], radix: 16)
        else { return nil }
        return SegmentFile(sequence: sequence, firstIndex: first, path: directory + "/" + name)
    }

    /// The segments in `directory`, ordered by sequence.
    static func list(in directory: String) throws -> [SegmentFile] {
        try FileSystem.list(directory).compactMap { parse(name: $0, directory: directory) }
            .sorted { $0.sequence < $1.sequence }
    }
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}
