// swift-tools-version:6.0
import PackageDescription

// swarmctl: one binary per node. Modules follow ../shared/ARCHITECTURE.md; dependencies point down only.
// No package dependencies: stdlib, Foundation, Dispatch, Glibc, XCTest and a small C target.
let package = Package(
    name: "swarmctl",
    products: [
        .executable(name: "swarmctl", targets: ["swarmctl"]),
    ],
    targets: [
        // Syscalls the Glibc overlay does not export (_GNU_SOURCE lives only in the .c file).
        .target(name: "CPlatform", cSettings: [.define("_GNU_SOURCE")]),
        .target(name: "Platform", dependencies: ["CPlatform"]),
        .target(name: "Wire"),
        .target(name: "Raft", dependencies: ["Wire"]),
        .target(name: "Storage", dependencies: ["Raft", "Wire", "Platform"]),
        .target(name: "Simulation", dependencies: ["Raft", "Wire"]),
        .executableTarget(name: "swarmctl", dependencies: ["Raft", "Simulation", "Platform"]),
        .executableTarget(name: "raft-bench", dependencies: ["Raft", "Simulation"], path: "Benchmarks/RaftBench"),
        .executableTarget(name: "wal-bench", dependencies: ["Storage", "Raft", "Platform"], path: "Benchmarks/WALBench"),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "RaftTests", dependencies: ["Raft"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Raft"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Raft", "Platform"]),
    ],
    swiftLanguageModes: [.v6]
)
