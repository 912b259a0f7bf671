// MARK: - Connectome

/// A wiring a StateManager set up and recorded with the Hostess: which terminals its links join, so that
/// "what is connected to this terminal?" has an answer.
///
/// The StateManager reserves the servers, marks each endpoint's terminal in use with the link's id, and then
/// records the connectome. The Hostess keeps it as recorded and works out its state (``ConnectomeRecord``)
/// from the guest book whenever it is read.
public struct Connectome: Hashable, Sendable {
    /// How a link moves data between its sources and targets.
    public enum Mode: String, Hashable, Sendable, CaseIterable {
        /// One source to one target.
        case direct
        /// One source to every target.
        case fanout
        /// Every source to one target.
        case fanin
        /// Every source to every target.
        case merge
    }

    /// One end of a link: a terminal of a server.
    public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
        /// The server, canonical.
        public var serverID: ServerName
        /// The terminal's name.
        public var terminal: String

        /// An endpoint.
        public init(serverID: ServerName, terminal: String) {
            self.serverID = serverID
            self.terminal = terminal
        }

        /// `serverId.terminal`, as tables show it.
        public var description: String { "\(serverID).\(terminal)" }
    }

    /// One connection of the wiring: data from its sources to its targets.
    public struct Link: Hashable, Sendable {
        /// Unique within the connectome; the id the StateManager marks the endpoints' terminals in use with.
        public var id: String
        /// How data moves.
        public var mode: Mode
        /// Where data comes from, 1 to ``Limits/linkEndpoints``.
        public var sources: [Endpoint]
        /// Where data goes, 1 to ``Limits/linkEndpoints``.
        public var targets: [Endpoint]

        /// A link.
        public init(id: String, mode: Mode, sources: [Endpoint], targets: [Endpoint]) {
            self.id = id
            self.mode = mode
            self.sources = sources
            self.targets = targets
        }

        /// Sources then targets.
        public var endpoints: [Endpoint] { sources + targets }
    }

    /// The connectome's id: 1 to ``Limits/connectomeIDBytes`` bytes of letters, digits, `.`, `_`, `:` and `-`.
    public var id: String
    /// Where the wiring came from (a file name, a command line), free printable text; nil when not said.
    public var source: String?
    /// The reservation holding its servers, when there is one.
    public var reservationID: String?
    /// Its links, 1 to ``Limits/connectomeLinks``.
    public var links: [Link]

    /// A connectome from its parts. Nothing is checked here: the daemon checks what it is sent
    /// (``init(reader:ignoring:)``).
    public init(id: String, source: String? = nil, reservationID: String? = nil, links: [Link]) {
        self.id = id
        self.source = source
        self.reservationID = reservationID
        self.links = links
    }
}

// MARK: - Wire form

extension Connectome {
    /// Reads a `connectome` object: `{"id", "source"?, "reservationId"?, "links": [{"id", "mode", "sources":
    /// [{"serverId", "terminal"}], "targets": [...]}]}`. Unknown members are refused; every error names its
    /// field by path (`connectome.links[2].targets[0].serverId`).
    /// - Parameter ignoring: members to accept and skip besides those (the state a reply adds).
    public init(reader: JSONReader, ignoring: Set<String> = []) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: Set(["id", "source", "reservationId", "links"]).union(ignoring))
        let id = try reader.requireString("id")
        try Self.validateID(id, what: "connectome id", field: reader.fieldPath("id"))
        let source = try reader.string("source")
        if let source {
            guard !source.isEmpty, source.utf8.count <= Limits.connectomeSourceBytes,
                source.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw HostessError(
                    .badRequest, "expected 1 to \(Limits.connectomeSourceBytes) bytes of printable text", field: reader.fieldPath("source"))
            }
        }
        let reservationID = try reader.string("reservationId")
        if let reservationID { try Self.validateID(reservationID, what: "reservation id", field: reader.fieldPath("reservationId")) }
        let items = try Self.array(reader, "links", maximum: Limits.connectomeLinks)
        var links: [Link] = []
        links.reserveCapacity(items.count)
        var linkIDs = Set<String>()
        for (position, item) in items.enumerated() {
            let link = try Link(reader: try JSONReader(item, path: reader.fieldPath("links[\(position)]")))
            guard linkIDs.insert(link.id).inserted else {
                throw HostessError(
                    .badRequest, "link id '\(link.id)' is used twice; each link needs its own", field: reader.fieldPath("links[\(position)].id"))
            }
            links.append(link)
        }
        self.init(id: id, source: source, reservationID: reservationID, links: links)
    }

    /// The connectome as recorded, in its wire form; absent `source` and `reservationId` are null.
    public var json: JSONValue { .object(jsonObject) }

    /// ``json``'s members, for replies that add to them.
    var jsonObject: JSONObject {
        [
            "id": .string(id), "source": source.map(JSONValue.string) ?? .null,
            "reservationId": reservationID.map(JSONValue.string) ?? .null, "links": .array(links.map(\.json)),
        ]
    }

    /// Checks a connectome or link id: 1 to ``Limits/connectomeIDBytes`` bytes of `[A-Za-z0-9._:-]`.
    static func validateID(_ id: String, what: String, field: String) throws(HostessError) {
        try Token.validate(
            id, maximum: Limits.connectomeIDBytes, first: \.isConnectomeIDByte, rest: \.isConnectomeIDByte,
            rule: "letters, digits, '.', '_', ':' and '-'"
        ) { HostessError(.badRequest, "\(what) \($0)", field: field) }
    }

    /// The required array member `key`, with 1 to `maximum` elements.
    static func array(_ reader: JSONReader, _ key: String, maximum: Int) throws(HostessError) -> [JSONValue] {
        let value = try reader.require(key)
        guard case .array(let items) = value else {
            throw HostessError(.badRequest, "expected an array, found \(value.typeName)", field: reader.fieldPath(key))
        }
        guard !items.isEmpty else { throw HostessError(.badRequest, "expected 1 to \(maximum) elements, found none", field: reader.fieldPath(key)) }
        guard items.count <= maximum else {
            throw HostessError(.tooLarge, "at most \(maximum) elements, found \(items.count)", field: reader.fieldPath(key))
        }
        return items
    }
}

