import HostessSystem

// MARK: - RegionError

/// Why a shared-memory region cannot be used, in words an operator can act on.
public enum RegionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A syscall failed (open, fstat, mmap, …).
    case system(SystemError)
    /// The region's name refers to something that is not a regular file (a FIFO, a directory, a socket, …).
    case notRegularFile(name: String, type: FileType, owner: UInt32, ownerName: String?)
    /// The region belongs to a user the reader does not trust.
    case untrustedOwner(name: String, owner: UInt32)
    /// Group or others may write the region.
    case writableByOthers(name: String, mode: UInt32)
    /// The region is smaller than its header says, or than a header.
    case tooSmall(name: String, size: Int, needed: Int)
    /// The magic number is wrong: not a Hostess region.
    case badMagic(name: String)
    /// The writer has not finished creating it (version 0).
    case notReady(name: String)
    /// A layout major version this reader does not know: the region was written by another release.
    case unsupportedVersion(name: String, major: UInt32, minor: UInt32)
    /// The ABI fingerprint differs: record sizes or byte order disagree.
    case fingerprintMismatch(name: String)
    /// A header field disagrees with the layout it implies.
    case inconsistentHeader(name: String, field: String)
    /// A confirmed read found an entry whose payload (its JSON in the arena) is not a valid entry: the region's
    /// data is corrupt, though its header is sound.
    case corruptPayload(name: String, slot: Int, id: String)
    /// The writer closed the region.
    case closed(name: String)
    /// The region's file shrank below the size mapped: reading the pages past its end would raise SIGBUS.
    case truncated(name: String, size: Int, mapped: Int)
    /// Readers retried too often while the writer kept publishing.
    case busy(name: String)
    /// A writer was asked for an arena larger than the records' 32-bit offsets reach (hostessd's configuration
    /// refuses such sizes first, naming the flags).
    case arenaTooLarge(name: String, bytes: Int)
    /// A daemon already publishes under this name.
    case inUse(name: String, pid: Int32)
    /// The region a writer was examining was replaced meanwhile (only its owner or root can do that).
    case replacedWhileExamined(name: String)
    /// A writer found something under the name that it may not take over: a file that is not a regular file,
    /// or one that belongs to another user than the writer's (`writer`) and that no live hostessd publishes.
    case occupied(name: String, type: FileType, owner: UInt32, ownerName: String?, writer: UInt32)
    /// A writer found under the name a region that another user's live hostessd publishes.
    case publishedByOtherUser(name: String, owner: UInt32, ownerName: String?, pid: Int32, writer: UInt32)

    public var description: String {
        switch self {
        case .system(let error): "\(error)"
        case .notRegularFile(let name, let type, let owner, let ownerName):
            "region \(name) is not a Hostess region: \(Self.path(name)) is \(type) owned by \(Self.user(owner, ownerName)), not a regular file"
        case .untrustedOwner(let name, let owner): "region \(name) belongs to uid \(owner), which this reader does not trust"
        case .writableByOthers(let name, let mode):
            "region \(name) has mode \(String(mode, radix: 8)): group or others may write it, so it cannot be trusted"
        case .tooSmall(let name, let size, let needed): "region \(name) is \(size) bytes; at least \(needed) are needed"
        case .badMagic(let name): "region \(name) is not a Hostess region (wrong magic number)"
        case .notReady(let name): "region \(name) is still being created (version 0); try again"
        case .unsupportedVersion(let name, let major, let minor):
            "region \(name) has layout version \(major).\(minor) and this reader reads only \(RegionLayout.versionMajor).x: it was written by another release of Hostess"
        case .fingerprintMismatch(let name): "region \(name) was written with another record layout (ABI fingerprint differs)"
        case .inconsistentHeader(let name, let field): "region \(name) has an inconsistent header: \(field)"
        case .corruptPayload(let name, let slot, let id):
            "region \(name) is corrupt: the payload of the entry in slot \(slot) (id '\(id)') is not a valid entry; use the socket, and check the region with shmdump --check"
        case .closed(let name): "region \(name) was closed by its writer; reopen it"
        case .truncated(let name, let size, let mapped):
            "region \(name) shrank to \(size) bytes while mapped (\(mapped) bytes): someone truncated it (only its owner or root can); reading it further would fault, so this reader stops"
        case .busy(let name): "region \(name) changed during every read attempt; try again or use the socket"
        case .arenaTooLarge(let name, let bytes):
            "region \(name) cannot be created: its arena would be \(bytes) bytes per copy, and its 32-bit offsets reach \(RegionLayout.maximumArenaBytes) (hostessd's --capacity × --entry-bytes must stay within it)"
        case .inUse(let name, let pid): "region \(name) is published by a running hostessd (pid \(pid)); stop it or choose another --shm"
        case .replacedWhileExamined(let name): "region \(name) was replaced while hostessd examined it; start hostessd again"
        case .occupied(let name, let type, let owner, let ownerName, let writer):
            "shared-memory name \(name) is taken: \(Self.path(name)) is \(type) and belongs to \(Self.user(owner, ownerName))"
                + (type == .regular && owner != writer
                    ? ", not to the user hostessd runs as (uid \(writer))" : "")
                + "; hostessd takes over only a region it made itself"
                + (type == .regular
                    ? ". No hostessd publishes it now (or it cannot be read to tell): if none of \(Self.user(owner, ownerName))'s does any more, it may be removed"
                    : ". Remove it")
                + " (`rm \(type == .directory ? "-r " : "")\(Self.path(name))` as \(ownerName ?? "uid \(owner)") or root), or choose another --shm"
        case .publishedByOtherUser(let name, let owner, let ownerName, let pid, let writer):
            "region \(name) is published by a running hostessd of \(Self.user(owner, ownerName)) (pid \(pid)), and this hostessd runs as uid \(writer):"
                + " leave it to that daemon. To run your own, choose another --shm (without --shm or $HOSTESS_SHM, uid \(writer)'s default is"
                + " \(DefaultPaths.sharedMemoryName(uid: writer))); to use that one, connect your clients to its socket"
                + (owner == 0 ? " (\(DefaultPaths.systemSocket) by default)" : "")
        }
    }

    /// The file a region name refers to, for messages.
    private static func path(_ name: String) -> String { (try? SharedMemory.path(of: name)) ?? name }

    /// "uid 65534 (nobody)", or "uid 4242" when the user has no name.
    private static func user(_ uid: UInt32, _ name: String?) -> String { name.map { "uid \(uid) (\($0))" } ?? "uid \(uid)" }
}
