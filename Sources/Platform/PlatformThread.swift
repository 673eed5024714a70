import CPlatform
import Glibc

/// A joinable OS thread running one closure.
///
/// It exists because an event loop needs a dedicated thread it owns for its whole life (not a
/// Dispatch or cooperative-pool thread), and shutdown must be able to join it so tests and the node
/// tear down deterministically.
public final class PlatformThread: @unchecked Sendable {
    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(_ name: String, _ run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    private var handle = pthread_t()
    private let joinLock = ConditionLock()
    private var joined = false

    /// Starts a thread named `name` (at most 15 bytes are kept by the kernel) running `body`.
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(name, body)).toOpaque()
        let result = pthread_create(&handle, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            cplatform_set_thread_name(body.name)
            body.run()
            return nil
        }, context)
        precondition(result == 0, "pthread_create for thread \(name) failed with error \(result)")
    }

    /// Waits for the thread to finish. Safe to call more than once; never from the thread itself.
    public func join() {
        precondition(pthread_equal(handle, pthread_self()) == 0, "a thread cannot join itself")
        joinLock.withLock {
            if joined { return }
            pthread_join(handle, nil)
            joined = true
        }
    }
}