extension Connectome.Link {
    /// Reads a link object; errors name their field under `reader`'s path.
    init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: ["id", "mode", "sources", "targets"])
        let id = try reader.requireString("id")
        try Connectome.validateID(id, what: "link id", field: reader.fieldPath("id"))
        let modeText = try reader.requireString("mode")
        guard let mode = Connectome.Mode(rawValue: modeText) else {
            throw HostessError(
                .badRequest, "expected one of \(Connectome.Mode.allCases.map(\.rawValue).joined(separator: ", ")), found '\(modeText)'",
                field: reader.fieldPath("mode"))
        }
        self.init(id: id, mode: mode, sources: try Self.endpoints(reader, "sources"), targets: try Self.endpoints(reader, "targets"))
    }

    /// The endpoints in `key`: 1 to ``Limits/linkEndpoints``, none twice.
    private static func endpoints(_ reader: JSONReader, _ key: String) throws(HostessError) -> [Connectome.Endpoint] {
        var result: [Connectome.Endpoint] = []
        for (position, item) in try Connectome.array(reader, key, maximum: Limits.linkEndpoints).enumerated() {
            let endpoint = try Connectome.Endpoint(reader: try JSONReader(item, path: reader.fieldPath("\(key)[\(position)]")))
            guard !result.contains(endpoint) else {
                throw HostessError(.badRequest, "\(endpoint) is given twice", field: reader.fieldPath("\(key)[\(position)]"))
            }
            result.append(endpoint)
        }
        return result
    }

    /// The link in its wire form.
    var json: JSONValue {
        [
            "id": .string(id), "mode": .string(mode.rawValue), "sources": .array(sources.map(\.json)),
            "targets": .array(targets.map(\.json)),
        ]
    }
}

extension Connectome.Endpoint {
    /// Reads an endpoint object: a server name (canonicalized; `invalid_name` when malformed) and a terminal name.
    init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: ["serverId", "terminal"])
        let text = try reader.requireString("serverId")
        let name: ServerName
        do { name = try ServerName(parsing: text) } catch {
            throw HostessError(.invalidName, error.message, field: reader.fieldPath("serverId"))
        }
        let terminal = try reader.requireString("terminal")
        try Terminal.validateName(terminal, field: reader.fieldPath("terminal"))
        self.init(serverID: name, terminal: terminal)
    }

    /// The endpoint in its wire form.
    var json: JSONValue { ["serverId": .string(serverID.description), "terminal": .string(terminal)] }
}

// MARK: - ConnectomeRecord

/// A recorded connectome as the Hostess reports it: what was recorded, by whom and when, and its state as
/// the guest book stands now. The state is never stored: every read works it out again.
public struct ConnectomeRecord: Hashable, Sendable {
    /// Whether every endpoint is as recorded.
    public enum State: String, Hashable, Sendable, CaseIterable {
        /// Every endpoint's server is here with that terminal, marked in use by the endpoint's link.
        case active
        /// At least one endpoint is not (see ``ConnectomeRecord/problems``).
        case degraded
    }

