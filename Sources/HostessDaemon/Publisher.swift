import CShim
import Glibc
import HostessModel
import HostessRegion
import HostessSystem

// MARK: - Publisher

/// Keeps the shared-memory region in step with the guest book: every change the book logs is published
/// before the reply that caused it is written (read-your-writes), a burst handled in one loop pass as one
/// publication.
final class Publisher {
    let writer: RegionWriter
    private(set) var publishedRevision: UInt64 = 0
    /// Publications made (each a new region revision), for the metrics.
    private(set) var publications: UInt64 = 0
    private var publishedIDs: Set<String> = []

    init(writer: RegionWriter) { self.writer = writer }

    /// Publishes what changed since the last publication.
    func publish(_ book: GuestBook) {
        guard book.revision != publishedRevision else { return }
        var ids: [String]
        if let changes = book.changes(since: publishedRevision) {
            var seen = Set<String>()
            // Reservation changes name reservations, not entries; the holds they make are entry changes.
            ids = changes.filter { $0.kind != .reservation }.map(\.id).filter { seen.insert($0).inserted }
        } else {
            // The change log no longer reaches back (a restore, or a very large burst): publish everything.
            ids = Array(publishedIDs.union(book.all().map(\.id)))
        }
        let changes = ids.map { id in RegionWriter.Change(id: id, entry: try? book.entry(id: id), payload: book.payload(id: id)) }
        for change in changes {
            if change.entry == nil { publishedIDs.remove(change.id) } else { publishedIDs.insert(change.id) }
        }
        let dropped = writer.droppedPayloads
        writer.publish(changes, revision: book.revision)
        publishedRevision = book.revision
        publications += 1
        if writer.droppedPayloads != dropped {
            Log.error("\(writer.droppedPayloads - dropped) payloads did not fit the region's arena and were published empty (revision \(book.revision)); this is a bug, please report it")
        }
    }

    // MARK: Adopting a previous instance's region

    /// What a dead daemon left under the region's name.
    struct Leftover {
        var entries: [GuestBookEntry]
        var revision: UInt64
        var pid: Int32
    }

    /// Looks at what is under `name` before a new region is created there.
    ///
    /// - Nothing: nil.
    /// - A region a live hostessd holds (its write lock is held), or one another user owns, or not a regular
    ///   file: start-up is refused; the name is not ours to take.
    /// - A region of ours whose writer died and which passes every reader check: its entries are returned,
    ///   it is marked closed (readers still mapping it move on) and its name removed.
    /// - One of ours that fails the checks: renamed aside (`NAME.bad-MS`), not trusted, with a log line.
    static func takeOver(_ name: String) throws(DaemonError) -> Leftover? {
        // Look before opening: whatever another user may have put here (a FIFO, a socket, a directory, a link,
        // a file of theirs) is refused without being opened.
        let found: FileStatus
        do {
            guard let status = try SharedMemory.status(of: name) else { return nil }
            found = status
        } catch {
            throw .listen("cannot examine shared-memory name \(name): \(error.reason); remove it or choose another --shm")
        }
        guard found.type == .regular, found.owner == geteuid() else {
            throw .listen(
                "\(RegionError.occupied(name: name, type: found.type, owner: found.owner, ownerName: Syscall.userName(uid: found.owner), writer: geteuid()))")
        }
        let fd: Int32
        do { fd = try SharedMemory.open(name, writable: true) } catch {
            if error.errno == ENOENT { return nil }
            throw .listen("cannot open existing shared-memory region \(name): \(error.reason); remove it or choose another --shm")
        }
        defer { Syscall.close(fd) }
        let status: FileStatus
        do { status = try Syscall.status(fd) } catch { throw .system(error) }
        // Only its owner (this user) or root can have replaced it since: /dev/shm is sticky.
        guard status.type == .regular, status.owner == geteuid(), status.inode == found.inode else {
            throw .listen("shared-memory region \(name) changed while hostessd examined it; start hostessd again")
        }
        if (try? Syscall.writeLockHolder(fd)) != nil {
            // An OFD lock does not name its holder; the header says which process created the region.
            var pid: UInt32 = 0
            _ = pread(fd, &pid, 4, off_t(RegionLayout.Header.writerPID))
            throw .listen("shared-memory region \(name) is published by a running hostessd (pid \(UInt32(littleEndian: pid))); stop it or choose another --shm")
        }
        let leftover: Leftover
        do {
            let reader = try RegionReader(name: name)
            leftover = Leftover(entries: try reader.listAll(), revision: max(reader.revision, try reader.stableRevision()), pid: reader.writerPID)
        } catch {
            let aside = "\(name).bad-\(SystemClock.wallMilliseconds())"
            do { try SharedMemory.rename(name, to: aside) } catch {
                throw .listen("shared-memory region \(name) fails its checks and cannot be moved aside: \(error)")
            }
            Log.warning("shared-memory region \(name) is not trusted (\(error)); moved it aside to \(aside)")
            return nil
        }
        // Tell readers still mapping the old region that it is finished, then free the name.
        if status.size >= RegionLayout.headerSize, let header = try? Syscall.map(fd, size: RegionLayout.headerSize, writable: true) {
            cshim_store_release_u32(header + RegionLayout.Header.closed, 1)
            let counter = cshim_load_acquire_u32(header + RegionLayout.Header.publications)
            cshim_store_release_u32(header + RegionLayout.Header.publications, counter &+ 1)
            Futex.wakeAll(header + RegionLayout.Header.publications)
            Syscall.unmap(header, size: RegionLayout.headerSize)
        }
        try? SharedMemory.unlink(name)
        return leftover
    }
}
