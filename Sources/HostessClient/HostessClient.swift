import Glibc
import HostessModel
import HostessSystem
import Synchronization

// MARK: - HostessClient

/// What a server links to sign the guest book and to find other servers.
///
/// ```swift
/// let hostess = try HostessClient()
/// let registered = try await hostess.register(manifest: Self.manifest, fqdn: hostName)
/// // heartbeats now run in the background, at the interval hostessd asks for
/// let renderers = try await hostess.query(ServerFilter(classCode: ClassCode(0x0002), capabilities: ["gpu"]))
/// ```
///
/// Registered servers are heartbeated automatically. If hostessd no longer knows one (it was evicted while the
/// server was stopped in a debugger, say), the next heartbeat registers it again.
///
/// **Restarts.** When the connection closes (hostessd stopped, crashed or restarted), the heartbeat loop
/// notices at once, reconnects with exponential backoff and jitter (``ReconnectPolicy``), and registers every
/// registration again, with the same id and the same registration. A session-bound one is registered again
/// with `session: true`, so it is bound to the new connection and still ends with this client. Each outage is
/// reported once when it begins and once when it ends (``ConnectionEvent``; by default one line on standard
/// error), or once when the client gives up. Any other request made while the connection is down tries one
/// reconnection at once and fails with `disconnected` if that fails.
public final class HostessClient: Sendable {
    /// A registration the heartbeats keep alive.
    private struct Registered {
        var registration: Registration
        var session: Bool
        /// The connection it was last registered on: one not registered on the current connection is
        /// registered again, not heartbeated.
        var generation: UInt64
    }

    /// A time when the registrations are not all in hostessd's guest book as far as the client knows.
    private struct Outage {
        /// When it began (CLOCK_MONOTONIC ns).
        var since: UInt64
        /// Failed reconnection rounds so far, for the backoff.
        var attempts: Int
    }

    private struct State {
        var connection: ProtocolConnection
        /// Counts connections: the current one's number.
        var generation: UInt64 = 1
        var registrations: [String: Registered] = [:]
        var heartbeatInterval = 5.0
        var heartbeats: Task<Void, Never>?
        var outage: Outage?
        var closed = false
    }

    /// The daemon's socket.
    public let socketPath: String
    /// How registrations come back after the connection is lost.
    public let reconnectPolicy: ReconnectPolicy
    private let events: @Sendable (ConnectionEvent) -> Void
    private let heartbeatExecutor = HeartbeatExecutor()
    private let doorbell: Doorbell
    private let state: Mutex<State>

    /// The current protocol connection, for commands this type does not wrap. After an outage it is a new one.
    public var connection: ProtocolConnection { state.withLock { $0.connection } }

    /// Connects to hostessd at `socketPath`, or at `$HOSTESS_SOCKET`, or at the default path.
    /// - Parameters:
    ///   - reconnect: how registrations come back after the connection is lost.
    ///   - events: told when an outage begins and ends; by default one line on standard error each.
    /// - Throws: `disconnected` when hostessd cannot be reached now.
    public init(
        socketPath: String? = nil, reconnect: ReconnectPolicy = ReconnectPolicy(),
        events: @escaping @Sendable (ConnectionEvent) -> Void = HostessClient.logToStandardError
    ) throws(HostessError) {
        let path = socketPath ?? HostessClient.defaultSocketPath
        self.socketPath = path
        reconnectPolicy = reconnect
        self.events = events
        let doorbell = Doorbell(queue: heartbeatExecutor.queue)
        self.doorbell = doorbell
        state = Mutex(State(connection: try ProtocolConnection(socketPath: path, onClose: { [doorbell] _ in doorbell.ring() })))
    }

    deinit { close() }

    /// `$HOSTESS_SOCKET`, else `/run/hostess/hostess.sock` for root, else `$XDG_RUNTIME_DIR/hostess/hostess.sock`.
    public static var defaultSocketPath: String { DefaultPaths.socket(environment: EnvironmentVariables.current) }

    /// Stops heartbeats and closes the connection for good. Session-bound entries end with it.
    public func close() {
        let (heartbeats, connection) = state.withLock { state in
            state.closed = true
            defer { state.heartbeats = nil }
            return (state.heartbeats, state.connection)
        }
        heartbeats?.cancel()
        doorbell.ring()
        connection.close()
    }

