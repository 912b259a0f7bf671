import CShim
import Glibc
import HostessModel
import HostessSystem

// MARK: - Predecessor

/// What a new writer found under its region's name (``RegionWriter/examine(_:)``).
public enum Predecessor {
    /// Nothing: the name is free.
    case none
    /// A region of this user's that failed a reader's checks. It was renamed to `aside` (kept for inspection,
    /// not trusted, not adopted), which frees the name.
    case movedAside(to: String, because: RegionError)
    /// A sound region whose writer died: its guest book, to adopt. The new writer is created under a temporary
    /// name and replaces it in one rename (``RegionWriter/install()``).
    case abandoned(AbandonedRegion)
}

// MARK: - AbandonedRegion

/// A region whose writer died, held open (and write-locked) until a successor replaces it.
///
/// Holding the writer lock on it keeps a second hostessd that starts at the same moment from adopting it too:
/// that one finds the lock held and refuses, as for a live writer.
public final class AbandonedRegion {
    /// The region's name.
    public let name: String
    /// The entries readers could see in it, in serial order.
    public let entries: [GuestBookEntry]
    /// Its guest book revision: the larger of the header's and the stable copy's.
    public let revision: UInt64
    /// The pid of the hostessd that created it (information only).
    public let writerPID: Int32
    /// A read-write descriptor of it, holding its writer lock.
    let fd: Int32

    init(name: String, entries: [GuestBookEntry], revision: UInt64, writerPID: Int32, fd: Int32) {
        self.name = name
        self.entries = entries
        self.revision = revision
        self.writerPID = writerPID
        self.fd = fd
    }

    deinit { Syscall.close(fd) }

    /// Tells readers still mapping it that it is finished: `closed = 1`, then one more publication, woken.
    func markClosed() {
        guard let header = try? Syscall.map(fd, size: RegionLayout.headerSize, writable: true) else { return }
        cshim_store_release_u32(header + RegionLayout.Header.closed, 1)
        let counter = cshim_load_acquire_u32(header + RegionLayout.Header.publications)
        cshim_store_release_u32(header + RegionLayout.Header.publications, counter &+ 1)
        Futex.wakeAll(header + RegionLayout.Header.publications)
        Syscall.unmap(header, size: RegionLayout.headerSize)
    }
}

// MARK: - Examining the name

/// The writer's pid when another user's region under `name` passes a reader's checks and a live hostessd
/// holds its write lock; nil when it cannot be read or nothing holds it. Opened read-only, as any reader does.
private func liveWriterPID(of name: String, owner: UInt32) -> Int32? {
    guard let reader = try? RegionReader(name: name, trustedOwners: [owner]), reader.liveness() == .alive else { return nil }
    return reader.writerPID
}

extension RegionWriter {
    /// Looks at what is under `name` before a writer creates its region there.
    ///
    /// - Nothing: ``Predecessor/none``.
    /// - Anything but a regular file, or a file another user owns: refused, found with `lstat` before anything
    ///   is opened, so a FIFO, socket or device another user planted is never opened. Another user's regular
    ///   file is then opened read-only, as a reader would: when a live hostessd publishes it the refusal says
    ///   so (`publishedByOtherUser`) and never suggests removing it; otherwise `occupied` names the type, the
    ///   owner and what to do.
    /// - A region a live writer holds (its write lock is held), or one another successor is taking over:
    ///   refused (`inUse`).
    /// - A region of this user's whose writer died and which passes every reader check: ``Predecessor/abandoned``,
    ///   its entries read, its writer lock taken. It stays under the name until the successor replaces it.
    /// - One of this user's that fails the checks: renamed aside to `NAME.bad-MS`, ``Predecessor/movedAside``.
    public static func examine(_ name: String) throws(RegionError) -> Predecessor {
        let found: FileStatus
        do {
            guard let status = try SharedMemory.status(of: name) else { return .none }
            found = status
        } catch { throw .system(error) }
        guard found.type == .regular, found.owner == geteuid() else {
            let ownerName = Syscall.userName(uid: found.owner)
            if found.type == .regular, let pid = liveWriterPID(of: name, owner: found.owner) {
                throw .publishedByOtherUser(name: name, owner: found.owner, ownerName: ownerName, pid: pid, writer: geteuid())
            }
            throw .occupied(name: name, type: found.type, owner: found.owner, ownerName: ownerName, writer: geteuid())
        }
        let fd: Int32
        do { fd = try SharedMemory.open(name, writable: true) } catch {
            if error.errno == ENOENT { return .none }
            throw .system(error)
        }
        var handed = false
        defer { if !handed { Syscall.close(fd) } }
        let status: FileStatus
        do { status = try Syscall.status(fd) } catch { throw .system(error) }
        // Only this user or root can have replaced it since lstat: /dev/shm is sticky.
        guard status.type == .regular, status.owner == geteuid(), status.inode == found.inode else {
            throw .replacedWhileExamined(name: name)
        }
        let locked: Bool
        do { locked = try Syscall.takeWriteLock(fd) } catch { throw .system(error) }
        guard locked else {
            // An OFD lock does not name its holder; the header says which process created the region.
            var pid: UInt32 = 0
            _ = pread(fd, &pid, 4, off_t(RegionLayout.Header.writerPID))
            throw .inUse(name: name, pid: Int32(bitPattern: UInt32(littleEndian: pid)))
        }
        do {
            let reader = try RegionReader(name: name)
            let entries = try reader.listAll()
            let revision = max(reader.revision, try reader.stableRevision())
            handed = true
            return .abandoned(AbandonedRegion(name: name, entries: entries, revision: revision, writerPID: reader.writerPID, fd: fd))
        } catch {
            let aside = "\(name).bad-\(SystemClock.wallMilliseconds())"
            do { try SharedMemory.rename(name, to: aside) } catch let renameError {
                throw .system(SystemError("\(renameError.call) (moving aside a region that fails its checks: \(error))", errno: renameError.errno))
            }
            return .movedAside(to: aside, because: error)
        }
    }
}
