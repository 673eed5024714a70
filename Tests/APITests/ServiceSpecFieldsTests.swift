@testable import API
import ClusterState
import Foundation
import Platform
import XCTest

/// Every field of the Docker API's service spec objects is either implemented or refused when
/// set (never accepted and ignored), the refusal names the field, and the defaults the docker
/// CLI and docker-py send on every create still pass.
final class ServiceSpecFieldsTests: XCTestCase {
    private var plane: FakeControlPlane!
    private var api: DockerAPI!

    override func setUp() {
        plane = FakeControlPlane()
        api = DockerAPI(controlPlane: plane, identity: ServerIdentity(version: "0.1.0", gitCommit: "abc", arch: "amd64", kernelVersion: "6.1"),
                        now: { Timestamp(millisecondsSinceEpoch: 1_800_000_000_000) }, newID: { DockerNames.randomID() })
    }

    private func create(_ body: String) -> HTTPResponse {
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: "POST", target: "/v1.41/services/create", body: Array(body.utf8))) { answers.append($0) }
        XCTAssertEqual(answers.count, 1)
        return answers.first ?? HTTPResponse(status: 0)
    }

    /// The rules of the object at `path` ("" is the ServiceSpec), following implemented fields.
    private func rules(at path: String) -> [String: ServiceSpecFields.Rule]? {
        var table = ServiceSpecFields.serviceSpec
        for name in path.split(separator: ".").map(String.init) {
            guard case let .implemented(children?)? = table[name] else { return nil }
            table = children
        }
        return table
    }

    /// Every refused field's path, found by walking the rules.
    private func refusedPaths(_ table: [String: ServiceSpecFields.Rule] = ServiceSpecFields.serviceSpec, prefix: String = "") -> Set<String> {
        var paths = Set<String>()
        for (name, rule) in table {
            let path = prefix.isEmpty ? name : "\(prefix).\(name)"
            switch rule {
            case .refused: paths.insert(path)
            case let .implemented(children?): paths.formUnion(refusedPaths(children, prefix: path))
            case .implemented(children: nil): break
            }
        }
        return paths
    }

    /// A value other than the default for each refused field, as a client would send it.
    nonisolated(unsafe) private static let nonDefaultValues: [String: Any] = [
        "Networks.DriverOpts": ["com.docker.network.driver.mtu": "1400"],
        "TaskTemplate.PluginSpec": ["Name": "plugin"],
        "TaskTemplate.NetworkAttachmentSpec": ["ContainerID": "abc"],
        "TaskTemplate.Networks.DriverOpts": ["com.docker.network.driver.mtu": "1400"],
        "TaskTemplate.Runtime": "plugin",
        "TaskTemplate.LogDriver": ["Name": "syslog"],
        "TaskTemplate.Resources.SwapBytes": 1 << 20,
        "TaskTemplate.Resources.MemorySwappiness": 10,
        "TaskTemplate.Resources.Reservations.GenericResources": [["DiscreteResourceSpec": ["Kind": "gpu", "Value": 1]]],
        "TaskTemplate.Placement.Platforms": [["Architecture": "amd64", "OS": "linux"]],
        "TaskTemplate.ContainerSpec.HealthCheck.StartInterval": 1_000_000_000,
        "TaskTemplate.ContainerSpec.Privileges.CredentialSpec": ["File": "spec.json"],
        "TaskTemplate.ContainerSpec.Privileges.SELinuxContext": ["User": "system_u"],
        "TaskTemplate.ContainerSpec.Privileges.AppArmor": ["Mode": "disabled"],
        "TaskTemplate.ContainerSpec.Privileges.Seccomp.Profile": "{}",
        "TaskTemplate.ContainerSpec.TTY": true,
        "TaskTemplate.ContainerSpec.OpenStdin": true,
        "TaskTemplate.ContainerSpec.Mounts.Consistency": "cached",
        "TaskTemplate.ContainerSpec.Mounts.BindOptions.NonRecursive": true,
        "TaskTemplate.ContainerSpec.Mounts.BindOptions.CreateMountpoint": true,
        "TaskTemplate.ContainerSpec.Mounts.BindOptions.ReadOnlyNonRecursive": true,
        "TaskTemplate.ContainerSpec.Mounts.BindOptions.ReadOnlyForceRecursive": true,
        "TaskTemplate.ContainerSpec.Mounts.VolumeOptions.Labels": ["a": "b"],
        "TaskTemplate.ContainerSpec.Mounts.VolumeOptions.DriverConfig": ["Name": "nfs"],
        "TaskTemplate.ContainerSpec.Mounts.VolumeOptions.Subpath": "sub",
        "TaskTemplate.ContainerSpec.Mounts.ImageOptions": ["Subpath": "x"],
        "TaskTemplate.ContainerSpec.Mounts.TmpfsOptions.Options": [["exec"]],
        "TaskTemplate.ContainerSpec.OomScoreAdj": 100,
        "TaskTemplate.ContainerSpec.Configs.Runtime": ["Name": "plugin"],
        "TaskTemplate.ContainerSpec.Isolation": "hyperv",
    ]

    /// A minimal valid spec with `value` set at `path`.
    private func body(setting path: String, to value: Any) throws -> String {
        func set(_ object: [String: Any], _ keys: ArraySlice<String>) -> [String: Any] {
            var copy = object
            guard let key = keys.first else { return copy }
            copy[key] = keys.count == 1 ? value : set(copy[key] as? [String: Any] ?? [:], keys.dropFirst())
            return copy
        }
        let base: [String: Any] = ["Name": "web", "TaskTemplate": ["ContainerSpec": ["Image": "busybox", "Args": ["sleep", "1"]]]]
        var document = set(base, ArraySlice(path.split(separator: ".").map(String.init)))
        // Mounts is a list: the field goes into its one mount, a valid tmpfs mount otherwise.
        if var task = document["TaskTemplate"] as? [String: Any], var container = task["ContainerSpec"] as? [String: Any],
           var mount = container["Mounts"] as? [String: Any] {
            mount["Type"] = mount["Type"] ?? "volume"
            mount["Source"] = mount["Source"] ?? "v1"
            mount["Target"] = mount["Target"] ?? "/data"
            container["Mounts"] = [mount]
            task["ContainerSpec"] = container
            document["TaskTemplate"] = task
        }
        let data = try JSONSerialization.data(withJSONObject: document)
        return String(decoding: data, as: UTF8.self)
    }

    func testEveryFieldOfTheDockerSpecIsImplementedOrRefused() {
        for (path, fields) in DockerAPISpecFields.objects {
            guard let table = rules(at: path) else {
                XCTFail("\(path) is in the Docker spec but not walked as an implemented object")
                continue
            }
            // A dictionary holds one rule per name: each field is in exactly one of the two sets.
            // This cluster's own extensions are the only names beyond Docker's.
            let extensions = Set(ServiceSpecFields.extensions.filter { $0.hasPrefix(path + ".") }.map { String($0.dropFirst(path.count + 1)) })
            XCTAssertEqual(Set(table.keys).subtracting(extensions), Set(fields), "the rules of \(path.isEmpty ? "ServiceSpec" : path) differ from the Docker spec's fields")
        }
        let implemented = DockerAPISpecFields.objects.flatMap { object in
            object.fields.map { object.path.isEmpty ? $0 : "\(object.path).\($0)" }
        }.filter { !refusedPaths().contains($0) }
        XCTAssertTrue(implemented.contains("TaskTemplate.ContainerSpec.User") && implemented.contains("TaskTemplate.ContainerSpec.HealthCheck"))
        XCTAssertTrue(refusedPaths().isSuperset(of: ["TaskTemplate.ContainerSpec.OpenStdin", "TaskTemplate.ContainerSpec.TTY",
                                                      "TaskTemplate.ContainerSpec.Mounts.ImageOptions", "TaskTemplate.LogDriver"]))
        XCTAssertTrue(Set(implemented).isSuperset(of: ["TaskTemplate.ContainerSpec.Mounts", "TaskTemplate.ContainerSpec.ReadOnly",
                                                       "TaskTemplate.ContainerSpec.CapabilityDrop", "TaskTemplate.ContainerSpec.Ulimits",
                                                       "TaskTemplate.ContainerSpec.Privileges.Seccomp.Mode", "TaskTemplate.ContainerSpec.Init"]))
    }

    func testANonDefaultValueOfEachRefusedFieldIsA400NamingIt() throws {
        XCTAssertEqual(Set(Self.nonDefaultValues.keys), refusedPaths(), "every refused field needs an example value here")
        for (path, value) in Self.nonDefaultValues.sorted(by: { $0.key < $1.key }) {
            let response = create(try body(setting: path, to: value))
            XCTAssertEqual(response.status, 400, "\(path): \(response.bodyText)")
            let message = jsonBody(response)["message"]?.stringValue ?? ""
            XCTAssertTrue(message.hasPrefix("unsupported field \(path): "), "\(path): \(message)")
            XCTAssertGreaterThan(message.count, "unsupported field \(path): ".count + 20, "\(path) says what to do: \(message)")
        }
        XCTAssertTrue(plane.state.services.isEmpty, "a refused spec creates nothing")
    }

    func testTheDefaultsClientsSendOnEveryCreateAreAccepted() throws {
        // Captured from the docker CLI 28.2 and docker-py 7.1 (reference/docker-api/samples/POST_services_create_*).
        var bodies = [
            #"{"Name": "web", "Labels": {}, "TaskTemplate": {"ContainerSpec": {"Image": "localbusybox:1", "Args": ["sh", "-c", "echo hello from $(hostname); exec sleep 3600"], "Init": false, "DNSConfig": {}}, "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {}, "ForceUpdate": 0}, "Mode": {"Replicated": {"Replicas": 3}}, "EndpointSpec": {"Mode": "vip"}}"#,
            #"{"Name": "glob", "Labels": {}, "TaskTemplate": {"ContainerSpec": {"Image": "localbusybox:1", "Args": ["sleep", "3600"], "Init": false, "DNSConfig": {}}, "Resources": {"Limits": {}, "Reservations": {}}, "Placement": {}, "ForceUpdate": 0}, "Mode": {"Global": {}}, "EndpointSpec": {"Mode": "vip"}}"#,
            #"{"Name": "web", "Labels": {"team": "x"}, "TaskTemplate": {"ContainerSpec": {"Image": "localbusybox:1", "Command": ["sh", "-c", "echo sdk hello; exec sleep 3600"], "Args": null, "Env": ["A=1"]}}, "Mode": {"replicated": {"Replicas": 3}}}"#,
            #"{"Name": "web", "Labels": {"team": "x"}, "Mode": {"replicated": {"Replicas": 5}}, "TaskTemplate": {"ContainerSpec": {"Image": "localbusybox:1", "Command": ["sh", "-c", "echo sdk hello; exec sleep 3600"], "Env": ["A=1"], "StopGracePeriod": 10000000000, "DNSConfig": {}, "Isolation": "default"}, "Resources": {}, "RestartPolicy": {"Condition": "any", "Delay": 5000000000, "MaxAttempts": 0}, "Placement": {}, "ForceUpdate": 0, "Runtime": "container"}, "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000, "MaxFailureRatio": 0, "Order": "stop-first"}, "RollbackConfig": {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5000000000, "MaxFailureRatio": 0, "Order": "stop-first"}}"#,
        ]
        // What the CLI sends back from an inspect, and every refused field at its default.
        bodies.append(#"{"Name":"echo","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","1"],"Init":false,"DNSConfig":{},"Isolation":"default","TTY":false,"OpenStdin":false,"ReadOnly":false,"Mounts":[],"Groups":null,"Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},"StopSignal":"","Hosts":[],"Secrets":null,"Configs":[],"OomScoreAdj":0,"Sysctls":{},"CapabilityAdd":null,"CapabilityDrop":[],"Ulimits":[],"Healthcheck":{"Test":["CMD","true"],"StartInterval":0}},"Resources":{"Limits":{},"Reservations":{"GenericResources":[]},"SwapBytes":null},"Placement":{"Platforms":[]},"ForceUpdate":0,"Runtime":"container","LogDriver":{"Name":"json-file"},"Networks":[]},"Mode":{"Replicated":{"Replicas":1}},"EndpointSpec":{"Mode":"vip","Ports":[]}}"#)
        for (index, body) in bodies.enumerated() {
            var renamed = body
            if let range = renamed.range(of: #""Name": "web""#) { renamed.replaceSubrange(range, with: #""Name": "web\#(index)""#) }
            let response = create(renamed)
            XCTAssertEqual(response.status, 201, "\(body): \(response.bodyText)")
        }
    }

    func testUnknownFieldsAndOtherSpellingsAreCheckedToo() {
        let unknown = create(#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["true"],"Tmpfs":{"/t":""}}}}"#)
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual(jsonBody(unknown)["message"]?.stringValue,
                       "unsupported field TaskTemplate.ContainerSpec.Tmpfs: the Docker API has no such field; check its spelling or remove it")
        XCTAssertEqual(create(#"{"Name":"empty","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["true"],"Tmpfs":{}}}}"#).status, 201,
                       "an unknown field left empty is harmless")
        // Keys match case-insensitively, as in Go; the message uses Docker's spelling.
        let lowercase = create(#"{"name":"low","tasktemplate":{"containerspec":{"image":"busybox","tty":true}}}"#)
        XCTAssertEqual(lowercase.status, 400)
        XCTAssertTrue(jsonBody(lowercase)["message"]?.stringValue?.hasPrefix("unsupported field TaskTemplate.ContainerSpec.TTY: ") == true,
                      lowercase.bodyText)
        // Stop signals are implemented; a name that is no signal is refused. json-file with options is not implemented.
        XCTAssertEqual(create(#"{"Name":"kill","TaskTemplate":{"ContainerSpec":{"Image":"busybox","StopSignal":"SIGKILL"}}}"#).status, 201)
        let badSignal = create(#"{"Name":"bad","TaskTemplate":{"ContainerSpec":{"Image":"busybox","StopSignal":"SIGNOPE"}}}"#)
        XCTAssertEqual(badSignal.status, 400)
        XCTAssertTrue(jsonBody(badSignal)["message"]?.stringValue?.contains(#"invalid stop signal "SIGNOPE""#) == true, badSignal.bodyText)
        let options = create(#"{"Name":"opts","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"LogDriver":{"Name":"json-file","Options":{"max-size":"1m"}}}}"#)
        XCTAssertTrue(jsonBody(options)["message"]?.stringValue?.hasPrefix("unsupported field TaskTemplate.LogDriver: ") == true, options.bodyText)
    }

    func testUpdatesAreCheckedLikeCreates() throws {
        XCTAssertEqual(create(try body(setting: "TaskTemplate.ForceUpdate", to: 0)).status, 201)
        var answers: [HTTPResponse] = []
        api.handle(HTTPRequest(method: "POST", target: "/v1.41/services/web/update?version=1",
                               body: Array(try body(setting: "TaskTemplate.ContainerSpec.TTY", to: true).utf8))) {
            answers.append($0)
        }
        XCTAssertEqual(answers.first?.status, 400)
        XCTAssertTrue(answers.first.map { jsonBody($0)["message"]?.stringValue ?? "" }?.hasPrefix("unsupported field TaskTemplate.ContainerSpec.TTY: ") == true)
    }

    func testStopSignalNamesAsDockerTakesThem() {
        XCTAssertEqual(["SIGKILL", "KILL", "kill", "9", "SIGTERM", "sigint", "SIGRTMIN+3", "RTMAX"].map(Signals.number(named:)),
                       [9, 9, 9, 9, 15, 2, 37, 64])
        XCTAssertEqual(["SIGNOPE", "0", "65", "", "SIGRTMIN+40", "RTMAX-31"].map(Signals.number(named:)), [nil, nil, nil, nil, nil, nil])
    }

    func testContainerSettingsAreStoredAndBadOnesRefusedNamingTheSetting() throws {
        let good = #"{"Name":"full","TaskTemplate":{"ContainerSpec":{"Image":"busybox","ReadOnly":true,"#
            + #""Mounts":[{"Type":"bind","Source":"/srv","Target":"/data","ReadOnly":true,"BindOptions":{"Propagation":"rslave"}},"#
            + #"{"Type":"volume","Source":"v1","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"local"}}},"#
            + #"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}}],"#
            + #""CapabilityAdd":["NET_ADMIN"],"CapabilityDrop":["ALL"],"Ulimits":[{"Name":"nofile","Soft":512,"Hard":512}],"#
            + #""Sysctls":{"kernel.shmmni":"1234"},"DNSConfig":{"Nameservers":["10.0.0.53"]},"Hosts":["10.0.0.7 db"],"#
            + #""Groups":["audio"],"Privileges":{"Seccomp":{"Mode":"unconfined"},"NoNewPrivileges":true}}}}"#
        XCTAssertEqual(create(good).status, 201, create(good).bodyText)
        let container = try XCTUnwrap(plane.state.services.values.first { $0.spec.name == "full" }?.spec.taskTemplate.containerSpec)
        XCTAssertEqual(container.mounts?.map(\.type), ["bind", "volume", "tmpfs"])
        XCTAssertEqual(container.mounts?.first?.bindOptions?.propagation, "rslave")
        XCTAssertEqual(container.mounts?.last?.tmpfsOptions, Mount.TmpfsOptions(sizeBytes: 1 << 20, mode: 1023))
        XCTAssertEqual(container.readOnly, true)
        XCTAssertEqual(container.ulimits, [Ulimit(name: "nofile", soft: 512, hard: 512)])
        XCTAssertEqual(container.privileges?.seccomp?.mode, "unconfined")
        XCTAssertEqual(container.dnsConfig?.nameservers, ["10.0.0.53"])

        let bad: [(String, String)] = [
            (#""Mounts":[{"Type":"bind","Source":"relative","Target":"/d"}]"#, "bind source \"relative\" must be an absolute path"),
            (#""Mounts":[{"Type":"volume","Target":"/d"}]"#, "anonymous volumes are not implemented"),
            (#""Mounts":[{"Type":"volume","Source":"../x","Target":"/d"}]"#, "volume name \"../x\""),
            (#""Mounts":[{"Type":"npipe","Source":"x","Target":"/d"}]"#, "mount type \"npipe\" is not implemented"),
            (#""Mounts":[{"Type":"tmpfs","Target":"relative"}]"#, "must be an absolute path other than /"),
            (#""Mounts":[{"Type":"tmpfs","Target":"/t"},{"Type":"tmpfs","Target":"/t/"}]"#, "more than one mount"),
            (#""Mounts":[{"Type":"bind","Source":"/s","Target":"/d","BindOptions":{"Propagation":"sideways"}}]"#, "bind propagation"),
            (#""CapabilityAdd":["CAP_FLY"]"#, "unknown capability \"CAP_FLY\""),
            (#""Ulimits":[{"Name":"nofile","Soft":2048,"Hard":1024}]"#, "soft limit 2048 must be between 0 and the hard limit 1024"),
            (#""Ulimits":[{"Name":"files","Soft":1,"Hard":1}]"#, "unknown ulimit \"files\""),
            (#""Sysctls":{"net.ipv4.ip_forward":"1"}"#, "share the node's network namespace"),
            (#""Sysctls":{"vm.swappiness":"1"}"#, "is not namespaced"),
            (#""Hosts":["db"]"#, "is not \"IP NAME [ALIAS...]\""),
            (#""Privileges":{"Seccomp":{"Mode":"custom"}}"#, "Seccomp.Mode: \"custom\""),
        ]
        for (index, (field, expected)) in bad.enumerated() {
            let response = create(#"{"Name":"bad\#(index)","TaskTemplate":{"ContainerSpec":{"Image":"busybox",\#(field)}}}"#)
            XCTAssertEqual(response.status, 400, field)
            let message = jsonBody(response)["message"]?.stringValue ?? ""
            XCTAssertTrue(message.contains("ContainerSpec: ") && message.contains(expected), "\(field): \(message)")
        }
    }
}
