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
}
