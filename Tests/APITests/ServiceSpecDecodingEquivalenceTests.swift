@testable import API
import ClusterState
import Foundation
import SeededRandom
import XCTest

/// The body decoding that ships (`DockerAPI.decodeServiceSpec`, `LenientJSONDecoder`,
/// `JSONValue.parse`) against the decoding before its fast paths (`ReferenceLenientJSON.swift`,
/// copied verbatim): the same spec or the same error, for the captured docker CLI and docker-py
/// bodies and for thousands of seeded mutations of them (keys recased, duplicated, removed or
/// unknown, values of the wrong kind, out of range, null, escaped, truncated bodies).
final class ServiceSpecDecodingEquivalenceTests: XCTestCase {
    /// compare-bench's write, the bodies the docker CLI 28.2 and docker-py 7.1 sent
    /// (reference/docker-api/samples/POST_services_*), and one with every implemented field set.
    static let serviceBodies: [String] = [
        #"{"Name":"w-1","Labels":{"v":"xxxxxxxxxxxxxxxx"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","3600"]}},"Mode":{"Replicated":{"Replicas":0}}}"#,
        #"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Mode":"vip"}}"#,
        #"{"Name":"web","Labels":{"team":"x"},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Command":["sh","-c","echo sdk hello; exec sleep 3600"],"Args":null,"Env":["A=1"]}},"Mode":{"replicated":{"Replicas":3}}}"#,
        #"{"Name":"hostnet","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Args":["sleep","3600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"Networks":[{"Target":"p8f6xde4cccwf477k9xdy5wbv"}],"ForceUpdate":0},"Mode":{"Replicated":{}},"EndpointSpec":{"Mode":"vip"}}"#,
        #"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:2","Args":["sh","-c","echo hello from $(hostname); exec sleep 3600"],"Env":["FOO=bar"],"Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":5}},"EndpointSpec":{"Mode":"vip"}}"#,
        #"{"Name":"glob","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Args":["sleep","3600"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Global":{}},"EndpointSpec":{"Mode":"vip"}}"#,
        #"{"Name":"web","Labels":{"team":"x"},"Mode":{"replicated":{"Replicas":5}},"TaskTemplate":{"ContainerSpec":{"Image":"localbusybox:1","Command":["sh","-c","echo sdk hello; exec sleep 3600"],"Env":["A=1"],"StopGracePeriod":10000000000,"DNSConfig":{},"Isolation":"default"},"Resources":{},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{},"ForceUpdate":0,"Runtime":"container"},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"}}"#,
        #"""
        {"Name":"rich","Labels":{"a":"1","b":""},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:1","Labels":{"l":"v"},
        "Command":["sh"],"Args":["-c","sleep 1"],"Hostname":"h","Env":["A=1","B=2"],"Dir":"/tmp","User":"1000:1000","Groups":["wheel","12"],
        "Privileges":{"Seccomp":{"Mode":"unconfined"},"NoNewPrivileges":true},"ReadOnly":true,
        "Mounts":[{"Type":"bind","Source":"/srv","Target":"/srv","ReadOnly":true,"BindOptions":{"Propagation":"rprivate"}},
        {"Type":"volume","Source":"v1","Target":"/v","VolumeOptions":{"NoCopy":true}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}],
        "StopSignal":"SIGINT","StopGracePeriod":5000000000,
        "HealthCheck":{"Test":["CMD","true"],"Interval":1000000000,"Timeout":2000000000,"Retries":3,"StartPeriod":0},
        "Hosts":["10.0.0.1 db"],"DNSConfig":{"Nameservers":["8.8.8.8"],"Search":["example.com"],"Options":["ndots:2"]},
        "Secrets":[{"File":{"Name":"s","UID":"0","GID":"0","Mode":292},"SecretID":"sid","SecretName":"sname"}],
        "Configs":[{"File":{"Name":"/c","UID":"0","GID":"0","Mode":292},"ConfigID":"cid","ConfigName":"cname"}],
        "Init":true,"Sysctls":{"net.core.somaxconn":"1024"},"CapabilityAdd":["NET_ADMIN"],"CapabilityDrop":["ALL"],
        "Ulimits":[{"Name":"nofile","Soft":512,"Hard":1024}]},
        "Resources":{"Limits":{"NanoCPUs":500000000,"MemoryBytes":67108864,"Pids":42},"Reservations":{"NanoCPUs":100000000,"MemoryBytes":1048576}},
        "RestartPolicy":{"Condition":"on-failure","Delay":1000000000,"MaxAttempts":3,"Window":0},
        "Placement":{"Constraints":["node.role==worker"],"Preferences":[{"Spread":{"SpreadDescriptor":"node.labels.zone"}}],"MaxReplicas":2},
        "ForceUpdate":1,"Runtime":"container","Networks":[{"Target":"net1","Aliases":["web"]}]},
        "Mode":{"Replicated":{"Replicas":2}},
        "UpdateConfig":{"Parallelism":1,"Delay":1000000000,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0.5,"Order":"start-first"},
        "RollbackConfig":{"Parallelism":2,"Delay":0,"FailureAction":"continue","Monitor":0,"MaxFailureRatio":0,"Order":"stop-first"},
        "EndpointSpec":{"Mode":"vip","Ports":[{"Name":"http","Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]},
        "Networks":[{"Target":"legacy"}]}
        """#,
    ]

    func testCapturedBodiesDecodeAsBefore() {
        for text in Self.serviceBodies {
            let body = Array(text.utf8)
            let reference = ReferenceServiceSpecBody.decode(body)
            guard case .success = reference else { return XCTFail("the reference refuses \(text): \(reference)") }
            XCTAssertEqual(DockerAPI.decodeServiceSpec(body: body), reference, text)
        }
    }

    func testSeededMutationsDecodeAsBefore() throws {
        var accepted = 0, refused = 0, direct = 0
        for seed in 0..<4_000 {
            var random = SplitMix64(seed: UInt64(seed))
            let original = try JSONValue.parse(Self.serviceBodies[random.below(Self.serviceBodies.count)])
            let body = JSONMutator.body(from: original, random: &random)
            let expected = ReferenceServiceSpecBody.decode(body)
            XCTAssertEqual(DockerAPI.decodeServiceSpec(body: body), expected, "seed \(seed): \(String(decoding: body, as: UTF8.self))")
            if case .success = expected { accepted += 1 } else { refused += 1 }
            // The direct reader alone, before the unsupported-field walk: what it returns is what
            // the lenient decoder returns.
            if let document = try? JSONValue.parse(body), case .object = document, let fast = ServiceSpecJSON.decode(document) {
                direct += 1
                XCTAssertEqual(fast, try? LenientJSONDecoder.decode(ServiceSpec.self, from: document), "seed \(seed)")
            }
        }
        // Both sides of the comparison are exercised: specs that decode, bodies refused, and
        // specs read by the direct reader.
        XCTAssertGreaterThan(accepted, 500, "accepted")
        XCTAssertGreaterThan(refused, 500, "refused")
        XCTAssertGreaterThan(direct, 500, "read directly")
    }

    func testTheCapturedBodiesAreReadDirectly() throws {
        for text in Self.serviceBodies {
            XCTAssertNotNil(ServiceSpecJSON.decode(try JSONValue.parse(text)), text)
        }
    }

    /// The other bodies the lenient decoder reads (node update, swarm init), mutated likewise.
    func testOtherSpecsDecodeAsBefore() throws {
        let nodeBodies = [#"{"Labels":{},"Role":"manager","Availability":"drain"}"#, #"{"Name":"n","Labels":{"zone":"east"},"Role":"worker","Availability":"active"}"#]
        let clusterBodies = [#"{"Labels":null,"Orchestration":{},"Raft":{"ElectionTick":0,"HeartbeatTick":0},"Dispatcher":{},"CAConfig":{},"TaskDefaults":{},"EncryptionConfig":{"AutoLockManagers":false}}"#]
        for seed in 0..<2_000 {
            var random = SplitMix64(seed: UInt64(seed) | 1 << 40)
            let node = JSONMutator.body(from: try JSONValue.parse(nodeBodies[seed % 2]), random: &random)
            XCTAssertEqual(Self.outcome { try LenientJSONDecoder.decode(NodeSpec.self, from: node) },
                           Self.outcome { try ReferenceLenientJSON.decode(NodeSpec.self, from: node) }, String(decoding: node, as: UTF8.self))
            let cluster = JSONMutator.body(from: try JSONValue.parse(clusterBodies[0]), random: &random)
            XCTAssertEqual(Self.outcome { try LenientJSONDecoder.decode(ClusterSpec.self, from: cluster) },
                           Self.outcome { try ReferenceLenientJSON.decode(ClusterSpec.self, from: cluster) }, String(decoding: cluster, as: UTF8.self))
        }
    }

    /// The parser alone: the same value, or the same error at the same offset, for strings with
    /// escapes, control characters, invalid UTF-8 and truncation.
    func testParserAgreesWithTheReference() {
        let pieces = [#"""#, #"\"#, #"\u00e9"#, #"\ud83d\ude00"#, #"\ud800"#, #"\u12"#, "\u{01}", "\n", "é", "a", "B", " ", "{", "}",
                      "[", "]", ":", ",", "0", "-1.5e3", "true", "null", "\\n", "\\/", "\\x"]
        for seed in 0..<5_000 {
            var random = SplitMix64(seed: UInt64(seed) | 1 << 41)
            var text = random.below(2) == 0 ? #"{"k":""# : #"[""#
            for _ in 0..<random.below(8) { text += pieces[random.below(pieces.count)] }
            if random.below(3) > 0 { text += random.below(2) == 0 ? #""}"# : #""]"# }
            var bytes = Array(text.utf8)
            if random.below(8) == 0 { bytes.insert([0xff, 0xc3, 0x80][random.below(3)], at: random.below(bytes.count + 1)) }
            var parser = ReferenceJSONParser(bytes: bytes, maxDepth: 128)
            let reference = Result { () throws(JSONParseError) -> JSONValue in try parser.parseDocument() }
            let shipped = Result { () throws(JSONParseError) -> JSONValue in try JSONValue.parse(bytes) }
            XCTAssertEqual(shipped, reference, String(decoding: bytes, as: UTF8.self))
        }
    }

    func testErrorsStillNameTheField() {
        let body = Array(#"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"i","Args":["a",7]}}}"#.utf8)
        guard case let .failure(error) = DockerAPI.decodeServiceSpec(body: body) else { return XCTFail("accepted") }
        XCTAssertEqual(error.status, 400)
        XCTAssertTrue(error.message.contains("TaskTemplate.ContainerSpec.Args.[1]: expected String, found a number"), error.message)
    }

    /// The byte-wise key and header-name comparisons agree with `lowercased()` on both sides,
    /// also where one side is not ASCII (the Kelvin sign lowercases to "k").
    func testCaseFoldingAgreesWithLowercased() {
        let words = ["Key", "key", "KEY", "\u{212A}ey", "kEy", "Ke", "Keys", "", "İmage", "image", "Image", "ımage", "Straße", "STRASSE",
                     "Content-Length", "content-length", "CONTENT-LENGTH", "Content-Lengtх", "é", "e\u{301}", "É"]
        for a in words {
            for b in words {
                XCTAssertEqual(LenientKeys.foldedEqual(a, b), a.lowercased() == b.lowercased(), "\(a) \(b)")
                XCTAssertEqual(a.caseInsensitiveEquals(b), a.utf8.count == b.utf8.count && a.lowercased() == b.lowercased(), "\(a) \(b)")
            }
        }
        let members: [(String, JSONValue)] = [("key", .string("1")), ("Key", .string("2")), ("KEY", .string("3")), ("kEY", .string("4"))]
        XCTAssertEqual(LenientKeys.lookup("Key", in: members), .string("2"), "the exact key wins")
        XCTAssertEqual(LenientKeys.lookup("KeY", in: members), .string("4"), "else the last folded one")
        XCTAssertNil(LenientKeys.lookup("Keys", in: members))
    }

    static func outcome<T: Equatable>(_ body: () throws -> T) -> Result<T, LenientDecodingError> {
        do {
            return .success(try body())
        } catch {
            return .failure(error as? LenientDecodingError ?? LenientDecodingError(message: "unexpected \(error)"))
        }
    }
}

/// Seeded changes to a JSON document, as odd clients and hostile ones write them.
enum JSONMutator {
    static let oddValues: [JSONValue] = [
        .null, .bool(true), .bool(false), .number("0"), .number("-1"), .number("1.5"), .number("1e400"), .number("18446744073709551616"),
        .number("9223372036854775808"), .number("4294967296"), .number("-0"), .number("2e3"), .string(""), .string("x"), .string("default"),
        .string("container"), .string("json-file"), .array([]), .array([.string("a")]), .array([.null]), .object([]),
        .object([("Name", .string("json-file"))]), .object([("k", .string("v"))]), .object([("Replicas", .number("2"))]),
    ]
    static let oddKeys = ["Bogus", "bogus", "", "x.y", "REPLICATEDJOB", "GlobalJob", "Ｎame", "K", "\u{212A}ey"]

    static func body(from document: JSONValue, random: inout SplitMix64) -> [UInt8] {
        var value = document
        for _ in 0..<(1 + random.below(3)) { value = mutate(value, random: &random, depth: 0) }
        var bytes = value.serialized()
        switch random.below(12) {
        case 0: bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
        case 1: bytes = Array(String(decoding: bytes, as: UTF8.self).replacingFirst(#""Image""#, with: #""Im\u0061ge""#).utf8)
        case 2: bytes = Array(" \n\t".utf8) + bytes + Array("\r\n".utf8)
        case 3: bytes.insert(UInt8(ascii: "x"), at: random.below(bytes.count + 1))
        default: break
        }
        return bytes
    }

    /// One change somewhere in `value`: at this level or, more often, inside a member.
    static func mutate(_ value: JSONValue, random: inout SplitMix64, depth: Int) -> JSONValue {
        switch value {
        case var .object(members) where !members.isEmpty && random.below(4) > 0:
            let index = random.below(members.count)
            members[index].1 = mutate(members[index].1, random: &random, depth: depth + 1)
            return .object(members)
        case var .array(items) where !items.isEmpty && random.below(4) > 0:
            let index = random.below(items.count)
            items[index] = mutate(items[index], random: &random, depth: depth + 1)
            return .array(items)
        default:
            return change(value, random: &random)
        }
    }

    static func change(_ value: JSONValue, random: inout SplitMix64) -> JSONValue {
        guard case var .object(members) = value, !members.isEmpty else {
            return random.below(4) == 0 ? .array([value]) : oddValues[random.below(oddValues.count)]
        }
        let index = random.below(members.count)
        switch random.below(6) {
        case 0: members[index].0 = recase(members[index].0, random: &random)
        case 1: members.remove(at: index)
        case 2: members.insert((recase(members[index].0, random: &random), oddValues[random.below(oddValues.count)]), at: random.below(members.count + 1))
        case 3: members.insert((oddKeys[random.below(oddKeys.count)], oddValues[random.below(oddValues.count)]), at: random.below(members.count + 1))
        case 4: members[index].1 = oddValues[random.below(oddValues.count)]
        default: return .array([value])
        }
        return .object(members)
    }

    static func recase(_ key: String, random: inout SplitMix64) -> String {
        switch random.below(4) {
        case 0: return key.lowercased()
        case 1: return key.uppercased()
        case 2: return key
        default: return key.map { random.below(2) == 0 ? $0.lowercased() : $0.uppercased() }.joined()
        }
    }
}

private extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}
