import Glibc
import Platform

/// One line of a task's output with the time it was written and which stream it came on.
///
/// It exists because `docker logs --timestamps/--since/--until/--tail` are about when lines were
/// written and in which order across stdout and stderr: the raw per-stream files cannot say.
/// `sequence` numbers a container's lines in write order, so a follower asks for what came after
/// the last one it saw.
public struct LogRecord: Sendable, Equatable {
    public var stream: LogStream
    /// Nanoseconds since the epoch when the line's first byte was read from the task.
    public var timeNanos: Int64
    public var sequence: UInt64
    /// The line, with its newline (a line cut at `LogRecordWriter.maxLineBytes` or at the end of
    /// the output has none).
    public var bytes: [UInt8]

    public init(stream: LogStream, timeNanos: Int64, sequence: UInt64, bytes: [UInt8]) {
        self.stream = stream
        self.timeNanos = timeNanos
        self.sequence = sequence
        self.bytes = bytes
    }

    static let headerBytes = 24

    /// `[stream 1|2][0 0 0][length u32][time i64][sequence u64]` (big-endian) then the line.
    func encoded() -> [UInt8] {
        var out: [UInt8] = [stream == .stdout ? 1 : 2, 0, 0, 0]
        out.reserveCapacity(Self.headerBytes + bytes.count)
        let length = UInt32(bytes.count)
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: UInt64(bitPattern: timeNanos) >> UInt64(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift))) }
        return out + bytes
    }

    /// Every whole record in `data`, in file order; a torn last record (a crash mid-write) is skipped.
    static func decodeAll(_ data: [UInt8]) -> [LogRecord] {
        var records: [LogRecord] = []
        var offset = 0
        func integer(_ at: Int, _ count: Int) -> UInt64 {
            var value: UInt64 = 0
            for index in at..<(at + count) { value = value << 8 | UInt64(data[index]) }
            return value
        }
        while offset + headerBytes <= data.count {
            guard data[offset] == 1 || data[offset] == 2 else { break }
            let length = Int(integer(offset + 4, 4))
            guard offset + headerBytes + length <= data.count else { break }
            records.append(LogRecord(stream: data[offset] == 1 ? .stdout : .stderr,
                                     timeNanos: Int64(bitPattern: integer(offset + 8, 8)), sequence: integer(offset + 16, 8),
                                     bytes: Array(data[(offset + headerBytes)..<(offset + headerBytes + length)])))
            offset += headerBytes + length
        }
        return records
    }
}

/// Where a container's timestamped lines live: `records.log` (+ rotated `.1`, `.2` …) next to
/// its raw stream files, under the same size limits.
public enum LogRecordFile {
    /// The records' base path for a container whose stdout file is `stdoutBase`.
    static func base(besides stdoutBase: String) -> String {
        let directory = stdoutBase.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return directory + "/records.log"
    }

    /// Every kept record, oldest first.
    static func read(base: String, maxFiles: Int) throws -> [LogRecord] {
        var records: [LogRecord] = []
        for path in RotatingLog.files(base: base, maxFiles: maxFiles) {
            records += LogRecord.decodeAll(try File.openForReading(path).readAll())
        }
        return records
    }
}

/// Cuts a task's two output streams into lines stamped with the time each began, and appends
/// them as records (`LogRecord`) to a rotating file.
///
/// It exists beside the raw stream files (which `Executor.logs` still serves) so that readers
/// get write times and the order across streams. Used on the log-pump thread only.
final class LogRecordWriter {
    /// A longer line is recorded in pieces of this size (as docker's json-file log does).
    static let maxLineBytes = 16 << 10

    private let log: RotatingLog
    private let clock: () -> Int64
    private var sequence: UInt64 = 0
    private var partial: [LogStream: (time: Int64, bytes: [UInt8])] = [:]

    /// With `appending` (a container re-adopted after the node restarted) the existing records are
    /// kept and the sequence continues after the last of them.
    init(base: String, limits: LogLimits, appending: Bool = false,
         clock: @escaping () -> Int64 = LogRecordWriter.realtimeNanos) throws {
        if appending {
            sequence = (try? LogRecordFile.read(base: base, maxFiles: limits.maxFiles))?.last?.sequence ?? 0
        }
        log = try RotatingLog(base: base, limits: limits, appending: appending)
        self.clock = clock
    }

    /// Records every complete line of `bytes`; an unfinished line waits for the rest.
    func append(_ stream: LogStream, _ bytes: UnsafeRawBufferPointer) {
        let now = clock()
        var pending = partial[stream] ?? (now, [])
        for byte in bytes {
            if pending.bytes.isEmpty { pending.time = now }
            pending.bytes.append(byte)
            if byte == 10 || pending.bytes.count == Self.maxLineBytes {
                write(stream, pending)
                pending.bytes = []
            }
        }
        partial[stream] = pending
    }

    /// The stream ended: its unfinished line is recorded as it is.
    func finish(_ stream: LogStream) {
        if let pending = partial.removeValue(forKey: stream), !pending.bytes.isEmpty { write(stream, pending) }
    }

    private func write(_ stream: LogStream, _ line: (time: Int64, bytes: [UInt8])) {
        sequence += 1
        let record = LogRecord(stream: stream, timeNanos: line.time, sequence: sequence, bytes: line.bytes).encoded()
        // A full disk must not stop the draining: the record is dropped.
        record.withUnsafeBytes { try? log.writeWhole($0) }
    }

    static func realtimeNanos() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

extension Executor {
    /// The default for executors without timestamped records: the raw streams cut into lines,
    /// stdout first, with no times (time 0).
    public func logRecords(_ id: ContainerID) throws -> [LogRecord] {
        var records: [LogRecord] = []
        for stream in LogStream.allCases {
            var line: [UInt8] = []
            for byte in try logs(id, stream: stream) {
                line.append(byte)
                if byte == 10 {
                    records.append(LogRecord(stream: stream, timeNanos: 0, sequence: UInt64(records.count + 1), bytes: line))
                    line = []
                }
            }
            if !line.isEmpty { records.append(LogRecord(stream: stream, timeNanos: 0, sequence: UInt64(records.count + 1), bytes: line)) }
        }
        return records
    }
}