    // MARK: Registering

    /// Registers one running instance of the server a manifest describes.
    /// - Parameters:
    ///   - manifest: the server's compiled-in manifest.
    ///   - fqdn: the machine's name at run time (default: the host name).
    ///   - uuid: the instance's UUID (default: a fresh random one).
    ///   - session: whether the entry ends when this client's connection closes (after an outage: the new one).
    /// - Returns: the entry as the guest book holds it.
    @discardableResult
    public func register(
        manifest: ServerManifest, fqdn: String? = nil, uuid: String? = nil, session: Bool = false
    ) async throws(HostessError) -> GuestBookEntry {
        let registration = try manifest.registration(fqdn: fqdn ?? HostIdentity.hostName(), uuid: uuid ?? HostIdentity.randomUUID())
        return try await register(registration, session: session)
    }

    /// Signs the guest book for this process, best effort (the probing programs do, while they run): a
    /// session-bound entry of `name` and `classCode` with this host's name, the process's user as owner and
    /// a fresh UUID, heartbeated until the client closes or the process ends.
    /// - Parameter environment: where `HOSTESS_SOCKET` is read (empty or absent: the default socket).
    /// - Returns: the client holding the entry, or nil when no hostessd took it (the caller goes on without).
    public static func signIn(
        name: String, classCode: ClassCode, capabilities: [String], metadata: JSONObject, environment: [String: String]
    ) async -> HostessClient? {
        guard let client = try? HostessClient(socketPath: environment["HOSTESS_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }) else { return nil }
        let manifest = ServerManifest(
            name: name, classCode: classCode, owner: Syscall.userName(uid: geteuid()) ?? "root", capabilities: capabilities, metadata: metadata)
        guard (try? await client.register(manifest: manifest, session: true)) != nil else {
            client.close()
            return nil
        }
        return client
    }

    /// Registers (or updates, when the id is known) a server and keeps it alive with heartbeats, across
    /// hostessd restarts.
    @discardableResult
    public func register(_ registration: Registration, session: Bool = false) async throws(HostessError) -> GuestBookEntry {
        let (connection, generation) = try liveConnection()
        let reply = try await connection.request("register", ["entry": registration.json, "session": .bool(session)])
        let entry = try GuestBookEntry(json: reply.result["entry"] ?? .null)
        state.withLock { state in
            state.registrations[entry.id] = Registered(registration: registration, session: session, generation: generation)
            if case .double(let interval)? = reply.result["heartbeatInterval"] { state.heartbeatInterval = interval }
            if state.heartbeats == nil && !state.closed { state.heartbeats = startHeartbeats(pause: state.heartbeatInterval) }
        }
        return entry
    }

    /// Replaces what a registered server offers (terminals, capabilities, metadata); connections on terminals
    /// that keep their name and multiplexing are kept.
    @discardableResult
    public func update(_ registration: Registration) async throws(HostessError) -> GuestBookEntry {
        let session = state.withLock { $0.registrations[registration.name.description]?.session } ?? false
        return try await register(registration, session: session)
    }

    /// Removes a server from the guest book and stops its heartbeats.
    public func unregister(_ serverID: String) async throws(HostessError) {
        state.withLock { _ = $0.registrations.removeValue(forKey: serverID) }
        _ = try await send("unregister", ["serverId": .string(serverID)])
    }

    /// Sends one heartbeat now. Registered servers are heartbeated automatically; this is for tools.
    public func heartbeat(_ serverID: String) async throws(HostessError) {
        _ = try await send("heartbeat", ["serverId": .string(serverID)])
    }

    // MARK: Connection and heartbeats

    /// Sends a request on the open connection (see ``liveConnection()``).
    private func send(_ command: String, _ parameters: JSONObject = [:]) async throws(HostessError) -> Reply {
        try await liveConnection().connection.request(command, parameters)
    }

    /// Sends a request answered with `result.entries` on the open connection; they are read straight from the
    /// reply's bytes (``EntryReply``).
    private func sendForEntries(_ command: String, _ parameters: JSONObject = [:]) async throws(HostessError) -> [GuestBookEntry] {
        try await liveConnection().connection.requestEntries(command, parameters)
    }

    /// Sends a request answered with `result.entry` on the open connection; it is read straight from the reply's
    /// bytes (``EntryReply``).
    private func sendForEntry(_ command: String, _ parameters: JSONObject) async throws(HostessError) -> GuestBookEntry {
        try await liveConnection().connection.requestEntry(command, parameters)
    }

    /// The open connection and its number; when it has closed, a new one (one attempt, no backoff). The first
    /// caller to find it closed begins the outage and reports it.
    /// - Parameter wakingHeartbeats: after a reconnection, start a heartbeat round now (it registers the
    ///   entries again); the heartbeat loop itself passes false.
    private func liveConnection(wakingHeartbeats: Bool = true) throws(HostessError) -> (connection: ProtocolConnection, generation: UInt64) {
        var reports: [ConnectionEvent] = []
        var reconnected = false
        let now = SystemClock.monotonicNanoseconds()
        let result = state.withLock { state -> Result<(ProtocolConnection, UInt64), HostessError> in
            guard let reason = state.connection.closedReason else { return .success((state.connection, state.generation)) }
            if state.closed { return .failure(HostessError(.disconnected, "this HostessClient is closed")) }
            if state.outage == nil {
                state.outage = Outage(since: now, attempts: 0)
                reports.append(.lost(socketPath: socketPath, reason: reason))
            }
            do throws(HostessError) {
                state.connection = try ProtocolConnection(socketPath: socketPath, onClose: { [doorbell] _ in doorbell.ring() })
            } catch {
                return .failure(error)
            }
            state.generation += 1
            reconnected = true
            // With nothing to register again the outage is over; otherwise the heartbeat loop ends it.
            if state.registrations.isEmpty, let outage = state.outage {
                state.outage = nil
                reports.append(.restored(socketPath: socketPath, after: Self.seconds(since: outage.since), reregistered: []))
            }
            return .success((state.connection, state.generation))
        }
        for report in reports { events(report) }
        if reconnected && wakingHeartbeats { doorbell.ring() }
        return try result.get()
    }

    /// Starts the heartbeat loop; it holds the client only while it works, not while it waits.
    private func startHeartbeats(pause first: Double) -> Task<Void, Never> {
        Task(executorPreference: heartbeatExecutor) { [weak self, doorbell] in
            var pause = first
            while !Task.isCancelled {
                await doorbell.wait(seconds: pause)
                guard let self, !Task.isCancelled else { return }
                guard let next = await self.heartbeatRound() else { return }
                pause = next
            }
        }
    }

    /// One round: reconnects when needed, registers again what the current connection does not know, and
    /// heartbeats the rest (registering again on `not_found`). Returns the pause before the next round: the
    /// heartbeat interval, or the backoff during an outage; nil to stop (closed, or given up).
    private func heartbeatRound() async -> Double? {
        let connection: ProtocolConnection
        let generation: UInt64
        do { (connection, generation) = try liveConnection(wakingHeartbeats: false) } catch { return pauseInOutage(after: error) }
        let registrations = state.withLock { $0.registrations }
        var failure: HostessError?
        for (id, registered) in registrations {
            do throws(HostessError) {
                if registered.generation == generation {
                    do {
                        _ = try await connection.request("heartbeat", ["serverId": .string(id)])
                        continue
                    } catch where error.code == .notFound {}
                }
                // Unregistered since the round began: `unregister` forgets an id before it sends the request, so a
                // heartbeat its request made `not_found` finds it gone here and does not bring it back.
                guard state.withLock({ $0.registrations[id] != nil }) else { continue }
                let reply = try await connection.request("register", ["entry": registered.registration.json, "session": .bool(registered.session)])
                let forgotten = state.withLock { state in
                    guard state.registrations[id] != nil else { return true }
                    state.registrations[id]?.generation = generation
                    if case .double(let interval)? = reply.result["heartbeatInterval"] { state.heartbeatInterval = interval }
                    return false
                }
                // Unregistered while this round registered it again: take it out again.
                if forgotten { _ = try await connection.request("unregister", ["serverId": .string(id)]) }
            } catch {
                failure = error
                if error.code == .disconnected { break }
            }
        }
        if let failure { return pauseInOutage(after: failure) }
        let (report, interval) = state.withLock { state -> (ConnectionEvent?, Double) in
            guard let outage = state.outage else { return (nil, state.heartbeatInterval) }
            state.outage = nil
            let report = ConnectionEvent.restored(
                socketPath: socketPath, after: Self.seconds(since: outage.since), reregistered: state.registrations.keys.sorted())
            return (report, state.heartbeatInterval)
        }
        if let report { events(report) }
        return interval
    }

    /// Records a failed round: begins the outage if none is under way, gives up once the policy's time has
    /// passed, and otherwise returns the backoff pause.
    private func pauseInOutage(after error: HostessError) -> Double? {
        var reports: [ConnectionEvent] = []
        let now = SystemClock.monotonicNanoseconds()
        let pause = state.withLock { state -> Double? in
            if state.closed { return nil }
            var outage = state.outage ?? Outage(since: now, attempts: 0)
            if state.outage == nil { reports.append(.lost(socketPath: socketPath, reason: error)) }
            let elapsed = Self.seconds(since: outage.since)
            if let limit = reconnectPolicy.giveUpAfter, elapsed >= limit {
                reports.append(.gaveUp(socketPath: socketPath, after: elapsed, reason: error, registrations: state.registrations.keys.sorted()))
                state.registrations = [:]
                state.outage = nil
                state.heartbeats = nil
                return nil
            }
            let delay = reconnectPolicy.delay(attempt: outage.attempts)
            outage.attempts += 1
            state.outage = outage
            return reconnectPolicy.giveUpAfter.map { min(delay, $0 - elapsed) } ?? delay
        }
        for report in reports { events(report) }
        return pause
    }

    /// Seconds from `start` (CLOCK_MONOTONIC ns) to now.
    private static func seconds(since start: UInt64) -> Double {
        let now = SystemClock.monotonicNanoseconds()
        return now > start ? Double(now - start) / 1e9 : 0
    }

    // MARK: Reading

    /// The entry with this id.
    /// - Throws: `not_found` when there is none.
    public func getServer(_ serverID: String) async throws(HostessError) -> GuestBookEntry {
        try await sendForEntry("getServer", ["serverId": .string(serverID)])
    }

    /// Every entry, in registration order.
    public func listAll() async throws(HostessError) -> [GuestBookEntry] {
        try await sendForEntries("listAll")
    }

    /// The entries that match `filter`, in registration order.
    /// The filter's scope must be local; ``queryAcross(_:)`` asks the peers too.
    public func query(_ filter: ServerFilter) async throws(HostessError) -> [GuestBookEntry] {
        guard filter.scope == .local else {
            throw HostessError(.badRequest, "a query with scope \(filter.scope.rawValue) answers entries of other Hostesses: use queryAcross", field: "filter.scope")
        }
        return try await sendForEntries("query", ["filter": filter.json])
    }

    /// A query with scope `remote` or `all`: the live peers whose summary can match are asked too, within the
    /// daemon's `--remote-timeout`. Each entry carries `hostess` (`fqdn`, `hostessId`, `endpoint`, or `local`
    /// for this Hostess's own); every peer asked that did not answer is in `unanswered` with the reason.
    public func queryAcross(_ filter: ServerFilter) async throws(HostessError) -> (entries: [JSONValue], unanswered: [JSONValue], asked: Int) {
        let result = try await send("query", ["filter": filter.json]).result
        guard case .array(let entries)? = result["entries"], case .array(let unanswered)? = result["unanswered"], case .int(let asked)? = result["asked"] else {
            throw HostessError(.internal, "reply has no entries, unanswered and asked")
        }
        return (entries, unanswered, Int(asked))
    }

    // MARK: Terminals

    /// Records that connectome `connectomeID` uses a terminal.
    /// - Throws: `conflict` when the terminal's multiplexing is `none` and another connectome holds it.
    @discardableResult
    public func markInUse(_ serverID: String, terminal: String, connectomeID: String) async throws(HostessError) -> GuestBookEntry {
        try await sendForEntry(
            "markInUse", ["serverId": .string(serverID), "terminal": .string(terminal), "connectomeId": .string(connectomeID)])
    }

    /// Clears a terminal's connections, or only `connectomeID` when given.
    @discardableResult
    public func markAvailable(_ serverID: String, terminal: String, connectomeID: String? = nil) async throws(HostessError) -> GuestBookEntry {
        var parameters: JSONObject = ["serverId": .string(serverID), "terminal": .string(terminal)]
        if let connectomeID { parameters["connectomeId"] = .string(connectomeID) }
        return try await sendForEntry("markAvailable", parameters)
    }

    // MARK: Reservations

    /// Reserves `request.count` servers matching its filter, all or none (see ``ReservationRequest``).
    /// - Throws: `conflict` saying how many matched and how many were free.
    public func reserve(_ request: ReservationRequest) async throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try await send("reserve", ["reservation": request.json]).result["reservation"] ?? .null)
    }

