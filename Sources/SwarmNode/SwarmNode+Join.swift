import ClusterState
import Crypto
import Foundation
import Platform
import Raft
import Transport

// Joining: a manager admits a node that proved a join token; the joiner's side of that exchange.
extension SwarmNode {
    func handleJoin(_ request: JoinRequest, on connection: ConnectionInfo) {
        let expected: HandshakePurpose = request.role == .manager ? .joinManager : .joinWorker
        guard connection.purpose == expected else {
            return refuseJoin(on: connection, "the token is a \(connection.purpose) token but the node asked to join as \(request.role.rawValue)")
        }
        guard request.transportID != 0, Crypto16.valid(request.credentialHex) else {
            return refuseJoin(on: connection, "malformed join request")
        }
        let now = Clock.now()
        let status = NodeStatus(state: .unknown, addr: request.advertiseAddress)
        let managerStatus = request.role == .manager
            ? ManagerStatus(raftID: request.transportID, addr: request.advertiseAddress) : nil
        let node = Node(id: request.nodeID, version: ObjectVersion(index: 0), createdAt: now,
                        spec: NodeSpec(role: request.role), description: request.description,
                        status: status, managerStatus: managerStatus)
        let command = ClusterCommand.addNode(node: node, transportID: request.transportID,
                                             credential: Crypto16.bytes(request.credentialHex))
        proposeCommand(command) { [self] result in
            switch result {
            case .success:
                logger.info("node \(request.nodeID.prefix(12)) joined as \(request.role.rawValue) from \(request.advertiseAddress)")
                var response = JoinResponse(accepted: true, reason: nil, managerAddresses: managerAddresses())
                if request.role == .manager { response.managerCredentials = managerCredentials() }
                transport.reply(application: ApplicationFrame(.joinResponse, response), on: connection.id)
            case let .failure(failure):
                refuseJoin(on: connection, failure.description)
            }
        }
    }

    private func refuseJoin(on connection: ConnectionInfo, _ reason: String) {
        logger.warn("join refused: \(reason)")
        let response = JoinResponse(accepted: false, reason: reason, managerAddresses: [:])
        transport.reply(application: ApplicationFrame(.joinResponse, response), on: connection.id)
    }

    func managerCredentials() -> [UInt64: String] {
        var credentials: [UInt64: String] = [:]
        for raftID in managerAddresses().keys {
            if let member = state.member(transportID: raftID) { credentials[raftID] = Crypto.hex(member.credential) }
        }
        return credentials
    }

    func managerAddresses() -> [UInt64: String] {
        var addresses: [UInt64: String] = [:]
        for manager in state.managers { if let status = manager.managerStatus { addresses[status.raftID] = status.addr } }
        return addresses
    }
}

/// Hex helpers for credentials in join requests.
enum Crypto16 {
    static func valid(_ hex: String) -> Bool { hex.count == 64 && hex.allSatisfy(\.isHexDigit) }
    static func bytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var characters = Array(hex)
        while characters.count >= 2 {
            bytes.append(UInt8(String(characters[0...1]), radix: 16) ?? 0)
            characters.removeFirst(2)
        }
        return bytes
    }
}
