// MARK: - Terminal

/// A named connection point of a server: which way data flows, how many connections it takes, and which
/// connectomes (connections planned by a StateManager) currently use it.
public struct Terminal: Hashable, Sendable {
    /// Which way data flows through a terminal.
    public enum Direction: String, Sendable, CaseIterable { case input, output, bidirectional }

    /// How many connections a terminal takes: `none` one at a time, `fanout` and `fanin` many.
    public enum Multiplexing: String, Sendable, CaseIterable { case none, fanout, fanin }

    /// The terminal's name, unique within its server.
    public var name: String
    /// Which way data flows.
    public var direction: Direction
    /// How many connections it takes.
    public var multiplexing: Multiplexing
    /// An optional protocol hint, e.g. `json-rpc`.
    public var `protocol`: String?
    /// Free-form metadata, carried unchanged.
    public var metadata: JSONObject
    /// Connectome ids using the terminal, in the order they were marked.
    public var connectedTo: [String]

    /// Whether any connection uses the terminal.
    public var inUse: Bool { !connectedTo.isEmpty }

    /// A terminal; validates the name, the protocol and the metadata size.
    public init(
        name: String, direction: Direction, multiplexing: Multiplexing, protocol: String? = nil,
        metadata: JSONObject = JSONObject(), connectedTo: [String] = []
    ) throws(HostessError) {
        try Terminal.validateName(name, field: "name")
        if let `protocol` {
            try Token.validate(
                `protocol`, maximum: Limits.tokenBytes, first: \.isAlphanumeric, rest: \.isTokenByte,
                rule: "letters, digits, '-', '_' and '.'"
            ) { HostessError(.badRequest, "protocol \($0)", field: "protocol") }
        }
        // An empty object is two bytes; only other metadata is serialized to be measured.
        guard metadata.isEmpty || JSONValue.object(metadata).jsonBytes.count <= Limits.terminalMetadataBytes else {
            throw HostessError(
                .tooLarge, "terminal metadata is at most \(Limits.terminalMetadataBytes) bytes as JSON",
                field: "metadata")
        }
        self.name = name
        self.direction = direction
        self.multiplexing = multiplexing
        self.protocol = `protocol`
        self.metadata = metadata
        self.connectedTo = connectedTo
    }

    static func validateName(_ name: String, field: String) throws(HostessError) {
        try Token.validate(
            name, maximum: Limits.tokenBytes, first: \.isAlphanumeric, rest: \.isTokenByte,
            rule: "letters, digits, '-', '_' and '.', starting with a letter or digit"
        ) { HostessError(.badRequest, "terminal name \($0)", field: field) }
    }
}

// MARK: - Wire form

extension Terminal {
    /// The terminal as a member of an entry's `terminals` object (its name is the key).
    public var json: JSONValue {
        var object: JSONObject = [
            "direction": .string(direction.rawValue),
            "multiplexing": .string(multiplexing.rawValue),
        ]
        if let `protocol` { object["protocol"] = .string(`protocol`) }
        object["inUse"] = .bool(inUse)
        object["connectedTo"] = .array(connectedTo.map(JSONValue.string))
        object["metadata"] = .object(metadata)
        return .object(object)
    }

    /// Read-only members a client may echo back; they are ignored on input.
    static let stateKeys: Set<String> = ["inUse", "connectedTo"]

    /// Reads a terminal definition. `inUse` and `connectedTo` are state, not definition: when
    /// `keepState` is false they are accepted and ignored.
    public init(name: String, reader: JSONReader, keepState: Bool = false) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: Set(["name", "direction", "multiplexing", "protocol", "metadata"]).union(Terminal.stateKeys))
        if let given = try reader.string("name"), given != name {
            throw HostessError(.badRequest, "'\(given)' disagrees with the terminal's key '\(name)'", field: reader.fieldPath("name"))
        }
        let directionText = try reader.requireString("direction")
        guard let direction = Direction(rawValue: directionText) else {
            throw HostessError(
                .badRequest, "expected input, output or bidirectional; found '\(directionText)'",
                field: reader.fieldPath("direction"))
        }
        let multiplexingText = try reader.string("multiplexing") ?? "none"
        guard let multiplexing = Multiplexing(rawValue: multiplexingText) else {
            throw HostessError(
                .badRequest, "expected none, fanout or fanin; found '\(multiplexingText)'",
                field: reader.fieldPath("multiplexing"))
        }
        let `protocol` = try reader.string("protocol")
        let metadata = try reader.objectMember("metadata") ?? JSONObject()
        let connectedTo = keepState ? (try reader.strings("connectedTo") ?? []) : []
        do {
            try self.init(
                name: name, direction: direction, multiplexing: multiplexing, protocol: `protocol`, metadata: metadata,
                connectedTo: connectedTo)
        } catch {
            throw error.under(reader.path)
        }
    }

    /// Reads a `terminals` member: either an object keyed by terminal name (the guest book's form) or an
    /// array of objects with a `name` (the manifest's form). Names must be unique.
    public static func list(from value: JSONValue, path: String, keepState: Bool = false) throws(HostessError) -> [Terminal] {
        var terminals: [Terminal] = []
        switch value {
        case .object(let object):
            for member in object {
                terminals.append(
                    try Terminal(
                        name: member.key, reader: try JSONReader(member.value, path: "\(path).\(member.key)"),
                        keepState: keepState))
            }
        case .array(let elements):
            var seen = Set<String>()
            for (position, element) in elements.enumerated() {
                let reader = try JSONReader(element, path: "\(path)[\(position)]")
                let name = try reader.requireString("name")
                guard seen.insert(name).inserted else {
                    throw HostessError(.badRequest, "duplicate terminal '\(name)'", field: reader.fieldPath("name"))
                }
                terminals.append(try Terminal(name: name, reader: reader, keepState: keepState))
            }
        default:
            throw HostessError(.badRequest, "expected an object or an array, found \(value.typeName)", field: path)
        }
        guard terminals.count <= Limits.terminals else {
            throw HostessError(.tooLarge, "at most \(Limits.terminals) terminals", field: path)
        }
        return terminals
    }
}
