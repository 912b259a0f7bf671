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
public final class HostessClient: Sendable {
    private struct State {
        var registrations: [String: (registration: Registration, session: Bool)] = [:]
        var heartbeatInterval: Double?
        var heartbeats: Task<Void, Never>?
    }

    /// The protocol connection, for commands this type does not wrap.
    public let connection: ProtocolConnection
    private let state = Mutex(State())

    /// Connects to hostessd at `socketPath`, or at `$HOSTESS_SOCKET`, or at the default path.
    public init(socketPath: String? = nil) throws(HostessError) {
        connection = try ProtocolConnection(socketPath: socketPath ?? HostessClient.defaultSocketPath)
    }

    deinit {
        state.withLock { $0.heartbeats?.cancel() }
        connection.close()
    }

    /// `$HOSTESS_SOCKET`, else `/run/hostess/hostess.sock` for root, else `$XDG_RUNTIME_DIR/hostess/hostess.sock`.
    public static var defaultSocketPath: String { DefaultPaths.socket(environment: EnvironmentVariables.current) }

    /// Stops heartbeats and closes the connection. Session-bound entries end with it.
    public func close() {
        state.withLock { $0.heartbeats?.cancel() }
        connection.close()
    }

    // MARK: Registering

    /// Registers one running instance of the server a manifest describes.
    /// - Parameters:
    ///   - manifest: the server's compiled-in manifest.
    ///   - fqdn: the machine's name at run time (default: the host name).
    ///   - uuid: the instance's UUID (default: a fresh random one).
    ///   - session: whether the entry ends when this connection closes.
    /// - Returns: the entry as the guest book holds it.
    @discardableResult
    public func register(
        manifest: ServerManifest, fqdn: String? = nil, uuid: String? = nil, session: Bool = false
    ) async throws(HostessError) -> GuestBookEntry {
        let registration = try manifest.registration(fqdn: fqdn ?? HostIdentity.hostName(), uuid: uuid ?? HostIdentity.randomUUID())
        return try await register(registration, session: session)
    }

