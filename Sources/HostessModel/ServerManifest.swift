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
