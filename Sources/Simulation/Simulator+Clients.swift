import Raft
import Wire

// Simulated clients: each runs one operation at a time, a write (propose on the node it thinks
// leads) or a linearizable read (ReadIndex on any node), with a timeout.
extension Simulator {
    static let operationTimeoutMillis = 3_000
    static let keys = 3

    func startOperation(_ client: Int) {
        guard case .idle = clients[client] else { return }
        let upSlots = nodes.indices.filter { nodes[$0].isUp }
        guard !upSlots.isEmpty else {
            queue.schedule(.clientStep(client: client), at: now + 100)
            return
        }
        let operation = nextOperation
        nextOperation += 1
        let key = UInt8(pick(Self.keys))
        if chance(60) {
            var slot = upSlots[pick(upSlots.count)]
            if let hint = clientLeaderHint[client], nodes[hint].isUp { slot = hint }
            startWrite(client, operation: operation, slot: slot, key: key)
        } else {
            startRead(client, operation: operation, slot: upSlots[pick(upSlots.count)], key: key)
        }
    }

    private func startWrite(_ client: Int, operation: UInt64, slot: Int, key: UInt8) {
        let write = KVWrite(key: key, value: operation)
        do {
            let position = try nodes[slot].raft.propose(write.encoded())
            clients[client] = .write(operation: operation, slot: slot, key: key, value: operation)
            nodes[slot].pendingWrites[position.index] = (client, operation, position.term)
            queue.schedule(.clientTimeout(client: client, operation: operation), at: now + Self.operationTimeoutMillis)
            drainReady(slot)
        } catch let .notLeader(hint) {
            clientLeaderHint[client] = slotOfMember[hint].flatMap { nodes[$0].id == hint ? $0 : nil }
            queue.schedule(.clientStep(client: client), at: now + 10 + pick(20))
        } catch {
            queue.schedule(.clientStep(client: client), at: now + 50 + pick(50))
        }
    }

    private func startRead(_ client: Int, operation: UInt64, slot: Int, key: UInt8) {
        clients[client] = .read(operation: operation, slot: slot, key: key, lowerBound: checker.readLowerBound(key: key))
        guard nodes[slot].raft.readIndex(context: encodeOperation(operation)) else {
            clients[client] = .idle
            queue.schedule(.clientStep(client: client), at: now + 50 + pick(50))
            return
        }
        queue.schedule(.clientTimeout(client: client, operation: operation), at: now + Self.operationTimeoutMillis)
        drainReady(slot)
    }

    func finishOperation(_ client: Int) {
        clients[client] = .idle
        queue.schedule(.clientStep(client: client), at: now + 5 + pick(30))
    }

    func abandonOperation(_ client: Int, _ operation: UInt64) {
        switch clients[client] {
        case let .write(current, _, _, _) where current == operation,
             let .read(current, _, _, _) where current == operation:
            clientLeaderHint[client] = nil
            finishOperation(client)
        default:
            break
        }
    }

    func encodeOperation(_ operation: UInt64) -> [UInt8] {
        var writer = WireWriter(capacity: 8)
        writer.writeUInt64(operation)
        return writer.bytes
    }

    func decodeOperation(_ context: [UInt8]) -> UInt64? {
        var reader = WireReader(context)
        return try? reader.readUInt64()
    }
}
