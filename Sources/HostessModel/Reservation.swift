// MARK: - Reservation

/// A hold on `count` servers matching a filter, for a while or until cancelled: the design's walk-in
/// reservation. While it is active its servers are held: other reservations skip them, and so do queries with
/// `unreserved: true`.
public struct Reservation: Hashable, Sendable {
    /// Where a reservation is in its life. Only `active` holds servers.
    public enum Status: String, Sendable, CaseIterable {
        /// Holding its servers.
        case active
        /// Its duration ran out.
        case expired
        /// Cancelled by its holder or root, or its session connection closed.
        case cancelled
        /// A higher-priority reservation took its servers (``Reservation/preemptedBy``).
        case preempted
        /// Every server it held left the guest book (unregistered, evicted, session ended): see ``Reservation/released``.
        case lost
    }

    /// Who made a reservation: a local user (kernel-reported uid) or an HTTP signing key. Only the same
    /// holder, or root, may cancel it.
    public enum Holder: Hashable, Sendable, CustomStringConvertible {
        /// A local user.
        case user(uid: UInt32)
        /// A remote peer, by the key that signed its request.
        case key(String)

        public var description: String {
            switch self {
            case .user(let uid): "uid \(uid)"
            case .key(let id): "key \(id)"
            }
        }
    }

    /// A server that left the reservation before it ended, and why.
    public struct Release: Hashable, Sendable {
        /// The server's id.
        public var serverID: String
        /// `unregistered`, `evicted` or `session_ended`.
        public var reason: String
        /// When, in milliseconds since the Unix epoch.
        public var at: Int64

        /// A release record.
        public init(serverID: String, reason: String, at: Int64) {
            self.serverID = serverID
            self.reason = reason
            self.at = at
        }
    }

    /// Servers another Hostess holds for this reservation (a remote reservation's part): that Hostess's
    /// own reservation, made over its HTTP interface with the key it gave this Hostess.
    public struct RemotePart: Hashable, Sendable {
        /// Where a part is.
        public enum State: String, Sendable, CaseIterable {
            /// The peer holds the servers.
            case held
            /// This reservation ended and the peer was asked to cancel its part (``RemotePart/reason`` says
            /// whether it confirmed).
            case released
            /// The peer went stale while holding the part: this Hostess cannot tell whether it still holds.
            case lost
        }

        /// The peer's host name.
        public var fqdn: String
        /// The peer's id.
        public var hostessID: String
        /// The peer's HTTP endpoint, which the part was made at.
        public var endpoint: String
        /// The id of the peer's reservation.
        public var reservationID: String
        /// The ids of the servers the peer holds, as it granted them.
        public var serverIDs: [String]
        /// The held entries as the peer answered them when it granted the part.
        public var servers: [GuestBookEntry]
        /// The peer's fencing token for its part.
        public var token: UInt64
        /// Held, released or lost.
        public var state: State
        /// Why the part is no longer held, in words.
        public var reason: String?

        /// A part the peer has just granted.
        public init(fqdn: String, hostessID: String, endpoint: String, reservationID: String, serverIDs: [String], servers: [GuestBookEntry], token: UInt64) {
            self.fqdn = fqdn
            self.hostessID = hostessID
            self.endpoint = endpoint
            self.reservationID = reservationID
            self.serverIDs = serverIDs
            self.servers = servers
            self.token = token
            state = .held
        }
    }

