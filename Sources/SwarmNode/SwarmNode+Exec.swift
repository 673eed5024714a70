import API
import Dispatch
import Executor
import Platform

// `docker exec` on this node: the executor starts the process (off the loop: runc takes a moment
// to set it up); the API streams it.
extension SwarmNode {
    public func startExec(_ container: LocalContainer, _ configuration: ExecConfiguration,
                          _ done: @escaping (Result<any ExecProcessHandle, APIError>) -> Void) {
        guard let executor = taskExecutor as? any InteractiveExec else {
            return done(.failure(APIError(status: 501, "this node's executor cannot run commands in its containers")))
        }
        let spec = ExecSpec(command: configuration.command, environment: configuration.environment,
                            workingDirectory: configuration.workingDirectory, user: configuration.user, tty: configuration.tty,
                            stdin: configuration.attachStdin,
                            consoleSize: configuration.consoleRows.flatMap { rows in
                                configuration.consoleColumns.map { (rows: UInt16(clamping: rows), columns: UInt16(clamping: $0)) }
                            })
        let bound = LoopBound(done, loop: loop)
        let id = ContainerID(container.id)
        DispatchQueue.global().async { [loop] in
            let result: Result<any ExecProcessHandle, APIError>
            do {
                result = .success(ExecProcessAdapter(try executor.startExec(id, spec)))
            } catch let error as ExecutorError {
                if case .invalidState = error {
                    result = .failure(APIError(status: 409, "Container \(container.id) is not running"))
                } else if case let .commandUnavailable(_, reason) = error {
                    var failure = APIError(status: 500, "exec in container \(container.id): \(error)")
                    failure.execExitCode = reason.exitCode
                    result = .failure(failure)
                } else {
                    result = .failure(APIError(status: 500, "exec in container \(container.id): \(error)"))
                }
            } catch {
                result = .failure(APIError(status: 500, "exec in container \(container.id): \(error)"))
            }
            if !loop.execute({ bound.unwrapped(result) }), case let .success(process) = result {
                // The node is stopping: nobody will watch this exec, so end and reap it here.
                process.terminate()
                _ = process.waitForExit()
            }
        }
    }
}

/// An executor's exec process as the API drives it.
final class ExecProcessAdapter: ExecProcessHandle, @unchecked Sendable {
    private let process: ExecProcess

    init(_ process: ExecProcess) {
        self.process = process
    }

    var streams: ExecStreams {
        switch process.streams {
        case let .terminal(master): .terminal(master)
        case let .pipes(stdin, stdout, stderr): .pipes(stdin: stdin, stdout: stdout, stderr: stderr)
        }
    }

    var processID: Int32 { process.processID }

    func resize(rows: Int, columns: Int) -> Bool {
        process.resize(rows: UInt16(clamping: rows), columns: UInt16(clamping: columns))
    }

    func terminate() { process.terminate() }

    func waitForExit() -> Int32 { process.waitForExit().exitCode }
}
