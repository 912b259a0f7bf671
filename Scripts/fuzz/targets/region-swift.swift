// Fuzz target `region-swift`: the shared-memory guest book's Swift reader (HostessRegion's RegionReader)
// over arbitrary region bytes, planted as a shared-memory object the reader opens by name.
//
// The region is a sound one made in-process by the real RegionWriter (8 entries, some ids inline, some in
// the arena, two classes, capabilities, a removal so the index has a tombstone), then damaged as the input
// says: byte 0 even, the rest is patches (3 bytes of offset, 1 of length, then that many bytes, each
// written over the region at the offset modulo its size); byte 0 odd, the rest is written over the region
// from its start (so any header at all). Then every answer the reader gives is asked for.
// Oracle: no trap, no out-of-bounds read (ASan), bounded time; and where the bytes are the writer's (the
// patches change nothing), the reader's answers are the writer's entries.
import Glibc
import HostessModel
import HostessRegion
import HostessSystem

private struct Template {
    let bytes: [UInt8]
    let entries: [GuestBookEntry]
    let removed: String
    /// Kept open for the process's life, so that the region's writer lock is held and the region "alive".
    let writer: RegionWriter
}

private func entry(_ serial: Int) -> GuestBookEntry {
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

nonisolated(unsafe) private let template: Template = {
    let name = "/hostess-fuzz-template-\(getpid())"
    let writer: RegionWriter
    do { writer = try RegionWriter(name: name, capacity: 8, arenaBytes: 16384) } catch { fatalError("region: writer: \(error)") }
    let all = (1...8).map(entry)
    writer.publish(all[..<5].map { RegionWriter.Change(id: $0.id, entry: $0) }, revision: 5)
    writer.publish(all[5...].map { RegionWriter.Change(id: $0.id, entry: $0) }, revision: 8)
    writer.publish([RegionWriter.Change(id: all[2].id, entry: nil)], revision: 9)
    let fd = open(SharedMemory.directory + name, O_RDONLY)
    var bytes = [UInt8](repeating: 0, count: RegionLayout(capacity: 8, arenaBytes: 16384).regionSize)
    guard fd >= 0, bytes.withUnsafeMutableBytes({ pread(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
        fatalError("region: cannot read the template")
    }
    close(fd)
    // The bytes are all it needs from the name: gone now, so that no run leaves it in /dev/shm.
    shm_unlink(name)
    return Template(bytes: bytes, entries: all.enumerated().filter { $0.offset != 2 }.map(\.element), removed: all[2].id, writer: writer)
}()

/// The shared-memory object the damaged bytes are planted in, mode 0644 as hostessd's.
private let planted: (name: String, fd: Int32) = {
    let name = "/hostess-fuzz-\(getpid())"
    shm_unlink(name)
    let fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { fatalError("region: shm_open \(name): errno \(errno)") }
    fchmod(fd, 0o644)
    atexit { shm_unlink("/hostess-fuzz-\(getpid())") }
    return (name, fd)
}()

/// The template damaged as `input` says, and whether any byte differs from the writer's. (Tracked while
/// patching: comparing the whole region would cost a trace-cmp call per byte.)
private func damaged(_ input: UnsafeBufferPointer<UInt8>) -> (bytes: [UInt8], changed: Bool) {
    var bytes = template.bytes
    var changed = false
    guard let mode = input.first else { return (bytes, false) }
    bytes.withUnsafeMutableBufferPointer { region in
        func put(_ offset: Int, _ byte: UInt8) {
            if region[offset] != byte {
                region[offset] = byte
                changed = true
            }
        }
        if mode & 1 == 1 {
            for (offset, byte) in input.dropFirst().enumerated() where offset < region.count { put(offset, byte) }
            return
        }
        var at = 1
        while at + 4 <= input.count {
            let offset = (Int(input[at]) << 16 | Int(input[at + 1]) << 8 | Int(input[at + 2])) % region.count
            let length = Int(input[at + 3])
            at += 4
            for k in 0..<length where at + k < input.count { put((offset + k) % region.count, input[at + k]) }
            at += length
        }
    }
    return (bytes, changed)
}

private func plant(_ bytes: [UInt8]) {
    guard ftruncate(planted.fd, off_t(bytes.count)) == 0,
        bytes.withUnsafeBytes({ pwrite(planted.fd, $0.baseAddress, $0.count, 0) }) == bytes.count
    else { fatalError("region: cannot plant the region") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let (bytes, changed) = damaged(UnsafeBufferPointer(start: data, count: size))
    plant(bytes)
    let sound = !changed
    let reader: RegionReader
    do { reader = try RegionReader(name: planted.name) } catch {
        if sound { fatalError("region: the writer's region does not open: \(error)") }
        return 0
    }
    _ = reader.liveness()
    _ = try? reader.stableRevision()
    _ = try? reader.checkNotTruncated()
    var found: [GuestBookEntry?] = []
    for expected in template.entries {
        found.append(try? reader.getServer(expected.id))
        _ = try? reader.withEntry(id: expected.id) { view in view.map { _ in 1 } }
    }
    _ = try? reader.getServer(template.removed)
    let all = try? reader.listAll()
    let filters = [
        ServerFilter(classCode: ClassCode(1)), ServerFilter(classCode: ClassCode(2)), ServerFilter(capabilities: ["gpu"]),
        ServerFilter(fqdn: "host-2", servername: "server-2", owner: "alice"), ServerFilter(availableTerminals: 2, unreserved: true),
    ]
    var queried: [[GuestBookEntry]?] = []
    for filter in filters {
        let answer = try? reader.query(filter)
        queried.append(answer)
        if let answer, let count = try? reader.count(filter), count != answer.count, sound {
            fatalError("region: count \(count) but query \(answer.count)")
        }
    }
    if sound {
        guard all == template.entries else { fatalError("region: listAll \(String(describing: all?.map(\.id))) is not the writer's") }
        guard found == template.entries.map(Optional.some) else { fatalError("region: getServer is not the writer's") }
        for (filter, answer) in zip(filters, queried) where answer != template.entries.filter(filter.matches) {
            fatalError("region: query \(filter) is \(String(describing: answer?.map(\.id)))")
        }
        guard (try? reader.getServer(template.removed)) == .some(nil) else { fatalError("region: the removed entry is found") }
    }
    return 0
}
