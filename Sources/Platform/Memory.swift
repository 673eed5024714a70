import CPlatform

/// Process memory housekeeping.
///
/// It exists because glibc keeps large freed blocks (a 16 MiB request body) in its heap after
/// the first one raised its mmap threshold, so RSS stays at the high-water mark of buffered
/// input; a server that bounds what it buffers gives the memory back once it is released.
public enum Memory {
    /// Returns freed heap memory to the system (malloc_trim(0)); true if any was released.
    @discardableResult
    public static func returnFreedMemory() -> Bool {
        cplatform_malloc_trim() == 1
    }

    /// Allocations at least this large get their own mapping, returned to the system when freed.
    public static let serverMmapThreshold = 128 << 10
    /// Malloc arenas: the node does its work on one event loop and a few helper threads.
    public static let serverArenas = 2

    /// Node processes call this first: a fixed mmap threshold, so a burst of large buffers (frames,
    /// request bodies, snapshot chunks) goes back to the system when they are freed instead of
    /// raising the threshold and staying in the heap, and at most `serverArenas` arenas (each
    /// thread that allocates would otherwise get its own, up to 8 per core). True if glibc took both.
    @discardableResult
    public static func configureForServer() -> Bool {
        cplatform_configure_malloc(Int32(serverMmapThreshold), Int32(serverArenas)) == 1
    }
}
