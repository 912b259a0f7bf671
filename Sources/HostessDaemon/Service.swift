import HostessModel
import HostessSystem

// MARK: - Service

/// The protocol's commands over the guest book: reads a request object, applies it, builds the reply.
///
/// No I/O: the event loop hands it parsed requests with the caller's kernel-reported identity and the time,
/// and writes back what it returns. A `watch` that cannot be answered yet comes back as ``Outcome/park(_:)``.
public struct Service: Sendable {
    /// Counters reported by `status`.
    public struct Counters: Sendable {
        /// Requests answered, errors included.
        public var requests: UInt64 = 0
        /// Registrations that created an entry (updates not counted).
        public var registrations: UInt64 = 0
        /// Entries removed because they missed their heartbeats.
        public var evictions: UInt64 = 0
        /// Entries removed because their session connection closed.
        public var sessionEnds: UInt64 = 0
    }

    /// A watch waiting for the revision to pass `sinceRevision`.
    public struct Watch: Sendable {
        /// The request id to answer with.
        public var requestID: JSONValue
        /// The revision the watcher has seen.
        public var sinceRevision: UInt64
        /// CLOCK_MONOTONIC nanoseconds at which to answer "unchanged".
        public var deadline: UInt64
    }

    /// What to do with a request.
    public enum Outcome: Sendable {
        /// Send this reply now.
        case reply(JSONValue)
        /// Hold the request until the revision passes or the deadline comes.
        case park(Watch)
    }

    /// The commands, as they appear in a request's `command`.
    public static let commands = [
        "register", "unregister", "heartbeat", "getServer", "listAll", "query", "markInUse", "markAvailable", "watch",
        "status", "reserve", "cancelReservation", "getReservation", "listReservations", "queryCapabilities",
    ]

    /// The longest a watch may wait, in seconds.
    public static let maximumWatchSeconds = 300.0

    /// The guest book.
    public private(set) var book: GuestBook
    /// The counters.
    public var counters = Counters()
    /// Seconds between the heartbeats clients should send.
    public let heartbeatInterval: Double
    /// Extra facts `status` reports (version, socket path, pid).
    public var statusFacts: JSONObject = [:]
    /// How long ended reservations are kept for inspection, in milliseconds.
    public var reservationRetention: Int64 = 600_000

    /// The limits on reservations (see ``ReservationPolicy``).
    public var reservationPolicy: ReservationPolicy {
        get { book.reservationPolicy }
        set { book.reservationPolicy = newValue }
    }

    /// Heartbeats handled since ``takeHeartbeats()`` was last called: id and wall-clock time.
    public private(set) var heartbeats: [(id: String, wallMilliseconds: Int64)] = []

    /// A service over an empty guest book.
    public init(ttlSeconds: Double, heartbeatInterval: Double, capacity: GuestBook.Capacity = .unlimited) {
        book = GuestBook(ttlNanoseconds: UInt64(ttlSeconds * 1e9), capacity: capacity)
        self.heartbeatInterval = heartbeatInterval
    }

    /// Returns and forgets the heartbeats handled since the last call.
    public mutating func takeHeartbeats() -> [(id: String, wallMilliseconds: Int64)] {
        defer { heartbeats.removeAll(keepingCapacity: true) }
        return heartbeats
    }

    /// Restores the reservations a previous daemon saved (see ``GuestBook/restoreReservations(_:lastToken:now:)``).
    public mutating func restoreReservations(_ reservations: [Reservation], lastToken: UInt64, now: Timestamp) {
        book.restoreReservations(reservations, lastToken: lastToken, now: now)
    }

    /// Restores entries a previous daemon published (see ``GuestBook/restore(_:revision:now:)``).
    public mutating func restore(_ entries: [GuestBookEntry], revision: UInt64, now: Timestamp) -> [(entry: GuestBookEntry, error: HostessError)] {
        book.restore(entries, revision: revision, now: now)
    }

    // MARK: Requests

    /// Handles one request line.
    /// - Parameters:
    ///   - line: the bytes of the line, without its newline.
    ///   - caller: who sent it, from the kernel.
    ///   - connection: the sending connection, for session-bound registrations.
    ///   - now: the current time.
    public mutating func handle(line: some Collection<UInt8>, caller: Caller, connection: UInt64, now: Timestamp) -> Outcome {
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch {
            counters.requests += 1
            return .reply(reply(id: .null, error: HostessError(.parseError, error.description)))
        }
        guard case .object(let object) = value else {
            counters.requests += 1
            return .reply(reply(id: .null, error: HostessError(.badRequest, "a request is a JSON object, found \(value.typeName)")))
        }
        return handle(request: object, caller: caller, connection: connection, now: now)
    }

