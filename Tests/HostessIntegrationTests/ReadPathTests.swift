import Foundation
import Glibc
import HostessClient
import HostessModel
import HostessRegion
import HostessSystem
import Testing

/// Where `hostess get/list/query` and `GuestBookReader` read from: the region of the daemon they were pointed
/// at while its writer lives, else the socket, else an error naming both; a region miss is never an
/// authoritative not-found on its own (issue 10, item 7).
@Suite("read path")
struct ReadPathTests {
    /// A daemon with one registered entry, its id.
    static func daemonWithEntry(_ arguments: [String] = []) throws -> (DaemonProcess, String) {
        let daemon = try DaemonProcess(arguments)
        let id = Fixture.id()
        let reply = try daemon.client().request("register", ["entry": Fixture.entry(id: id)])
        guard reply.errorCode == nil else { throw TestFailure("register failed: \(reply)") }
        return (daemon, id)
    }

    @Test("after hostessd is killed, get, list and query print none of its frozen entries and exit 1 naming the region and the socket")
    func deadWriter() throws {
        let (daemon, id) = try Self.daemonWithEntry()
        #expect(daemon.stop(signal: SIGKILL) != nil)
        #expect(FileManager.default.fileExists(atPath: SharedMemory.directory + daemon.sharedMemoryName), "SIGKILL leaves the region behind")
        for command in [["list"], ["get", id], ["query", "--class", "0x0001"]] {
            // Without a name the daemon cannot be asked for one; with --shm the region is found and refused.
            for global in [[], ["--shm", daemon.sharedMemoryName], ["--via", "shm", "--shm", daemon.sharedMemoryName]] {
                let outcome = try CLI.hostess(global + command, socket: daemon.socketPath)
                #expect(outcome.status == 1, "\(global + command): \(outcome)")
                #expect(!outcome.stdout.contains(CLI.shortID(id)), "\(global + command): \(outcome)")
                if global.first != "--via" { #expect(outcome.stderr.contains(daemon.socketPath), "\(global + command): \(outcome)") }
                if !global.isEmpty {
                    #expect(outcome.stderr.contains(daemon.sharedMemoryName), "\(global + command): \(outcome)")
                    #expect(outcome.stderr.contains("died"), "\(global + command): \(outcome)")
                }
            }
        }
    }

    @Test("--socket with no daemon there reads no other daemon's region, not even the default one")
    func noDaemonAtSocket() throws {
        // With the default region name free, publish an entry under it: the old CLI printed it.
        let defaultName = "/hostess-registry"
        let publisher: (DaemonProcess, String)? =
            FileManager.default.fileExists(atPath: SharedMemory.directory + defaultName) ? nil : try Self.daemonWithEntry(["--shm", defaultName])
        let scratch = try ScratchDirectory()
        let nowhere = scratch.path + "/none.sock"
        for command in [["list"], ["query"], ["get", publisher?.1 ?? Fixture.id()]] {
            let outcome = try CLI.hostess(command, socket: nowhere)
            #expect(outcome.status == 1, "\(command): \(outcome)")
            if let id = publisher?.1 { #expect(!outcome.stdout.contains(CLI.shortID(id)), "\(command): \(outcome)") }
            #expect(outcome.stderr.contains(nowhere), "\(command): \(outcome)")
            #expect(outcome.stderr.contains("shared memory"), "\(command): \(outcome)")
        }
        if let daemon = publisher?.0 { #expect(daemon.stop() == 0) }
    }

    @Test("a live region is read, also when the socket named is gone and the region is named explicitly")
    func liveRegion() throws {
        let (daemon, id) = try Self.daemonWithEntry()
        let listed = try CLI.hostess(["list"], socket: daemon.socketPath)
        #expect(listed.status == 0 && listed.stdout.contains(CLI.shortID(id)), "\(listed)")
        let scratch = try ScratchDirectory()
        let explicit = try CLI.hostess(["--shm", daemon.sharedMemoryName, "list"], socket: scratch.path + "/none.sock")
        #expect(explicit.status == 0 && explicit.stdout.contains(CLI.shortID(id)), "\(explicit)")
        let shmOnly = try CLI.hostess(["--via", "shm", "get", id], socket: daemon.socketPath)
        #expect(shmOnly.status == 0 && shmOnly.stdout.contains(id), "\(shmOnly)")
    }

    @Test("a long-lived reader stops serving a region within the heartbeat tolerance of SIGKILL, then reads the successor's")
    func longLivedReader() async throws {
        let (daemon, id) = try Self.daemonWithEntry()
        let book = try SharedGuestBook(name: daemon.sharedMemoryName)
        let reader = GuestBookReader(socketPath: daemon.socketPath, sharedMemoryName: daemon.sharedMemoryName, route: .sharedMemory)
        #expect(try book.getServer(id)?.id == id)
        #expect(try await reader.listAll().map(\.id) == [id])

        #expect(daemon.stop(signal: SIGKILL) != nil)
        let killed = Date()
        var refusedAfter: Double?
        while refusedAfter == nil && Date().timeIntervalSince(killed) < 5 {
            do { _ = try book.listAll() } catch {
                guard case .writerGone = error else { throw error }
                refusedAfter = Date().timeIntervalSince(killed)
            }
            usleep(5_000)
        }
        let after = try #require(refusedAfter, "a dead writer's region is refused")
        #expect(after <= SharedGuestBook.heartbeatTolerance + 0.3, "refused \(after) s after SIGKILL")
        await #expect(throws: HostessError.self) { try await reader.listAll() }

        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName, "--socket", daemon.socketPath], scratch: daemon.scratch)
        #expect(try book.getServer(id)?.id == id, "the adopted region is reopened")
        #expect(try await reader.listAll().map(\.id) == [id])
        #expect(successor.stop() == 0)
    }

    /// Zeroes every slot of both copies' id index in the live region: lookups miss, scans still see entries.
    static func damageIndex(of name: String) throws {
        let layout = try RegionReader(name: name).layout
        let fd = open(SharedMemory.directory + name, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(name)", errno: errno) }
        defer { close(fd) }
        let zeros = [UInt8](repeating: 0, count: layout.indexSlots * RegionLayout.indexSlotSize)
        for copy in [layout.copy0Offset, layout.copy1Offset] {
            guard pwrite(fd, zeros, zeros.count, off_t(copy + layout.indexOffsetInCopy)) == zeros.count else {
                throw SystemError("pwrite \(name)", errno: errno)
            }
        }
    }

    @Test("a lookup a damaged index misses is confirmed over the socket, or reported as a possibly corrupt region, never as not_found")
    func damagedIndex() throws {
        let (daemon, id) = try Self.daemonWithEntry()
        try Self.damageIndex(of: daemon.sharedMemoryName)
        #expect(try RegionReader(name: daemon.sharedMemoryName).getServer(id) == nil, "the damage hides the entry from lookups")

        for global in [[], ["--via", "shm"]] {
            let confirmed = try CLI.hostess(global + ["get", id], socket: daemon.socketPath)
            #expect(confirmed.status == 0, "\(global): \(confirmed)")
            #expect(confirmed.stdout.contains(id), "\(global): \(confirmed)")
            #expect(confirmed.stderr.contains("may be corrupt"), "the region's disagreement is reported: \(confirmed)")
        }
        let absent = try CLI.hostess(["get", Fixture.id()], socket: daemon.socketPath)
        #expect(absent.status == 1 && absent.stderr.contains("not_found"), "the socket's not_found stands: \(absent)")

        let scratch = try ScratchDirectory()
        let nowhere = scratch.path + "/none.sock"
        let unconfirmed = try CLI.hostess(["--shm", daemon.sharedMemoryName, "get", id], socket: nowhere)
        #expect(unconfirmed.status == 1, "\(unconfirmed)")
        #expect(!unconfirmed.stderr.contains("not_found"), "\(unconfirmed)")
        #expect(unconfirmed.stderr.contains("may be corrupt"), "\(unconfirmed)")
        #expect(unconfirmed.stderr.contains(daemon.sharedMemoryName) && unconfirmed.stderr.contains(nowhere), "\(unconfirmed)")
    }
}
