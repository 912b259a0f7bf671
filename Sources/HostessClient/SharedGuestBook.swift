import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import Synchronization

// MARK: - SharedGuestBook

/// The guest book read straight from hostessd's shared-memory region: lookups and queries with no socket,
/// no syscall and no lock on the region, the same answers as the socket.
///
/// ```swift
/// let book = try SharedGuestBook()
/// let serial = try book.withEntry(id: someID) { $0?.serial }       // zero-copy, allocation-free
/// let renderers = try book.query(ServerFilter(classCode: ClassCode(0x0002)))
/// ```
///
/// When hostessd closes the region (a clean stop, or a new instance taking over after a crash), the next call
/// reopens the region under the same name; `liveness()` tells a dead writer apart.
public final class SharedGuestBook: Sendable {
    /// The region's name.
    public let name: String
    private let trustedOwners: Set<UInt32>
    private let current: Mutex<RegionReader>

    /// `$HOSTESS_SHM`, else `/hostess-registry`.
    public static var defaultName: String {
        EnvironmentVariables.current["HOSTESS_SHM"].flatMap { $0.isEmpty ? nil : $0 } ?? "/hostess-registry"
    }

    /// Opens and checks the region (see ``RegionReader/init(name:trustedOwners:)``).
    public init(name: String = SharedGuestBook.defaultName, trustedOwners: Set<UInt32> = []) throws(RegionError) {
        self.name = name
        self.trustedOwners = trustedOwners
        current = Mutex(try RegionReader(name: name, trustedOwners: trustedOwners))
    }

    /// The reader of the live region, reopened first if the writer closed the one held.
    public func reader() throws(RegionError) -> RegionReader {
        let held = current.withLock { $0 }
        guard held.isClosed else { return held }
        let fresh = try RegionReader(name: name, trustedOwners: trustedOwners)
        current.withLock { $0 = fresh }
        return fresh
    }

    /// Calls `body` with a view of the entry `id` names (nil when none); see ``RegionReader/withEntry(id:_:)-(String,_)``.
    public func withEntry<R>(id: String, _ body: (EntryView?) -> R) throws(RegionError) -> R {
        try reader().withEntry(id: id, body)
    }

    /// The entry `id` names, or nil.
    public func getServer(_ id: String) throws(RegionError) -> GuestBookEntry? { try reader().getServer(id) }

    /// Every entry, in registration order.
    public func listAll() throws(RegionError) -> [GuestBookEntry] { try reader().listAll() }

    /// The entries matching `filter`, in registration order.
    public func query(_ filter: ServerFilter) throws(RegionError) -> [GuestBookEntry] { try reader().query(filter) }

    /// The revision of the latest publication.
    public func revision() throws(RegionError) -> UInt64 { try reader().revision }

    /// Blocks (FUTEX_WAIT, no polling) until the revision passes `revision` or `timeout` seconds pass.
    public func waitForRevision(after revision: UInt64, timeout: Double) throws(RegionError) -> UInt64 {
        try reader().waitForRevision(after: revision, timeout: timeout)
    }

    /// Whether the writer lives, closed the region, died, or was replaced.
    public func liveness() -> RegionReader.Liveness { current.withLock { $0 }.liveness() }
}
