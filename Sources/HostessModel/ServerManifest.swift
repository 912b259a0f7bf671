// MARK: - ServerManifest

/// What a server is, fixed when it is built: compile it into the binary as a static value, and the client
/// library turns it into a ``Registration`` with the runtime fqdn and a fresh UUID.
public struct ServerManifest: Hashable, Sendable {
    /// The servername, Hurd-style: `pty-server`.
    public var name: String
    /// The server's class.
    public var classCode: ClassCode
    /// The owner identity.
    public var owner: String
    /// Whether clients must authenticate.
    public var authentication: AuthenticationRequirement
    /// How they authenticate.
    public var authMechanism: String
    /// Connection points.
    public var terminals: [Terminal]
    /// What the server can do.
    public var capabilities: [String]
    /// Free-form metadata.
    public var metadata: JSONObject

    /// A manifest from its parts; validation happens when it becomes a registration.
    public init(
        name: String, classCode: ClassCode, owner: String, authentication: AuthenticationRequirement = .no,
        authMechanism: String = "none", terminals: [Terminal] = [], capabilities: [String] = [],
        metadata: JSONObject = JSONObject()
    ) {
        self.name = name
        self.classCode = classCode
        self.owner = owner
        self.authentication = authentication
        self.authMechanism = authMechanism
        self.terminals = terminals
        self.capabilities = capabilities
        self.metadata = metadata
    }

    /// The registration of one running instance of this server.
    /// - Parameters:
    ///   - fqdn: the machine's name as the server sees it at run time.
    ///   - uuid: a fresh RFC 4122 UUID for this instance.
    public func registration(fqdn: String, uuid: String) throws(HostessError) -> Registration {
        let serverName = try ServerName(
            fqdn: fqdn, servername: name, classCode: classCode, owner: owner, authentication: authentication,
            authMechanism: authMechanism, uuid: uuid)
        return try Registration(name: serverName, terminals: terminals, capabilities: capabilities, metadata: metadata)
    }
}

// MARK: - Manifest files

extension ServerManifest {
    /// Reads a manifest in the design's JSON form:
    /// `{"name", "class", "owner", "authentication": {"required", "mechanism"}, "terminals": [...],
    /// "capabilities": [...], "metadata": {...}}`.
    public init(json: JSONValue) throws(HostessError) {
        let reader = try JSONReader(json, path: "manifest")
        try reader.rejectUnknownKeys(
            allowed: ["name", "class", "owner", "authentication", "terminals", "capabilities", "metadata"])
        let classText = try reader.requireString("class")
        let classCode: ClassCode
        do { classCode = try ClassCode(parsing: classText) } catch {
            throw HostessError(.badRequest, error.message, field: reader.fieldPath("class"))
        }
        var authentication = AuthenticationRequirement.no
        var mechanism = "none"
        if let auth = try reader.reader("authentication") {
            try auth.rejectUnknownKeys(allowed: ["required", "mechanism"])
            if let required = try auth.string("required") {
                guard let value = AuthenticationRequirement(rawValue: required) else {
                    throw HostessError(.badRequest, "expected yes, no or optional; found '\(required)'", field: auth.fieldPath("required"))
                }
                authentication = value
            }
            mechanism = try auth.string("mechanism") ?? mechanism
        }
        let terminals = try reader.has("terminals")
            ? Terminal.list(from: try reader.require("terminals"), path: reader.fieldPath("terminals")) : []
        self.init(
            name: try reader.requireString("name"), classCode: classCode, owner: try reader.requireString("owner"),
            authentication: authentication, authMechanism: mechanism, terminals: terminals,
            capabilities: try reader.strings("capabilities") ?? [], metadata: try reader.objectMember("metadata") ?? JSONObject())
    }
}

// MARK: - Wire form

extension ServerManifest {
    /// The manifest in the design's JSON form, members in schema order; ``init(json:)`` reads it back equal.
    public var json: JSONValue {
        let terminals = terminals.map { terminal -> JSONValue in
            var object: JSONObject = [
                "name": .string(terminal.name), "direction": .string(terminal.direction.rawValue),
                "multiplexing": .string(terminal.multiplexing.rawValue),
            ]
            if let `protocol` = terminal.protocol { object["protocol"] = .string(`protocol`) }
            if !terminal.metadata.isEmpty { object["metadata"] = .object(terminal.metadata) }
            return .object(object)
        }
        let object: JSONObject = [
            "name": .string(name), "class": .string(classCode.description), "owner": .string(owner),
            "authentication": ["required": .string(authentication.rawValue), "mechanism": .string(authMechanism)],
            "terminals": .array(terminals), "capabilities": .array(capabilities.map(JSONValue.string)), "metadata": .object(metadata),
        ]
        return .object(object)
    }
}

// MARK: - CompiledManifest

/// A manifest compiled into a binary by the HostessManifests build-tool plugin: its file name and its
/// canonical JSON, which the plugin checked with this same decoder when the binary was built.
public struct CompiledManifest: Sendable {
    /// The manifest file it was compiled from.
    public let file: String
    /// Its canonical JSON text (what `--print-manifest` prints).
    public let json: String
    /// The manifest.
    public let manifest: ServerManifest

    /// A compiled manifest. The text was checked at build time; it failing to decode here means the binary
    /// was built by a different decoder than the one it runs, a build error rather than an input error.
    public init(file: String, json: String) {
        self.file = file
        self.json = json
        do { manifest = try ServerManifest(json: try JSONParser.parse(json)) } catch {
            preconditionFailure("the manifest compiled from \(file) does not decode (\(error)); rebuild the target")
        }
    }
}
