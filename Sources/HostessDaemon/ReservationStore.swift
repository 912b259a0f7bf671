import Glibc
import HostessModel
import HostessSystem

// MARK: - ReservationStore

/// Saves the reservations next to the socket (`SOCKET.reservations`, mode 0600) whenever they change, so
/// that a hostessd that adopts its predecessor's region (after a crash) also gets its reservations back,
/// with their expiry times and fencing tokens.
///
/// The file is the daemon's own, but it is read like any outside input: a file that is not a regular file
/// owned by hostessd's user, is writable by others, or does not parse is moved aside and logged, never trusted.
final class ReservationStore {
    /// Where the file lives.
    let path: String
    /// The guest book revision whose reservations the file holds.
    private var savedRevision: UInt64 = 0

    /// A store at `path`; nothing is read or written yet.
    init(path: String) { self.path = path }

    /// Saves when a reservation changed since the last save (or when the change log cannot tell).
    func saveIfChanged(_ book: GuestBook) {
        guard book.revision != savedRevision else { return }
        let changed = book.changes(since: savedRevision).map { $0.contains { $0.kind == .reservation } } ?? true
        guard changed else {
            savedRevision = book.revision
            return
        }
        save(book)
    }

    /// Saves the book's reservations now. At start this replaces what a predecessor left, so that
    /// reservations a clean stop dropped with its guest book cannot come back after a later crash.
    func save(_ book: GuestBook) {
        savedRevision = book.revision
        let state = book.savedReservations
        save(state.reservations, lastToken: state.lastToken)
    }
    /// The file's format version.
    static let version: Int64 = 1

    /// What a previous daemon saved, or nil when there is no usable file.
    func load() -> (reservations: [Reservation], lastToken: UInt64)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        do throws(HostessError) {
            let file: (bytes: [UInt8], owner: uid_t, mode: mode_t)
            do { file = try FileContents.readRegularFile(path, limit: 64 << 20) } catch { throw HostessError(.badRequest, "\(error)") }
            guard file.owner == geteuid(), file.mode & 0o022 == 0 else {
                throw HostessError(.forbidden, "owned by uid \(file.owner) with mode \(String(file.mode & 0o777, radix: 8)); expected hostessd's user and no write access for others")
            }
            let bytes = file.bytes
            let document: JSONValue
            do { document = try JSONParser.parse(bytes) } catch { throw HostessError(.parseError, error.description) }
            let reader = try JSONReader(document, path: "")
            guard try reader.int("version", in: 0...Int64.max) == Self.version else {
                throw HostessError(.badRequest, "expected version \(Self.version)", field: "version")
            }
            let lastToken = UInt64(try reader.int("lastToken", in: 0...Int64.max) ?? 0)
            guard case .array(let items) = try reader.require("reservations") else {
                throw HostessError(.badRequest, "expected an array", field: "reservations")
            }
            var reservations: [Reservation] = []
            for item in items { reservations.append(try Reservation(json: item)) }
            return (reservations, lastToken)
        } catch {
            let aside = path + ".bad-\(SystemClock.wallMilliseconds())"
            Glibc.rename(path, aside)
            Log.warning("reservations file \(path) is unusable (\(error)); moved it to \(aside) and started without reservations")
            return nil
        }
    }

    /// Writes the reservations and the last fencing token.
    func save(_ reservations: [Reservation], lastToken: UInt64) {
        let document: JSONValue = [
            "version": .int(Self.version), "lastToken": .int(Int64(clamping: lastToken)),
            "reservations": .array(reservations.map { $0.json(servers: []) }),
        ]
        // Not flushed to the device: the reservations matter only together with the guest book, which lives in
        // shared memory and does not survive a power loss either; a rename is enough against a crash.
        do { try FileContents.replace(path, with: document.jsonBytes, mode: 0o600) } catch {
            Log.error("cannot save reservations to \(path): \(error); they will not survive a crash")
        }
    }
}
