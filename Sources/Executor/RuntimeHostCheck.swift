import Platform

/// Whether an OCI runtime can run containers with this host's cgroup layout, and if not, why and
/// what to change.
///
/// It exists because crun (1.8, Debian 12) refuses every container on a hybrid hierarchy (cgroup
/// v1 controllers plus a cgroup v2 tree at /sys/fs/cgroup/unified) as soon as that v2 tree owns
/// a controller: "cgroups in hybrid mode not supported, drop all controllers from cgroupv2". A
/// controller lands there when no v1 hierarchy is mounted for it (here: hugetlb). Checking once
/// at node start turns 50 failed tasks into one message (where the node cannot hide the v2 tree
/// from crun), and lets `--runtime auto` take crun (faster to start than runc) wherever it works.
public enum RuntimeHostCheck {
    /// Why `runtime` cannot run containers here (nil: nothing known against it). Only crun has a
    /// known refusal, the hybrid layout, and the executor works around it where `unshare` (util-linux)
    /// is installed (`hiddenTree`); runc handles every layout.
    public static func problem(runtime: String, cgroupRoot: String = "/sys/fs/cgroup",
                               unshare: String? = OCIRuntime.find(names: ["unshare"])) -> String? {
        guard runtime == "crun", unshare == nil else { return nil }
        let controllers = hybridV2Controllers(cgroupRoot: cgroupRoot)
        guard !controllers.isEmpty else { return nil }
        let mounts = controllers.map { "mkdir -p \(cgroupRoot)/\($0) && mount -t cgroup -o \($0) cgroup \(cgroupRoot)/\($0)" }
        return "crun refuses this host's hybrid cgroup hierarchy (\"cgroups in hybrid mode not supported\"): the cgroup v2 tree "
            + "at \(cgroupRoot)/unified owns the controller\(controllers.count == 1 ? "" : "s") \(controllers.joined(separator: ", ")), "
            + "which no cgroup v1 hierarchy is mounted for, and unshare (util-linux), with which the node would hide that tree "
            + "from crun, is not installed; install util-linux, or mount \(controllers.count == 1 ? "the controller" : "each controller") "
            + "as a v1 hierarchy, as systemd and cgroupfs-mount do (\(mounts.joined(separator: "; "))), or use --runtime runc"
    }

    /// The v2 tree to hide from `runtime` (`cgroupRoot/unified`): for crun on a hybrid layout
    /// whose v2 tree owns controllers. crun then runs in a mount namespace of its own where that
    /// tree is unmounted and sees a pure cgroup v1 layout; the host keeps its mounts, and the
    /// container's limits (memory, cpu, pids) go into the v1 hierarchies as on a pure v1 host.
    /// Only the controllers without a v1 hierarchy (hugetlb here) are out of the container's
    /// reach, which a container on a pure v1 host has no cgroup for either.
    public static func hiddenTree(runtime: String, cgroupRoot: String = "/sys/fs/cgroup") -> String? {
        guard runtime == "crun", !hybridV2Controllers(cgroupRoot: cgroupRoot).isEmpty else { return nil }
        return cgroupRoot + "/unified"
    }

    /// The controllers of the v2 tree of a hybrid layout (v1 hierarchies under `cgroupRoot`, v2 at
    /// `cgroupRoot/unified`); empty for a pure v1 or pure v2 layout.
    static func hybridV2Controllers(cgroupRoot: String) -> [String] {
        guard !FileSystem.exists("\(cgroupRoot)/cgroup.controllers"),
              let bytes = try? Tree.readPseudoFile("\(cgroupRoot)/unified/cgroup.controllers") else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
    }

    /// The runtime `--runtime auto` uses: crun where it is installed, usable with this host's
    /// cgroup layout and keeps a container after exit (`run --keep`, so an OOM kill is still
    /// reported as one): it starts a container in 60–85% of runc's time with about half the CPU;
    /// else runc; else crun whatever the host (its refusal then names the fix).
    public static func preferredRuntime() -> String? {
        // Not yet crun 1.8 with `OOMWatch` (it reports OOM kills too): with crun, `docker exec` of
        // a bare command name and a worker's leave after a re-adoption fail their end-to-end tests.
        if let crun = OCIRuntime.find(names: ["crun"]), problem(runtime: "crun") == nil, OCIRuntime.supportsKeep(path: crun) {
            return crun
        }
        return OCIRuntime.find(names: ["runc", "crun"])
    }
}
