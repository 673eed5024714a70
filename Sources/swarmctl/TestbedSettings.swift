import Executor
import Glibc

/// What the nodes of a testbed run with, chosen at `testbed up` and recorded in testbed.env so
/// `testbed restart` starts a node the same way: the executor (`process` by default, `oci` under
/// `--netns`, where tasks need their own network namespaces, which only runc gives them) and the
/// cluster flags given to `init` (the default address pool).
struct TestbedSettings {
    static let executorKey = "TESTBED_EXECUTOR"
    static let imageKey = "TESTBED_IMAGE"
    /// Under `--netns` every address stays in the documentation ranges the underlay uses:
    /// overlays and ingress get /27s of 198.51.100.0/25 (ingress 198.51.100.0/27).
    static let netnsAddressPool = ["--default-addr-pool", "198.51.100.0/25", "--default-addr-pool-mask-length", "27"]

    var executor = "process"
    var initFlags: [String] = []

    init(executor: String = "process", initFlags: [String] = []) {
        self.executor = executor
        self.initFlags = initFlags
    }

    init(recordedIn environment: TestbedEnvironment) {
        executor = environment.value(Self.executorKey).flatMap { $0.isEmpty ? nil : $0 } ?? "process"
    }

    /// `--executor` of `testbed up`: process or oci; default oci with `--netns`, else process.
    static func executor(_ value: String?, netns: Bool) throws(UsageError) -> String {
        guard let value else { return netns ? "oci" : "process" }
        guard ["process", "oci"].contains(value) else {
            throw UsageError(message: "testbed up --executor \(value): use process or oci")
        }
        return value
    }

    var nodeFlags: [String] { ["--enable-chaos", "--executor", executor] }

    /// Refuses an OCI testbed on a machine that cannot run it, saying what to install.
    func check() throws {
        guard executor == "oci" else { return }
        guard geteuid() == 0 else {
            throw CommandFailure(message: "testbed up with the OCI executor needs root: run it as root, or use --executor process")
        }
        guard OCIRuntime.find() != nil else {
            throw CommandFailure(message: "testbed up with the OCI executor needs runc: apt-get install -y runc (or use --executor process)")
        }
        if let missing = TestbedImage.missing() { throw CommandFailure(message: missing) }
    }

    func record(in environment: inout TestbedEnvironment) {
        environment.setValue(Self.executorKey, executor)
        if executor == "oci" { environment.setValue(Self.imageKey, TestbedImage.name) }
    }

    var summary: String {
        var lines = ["Tasks run with the \(executor) executor."]
        if executor == "oci" {
            lines.append("Image \(TestbedImage.name) on every node: busybox httpd on port 80 answering 'host=HOSTNAME client=ADDRESS addrs=…'; "
                + "wget, nslookup, nc and getent inside.")
        }
        if !initFlags.isEmpty { lines.append("Cluster created with \(initFlags.joined(separator: " ")).") }
        return lines.joined(separator: "\n")
    }
}