    /// Handles one request object (a parsed line, or what the HTTP interface builds from a request).
    public mutating func handle(request object: JSONObject, caller: Caller, connection: UInt64, now: Timestamp) -> Outcome {
        counters.requests += 1
        let requestID = object["id"] ?? .null
        do throws(HostessError) {
            switch requestID {
            case .null, .int, .string: break
            default: throw HostessError(.badRequest, "expected an integer or a string, found \(requestID.typeName)", field: "id")
            }
            return try execute(JSONReader(object), id: requestID, caller: caller, connection: connection, now: now)
        } catch {
            // An id of the wrong type is not echoed back: the reply's id is always an integer, a string or null.
            let echoed: JSONValue
            switch requestID {
            case .null, .int, .string: echoed = requestID
            default: echoed = .null
            }
            return .reply(reply(id: echoed, error: error))
        }
    }

    private mutating func execute(
        _ request: JSONReader, id: JSONValue, caller: Caller, connection: UInt64, now: Timestamp
    ) throws(HostessError) -> Outcome {
        let command = try request.requireString("command")
        func allow(_ keys: Set<String>) throws(HostessError) {
            try request.rejectUnknownKeys(allowed: keys.union(["id", "command"]))
        }
        switch command {
        case "register":
            try allow(["entry", "session"])
            let registration = try Registration(reader: try request.requireReader("entry"))
            let session = try request.bool("session") ?? false
            let (entry, created) = try book.register(
                registration, by: caller, session: session ? connection : nil, now: now)
            if created { counters.registrations += 1 }
            return .reply(
                reply(
                    id: id,
                    result: [
                        "entry": entry.json, "created": .bool(created),
                        "ttl": .double(Double(book.ttlNanoseconds) / 1e9), "heartbeatInterval": .double(heartbeatInterval),
                    ]))
        case "unregister":
            try allow(["serverId"])
            let entry = try book.unregister(id: try serverID(request), by: caller, now: now)
            return .reply(reply(id: id, result: ["entry": entry.json]))
        case "heartbeat":
            try allow(["serverId"])
            let entry = try book.heartbeat(id: try serverID(request), by: caller, now: now)
            heartbeats.append((entry.id, entry.lastHeartbeat))
            return .reply(reply(id: id, result: ["serverId": .string(entry.id), "lastHeartbeat": .int(entry.lastHeartbeat)]))
        case "getServer":
            try allow(["serverId"])
            return .reply(reply(id: id, result: ["entry": try book.entry(id: try serverID(request)).json]))
        case "listAll":
            try allow([])
            return .reply(reply(id: id, result: ["entries": .array(book.all().map(\.json))]))
        case "query":
            try allow(["filter"])
            let filter = try ServerFilter(reader: try request.reader("filter") ?? JSONReader(JSONObject(), path: "filter"))
            return .reply(reply(id: id, result: ["entries": .array(book.query(filter).map(\.json))]))
        case "markInUse":
            try allow(["serverId", "terminal", "connectomeId"])
            let entry = try book.markInUse(
                id: try serverID(request), terminal: try request.requireString("terminal"),
                connectomeID: try request.requireString("connectomeId"), by: caller)
            return .reply(reply(id: id, result: ["entry": entry.json]))
        case "markAvailable":
            try allow(["serverId", "terminal", "connectomeId"])
            let entry = try book.markAvailable(
                id: try serverID(request), terminal: try request.requireString("terminal"),
                connectomeID: try request.string("connectomeId"), by: caller)
            return .reply(reply(id: id, result: ["entry": entry.json]))
        case "watch":
            try allow(["sinceRevision", "timeout"])
            let since = UInt64(try request.int("sinceRevision", in: 0...Int64.max) ?? Int64(clamping: book.revision))
            let timeout = try request.number("timeout", in: 0...Self.maximumWatchSeconds) ?? 30
            let watch = Watch(
                requestID: id, sinceRevision: since, deadline: now.monotonicNanoseconds &+ UInt64(timeout * 1e9))
            if book.revision > since || timeout == 0 { return .reply(answer(watch)) }
            return .park(watch)
        case "reserve":
            try allow(["reservation"])
            let reservationRequest = try ReservationRequest(reader: try request.requireReader("reservation"))
            let reservation = try book.reserve(
                reservationRequest, id: Syscall.randomUUID(), by: caller, session: reservationRequest.session ? connection : nil, now: now)
            return .reply(reply(id: id, result: ["reservation": reservation.json(servers: book.servers(of: reservation))]))
        case "cancelReservation":
            try allow(["reservationId"])
            let reservation = try book.cancelReservation(id: try request.requireString("reservationId"), by: caller, now: now)
            return .reply(reply(id: id, result: ["reservation": reservation.json(servers: [])]))
        case "getReservation":
            try allow(["reservationId"])
            let reservation = try book.reservation(id: try request.requireString("reservationId"))
            return .reply(reply(id: id, result: ["reservation": reservation.json(servers: book.servers(of: reservation))]))
        case "listReservations":
            try allow(["status"])
            var status: Reservation.Status?
            if let text = try request.string("status") {
                guard let known = Reservation.Status(rawValue: text) else {
                    throw HostessError(
                        .badRequest, "expected one of \(Reservation.Status.allCases.map(\.rawValue).joined(separator: ", "))", field: "status")
                }
                status = known
            }
            let listed = book.reservations(status: status).map { $0.json(servers: book.servers(of: $0)) }
            return .reply(reply(id: id, result: ["reservations": .array(listed)]))
        case "queryCapabilities":
            try allow(["filter"])
            let filter = try ServerFilter(reader: try request.reader("filter") ?? JSONReader(JSONObject(), path: "filter"))
            return .reply(reply(id: id, result: ["capabilities": .array(book.capabilitySummary(filter))]))
        case "status":
            try allow([])
            var result = statusFacts
            result["revision"] = .int(Int64(clamping: book.revision))
            result["entries"] = .int(Int64(book.count))
            result["ttl"] = .double(Double(book.ttlNanoseconds) / 1e9)
            result["heartbeatInterval"] = .double(heartbeatInterval)
            result["requests"] = .int(Int64(clamping: counters.requests))
            result["evictions"] = .int(Int64(clamping: counters.evictions))
            result["registrations"] = .int(Int64(clamping: counters.registrations))
            result["sessionEnds"] = .int(Int64(clamping: counters.sessionEnds))
            result["caller"] = ["uid": .int(Int64(caller.uid)), "ownerNames": .array(caller.ownerNames.sorted().map(JSONValue.string))]
            return .reply(reply(id: id, result: .object(result)))
        default:
            throw HostessError(
                .unknownCommand, "unknown command '\(command)'; known: \(Self.commands.joined(separator: ", "))",
                field: "command")
        }
    }

