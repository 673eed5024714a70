/// The join command `init` and `join-token` print, with every flag `swarmctl join` requires.
///
/// It exists so the printed command can be pasted: the new node's own data directory and
/// addresses cannot be known here, so they are placeholders named as in the usage, followed by
/// a line saying what to put in their place.
enum JoinCommand {
    static func text(token: String, manager: String) -> String {
        """
            swarmctl join --data-dir DIR --listen-addr HOST:PORT --api-addr ADDR --token \(token) \(manager)

        Replace DIR with the new node's data directory, HOST:PORT with the address the other nodes
        reach it at, and ADDR with where its API listens (unix:PATH or tcp:HOST:PORT).
        """
    }
}
