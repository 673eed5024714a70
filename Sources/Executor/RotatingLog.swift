import Glibc
import Platform

/// One output stream of a container written to `base`, `base.1`, … `base.(maxFiles-1)` (newest
/// first), each at most `maxFileBytes`.
///
/// It exists so captured output has a hard disk budget (a task printing in a loop must not fill
/// the node) while the most recent output, the part an operator needs, is always kept.
/// After creation it is handed to one log-pump thread and used only there (hence unchecked).
final class RotatingLog: @unchecked Sendable {
    let base: String
    let limits: LogLimits
    private var file: File
    private var size = 0

    init(base: String, limits: LogLimits) throws {
        self.base = base
        self.limits = limits
        file = try Self.openFresh(base)
    }

    /// Appends `bytes`, rotating whenever the current file is full.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            if size == limits.maxFileBytes { try rotate() }
            let chunk = min(limits.maxFileBytes - size, bytes.count - offset)
            try file.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + chunk)]))
            size += chunk
            offset += chunk
        }
    }

    /// Appends `bytes` to one file: rotates first when they do not fit in the current one (a
    /// record is never split across files; one larger than a file gets a file of its own).
    func writeWhole(_ bytes: UnsafeRawBufferPointer) throws {
        if size > 0 && size + bytes.count > limits.maxFileBytes { try rotate() }
        try file.append(bytes)
        size += bytes.count
    }

    /// The files of this stream, oldest first (only those that exist).
    static func files(base: String, maxFiles: Int) -> [String] {
        let names = [base] + (1..<max(maxFiles, 1)).map { "\(base).\($0)" }
        return names.reversed().filter { FileSystem.exists($0) }
    }

    private func rotate() throws {
        if limits.maxFiles > 1 {
            for index in stride(from: limits.maxFiles - 2, through: 1, by: -1) {
                let from = "\(base).\(index)"
                if FileSystem.exists(from) { try FileSystem.rename(from, to: "\(base).\(index + 1)") }
            }
            try FileSystem.rename(base, to: "\(base).1")
        } else {
            try FileSystem.remove(base)
        }
        file = try Self.openFresh(base)
        size = 0
    }

    private static func openFresh(_ path: String) throws -> File {
        try File.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)
    }
}
