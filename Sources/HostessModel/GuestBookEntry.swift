// MARK: - Registration

/// What a server submits to sign the guest book: its name and what it offers. The guest book adds the
/// timestamps, the registration serial and the terminals' connection state.
public struct Registration: Hashable, Sendable {
    /// The server's structured name; its text is the entry id.
    public var name: ServerName
    /// Connection points, in the order given.
    public var terminals: [Terminal]
    /// What the server can do, e.g. `pty`, `vt100`.
    public var capabilities: [String]
    /// Free-form metadata, carried unchanged.
    public var metadata: JSONObject

    /// A registration; validates capabilities, terminal names and metadata size.
    public init(name: ServerName, terminals: [Terminal], capabilities: [String], metadata: JSONObject) throws(HostessError) {
        guard terminals.count <= Limits.terminals else {
            throw HostessError(.tooLarge, "at most \(Limits.terminals) terminals", field: "terminals")
        }
        var names = Set<String>()
        for terminal in terminals where !names.insert(terminal.name).inserted {
            throw HostessError(.badRequest, "duplicate terminal '\(terminal.name)'", field: "terminals")
        }
        try Capability.validate(capabilities, field: "capabilities")
        guard JSONValue.object(metadata).jsonBytes.count <= Limits.metadataBytes else {
            throw HostessError(.tooLarge, "metadata is at most \(Limits.metadataBytes) bytes as JSON", field: "metadata")
        }
        self.name = name
        self.terminals = terminals.map { terminal in
            var definition = terminal
            definition.connectedTo = []
            return definition
        }
        self.capabilities = capabilities
        self.metadata = metadata
    }

    /// Members of an entry that a client may send back; they are state the guest book owns, and ignored.
    static let stateKeys: Set<String> = ["registeredAt", "lastHeartbeat", "serial", "session", "reservedBy"]
    static let identityKeys: Set<String> = ["fqdn", "servername", "class", "owner", "uuid", "authentication"]

    /// Reads the `entry` of a register request. It has the guest book entry's shape: `id` is required; the
    /// identity members (`fqdn`, `class`, …) may be given and must then agree with the id.
    public init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(
            allowed: Set(["id", "terminals", "capabilities", "metadata"]).union(Registration.stateKeys)
                .union(Registration.identityKeys))
        let idText = try reader.requireString("id")
        let name: ServerName
        do { name = try ServerName(parsing: idText) } catch {
            var located = error
            located.field = reader.fieldPath("id")
            throw located
        }
        try Registration.checkIdentity(reader, against: name)
        let terminals = try reader.has("terminals")
            ? Terminal.list(from: try reader.require("terminals"), path: reader.fieldPath("terminals")) : []
        let capabilities = try reader.strings("capabilities") ?? []
        let metadata = try reader.objectMember("metadata") ?? JSONObject()
        do {
            try self.init(name: name, terminals: terminals, capabilities: capabilities, metadata: metadata)
        } catch {
            throw error.under(reader.path)
        }
    }

    private static func checkIdentity(_ reader: JSONReader, against name: ServerName) throws(HostessError) {
        // fqdn (DNS), class and UUID (hex) are case-insensitive; servername and owner are not.
        let expected: [(String, String, Bool)] = [
            ("fqdn", name.fqdn, true), ("servername", name.servername, false), ("class", name.classCode.description, true),
            ("owner", name.owner, false), ("uuid", name.uuid, true),
        ]
        for (key, value, folded) in expected {
            if let given = try reader.string(key), folded ? given.lowercased() != value.lowercased() : given != value {
                throw HostessError(.badRequest, "'\(given)' disagrees with the id, which says '\(value)'", field: reader.fieldPath(key))
            }
        }
        if let auth = try reader.reader("authentication") {
            try auth.rejectUnknownKeys(allowed: ["required", "mechanism"])
            if let required = try auth.string("required"), required != name.authentication.rawValue {
                throw HostessError(
                    .badRequest, "'\(required)' disagrees with the id, which says '\(name.authentication.rawValue)'",
                    field: auth.fieldPath("required"))
            }
            if let mechanism = try auth.string("mechanism"), mechanism != name.authMechanism {
                throw HostessError(
                    .badRequest, "'\(mechanism)' disagrees with the id, which says '\(name.authMechanism)'",
                    field: auth.fieldPath("mechanism"))
            }
        }
    }

    /// The registration in the wire form of a register request's `entry`.
    public var json: JSONValue {
        var terminalsObject = JSONObject()
        for terminal in terminals { terminalsObject[terminal.name] = terminal.json }
        return .object([
            "id": .string(name.description),
            "terminals": .object(terminalsObject),
            "capabilities": .array(capabilities.map(JSONValue.string)),
            "metadata": .object(metadata),
        ])
    }
}