    /// Registers (or updates, when the id is known) a server and keeps it alive with heartbeats.
    @discardableResult
    public func register(_ registration: Registration, session: Bool = false) async throws(HostessError) -> GuestBookEntry {
        let reply = try await connection.request("register", ["entry": registration.json, "session": .bool(session)])
        let entry = try GuestBookEntry(json: reply.result["entry"] ?? .null)
        let interval: Double
        if case .double(let value)? = reply.result["heartbeatInterval"] { interval = value } else { interval = 5 }
        state.withLock { state in
            state.registrations[entry.id] = (registration, session)
            if state.heartbeats == nil || state.heartbeatInterval != interval {
                state.heartbeats?.cancel()
                state.heartbeatInterval = interval
                state.heartbeats = Task { [weak self] in await self?.heartbeatLoop(interval: interval) }
            }
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
        _ = try await connection.request("unregister", ["serverId": .string(serverID)])
    }

    /// Sends one heartbeat now. Registered servers are heartbeated automatically; this is for tools.
    public func heartbeat(_ serverID: String) async throws(HostessError) {
        _ = try await connection.request("heartbeat", ["serverId": .string(serverID)])
    }

    private func heartbeatLoop(interval: Double) async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            if Task.isCancelled { return }
            let registrations = state.withLock { $0.registrations }
            for (id, registered) in registrations {
                do {
                    try await heartbeat(id)
                } catch where error.code == .notFound {
                    _ = try? await connection.request(
                        "register", ["entry": registered.registration.json, "session": .bool(registered.session)])
                } catch where error.code == .disconnected {
                    return
                } catch {
                    continue
                }
            }
        }
    }

    // MARK: Reading

    /// The entry with this id.
    /// - Throws: `not_found` when there is none.
    public func getServer(_ serverID: String) async throws(HostessError) -> GuestBookEntry {
        let reply = try await connection.request("getServer", ["serverId": .string(serverID)])
        return try GuestBookEntry(json: reply.result["entry"] ?? .null)
    }

    /// Every entry, in registration order.
    public func listAll() async throws(HostessError) -> [GuestBookEntry] {
        try entries(try await connection.request("listAll"))
    }

    /// The entries that match `filter`, in registration order.
    public func query(_ filter: ServerFilter) async throws(HostessError) -> [GuestBookEntry] {
        try entries(try await connection.request("query", ["filter": filter.json]))
    }

    private func entries(_ reply: Reply) throws(HostessError) -> [GuestBookEntry] {
        guard case .array(let elements)? = reply.result["entries"] else {
            throw HostessError(.internal, "reply has no entries array")
        }
        var result: [GuestBookEntry] = []
        result.reserveCapacity(elements.count)
        for element in elements { result.append(try GuestBookEntry(json: element)) }
        return result
    }

    // MARK: Terminals

    /// Records that connectome `connectomeID` uses a terminal.
    /// - Throws: `conflict` when the terminal's multiplexing is `none` and another connectome holds it.
    @discardableResult
    public func markInUse(_ serverID: String, terminal: String, connectomeID: String) async throws(HostessError) -> GuestBookEntry {
        let reply = try await connection.request(
            "markInUse", ["serverId": .string(serverID), "terminal": .string(terminal), "connectomeId": .string(connectomeID)])
        return try GuestBookEntry(json: reply.result["entry"] ?? .null)
    }

    /// Clears a terminal's connections, or only `connectomeID` when given.
    @discardableResult
    public func markAvailable(_ serverID: String, terminal: String, connectomeID: String? = nil) async throws(HostessError) -> GuestBookEntry {
        var parameters: JSONObject = ["serverId": .string(serverID), "terminal": .string(terminal)]
        if let connectomeID { parameters["connectomeId"] = .string(connectomeID) }
        let reply = try await connection.request("markAvailable", parameters)
        return try GuestBookEntry(json: reply.result["entry"] ?? .null)
    }

    // MARK: Reservations

    /// Reserves `request.count` servers matching its filter, all or none (see ``ReservationRequest``).
    /// - Throws: `conflict` saying how many matched and how many were free.
    public func reserve(_ request: ReservationRequest) async throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try await connection.request("reserve", ["reservation": request.json]).result["reservation"] ?? .null)
    }

    /// Cancels a reservation; only its holder or root may.
    @discardableResult
    public func cancelReservation(_ id: String) async throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try await connection.request("cancelReservation", ["reservationId": .string(id)]).result["reservation"] ?? .null)
    }

    /// A reservation, active or ended within the retention window.
    public func reservation(_ id: String) async throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try await connection.request("getReservation", ["reservationId": .string(id)]).result["reservation"] ?? .null)
    }

    /// Reservations, oldest first, optionally only those with `status`.
    public func reservations(status: Reservation.Status? = nil) async throws(HostessError) -> [ReservationReply] {
        var parameters = JSONObject()
        if let status { parameters["status"] = .string(status.rawValue) }
        guard case .array(let items)? = try await connection.request("listReservations", parameters).result["reservations"] else {
            throw HostessError(.internal, "reply has no reservations array")
        }
        var result: [ReservationReply] = []
        for item in items { result.append(try ReservationReply(json: item)) }
        return result
    }

    /// The per-class capability summary (`class`, `totalCount`, `availableCount`, `capabilities`) of the
    /// entries matching `filter`.
    public func queryCapabilities(_ filter: ServerFilter = ServerFilter()) async throws(HostessError) -> [JSONValue] {
        guard case .array(let items)? = try await connection.request("queryCapabilities", ["filter": filter.json]).result["capabilities"] else {
            throw HostessError(.internal, "reply has no capabilities array")
        }
        return items
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
        let reply = try await connection.request("watch", parameters)
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
        try await connection.request("status").result
    }
}

// MARK: - HostIdentity

/// Facts about this machine and fresh identifiers.
public enum HostIdentity {
    /// The host name (`gethostname`), or `localhost` when it is not a valid fqdn.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ServerName.isValidFQDN(name) ? name : "localhost"
    }

    /// A random (version 4) UUID in lower case, from the kernel's random source.
    public static func randomUUID() -> String { Syscall.randomUUID() }
}
