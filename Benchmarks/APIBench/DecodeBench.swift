import API
import Foundation
import Glibc
import Platform

/// `api-bench decode`: nanoseconds per `POST /services/create` body decode (JSON parse, the
/// unsupported-field walk, the lenient decode into `ServiceSpec`, canonicalisation), no cluster.
///
/// It exists to time the API side of a write alone, where the cluster benchmarks are noisy: run
/// two builds' binaries alternately in one shell command for a before/after on the same machine.
enum DecodeBench {
    /// The bodies timed: compare-bench's write, and what the docker CLI 28.2 and docker-py 7.1 sent
    /// (reference/docker-api/samples/POST_services_*).
    static let bodies: [(name: String, body: String)] = [
        ("compare-bench", #"{"Name":"w-1","Labels":{"v":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"]}},"Mode":{"Replicated":{"Replicas":0}}}"#),
        ("docker CLI create", #"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Mode":"vip"}}"#),
        ("docker-py create", #"{"Name":"web","Labels":{"team":"x"},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Command":["sh","-c","echo sdk hello; exec sleep 3600"],"Args":null,"Env":["A=1"]}},"Mode":{"replicated":{"Replicas":3}}}"#),
        ("docker CLI update", #"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:2","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Env":["FOO=bar"],"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":5}},"EndpointSpec":{"Mode":"vip"}}"#),
    ]

    static func run(_ arguments: [String]) -> Never {
        var iterations = 20_000
        var runs = 7
        var index = 0
        while index + 1 < arguments.count {
            switch arguments[index] {
            case "--iterations": iterations = Int(arguments[index + 1]) ?? iterations
            case "--runs": runs = Int(arguments[index + 1]) ?? runs
            default: fail("unknown option \(arguments[index])")
            }
            index += 2
        }
        print("ns per ServiceSpec body decode, median (min–max) of \(runs) runs of \(iterations)")
        for (name, text) in bodies {
            let body = Array(text.utf8)
            guard case .success = DockerAPI.decodeServiceSpec(body: body) else { fail("\(name): the body does not decode") }
            var samples: [Double] = []
            for _ in 0..<runs {
                let started = monotonicNanoseconds()
                var names = 0
                for _ in 0..<iterations {
                    if case let .success(spec) = DockerAPI.decodeServiceSpec(body: body) { names &+= spec.name.utf8.count }
                }
                precondition(names > 0)
                samples.append(Double(monotonicNanoseconds() - started) / Double(iterations))
            }
            samples.sort()
            let label = name + String(repeating: " ", count: max(0, 18 - name.count))
            print(label + String(format: " %8.0f (%.0f–%.0f)", samples[samples.count / 2], samples.first!, samples.last!))
        }
        exit(0)
    }
}