    /// A unique id (a random UUID).
    public var id: String
    /// Who the reservation is for, as the requester named it (free text; the design's `requestedBy`).
    public var requestedBy: String
    /// Who made it, from the kernel or the signing key.
    public var holder: Holder
    /// What the servers had to match.
    public var filter: ServerFilter
    /// How many servers were asked for and granted.
    public var count: Int
    /// The ids of the servers held now, in the order granted.
    public var serverIDs: [String]
    /// Servers lost while active (unregistered, evicted, session ended).
    public var released: [Release]
    /// When it was made, in milliseconds since the Unix epoch.
    public var createdAt: Int64
    /// How long it lasts, in milliseconds; nil until cancelled.
    public var duration: Int64?
    /// Higher wins; only a strictly higher priority may preempt.
    public var priority: Int
    /// Where it is in its life.
    public var status: Status
    /// The fencing token: larger than every token granted before on any of its servers, so that a holder
    /// that lost its servers can be recognised downstream by its smaller token.
    public var token: UInt64
    /// Whether it ends when the connection that made it closes.
    public var session: Bool
    /// The reservation that took its servers, when preempted.
    public var preemptedBy: String?
    /// When it ended, in milliseconds since the Unix epoch.
    public var endedAt: Int64?
    /// Why it ended, in words.
    public var reason: String?
    /// The parts other Hostesses hold (a reservation made with `allowRemote`); empty for a local one.
    public var remote: [RemotePart] = []
    /// For a reservation a peer Hostess made here: the host name it gave as its own (`remoteFqdn`).
    public var remoteFqdn: String?
    /// For a reservation a peer Hostess made here: how to reach it back (`connectionInfo`).
    public var connectionInfo: ConnectionInfo?

    /// The servers held for it here and on peers.
    public var heldCount: Int { serverIDs.count + remote.reduce(0) { $0 + ($1.state == .held ? $1.serverIDs.count : 0) } }

    /// Whether a peer still holds part of it.
    public var holdsRemoteServers: Bool { remote.contains { $0.state == .held } }

    /// When it expires, in milliseconds since the Unix epoch; nil without a duration.
    public var expiresAt: Int64? { duration.map { createdAt &+ $0 } }

    /// A reservation from its parts.
    public init(
        id: String, requestedBy: String, holder: Holder, filter: ServerFilter, count: Int, serverIDs: [String],
        createdAt: Int64, duration: Int64?, priority: Int, token: UInt64, session: Bool
    ) {
        self.id = id
        self.requestedBy = requestedBy
        self.holder = holder
        self.filter = filter
        self.count = count
        self.serverIDs = serverIDs
        released = []
        self.createdAt = createdAt
        self.duration = duration
        self.priority = priority
        status = .active
        self.token = token
        self.session = session
    }
}

// MARK: - ConnectionInfo

/// How a Hostess that reserves servers on a peer can be reached back (the design's `connectionInfo`):
/// its HTTP endpoint and the connection methods it prefers, most preferred first.
public struct ConnectionInfo: Hashable, Sendable {
    /// Most preferred methods one may list.
    public static let maximumMethods = 8
    /// Bytes in the endpoint.
    public static let maximumEndpointBytes = 256

    /// Where the requesting Hostess listens (`http://HOST:PORT`), when it said.
    public var endpoint: String?
    /// Method names (`http`, `tcp`, `websocket`, …), most preferred first.
    public var preferredMethods: [String]

    /// Connection information.
    public init(endpoint: String?, preferredMethods: [String]) {
        self.endpoint = endpoint
        self.preferredMethods = preferredMethods
    }

    /// Reads `{"endpoint"?, "preferredMethods"?}`; every error names its field.
    public init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: ["endpoint", "preferredMethods"])
        let endpoint = try reader.string("endpoint")
        if let endpoint {
            guard !endpoint.isEmpty, endpoint.utf8.count <= Self.maximumEndpointBytes, endpoint.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw HostessError(
                    .badRequest, "expected 1 to \(Self.maximumEndpointBytes) bytes of printable ASCII without spaces", field: reader.fieldPath("endpoint"))
            }
        }
        let methods = try reader.strings("preferredMethods") ?? []
        guard methods.count <= Self.maximumMethods else {
            throw HostessError(.badRequest, "expected at most \(Self.maximumMethods) methods, found \(methods.count)", field: reader.fieldPath("preferredMethods"))
        }
        for (index, method) in methods.enumerated() {
            guard (1...32).contains(method.utf8.count),
                method.utf8.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") })
            else {
                throw HostessError(
                    .badRequest, "expected a method name of 1 to 32 characters a-z, 0-9 and '-'", field: reader.fieldPath("preferredMethods[\(index)]"))
            }
        }
        self.init(endpoint: endpoint, preferredMethods: methods)
    }

    /// The wire form.
    public var json: JSONValue {
        var object: JSONObject = ["preferredMethods": .array(preferredMethods.map(JSONValue.string))]
        if let endpoint { object["endpoint"] = .string(endpoint) }
        return .object(object)
    }
}

