/// Encoded frames waiting for one peer, bounded by frame count and by bytes.
///
/// It exists so a slow or unreachable peer costs bounded memory and never blocks the loop. When
/// full it drops the OLDEST frames: Raft tolerates loss, and newer messages (higher commit, newer
/// heartbeats and appends) supersede older ones, so keeping the newest is the more useful half.
/// Every drop is counted.
struct PeerQueue {
    let maxFrames: Int
    let maxBytes: Int
    private var frames: [[UInt8]] = []
    private var head = 0
    private(set) var byteCount = 0
    private(set) var droppedFrames: UInt64 = 0

    init(maxFrames: Int, maxBytes: Int) {
        precondition(maxFrames > 0 && maxBytes > 0, "peer queue limits must be positive")
        self.maxFrames = maxFrames
        self.maxBytes = maxBytes
    }

    var count: Int { frames.count - head }
    var isEmpty: Bool { count == 0 }

    /// Appends `frame`, dropping the oldest frames until both limits hold. A frame larger than
    /// `maxBytes` on its own is dropped instead.
    mutating func append(_ frame: [UInt8]) {
        guard frame.count <= maxBytes else {
            droppedFrames += 1
            return
        }
        while count >= maxFrames || byteCount + frame.count > maxBytes {
            _ = popFirst()
            droppedFrames += 1
        }
        frames.append(frame)
        byteCount += frame.count
        assert(count <= maxFrames && byteCount <= maxBytes, "peer queue over its limits")
    }

    /// The oldest frame, or nil when empty.
    mutating func popFirst() -> [UInt8]? {
        guard head < frames.count else { return nil }
        let frame = frames[head]
        frames[head] = []
        head += 1
        byteCount -= frame.count
        if head == frames.count {
            frames.removeAll(keepingCapacity: frames.capacity <= 4096)
            head = 0
        } else if head >= 1024 && head >= frames.count / 2 {
            frames.removeFirst(head)
            head = 0
        }
        return frame
    }

    /// Size of the oldest frame, for filling a write batch without overshooting by much.
    var firstFrameSize: Int? { head < frames.count ? frames[head].count : nil }

    mutating func removeAll() {
        frames = []
        head = 0
        byteCount = 0
    }
}
