/// The sequential specification every key is checked against: a single register holding a string
/// or nothing, starting with nothing.
///
/// - `read` observing `v` can happen only while the register holds `v` (`nil`: absent).
/// - `write v` always happens and leaves `v`.
/// - `cas(expected e, value v)` that ended `ok` can happen only while the register holds `e`, and
///   leaves `v`. One whose outcome is `unknown` always can happen: it swaps when the register holds
///   `e` and is a no-op otherwise (a failed compare changes nothing). That it may also never happen
///   is covered by the search, which may place it after every operation that completed.
/// - `fail` operations and `unknown` reads never reach the model.
public enum RegisterModel {
    public static let initial: String? = nil

    /// The state after `operation` runs in `state`, or `.none` when it cannot run there.
    public static func step(_ state: String?, _ operation: RegisterOperation) -> String?? {
        switch (operation.kind, operation.outcome) {
        case (.read, _):
            return state == operation.value ? .some(state) : .none
        case (.write, _):
            return .some(operation.value)
        case (.cas, .ok):
            return state == operation.expected ? .some(operation.value) : .none
        case (.cas, _):
            return .some(state == operation.expected ? operation.value : state)
        }
    }
}

/// `RegisterModel` on interned values, the form the search runs: `0` is absent, other values are
/// small integers assigned per key.
struct CompiledOperation {
    enum Step: UInt8 { case read, write, casOK, casUnknown }
    let step: Step
    let value: Int32
    let expected: Int32

    /// Mirrors `RegisterModel.step`; returns -1 when the operation cannot run in `state`.
    @inline(__always)
    func apply(_ state: Int32) -> Int32 {
        switch step {
        case .read: return state == value ? state : -1
        case .write: return value
        case .casOK: return state == expected ? value : -1
        case .casUnknown: return state == expected ? value : state
        }
    }
}
