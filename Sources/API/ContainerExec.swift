import ClusterState

/// A validated `POST /containers/{id}/exec` body (dockerd's `ExecConfig`).
///
/// It exists so the route refuses what it cannot honour (`Privileged`, `DetachKeys`) by name
/// before anything runs, and the node shell gets only fields it implements.
public struct ExecConfiguration: Sendable, Equatable {
    public var command: [String]
    /// NAME=value entries added to the container's environment.
    public var environment: [String]
    public var workingDirectory: String?
    public var user: String?
    public var tty: Bool
    public var attachStdin: Bool
    public var attachStdout: Bool
    public var attachStderr: Bool
    /// Rows and columns of the terminal at start.
    public var consoleRows: Int?
    public var consoleColumns: Int?

    public init(command: [String], environment: [String] = [], workingDirectory: String? = nil, user: String? = nil, tty: Bool = false,
                attachStdin: Bool = false, attachStdout: Bool = true, attachStderr: Bool = true, consoleRows: Int? = nil,
                consoleColumns: Int? = nil) {
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.tty = tty
        self.attachStdin = attachStdin
        self.attachStdout = attachStdout
        self.attachStderr = attachStderr
        self.consoleRows = consoleRows
        self.consoleColumns = consoleColumns
    }

    /// The body as the docker CLI and docker-py send it.
    struct Body: Decodable {
        var User: String?
        var Privileged: Bool?
        var Tty: Bool?
        var ConsoleSize: [Int]?
        var AttachStdin: Bool?
        var AttachStdout: Bool?
        var AttachStderr: Bool?
        var Detach: Bool?
        var DetachKeys: String?
        var Env: [String]?
        var WorkingDir: String?
        var Cmd: [String]?
    }

    /// Validates a decoded body: a command is required, `Privileged` and `DetachKeys` are refused.
    static func validate(_ body: Body) -> Result<ExecConfiguration, APIError> {
        guard let command = body.Cmd, let first = command.first, !first.isEmpty else {
            return .failure(.badRequest("No exec command specified"))
        }
        if body.Privileged == true {
            return .failure(.badRequest("Privileged is not supported for exec into a task container: the process gets the task's own "
                                        + "privileges; give the service the capabilities it needs (--cap-add) instead"))
        }
        if let keys = body.DetachKeys, !keys.isEmpty {
            return .failure(.badRequest("DetachKeys is not supported by this node: leave the exec by ending its process (exit)"))
        }
        for entry in body.Env ?? [] where !entry.contains("=") || entry.hasPrefix("=") {
            return .failure(.badRequest("invalid environment variable \(entry): expected NAME=value"))
        }
        var rows: Int?
        var columns: Int?
        if let size = body.ConsoleSize, !size.isEmpty {
            guard size.count == 2, size.allSatisfy({ (0...Int(UInt16.max)).contains($0) }) else {
                return .failure(.badRequest("ConsoleSize must be [rows, columns] between 0 and 65535"))
            }
            (rows, columns) = size[0] == 0 && size[1] == 0 ? (nil, nil) : (size[0], size[1])
        }
        return .success(ExecConfiguration(command: command, environment: body.Env ?? [], workingDirectory: body.WorkingDir.flatMap { $0.isEmpty ? nil : $0 },
                                          user: body.User.flatMap { $0.isEmpty ? nil : $0 }, tty: body.Tty ?? false,
                                          attachStdin: body.AttachStdin ?? false, attachStdout: body.AttachStdout ?? false,
                                          attachStderr: body.AttachStderr ?? false, consoleRows: rows, consoleColumns: columns))
    }
}

/// The descriptors of a running exec that the API reads and writes; the API closes them.
/// It exists so the HTTP side can relay a terminal (raw bytes) or three pipes (framed) without
/// knowing which executor started the process.
public enum ExecStreams: Sendable, Equatable {
    /// A terminal master: output and input on one descriptor.
    case terminal(Int32)
    /// `stdin` nil: the process reads /dev/null.
    case pipes(stdin: Int32?, stdout: Int32, stderr: Int32)
}

/// A process the node shell started in one of its containers for `docker exec`.
///
/// It exists so the API streams an exec the same way whatever runs it (runc exec, a host
/// process, a test's fake).
public protocol ExecProcessHandle: AnyObject, Sendable {
    var streams: ExecStreams { get }
    /// The host pid of the command (0 while not known).
    var processID: Int32 { get }
    /// Sets the terminal's size; false without a terminal.
    func resize(rows: Int, columns: Int) -> Bool
    /// Ends the command and what it started (the client went away); returns at once.
    func terminate()
    /// Blocks until the command has exited; its exit code as docker reports it (128+N for
    /// signal N). Called once, off the loop.
    func waitForExit() -> Int32
}
