import ClusterState
import XCTest
@testable import swarmctl

/// The service flags build the spec docker would send, and refuse bad values with a usage error.
final class ServiceSpecFlagsTests: XCTestCase {
    private func spec(_ flags: [String], creating: Bool = true) throws -> ServiceSpec {
        var arguments = try CommandLineArguments(flags, switches: ServiceSpecFlags.switches)
        var spec = ServiceSpec(name: "", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox")), mode: .replicated(replicas: 1))
        try ServiceSpecFlags.apply(&arguments, to: &spec, creating: creating)
        try arguments.finish(command: "service create")
        return spec
    }

    func testCreateFlagsFillTheSpec() throws {
        let built = try spec(["--name", "web", "--replicas", "3", "--env", "A=1", "--env", "B=2", "--constraint", "node.labels.zone==a",
                              "--reserve-memory", "512M", "--limit-cpu", "0.5", "--restart-condition", "on-failure",
                              "--restart-delay", "2s", "--update-parallelism", "2", "--update-order", "start-first",
                              "--update-failure-action", "rollback", "--replicas-max-per-node", "2", "--placement-pref", "spread=node.labels.zone"])
        XCTAssertEqual(built.name, "web")
        XCTAssertEqual(built.mode, .replicated(replicas: 3))
        XCTAssertEqual(built.taskTemplate.containerSpec.env, ["A=1", "B=2"])
        XCTAssertEqual(built.taskTemplate.placement?.constraints, ["node.labels.zone==a"])
        XCTAssertEqual(built.taskTemplate.placement?.maxReplicas, 2)
        XCTAssertEqual(built.taskTemplate.placement?.preferences, [PlacementPreference(spreadDescriptor: "node.labels.zone")])
        XCTAssertEqual(built.taskTemplate.resources?.reservations?.memoryBytes, 512 << 20)
        XCTAssertEqual(built.taskTemplate.resources?.limits?.nanoCPUs, 500_000_000)
        XCTAssertEqual(built.taskTemplate.restartPolicy, RestartPolicy(condition: .onFailure, delay: 2_000_000_000))
        XCTAssertEqual(built.updateConfig?.parallelism, 2)
        XCTAssertEqual(built.updateConfig?.order, .startFirst)
        XCTAssertEqual(built.updateConfig?.failureAction, .rollback)
    }

    func testUpdateFlagsAddAndRemove() throws {
        var arguments = try CommandLineArguments(["--env-add", "A=2", "--env-rm", "B", "--constraint-rm", "node.role==worker"],
                                                 switches: ServiceSpecFlags.switches)
        var spec = ServiceSpec(name: "web", taskTemplate: TaskTemplate(containerSpec: ContainerSpec(image: "busybox", env: ["A=1", "B=1", "C=1"]),
                                                                        placement: Placement(constraints: ["node.role==worker"])),
                               mode: .replicated(replicas: 1))
        try ServiceSpecFlags.apply(&arguments, to: &spec, creating: false)
        XCTAssertEqual(spec.taskTemplate.containerSpec.env, ["C=1", "A=2"])
        XCTAssertNil(spec.taskTemplate.placement)
    }

    func testBadValuesAreUsageErrorsNamingTheFlag() {
        for flags in [["--replicas", "-1"], ["--reserve-memory", "lots"], ["--restart-condition", "sometimes"], ["--constraint", "zone"],
                      ["--update-order", "random"], ["--update-max-failure-ratio", "2"], ["--restart-delay", "soon"]] {
            XCTAssertThrowsError(try spec(flags), "\(flags)") { error in
                XCTAssertTrue((error as? UsageError)?.message.contains(flags[0]) == true, "\(error)")
            }
        }
        XCTAssertThrowsError(try spec(["--mode", "global"], creating: false), "a service's mode cannot change")
    }

    func testSizesParseLikeDocker() throws {
        XCTAssertEqual(try ServiceSpecFlags.bytes("1g", flag: "m"), 1 << 30)
        XCTAssertEqual(try ServiceSpecFlags.bytes("64MiB", flag: "m"), 64 << 20)
        XCTAssertEqual(try ServiceSpecFlags.bytes("100k", flag: "m"), 100 << 10)
        XCTAssertEqual(try ServiceSpecFlags.bytes("4096", flag: "m"), 4096)
    }

    func testFlagsEndAtTheImageSoTheCommandKeepsItsOwn() throws {
        let arguments = try CommandLineArguments(["create", "--name", "x", "busybox", "sh", "-c", "echo --name"],
                                                 switches: ServiceSpecFlags.switches, flagsEndAfter: 2)
        XCTAssertEqual(arguments.positionals, ["create", "busybox", "sh", "-c", "echo --name"])
    }

    func testEntrypointIsSplitLikeAShellAndEmptyRestoresTheImages() throws {
        XCTAssertEqual(try spec(["--entrypoint", #"sh -c 'echo "a b"; exit 3'"#]).taskTemplate.containerSpec.command,
                       ["sh", "-c", #"echo "a b"; exit 3"#])
        XCTAssertEqual(try spec(["--entrypoint", #"/bin/echo "x \"y\"" z\ w"#]).taskTemplate.containerSpec.command, ["/bin/echo", #"x "y""#, "z w"])
        XCTAssertNil(try spec(["--entrypoint", ""]).taskTemplate.containerSpec.command)
        XCTAssertThrowsError(try spec(["--entrypoint", "sh -c 'unclosed"])) { error in
            XCTAssertTrue((error as? UsageError)?.message.contains("a quote is not closed") == true, "\(error)")
        }
    }

    func testContainerSettingFlagsAsDockerSendsThem() throws {
        let container = try spec(["--mount", "type=bind,src=/srv,dst=/data,readonly", "--mount", "type=volume,source=v1,target=/v,volume-nocopy",
                                  "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770", "--read-only", "--cap-add", "NET_ADMIN",
                                  "--cap-drop", "ALL", "--ulimit", "nofile=512", "--ulimit", "nproc=10:20", "--sysctl", "kernel.shmmni=1234",
                                  "--dns", "10.0.0.53", "--dns-search", "corp", "--dns-option", "ndots:2", "--host", "db:10.0.0.7",
                                  "--group", "audio", "--security-opt", "seccomp=unconfined"]).taskTemplate.containerSpec
        XCTAssertEqual(container.mounts, [
            Mount(type: "bind", source: "/srv", target: "/data", readOnly: true),
            Mount(type: "volume", source: "v1", target: "/v", volumeOptions: Mount.VolumeOptions(noCopy: true)),
            Mount(type: "tmpfs", target: "/t", tmpfsOptions: Mount.TmpfsOptions(sizeBytes: 1 << 20, mode: 0o1770)),
        ])
        XCTAssertEqual(container.readOnly, true)
        XCTAssertEqual(container.capabilityAdd, ["NET_ADMIN"])
        XCTAssertEqual(container.capabilityDrop, ["ALL"])
        XCTAssertEqual(container.ulimits, [Ulimit(name: "nofile", soft: 512, hard: 512), Ulimit(name: "nproc", soft: 10, hard: 20)])
        XCTAssertEqual(container.sysctls, ["kernel.shmmni": "1234"])
        XCTAssertEqual(container.dnsConfig, DNSConfig(nameservers: ["10.0.0.53"], search: ["corp"], options: ["ndots:2"]))
        XCTAssertEqual(container.hosts, ["10.0.0.7 db"], "docker's order: IP then name")
        XCTAssertEqual(container.groups, ["audio"])
        XCTAssertEqual(container.privileges?.seccomp?.mode, "unconfined")
        XCTAssertNil(ContainerSettingsValidation.problem(container))
    }

    func testContainerSettingUpdateFlagsAddAndRemove() throws {
        var arguments = try CommandLineArguments(["--mount-rm", "/data", "--mount-add", "type=tmpfs,dst=/t", "--ulimit-rm", "nofile",
                                                  "--host-rm", "db", "--cap-drop-rm", "ALL", "--read-only=false"],
                                                 switches: ServiceSpecFlags.switches)
        var container = ContainerSpec(image: "busybox")
        container.mounts = [Mount(type: "bind", source: "/srv", target: "/data")]
        container.ulimits = [Ulimit(name: "nofile", soft: 1, hard: 1)]
        container.hosts = ["10.0.0.7 db"]
        container.capabilityDrop = ["ALL"]
        container.readOnly = true
        var spec = ServiceSpec(name: "web", taskTemplate: TaskTemplate(containerSpec: container), mode: .replicated(replicas: 1))
        try ServiceSpecFlags.apply(&arguments, to: &spec, creating: false)
        try arguments.finish(command: "service update")
        let updated = spec.taskTemplate.containerSpec
        XCTAssertEqual(updated.mounts, [Mount(type: "tmpfs", target: "/t")])
        XCTAssertNil(updated.ulimits)
        XCTAssertNil(updated.hosts)
        XCTAssertNil(updated.capabilityDrop)
        XCTAssertEqual(updated.readOnly, false)
    }

    func testBadContainerSettingFlagsAreUsageErrors() {
        for (flags, expected) in [
            (["--mount", "type=bind,src=/srv"], "target=PATH is required"),
            (["--mount", "type=bind,src=/srv,dst=/d,colour=red"], "unknown key colour"),
            (["--mount", "type=tmpfs,dst=/t,tmpfs-mode=999"], "tmpfs-mode expects an octal mode"),
            (["--ulimit", "nofile"], "expected NAME=SOFT[:HARD]"),
            (["--ulimit", "nofile=a:b"], "expected NAME=SOFT[:HARD]"),
            (["--host", "db"], "expected NAME:IP"),
            (["--security-opt", "apparmor=unconfined"], "only seccomp=default, seccomp=unconfined"),
        ] {
            XCTAssertThrowsError(try spec(flags), "\(flags)") { error in
                XCTAssertTrue((error as? UsageError)?.message.contains(expected) == true, "\(flags): \(error)")
            }
        }
    }
}
