import Glibc

/// A failed system call, named with the call and what it acted on, so an operator can tell what
/// went wrong without a debugger.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let subject: String
    public let errno: Int32

    public init(_ call: String, _ subject: String = "", errno: Int32 = Glibc.errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return subject.isEmpty ? "\(call): \(reason)" : "\(call) \(subject): \(reason)"
    }
}
