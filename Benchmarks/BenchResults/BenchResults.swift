import Foundation

/// What every benchmark writes next to its figures: the machine they were measured on, and the
/// file under `Benchmarks/results/`. Shared so the benchmarks describe the machine alike.
public enum BenchResults {
    /// CPU count, memory, kernel and UTC date, as the shell reports them.
    public static func machine() -> [String: String] {
        [
            "nproc": shell("nproc"),
            "memory": shell("grep MemTotal /proc/meminfo | tr -s ' '"),
            "kernel": shell("uname -r"),
            "date": shell("date -u +%Y-%m-%dT%H:%M:%SZ"),
        ]
    }

    /// Writes `result` as pretty, key-sorted JSON to `Benchmarks/results/NAME` (relative to the
    /// working directory) and says so.
    public static func write(_ result: [String: Any], name: String) throws {
        let directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Benchmarks/results")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let json = try JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: directory.appendingPathComponent(name))
        print("\nwrote Benchmarks/results/\(name)")
    }

    /// The trimmed standard output of `/bin/sh -c command` (empty if it cannot run).
    public static func shell(_ command: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let pipe = Pipe()
        process.standardOutput = pipe
        try? process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
