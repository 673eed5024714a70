import ClusterState

/// `service create/update --secret/--config SPEC` (update: `--secret-add`, `--secret-rm NAME`,
/// `--config-add`, `--config-rm NAME`), as docker spells them. SPEC is a name, or docker's CSV
/// `source=NAME[,target=T][,uid=N][,gid=N][,mode=0444]`. References go by name; the API fills
/// in the id of the current revision.
enum PayloadFlags {
    static func apply(_ arguments: inout CommandLineArguments, _ container: inout ContainerSpec) throws(UsageError) {
        var secrets = container.secrets ?? []
        for text in arguments.takeValues("--secret") + arguments.takeValues("--secret-add") {
            let (name, file) = try parse(text, flag: "--secret", defaultTarget: nil)
            secrets.removeAll { $0.secretName == name }
            secrets.append(SecretReference(file: file, secretID: "", secretName: name))
        }
        for name in arguments.takeValues("--secret-rm") { secrets.removeAll { $0.secretName == name || $0.secretID == name } }
        container.secrets = secrets.isEmpty ? (container.secrets == nil ? nil : []) : secrets
        var configs = container.configs ?? []
        for text in arguments.takeValues("--config") + arguments.takeValues("--config-add") {
            let (name, file) = try parse(text, flag: "--config", defaultTarget: "/")
            configs.removeAll { $0.configName == name }
            configs.append(ConfigReference(file: file, configID: "", configName: name))
        }
        for name in arguments.takeValues("--config-rm") { configs.removeAll { $0.configName == name || $0.configID == name } }
        container.configs = configs.isEmpty ? (container.configs == nil ? nil : []) : configs
    }

    /// `NAME` or `source=NAME,target=…,uid=…,gid=…,mode=…` (mode in octal).
    static func parse(_ text: String, flag: String, defaultTarget prefix: String?) throws(UsageError) -> (String, PayloadFile) {
        guard text.contains("=") else {
            guard !text.isEmpty else { throw UsageError(message: "\(flag) needs a NAME or source=NAME,…") }
            return (text, PayloadFile(name: (prefix ?? "") + text))
        }
        var name = "", target = "", file = PayloadFile(name: "")
        for field in text.split(separator: ",") {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else { throw UsageError(message: "\(flag) \(text): \(field) needs a value (KEY=VALUE)") }
            switch parts[0].lowercased() {
            case "source", "src": name = parts[1]
            case "target": target = parts[1]
            case "uid": file.uid = parts[1]
            case "gid": file.gid = parts[1]
            case "mode":
                guard let mode = UInt32(parts[1], radix: 8), mode <= 0o777 else {
                    throw UsageError(message: "\(flag) \(text): mode expects octal permission bits such as 0444")
                }
                file.mode = mode
            default:
                throw UsageError(message: "\(flag) \(text): unknown key \(parts[0]): use source, target, uid, gid or mode")
            }
        }
        guard !name.isEmpty else { throw UsageError(message: "\(flag) \(text): source=NAME is required") }
        file.name = target.isEmpty ? (prefix ?? "") + name : target
        return (name, file)
    }
}
