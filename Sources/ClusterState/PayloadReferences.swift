/// Where a referenced secret or config appears in a task (Docker's `File` of a reference): the
/// path (a name under /run/secrets for a secret; any path for a config), owner and mode.
public struct PayloadFile: Codable, Sendable, Equatable {
    public var name: String
    /// Docker sends these as decimal strings ("0").
    public var uid: String
    public var gid: String
    /// Permission bits (Docker's `os.FileMode`; the CLI's default 0444 is 292).
    public var mode: UInt32

    public init(name: String, uid: String = "0", gid: String = "0", mode: UInt32 = 0o444) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.mode = mode
    }

    enum CodingKeys: String, CodingKey { case name = "Name", uid = "UID", gid = "GID", mode = "Mode" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        uid = try container.decodeIfPresent(String.self, forKey: .uid) ?? ""
        gid = try container.decodeIfPresent(String.self, forKey: .gid) ?? ""
        mode = try container.decodeIfPresent(UInt32.self, forKey: .mode) ?? 0
    }
}

/// One of `ContainerSpec.Secrets`: which secret revision (`SecretID`, with its `SecretName`) and
/// where the task sees it.
public struct SecretReference: Codable, Sendable, Equatable {
    public var file: PayloadFile?
    public var secretID: String
    public var secretName: String

    public init(file: PayloadFile? = nil, secretID: String, secretName: String) {
        self.file = file
        self.secretID = secretID
        self.secretName = secretName
    }

    enum CodingKeys: String, CodingKey { case file = "File", secretID = "SecretID", secretName = "SecretName" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = try container.decodeIfPresent(PayloadFile.self, forKey: .file)
        secretID = try container.decodeIfPresent(String.self, forKey: .secretID) ?? ""
        secretName = try container.decodeIfPresent(String.self, forKey: .secretName) ?? ""
    }
}

/// One of `ContainerSpec.Configs`: which config (`ConfigID`, with its `ConfigName`) and where.
public struct ConfigReference: Codable, Sendable, Equatable {
    public var file: PayloadFile?
    public var configID: String
    public var configName: String

    public init(file: PayloadFile? = nil, configID: String, configName: String) {
        self.file = file
        self.configID = configID
        self.configName = configName
    }

    enum CodingKeys: String, CodingKey { case file = "File", configID = "ConfigID", configName = "ConfigName" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = try container.decodeIfPresent(PayloadFile.self, forKey: .file)
        configID = try container.decodeIfPresent(String.self, forKey: .configID) ?? ""
        configName = try container.decodeIfPresent(String.self, forKey: .configName) ?? ""
    }
}

/// A reference of either kind, as the dispatcher, the agent and the checks see it.
public struct PayloadReference: Sendable, Equatable {
    public var kind: PayloadKind
    public var id: String
    public var name: String
    public var file: PayloadFile?

    public var key: PayloadKey { PayloadKey(kind: kind, id: id) }

    /// The absolute path in the task: /run/secrets/NAME for a secret (NAME defaults to the
    /// secret's name), the given path (default /NAME) for a config.
    public var target: String {
        let name = file?.name.isEmpty == false ? file!.name : self.name
        switch kind {
        case .secret: return name.hasPrefix("/") ? name : "/run/secrets/" + name
        case .config: return name.hasPrefix("/") ? name : "/" + name
        }
    }
}

extension ContainerSpec {
    /// Every secret and config reference, secrets first, in spec order.
    public var payloadReferences: [PayloadReference] {
        (secrets ?? []).map { PayloadReference(kind: .secret, id: $0.secretID, name: $0.secretName, file: $0.file) }
            + (configs ?? []).map { PayloadReference(kind: .config, id: $0.configID, name: $0.configName, file: $0.file) }
    }
}
