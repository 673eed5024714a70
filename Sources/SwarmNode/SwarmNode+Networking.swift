import Dispatcher
import Networking

// Task networking on the node (issue 16): the tables of the network table stream, with the local
// tasks' health, go to the `NodeNetworkRunner`, which applies them off the loop.
extension SwarmNode {
    /// Hands the current network tables and local health to the network runner (on the loop).
    /// Nothing happens before the first full set of tables arrived: an empty plan would remove
    /// the namespaces of the containers a restarted node is re-adopting.
    func applyNetworkTables() {
        guard let networkRunner, networkRunner.unavailable == nil, networkTableVersion.session > 0 else { return }
        var inputs: [NetworkTableInput] = []
        for table in networkTables {
            do { inputs.append(try NetworkTableInput(table)) } catch {
                logger.error("networking: network \(table.name)'s table is left out: \(error)")
            }
        }
        networkRunner.update(tables: inputs, health: agent?.localHealth ?? [:])
    }
}
