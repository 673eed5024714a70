/// Everything the shell must do after the core changed, in this order:
/// 1. persist `snapshot` (if any), then `entries` (an entry at index i replaces any persisted entry
///    at i or later), then `hardState`; fsync if `mustSync`;
/// 2. only then send `messages` (they may depend on what was just persisted, e.g. a vote);
/// 3. apply `snapshot`, then `committedEntries`, in order; serve `readStates` once applied;
/// 4. call `RaftNode.advance(_:)` with this batch.
public struct Ready: Sendable {
    public var softState: SoftState?
    public var hardState: HardState?
    public var snapshot: Snapshot?
    public var entries: [Entry] = []
    public var messages: [Message] = []
    public var committedEntries: [Entry] = []
    public var readStates: [ReadState] = []
    /// Term, vote or entries changed: the batch must be fsynced before messages go out.
    public var mustSync: Bool = false

    public init() {}

    public var isEmpty: Bool {
        softState == nil && hardState == nil && snapshot == nil && entries.isEmpty && messages.isEmpty
            && committedEntries.isEmpty && readStates.isEmpty
    }
}
