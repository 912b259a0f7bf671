import Glibc
import HostessMesh
import HostessModel
import HostessProbing
import HostessSystem

// MARK: - Service

/// The protocol's commands over the guest book: the executor of ``Command``s, and the line protocol's
/// decoding and encoding around it.
///
/// No I/O: the event loop hands it request lines with the caller's kernel-reported identity and the time,
/// and writes back what it returns; the HTTP interface hands ``execute(_:caller:connection:now:)`` the commands
/// its routes decode. A `watch` that cannot be answered yet comes back as ``Outcome/park(_:)``.
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
        /// Send this reply now, already in its wire form (without the newline): a list of entries written
        /// from the bytes the guest book keeps for them.
        case raw([UInt8])
        /// Hold the request until the revision passes or the deadline comes.
        case park(Watch)
        /// Work that involves the peers (see ``Across``): answer `requestID` once it is done.
        case remote(requestID: JSONValue, across: Across)
    }

    /// What a command asks of the peer Hostesses; its interface starts it (``Registry/across(_:caller:connection:completion:)``).
    public enum Across: Hashable, Sendable {
        /// A query whose scope is `remote` or `all`: the peers are asked too, and the answers merged.
        case query(ServerFilter)
        /// `markInUse` or `markAvailable` of an entry another Hostess holds: forwarded there.
        case forward(Command, ServerName)
        /// A reservation with `allowRemote` this guest book cannot satisfy alone: peers hold the rest.
        case reserve(ReservationRequest)
        /// A probe run (the Executor's): it answers when the beacon and probe are done.
        case probe(ProbeRequest)
    }

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

    /// The other Hostesses heard from on the mesh, when this one announces (`--announce`).
    public var peers: PeerTable?
    /// The fleet directory's state, with `--directory` (``Directory`` renews it).
    public var directory: DirectoryStatus?
    /// This Hostess's latest announcement datagram, as `GET /announcement` serves it to peers that poll.
    public var announcement: [UInt8]?
    /// The connection methods known to work (this Hostess's own from its probe runs).
    public var connectionMethods = ConnectionMethodCache(ttl: 300_000)
    /// This Hostess's host name, as its announcements and connection methods name it.
    public var fqdn = "localhost"

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

    /// Records that a peer Hostess came, changed or went, as a change `watch` sees (its id the hostessId).
    public mutating func notePeer(_ kind: Change.Kind, hostessID: String) { book.note(kind, id: hostessID) }

    // MARK: Reservations across the mesh

    /// Makes the local reservation of a request with `allowRemote` whose missing servers `remote`'s peers hold.
    public mutating func reserve(
        _ request: ReservationRequest, by caller: Caller, connection: UInt64, now: Timestamp, remote: [Reservation.RemotePart]
    ) throws(HostessError) -> ReservationReply {
        let reservation = try book.reserve(
            request, id: Syscall.randomUUID(), by: caller, session: request.session ? connection : nil, now: now, remote: remote)
        Self.logMade(reservation)
        return book.reply(for: reservation)
    }

    /// One line per reservation made, so the log tells making from cancelling and expiring.
    private static func logMade(_ reservation: Reservation) {
        let until = reservation.duration.map { "for \($0 / 1000) s" } ?? "until cancelled"
        Log.info(
            "reservation \(reservation.id) made for \(reservation.requestedBy) by \(reservation.holder): \(reservation.heldCount) of \(reservation.count) servers held, \(until)")
    }

    /// A peer went stale: its parts turn `lost` (see ``GuestBook/loseRemoteParts(hostessID:reason:now:)``).
    public mutating func loseRemoteParts(hostessID: String, reason: String, now: Timestamp) -> [String] {
        book.loseRemoteParts(hostessID: hostessID, reason: reason, now: now)
    }

    /// The parts whose peers must be asked to cancel them, each once.
    public mutating func takeRemoteReleases() -> [(reservationID: String, part: Reservation.RemotePart)] { book.takeRemoteReleases() }

    /// Records how a peer answered the cancellation of a part.
    public mutating func noteRemoteRelease(reservationID: String, peerReservationID: String, reason: String) {
        book.noteRemoteRelease(reservationID: reservationID, peerReservationID: peerReservationID, reason: reason)
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

    /// Handles one request line: decodes it, runs it, and encodes the reply.
    /// - Parameters:
    ///   - line: the bytes of the line, without its newline.
    ///   - caller: who sent it, from the kernel.
    ///   - connection: the sending connection, for session-bound registrations and reservations.
    ///   - now: the current time.
    public mutating func handle(line: some Collection<UInt8>, caller: Caller, connection: UInt64, now: Timestamp) -> Outcome {
        counters.requests += 1
        let request: Request
        do { request = try Request(line: line) } catch { return .reply(reply(id: error.id, error: error.error)) }
        do throws(HostessError) {
            switch try execute(request.command, caller: caller, connection: connection, now: now) {
            case .done(.entries(let entries)): return .raw(entriesReply(id: request.id, entries))
            case .done(.entry(let entry)): return .raw(entryReply(id: request.id, entry))
            case .done(let result): return .reply(reply(id: request.id, result: result.json))
            case .park(let sinceRevision, let deadline):
                return .park(Watch(requestID: request.id, sinceRevision: sinceRevision, deadline: deadline))
            case .remote(let across): return .remote(requestID: request.id, across: across)
            }
        } catch {
            return .reply(reply(id: request.id, error: error))
        }
    }

    // MARK: Executing

    /// What running a command came to.
    public enum Execution: Hashable, Sendable {
        /// The command is done.
        case done(CommandResult)
        /// A watch that must wait until the revision passes `sinceRevision` or the monotonic clock reaches
        /// `deadline` (nanoseconds).
        case park(sinceRevision: UInt64, deadline: UInt64)
        /// Work that involves the peers: its interface starts it.
        case remote(Across)
    }

    /// Runs a command against the guest book for `caller`.
    /// - Parameters:
    ///   - command: the decoded command.
    ///   - caller: who asks: the kernel's record of a socket peer, or an HTTP signing key's owners.
    ///   - connection: the asking connection, which session-bound entries and reservations are bound to.
    ///   - now: the current time.
    /// - Throws: the command's refusal: `forbidden`, `not_found`, `conflict`, `capacity`, `too_large`, `bad_request`.
    public mutating func execute(_ command: Command, caller: Caller, connection: UInt64, now: Timestamp) throws(HostessError) -> Execution {
        switch command {
        case .query(let filter) where filter.scope != .local: return .remote(.query(filter))
        case .queryCapabilities(let filter) where filter.scope != .local:
            throw HostessError(.badRequest, "scope is for query; queryCapabilities reads this Hostess's guest book (peers' summaries: listPeers)", field: "filter.scope")
        case .reserve(let request) where request.filter.scope != .local:
            throw HostessError(
                .badRequest, "a reservation's filter has no scope; set allowRemote to let peers hold what this guest book lacks",
                field: "reservation.serverFilter.scope")
        case .reserve(let request) where request.allowRemote:
            return try reserveAllowingRemote(request, caller: caller, connection: connection, now: now)
        case .probe(let request):
            // A run binds tens of thousands of ports and scans as many: not for every local user.
            guard caller.key == nil, caller.isRoot || caller.uid == geteuid() else {
                throw HostessError(.forbidden, "\(caller) may not run a probe; only root and hostessd's own user may", field: "command")
            }
            return .remote(.probe(request))
        case .markInUse(let name, _, _) where forwards(name, caller: caller), .markAvailable(let name, _, _) where forwards(name, caller: caller):
            guard caller.mayActAs(owner: name.owner) else {
                throw HostessError(
                    .forbidden, "\(caller) may not mark terminals of '\(name)': owner '\(name.owner)' is not among the owner names it may act as",
                    field: "owner")
            }
            return .remote(.forward(command, name))
        default: break
        }
        if let result = try read(command) { return .done(result) }
        switch command {
        case .register(let registration, let session):
            let (entry, created) = try book.register(registration, by: caller, session: session ? connection : nil, now: now)
            if created { counters.registrations += 1 }
            return .done(.registered(entry, created: created, ttl: ttlSeconds, heartbeatInterval: heartbeatInterval))
        case .unregister(let name):
            return .done(.entry(try book.unregister(id: name.description, by: caller, now: now)))
        case .heartbeat(let name):
            let entry = try book.heartbeat(id: name.description, by: caller, now: now)
            heartbeats.append((entry.id, entry.lastHeartbeat))
            return .done(.heartbeat(serverID: entry.id, lastHeartbeat: entry.lastHeartbeat))
        case .markInUse(let name, let terminal, let connectomeID):
            return .done(.entry(try book.markInUse(id: name.description, terminal: terminal, connectomeID: connectomeID, by: caller)))
        case .markAvailable(let name, let terminal, let connectomeID):
            return .done(.entry(try book.markAvailable(id: name.description, terminal: terminal, connectomeID: connectomeID, by: caller)))
        case .watch(let sinceRevision, let timeout):
            let since = sinceRevision ?? book.revision
            if book.revision > since || timeout == 0 { return .done(watchResult(since: since)) }
            return .park(sinceRevision: since, deadline: now.monotonicNanoseconds &+ UInt64(timeout * 1e9))
        case .status:
            return .done(.status(status(caller: caller)))
        case .reserve(let request):
            let reservation = try book.reserve(
                request, id: Syscall.randomUUID(), by: caller, session: request.session ? connection : nil, now: now)
            Self.logMade(reservation)
            return .done(.reservation(book.reply(for: reservation)))
        case .cancelReservation(let id):
            let cancelled = try book.cancelReservation(id: id, by: caller, now: now)
            Log.info("reservation \(id) of \(cancelled.requestedBy) cancelled by \(caller): its servers are free")
            return .done(.reservation(ReservationReply(reservation: cancelled, servers: [])))
        case .recordConnectome(let connectome):
            let (record, created) = try book.recordConnectome(connectome, by: caller, now: now)
            return .done(.recordedConnectome(record, created: created))
        case .removeConnectome(let id):
            return .done(.connectome(try book.removeConnectome(id: id, by: caller)))
        case .getServer, .listAll, .query, .queryCapabilities, .getReservation, .listReservations, .getConnectome, .listConnectomes, .listPeers,
            .probe, .listConnectionMethods:
            throw HostessError(.internal, "\(command.kind.rawValue) was not answered as a read")
        }
    }

    /// Whether a terminal change of `name` goes to a peer: a local caller, a mesh, and no such entry here.
    /// Callers over HTTP are peers themselves and are never forwarded further.
    private func forwards(_ name: ServerName, caller: Caller) -> Bool {
        caller.key == nil && peers != nil && (try? book.entry(id: name.description)) == nil
    }

    /// A reservation with `allowRemote`: made here when this guest book can hold it all; otherwise, with a
    /// mesh, peers are asked for the rest. Over HTTP (a peer asking) it is refused: parts are never passed on.
    private mutating func reserveAllowingRemote(
        _ request: ReservationRequest, caller: Caller, connection: UInt64, now: Timestamp
    ) throws(HostessError) -> Execution {
        guard caller.key == nil else {
            throw HostessError(.badRequest, "allowRemote is for local callers; a peer's reservation is served from this guest book alone", field: "reservation.allowRemote")
        }
        var local = request
        local.allowRemote = false
        do {
            return try execute(.reserve(local), caller: caller, connection: connection, now: now)
        } catch where error.code == .conflict && peers != nil {
            _ = try book.admitReservation(request, by: caller)
            return .remote(.reserve(request))
        }
    }

    /// The result of a command that only reads (the guest book, or the peer table), or nil for one that
    /// changes something or waits.
    public func read(_ command: Command) throws(HostessError) -> CommandResult? {
        if case .listPeers = command { return .peers(peers?.peers ?? [], announcing: peers != nil) }
        if case .listConnectionMethods(let fqdn) = command {
            let id = statusFacts["instanceId"]?.stringValue ?? ""
            return .connectionMethods(
                connectionMethods.json(fqdn: fqdn, ownFqdn: self.fqdn, ownID: id, peers: peers?.peers ?? [], now: SystemClock.wallMilliseconds()))
        }
        return try command.read(book)
    }

    /// Seconds an entry lives without a heartbeat.
    private var ttlSeconds: Double { Double(book.ttlNanoseconds) / 1e9 }

    /// The facts `status` reports to `caller`, in their wire order.
    private func status(caller: Caller) -> JSONObject {
        var result = statusFacts
        result["revision"] = .int(Int64(clamping: book.revision))
        result["entries"] = .int(Int64(book.count))
        result["ttl"] = .double(ttlSeconds)
        result["heartbeatInterval"] = .double(heartbeatInterval)
        result["requests"] = .int(Int64(clamping: counters.requests))
        result["evictions"] = .int(Int64(clamping: counters.evictions))
        result["registrations"] = .int(Int64(clamping: counters.registrations))
        result["sessionEnds"] = .int(Int64(clamping: counters.sessionEnds))
        result["caller"] = ["uid": .int(Int64(caller.uid)), "ownerNames": .array(caller.ownerNames.sorted().map(JSONValue.string))]
        if let directory { result["directory"] = directory.json }
        return result
    }

    /// A watch's answer: whether the revision passed `since`, and the changes since, when the log has them.
    private func watchResult(since: UInt64) -> CommandResult {
        .watched(changed: book.revision > since, changes: book.changes(since: since))
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

    /// Removes the entries bound to a closed connection; returns them.
    public mutating func endSession(connection: UInt64, now: Timestamp) -> [GuestBookEntry] {
        let ended = book.endSession(connection: connection, now: now)
        counters.sessionEnds += UInt64(ended.count)
        return ended
    }

    // MARK: Replies

    /// The reply to a parked watch, as the guest book stands now.
    public func answer(_ watch: Watch) -> JSONValue {
        reply(id: watch.requestID, result: watchResult(since: watch.sinceRevision).json)
    }

    /// `{"id","revision","result":{"entries":[…]}}`, the entries written from their kept wire form: byte for
    /// byte what ``reply(id:result:)`` gives for `.entries`, without a JSON tree per entry.
    func entriesReply(id: JSONValue, _ list: EntryList) -> [UInt8] {
        wireReply(id: id, member: "entries", capacity: list.byteCount) { list.write(into: &$0) }
    }

    /// `{"id","revision","result":{"entry":…}}`, the entry written from its kept wire form (see ``entriesReply(id:_:)``).
    func entryReply(id: JSONValue, _ entry: GuestBookEntry) -> [UInt8] {
        wireReply(id: id, member: "entry", capacity: 1024) { book.writeWire(of: entry, into: &$0) }
    }

    /// A success reply whose result has one member, written by `body`.
    private func wireReply(id: JSONValue, member: String, capacity: Int, _ body: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = Array(#"{"id":"#.utf8)
        bytes.reserveCapacity(64 + capacity)
        id.write(into: &bytes)
        bytes += Array(#","revision":"#.utf8)
        bytes += Array(String(book.revision).utf8)
        bytes += Array(#","result":{""#.utf8) + Array(member.utf8) + Array(#"":"#.utf8)
        body(&bytes)
        bytes += Array("}}".utf8)
        return bytes
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