    /// Cancels a reservation; only its holder or root may.
    @discardableResult
    public func cancelReservation(_ id: String) async throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try await send("cancelReservation", ["reservationId": .string(id)]).result["reservation"] ?? .null)
    }

    /// A reservation, active or ended within the retention window.
    public func reservation(_ id: String) async throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try await send("getReservation", ["reservationId": .string(id)]).result["reservation"] ?? .null)
    }

    /// Reservations, oldest first, optionally only those with `status`.
    public func reservations(status: Reservation.Status? = nil) async throws(HostessError) -> [ReservationReply] {
        var parameters = JSONObject()
        if let status { parameters["status"] = .string(status.rawValue) }
        guard case .array(let items)? = try await send("listReservations", parameters).result["reservations"] else {
            throw HostessError(.internal, "reply has no reservations array")
        }
        var result: [ReservationReply] = []
        for item in items { result.append(try ReservationReply(json: item)) }
        return result
    }

    /// The per-class capability summary (`class`, `totalCount`, `availableCount`, `capabilities`) of the
    /// entries matching `filter`.
    public func queryCapabilities(_ filter: ServerFilter = ServerFilter()) async throws(HostessError) -> [JSONValue] {
        guard case .array(let items)? = try await send("queryCapabilities", ["filter": filter.json]).result["capabilities"] else {
            throw HostessError(.internal, "reply has no capabilities array")
        }
        return items
    }

    // MARK: Peers

    /// The other Hostesses this one heard from on the mesh, in their wire form (`fqdn`, `hostessId`,
    /// `endpoint`, `state`, …; see docs/mesh.md), and whether it announces at all.
    public func peers() async throws(HostessError) -> (announcing: Bool, peers: [JSONValue]) {
        let result = try await send("listPeers").result
        guard case .array(let peers)? = result["peers"], case .bool(let announcing)? = result["announcing"] else {
            throw HostessError(.internal, "reply has no peers array")
        }
        return (announcing, peers)
    }

    // MARK: Probing

    /// Runs the Executor/Probe/Beacon trio over `targets` (nil: every address of the machine) × `ports`
    /// (`"A-B"`, nil: 10000-65535) and returns the merged report (`results`, `testedMatrix`, `failures`,
    /// `authFailed`, `windows`, `connectionMethods`; docs/probing.md). With `from` (a peer's host name or
    /// hostessId) the peer runs the probe toward this machine's beacon (phase 3). Only root and hostessd's
    /// user may.
    public func probe(targets: [String]? = nil, ports: String? = nil, from: String? = nil) async throws(HostessError) -> JSONObject {
        var parameters: JSONObject = [:]
        if let from { parameters["from"] = .string(from) }
        if let targets { parameters["targets"] = .array(targets.map(JSONValue.string)) }
        if let ports { parameters["ports"] = .string(ports) }
        return try await send("probe", parameters).result
    }

    /// The connection methods hostessd knows for `fqdn` (nil: itself and every peer): one object per host,
    /// `{"fqdn", "hostessId", "methods": [{"type", "endpoint", "latency", "testedAt", "fresh"}]}`.
    public func connectionMethods(fqdn: String? = nil) async throws(HostessError) -> [JSONValue] {
        let result = try await send("listConnectionMethods", fqdn.map { ["fqdn": .string($0)] } ?? [:]).result
        guard case .array(let hosts)? = result["hosts"] else { throw HostessError(.internal, "reply has no hosts array") }
        return hosts
    }

    // MARK: Connectomes

    /// Records a connectome the caller set up (its terminals already marked in use with the link ids), so that
    /// what a terminal is connected to can be asked. Recording the same connectome again changes nothing.
    /// - Returns: the record, its state as of now, and whether it is new (false: it was already recorded).
    /// - Throws: `conflict` when another connectome has the id; `not_found` for an endpoint whose server or
    ///   terminal is not in the guest book; `capacity` past the daemon's limits.
    @discardableResult
    public func recordConnectome(_ connectome: Connectome) async throws(HostessError) -> (record: ConnectomeRecord, created: Bool) {
        let result = try await send("recordConnectome", ["connectome": connectome.json]).result
        guard case .bool(let created)? = result["created"] else { throw HostessError(.internal, "reply has no created flag") }
        return (try ConnectomeRecord(json: result["connectome"] ?? .null), created)
    }

    /// One recorded connectome, with its state as of now.
    /// - Throws: `not_found` when none is recorded under `id`.
    public func connectome(id: String) async throws(HostessError) -> ConnectomeRecord {
        try ConnectomeRecord(json: try await send("getConnectome", ["connectomeId": .string(id)]).result["connectome"] ?? .null)
    }

    /// Every recorded connectome, oldest first, each with its state as of now.
    public func connectomes() async throws(HostessError) -> [ConnectomeRecord] {
        guard case .array(let items)? = try await send("listConnectomes").result["connectomes"] else {
            throw HostessError(.internal, "reply has no connectomes array")
        }
        var result: [ConnectomeRecord] = []
        for item in items { result.append(try ConnectomeRecord(json: item)) }
        return result
    }

    /// Forgets a recorded connectome; only the uid that recorded it, or root, may. Its terminals are not
    /// touched: mark them available yourself.
    /// - Returns: the record as it was.
    @discardableResult
    public func removeConnectome(id: String) async throws(HostessError) -> ConnectomeRecord {
        try ConnectomeRecord(json: try await send("removeConnectome", ["connectomeId": .string(id)]).result["connectome"] ?? .null)
    }

    // MARK: Watching

    /// What a watch saw.
    public struct WatchResult: Sendable {
        /// Whether the revision passed the one given.
        public var changed: Bool
        /// The guest book revision now.
        public var revision: UInt64
        /// The changes since the given revision, oldest first; nil when the daemon's log no longer reaches
        /// back that far (list again instead).
        public var changes: [Change]?
    }

    /// Waits until the guest book's revision passes `revision`, or `timeout` seconds pass.
    /// - Parameter revision: the revision already seen; nil means "the current one".
    public func watch(since revision: UInt64?, timeout: Double = 30) async throws(HostessError) -> WatchResult {
        var parameters: JSONObject = ["timeout": .double(timeout)]
        if let revision { parameters["sinceRevision"] = .int(Int64(clamping: revision)) }
        let reply = try await send("watch", parameters)
        var changes: [Change]?
        if case .array(let elements)? = reply.result["changes"] {
            changes = elements.compactMap(Change.init(json:))
        }
        let changed: Bool
        if case .bool(let value)? = reply.result["changed"] { changed = value } else { changed = false }
        return WatchResult(changed: changed, revision: reply.revision, changes: changes)
    }

    /// The daemon's status: version, revision, counts, settings, and the caller's identity as it sees it.
    public func status() async throws(HostessError) -> JSONObject {
        try await send("status").result
    }
}

// MARK: - HostIdentity

/// Facts about this machine and fresh identifiers.
public enum HostIdentity {
    /// The host name (`gethostname`), or `localhost` when it is not a valid fqdn.
    public static func hostName() -> String {
        guard let name = Syscall.hostName(), ServerName.isValidFQDN(name) else { return "localhost" }
        return name
    }

    /// A random (version 4) UUID in lower case, from the kernel's random source.
    public static func randomUUID() -> String { Syscall.randomUUID() }
}
