import CPlatform
import Glibc
import Platform

/// IPv4 socket helpers for the DNS server and its upstream exchanges, on raw descriptors.
///
/// It exists because the DNS server needs datagram sockets (Platform's `Socket` is stream-only),
/// sockets bound inside another network namespace, and blocking exchanges with a deadline.
enum IPv4Sockets {
    static func address(_ ip: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = ip.value.bigEndian
        return address
    }

    static func decode(_ address: sockaddr_in) -> (IPv4Address, UInt16) {
        (IPv4Address(UInt32(bigEndian: address.sin_addr.s_addr)), UInt16(bigEndian: address.sin_port))
    }

    static func open(_ type: Int32, nonblocking: Bool) throws -> Int32 {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonblocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let descriptor = socket(AF_INET, type | flags, 0)
        guard descriptor >= 0 else { throw SystemError("socket") }
        return descriptor
    }

    /// A bound (and for TCP listening) non-blocking socket; returns it and the bound port.
    static func bind(_ type: Int32, _ ip: IPv4Address, _ port: UInt16) throws -> (Int32, UInt16) {
        let descriptor = try open(type, nonblocking: true)
        _ = cplatform_set_int_option(descriptor, CPLATFORM_SOL_SOCKET, CPLATFORM_SO_REUSEADDR, 1)
        var address = address(ip, port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, type != Int32(SOCK_STREAM.rawValue) || listen(descriptor, 64) == 0 else {
            let error = SystemError("bind", "\(ip):\(port)")
            _ = close(descriptor)
            throw error
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (descriptor, decode(actual).1)
    }

    /// Waits until `descriptor` is readable (or writable); false on timeout.
    static func wait(_ descriptor: Int32, writable: Bool = false, until deadline: UInt64) -> Bool {
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return false }
            var poller = pollfd(fd: descriptor, events: Int16(writable ? POLLOUT : POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min((deadline - now) / 1_000_000 + 1, 60_000)))
            if ready > 0 { return true }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    /// One UDP query to `server`; the answer must come from it and carry the query's id.
    static func udpExchange(_ query: [UInt8], server: IPv4Address, port: UInt16, timeoutMillis: Int) -> [UInt8]? {
        guard query.count >= 2, let descriptor = try? open(Int32(SOCK_DGRAM.rawValue), nonblocking: true) else { return nil }
        defer { _ = close(descriptor) }
        var target = address(server, port)
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0, send(descriptor, query, query.count, 0) == query.count else { return nil }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        var buffer = [UInt8](repeating: 0, count: 65_535)
        while wait(descriptor, until: deadline) {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count >= 2 && buffer[0] == query[0] && buffer[1] == query[1] { return Array(buffer[0..<count]) }
            if count < 0 && errno != EAGAIN && errno != EINTR { return nil }
        }
        return nil
    }

    /// One TCP query (2-byte length prefix) to `server`.
    static func tcpExchange(_ query: [UInt8], server: IPv4Address, port: UInt16, timeoutMillis: Int) -> [UInt8]? {
        guard let descriptor = try? open(Int32(SOCK_STREAM.rawValue), nonblocking: true) else { return nil }
        defer { _ = close(descriptor) }
        let deadline = monotonicNanoseconds() + UInt64(timeoutMillis) * 1_000_000
        var target = address(server, port)
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 || errno == EINPROGRESS, wait(descriptor, writable: true, until: deadline),
              cplatform_socket_error(descriptor) == 0 else { return nil }
        var framed: [UInt8] = []
        framed.appendU16(UInt16(query.count))
        framed += query
        guard writeAll(descriptor, framed, until: deadline) else { return nil }
        guard let header = readExactly(descriptor, 2, until: deadline) else { return nil }
        return readExactly(descriptor, Int(header[0]) << 8 | Int(header[1]), until: deadline)
    }

    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], until deadline: UInt64) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { cplatform_send(descriptor, $0.baseAddress!, $0.count) }
            if count > 0 { sent += count; continue }
            guard count < 0, errno == EAGAIN || errno == EINTR, wait(descriptor, writable: true, until: deadline) else { return false }
        }
        return true
    }

    static func readExactly(_ descriptor: Int32, _ count: Int, until deadline: UInt64) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: max(count, 1))
        while result.count < count {
            let got = recv(descriptor, &buffer, count - result.count, 0)
            if got > 0 { result += buffer[0..<got]; continue }
            if got == 0 { return nil }
            guard errno == EAGAIN || errno == EINTR, wait(descriptor, until: deadline) else { return nil }
        }
        return result
    }
}

/// Starts a detached thread (the DNS server's short-lived forwarding and TCP workers).
func startDetachedThread(name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box { let name: String; let body: @Sendable () -> Void; init(_ n: String, _ b: @escaping @Sendable () -> Void) { name = n; body = b } }
    var handle = pthread_t()
    let context = Unmanaged.passRetained(Box(name, body)).toOpaque()
    let result = pthread_create(&handle, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        cplatform_set_thread_name(box.name)
        box.body()
        return nil
    }, context)
    guard result == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        return false
    }
    pthread_detach(handle)
    return true
}
