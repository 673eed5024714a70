import Executor
import Foundation
import Glibc
import Platform

/// The image a testbed's OCI tasks run, imported into every node's store before it starts, so
/// services work without a registry: the host's static busybox with every applet, plus glibc's
/// `getent` (and the libraries it loads) for name lookups through the resolver as an application
/// makes them.
///
/// Its default command is a web server (busybox httpd on port 80) whose every page answers
/// `host=<container hostname> client=<address the request came from> addrs=<its IPv4 addresses,>`:
/// the hostname and addresses tell which replica answered, the client address whether the
/// source address was kept (host mode, `policy=local`) or masqueraded (the routing mesh).
/// `/ok` is a static 3-byte file, for benchmarks that measure the path rather than the page.
/// The clients are busybox `wget`, `nslookup` and `nc`, and `getent hosts NAME`.
enum TestbedImage {
    static let name = "swarmctl/testbed:latest"
    static let busybox = "/bin/busybox"
    /// The page every request gets (httpd runs /cgi-bin/index.cgi for a directory without index.html;
    /// it listens on IPv6 too, so an IPv4 client comes as `[::ffff:A.B.C.D]`, printed as A.B.C.D).
    static let page = """
    #!/bin/sh
    printf 'Content-Type: text/plain\\r\\n\\r\\n'
    client=${REMOTE_ADDR#\\[::ffff:}
    echo "host=$(hostname) client=${client%\\]} addrs=$(ip -o -4 addr show | awk '{print $4}' | cut -d/ -f1 | grep -v '^127[.]' | tr '\\n' ',')"

    """
    static let command = ["httpd", "-f", "-p", "80", "-h", "/www"]

    /// Why the image cannot be built here, or nil.
    static func missing() -> String? {
        guard FileSystem.exists(busybox), isStatic(busybox) else {
            return "the testbed's task image needs a static busybox at \(busybox): apt-get install -y busybox-static"
        }
        return nil
    }

    /// Builds the root file system once in `directory`/image-rootfs and imports it into each data dir.
    static func install(directory: String, dataDirectories: [String]) throws {
        if let missing = missing() { throw CommandFailure(message: missing) }
        let rootfs = directory + "/image-rootfs"
        try build(rootfs)
        for data in dataDirectories {
            try FileSystem.makeDirectories(data, mode: 0o700)
            let store = try ImageStore(root: data + "/images")
            try store.importRootfs(name: name, from: rootfs, config: ImageStore.RunConfig(Cmd: command))
        }
    }

    private static func build(_ rootfs: String) throws {
        // getent is dynamically linked: copy it with the libraries ldd names (glibc ≥ 2.34 has the
        // files and dns lookups inside libc.so.6).
        let script = """
        set -e
        exec 2>&1
        r='\(rootfs)'
        rm -rf "$r"; mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/www/cgi-bin" "$r/proc" "$r/sys" "$r/dev"
        cp \(busybox) "$r/bin/busybox"
        for a in $(\(busybox) --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
        printf 'root:x:0:0::/:/bin/sh\\nnobody:x:65534:65534::/:/bin/false\\n' > "$r/etc/passwd"
        printf 'root:x:0:\\nnogroup:x:65534:\\n' > "$r/etc/group"
        printf 'hosts: files dns\\n' > "$r/etc/nsswitch.conf"
        cat > "$r/www/cgi-bin/index.cgi" <<'PAGE'
        \(page)PAGE
        chmod 755 "$r/www/cgi-bin/index.cgi"
        printf 'ok\n' > "$r/www/ok"
        if [ -x /usr/bin/getent ]; then
          mkdir -p "$r/usr/bin"; cp /usr/bin/getent "$r/usr/bin/getent"
          for lib in $(ldd /usr/bin/getent | grep -o '/[^ ]*'); do mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; done
        fi
        """
        let child = try ChildProcess.spawn("/bin/sh", arguments: ["-c", script + "\n"])
        var output: [UInt8] = []
        while let chunk = try child.readOutput(timeoutMilliseconds: 1_000) { output += chunk }
        let (code, signal) = try child.wait()
        guard code == 0 else {
            throw CommandFailure(message: "could not build the testbed image in \(rootfs) (exit \(code ?? 128 + (signal ?? 0))): "
                + String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// True when `path` is an ELF file without a program interpreter (statically linked).
    private static func isStatic(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let header = handle.readData(ofLength: 1 << 16)
        guard header.starts(with: [0x7f, 0x45, 0x4c, 0x46]) else { return false }
        return header.range(of: Data("/ld-linux".utf8)) == nil && header.range(of: Data("ld-musl".utf8)) == nil
    }
}
