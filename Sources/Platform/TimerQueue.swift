/// A timer's identity, used to cancel it.
///
/// It exists so callers can cancel a one-shot or repeating timer without holding the closure, and
/// so a stale handle (the timer already fired) is harmless.
public struct TimerHandle: Hashable, Sendable {
    public let id: UInt64
}

/// Pending timers ordered by deadline in a binary min-heap; pure (the caller passes the time).
///
/// It exists so the event loop can compute `epoll_wait`'s timeout in O(1) and fire due timers in
/// O(log n) each. Cancelled timers are removed from the callback table at once and skipped lazily
/// when they reach the top of the heap.
struct TimerQueue<Callback> {
    private struct Slot {
        var deadline: UInt64
        var id: UInt64
    }

    private struct Timer {
        var callback: Callback
        var repeatNanos: UInt64?
    }

    private var heap: [Slot] = []
    private var timers: [UInt64: Timer] = [:]
    private var nextID: UInt64 = 1

    var count: Int { timers.count }

    /// Adds a timer due at `deadline`; if `repeatNanos` is set it is re-armed after each firing.
    mutating func add(deadline: UInt64, repeatNanos: UInt64? = nil, _ callback: Callback) -> TimerHandle {
        precondition(repeatNanos.map { $0 > 0 } ?? true, "a repeating timer needs a positive period")
        let id = nextID
        nextID += 1
        timers[id] = Timer(callback: callback, repeatNanos: repeatNanos)
        push(Slot(deadline: deadline, id: id))
        return TimerHandle(id: id)
    }

    /// Cancels the timer; returns false if it already fired (one-shot) or was cancelled.
    @discardableResult
    mutating func cancel(_ handle: TimerHandle) -> Bool {
        timers.removeValue(forKey: handle.id) != nil
    }

    /// The earliest live deadline, discarding cancelled slots on the way.
    mutating func nextDeadline() -> UInt64? {
        while let top = heap.first {
            if timers[top.id] != nil { return top.deadline }
            _ = pop()
        }
        return nil
    }

    /// Removes and returns the callback of one timer due at `now`, re-arming it if it repeats.
    mutating func popDue(now: UInt64) -> Callback? {
        guard let deadline = nextDeadline(), deadline <= now else { return nil }
        let slot = pop()
        guard let timer = timers[slot.id] else { return nil }
        if let period = timer.repeatNanos {
            // Skip missed periods instead of firing a burst after a stall.
            var next = slot.deadline + period
            if next <= now { next = now + period }
            push(Slot(deadline: next, id: slot.id))
        } else {
            timers.removeValue(forKey: slot.id)
        }
        return timer.callback
    }

    private mutating func push(_ slot: Slot) {
        heap.append(slot)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func pop() -> Slot {
        precondition(!heap.isEmpty, "pop from an empty timer heap")
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count && less(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && less(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }

    /// Earlier deadline first; equal deadlines fire in the order they were scheduled.
    private func less(_ a: Slot, _ b: Slot) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.id < b.id
    }
}
