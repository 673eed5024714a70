import ClusterState

/// The networking flags of `service create` / `service update`: `--network` (`--network-add`,
/// `--network-rm`), `--publish`/`-p` (`--publish-add`, `--publish-rm`) and `--endpoint-mode`,
/// with docker's syntaxes:
///   -p 8080:80, -p 8080:80/udp, -p 80 (an ingress port picked by the cluster),
///   --publish published=8080,target=80,protocol=udp,mode=host
/// and this cluster's extension `--publish …,mode=ingress,policy=local`.
enum ServiceNetworkFlags {
    static func apply(_ arguments: inout CommandLineArguments, _ spec: inout ServiceSpec) throws(UsageError) {
        var networks = spec.taskTemplate.networks ?? []
        for value in arguments.takeValues(anyOf: "--network", "--network-add") {
            let attachment = try network(value)
            networks.removeAll { $0.target == attachment.target }
            networks.append(attachment)
        }
        for removed in arguments.takeValues("--network-rm") { networks.removeAll { $0.target == removed } }
        spec.taskTemplate.networks = networks.isEmpty ? nil : networks

        var endpoint = spec.endpointSpec ?? EndpointSpec()
        var ports = endpoint.ports ?? []
        for removed in arguments.takeValues("--publish-rm") {
            let port = try publish(removed, flag: "--publish-rm")
            let before = ports.count
            ports.removeAll { existing in
                (existing.protocol ?? "tcp") == (port.protocol ?? "tcp")
                    && (port.publishedPort.map { existing.publishedPort == $0 && existing.targetPort == port.targetPort }
                        ?? (existing.targetPort == port.targetPort || existing.publishedPort == port.targetPort))
            }
            if ports.count == before { throw UsageError(message: "--publish-rm \(removed): the service publishes no such port") }
        }
        for value in arguments.takeValues(anyOf: "--publish", "-p", "--publish-add") {
            let port = try publish(value, flag: "--publish")
            ports.removeAll { ($0.protocol ?? "tcp") == (port.protocol ?? "tcp") && $0.publishedPort != nil && $0.publishedPort == port.publishedPort }
            ports.append(port)
        }
        endpoint.ports = ports.isEmpty ? nil : ports
        if let mode = arguments.takeValue("--endpoint-mode") {
            guard ["vip", "dnsrr"].contains(mode) else { throw UsageError(message: "--endpoint-mode \(mode): use vip or dnsrr") }
            endpoint.mode = mode
        }
        spec.endpointSpec = endpoint == EndpointSpec() ? nil : endpoint
    }

    /// `NAME` or `name=NAME,alias=A[,alias=B]`.
    static func network(_ value: String) throws(UsageError) -> NetworkAttachmentConfig {
        guard value.contains("=") else {
            guard !value.isEmpty else { throw UsageError(message: "--network needs a network name") }
            return NetworkAttachmentConfig(target: value)
        }
        var target: String?
        var aliases: [String] = []
        for field in value.split(separator: ",") {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { throw UsageError(message: "--network \(value): expected name=NETWORK[,alias=NAME]") }
            switch parts[0] {
            case "name", "target": target = parts[1]
            case "alias": aliases.append(parts[1])
            default: throw UsageError(message: "--network \(value): unknown field \(parts[0]); use name and alias")
            }
        }
        guard let target else { throw UsageError(message: "--network \(value): name=NETWORK is required") }
        return NetworkAttachmentConfig(target: target, aliases: aliases.isEmpty ? nil : aliases)
    }

    /// One published port in docker's short (`[PUBLISHED:]TARGET[/PROTOCOL]`) or long syntax.
    static func publish(_ value: String, flag: String) throws(UsageError) -> PortConfig {
        if value.contains("=") { return try longPublish(value, flag: flag) }
        let (ports, protocolName) = try splitProtocol(value, flag: flag)
        let numbers = ports.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard numbers.count <= 2 else {
            throw UsageError(message: "\(flag) \(value): binding to a host IP is not available; use [PUBLISHED:]TARGET[/PROTOCOL]")
        }
        let target = try port(numbers.last!, flag: flag, value: value)
        let published = numbers.count == 2 ? try port(numbers[0], flag: flag, value: value) : nil
        return PortConfig(protocol: protocolName, targetPort: target, publishedPort: published, publishMode: "ingress")
    }

    private static func longPublish(_ value: String, flag: String) throws(UsageError) -> PortConfig {
        var config = PortConfig(protocol: "tcp", targetPort: 0, publishMode: "ingress")
        for field in value.split(separator: ",") {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw UsageError(message: "\(flag) \(value): expected KEY=VALUE fields") }
            switch parts[0] {
            case "published": config.publishedPort = try port(parts[1], flag: flag, value: value)
            case "target": config.targetPort = try port(parts[1], flag: flag, value: value)
            case "protocol":
                guard ["tcp", "udp"].contains(parts[1]) else { throw UsageError(message: "\(flag) \(value): protocol \(parts[1]): use tcp or udp") }
                config.protocol = parts[1]
            case "mode":
                guard ["ingress", "host"].contains(parts[1]) else { throw UsageError(message: "\(flag) \(value): mode \(parts[1]): use ingress or host") }
                config.publishMode = parts[1]
            case "policy":
                guard ["cluster", "local"].contains(parts[1]) else { throw UsageError(message: "\(flag) \(value): policy \(parts[1]): use cluster or local") }
                config.publishPolicy = parts[1] == "local" ? "local" : nil
            default:
                throw UsageError(message: "\(flag) \(value): unknown field \(parts[0]); use published, target, protocol, mode and policy")
            }
        }
        guard config.targetPort != 0 else { throw UsageError(message: "\(flag) \(value): target=PORT is required") }
        return config
    }

    private static func splitProtocol(_ value: String, flag: String) throws(UsageError) -> (String, String) {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2 else { throw UsageError(message: "\(flag) \(value): expected [PUBLISHED:]TARGET[/PROTOCOL]") }
        let protocolName = parts.count == 2 ? parts[1] : "tcp"
        guard ["tcp", "udp"].contains(protocolName) else { throw UsageError(message: "\(flag) \(value): protocol \(protocolName): use tcp or udp") }
        return (parts[0], protocolName)
    }

    private static func port(_ text: String, flag: String, value: String) throws(UsageError) -> UInt32 {
        guard let number = UInt32(text), (1...65535).contains(number) else {
            throw UsageError(message: "\(flag) \(value): \(text.isEmpty ? "a port" : text) is not a port number (1-65535)")
        }
        return number
    }
}
