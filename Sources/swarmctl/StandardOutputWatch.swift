import Glibc
import Platform

/// Ends the process once nothing reads its standard output any more.
///
/// It exists for `swarmctl service logs -f … | head -1`: a follower that waits for new lines would
/// only notice that `head` has gone on its next write, which may be long after (a quiet service),
/// so the pipeline would not return. A pipe's write end reports POLLERR as soon as its reader
/// closes; a terminal or file never does, so this costs nothing there.
enum StandardOutputWatch {
    static func exitWhenReaderLeaves() {
        _ = PlatformThread(name: "stdout-watch") {
            while true {
                var watched = pollfd(fd: 1, events: 0, revents: 0)
                let ready = poll(&watched, 1, -1)
                if ready < 0 && errno == EINTR { continue }
                if ready < 0 { return }
                if watched.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { exit(0) }
            }
        }
    }
}