// MARK: - Capabilities

/// Rules for capability names.
public enum Capability {
    /// Checks a capability list: each a token, no duplicates, at most ``Limits/capabilities``.
    public static func validate(_ capabilities: [String], field: String) throws(HostessError) {
        guard capabilities.count <= Limits.capabilities else {
            throw HostessError(.tooLarge, "at most \(Limits.capabilities) capabilities", field: field)
        }
        var seen = Set<String>()
        for (position, capability) in capabilities.enumerated() {
            try Token.validate(
                capability, maximum: Limits.tokenBytes, first: \.isAlphanumeric, rest: \.isTokenByte,
                rule: "letters, digits, '-', '_' and '.', starting with a letter or digit"
            ) { HostessError(.badRequest, "capability \($0)", field: "\(field)[\(position)]") }
            guard seen.insert(capability).inserted else {
                throw HostessError(.badRequest, "duplicate capability '\(capability)'", field: "\(field)[\(position)]")
            }
        }
    }
}

// MARK: - GuestBookEntry

/// One signature in the guest book: a registered server, its terminals' state and its liveness.
public struct GuestBookEntry: Hashable, Sendable {
    /// The server's structured name.
    public var name: ServerName
    /// Connection points with their state.
    public var terminals: [Terminal]
    /// What the server can do.
    public var capabilities: [String]
    /// Free-form metadata.
    public var metadata: JSONObject
    /// When the server first registered, in milliseconds since the Unix epoch.
    public var registeredAt: Int64
    /// When the server last heartbeated (or registered), in milliseconds since the Unix epoch.
    public var lastHeartbeat: Int64
    /// A number given to each registration, never reused while the daemon's guest book lives.
    public var serial: UInt64
    /// Whether the entry ends when the connection that registered it closes.
    public var session: Bool
    /// The id of the active reservation holding this server, if one does.
    public var reservedBy: String?

    /// The entry id: the formatted name.
    public var id: String { name.description }

    /// The terminal called `name`, if any.
    public func terminal(named name: String) -> Terminal? { terminals.first { $0.name == name } }

    /// How many terminals no connection uses.
    public var availableTerminalCount: Int { terminals.reduce(0) { $0 + ($1.inUse ? 0 : 1) } }

    /// The entry in its wire form, with the design's field names.
    public var json: JSONValue {
        var terminalsObject = JSONObject()
        for terminal in terminals { terminalsObject[terminal.name] = terminal.json }
        return .object([
            "id": .string(id),
            "fqdn": .string(name.fqdn),
            "servername": .string(name.servername),
            "class": .string(name.classCode.description),
            "owner": .string(name.owner),
            "uuid": .string(name.uuid),
            "authentication": ["required": .string(name.authentication.rawValue), "mechanism": .string(name.authMechanism)],
            "terminals": .object(terminalsObject),
            "registeredAt": .int(registeredAt),
            "lastHeartbeat": .int(lastHeartbeat),
            "metadata": .object(metadata),
            "capabilities": .array(capabilities.map(JSONValue.string)),
            "serial": .int(Int64(clamping: serial)),
            "session": .bool(session),
            "reservedBy": reservedBy.map(JSONValue.string) ?? .null,
        ])
    }

    /// Reads an entry in its wire form (as a response carries it).
    public init(json: JSONValue) throws(HostessError) {
        let reader = try JSONReader(json, path: "entry")
        let name = try ServerName(parsing: try reader.requireString("id"))
        let terminals = try reader.has("terminals")
            ? Terminal.list(from: try reader.require("terminals"), path: "entry.terminals", keepState: true) : []
        self.init(
            name: name, terminals: terminals, capabilities: try reader.strings("capabilities") ?? [],
            metadata: try reader.objectMember("metadata") ?? JSONObject(),
            registeredAt: try reader.int("registeredAt", in: Int64.min...Int64.max) ?? 0,
            lastHeartbeat: try reader.int("lastHeartbeat", in: Int64.min...Int64.max) ?? 0,
            serial: UInt64(try reader.int("serial", in: 0...Int64.max) ?? 0),
            session: try reader.bool("session") ?? false)
        reservedBy = try reader.string("reservedBy")
    }

    /// An entry from its parts.
    public init(
        name: ServerName, terminals: [Terminal], capabilities: [String], metadata: JSONObject, registeredAt: Int64,
        lastHeartbeat: Int64, serial: UInt64, session: Bool
    ) {
        self.name = name
        self.terminals = terminals
        self.capabilities = capabilities
        self.metadata = metadata
        self.registeredAt = registeredAt
        self.lastHeartbeat = lastHeartbeat
        self.serial = serial
        self.session = session
    }
}
