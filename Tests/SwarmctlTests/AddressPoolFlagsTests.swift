import ClusterState
import XCTest
@testable import swarmctl

/// `init --default-addr-pool CIDR … --default-addr-pool-mask-length N` (and `testbed up`, which
/// passes them on): the pool they give, and usage errors naming the flag and the bad value.
final class AddressPoolFlagsTests: XCTestCase {
    private func pool(_ flags: [String]) throws -> DefaultAddressPool? {
        var arguments = try CommandLineArguments(flags, switches: [])
        let pool = try AddressPoolFlags.take(&arguments)
        try arguments.finish(command: "init")
        return pool
    }

    private func usageError(_ flags: [String]) -> String {
        do {
            _ = try pool(flags)
            return "accepted"
        } catch let error as UsageError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    func testPoolsAndMaskLengthBuildTheClusterPool() throws {
        XCTAssertNil(try pool([]))
        let given = try XCTUnwrap(try pool(["--default-addr-pool", "198.51.100.0/25", "--default-addr-pool", "203.0.113.0/24",
                                            "--default-addr-pool-mask-length", "27"]))
        XCTAssertEqual(given.pools.map(\.description), ["198.51.100.0/25", "203.0.113.0/24"])
        XCTAssertEqual(given.subnetPrefix, 27)
        XCTAssertEqual(try pool(["--default-addr-pool=10.20.0.0/16"])?.subnetPrefix, 24, "Docker's default mask length")
    }

    func testBadValuesAreUsageErrorsNamingThem() {
        XCTAssertEqual(usageError(["--default-addr-pool-mask-length", "26"]),
                       "--default-addr-pool-mask-length 26 needs --default-addr-pool CIDR: give the pool it divides")
        XCTAssertEqual(usageError(["--default-addr-pool", "10.0.0.0/16", "--default-addr-pool-mask-length", "big"]),
                       "--default-addr-pool-mask-length big: expected a prefix length such as 24")
        XCTAssertEqual(usageError(["--default-addr-pool", "10.0.0.1/16"]),
                       "default address pool 10.0.0.1/16 is not an IPv4 subnet in CIDR form without host bits: use one such as 10.20.0.0/16")
        XCTAssertEqual(usageError(["--default-addr-pool", "10.0.0.0/16", "--default-addr-pool-mask-length", "8"]),
                       "default address pool mask length 8 is invalid for the pool 10.0.0.0/16: use a length from 16 (the pool's own prefix) to 30")
    }

    func testTestbedPassesCheckedFlagsOnToInit() throws {
        var arguments = try CommandLineArguments(["--default-addr-pool", "198.51.100.0/24", "--default-addr-pool-mask-length", "28"], switches: [])
        XCTAssertEqual(try AddressPoolFlags.pass(&arguments),
                       ["--default-addr-pool", "198.51.100.0/24", "--default-addr-pool-mask-length", "28"])
        var bad = try CommandLineArguments(["--default-addr-pool", "nonsense"], switches: [])
        XCTAssertThrowsError(try AddressPoolFlags.pass(&bad))
        XCTAssertEqual(TestbedSettings.netnsAddressPool, ["--default-addr-pool", "198.51.100.0/25", "--default-addr-pool-mask-length", "27"])
    }
}
