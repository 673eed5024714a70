import CPlatform
import Glibc

/// The outcome of one nonblocking read or write. It exists so EAGAIN and end of file are values
/// the caller must switch over, not errno checks it can forget.
public enum IOResult: Equatable, Sendable {
    /// This many bytes moved (always > 0).
    case transferred(Int)
    /// EAGAIN: wait for the loop to report readiness.
    case wouldBlock
    /// The peer closed its side (reads only).
    case endOfFile
}

/// An owned, nonblocking, close-on-exec stream socket (TCP or unix).
///
/// It exists to keep every socket system call, its EINTR retry and its errno mapping in one place,
/// with the options the node always wants (TCP_NODELAY, SO_REUSEADDR, MSG_NOSIGNAL) set by
/// construction so no call site can forget them. It is not thread-safe: one loop owns it.
public final class Socket {
    public let descriptor: Int32
    /// For messages and logs: the bound address of a listener (with the real port), the remote
    /// address of an accepted or connected socket.
    public private(set) var address: SocketAddress
    public private(set) var isClosed = false

    private init(descriptor: Int32, address: SocketAddress) {
        precondition(descriptor >= 0, "invalid socket descriptor for \(address)")
        self.descriptor = descriptor
        self.address = address
    }

    deinit { close() }

    /// Closes the descriptor; later calls do nothing.
    public func close() {
        if isClosed { return }
        isClosed = true
        _ = Glibc.close(descriptor)
    }

    // MARK: Listening

    /// Who may connect to a unix socket: its file mode and group, set before `listen` so no
    /// connection is accepted under looser permissions.
    public struct UnixPermissions: Sendable, Equatable {
        public var mode: mode_t
        /// nil keeps the creating process's group.
        public var group: gid_t?

        public init(mode: mode_t, group: gid_t? = nil) {
            self.mode = mode
            self.group = group
        }
    }

    /// A listening socket on `address`; port 0 picks an ephemeral port (see `localAddress()`).
    /// A stale unix socket file at the path is removed first; `unixPermissions` (unix sockets
    /// only) are applied between bind and listen.
    public static func listen(on address: SocketAddress, backlog: Int32 = 128, unixPermissions: UnixPermissions? = nil) throws -> Socket {
        let socket = try Socket(descriptor: makeDescriptor(for: address), address: address)
        if case .tcp = address { try socket.setOption(CPLATFORM_SOL_SOCKET, CPLATFORM_SO_REUSEADDR, "SO_REUSEADDR") }
        if case let .unix(path) = address { try removeStaleSocketFile(path) }
        // The socket inode's mode is the bound file's mode (less the umask) on Linux.
        if let unixPermissions { _ = fchmod(socket.descriptor, unixPermissions.mode) }
        try withSocketAddress(address) { pointer, length in
            _ = try retryingEINTR("bind", "\(address)") { Glibc.bind(socket.descriptor, pointer, length) }
        }
        if case let .unix(path) = address, let unixPermissions {
            _ = try retryingEINTR("chmod", path) { chmod(path, unixPermissions.mode) }
            if let group = unixPermissions.group {
                _ = try retryingEINTR("chown", path) { chown(path, geteuid(), group) }
            }
        }
        _ = try retryingEINTR("listen", "\(address)") { Glibc.listen(socket.descriptor, backlog) }
        socket.address = try socket.localAddress()
        return socket
    }

    /// Accepts one pending connection, or nil if none is waiting. Per-connection failures the
    /// peer caused (it reset before accept) also return nil; resource exhaustion throws.
    public func accept() throws -> Socket? {
        while true {
            let fd = cplatform_accept_nonblocking(descriptor)
            if fd >= 0 {
                let accepted = Socket(descriptor: fd, address: address)
                if case .tcp = address {
                    accepted.address = (try? accepted.socketName(getpeername)) ?? address
                    try accepted.setOption(CPLATFORM_IPPROTO_TCP, CPLATFORM_TCP_NODELAY, "TCP_NODELAY")
                }
                return accepted
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
            default: throw SystemError("accept4", "\(address)")
            }
        }
    }

