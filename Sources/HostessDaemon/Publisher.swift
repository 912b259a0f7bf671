import HostessModel
import HostessRegion

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
            // Reservation and connectome changes name those, not entries; the holds reservations make are entry changes.
            ids = changes.filter(\.kind.namesEntry).map(\.id).filter { seen.insert($0).inserted }
        } else {
            // The change log no longer reaches back (a restore, or a very large burst): publish everything.
            ids = Array(publishedIDs.union(book.all().map(\.id)))
        }
        let changes = ids.map { id in RegionWriter.Change(id: id, entry: try? book.entry(id: id), payload: book.payload(id: id)) }
        for change in changes {
            if change.entry == nil { publishedIDs.remove(change.id) } else { publishedIDs.insert(change.id) }
        }
        let dropped = (writer.droppedPayloads, writer.droppedCapabilities)
        writer.publish(changes, revision: book.revision)
        publishedRevision = book.revision
        publications += 1
        if writer.droppedPayloads != dropped.0 {
            Log.error("\(writer.droppedPayloads - dropped.0) payloads did not fit the region's arena and were published empty (revision \(book.revision)); this is a bug, please report it")
        }
        if writer.droppedCapabilities != dropped.1 {
            Log.error("\(writer.droppedCapabilities - dropped.1) capability names found no free index in the region's table and were left out of their records (revision \(book.revision)); this is a bug, please report it")
        }
    }
}
