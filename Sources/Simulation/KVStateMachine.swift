import Raft
import Wire

/// A client write as it travels through the log: set `key` to `value`.
struct KVWrite: Equatable {
    var key: UInt8
    var value: UInt64

    func encoded() -> [UInt8] {
        var writer = WireWriter(capacity: 12)
        writer.writeUInt8(key)
        writer.writeVarint(value)
        return writer.bytes
    }

    init(key: UInt8, value: UInt64) {
        self.key = key
        self.value = value
    }

    init(_ bytes: [UInt8]) throws {
        var reader = WireReader(bytes)
        key = try reader.readUInt8()
        value = try reader.readVarint()
    }
}

/// The simulated replicated state machine: a few registers, each remembering how many writes
/// it has seen (its version), which is what the read checker compares.
struct KVStateMachine: Equatable {
    struct Register: Equatable {
        var version: UInt64 = 0
        var value: UInt64 = 0
    }

    private(set) var registers: [UInt8: Register] = [:]
    private(set) var appliedIndex: UInt64 = 0

    /// Applies one committed entry; returns the register version a write produced.
    @discardableResult
    mutating func apply(_ entry: Entry) -> UInt64? {
        precondition(entry.index == appliedIndex + 1, "state machine applied \(entry.index) after \(appliedIndex)")
        appliedIndex = entry.index
        guard entry.kind == .normal, let write = try? KVWrite(entry.data) else { return nil }
        var register = registers[write.key, default: Register()]
        register.version += 1
        register.value = write.value
        registers[write.key] = register
        return register.version
    }

    func read(_ key: UInt8) -> Register { registers[key, default: Register()] }

    func snapshotData() -> [UInt8] {
        var writer = WireWriter()
        writer.writeVarint(appliedIndex)
        writer.writeVarint(UInt64(registers.count))
        for key in registers.keys.sorted() {
            writer.writeUInt8(key)
            writer.writeVarint(registers[key]!.version)
            writer.writeVarint(registers[key]!.value)
        }
        return writer.bytes
    }

    init() {}

    init(snapshot: Snapshot) {
        guard !snapshot.data.isEmpty else {
            appliedIndex = snapshot.metadata.index
            return
        }
        var reader = WireReader(snapshot.data)
        do {
            appliedIndex = try reader.readVarint()
            let count = try reader.readCount()
            for _ in 0..<count {
                let key = try reader.readUInt8()
                registers[key] = Register(version: try reader.readVarint(), value: try reader.readVarint())
            }
        } catch {
            preconditionFailure("corrupt simulated snapshot: \(error)")
        }
        precondition(appliedIndex == snapshot.metadata.index, "snapshot data and metadata disagree")
    }
}