    /// The address the kernel actually bound (the real port after listening on port 0).
    public func localAddress() throws -> SocketAddress {
        guard case .tcp = address else { return address }
        return try socketName(getsockname)
    }

    /// The IPv4 address `call` (getsockname or getpeername) reports for this TCP socket.
    private func socketName(
        _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) throws -> SocketAddress {
        var storage = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                try retryingEINTR("getsockname/getpeername", "\(address)") { call(descriptor, raw, &length) }
            }
        }
        return .tcp(ipv4: UInt32(bigEndian: storage.sin_addr.s_addr), port: UInt16(bigEndian: storage.sin_port))
    }

    // MARK: Connecting

    /// Starts a nonblocking connect. `connected` is false while it is in progress: wait until the
    /// socket is writable, then check `pendingError()`.
    public static func connect(to address: SocketAddress) throws -> (socket: Socket, connected: Bool) {
        let socket = try Socket(descriptor: makeDescriptor(for: address), address: address)
        if case .tcp = address { try socket.setOption(CPLATFORM_IPPROTO_TCP, CPLATFORM_TCP_NODELAY, "TCP_NODELAY") }
        let connected = try withSocketAddress(address) { pointer, length -> Bool in
            if Glibc.connect(socket.descriptor, pointer, length) == 0 { return true }
            switch errno {
            case EINPROGRESS, EINTR: return false
            default: throw SystemError("connect", "\(address)")
            }
        }
        return (socket, connected)
    }

    /// The socket's pending error (SO_ERROR), 0 if none: the result of a nonblocking connect.
    public func pendingError() -> Int32 {
        let value = cplatform_socket_error(descriptor)
        return value < 0 ? errno : value
    }

    // MARK: Data

    /// Reads into `buffer` without blocking.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult {
        precondition(!isClosed, "read from a closed socket (\(address))")
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count > 0 { return .transferred(count) }
            if count == 0 { return buffer.isEmpty ? .transferred(0) : .endOfFile }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SystemError("read", "\(address)")
            }
        }
    }

    /// Writes from `buffer` without blocking (MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE).
    public func write(from buffer: UnsafeRawBufferPointer) throws -> IOResult {
        precondition(!isClosed, "write to a closed socket (\(address))")
        precondition(!buffer.isEmpty, "empty write to \(address)")
        while true {
            let count = cplatform_send(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return .transferred(count) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: throw SystemError("send", "\(address)")
            }
        }
    }

    /// Shuts down the write side (sends FIN) while still allowing reads.
    public func shutdownWrite() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    // MARK: Helpers

    private func setOption(_ level: Int32, _ name: Int32, _ label: String) throws {
        _ = try retryingEINTR("setsockopt(\(label))", "\(address)") { cplatform_set_int_option(descriptor, level, name, 1) }
    }

    private static func makeDescriptor(for address: SocketAddress) throws -> Int32 {
        let domain: Int32 = if case .tcp = address { AF_INET } else { AF_UNIX }
        return try retryingEINTR("socket", "\(address)") { cplatform_stream_socket(domain) }
    }

    private static func removeStaleSocketFile(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw SystemError("bind", "\(path) (exists and is not a socket)", errno: EADDRINUSE)
        }
        _ = try retryingEINTR("unlink", path) { unlink(path) }
    }

    /// Calls `body` with a `sockaddr` for `address`.
    private static func withSocketAddress<T>(
        _ address: SocketAddress, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T
    ) throws -> T {
        switch address {
        case let .tcp(ipv4, port):
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = port.bigEndian
            storage.sin_addr = in_addr(s_addr: ipv4.bigEndian)
            return try withUnsafePointer(to: &storage) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case let .unix(path):
            var storage = sockaddr_un()
            storage.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            precondition(bytes.count <= SocketAddress.maxUnixPathLength, "unix path too long: \(path)")
            withUnsafeMutableBytes(of: &storage.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            return try withUnsafePointer(to: &storage) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
    }
}
