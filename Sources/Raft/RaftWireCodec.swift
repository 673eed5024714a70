import Wire

// Binary forms of the Raft types, used by the transport (messages) and the WAL (entries, hard
// state, snapshots). Field order is the format; append new fields at the end of a type only.

/// Largest entry payload accepted from the wire or the disk (a bound checked before allocating).
public let maxEntryDataBytes = 64 << 20

extension Entry: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(term)
        writer.writeVarint(index)
        writer.writeUInt8(kind.rawValue)
        writer.writeBytes(data)
    }

    public init(from reader: inout WireReader) throws {
        let term = try reader.readVarint()
        let index = try reader.readVarint()
        let tag = try reader.readUInt8()
        guard let kind = EntryKind(rawValue: tag) else { throw WireError.unknownTag("entry kind", UInt64(tag)) }
        self.init(term: term, index: index, kind: kind, data: try reader.readBytes(limit: maxEntryDataBytes))
    }
}

extension HardState: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(term)
        writer.writeVarint(vote)
        writer.writeVarint(commit)
    }

    public init(from reader: inout WireReader) throws {
        self.init(term: try reader.readVarint(), vote: try reader.readVarint(), commit: try reader.readVarint())
    }
}

extension ConfState: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(UInt64(voters.count))
        for id in voters { writer.writeVarint(id) }
        writer.writeVarint(UInt64(learners.count))
        for id in learners { writer.writeVarint(id) }
    }

    public init(from reader: inout WireReader) throws {
        var voters: [NodeID] = []
        for _ in 0..<(try reader.readCount()) { voters.append(try reader.readVarint()) }
        var learners: [NodeID] = []
        for _ in 0..<(try reader.readCount()) { learners.append(try reader.readVarint()) }
        self.init(voters: voters, learners: learners)
    }
}

extension ConfChange: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeUInt8(kind.rawValue)
        writer.writeVarint(nodeID)
        writer.writeBytes(context)
    }

    public init(from reader: inout WireReader) throws {
        let tag = try reader.readUInt8()
        guard let kind = Kind(rawValue: tag) else { throw WireError.unknownTag("conf change kind", UInt64(tag)) }
        let nodeID = try reader.readVarint()
        guard nodeID != noNode else { throw WireError.invalidValue("conf change for node 0") }
        self.init(kind: kind, nodeID: nodeID, context: try reader.readBytes(limit: 1 << 16))
    }
}

extension SnapshotMetadata: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeVarint(index)
        writer.writeVarint(term)
        confState.encode(to: &writer)
    }

    public init(from reader: inout WireReader) throws {
        self.init(index: try reader.readVarint(), term: try reader.readVarint(), confState: try ConfState(from: &reader))
    }
}

extension Snapshot: WireCodable {
    public func encode(to writer: inout WireWriter) {
        metadata.encode(to: &writer)
        writer.writeBytes(data)
    }

    public init(from reader: inout WireReader) throws {
        self.init(metadata: try SnapshotMetadata(from: &reader), data: try reader.readBytes())
    }
}

extension Message: WireCodable {
    public func encode(to writer: inout WireWriter) {
        writer.writeUInt8(kind.rawValue)
        writer.writeVarint(from)
        writer.writeVarint(to)
        writer.writeVarint(term)
        writer.writeVarint(logTerm)
        writer.writeVarint(index)
        writer.writeVarint(commit)
        writer.writeBool(reject)
        writer.writeVarint(rejectHint)
        writer.writeVarint(readRound)
        writer.writeBool(isTransfer)
        writer.writeBytes(context)
        writer.writeVarint(UInt64(entries.count))
        for entry in entries { entry.encode(to: &writer) }
        writer.writeBool(snapshotMetadata != nil)
        snapshotMetadata?.encode(to: &writer)
        writer.writeVarint(chunkOffset)
        writer.writeVarint(chunkTotal)
        writer.writeBytes(chunkData)
    }

    public init(from reader: inout WireReader) throws {
        let tag = try reader.readUInt8()
        guard let kind = MessageKind(rawValue: tag) else { throw WireError.unknownTag("message kind", UInt64(tag)) }
        self.init(kind: kind, from: try reader.readVarint(), to: try reader.readVarint(), term: try reader.readVarint())
        logTerm = try reader.readVarint()
        index = try reader.readVarint()
        commit = try reader.readVarint()
        reject = try reader.readBool()
        rejectHint = try reader.readVarint()
        readRound = try reader.readVarint()
        isTransfer = try reader.readBool()
        context = try reader.readBytes(limit: 1 << 16)
        let count = try reader.readCount(minimumItemSize: 4)
        entries.reserveCapacity(count)
        for _ in 0..<count { entries.append(try Entry(from: &reader)) }
        if try reader.readBool() { snapshotMetadata = try SnapshotMetadata(from: &reader) }
        chunkOffset = try reader.readVarint()
        chunkTotal = try reader.readVarint()
        chunkData = try reader.readBytes(limit: maxEntryDataBytes)
    }
}