// MARK: - ReservationRequest

/// What a client asks for: `count` servers matching `filter`, all or none.
public struct ReservationRequest: Hashable, Sendable {
    /// Most servers one reservation may ask for.
    public static let maximumCount = 1024
    /// The longest duration, in milliseconds (30 days).
    public static let maximumDuration: Int64 = 30 * 24 * 3600 * 1000
    /// The range of priorities.
    public static let priorities = -1_000_000...1_000_000
    /// Bytes in `requestedBy`.
    public static let maximumRequestedByBytes = 128

    /// Who the reservation is for (free text); by default the holder's description.
    public var requestedBy: String?
    /// What the servers must match.
    public var filter: ServerFilter
    /// How many servers, 1 to ``maximumCount``.
    public var count: Int
    /// How long, in milliseconds; nil until cancelled.
    public var duration: Int64?
    /// Priority, default 0.
    public var priority: Int
    /// Whether it ends when the requesting connection closes (socket only).
    public var session: Bool
    /// Whether servers on peer Hostesses may make up what this guest book lacks (socket only).
    public var allowRemote: Bool
    /// For a peer Hostess reserving here: its host name.
    public var remoteFqdn: String?
    /// For a peer Hostess reserving here: how to reach it back.
    public var connectionInfo: ConnectionInfo?

    /// A request.
    public init(
        requestedBy: String? = nil, filter: ServerFilter, count: Int, duration: Int64? = nil, priority: Int = 0, session: Bool = false,
        allowRemote: Bool = false, remoteFqdn: String? = nil, connectionInfo: ConnectionInfo? = nil
    ) {
        self.requestedBy = requestedBy
        self.filter = filter
        self.count = count
        self.duration = duration
        self.priority = priority
        self.session = session
        self.allowRemote = allowRemote
        self.remoteFqdn = remoteFqdn
        self.connectionInfo = connectionInfo
    }

    /// Reads a request object: `{"requestedBy"?, "serverFilter", "count", "duration"? (ms), "priority"?,
    /// "session"?, "allowRemote"?, "remoteFqdn"?, "connectionInfo"?}`. Every error names its field.
    public init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: [
            "requestedBy", "serverFilter", "count", "duration", "priority", "session", "allowRemote", "remoteFqdn", "connectionInfo",
        ])
        let count = try reader.int("count", in: Int64.min...Int64.max)
        guard let count else { throw HostessError(.badRequest, "missing: how many servers to reserve", field: reader.fieldPath("count")) }
        guard count >= 1, count <= Int64(Self.maximumCount) else {
            throw HostessError(.badRequest, "expected 1 to \(Self.maximumCount) servers, found \(count)", field: reader.fieldPath("count"))
        }
        let duration = try reader.int("duration", in: Int64.min...Int64.max)
        if let duration, duration <= 0 || duration > Self.maximumDuration {
            throw HostessError(
                .badRequest, "expected milliseconds from 1 to \(Self.maximumDuration) (30 days), found \(duration)",
                field: reader.fieldPath("duration"))
        }
        let priority = try reader.int("priority", in: Int64(Self.priorities.lowerBound)...Int64(Self.priorities.upperBound)) ?? 0
        let requestedBy = try reader.string("requestedBy")
        if let requestedBy {
            guard !requestedBy.isEmpty, requestedBy.utf8.count <= Self.maximumRequestedByBytes,
                requestedBy.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
            else {
                throw HostessError(
                    .badRequest, "expected 1 to \(Self.maximumRequestedByBytes) bytes of printable text", field: reader.fieldPath("requestedBy"))
            }
        }
        let filter = try ServerFilter(reader: try reader.reader("serverFilter") ?? JSONReader(JSONObject(), path: reader.fieldPath("serverFilter")))
        let remoteFqdn = try reader.string("remoteFqdn")
        if let remoteFqdn, !ServerName.isValidFQDN(remoteFqdn) {
            throw HostessError(.badRequest, "expected the requesting Hostess's host name (letters, digits, '-' and '.'), found '\(remoteFqdn)'", field: reader.fieldPath("remoteFqdn"))
        }
        self.init(
            requestedBy: requestedBy, filter: filter, count: Int(count), duration: duration, priority: Int(priority),
            session: try reader.bool("session") ?? false, allowRemote: try reader.bool("allowRemote") ?? false, remoteFqdn: remoteFqdn,
            connectionInfo: try reader.reader("connectionInfo").map { reader throws(HostessError) in try ConnectionInfo(reader: reader) })
    }

    /// The request in its wire form.
    public var json: JSONValue {
        var object: JSONObject = ["serverFilter": filter.json, "count": .int(Int64(count)), "priority": .int(Int64(priority))]
        if let requestedBy { object["requestedBy"] = .string(requestedBy) }
        if let duration { object["duration"] = .int(duration) }
        if session { object["session"] = true }
        if allowRemote { object["allowRemote"] = true }
        if let remoteFqdn { object["remoteFqdn"] = .string(remoteFqdn) }
        if let connectionInfo { object["connectionInfo"] = connectionInfo.json }
        return .object(object)
    }
}

