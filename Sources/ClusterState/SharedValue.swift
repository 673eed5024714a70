/// An immutable value behind a reference, for large fields of objects the cluster state holds
/// many of (a service's spec is about 2.5 KB inline).
///
/// It exists because the state is a value captured for every snapshot and read by every control
/// loop: with the spec inline, copying the services dictionary (the first write after a
/// snapshot capture, on the node's loop) copied every spec, tens of MB with 40,000 services, and
/// every read of a service copied its spec. Behind a shared immutable reference a copy is one
/// retain; a change replaces the reference, so value semantics are kept.
public final class SharedValue<Value: Sendable & Equatable>: Sendable {
    public let value: Value

    public init(_ value: Value) { self.value = value }

    /// Same reference, or equal values.
    public static func same(_ lhs: SharedValue, _ rhs: SharedValue) -> Bool { lhs === rhs || lhs.value == rhs.value }
}
