// swift-tools-version:6.0
import PackageDescription

// swarmctl: one binary per node. Modules follow ../shared/ARCHITECTURE.md; dependencies point down only.
// No package dependencies: stdlib, Foundation, Dispatch, Glibc, XCTest and a small C target.
let package = Package(
    name: "swarmctl",
    products: [
        .executable(name: "swarmctl", targets: ["swarmctl"]),
        // The init of tasks started with --init, bind-mounted into their containers (static: it
        // runs inside any image). Installed next to swarmctl.
        .executable(name: "swarmctl-init", targets: ["swarmctl-init"]),
    ],
    targets: [
        // Syscalls the Glibc overlay does not export (_GNU_SOURCE lives only in the .c file).
        .target(name: "CPlatform", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "Platform", dependencies: ["CPlatform"]),
        // The system OpenSSL through a system-library target: digests, randomness, X.509 and TLS 1.3.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // OpenSSL macros and variadic calls Swift cannot import, as plain C functions.
        .target(name: "CCryptoShim", dependencies: ["COpenSSL"]),
        .target(name: "Crypto", dependencies: ["COpenSSL", "CCryptoShim"]),
        .target(name: "Wire"),
        // The seeded generator (SplitMix64) every deterministic part draws from.
        .target(name: "SeededRandom"),
        // Pure: the register-history format and the linearizability checker (Wing–Gong/Lowe search).
        .target(name: "Linearizability"),
        .target(name: "Raft", dependencies: ["Wire", "SeededRandom"]),
        .target(name: "Storage", dependencies: ["Raft", "Wire", "Platform", "Crypto"]),
        .target(name: "Simulation", dependencies: ["Raft", "Wire", "ClusterState", "Orchestration", "Dispatcher", "Agent"]),
        .target(name: "Transport", dependencies: ["Raft", "Wire", "Platform", "Crypto"]),
        .target(name: "Executor", dependencies: ["Platform", "CPlatform", "COpenSSL", "Crypto"]),
        .target(name: "ClusterState", dependencies: ["Wire"]),
        .target(name: "API", dependencies: ["ClusterState", "Wire", "Platform", "Crypto"]),
        // Pure control loops (orchestrators, scheduler, update supervisor), run by the leader.
        .target(name: "Orchestration", dependencies: ["ClusterState", "SeededRandom"]),
        // Pure dispatcher protocol (assignment streams, the acknowledgement guard), run by the
        // node shell and the control-plane simulator alike.
        .target(name: "Dispatcher", dependencies: ["ClusterState"]),
        // The worker side: runs the tasks assigned to this node through an executor.
        .target(name: "Agent", dependencies: ["ClusterState"]),
        // The worker-side networking: plans of a node's overlay networks and services rendered into
        // ip/bridge batches and nftables rulesets, the plumbing that applies them, and the DNS server.
        .target(name: "Networking", dependencies: ["Platform", "CPlatform"]),
        .target(name: "SwarmNode", dependencies: ["Raft", "Storage", "Transport", "ClusterState", "API", "Platform", "Crypto", "Wire",
                                                  "Orchestration", "Agent", "Executor", "Dispatcher", "Networking"]),
        .executableTarget(name: "swarmctl", dependencies: ["Raft", "Simulation", "Platform", "SwarmNode", "ClusterState", "API", "Executor", "Crypto", "Networking",
                                                           "Linearizability"]),
        .executableTarget(name: "swarmctl-init", path: "Sources/swarmctl-init", linkerSettings: [.unsafeFlags(["-static-executable"])]),
        .target(name: "BenchResults", path: "Benchmarks/BenchResults"),
        .executableTarget(name: "raft-bench", dependencies: ["Raft", "Simulation", "BenchResults"], path: "Benchmarks/RaftBench"),
        .executableTarget(name: "scheduler-bench", dependencies: ["Orchestration", "ClusterState", "BenchResults"],
                          path: "Benchmarks/SchedulerBench"),
        .executableTarget(name: "cluster-bench", dependencies: ["API", "Platform"], path: "Benchmarks/ClusterBench"),
        .executableTarget(name: "api-bench", dependencies: ["API", "Platform"], path: "Benchmarks/APIBench"),
        .executableTarget(name: "compare-bench", dependencies: ["API", "Platform"], path: "Benchmarks/CompareBench"),
        .executableTarget(name: "wal-bench", dependencies: ["Storage", "Raft", "Platform"], path: "Benchmarks/WALBench"),
        .executableTarget(name: "wire-bench", dependencies: ["ClusterState", "Wire"], path: "Benchmarks/WireBench"),
        .executableTarget(name: "wire-encode-bench", dependencies: ["ClusterState", "Wire"], path: "Benchmarks/WireEncodeBench"),
        .testTarget(name: "WireTests", dependencies: ["Wire", "SeededRandom"]),
        .testTarget(name: "LinearizabilityTests", dependencies: ["Linearizability", "SeededRandom"]),
        .testTarget(name: "RaftTests", dependencies: ["Raft"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Raft", "ClusterState", "Orchestration", "Dispatcher"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Raft", "Platform", "Crypto", "Wire"]),
        .testTarget(name: "CryptoTests", dependencies: ["Crypto"]),
        .testTarget(name: "ExecutorTests", dependencies: ["Executor", "Platform", "Crypto"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "Raft", "Platform", "Crypto", "Wire"]),
        .testTarget(name: "ClusterStateTests", dependencies: ["ClusterState", "Wire", "SeededRandom"]),
        .testTarget(name: "OrchestrationTests", dependencies: ["Orchestration", "ClusterState"]),
        .testTarget(name: "DispatcherTests", dependencies: ["Dispatcher", "ClusterState"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "ClusterState"]),
        .testTarget(name: "APITests", dependencies: ["API", "ClusterState", "Platform", "Crypto", "SeededRandom"]),
        .testTarget(name: "SwarmctlTests", dependencies: ["swarmctl", "ClusterState", "Networking", "Platform"]),
        .testTarget(name: "NetworkingTests", dependencies: ["Networking", "Platform", "SeededRandom"], exclude: ["Golden"]),
        .testTarget(name: "SwarmNodeTests", dependencies: ["SwarmNode", "ClusterState", "Platform", "API", "Transport", "Crypto", "Raft", "Dispatcher",
                                                           "Networking", "Agent", "Executor"]),
    ],
    swiftLanguageModes: [.v6]
)
