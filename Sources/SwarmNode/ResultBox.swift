import Foundation

/// Hands one value from the loop thread to a waiting caller thread (CLI start-up paths only;
/// the loop itself never blocks).
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: T?

    func set(_ newValue: T) {
        condition.lock()
        if value == nil { value = newValue }
        condition.signal()
        condition.unlock()
    }

    func wait(timeoutMillis: Int) -> T? {
        let deadline = Date().addingTimeInterval(Double(timeoutMillis) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while value == nil {
            guard condition.wait(until: deadline) else { break }
        }
        return value
    }
}