// MARK: - Wire form

extension Reservation {
    /// The reservation in its wire form; `servers` are the held entries as the guest book has them now.
    public func json(servers: [GuestBookEntry]) -> JSONValue {
        var holderObject = JSONObject()
        switch holder {
        case .user(let uid): holderObject["uid"] = .int(Int64(uid))
        case .key(let key): holderObject["key"] = .string(key)
        }
        var object: JSONObject = [
            "id": .string(id),
            "requestedBy": .string(requestedBy),
            "holder": .object(holderObject),
            "serverFilter": filter.json,
            "count": .int(Int64(count)),
            "servers": .array(servers.map(\.json)),
            "serverIds": .array(serverIDs.map(JSONValue.string)),
            "released": .array(
                released.map { ["serverId": .string($0.serverID), "reason": .string($0.reason), "at": .int($0.at)] }),
            "createdAt": .int(createdAt),
            "duration": duration.map(JSONValue.int) ?? .null,
            "expiresAt": expiresAt.map(JSONValue.int) ?? .null,
            "priority": .int(Int64(priority)),
            "status": .string(status.rawValue),
            "token": .int(Int64(clamping: token)),
            "session": .bool(session),
            "preemptedBy": preemptedBy.map(JSONValue.string) ?? .null,
            "endedAt": endedAt.map(JSONValue.int) ?? .null,
            "reason": reason.map(JSONValue.string) ?? .null,
        ]
        if !remote.isEmpty { object["remote"] = .array(remote.map(\.json)) }
        if let remoteFqdn { object["remoteFqdn"] = .string(remoteFqdn) }
        if let connectionInfo { object["connectionInfo"] = connectionInfo.json }
        return .object(object)
    }