    /// An endpoint that is not as recorded.
    public struct Problem: Hashable, Sendable {
        /// What is wrong with the endpoint.
        public enum Reason: String, Hashable, Sendable, CaseIterable {
            /// No entry has the endpoint's server id (unregistered, evicted, session ended).
            case serverGone = "server_gone"
            /// The server is here but has no terminal with that name (it re-registered without it).
            case terminalGone = "terminal_gone"
            /// The terminal's `connectedTo` lacks the link's id.
            case notMarked = "not_marked"
        }

        /// The link whose endpoint it is.
        public var linkID: String
        /// The endpoint's server id.
        public var serverID: String
        /// The endpoint's terminal.
        public var terminal: String
        /// What is wrong.
        public var reason: Reason

        /// A problem.
        public init(linkID: String, serverID: String, terminal: String, reason: Reason) {
            self.linkID = linkID
            self.serverID = serverID
            self.terminal = terminal
            self.reason = reason
        }

        /// The problem in its wire form.
        public var json: JSONValue {
            ["linkId": .string(linkID), "serverId": .string(serverID), "terminal": .string(terminal), "reason": .string(reason.rawValue)]
        }
    }

    /// What was recorded.
    public var connectome: Connectome
    /// Who recorded it: a local uid, or an HTTP signing key. Only it, or root, may remove it.
    public var createdBy: Reservation.Holder
    /// When, in milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// The endpoints that are not as recorded, link by link, sources before targets.
    public var problems: [Problem]

    /// `active` when there are no problems, else `degraded`.
    public var state: State { problems.isEmpty ? .active : .degraded }

    /// A record.
    public init(connectome: Connectome, createdBy: Reservation.Holder, createdAt: Int64, problems: [Problem] = []) {
        self.connectome = connectome
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.problems = problems
    }

    /// The members the output adds to the recorded connectome.
    static let outputMembers: Set<String> = ["createdBy", "createdAt", "state", "problems"]

    /// The record in its wire form: the connectome's members, then `createdBy` (`{"uid": N}` or
    /// `{"key": "K"}`), `createdAt`, `state` and `problems`.
    public var json: JSONValue {
        var object = connectome.jsonObject
        switch createdBy {
        case .user(let uid): object["createdBy"] = ["uid": .int(Int64(uid))]
        case .key(let key): object["createdBy"] = ["key": .string(key)]
        }
        object["createdAt"] = .int(createdAt)
        object["state"] = .string(state.rawValue)
        object["problems"] = .array(problems.map(\.json))
        return .object(object)
    }

    /// Reads a record in its wire form (a reply's `connectome`).
    public init(json: JSONValue) throws(HostessError) {
        let reader = try JSONReader(json, path: "connectome")
        let connectome = try Connectome(reader: reader, ignoring: Self.outputMembers)
        let creator = try reader.requireReader("createdBy")
        let createdBy: Reservation.Holder
        if let key = try creator.string("key") {
            createdBy = .key(key)
        } else if let uid = try creator.int("uid", in: 0...Int64(UInt32.max)) {
            createdBy = .user(uid: UInt32(uid))
        } else {
            throw HostessError(.badRequest, "expected uid or key", field: creator.path)
        }
        var problems: [Problem] = []
        if case .array(let items)? = try reader.has("problems") ? reader.require("problems") : nil {
            for (position, item) in items.enumerated() {
                let problem = try JSONReader(item, path: reader.fieldPath("problems[\(position)]"))
                let reasonText = try problem.requireString("reason")
                guard let reason = Problem.Reason(rawValue: reasonText) else {
                    throw HostessError(.badRequest, "unknown reason '\(reasonText)'", field: problem.fieldPath("reason"))
                }
                problems.append(
                    Problem(
                        linkID: try problem.string("linkId") ?? "", serverID: try problem.requireString("serverId"),
                        terminal: try problem.requireString("terminal"), reason: reason))
            }
        }
        self.init(
            connectome: connectome, createdBy: createdBy, createdAt: try reader.int("createdAt", in: Int64.min...Int64.max) ?? 0,
            problems: problems)
    }
}

// MARK: - Bytes

extension UInt8 {
    /// A byte of a connectome or link id: a letter, a digit, `.`, `_`, `:` or `-`.
    var isConnectomeIDByte: Bool { isTokenByte || self == UInt8(ascii: ":") }
}
