import CPlatform
import Glibc
import Platform

/// Work done inside another network namespace.
///
/// It exists because `setns` moves only the calling thread: sockets opened there stay in that
/// namespace, and tools spawned from it (`ip`, `nft`) configure it, while the process and its other
/// threads stay where they are. The probe in reference/probes/dnsns.py showed the pattern.
public enum NetworkNamespace {
    /// The file of a named namespace (`ip netns add NAME`).
    public static func path(_ name: String) -> String { HostNetworkPlumbing.namespaceDirectory + "/" + name }

    /// Runs `body` on a fresh thread inside the namespace at `path` and returns its result.
    public static func perform<T: Sendable>(_ path: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        try inNetworkNamespace(path, body)
    }
}

/// Runs `body` on a fresh thread that first enters the network namespace at `path` (a file in
/// /run/netns), so sockets it creates live in that namespace. The thread ends afterwards, so a
/// failure to switch back can never leave a server thread in the wrong namespace.
func inNetworkNamespace<T: Sendable>(_ path: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
    let result = OneShot<Result<T, NetworkingError>>()
    let thread = PlatformThread(name: "dns-setns") {
        let target = open(path, O_RDONLY | O_CLOEXEC)
        guard target >= 0 else {
            result.set(.failure(NetworkingError("cannot open network namespace \(path): \(String(cString: strerror(errno)))")))
            return
        }
        defer { _ = close(target) }
        guard cplatform_setns_network(target) == 0 else {
            result.set(.failure(NetworkingError("cannot enter network namespace \(path): \(String(cString: strerror(errno))) (needs root)")))
            return
        }
        do { result.set(.success(try body())) } catch {
            result.set(.failure(error as? NetworkingError ?? NetworkingError("\(error)")))
        }
    }
    thread.join()
    return try result.wait()!.get()
}
