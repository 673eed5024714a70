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
}
