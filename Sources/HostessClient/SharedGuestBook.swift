import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import Synchronization

// MARK: - SharedGuestBook

/// The guest book read straight from hostessd's shared-memory region: lookups and queries with no socket,
/// no syscall and no lock on the region, the same answers as the socket, and only while the region's writer
/// lives.
///
/// ```swift
/// let book = try SharedGuestBook(name: "/hostess-registry")
/// let serial = try book.withEntry(id: someID) { $0?.serial }       // zero-copy, allocation-free
/// let renderers = try book.query(ServerFilter(classCode: ClassCode(0x0002)))
/// ```
///
/// **Liveness.** A region whose writer died is consistent but frozen (nothing is evicted or updated any more),
/// so it is never served: every read first makes sure the writer lives. Opening asks the kernel
/// (``RegionReader/liveness()``: one `fcntl` and one `stat`). After that, a read goes ahead while the region
/// is not closed and the writer's last heartbeat (hostessd stores one every 250 ms) is younger than
/// ``heartbeatTolerance``. The heartbeat's age is looked at about once a second: a heartbeat at time `b`
/// lets reads through until `b + heartbeatTolerance`, timed by the coarse monotonic clock, so a read costs
/// one coarse clock read (a few nanoseconds, no syscall), one atomic load and a compare more. Past that the heartbeat is looked at again,
/// and when it is too old the kernel is asked. So a reader serves a region for at most about
/// ``heartbeatTolerance`` after its writer was killed, and never after that; a writer stopped but alive (a
/// debugger, SIGSTOP) is still served, at the cost of the kernel question on each read.
///
/// When hostessd closes the region (a clean stop, or a new instance adopting it after a crash), the next read
/// reopens the region under the same name.
///
/// A lookup that finds nothing is not proof that the entry does not exist: a damaged index misses too.
/// ``GuestBookReader`` confirms such misses over the socket.
public final class SharedGuestBook: Sendable {
    /// The region's name.
    public let name: String
    private let trustedOwners: Set<UInt32>
    private let current: Mutex<Held>

    /// The region read, and until when (CLOCK_MONOTONIC_COARSE ns) its writer's last heartbeat vouches for it.
    private struct Held {
        var reader: RegionReader
        var trustedUntil: UInt64 = 0
    }

    /// How old the writer's heartbeat may be for a read to go ahead without asking the kernel whether the
    /// writer lives: four of hostessd's 250 ms beats.
    public static let heartbeatTolerance = 1.0

    /// `$HOSTESS_SHM`, else the region a hostessd of this user's started without `--shm` publishes:
    /// `/hostess-registry` for root, `/hostess-registry-UID` for others.
    public static var defaultName: String { environmentName ?? DefaultPaths.sharedMemoryName(uid: getuid()) }

    /// `$HOSTESS_SHM` when it is set and not empty.
    public static var environmentName: String? { EnvironmentVariables.current["HOSTESS_SHM"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Opens and checks the region (see ``RegionReader/init(name:trustedOwners:)``) and makes sure its
    /// writer lives.
    /// - Throws: `writerGone` when hostessd died without closing it; `region` when it cannot be opened or
    ///   was closed.
    public init(name: String = SharedGuestBook.defaultName, trustedOwners: Set<UInt32> = []) throws(SharedGuestBookError) {
        self.name = name
        self.trustedOwners = trustedOwners
        current = Mutex(Held(reader: try Self.openLive(name: name, trustedOwners: trustedOwners)))
    }

    /// Opens the region under `name` and asks the kernel whether its writer lives. A region replaced between
    /// the open and the question is opened again, a few times at most.
    private static func openLive(name: String, trustedOwners: Set<UInt32>) throws(SharedGuestBookError) -> RegionReader {
        for _ in 0..<3 {
            let reader: RegionReader
            do { reader = try RegionReader(name: name, trustedOwners: trustedOwners) } catch { throw .region(error) }
            switch reader.liveness() {
            case .alive: return reader
            case .writerGone: throw .writerGone(name: name, pid: reader.writerPID)
            case .closed, .replaced: continue
            }
        }
        throw .region(.closed(name: name))
    }

    /// The reader of the live region: reopened first if the writer closed the one held or a new region
    /// replaced it.
    /// - Throws: `writerGone` when the writer died without closing the region; `region` when reopening fails.
    public func reader() throws(SharedGuestBookError) -> RegionReader {
        let now = SystemClock.coarseMonotonicNanoseconds()
        let held = current.withLock { $0 }
        if now < held.trustedUntil && !held.reader.isClosed { return held.reader }
        let age = held.reader.writerHeartbeatAge
        if age < Self.heartbeatTolerance && !held.reader.isClosed {
            let until = now &+ UInt64((Self.heartbeatTolerance - age) * 1e9)
            current.withLock { if $0.reader === held.reader { $0.trustedUntil = until } }
            return held.reader
        }
        switch held.reader.liveness() {
        case .alive: return held.reader
        case .writerGone: throw .writerGone(name: name, pid: held.reader.writerPID)
        case .closed, .replaced:
            let fresh = try Self.openLive(name: name, trustedOwners: trustedOwners)
            current.withLock { $0 = Held(reader: fresh) }
            return fresh
        }
    }

    /// Calls `body` with a view of the entry `id` names (nil when the index has none); see
    /// ``RegionReader/withEntry(id:_:)-(String,_)``.
    public func withEntry<R>(id: String, _ body: (EntryView?) -> R) throws(SharedGuestBookError) -> R {
        let reader = try reader()
        do { return try reader.withEntry(id: id, body) } catch { throw .region(error) }
    }

    /// The entry `id` names, or nil when the region's index has none (not proof of absence: see above).
    public func getServer(_ id: String) throws(SharedGuestBookError) -> GuestBookEntry? {
        let reader = try reader()
        do { return try reader.getServer(id) } catch { throw .region(error) }
    }

    /// Every entry, in registration order.
    public func listAll() throws(SharedGuestBookError) -> [GuestBookEntry] {
        let reader = try reader()
        do { return try reader.listAll() } catch { throw .region(error) }
    }

    /// The entries matching `filter`, in registration order.
    public func query(_ filter: ServerFilter) throws(SharedGuestBookError) -> [GuestBookEntry] {
        let reader = try reader()
        do { return try reader.query(filter) } catch { throw .region(error) }
    }

    /// The revision of the latest publication.
    public func revision() throws(SharedGuestBookError) -> UInt64 { try reader().revision }

    /// Blocks (FUTEX_WAIT, no polling) until the revision passes `revision` or `timeout` seconds pass.
    public func waitForRevision(after revision: UInt64, timeout: Double) throws(SharedGuestBookError) -> UInt64 {
        let reader = try reader()
        do { return try reader.waitForRevision(after: revision, timeout: timeout) } catch { throw .region(error) }
    }

    /// Whether the writer of the region held lives, closed it, died, or was replaced (asks the kernel).
    public func liveness() -> RegionReader.Liveness { current.withLock { $0.reader }.liveness() }
}

// MARK: - SharedGuestBookError

/// Why the shared-memory guest book does not answer.
public enum SharedGuestBookError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The region cannot be opened or read.
    case region(RegionError)
    /// hostessd died without closing the region: its entries are frozen, so they are not served.
    case writerGone(name: String, pid: Int32)

    public var description: String {
        switch self {
        case .region(let error): "\(error)"
        case .writerGone(let name, let pid):
            "region \(name): its writer (hostessd pid \(pid)) died without closing it, so its entries are frozen and not served; start hostessd again (it adopts them)"
        }
    }
}
