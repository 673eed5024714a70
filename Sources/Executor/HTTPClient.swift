import Crypto
import Foundation
import Glibc
import Platform

/// A minimal blocking HTTP/1.1 client for the registry: GET only, over HTTPS (the system CA
/// store, host name checked) or plain HTTP, one request per connection (`Connection: close`),
/// bodies by Content-Length, chunked or to end of stream.
///
/// It exists because the executor may not depend on the API module, and a pull needs only this;
/// it runs on the caller's (worker) thread with socket timeouts, never on the event loop.
enum HTTPClient {
    struct Response {
        let status: Int
        /// Header names lowercased; repeated headers joined with ", ".
        let headers: [String: String]
    }

    struct Location: Equatable {
        /// https (TLS) rather than plain http.
        var secure: Bool
        var host: String
        var port: UInt16
        /// Path and query, starting with "/".
        var target: String

        /// Parses `https://host[:port]/path` or `http://host[:port]/path`.
        init(url: String) throws {
            if url.hasPrefix("https://") {
                secure = true
            } else if url.hasPrefix("http://") {
                secure = false
            } else {
                throw RegistryError.unsupported("\(url): only https:// and http:// URLs are supported")
            }
            let rest = url.dropFirst(secure ? 8 : 7)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            target = slash == rest.endIndex ? "/" : String(rest[slash...])
            if let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]) {
                host = String(authority[..<colon])
                self.port = port
            } else {
                host = String(authority)
                port = secure ? 443 : 80
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw RegistryError.unsupported("\(url): no host") }
        }

        var url: String { "\(secure ? "https" : "http")://\(host):\(port)\(target)" }

        /// A redirect target: absolute, or a path on the same server.
        func resolving(_ location: String) throws -> Location {
            if location.hasPrefix("/") { return Location(secure: secure, host: host, port: port, target: location) }
            return try Location(url: location)
        }

        private init(secure: Bool, host: String, port: UInt16, target: String) {
            self.secure = secure
            self.host = host
            self.port = port
            self.target = target
        }
    }

    static let timeoutSeconds = 30
    static let maxHeaderBytes = 64 << 10

    /// Sends `GET location` and streams the body into `sink` (at most `maxBody` bytes).
    /// `onHead` sees the status and headers before the body streams. An https location needs
    /// `tls` (a client context; the server's certificate must name `location.host`).
    static func get(_ location: Location, headers: [String: String], maxBody: Int, tls: TLSContext?,
                    sink: (UnsafeRawBufferPointer) throws -> Void,
                    onHead: (Response) -> Void = { _ in }) throws -> Response {
        let descriptor = try connect(location.host, location.port)
        defer { _ = Glibc.close(descriptor) }
        let connection = try RegistryConnection(descriptor: descriptor, location: location, tls: location.secure ? tls : nil)
        var request = "GET \(location.target) HTTP/1.1\r\nHost: \(location.host):\(location.port)\r\n"
        request += "User-Agent: swarmctl\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try connection.send(Array(request.utf8))
        var reader = Reader(connection: connection, location: location)
        let head = try reader.readHead()
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            throw RegistryError.protocolError("\(location.url): not an HTTP response")
        }
        var parsed: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            parsed[name] = parsed[name].map { "\($0), \(value)" } ?? value
        }
        onHead(Response(status: status, headers: parsed))
        var total = 0
        let limited: (UnsafeRawBufferPointer) throws -> Void = { bytes in
            total += bytes.count
            guard total <= maxBody else {
                throw RegistryError.protocolError("\(location.url): body larger than \(maxBody) bytes")
            }
            try sink(bytes)
        }
        if parsed["transfer-encoding"]?.lowercased().contains("chunked") == true {
            try reader.readChunked(limited)
        } else if let length = parsed["content-length"].flatMap(Int.init) {
            try reader.readExactly(length, limited)
        } else {
            try reader.readToEnd(limited)
        }
        return Response(status: status, headers: parsed)
    }

    /// GET into memory.
    static func getBytes(_ location: Location, headers: [String: String], maxBody: Int = 8 << 20, tls: TLSContext?) throws
        -> (Response, [UInt8]) {
        var body: [UInt8] = []
        let response = try get(location, headers: headers, maxBody: maxBody, tls: tls) { body += $0 }
        return (response, body)
    }

    private static func connect(_ host: String, _ port: UInt16) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw RegistryError.unreachable("\(host):\(port): cannot resolve: \(String(cString: gai_strerror(resolved)))")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let descriptor = socket(current.pointee.ai_family, current.pointee.ai_socktype, current.pointee.ai_protocol)
            guard descriptor >= 0 else { lastError = errno; continue }
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(descriptor, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 { return descriptor }
            lastError = errno
            _ = Glibc.close(descriptor)
        }
        throw RegistryError.unreachable("\(host):\(port): \(String(cString: strerror(lastError)))")
    }

    /// Buffered reads from the connection.
    private struct Reader {
        let connection: RegistryConnection
        let location: Location
        var buffer: [UInt8] = []
        var start = 0
        var atEnd = false

        init(connection: RegistryConnection, location: Location) {
            self.connection = connection
            self.location = location
        }

        /// Reads more bytes into the buffer; false at end of stream.
        private mutating func fill() throws -> Bool {
            if start > 0 && start == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            let chunk = try connection.receive()
            if chunk.isEmpty {
                atEnd = true
                return false
            }
            buffer += chunk
            return true
        }

        mutating func readHead() throws -> String {
            while true {
                if let end = find([13, 10, 13, 10]) {
                    let head = String(decoding: buffer[start..<end], as: UTF8.self)
                    start = end + 4
                    return head
                }
                guard buffer.count - start < HTTPClient.maxHeaderBytes else {
                    throw RegistryError.protocolError("\(location.url): response header too large")
                }
                guard try fill() else { throw RegistryError.protocolError("\(location.url): connection closed in the header") }
            }
        }

        private func find(_ pattern: [UInt8]) -> Int? {
            guard buffer.count - start >= pattern.count else { return nil }
            var index = start
            while index <= buffer.count - pattern.count {
                if buffer[index] == pattern[0] && Array(buffer[index..<(index + pattern.count)]) == pattern { return index }
                index += 1
            }
            return nil
        }

        mutating func readExactly(_ count: Int, _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            var remaining = count
            while remaining > 0 {
                if start == buffer.count {
                    guard try fill() else {
                        throw RegistryError.protocolError("\(location.url): connection closed \(remaining) bytes early")
                    }
                }
                let take = min(remaining, buffer.count - start)
                try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[start..<(start + take)])) }
                start += take
                remaining -= take
            }
        }

        mutating func readToEnd(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            while true {
                if start < buffer.count {
                    try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[start...])) }
                    start = buffer.count
                }
                guard try fill() else { return }
            }
        }

        mutating func readLine() throws -> String {
            while true {
                if let end = find([13, 10]) {
                    let line = String(decoding: buffer[start..<end], as: UTF8.self)
                    start = end + 2
                    return line
                }
                guard try fill() else { throw RegistryError.protocolError("\(location.url): connection closed in a chunk") }
            }
        }

        mutating func readChunked(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
            while true {
                let sizeText = try readLine().split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw RegistryError.protocolError("\(location.url): bad chunk size \(sizeText)")
                }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    return
                }
                try readExactly(size, sink)
                _ = try readLine()
            }
        }
    }
}