    /// Reads a reservation in its wire form (a reply, or the daemon's saved state).
    public init(json: JSONValue) throws(HostessError) {
        let reader = try JSONReader(json, path: "reservation")
        let holderReader = try reader.requireReader("holder")
        let holder: Holder
        if let key = try holderReader.string("key") {
            holder = .key(key)
        } else if let uid = try holderReader.int("uid", in: 0...Int64(UInt32.max)) {
            holder = .user(uid: UInt32(uid))
        } else {
            throw HostessError(.badRequest, "expected uid or key", field: holderReader.path)
        }
        guard let status = Status(rawValue: try reader.requireString("status")) else {
            throw HostessError(.badRequest, "expected one of \(Status.allCases.map(\.rawValue))", field: reader.fieldPath("status"))
        }
        var releases: [Release] = []
        if case .array(let items)? = try reader.has("released") ? reader.require("released") : nil {
            for (index, item) in items.enumerated() {
                let release = try JSONReader(item, path: reader.fieldPath("released[\(index)]"))
                releases.append(
                    Release(
                        serverID: try release.requireString("serverId"), reason: try release.requireString("reason"),
                        at: try release.int("at", in: Int64.min...Int64.max) ?? 0))
            }
        }
        self.init(
            id: try reader.requireString("id"), requestedBy: try reader.requireString("requestedBy"), holder: holder,
            filter: try ServerFilter(reader: try reader.requireReader("serverFilter")),
            count: Int(try reader.int("count", in: 0...Int64(ReservationRequest.maximumCount)) ?? 0),
            serverIDs: try reader.strings("serverIds") ?? [],
            createdAt: try reader.int("createdAt", in: Int64.min...Int64.max) ?? 0,
            duration: try reader.int("duration", in: 1...ReservationRequest.maximumDuration),
            priority: Int(try reader.int("priority", in: Int64(ReservationRequest.priorities.lowerBound)...Int64(ReservationRequest.priorities.upperBound)) ?? 0),
            token: UInt64(try reader.int("token", in: 0...Int64.max) ?? 0), session: try reader.bool("session") ?? false)
        self.status = status
        released = releases
        preemptedBy = try reader.string("preemptedBy")
        endedAt = try reader.int("endedAt", in: Int64.min...Int64.max)
        reason = try reader.string("reason")
        if case .array(let items)? = try reader.has("remote") ? reader.require("remote") : nil {
            guard items.count <= ReservationRequest.maximumCount else {
                throw HostessError(.badRequest, "expected at most \(ReservationRequest.maximumCount) parts", field: reader.fieldPath("remote"))
            }
            for (index, item) in items.enumerated() { remote.append(try RemotePart(json: item, path: reader.fieldPath("remote[\(index)]"))) }
        }
        remoteFqdn = try reader.string("remoteFqdn")
        connectionInfo = try reader.reader("connectionInfo").map { reader throws(HostessError) in try ConnectionInfo(reader: reader) }
    }
}

// MARK: - RemotePart wire form

extension Reservation.RemotePart {
    /// `{"hostess": {"fqdn", "hostessId", "endpoint"}, "reservationId", "serverIds", "servers", "token", "state", "reason"}`.
    public var json: JSONValue {
        [
            "hostess": ["fqdn": .string(fqdn), "hostessId": .string(hostessID), "endpoint": .string(endpoint)],
            "reservationId": .string(reservationID), "serverIds": .array(serverIDs.map(JSONValue.string)),
            "servers": .array(servers.map(\.json)), "token": .int(Int64(clamping: token)), "state": .string(state.rawValue),
            "reason": reason.map(JSONValue.string) ?? .null,
        ]
    }

    /// Reads a part in its wire form (a reply, or the daemon's saved state).
    public init(json: JSONValue, path: String) throws(HostessError) {
        let reader = try JSONReader(json, path: path)
        let hostess = try reader.requireReader("hostess")
        guard let state = State(rawValue: try reader.requireString("state")) else {
            throw HostessError(.badRequest, "expected one of \(State.allCases.map(\.rawValue))", field: reader.fieldPath("state"))
        }
        var servers: [GuestBookEntry] = []
        if case .array(let items)? = try reader.has("servers") ? reader.require("servers") : nil {
            for item in items.prefix(ReservationRequest.maximumCount) { servers.append(try GuestBookEntry(json: item)) }
        }
        self.init(
            fqdn: try hostess.requireString("fqdn"), hostessID: try hostess.requireString("hostessId"), endpoint: try hostess.requireString("endpoint"),
            reservationID: try reader.requireString("reservationId"), serverIDs: try reader.strings("serverIds") ?? [], servers: servers,
            token: UInt64(try reader.int("token", in: 0...Int64.max) ?? 0))
        self.state = state
        reason = try reader.string("reason")
    }
}

// MARK: - ReservationReply

/// A reservation as a reply carries it: the reservation, and the entries it holds as the guest book had them.
public struct ReservationReply: Hashable, Sendable {
    /// The reservation.
    public var reservation: Reservation
    /// The held entries (empty once it ended).
    public var servers: [GuestBookEntry]

    /// A reservation and the entries it holds.
    public init(reservation: Reservation, servers: [GuestBookEntry]) {
        self.reservation = reservation
        self.servers = servers
    }

    /// Reads a reply's `reservation` object.
    public init(json: JSONValue) throws(HostessError) {
        reservation = try Reservation(json: json)
        var servers: [GuestBookEntry] = []
        if case .array(let items)? = json.objectValue?["servers"] {
            for item in items { servers.append(try GuestBookEntry(json: item)) }
        }
        self.servers = servers
    }
}
