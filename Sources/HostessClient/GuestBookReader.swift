import HostessModel
import HostessRegion
import HostessSystem
import Synchronization

// MARK: - GuestBookReader

/// Reads the guest book of one hostessd from the fastest source that is current: its shared-memory region
/// while the region's writer lives, else its socket; when neither answers, the error says why for both.
/// `hostess get`, `list` and `query` read this way.
///
/// ```swift
/// let book = GuestBookReader(socketPath: "/run/hostess/hostess.sock")
/// let renderers = try await book.query(ServerFilter(classCode: ClassCode(0x0002)))
/// ```
///
/// - **Which region.** The one named (`sharedMemoryName`, else `$HOSTESS_SHM`), else the one the daemon at
///   `socketPath` reports in `status`. A daemon that cannot be asked has no region to read: a reader never
///   falls back to another daemon's region (the default name's, say).
/// - **Liveness.** The region is opened once, asking the kernel whether its writer lives; later reads check
///   the writer's heartbeat (see ``SharedGuestBook``). A region whose writer died is never read.
/// - **Misses.** A lookup the region's index does not answer is confirmed over the socket, whose answer
///   (the entry, or `not_found`) stands; an entry the socket has and the region missed is reported through
///   `warning` (the region may be corrupt). When the socket cannot be reached the lookup fails with
///   `unavailable`, never `not_found`.
public final class GuestBookReader: Sendable {
    /// Which sources reads may use.
    public enum Route: Sendable {
        /// The region while its writer lives, else the socket.
        case automatic
        /// The region only (`hostess --via shm`): an error when it is not usable. Lookup misses are still
        /// confirmed over the socket.
        case sharedMemory
        /// The socket only (`hostess --via socket`).
        case socket
    }

    /// The daemon's socket.
    public let socketPath: String
    /// The sources reads may use.
    public let route: Route
    private let namedRegion: String?
    private let warning: @Sendable (String) -> Void
    private let state = Mutex(State())

    private struct State {
        var client: HostessClient?
        var book: SharedGuestBook?
        /// The region's name once known: named, or reported by the daemon.
        var regionName: String?
        /// The daemon reported that it publishes no region (`--no-shm`).
        var noRegion = false
    }

    /// A reader of the daemon at `socketPath` (default: `$HOSTESS_SOCKET` or the default path). Nothing is
    /// opened or connected until the first read.
    /// - Parameters:
    ///   - sharedMemoryName: the region to read; default `$HOSTESS_SHM`, else the one the daemon reports.
    ///   - route: which sources reads may use.
    ///   - warning: told when the region disagrees with the socket (it missed an entry the daemon has).
    public init(
        socketPath: String? = nil, sharedMemoryName: String? = nil, route: Route = .automatic,
        warning: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.socketPath = socketPath ?? HostessClient.defaultSocketPath
        namedRegion = sharedMemoryName ?? SharedGuestBook.environmentName
        self.route = route
        self.warning = warning
    }

    // MARK: Reads

    /// The entry with this id.
    /// - Throws: `not_found` (from the daemon) when there is none; `invalid_name` for a malformed id;
    ///   `unavailable` when the region missed it and the socket cannot confirm; `disconnected` when neither
    ///   source answers.
    public func getServer(_ id: String) async throws(HostessError) -> GuestBookEntry {
        _ = try ServerName(parsing: id)
        let found = try await read(
            { book throws(SharedGuestBookError) in try book.getServer(id) }, socket: { client throws(HostessError) in try await client.getServer(id) })
        if let entry = found { return entry }
        // The region's index has no such id. That is not proof: a damaged index misses too. Ask the daemon.
        let region = state.withLock { $0.regionName } ?? ""
        do {
            let entry = try await client().getServer(id)
            warning(
                "shared memory \(region) has no entry '\(id)' in its index, but hostessd at \(socketPath) has: the region may be corrupt; check it with 'shmdump --shm \(region) --check'"
            )
            return entry
        } catch where error.code == .disconnected {
            throw HostessError(
                .unavailable,
                "'\(id)' is not in the index of shared memory \(region), but a miss there is not proof: the region may be corrupt, and the socket could not confirm it (\(error.message)); check the region with 'shmdump --shm \(region) --check', or ask again when hostessd is reachable"
            )
        }
    }