/// One registry connection on a blocking socket: plain, or TLS through a memory-BIO session.
///
/// It exists so the HTTP reader above is the same for http and https: `send` and `receive`
/// carry plaintext, and the TLS handshake (with the host name check) happens at creation.
final class RegistryConnection {
    private let descriptor: Int32
    private let location: HTTPClient.Location
    private let session: TLSSession?
    private var pendingPlaintext: [UInt8] = []

    init(descriptor: Int32, location: HTTPClient.Location, tls: TLSContext?) throws {
        self.descriptor = descriptor
        self.location = location
        guard location.secure else {
            session = nil
            return
        }
        guard let tls else { throw RegistryError.unsupported("\(location.url): no TLS settings for an https URL") }
        do {
            let started = try TLSSession(context: tls, serverName: location.host)
            session = started
            try started.start()
        } catch {
            throw RegistryError.unreachable("\(location.url): TLS: \(error)")
        }
        try flushTLS()
        while !session!.isHandshakeComplete {
            guard try readTLS() else { throw RegistryError.unreachable("\(location.url): TLS: closed during the handshake") }
        }
    }

    func send(_ bytes: [UInt8]) throws {
        guard let session else { return try sendRaw(bytes) }
        do {
            try session.send(bytes)
        } catch {
            throw RegistryError.unreachable("\(location.url): TLS: \(error)")
        }
        try flushTLS()
    }

    /// The next plaintext bytes; empty at the end of the stream.
    func receive() throws -> [UInt8] {
        guard session != nil else { return try receiveRaw() }
        while pendingPlaintext.isEmpty {
            guard try readTLS() else { break }
        }
        defer { pendingPlaintext = [] }
        return pendingPlaintext
    }

    /// Feeds one read of ciphertext to the session; false at the end of the stream.
    private func readTLS() throws -> Bool {
        guard let session, !session.isClosedByPeer else { return false }
        let raw = try receiveRaw()
        guard !raw.isEmpty else { return false }
        do {
            pendingPlaintext += try session.receive(raw)
        } catch TLSError.closedByPeer {
            return false
        } catch {
            throw RegistryError.unreachable("\(location.url): TLS: \(error)")
        }
        try flushTLS()
        return true
    }

    private func flushTLS() throws {
        guard let session else { return }
        let outgoing = session.takeOutgoing()
        if !outgoing.isEmpty { try sendRaw(outgoing) }
    }

    private func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else { throw RegistryError.unreachable("\(location.url): send: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    private func receiveRaw() throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 {
                throw RegistryError.unreachable("\(location.url): receive: \(String(cString: strerror(errno)))")
            }
            return Array(chunk[0..<count])
        }
    }
}
