import CPlatform

/// What epoll reported for a registered descriptor.
///
/// It exists so handlers test readiness with names instead of raw EPOLL* bits, and so the C
/// constants stay inside Platform.
public struct IOEvents: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readable = IOEvents(rawValue: 1 << 0)
    public static let writable = IOEvents(rawValue: 1 << 1)
    /// The peer hung up (EPOLLHUP or EPOLLRDHUP); reading drains what is left, then sees EOF.
    public static let hangup = IOEvents(rawValue: 1 << 2)
    /// EPOLLERR: the socket has a pending error (read it with `Socket.pendingError()`).
    public static let error = IOEvents(rawValue: 1 << 3)

    init(epollBits bits: UInt32) {
        var events: IOEvents = []
        if bits & CPLATFORM_EPOLLIN != 0 { events.insert(.readable) }
        if bits & CPLATFORM_EPOLLOUT != 0 { events.insert(.writable) }
        if bits & (CPLATFORM_EPOLLHUP | CPLATFORM_EPOLLRDHUP) != 0 { events.insert(.hangup) }
        if bits & CPLATFORM_EPOLLERR != 0 { events.insert(.error) }
        self = events
    }

    static func epollInterest(readable: Bool, writable: Bool) -> UInt32 {
        (readable ? CPLATFORM_EPOLLIN | CPLATFORM_EPOLLRDHUP : 0) | (writable ? CPLATFORM_EPOLLOUT : 0)
    }

    public var description: String {
        let names: [(IOEvents, String)] = [(.readable, "readable"), (.writable, "writable"), (.hangup, "hangup"), (.error, "error")]
        return "[" + names.filter { contains($0.0) }.map(\.1).joined(separator: ",") + "]"
    }
}
