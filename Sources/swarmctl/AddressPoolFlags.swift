import ClusterState

/// `init --default-addr-pool CIDR [--default-addr-pool …] [--default-addr-pool-mask-length N]`,
/// Docker's `swarm init` flags: where overlay and ingress subnets come from. Init-only (the pool
/// is part of the cluster object from its first command), so `join` and `run` refuse them as
/// unknown flags.
enum AddressPoolFlags {
    static let usage = """
      --default-addr-pool CIDR               Give overlay and ingress networks subnets from CIDR (repeatable;
                                             default 10.0.0.0/8); chosen once, at init
      --default-addr-pool-mask-length N      Prefix length of each subnet taken from the pool (default 24)
    """

    /// The pool the flags give, nil when neither is present; a bad value is a usage error naming it.
    static func take(_ arguments: inout CommandLineArguments) throws(UsageError) -> DefaultAddressPool? {
        let cidrs = arguments.takeValues("--default-addr-pool")
        let maskText = arguments.takeValue("--default-addr-pool-mask-length")
        guard !cidrs.isEmpty else {
            if let maskText {
                throw UsageError(message: "--default-addr-pool-mask-length \(maskText) needs --default-addr-pool CIDR: give the pool it divides")
            }
            return nil
        }
        var mask: Int?
        if let maskText {
            guard let value = Int(maskText) else {
                throw UsageError(message: "--default-addr-pool-mask-length \(maskText): expected a prefix length such as 24")
            }
            mask = value
        }
        do {
            return try DefaultAddressPool(cidrs: cidrs, maskLength: mask)
        } catch {
            throw UsageError(message: "\(error)")
        }
    }
}

extension AddressPoolFlags {
    /// The flags as given, checked, to pass on to `init` (`testbed up` starts the first node with them).
    static func pass(_ arguments: inout CommandLineArguments) throws(UsageError) -> [String] {
        let cidrs = arguments.takeValues("--default-addr-pool")
        let mask = arguments.takeValue("--default-addr-pool-mask-length")
        let flags = cidrs.flatMap { ["--default-addr-pool", $0] } + (mask.map { ["--default-addr-pool-mask-length", $0] } ?? [])
        var check = try CommandLineArguments(flags, switches: [])
        _ = try take(&check)
        return flags
    }
}
