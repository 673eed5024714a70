import ClusterState
import XCTest
@testable import swarmctl

/// `--secret`, `--config` and their update forms build the references docker's CLI would send
/// (by name; the API fills in the revision id), and bad values are usage errors naming the flag.
final class PayloadFlagsTests: XCTestCase {
    private func container(_ flags: [String], from start: ContainerSpec = ContainerSpec(image: "busybox")) throws -> ContainerSpec {
        var arguments = try CommandLineArguments(flags, switches: [])
        var container = start
        try PayloadFlags.apply(&arguments, &container)
        try arguments.finish(command: "service create")
        return container
    }

    func testANameOrDockersCSVBecomesAReference() throws {
        let built = try container(["--secret", "db_pw", "--secret", "source=api_key,target=key,uid=100,gid=101,mode=0400",
                                   "--config", "app_conf", "--config", "source=nginx,target=/etc/nginx.conf"])
        XCTAssertEqual(built.secrets, [
            SecretReference(file: PayloadFile(name: "db_pw"), secretID: "", secretName: "db_pw"),
            SecretReference(file: PayloadFile(name: "key", uid: "100", gid: "101", mode: 0o400), secretID: "", secretName: "api_key"),
        ])
        XCTAssertEqual(built.configs?.map(\.file?.name), ["/app_conf", "/etc/nginx.conf"])
        XCTAssertEqual(built.payloadReferences.map(\.target), ["/run/secrets/db_pw", "/run/secrets/key", "/app_conf", "/etc/nginx.conf"])
    }

    func testUpdateAddsAndRemovesByName() throws {
        var start = ContainerSpec(image: "busybox")
        start.secrets = [SecretReference(file: PayloadFile(name: "old"), secretID: "id1", secretName: "old")]
        let updated = try container(["--secret-rm", "old", "--secret-add", "new"], from: start)
        XCTAssertEqual(updated.secrets?.map(\.secretName), ["new"])
        let emptied = try container(["--secret-rm", "old"], from: start)
        XCTAssertEqual(emptied.secrets, [], "removing the last one sends an empty list")
    }

    func testBadValuesAreUsageErrors() {
        for flags in [["--secret", "source=x,mode=999"], ["--secret", "target=x"], ["--config", "source=x,color=red"], ["--secret", "source=x,uid"]] {
            XCTAssertThrowsError(try container(flags), "\(flags)") { error in
                XCTAssertTrue((error as? UsageError)?.message.contains(flags[0]) ?? false, "\(error)")
            }
        }
    }
}
