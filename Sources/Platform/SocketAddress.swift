/// Where a node listens or connects: a TCP IPv4 endpoint or a unix socket path.
///
/// It exists so every address in configuration and on the command line is parsed in one place with
/// errors that name the input. Host names other than `localhost` are refused rather than resolved:
/// the node never blocks its loop on DNS, and cluster addresses are IP literals.
public enum SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// IPv4 address in host byte order, and port.
    case tcp(ipv4: UInt32, port: UInt16)
    case unix(path: String)

    /// Longest unix socket path (sun_path holds 108 bytes including the terminating NUL).
    public static let maxUnixPathLength = 107

    /// Parses `HOST:PORT`, `tcp:HOST:PORT`, `tcp://HOST:PORT`, `unix:PATH` or `unix://PATH`,
    /// where HOST is a dotted IPv4 literal or `localhost`.
    public init(parsing text: String) throws(SocketAddressError) {
        if let path = text.dropPrefix("unix://") ?? text.dropPrefix("unix:") {
            self = try Self.parseUnix(path, input: text)
        } else {
            let endpoint = text.dropPrefix("tcp://") ?? text.dropPrefix("tcp:") ?? text
            self = try Self.parseTCP(endpoint, input: text)
        }
    }

    /// 127.0.0.1 with `port` (0 asks the kernel for an ephemeral port when listening).
    public static func loopback(port: UInt16) -> SocketAddress {
        .tcp(ipv4: 0x7f00_0001, port: port)
    }

    public var description: String {
        switch self {
        case let .tcp(ipv4, port): "tcp://\(Self.dotted(ipv4)):\(port)"
        case let .unix(path): "unix://\(path)"
        }
    }

    /// The port of a TCP address, nil for unix sockets.
    public var port: UInt16? {
        if case let .tcp(_, port) = self { return port }
        return nil
    }

    private static func parseUnix(_ path: String, input: String) throws(SocketAddressError) -> SocketAddress {
        guard !path.isEmpty else { throw SocketAddressError(input: input, problem: "the unix socket path is empty") }
        guard path.utf8.count <= maxUnixPathLength else {
            throw SocketAddressError(input: input, problem: "the unix socket path is \(path.utf8.count) bytes; the limit is \(maxUnixPathLength)")
        }
        guard !path.utf8.contains(0) else { throw SocketAddressError(input: input, problem: "the unix socket path contains a NUL byte") }
        return .unix(path: path)
    }

    private static func parseTCP(_ endpoint: String, input: String) throws(SocketAddressError) -> SocketAddress {
        guard let colon = endpoint.lastIndex(of: ":") else {
            throw SocketAddressError(input: input, problem: "expected HOST:PORT, tcp://HOST:PORT or unix:PATH")
        }
        let host = String(endpoint[..<colon])
        let portText = endpoint[endpoint.index(after: colon)...]
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
              let port = UInt16(portText) else {
            throw SocketAddressError(input: input, problem: "port '\(portText)' is not a number from 0 to 65535")
        }
        if host == "localhost" { return .loopback(port: port) }
        guard !host.isEmpty else { throw SocketAddressError(input: input, problem: "the host is empty") }
        guard let ipv4 = parseIPv4(host) else {
            throw SocketAddressError(input: input, problem: "host '\(host)' is not an IPv4 literal or localhost (names are not resolved)")
        }
        return .tcp(ipv4: ipv4, port: port)
    }

    /// Strict dotted quad: four decimal parts 0–255, no signs, no leading zeros beyond "0".
    static func parseIPv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part.count == 1 || part.first != "0", let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    static func dotted(_ ipv4: UInt32) -> String {
        [24, 16, 8, 0].map { String((ipv4 >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }
}

/// A socket address that could not be parsed, with the input and what is wrong with it.
public struct SocketAddressError: Error, Equatable, Sendable, CustomStringConvertible {
    public let input: String
    public let problem: String

    public var description: String { "invalid address '\(input)': \(problem)" }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
