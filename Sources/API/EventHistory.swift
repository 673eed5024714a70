/// The last `capacity` Docker events of this node, and the `GET /events` streams waiting for
/// new ones.
///
/// It exists because `docker events --since` asks for the past: a manager derives events from
/// every command it applies (`DockerEventDeriver`), so each manager's history holds the same
/// events for the log entries it has applied, and the bound keeps memory flat however long the
/// cluster runs (dockerd keeps 256; we keep more because one service update of 50 replicas
/// already makes 100 container events). Loop-confined, like the API.
public final class EventHistory {
    public static let defaultCapacity = 2_048

    public let capacity: Int
    private var ring: [DockerEventMessage] = []
    private var start = 0
    private var subscribers: [UInt64: (DockerEventMessage) -> Void] = [:]
    private var nextSubscriber: UInt64 = 1

    public init(capacity: Int = EventHistory.defaultCapacity) {
        precondition(capacity > 0, "an event history holds at least one event")
        self.capacity = capacity
        ring.reserveCapacity(min(capacity, 256))
    }

    /// The kept events, oldest first.
    public var events: [DockerEventMessage] {
        Array(ring[start...] + ring[..<start])
    }

    public var subscriberCount: Int { subscribers.count }

    /// Keeps `event` (dropping the oldest beyond the bound) and hands it to every subscriber.
    public func record(_ event: DockerEventMessage) {
        if ring.count < capacity {
            ring.append(event)
        } else {
            ring[start] = event
            start = (start + 1) % capacity
        }
        for deliver in subscribers.values { deliver(event) }
    }

    public func record(_ events: [DockerEventMessage]) {
        for event in events { record(event) }
    }

    /// Calls `deliver` with every event recorded from now on, until `unsubscribe`.
    public func subscribe(_ deliver: @escaping (DockerEventMessage) -> Void) -> UInt64 {
        let token = nextSubscriber
        nextSubscriber += 1
        subscribers[token] = deliver
        return token
    }

    public func unsubscribe(_ token: UInt64) {
        subscribers[token] = nil
    }
}
