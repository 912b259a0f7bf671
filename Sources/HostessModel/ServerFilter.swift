// MARK: - ServerFilter

/// A query over the guest book. Every given criterion must hold; an empty filter matches every entry.
public struct ServerFilter: Hashable, Sendable {
    /// Which guest books a query asks: this Hostess's, its live peers', or both (the wire form's `scope`).
    public enum Scope: String, Hashable, Sendable, CaseIterable {
        /// This Hostess's guest book only (the default, and the only scope of the shared-memory reader).
        case local
        /// The live peers' guest books only.
        case remote
        /// This Hostess's and its live peers'.
        case all
    }

    /// Which guest books to ask; ``Scope/local`` unless the query says otherwise.
    public var scope = Scope.local
    /// Exact fqdn.
    public var fqdn: String?
    /// Exact servername.
    public var servername: String?
    /// Exact class.
    public var classCode: ClassCode?
    /// Exact owner.
    public var owner: String?
    /// Capabilities the entry must ALL have.
    public var capabilities: [String]
    /// The entry must have at least this many terminals not in use.
    public var availableTerminals: Int?
    /// With true, only entries no active reservation holds.
    public var unreserved: Bool
    /// Only the entries with these ids (canonical server names, as ``ServerName/description`` spells them),
    /// in the order given; nil: any id. The wire form's `serverIds`.
    public var serverIDs: [String]? {
        didSet { serverIDSet = serverIDs.map(Set.init) }
    }
    /// ``serverIDs`` as a set, for matching.
    private var serverIDSet: Set<String>?

    /// Most ids one filter may name.
    public static let maximumServerIDs = 1024

    /// A filter; every criterion is optional.
    public init(
        fqdn: String? = nil, servername: String? = nil, classCode: ClassCode? = nil, owner: String? = nil,
        capabilities: [String] = [], availableTerminals: Int? = nil, unreserved: Bool = false, serverIDs: [String]? = nil
    ) {
        self.fqdn = fqdn
        self.servername = servername
        self.classCode = classCode
        self.owner = owner
        self.capabilities = capabilities
        self.availableTerminals = availableTerminals
        self.unreserved = unreserved
        self.serverIDs = serverIDs
        serverIDSet = serverIDs.map(Set.init)
    }

    /// Whether `entry` satisfies every criterion.
    public func matches(_ entry: GuestBookEntry) -> Bool {
        if let serverIDSet, !serverIDSet.contains(entry.id) { return false }
        if let classCode, entry.name.classCode != classCode { return false }
        if let servername, entry.name.servername != servername { return false }
        if let fqdn, entry.name.fqdn != fqdn { return false }
        if let owner, entry.name.owner != owner { return false }
        if let availableTerminals, entry.availableTerminalCount < availableTerminals { return false }
        if unreserved && entry.reservedBy != nil { return false }
        for capability in capabilities where !entry.capabilities.contains(capability) { return false }
        return true
    }
}

// MARK: - Wire form

extension ServerFilter {
    /// Reads a `filter` object.
    public init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(
            allowed: ["fqdn", "servername", "class", "owner", "capabilities", "availableTerminals", "unreserved", "serverIds", "scope"])
        var scope = Scope.local
        if let text = try reader.string("scope") {
            guard let value = Scope(rawValue: text) else {
                throw HostessError(.badRequest, "expected local, remote or all; found '\(text)'", field: reader.fieldPath("scope"))
            }
            scope = value
        }
        var classCode: ClassCode?
        if let classText = try reader.string("class") {
            do { classCode = try ClassCode(parsing: classText) } catch {
                throw HostessError(.badRequest, error.message, field: reader.fieldPath("class"))
            }
        }
        let capabilities = try reader.strings("capabilities") ?? []
        guard capabilities.count <= Limits.capabilities else {
            throw HostessError(.tooLarge, "at most \(Limits.capabilities) capabilities", field: reader.fieldPath("capabilities"))
        }
        let available = try reader.int("availableTerminals", in: 0...Int64(Limits.terminals))
        self.init(
            fqdn: try reader.string("fqdn"), servername: try reader.string("servername"), classCode: classCode,
            owner: try reader.string("owner"), capabilities: capabilities, availableTerminals: available.map { Int($0) },
            unreserved: try reader.bool("unreserved") ?? false, serverIDs: try Self.serverIDs(reader))
        self.scope = scope
    }

    /// The optional `serverIds`: 1 to ``maximumServerIDs`` server names, each canonicalized, none twice.
    private static func serverIDs(_ reader: JSONReader) throws(HostessError) -> [String]? {
        guard let texts = try reader.strings("serverIds") else { return nil }
        let field = reader.fieldPath("serverIds")
        guard !texts.isEmpty else {
            throw HostessError(.badRequest, "expected 1 to \(maximumServerIDs) server ids; leave serverIds out to match any server", field: field)
        }
        guard texts.count <= maximumServerIDs else {
            throw HostessError(.tooLarge, "at most \(maximumServerIDs) server ids, found \(texts.count)", field: field)
        }
        var ids: [String] = []
        var seen = Set<String>()
        ids.reserveCapacity(texts.count)
        for (position, text) in texts.enumerated() {
            let id: String
            do { id = try ServerName(parsing: text).description } catch {
                throw HostessError(.invalidName, error.message, field: "\(field)[\(position)]")
            }
            guard seen.insert(id).inserted else {
                throw HostessError(.badRequest, "'\(id)' is given twice", field: "\(field)[\(position)]")
            }
            ids.append(id)
        }
        return ids
    }

    /// The filter as a `filter` object; absent criteria are left out.
    public var json: JSONValue {
        var object = JSONObject()
        if let fqdn { object["fqdn"] = .string(fqdn) }
        if let servername { object["servername"] = .string(servername) }
        if let classCode { object["class"] = .string(classCode.description) }
        if let owner { object["owner"] = .string(owner) }
        if !capabilities.isEmpty { object["capabilities"] = .array(capabilities.map(JSONValue.string)) }
        if let availableTerminals { object["availableTerminals"] = .int(Int64(availableTerminals)) }
        if unreserved { object["unreserved"] = true }
        if let serverIDs { object["serverIds"] = .array(serverIDs.map(JSONValue.string)) }
        if scope != .local { object["scope"] = .string(scope.rawValue) }
        return .object(object)
    }
}