    /// The canonical id named by `serverId`: the name is parsed, so equivalent spellings find the same entry.
    private func serverID(_ request: JSONReader) throws(HostessError) -> String {
        let text = try request.requireString("serverId")
        do { return try ServerName(parsing: text).description } catch {
            throw HostessError(.invalidName, error.message, field: "serverId")
        }
    }

    // MARK: Time-driven changes

    /// Evicts entries whose heartbeats stopped and ends reservations whose duration ran out; returns the
    /// evicted entries.
    public mutating func evictExpired(now: Timestamp) -> [GuestBookEntry] {
        for id in book.expireReservations(now: now, retention: reservationRetention) {
            if let reservation = try? book.reservation(id: id) { Log.info("reservation \(id) of \(reservation.requestedBy) expired") }
        }
        let evicted = book.evictExpired(now: now)
        counters.evictions += UInt64(evicted.count)
        return evicted
    }

    /// Moves heartbeat deadlines later by the time the loop did not run (see ``GuestBook/postponeDeadlines(by:)``).
    public mutating func postponeDeadlines(by nanoseconds: UInt64) { book.postponeDeadlines(by: nanoseconds) }

    /// Removes the entries bound to a closed connection; returns them.
    public mutating func endSession(connection: UInt64, now: Timestamp) -> [GuestBookEntry] {
        let ended = book.endSession(connection: connection, now: now)
        counters.sessionEnds += UInt64(ended.count)
        return ended
    }

    // MARK: Replies

    /// The reply to a watch: whether the revision passed, and the changes since, when the log still has them.
    public func answer(_ watch: Watch) -> JSONValue {
        let changed = book.revision > watch.sinceRevision
        var result: JSONObject = ["changed": .bool(changed)]
        if let changes = book.changes(since: watch.sinceRevision) {
            result["changes"] = .array(changes.map(\.json))
        } else {
            result["changes"] = .null
        }
        return reply(id: watch.requestID, result: .object(result))
    }

    /// A success reply.
    public func reply(id: JSONValue, result: JSONValue) -> JSONValue {
        ["id": id, "revision": .int(Int64(clamping: book.revision)), "result": result]
    }

    /// An error reply.
    public func reply(id: JSONValue, error: HostessError) -> JSONValue {
        ["id": id, "revision": .int(Int64(clamping: book.revision)), "error": error.json]
    }
}
