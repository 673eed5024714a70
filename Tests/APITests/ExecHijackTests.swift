@testable import API
import ClusterState
import Foundation
import Glibc
import Platform
import XCTest

/// `docker exec` over a real HTTP server and a fake process: the 101 upgrade, stdcopy frames
/// without a terminal and raw bytes with one, stdin forwarded and half-closed, the exit code
/// recorded before the stream closes, a client that leaves ending the process, output bounded
/// for a client that does not read, and the refusals (Privileged, unknown exec, second start,
/// a container of another node).
final class ExecHijackTests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!
    private var harness: ServerHarness!
    private let started = StartedProcesses()
    /// The processes the fake node started (on the loop), once there is one.
    private var processes: [FakeExecProcess] {
        _ = waitUntil("the fake node started the exec") { !started.all.isEmpty }
        return started.all
    }
    /// Descriptors the loop watches with no connection open.
    private var baseline = 0

    override func setUpWithError() throws {
        Signals.ignoreBrokenPipe()
        plane = FakeControlPlane()
        var task = SwarmTask(id: "taskone", createdAt: Timestamp(millisecondsSinceEpoch: 1_800_000_000_000), serviceID: "svcweb", slot: 1,
                             nodeID: "node2bbbbbbbbbbbbbbbbbbbbb",
                             spec: TaskTemplate(containerSpec: ContainerSpec(image: "busybox:1", command: ["sleep"], args: ["60"])),
                             status: TaskStatus(timestamp: Timestamp(millisecondsSinceEpoch: 1), state: .running, message: "started"))
        task.serviceAnnotations = TaskServiceAnnotations(name: "web")
        plane.containers = [LocalContainer(id: "aaaa1111", task: task, serviceName: "web", state: .running, pid: 42, startedAt: 1)]
        plane.execStarter = { [started] _, configuration in
            do {
                let process = try FakeExecProcess(terminal: configuration.tty, stdin: configuration.attachStdin)
                started.append(process)
                return .success(process)
            } catch {
                return .failure(APIError(status: 500, "\(error)"))
            }
        }
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) })
        nonisolated(unsafe) let router = api!
        harness = try startServer { request, responder in router.handle(request, responder) }
        baseline = try harness.onLoop { [harness] in harness!.loop.registeredCount }
    }

    private var registered: Int { (try? harness.onLoop { [harness] in harness!.loop.registeredCount }) ?? -1 }

    override func tearDown() {
        for process in started.all { process.exit(0) }
    }

    // MARK: Helpers

    /// One request on a fresh connection; the answer's status and JSON body.
    private func call(_ method: String, _ target: String, _ body: String = "") throws -> (Int, JSONValue) {
        let client = try HijackClient(harness.address)
        try client.send(request(method, target, body, upgrade: false))
        let head = try client.readHead()
        let rest = try client.readToEnd()
        let status = Int(head.split(separator: " ")[1]) ?? 0
        let json = (try? JSONValue.parse(HijackClient.dechunk(rest))) ?? .null
        return (status, json)
    }

    private func request(_ method: String, _ target: String, _ body: String, upgrade: Bool) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: api\r\n"
        text += upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n"
        if !body.isEmpty { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        return Array((text + "\r\n" + body).utf8)
    }

    private func createExec(_ body: String) throws -> String {
        let (status, json) = try call("POST", "/v1.41/containers/aaaa/exec", body)
        XCTAssertEqual(status, 201, "\(json)")
        return json["Id"]?.stringValue ?? ""
    }

    /// Starts exec `id` on a hijacked connection; returns the client after the 101 head.
    /// By default a start body without Tty, so the create's Tty decides the framing.
    private func startExec(_ id: String, upgrade: Bool = true, body: String = #"{"Detach":false}"#) throws -> (HijackClient, String) {
        let client = try HijackClient(harness.address)
        try client.send(request("POST", "/v1.41/exec/\(id)/start", body, upgrade: upgrade))
        return (client, try client.readHead())
    }

    // MARK: Tests

    func testWithoutTerminalOutputIsFramedStdinIsForwardedAndTheExitCodeIsRecordedBeforeTheClose() throws {
        let id = try createExec(#"{"Cmd":["sh","-c","cat"],"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Env":["A=1"]}"#)
        XCTAssertEqual(id.count, 64)
        let (client, head) = try startExec(id)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101 UPGRADED\r\n"), head)
        XCTAssertTrue(head.contains("Upgrade: tcp") && head.contains("Connection: Upgrade"), head)
        XCTAssertTrue(head.contains("Content-Type: application/vnd.docker.raw-stream"), head)
        XCTAssertFalse(head.contains("Content-Length") || head.contains("Transfer-Encoding"), head)
        let process = try XCTUnwrap(processes.first)
        XCTAssertEqual(plane.execConfigurations.first?.environment, ["A=1"])

        try process.writeStdout("out\n")
        try process.writeStderr("err!\n")
        var received: [UInt8] = []
        try client.read(into: &received) { $0.count >= 8 + 4 + 8 + 5 }
        XCTAssertEqual(Array(received.prefix(12)), StdcopyFrame.encode(stream: 1, Array("out\n".utf8)))
        XCTAssertEqual(Array(received.dropFirst(12)), StdcopyFrame.encode(stream: 2, Array("err!\n".utf8)))

        try client.send(Array("hello".utf8))
        client.shutdownWrite()
        XCTAssertEqual(String(decoding: try process.readStdinToEnd(), as: UTF8.self), "hello", "stdin, then end of file at the half-close")

        XCTAssertEqual(try call("GET", "/exec/\(id)/json").1["Running"], .bool(true))
        try process.writeStdout("bye")
        process.exit(3)
        received = try client.readToEnd()
        XCTAssertEqual(received, StdcopyFrame.encode(stream: 1, Array("bye".utf8)), "output written before the exit still arrives")
        let (status, inspect) = try call("GET", "/exec/\(id)/json")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(inspect["ExitCode"], .number("3"))
        XCTAssertEqual(inspect["Running"], .bool(false))
        XCTAssertEqual(inspect["Pid"], .number("4242"))
        XCTAssertEqual(inspect["ProcessConfig"]?["entrypoint"], .string("sh"))
        waitUntil("every descriptor of the exec and its connection is released") { self.registered == self.baseline }
    }

    /// As in dockerd, the start's Tty decides the stream's framing (docker-py may give a start Tty
    /// other than the create's); a start ConsoleSize that is no size is refused.
    func testTheStartsTtyDecidesTheFramingAndABadConsoleSizeIsRefused() throws {
        let id = try createExec(#"{"Cmd":["sh","-c","cat"],"AttachStdout":true,"AttachStderr":true}"#)
        let (_, refused) = try startExec(id, body: #"{"Detach":false,"ConsoleSize":[1]}"#)
        XCTAssertTrue(refused.hasPrefix("HTTP/1.1 400"), refused)
        let (client, head) = try startExec(id, body: #"{"Detach":false,"Tty":true}"#)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101 UPGRADED\r\n"), head)
        let process = try XCTUnwrap(processes.first)
        try process.writeStdout("out\n")
        try process.writeStderr("err\n")
        process.exit(0)
        XCTAssertEqual(String(decoding: try client.readToEnd(), as: UTF8.self).split(separator: "\n").sorted(), ["err", "out"],
                       "unframed stdout and stderr")
    }

    func testWithTerminalBytesAreRawInBothDirectionsAndResizeReachesTheTerminal() throws {
        let id = try createExec(#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"ConsoleSize":[30,100]}"#)
        XCTAssertEqual(plane.execConfigurations.count, 0, "nothing runs before start")
        let (client, head) = try startExec(id)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101 "), head)
        let process = try XCTUnwrap(processes.first)
        XCTAssertEqual(plane.execConfigurations.first.map { [$0.consoleRows, $0.consoleColumns] }, [30, 100])
        try process.writeTerminal("$ ")
        var received: [UInt8] = []
        try client.read(into: &received) { $0.count >= 2 }
        XCTAssertEqual(String(decoding: received, as: UTF8.self), "$ ", "no frame headers on a terminal")
        try client.send(Array("echo $$\r".utf8))
        XCTAssertEqual(String(decoding: try process.readTerminal(count: 8), as: UTF8.self), "echo $$\r")

        XCTAssertEqual(try call("POST", "/exec/\(id)/resize?h=40&w=120").0, 200)
        XCTAssertEqual(process.sizes, [[40, 120]])
        XCTAssertEqual(try call("POST", "/exec/\(id)/resize?h=x&w=1").0, 400)
        process.exit(0)
        _ = try client.readToEnd()
        XCTAssertEqual(try call("GET", "/exec/\(id)/json").1["ExitCode"], .number("0"))
        XCTAssertEqual(try call("POST", "/exec/\(id)/resize?h=40&w=120").0, 409, "no terminal to resize once it ended")
    }

    func testAResizeWhileTheProcessStartsIsAppliedOnceItRuns() throws {
        let id = try createExec(#"{"Cmd":["sh"],"Tty":true,"AttachStdin":true,"AttachStdout":true}"#)
        try harness.onLoop { [plane] in plane!.held = [] }
        let (client, head) = try startExec(id)
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101 "), head)
        XCTAssertEqual(try call("POST", "/exec/\(id)/resize?h=50&w=160").0, 200, "the docker CLI resizes right after the stream opens")
        try client.send(Array("early".utf8))
        try harness.onLoop { [plane] in
            plane!.held?.forEach { $0() }
            plane!.held = nil
        }
        let process = try XCTUnwrap(processes.first)
        XCTAssertEqual(process.sizes, [[50, 160]])
        XCTAssertEqual(String(decoding: try process.readTerminal(count: 5), as: UTF8.self), "early", "input sent while it started is kept")
        process.exit(0)
        _ = try client.readToEnd()
    }

    func testAClientThatGoesAwayEndsTheProcess() throws {
        try clientGoesAway(tty: false)
    }

    func testAClientThatGoesAwayEndsTheProcessOnATerminal() throws {
        try clientGoesAway(tty: true)
    }

    private func clientGoesAway(tty: Bool) throws {
        let id = try createExec(#"{"Cmd":["sleep","1000"],"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Tty":\#(tty)}"#)
        let (client, _) = try startExec(id)
        let process = try XCTUnwrap(processes.last)
        XCTAssertFalse(process.terminated)
        client.close()
        waitUntil("the process is terminated") { process.terminated }
        waitUntil("the exit is recorded") { (try? self.call("GET", "/exec/\(id)/json").1["ExitCode"]) == .number("137") }
        waitUntil("the descriptors are released") { self.registered == self.baseline }
    }

    func testOutputForAClientThatDoesNotReadIsBounded() throws {
        let id = try createExec(#"{"Cmd":["yes"],"AttachStdout":true,"AttachStderr":true}"#)
        let (client, _) = try startExec(id)
        let process = try XCTUnwrap(processes.first)
        let written = Counter()
        let writer = Foundation.Thread {
            // Writes until the pipe stays full for half a second (the server stopped reading).
            let chunk = [UInt8](repeating: 0x79, count: 4096)
            var stalled = 0
            while stalled < 5 && written.value < 64 << 20 {
                guard let count = try? process.writeStdoutNonblocking(chunk) else { break }
                stalled = count == 0 ? stalled + 1 : 0
                written.add(count)
            }
            written.finish()
        }
        writer.start()
        waitUntil("the process's writes block", timeoutSeconds: 30) { written.finished }
        XCTAssertGreaterThan(written.value, 64 << 10)
        XCTAssertLessThan(written.value, 8 << 20, "the node reads no more than it can send")
        client.close()
        waitUntil("the process is terminated") { process.terminated }
    }

    func testRefusalsNameWhatIsWrong() throws {
        let (privileged, body) = try call("POST", "/containers/aaaa/exec", #"{"Cmd":["sh"],"Privileged":true}"#)
        XCTAssertEqual(privileged, 400)
        XCTAssertTrue(body["message"]?.stringValue?.contains("Privileged") == true, "\(body)")
        XCTAssertEqual(try call("POST", "/containers/aaaa/exec", #"{"Cmd":["sh"],"DetachKeys":"ctrl-x"}"#).0, 400)
        XCTAssertEqual(try call("POST", "/containers/aaaa/exec", #"{"Cmd":[]}"#).0, 400)
        let (missing, message) = try call("POST", "/containers/cccc/exec", #"{"Cmd":["sh"]}"#)
        XCTAssertEqual(missing, 404, "a container this node does not run: exec only where the task runs")
        XCTAssertEqual(message["message"], .string("No such container: cccc"))
        XCTAssertEqual(try call("GET", "/exec/nosuchexec/json").0, 404)
        let (_, unknownStart) = try startExec("nosuchexec")
        XCTAssertTrue(unknownStart.hasPrefix("HTTP/1.1 404"), unknownStart)

        let id = try createExec(#"{"Cmd":["true"],"AttachStdout":true}"#)
        let (first, _) = try startExec(id)
        let (second, again) = try startExec(id)
        XCTAssertTrue(again.hasPrefix("HTTP/1.1 409"), again)
        processes.first?.exit(0)
        _ = try first.readToEnd()
        _ = second
        XCTAssertTrue(plane.audits.contains { $0.contains("exec \(id)") && $0.contains("true") }, "\(plane.audits)")
    }

    /// The node's typed reason for a command that could not start sets the exec's exit code
    /// (dockerd's 127 not found, 126 cannot run), whatever the message says; the client sees
    /// the message on the stream.
    func testAnExecThatCouldNotStartRecordsTheExitCodeOfItsReason() throws {
        for (code, message) in [(Int32(127), "cannot run x: not an executable file"), (126, "cannot run y: no such file"), (nil, "other")] {
            plane.execStarter = { _, _ in
                var failure = APIError(status: 500, message)
                failure.execExitCode = code
                return .failure(failure)
            }
            let id = try createExec(#"{"Cmd":["x"],"AttachStdout":true}"#)
            let (client, head) = try startExec(id)
            XCTAssertTrue(head.hasPrefix("HTTP/1.1 101"), head)
            XCTAssertTrue(String(decoding: try client.readToEnd(), as: UTF8.self).contains(message))
            waitUntil("the exit is recorded") {
                (try? self.call("GET", "/exec/\(id)/json").1["ExitCode"]) == .number("\(code ?? 126)")
            }
        }
    }

    func testDetachedExecAnswers200AndRecordsTheExit() throws {
        let id = try createExec(#"{"Cmd":["touch","/x"]}"#)
        let client = try HijackClient(harness.address)
        try client.send(request("POST", "/exec/\(id)/start", #"{"Detach":true}"#, upgrade: false))
        XCTAssertTrue(try client.readHead().hasPrefix("HTTP/1.1 200"))
        try processes.first?.writeStdout("dropped")
        processes.first?.exit(0)
        waitUntil("the exit is recorded") { (try? self.call("GET", "/exec/\(id)/json").1["ExitCode"]) == .number("0") }
    }

    func testStatsStreamOneReadingPerRoundUntilTheClientLeaves() throws {
        plane.usages = [
            ContainerUsage(readNanos: 1_000_000_000, cpuNanos: 100, systemCPUNanos: 1_000, onlineCPUs: 2, memoryBytes: 10, memoryLimitBytes: 100, pids: 1),
            ContainerUsage(readNanos: 2_000_000_000, cpuNanos: 600, systemCPUNanos: 2_000, onlineCPUs: 2, memoryBytes: 20, memoryLimitBytes: 100, pids: 2),
        ]
        let client = try HijackClient(harness.address)
        try client.send(request("GET", "/containers/aaaa/stats", "", upgrade: false))
        XCTAssertTrue(try client.readHead().hasPrefix("HTTP/1.1 200"))
        var received: [UInt8] = []
        try client.read(into: &received) { HijackClient.dechunk($0).filter { $0 == 10 }.count >= 1 }
        XCTAssertEqual(try harness.onLoop { [plane] in plane!.scheduled.map(\.millis) }, [1_000], "the next reading in a second")
        try harness.onLoop { [plane] in plane!.scheduled.removeFirst().body() }
        try client.read(into: &received) { HijackClient.dechunk($0).filter { $0 == 10 }.count >= 2 }
        let lines = String(decoding: HijackClient.dechunk(received), as: UTF8.self).split(separator: "\n")
        let second = try JSONValue.parse(Array(lines[1].utf8))
        XCTAssertEqual(second["cpu_stats"]?["cpu_usage"]?["total_usage"], .number("600"))
        XCTAssertEqual(second["precpu_stats"]?["cpu_usage"]?["total_usage"], .number("100"), "the previous reading, for the CPU share")
        XCTAssertEqual(second["pids_stats"]?["current"], .number("2"))
        client.close()
        waitUntil("the server sees the close") { self.harness.connectionCount == 0 }
        try harness.onLoop { [plane] in plane!.scheduled.removeFirst().body() }
        XCTAssertEqual(try harness.onLoop { [plane] in plane!.scheduled.count }, 0, "no more rounds once the client left")
    }

    func testRegistryBoundsRecordsAndRunningExecs() {
        let registry = ExecRegistry(maxRecords: 3, maxRunning: 2)
        let container = plane.containers[0]
        let configuration = ExecConfiguration(command: ["true"])
        for id in ["a", "b", "c"] { XCTAssertNoThrow(try registry.create(id: id, container: container, configuration: configuration).get()) }
        XCTAssertNoThrow(try registry.begin("a").get())
        XCTAssertNoThrow(try registry.begin("b").get())
        guard case let .failure(limit) = registry.begin("c") else { return XCTFail("a third running exec is refused") }
        XCTAssertEqual(limit.status, 503)
        XCTAssertNoThrow(try registry.create(id: "d", container: container, configuration: configuration).get(), "c, not running, is forgotten")
        XCTAssertEqual(Set(registry.records.keys), ["a", "b", "d"])
        let full = ExecRegistry(maxRecords: 2, maxRunning: 2)
        for id in ["a", "b"] {
            XCTAssertNoThrow(try full.create(id: id, container: container, configuration: configuration).get())
            XCTAssertNoThrow(try full.begin(id).get())
        }
        guard case let .failure(refused) = full.create(id: "c", container: container, configuration: configuration) else {
            return XCTFail("every record runs: nothing to forget")
        }
        XCTAssertEqual(refused.status, 503)
    }
}

/// The fake processes started on the loop, read by the test thread.
final class StartedProcesses: @unchecked Sendable {
    private let lock = NSLock()
    private var processes: [FakeExecProcess] = []
    var all: [FakeExecProcess] { lock.withLock { processes } }
    func append(_ process: FakeExecProcess) { lock.withLock { processes.append(process) } }
}

/// A count shared with a writer thread.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var done = false
    var value: Int { lock.withLock { count } }
    var finished: Bool { lock.withLock { done } }
    func add(_ amount: Int) { lock.withLock { count += amount } }
    func finish() { lock.withLock { done = true } }
}

/// A process for the API to stream: pipes (or a socket pair standing in for a terminal) whose
/// other ends the test holds, and an exit the test decides.
final class FakeExecProcess: ExecProcessHandle, @unchecked Sendable {
    let streams: ExecStreams
    private let stdinRead: Int32?
    private let stdoutWrite: Int32
    private let stderrWrite: Int32
    private let terminalTest: Int32?
    private let lock = NSCondition()
    private var exitCode: Int32?
    private var resized: [[Int]] = []
    private var wasTerminated = false

    init(terminal: Bool, stdin: Bool) throws {
        if terminal {
            var pair: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else { throw SystemError("socketpair", "fake terminal") }
            streams = .terminal(pair[0])
            terminalTest = pair[1]
            stdinRead = nil
            stdoutWrite = -1
            stderrWrite = -1
            return
        }
        func makePipe() throws -> (Int32, Int32) {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw SystemError("pipe", "fake exec") }
            return (fds[0], fds[1])
        }
        let input = stdin ? try makePipe() : nil
        let output = try makePipe()
        let errors = try makePipe()
        streams = .pipes(stdin: input?.1, stdout: output.0, stderr: errors.0)
        stdinRead = input?.0
        stdoutWrite = output.1
        stderrWrite = errors.1
        terminalTest = nil
    }

    var processID: Int32 { 4242 }
    var terminated: Bool { lock.withLock { wasTerminated } }
    var sizes: [[Int]] { lock.withLock { resized } }

    func resize(rows: Int, columns: Int) -> Bool {
        guard terminalTest != nil else { return false }
        lock.withLock { resized.append([rows, columns]) }
        return true
    }

    func terminate() {
        lock.withLock { wasTerminated = true }
        exit(137)
    }

    func waitForExit() -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        while exitCode == nil { lock.wait() }
        return exitCode!
    }

    /// Ends the fake: its output ends close, then the exit is reported.
    func exit(_ code: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard exitCode == nil else { return }
        for descriptor in [stdoutWrite, stderrWrite, terminalTest ?? -1] where descriptor >= 0 { _ = Glibc.close(descriptor) }
        exitCode = code
        lock.broadcast()
    }

    func writeStdout(_ text: String) throws { try writeAll(stdoutWrite, Array(text.utf8)) }
    func writeStderr(_ text: String) throws { try writeAll(stderrWrite, Array(text.utf8)) }
    func writeTerminal(_ text: String) throws { try writeAll(terminalTest!, Array(text.utf8)) }

    /// One nonblocking write; the count written (0 when the pipe is full).
    func writeStdoutNonblocking(_ bytes: [UInt8]) throws -> Int {
        var descriptor = pollfd(fd: stdoutWrite, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, 100) > 0 else { return 0 }
        let count = bytes.withUnsafeBytes { Glibc.write(stdoutWrite, $0.baseAddress!, min($0.count, 4096)) }
        guard count >= 0 else { throw SystemError("write", "fake stdout") }
        return count
    }

    private func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            guard count > 0 else { throw SystemError("write", "fake exec") }
            offset += count
        }
    }

    func readStdinToEnd() throws -> [UInt8] { try readToEnd(XCTUnwrap(stdinRead)) }

    func readTerminal(count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            let chunk = try readOnce(XCTUnwrap(terminalTest))
            guard !chunk.isEmpty else { break }
            bytes += chunk
        }
        return bytes
    }

    private func readToEnd(_ descriptor: Int32) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while true {
            let chunk = try readOnce(descriptor)
            if chunk.isEmpty { return bytes }
            bytes += chunk
        }
    }

    private func readOnce(_ descriptor: Int32) throws -> [UInt8] {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 10_000) > 0 else { throw SystemError("poll", "fake exec: nothing within 10 s") }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
        guard count >= 0 else { throw SystemError("read", "fake exec") }
        return Array(buffer[0..<count])
    }
}

/// A blocking client that reads a response head and then raw bytes (a hijacked stream).
final class HijackClient {
    let socket: Socket
    private var pending: [UInt8] = []

    init(_ address: SocketAddress) throws {
        let started = try Socket.connect(to: address)
        socket = started.socket
        if !started.connected {
            var descriptor = pollfd(fd: socket.descriptor, events: Int16(POLLOUT), revents: 0)
            _ = poll(&descriptor, 1, 5_000)
        }
    }

    deinit { socket.close() }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            switch try bytes.withUnsafeBytes({ try socket.write(from: UnsafeRawBufferPointer(rebasing: $0[offset...])) }) {
            case let .transferred(count): offset += count
            default:
                var descriptor = pollfd(fd: socket.descriptor, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 5_000)
            }
        }
    }

    func shutdownWrite() { socket.shutdownWrite() }
    func close() { socket.close() }

    /// The response head (through the empty line); what follows stays for the next reads.
    func readHead() throws -> String {
        while true {
            if let end = Self.find([13, 10, 13, 10], in: pending) {
                let head = String(decoding: pending[..<(end + 4)], as: UTF8.self)
                pending.removeFirst(end + 4)
                return head
            }
            guard let chunk = try readChunk() else { return String(decoding: pending, as: UTF8.self) }
            pending += chunk
        }
    }

    /// Appends what arrives to `bytes` until `done(bytes)` holds (fails after 10 s or at the end).
    func read(into bytes: inout [UInt8], until done: ([UInt8]) -> Bool) throws {
        bytes += pending
        pending = []
        while !done(bytes) {
            guard let chunk = try readChunk() else { throw SystemError("read", "the stream ended before the expected bytes") }
            bytes += chunk
        }
    }

    /// Everything until the server closes.
    func readToEnd() throws -> [UInt8] {
        var bytes = pending
        pending = []
        while let chunk = try readChunk() { bytes += chunk }
        return bytes
    }

    /// nil at end of file; throws after 10 s without data.
    private func readChunk() throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            var descriptor = pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 10_000) > 0 else { throw SystemError("poll", "nothing from the server within 10 s") }
            switch try buffer.withUnsafeMutableBytes({ try socket.read(into: $0) }) {
            case .endOfFile: return nil
            case .wouldBlock: continue
            case let .transferred(count): return Array(buffer[0..<count])
            }
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    /// The payload of a chunked body (or the bytes as they are when not chunked).
    static func dechunk(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = find([13, 10], in: Array(bytes[index...])),
                  let size = Int(String(decoding: bytes[index..<(index + lineEnd)], as: UTF8.self), radix: 16) else { return bytes }
            let start = index + lineEnd + 2
            guard size > 0, start + size <= bytes.count else { break }
            result += bytes[start..<(start + size)]
            index = start + size + 2
        }
        return result
    }
}
