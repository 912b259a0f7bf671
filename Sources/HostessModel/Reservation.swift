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

    /// A request.
    public init(
        requestedBy: String? = nil, filter: ServerFilter, count: Int, duration: Int64? = nil, priority: Int = 0, session: Bool = false
    ) {
        self.requestedBy = requestedBy
        self.filter = filter
        self.count = count
        self.duration = duration
        self.priority = priority
        self.session = session
    }

    /// Reads a request object: `{"requestedBy"?, "serverFilter", "count", "duration"? (ms), "priority"?,
    /// "session"?}`. Every error names its field.
    public init(reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: ["requestedBy", "serverFilter", "count", "duration", "priority", "session"])
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
        self.init(
            requestedBy: requestedBy, filter: filter, count: Int(count), duration: duration, priority: Int(priority),
            session: try reader.bool("session") ?? false)
    }

    /// The request in its wire form.
    public var json: JSONValue {
        var object: JSONObject = ["serverFilter": filter.json, "count": .int(Int64(count)), "priority": .int(Int64(priority))]
        if let requestedBy { object["requestedBy"] = .string(requestedBy) }
        if let duration { object["duration"] = .int(duration) }
        if session { object["session"] = true }
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
        return .object([
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
        ])
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
