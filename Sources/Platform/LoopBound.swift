/// Carries a non-Sendable value (typically a callback capturing loop-confined objects) through a
/// `@Sendable` closure, checking on access that it is used on the loop it belongs to.
///
/// It exists because work hops to another thread and back (blocking work, timers set up from
/// outside) while the value it carries must only ever be touched on its own loop thread.
public struct LoopBound<Value>: @unchecked Sendable {
    private let value: Value
    public let loop: EventLoop

    /// Wraps `value`; must be called on `loop`'s thread.
    public init(_ value: Value, loop: EventLoop) {
        precondition(loop.inEventLoop, "LoopBound must be created on its loop thread")
        self.value = value
        self.loop = loop
    }

    /// The wrapped value; only on the loop thread.
    public var unwrapped: Value {
        precondition(loop.inEventLoop, "LoopBound value used off its loop thread")
        return value
    }
}
