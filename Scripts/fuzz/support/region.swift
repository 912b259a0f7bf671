// What the region targets (`region-swift`, `region-c`) share: a sound region made in-process by the real
// RegionWriter, planted as a shared-memory object, and the damage an input does to it.
//
// The region is the writer's (8 entries, some ids inline, some in the arena, two classes, capabilities, a
// removal so the index has a tombstone). It is planted once, and each input damages it in place through a
// writable mapping: byte 0 even, the rest is patches (3 bytes of offset, 1 of length, then that many bytes,
// each written over the region at the offset modulo its size); byte 0 odd, the rest is written over the
// region from its start (so any header at all). `restore()` puts the writer's bytes back where the input
// wrote, so an input costs what it writes, not the region's 200 KiB.
import Glibc
import HostessModel
import HostessRegion
import HostessSystem

// MARK: - The writer's region

/// The writer's region: its bytes and what it holds.
struct RegionFixture {
    let bytes: [UInt8]
    /// The live entries, in the order the writer lists them.
    let entries: [GuestBookEntry]
    /// The id of the entry removed.
    let removed: String
    /// Kept open for the process's life, so that the region's writer lock is held and the region "alive".
    let writer: RegionWriter

    /// The fixture's entry number `serial`: odd ones have an id long enough to live in the arena.
    static func entry(_ serial: Int) -> GuestBookEntry {
        let long = serial % 2 == 1
        let fqdn = long ? "node-\(serial).rack-0042.east.datacenter.arena-id.long-hostnames.example.internal" : "host-\(serial)"
        let id = "\(fqdn):server-\(serial):0x000\(long ? 2 : 1):alice:no:none:550e8400-e29b-41d4-a716-4466554400\(serial < 10 ? "0" : "")\(serial)"
        let capabilities: [JSONValue] = serial % 3 == 0 ? ["pty", "vt100", "gpu"] : ["pty", "vt100"]
        let json: JSONValue = [
            "id": .string(id), "serial": .int(Int64(serial)), "registeredAt": .int(1_700_000_000_000 + Int64(serial)),
            "lastHeartbeat": .int(1_700_000_000_000 + Int64(serial)),
            "terminals": [
                "stdin": ["direction": "input", "multiplexing": "none", "protocol": "raw-bytes"],
                "stdout": ["direction": "output", "multiplexing": "fanout"],
            ],
            "capabilities": .array(capabilities),
            "metadata": ["version": "1.0.0", "nested": ["list": [1, 2.5, "x", nil, true]]],
        ]
        do { return try GuestBookEntry(json: json) } catch { fatalError("region: fixture entry \(serial): \(error)") }
    }

    /// Writes the region under a temporary name, reads its bytes and unlinks the name (so no run leaves it).
    static func make() -> RegionFixture {
        let name = "/hostess-fuzz-template-\(getpid())"
        let layout = RegionLayout(capacity: 8, arenaBytes: 16384)
        let writer: RegionWriter
        do { writer = try RegionWriter(name: name, capacity: layout.capacity, arenaBytes: layout.arenaBytes) } catch {
            fatalError("region: writer: \(error)")
        }
        let all = (1...8).map(entry)
        writer.publish(all[..<5].map { RegionWriter.Change(id: $0.id, entry: $0) }, revision: 5)
        writer.publish(all[5...].map { RegionWriter.Change(id: $0.id, entry: $0) }, revision: 8)
        writer.publish([RegionWriter.Change(id: all[2].id, entry: nil)], revision: 9)
        let fd = open(SharedMemory.directory + name, O_RDONLY)
        var bytes = [UInt8](repeating: 0, count: layout.regionSize)
        guard fd >= 0, bytes.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            fatalError("region: cannot read the template")
        }
        close(fd)
        shm_unlink(name)
        return RegionFixture(bytes: bytes, entries: all.enumerated().filter { $0.offset != 2 }.map(\.element), removed: all[2].id, writer: writer)
    }
}

// MARK: - The planted region

/// The writer's bytes planted as a shared-memory object (mode 0644, as hostessd's), mapped writable here so
/// that inputs damage it in place.
final class PlantedRegion {
    /// The object's name, for readers that open by name.
    let name: String
    /// The writable mapping of the whole object.
    let bytes: UnsafeMutableRawBufferPointer
    private let fixture: RegionFixture
    /// The ranges the last input wrote (offset, count), each within the region.
    private var written: [(Int, Int)] = []

    init(_ fixture: RegionFixture) {
        self.fixture = fixture
        name = "/hostess-fuzz-\(getpid())"
        shm_unlink(name)
        let fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { fatalError("region: shm_open \(name): errno \(errno)") }
        fchmod(fd, 0o644)
        atexit { shm_unlink("/hostess-fuzz-\(getpid())") }
        let size = fixture.bytes.count
        guard ftruncate(fd, off_t(size)) == 0 else { fatalError("region: ftruncate: errno \(errno)") }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            fatalError("region: mmap: errno \(errno)")
        }
        close(fd)
        bytes = UnsafeMutableRawBufferPointer(start: base, count: size)
        fixture.bytes.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    /// Damages the region as `input` says; whether any byte now differs from the writer's. (Tracked while
    /// writing: comparing the whole region would cost a trace-cmp call per byte.)
    func damage(_ input: UnsafeBufferPointer<UInt8>) -> Bool {
        var changed = false
        guard let mode = input.first else { return false }
        let size = bytes.count
        func put(_ offset: Int, _ byte: UInt8) {
            if bytes[offset] != byte {
                bytes[offset] = byte
                changed = true
            }
        }
        if mode & 1 == 1 {
            let count = min(input.count - 1, size)
            written.append((0, count))
            for offset in 0..<count { put(offset, input[offset + 1]) }
            return changed
        }
        var at = 1
        while at + 4 <= input.count {
            let offset = (Int(input[at]) << 16 | Int(input[at + 1]) << 8 | Int(input[at + 2])) % size
            let length = min(Int(input[at + 3]), input.count - at - 4)
            at += 4
            written.append((offset, length))
            for k in 0..<length { put((offset + k) % size, input[at + k]) }
            at += length
        }
        return changed
    }

    /// Puts the writer's bytes back where the last input wrote.
    func restore() {
        let size = bytes.count
        for (offset, count) in written {
            for k in 0..<count { bytes[(offset + k) % size] = fixture.bytes[(offset + k) % size] }
        }
        written.removeAll(keepingCapacity: true)
    }
}