    /// Every entry, in registration order.
    public func listAll() async throws(HostessError) -> [GuestBookEntry] {
        try await read({ book throws(SharedGuestBookError) in try book.listAll() }, socket: { client throws(HostessError) in try await client.listAll() })
    }

    /// The entries matching `filter`, in registration order.
    public func query(_ filter: ServerFilter) async throws(HostessError) -> [GuestBookEntry] {
        try await read(
            { book throws(SharedGuestBookError) in try book.query(filter) }, socket: { client throws(HostessError) in try await client.query(filter) })
    }

    // MARK: Choosing the source

    /// Reads from the region when the route allows it and the region is usable, else over the socket.
    private func read<T>(
        _ fromRegion: (SharedGuestBook) throws(SharedGuestBookError) -> T,
        socket fromSocket: (HostessClient) async throws(HostessError) -> T
    ) async throws(HostessError) -> T {
        // Why the region was not read; nil when the route skips it.
        var regionProblem: String?
        if route != .socket {
            do throws(RegionProblem) {
                let book = try await region()
                do { return try fromRegion(book) } catch { throw RegionProblem(message: error.description) }
            } catch {
                if route == .sharedMemory {
                    throw HostessError(
                        .unavailable,
                        "cannot read the guest book from shared memory (--via shm): \(error.message)\(error.socketError.map { ": \($0.message)" } ?? "")")
                }
                regionProblem = error.message
            }
        }
        do {
            return try await fromSocket(try client())
        } catch where error.code == .disconnected {
            guard let regionProblem else { throw error }
            throw HostessError(
                .disconnected, "cannot read the guest book: not from shared memory (\(regionProblem)), not over the socket (\(error.message))")
        }
    }

    /// The region to read: the one named, else the one the daemon reports.
    private func region() async throws(RegionProblem) -> SharedGuestBook {
        let known = state.withLock { ($0.book, $0.regionName ?? namedRegion, $0.noRegion) }
        if let book = known.0 { return book }
        if known.2 { throw RegionProblem(message: "hostessd at \(socketPath) publishes no shared-memory region (--no-shm)") }
        var name = known.1
        if name == nil {
            let status: JSONObject
            do { status = try await client().status() } catch {
                throw RegionProblem(
                    message: "no region named with --shm or $HOSTESS_SHM, and hostessd could not be asked for its own", socketError: error)
            }
            guard case .string(let reported)? = status["shm"] else {
                state.withLock { $0.noRegion = true }
                throw RegionProblem(message: "hostessd at \(socketPath) publishes no shared-memory region (--no-shm)")
            }
            name = reported
        }
        let regionName = name ?? ""
        do {
            let book = try SharedGuestBook(name: regionName)
            state.withLock { state in
                state.regionName = regionName
                state.book = state.book ?? book
            }
            return book
        } catch {
            state.withLock { $0.regionName = regionName }
            throw RegionProblem(message: error.description)
        }
    }

    /// The socket client, connected on first use.
    private func client() throws(HostessError) -> HostessClient {
        if let client = state.withLock({ $0.client }) { return client }
        // Its outages surface as the errors of the reads that meet them, not as log lines.
        let fresh = try HostessClient(socketPath: socketPath, events: { _ in })
        return state.withLock { state in
            if let client = state.client { return client }
            state.client = fresh
            return fresh
        }
    }
}

// MARK: - RegionProblem

/// Why the region was not read, for the error that names both sources.
private struct RegionProblem: Error {
    var message: String
    /// The socket's failure, when that is why the region is not known (it is named once, for the socket).
    var socketError: HostessError?
}
