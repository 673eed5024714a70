import Glibc
import Platform

/// Copies a task's stdout and stderr pipes into their rotating log files until both reach end of
/// file, on one thread with `poll`.
///
/// It exists because a child blocks once a pipe fills, so something must drain both pipes all the
/// time, independently of whether anyone reads the logs or waits for the exit. One thread per
/// container keeps this slice simple; moving the pipes onto the node's event loop is a later step.
enum LogPump {
    /// Runs until both descriptors are at end of file; closes them.
    /// Lines also go, with their write times, to the container's records (`LogRecordWriter`).
    static func run(stdout: Int32, stderr: Int32, stdoutLog: RotatingLog, stderrLog: RotatingLog, appending: Bool = false) {
        var open: [(descriptor: Int32, log: RotatingLog, stream: LogStream)] = [(stdout, stdoutLog, .stdout), (stderr, stderrLog, .stderr)]
        let records = try? LogRecordWriter(base: LogRecordFile.base(besides: stdoutLog.base), limits: stdoutLog.limits, appending: appending)
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while !open.isEmpty {
            var pollers = open.map { pollfd(fd: $0.descriptor, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&pollers, nfds_t(pollers.count), -1)
            if ready < 0 && errno == EINTR { continue }
            precondition(ready >= 0, "poll on task output failed: \(SystemError("poll"))")
            var finished: [Int32] = []
            for (index, poller) in pollers.enumerated() where poller.revents != 0 {
                if !copyOnce(open[index].descriptor, into: open[index].log, records: records, stream: open[index].stream, buffer: &buffer) {
                    finished.append(open[index].descriptor)
                    records?.finish(open[index].stream)
                }
            }
            TaskSpawner.closeAll(finished)
            open.removeAll { finished.contains($0.descriptor) }
        }
    }

    /// One read and write; false at end of file or on a read error.
    private static func copyOnce(_ descriptor: Int32, into log: RotatingLog, records: LogRecordWriter?, stream: LogStream,
                                 buffer: inout [UInt8]) -> Bool {
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return true }
        guard count > 0 else { return false }
        // A full disk must not stop the draining (the task would block on its pipe): drop the bytes.
        buffer.withUnsafeBytes {
            let read = UnsafeRawBufferPointer(rebasing: $0[0..<count])
            try? log.write(read)
            records?.append(stream, read)
        }
        return true
    }
}
