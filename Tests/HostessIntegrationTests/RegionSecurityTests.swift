import Foundation
import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import Testing

/// Who may do what with the shared-memory region: only its writer writes it; readers refuse regions anyone
/// else could have written; a name squatted by another user is never adopted.
@Suite("shared-memory region security")
struct RegionSecurityTests {
    static let python = "/usr/bin/python3"

    /// The owner, permission bits, inode and contents of a file.
    static func state(of path: String) throws -> (owner: uid_t, mode: mode_t, inode: UInt64, bytes: [UInt8]) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw SystemError("stat \(path)", errno: errno) }
        let bytes = FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
        return (info.st_uid, info.st_mode & 0o7777, UInt64(info.st_ino), bytes)
    }

    @Test("another user can open a live region for reading but not for writing; it is 0644 and root's")
    func otherUsersCannotWrite() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let id = Fixture.id()
        #expect(try client.request("register", ["entry": Fixture.entry(id: id)]).result != nil)
        let path = SharedMemory.directory + daemon.sharedMemoryName

        let file = try Self.state(of: path)
        #expect(file.mode == 0o644)
        #expect(file.owner == 0)

        let writable = try CLI.run(Self.python, ["-c", "import os,sys; os.open('\(path)', os.O_RDWR)"], asNobody: true)
        #expect(writable.status != 0, "\(writable)")
        #expect(writable.stderr.contains("PermissionError"), "\(writable)")
        let writeOnly = try CLI.run(Self.python, ["-c", "import os,sys; os.open('\(path)', os.O_WRONLY)"], asNobody: true)
        #expect(writeOnly.status != 0, "\(writeOnly)")
        #expect(writeOnly.stderr.contains("PermissionError"), "\(writeOnly)")
        let truncate = try CLI.run(Self.python, ["-c", "import os,sys; os.truncate('\(path)', 0)"], asNobody: true)
        #expect(truncate.status != 0, "\(truncate)")
        let unlink = try CLI.run(Self.python, ["-c", "import os,sys; os.unlink('\(path)')"], asNobody: true)
        #expect(unlink.status != 0, "\(unlink)")

        let readable = try CLI.run(
            Self.python, ["-c", "import os,sys; fd = os.open('\(path)', os.O_RDONLY); sys.stdout.write(os.read(fd, 8).decode())"],
            asNobody: true)
        #expect(readable.status == 0, "\(readable)")
        #expect(readable.stdout == "HOSTESS1", "\(readable)")

        // A read-only descriptor cannot be mapped writable either.
        let mapped = try CLI.run(
            Self.python,
            ["-c", "import os,mmap; fd = os.open('\(path)', os.O_RDONLY); mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)"],
            asNobody: true)
        #expect(mapped.status != 0, "\(mapped)")
        #expect(mapped.stderr.contains("PermissionError"), "\(mapped)")

        // Nothing above changed what readers see.
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(try reader.getServer(id)?.id == id)
        #expect(try reader.check() == [])
        #expect(try Self.state(of: path).mode == 0o644)
    }

    @Test("a name another user created first is refused by hostessd and left untouched")
    func squattedName() throws {
        let scratch = try ScratchDirectory()
        let name = "/hostess-test-" + UUID().uuidString.lowercased()
        let path = SharedMemory.directory + name
        defer { Glibc.unlink(path) }
        let squat = try CLI.run(
            Self.python,
            ["-c", "import os; fd = os.open('\(path)', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666); os.fchmod(fd, 0o666); os.write(fd, b'junk' * 2048)"],
            asNobody: true)
        try #require(squat.status == 0, "\(squat)")
        let before = try Self.state(of: path)
        #expect(before.owner == 65534 && before.mode == 0o666)

        let started = try CLI.run(Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--shm", name], timeout: 10)
        #expect(started.status == 1, "\(started)")
        #expect(started.stderr.contains("belongs to uid 65534"), "\(started)")

        let after = try Self.state(of: path)
        #expect(after.owner == before.owner)
        #expect(after.mode == before.mode)
        #expect(after.inode == before.inode)
        #expect(after.bytes == before.bytes)
    }

    @Test("a well-formed region another user planted under the name is neither adopted nor read")
    func plantedRegion() throws {
        let scratch = try ScratchDirectory()
        let bytes = try RegionCopies.sound().bytes
        let planted = try RegionCopies.File(bytes)
        defer { planted.remove() }
        try #require(chown(planted.path, 65534, 65534) == 0)
        let before = try Self.state(of: planted.path)

        // Readers do not trust it…
        #expect(RegionCopies.openError(planted.name) == .untrustedOwner(name: planted.name, owner: 65534))
        // …and hostessd does not adopt its entries.
        let started = try CLI.run(Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--shm", planted.name], timeout: 10)
        #expect(started.status == 1, "\(started)")
        #expect(started.stderr.contains("belongs to uid 65534"), "\(started)")
        #expect(!started.stderr.contains("adopted"), "\(started)")
        let after = try Self.state(of: planted.path)
        #expect(after.inode == before.inode && after.bytes == before.bytes && after.owner == 65534)
    }

    @Test("a root-owned region that group or others may write is refused by readers")
    func writableCopyRefused() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        #expect(try client.request("register", ["entry": Fixture.entry(id: Fixture.id())]).result != nil)
        let bytes = try #require(FileManager.default.contents(atPath: SharedMemory.directory + daemon.sharedMemoryName).map { [UInt8]($0) })
        let copy = try RegionCopies.File(bytes)
        defer { copy.remove() }
        #expect(RegionCopies.openError(copy.name) == nil)
        try #require(chmod(copy.path, 0o666) == 0)
        #expect(RegionCopies.openError(copy.name) == .writableByOthers(name: copy.name, mode: 0o666))
        // Trusting more owners does not make a writable region trustworthy.
        #expect(RegionCopies.openError(copy.name, trustedOwners: [0, 65534]) == .writableByOthers(name: copy.name, mode: 0o666))

        // The same for the live region, should an operator loosen its mode.
        let live = SharedMemory.directory + daemon.sharedMemoryName
        try #require(chmod(live, 0o664) == 0)
        #expect(RegionCopies.openError(daemon.sharedMemoryName) == .writableByOthers(name: daemon.sharedMemoryName, mode: 0o664))
        let dumped = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName])
        #expect(dumped.status == 1, "\(dumped)")
        #expect(dumped.stderr.contains("group or others may write it"), "\(dumped)")
    }

    @Test("writing through a reader's mapping faults (it is mapped PROT_READ)")
    func writeThroughReaderFaults() async {
        await #expect(processExitsWith: .signal(SIGSEGV)) {
            let name = "/hostess-test-" + UUID().uuidString.lowercased()
            let entry = try RegionCopies.entry(serial: 1)
            let writer = try RegionWriter(name: name, capacity: 4, arenaBytes: 4096)
            writer.publish([RegionWriter.Change(id: entry.id, entry: entry)], revision: 1)
            let reader = try RegionReader(name: name)
            // The mappings outlive the name: remove it now, since this process dies below.
            Glibc.unlink(SharedMemory.directory + name)
            guard let address = try reader.withEntry(id: entry.id, { $0?.id.baseAddress }) else { exit(3) }
            UnsafeMutableRawPointer(mutating: address).storeBytes(of: 0x58, as: UInt8.self)
            // Not reached when the mapping is read-only.
            withExtendedLifetime((writer, reader)) {}
            exit(0)
        }
    }
}
