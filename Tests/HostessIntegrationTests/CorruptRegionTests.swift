import Foundation
import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import HostessTestSupport
import Testing

// MARK: - Region copies

/// A sound region built in-process with the real `RegionWriter`, kept as bytes, and copies of it (sound or
/// damaged) written under /dev/shm for readers to open.
enum RegionCopies {
    static let capacity = 32
    static let arenaBytes = 64 * 1024
    static var layout: RegionLayout { RegionLayout(capacity: capacity, arenaBytes: arenaBytes) }

    /// An entry with serial `serial`; odd serials are class 0x0002 with an id too long to stay inline (in the
    /// arena before the payload), even ones class 0x0001 with an inline id; every third has capability `gpu`.
    static func entry(serial: Int) throws -> GuestBookEntry {
        let id =
            serial % 2 == 0
            ? Fixture.id(servername: "server-\(serial)", classCode: "0x0001")
            : Fixture.id(servername: "server-\(serial)", classCode: "0x0002", fqdn: "node-\(serial).rack-0042.east.datacenter.arena-id.long-hostnames.example.internal")
        guard (id.utf8.count > RegionLayout.maximumInlineIDBytes) == (serial % 2 == 1) else {
            throw TestFailure("the fixture id \(id) is not where it is meant to be (inline or in the arena)")
        }
        let capabilities = serial % 3 == 0 ? ["pty", "vt100", "gpu"] : ["pty", "vt100"]
        guard var object = Fixture.entry(id: id, capabilities: capabilities).objectValue else {
            throw TestFailure("the fixture entry is not an object")
        }
        object["serial"] = .int(Int64(serial))
        object["registeredAt"] = .int(1_700_000_000_000 + Int64(serial))
        object["lastHeartbeat"] = .int(1_700_000_000_000 + Int64(serial))
        return try GuestBookEntry(json: .object(object))
    }

    /// A sound region's bytes and the entries it holds: 22 entries published in two batches, then 2 removed,
    /// so its index holds tombstones and its arena a gap.
    static func sound() throws -> (bytes: [UInt8], entries: [GuestBookEntry]) {
        let name = "/hostess-test-" + UUID().uuidString.lowercased()
        let writer = try RegionWriter(name: name, capacity: capacity, arenaBytes: arenaBytes)
        defer { writer.close() }  // marks it closed and removes its name
        let all = try (1...22).map { try entry(serial: $0) }
        writer.publish(all[..<12].map { RegionWriter.Change(id: $0.id, entry: $0) }, revision: 12)
        writer.publish(all[12...].map { RegionWriter.Change(id: $0.id, entry: $0) }, revision: 22)
        writer.publish([RegionWriter.Change(id: all[3].id, entry: nil), RegionWriter.Change(id: all[15].id, entry: nil)], revision: 24)
        guard let data = FileManager.default.contents(atPath: SharedMemory.directory + name) else {
            throw TestFailure("cannot read the region \(name)")
        }
        var remaining = all
        remaining.remove(at: 15)
        remaining.remove(at: 3)
        return (Array(data), remaining)
    }

    /// A file under /dev/shm written by a test; `remove()` it when done.
    struct File {
        /// Its shared-memory name (`/hostess-test-copy-…`).
        let name: String
        /// Its path.
        var path: String { SharedMemory.directory + name }

        /// Writes `bytes` into a new file with `mode`, owned by the caller (root).
        init(_ bytes: [UInt8], mode: mode_t = 0o644, prefix: String = "hostess-test-copy-") throws {
            name = "/" + prefix + UUID().uuidString.lowercased()
            let fd = open(SharedMemory.directory + name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SystemError("open \(SharedMemory.directory + name)", errno: errno) }
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                guard count > 0 else { throw SystemError("write \(name)", errno: errno) }
                written += count
            }
            guard fchmod(fd, mode) == 0 else { throw SystemError("fchmod \(name)", errno: errno) }
        }

        /// Removes the file.
        func remove() { unlink(path) }
    }

    /// The RegionError a reader gives for `name`, or nil when it opens.
    static func openError(_ name: String, trustedOwners: Set<UInt32> = []) -> RegionError? {
        do {
            _ = try RegionReader(name: name, trustedOwners: trustedOwners)
            return nil
        } catch {
            return error
        }
    }
}

// MARK: - Bytes

extension Array where Element == UInt8 {
    /// The little-endian integer at `offset`.
    func little<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    /// Stores `value` little-endian at `offset`.
    mutating func setLittle<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}

// MARK: - Bounded calls

/// A box for a result handed from a worker thread (the semaphore orders the accesses).
private final class Handoff<T>: @unchecked Sendable {
    var value: T?
}

/// Runs `body` on its own thread and returns its result, recording an issue when it takes a second or more,
/// or nil (and an issue) when it does not finish within 10 s: a hang fails the test instead of stalling it.
private func bounded<T>(
    _ label: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping @Sendable () throws(RegionError) -> T
) -> Result<T, RegionError>? {
    let handoff = Handoff<Result<T, RegionError>>()
    let done = DispatchSemaphore(value: 0)
    let start = ContinuousClock.now
    let thread = Thread {
        handoff.value = Result { () throws(RegionError) -> T in try body() }
        done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    guard done.wait(timeout: .now() + 10) == .success else {
        Issue.record("\(label) did not return within 10 s", sourceLocation: sourceLocation)
        return nil
    }
    let elapsed = ContinuousClock.now - start
    #expect(elapsed < .seconds(1), "\(label) took \(elapsed)", sourceLocation: sourceLocation)
    return handoff.value
}

/// Reads every field of a view and every byte of each buffer it gives, so a wrong offset would fault here.
private func touch(_ view: EntryView?) -> Int {
    guard let view else { return -1 }
    var sum = Int(truncatingIfNeeded: view.serial) &+ Int(view.classCode.value) &+ Int(truncatingIfNeeded: view.registeredAt)
    sum = sum &+ Int(truncatingIfNeeded: view.lastHeartbeat) &+ view.terminalCount &+ view.availableTerminals &+ (view.isSession ? 1 : 0)
    for part in [view.id, view.fqdn, view.servername, view.owner, view.authMechanism, view.uuid, view.payload] {
        sum = part.reduce(sum) { $0 &+ Int($1) }
    }
    for position in -1...(view.capabilityCount + 1) {
        sum = view.capability(at: position).reduce(sum) { $0 &+ Int($1) }
    }
    return sum
}

/// What the read APIs gave for a region.
private struct Answers {
    var lookups: [String: Result<GuestBookEntry?, RegionError>] = [:]
    var listAll: Result<[GuestBookEntry], RegionError>?
    var problems: Result<[String], RegionError>?
}

/// Calls every read API of `reader` (each bounded in time) with `ids` and a few ids it does not hold.
private func exercise(_ reader: RegionReader, ids: [String], sourceLocation: SourceLocation = #_sourceLocation) -> Answers {
    var answers = Answers()
    let unknown = Fixture.id()
    let lookups = ids + [unknown, unknown.uppercased(), "not-a-name", ""]
    for id in lookups {
        if let result = bounded("getServer(\(id))", sourceLocation: sourceLocation, { () throws(RegionError) in try reader.getServer(id) }) {
            answers.lookups[id] = result
        }
        _ = bounded("withEntry(\(id))", sourceLocation: sourceLocation) { () throws(RegionError) in try reader.withEntry(id: id, touch) }
    }
    answers.listAll = bounded("listAll", sourceLocation: sourceLocation) { () throws(RegionError) in try reader.listAll() }
    let filters = [
        ServerFilter(), ServerFilter(classCode: ClassCode(2)), ServerFilter(capabilities: ["gpu"]),
        ServerFilter(capabilities: ["pty", "vt100"], availableTerminals: 1), ServerFilter(capabilities: ["never-interned"]),
        ServerFilter(fqdn: "localhost", servername: "server-7", owner: "root"),
    ]
    for filter in filters {
        _ = bounded("query(\(filter))", sourceLocation: sourceLocation) { () throws(RegionError) in try reader.query(filter) }
        _ = bounded("count(\(filter))", sourceLocation: sourceLocation) { () throws(RegionError) in try reader.count(filter) }
    }
    answers.problems = bounded("check", sourceLocation: sourceLocation) { () throws(RegionError) in try reader.check() }
    _ = bounded("header", sourceLocation: sourceLocation) { () throws(RegionError) in reader.header().count }
    _ = bounded("liveness", sourceLocation: sourceLocation) { () throws(RegionError) in reader.liveness() == .alive }
    _ = bounded("waitForRevision", sourceLocation: sourceLocation) { () throws(RegionError) in
        try reader.waitForRevision(after: reader.revision, timeout: 0.05)
    }
    return answers
}

// MARK: - Damage behind a sound header

/// Damage written into both copies of a region whose header stays sound.
enum DataDamage: String, CaseIterable, CustomTestStringConvertible {
    case payloadOffsetPastArena, payloadLengthPastArena, payloadPastArenaUsed, payloadOffsetAndLengthMaximal
    case idLengthOverMaximum, idLengthMaximal
    case idOffsetPastArena, idOffsetMaximal, idRunsPastArenaEnd, idPastArenaUsed, idOverlapsPayload
    case inlineIDChanged, inlineIDLengthIntoArena
    case indexSlotPastCapacity, indexSlotZero, indexSlotMaximal
    case indexAllOccupiedNoMatch, indexAllTombstones, indexAllMatchingHashWrongEntries
    case capabilityIndexesOutOfRange, nameOffsetsOutsideID, summarySerialDiffers, copyCountWrong, arenaUsedOverSize

    var testDescription: String { rawValue }

    /// A word the problem `check()` reports for this damage contains.
    var problemMention: String {
        switch self {
        case .payloadOffsetPastArena, .payloadLengthPastArena, .payloadPastArenaUsed, .payloadOffsetAndLengthMaximal: "payload"
        case .idLengthOverMaximum, .idLengthMaximal: "id length"
        case .idOffsetPastArena, .idOffsetMaximal, .idRunsPastArenaEnd, .idPastArenaUsed: ": id "
        case .idOverlapsPayload: "overlaps"
        case .inlineIDChanged: "payload id differs from record id"
        case .inlineIDLengthIntoArena: "not right after the id"
        case .indexSlotPastCapacity, .indexSlotZero, .indexSlotMaximal: "points outside the table"
        case .indexAllOccupiedNoMatch, .indexAllTombstones, .indexAllMatchingHashWrongEntries: "index does not find"
        case .capabilityIndexesOutOfRange: "capabilit"
        case .nameOffsetsOutsideID: "name field offsets"
        case .summarySerialDiffers: "differs from summary serial"
        case .copyCountWrong: "header says"
        case .arenaUsedOverSize: "arena use"
        }
    }

    /// Whether lookups by id go through damaged data (and so may fail or miss).
    var breaksLookups: Bool {
        switch self {
        case .capabilityIndexesOutOfRange, .nameOffsetsOutsideID, .copyCountWrong, .arenaUsedOverSize, .payloadPastArenaUsed: false
        default: true
        }
    }

    /// Applies the damage to the copy at `copy` of `bytes`; `firstID` is the id of the region's first live entry.
    func apply(to bytes: inout [UInt8], copy: Int, layout: RegionLayout, liveSlots: [Int], firstID: String) {
        typealias R = RegionLayout.Record
        func record(_ slot: Int) -> Int { copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize }
        let index = copy + layout.indexOffsetInCopy
        let arenaUsed = Int(bytes.little(UInt64.self, at: copy + RegionLayout.CopyHeader.arenaUsed))
        switch self {
        case .payloadOffsetPastArena:
            for slot in liveSlots { bytes.setLittle(UInt32(layout.arenaBytes + 100), at: record(slot) + R.payloadOffset) }
        case .payloadLengthPastArena:
            for slot in liveSlots { bytes.setLittle(UInt32(layout.arenaBytes * 4), at: record(slot) + R.payloadLength) }
        case .payloadPastArenaUsed:
            // Inside the arena, but past the part in use: check() names it; readers see no entry's JSON there.
            bytes.setLittle(UInt32(arenaUsed + 16), at: record(liveSlots[0]) + R.payloadOffset)
        case .payloadOffsetAndLengthMaximal:
            for slot in liveSlots {
                bytes.setLittle(UInt32.max, at: record(slot) + R.payloadOffset)
                bytes.setLittle(UInt32.max, at: record(slot) + R.payloadLength)
            }
        case .idLengthOverMaximum:
            for slot in liveSlots { bytes.setLittle(UInt16(RegionLayout.maximumIDBytes + 88), at: record(slot) + R.idLength) }
        case .idLengthMaximal:
            for slot in liveSlots { bytes.setLittle(UInt16.max, at: record(slot) + R.idLength) }
        case .idOffsetPastArena:
            for slot in liveSlots { bytes.setLittle(UInt32(layout.arenaBytes + 100), at: record(slot) + R.idOffset) }
        case .idOffsetMaximal:
            for slot in liveSlots { bytes.setLittle(UInt32.max, at: record(slot) + R.idOffset) }
        case .idRunsPastArenaEnd:
            // The id starts inside the arena and would end in the class heads after it.
            for slot in liveSlots { bytes.setLittle(UInt32(layout.arenaBytes - 8), at: record(slot) + R.idOffset) }
        case .idPastArenaUsed:
            // Inside the arena, but past the part in use: check() names it; lookups find zeros there, not the id.
            bytes.setLittle(UInt32(arenaUsed + 16), at: record(liveSlots[0]) + R.idOffset)
        case .idOverlapsPayload:
            // Every id but the first points into the first entry's payload.
            let payload = bytes.little(UInt32.self, at: record(liveSlots[0]) + R.payloadOffset)
            for slot in liveSlots.dropFirst() { bytes.setLittle(payload + 4, at: record(slot) + R.idOffset) }
        case .inlineIDChanged:
            // One byte of every inline id (the records' own, not the payloads'): lookups by the true id miss.
            for slot in liveSlots where bytes.little(UInt16.self, at: record(slot) + R.idLength) <= RegionLayout.maximumInlineIDBytes {
                bytes[record(slot) + R.id] ^= 0x20
            }
        case .inlineIDLengthIntoArena:
            // Every inline id claims one byte more than the field holds: readers look for it in the arena instead.
            for slot in liveSlots where bytes.little(UInt16.self, at: record(slot) + R.idLength) <= RegionLayout.maximumInlineIDBytes {
                bytes.setLittle(UInt16(RegionLayout.maximumInlineIDBytes + 1), at: record(slot) + R.idLength)
            }
        case .indexSlotPastCapacity, .indexSlotZero, .indexSlotMaximal:
            let stored: UInt64 = self == .indexSlotPastCapacity ? UInt64(layout.capacity + 5) : self == .indexSlotZero ? 0 : 0xFFFF_FFFE
            for position in 0..<layout.indexSlots {
                let value = bytes.little(UInt64.self, at: index + position * 8)
                guard value != 0, value != RegionLayout.tombstone else { continue }
                bytes.setLittle(value & 0xFFFF_FFFF_0000_0000 | stored, at: index + position * 8)
            }
        case .indexAllOccupiedNoMatch:
            // Every slot taken, none matching any id's hash: a probe never meets an empty slot.
            for position in 0..<layout.indexSlots { bytes.setLittle(UInt64(0xDEAD_BEEF) << 32 | 1, at: index + position * 8) }
        case .indexAllTombstones:
            for position in 0..<layout.indexSlots { bytes.setLittle(RegionLayout.tombstone, at: index + position * 8) }
        case .indexAllMatchingHashWrongEntries:
            // Every slot carries the first id's hash but names another live entry: each probe compares an id, none matches.
            let hash = Array(firstID.utf8).withUnsafeBytes { UInt64(UInt32(truncatingIfNeeded: idHash($0))) }
            let others = liveSlots.dropFirst()
            for position in 0..<layout.indexSlots {
                let slot = others[others.startIndex + position % others.count]
                bytes.setLittle(hash << 32 | UInt64(slot + 1), at: index + position * 8)
            }
        case .capabilityIndexesOutOfRange:
            for slot in liveSlots {
                bytes.setLittle(UInt8(200), at: record(slot) + R.capabilityCount)
                for position in 0..<RegionLayout.maximumCapabilities {
                    bytes.setLittle(UInt16(0xFFFF - position), at: record(slot) + R.capabilities + position * 2)
                }
            }
        case .nameOffsetsOutsideID:
            for slot in liveSlots {
                for field in [R.servernameOffset, R.ownerOffset, R.mechanismOffset, R.uuidOffset] {
                    bytes.setLittle(UInt16.max - 3, at: record(slot) + field)
                }
                bytes.setLittle(UInt16.max, at: record(slot) + R.fqdnLength)
                bytes.setLittle(UInt16.max, at: record(slot) + R.servernameLength)
            }
        case .summarySerialDiffers:
            for slot in liveSlots {
                let summary = copy + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize
                bytes.setLittle(UInt64(1_000_000 + slot), at: summary + RegionLayout.Summary.serial)
            }
        case .copyCountWrong:
            bytes.setLittle(UInt32.max, at: copy + RegionLayout.CopyHeader.count)
        case .arenaUsedOverSize:
            bytes.setLittle(UInt64(layout.arenaBytes + 1), at: copy + RegionLayout.CopyHeader.arenaUsed)
        }
    }
}

/// The slots of a copy whose summary holds a serial.
func liveSlots(_ bytes: [UInt8], copy: Int, layout: RegionLayout) -> [Int] {
    (0..<layout.capacity).filter { slot in
        bytes.little(UInt64.self, at: copy + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize) != 0
    }
}

// MARK: - Tests

/// Corrupted regions: random bytes, truncation, wrong magic, version or fingerprint, offsets pointing outside,
/// endless probe chains. Each gives an error or an empty answer, never a crash or a hang.
@Suite("corrupted shared-memory regions")
struct CorruptRegionTests {
    typealias H = RegionLayout.Header

    // MARK: The sound original

    @Test("the in-process region is sound, so every damage below is the only thing wrong")
    func soundOriginal() throws {
        let (bytes, entries) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        #expect(try reader.check() == [])
        #expect(try reader.listAll() == entries)
        #expect(try reader.getServer(entries[5].id) == entries[5])
        #expect(try reader.count(ServerFilter()) == entries.count)
        #expect(reader.layout == RegionCopies.layout)
        #expect(reader.liveness() == .writerGone)
    }

    // MARK: Opening

    @Test("random bytes are not a Hostess region", arguments: [1, 2, 3] as [UInt64])
    func randomBytes(seed: UInt64) throws {
        var generator = SplitMix64(seed: seed)
        var bytes = (0..<RegionCopies.layout.regionSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        if bytes.little(UInt64.self, at: 0) == RegionLayout.magic { bytes[0] ^= 1 }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .badMagic(name: file.name))
    }

    @Test("a file shorter than the header is too small", arguments: [0, 1, 100, RegionLayout.headerSize - 1])
    func shorterThanHeader(size: Int) throws {
        let (bytes, _) = try RegionCopies.sound()
        let file = try RegionCopies.File(Array(bytes.prefix(size)))
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .tooSmall(name: file.name, size: size, needed: RegionLayout.headerSize))
    }

    @Test("a region truncated below its stated size is refused", arguments: [2, 1] as [Int])
    func truncated(divisor: Int) throws {
        let (bytes, _) = try RegionCopies.sound()
        // Half the stated size, or one byte short of it.
        let size = divisor == 2 ? bytes.count / 2 : bytes.count - 1
        let file = try RegionCopies.File(Array(bytes.prefix(size)))
        defer { file.remove() }
        let error = RegionCopies.openError(file.name)
        switch error {
        case .tooSmall(let name, let stated, let needed)?:
            #expect(name == file.name && stated == size && needed == RegionCopies.layout.regionSize)
        case .inconsistentHeader?: break
        default: Issue.record("expected tooSmall or inconsistentHeader, got \(String(describing: error))")
        }
    }

    @Test("a wrong magic number is refused", arguments: [0, 3, 7])
    func wrongMagic(byte: Int) throws {
        var (bytes, _) = try RegionCopies.sound()
        bytes[H.magic + byte] ^= 0x20
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .badMagic(name: file.name))
    }

    @Test("version word 0 means the writer has not finished creating it")
    func versionZero() throws {
        var (bytes, _) = try RegionCopies.sound()
        bytes.setLittle(UInt32(0), at: H.version)
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .notReady(name: file.name))
    }

    @Test("another major version is refused", arguments: [(1, 0), (2, 0), (2, 1), (4, 0), (0, 1), (0xFFFF, 0xFFFF)] as [(UInt32, UInt32)])
    func otherMajorVersion(major: UInt32, minor: UInt32) throws {
        var (bytes, _) = try RegionCopies.sound()
        bytes.setLittle(major << 16 | minor, at: H.version)
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .unsupportedVersion(name: file.name, major: major, minor: minor))
    }

    @Test("a newer minor version of the same major is read")
    func newerMinorVersion() throws {
        var (bytes, entries) = try RegionCopies.sound()
        bytes.setLittle(RegionLayout.versionMajor << 16 | 7, at: H.version)
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        #expect(try reader.listAll() == entries)
        #expect(reader.header().versionMinor == 7)
    }

    @Test("another ABI fingerprint is refused", arguments: [0, 1, 63] as [Int])
    func fingerprintChanged(bit: Int) throws {
        var (bytes, _) = try RegionCopies.sound()
        bytes.setLittle(RegionLayout.fingerprint ^ (1 << UInt64(bit)), at: H.fingerprint)
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .fingerprintMismatch(name: file.name))
    }

    /// A header field, its width in bytes, and what to store there.
    struct HeaderChange: CustomTestStringConvertible, Sendable {
        var field: String
        var offset: Int
        var width: Int
        var value: @Sendable (RegionLayout) -> UInt64
        var testDescription: String { field }
    }

    static let headerChanges: [HeaderChange] = [
        HeaderChange(field: "headerSize", offset: H.headerSize, width: 4) { _ in 4095 },
        HeaderChange(field: "regionSize", offset: H.regionSize, width: 8) { UInt64($0.regionSize + 4096) },
        HeaderChange(field: "regionSize huge", offset: H.regionSize, width: 8) { _ in UInt64.max },
        HeaderChange(field: "capacity 0", offset: H.capacity, width: 4) { _ in 0 },
        HeaderChange(field: "capacity huge", offset: H.capacity, width: 4) { _ in UInt64(UInt32.max) },
        HeaderChange(field: "capacity doubled", offset: H.capacity, width: 4) { UInt64($0.capacity * 2) },
        HeaderChange(field: "capabilityCapacity", offset: H.capabilityCapacity, width: 4) { _ in UInt64(RegionLayout.capabilityCapacity + 1) },
        HeaderChange(field: "indexSlots", offset: H.indexSlots, width: 4) { UInt64($0.indexSlots * 2) },
        HeaderChange(field: "indexSlots not a power of two", offset: H.indexSlots, width: 4) { UInt64($0.indexSlots - 1) },
        HeaderChange(field: "capabilityTableOffset", offset: H.capabilityTableOffset, width: 8) { _ in 0 },
        HeaderChange(field: "heartbeatsOffset", offset: H.heartbeatsOffset, width: 8) { UInt64($0.heartbeatsOffset + 8) },
        HeaderChange(field: "copy0Offset", offset: H.copy0Offset, width: 8) { _ in 0 },
        HeaderChange(field: "copy0Offset past the end", offset: H.copy0Offset, width: 8) { UInt64($0.regionSize) },
        HeaderChange(field: "copy1Offset = copy0Offset", offset: H.copy1Offset, width: 8) { UInt64($0.copy0Offset) },
        HeaderChange(field: "copy1Offset huge", offset: H.copy1Offset, width: 8) { _ in UInt64(1) << 62 },
        HeaderChange(field: "copySize", offset: H.copySize, width: 8) { UInt64($0.copySize + 1) },
        HeaderChange(field: "copySize huge", offset: H.copySize, width: 8) { _ in UInt64.max - 4095 },
        HeaderChange(field: "arenaBytes doubled", offset: H.arenaBytes, width: 8) { UInt64($0.arenaBytes * 2) },
        HeaderChange(field: "arenaBytes huge", offset: H.arenaBytes, width: 8) { _ in UInt64(1) << 41 },
    ]

    @Test("a header offset or size that disagrees with the layout is refused", arguments: headerChanges)
    func headerFieldChanged(change: HeaderChange) throws {
        var (bytes, _) = try RegionCopies.sound()
        let value = change.value(RegionCopies.layout)
        if change.width == 4 { bytes.setLittle(UInt32(truncatingIfNeeded: value), at: change.offset) } else { bytes.setLittle(value, at: change.offset) }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let error = RegionCopies.openError(file.name)
        guard case .inconsistentHeader(let name, _)? = error else {
            Issue.record("\(change.field): expected inconsistentHeader, got \(String(describing: error))")
            return
        }
        #expect(name == file.name)
    }

    @Test("a capacity off by one is refused, or read safely and found unsound by check()", arguments: [-1, 1])
    func capacityOffByOne(delta: Int) throws {
        var (bytes, entries) = try RegionCopies.sound()
        bytes.setLittle(UInt32(RegionCopies.capacity + delta), at: H.capacity)
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader: RegionReader
        do { reader = try RegionReader(name: file.name) } catch {
            guard case .inconsistentHeader = error else { Issue.record("expected inconsistentHeader, got \(error)"); return }
            return
        }
        // The header's offsets all still agree, so the reader reads the copies with a shifted layout.
        let answers = exercise(reader, ids: entries.map(\.id))
        let problems = try #require(try answers.problems?.get())
        #expect(!problems.isEmpty)
    }

    @Test("group- or other-writable regions are refused", arguments: [0o666, 0o664, 0o646, 0o622] as [mode_t])
    func writableByOthers(mode: mode_t) throws {
        let (bytes, _) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes, mode: mode)
        defer { file.remove() }
        #expect(RegionCopies.openError(file.name) == .writableByOthers(name: file.name, mode: UInt32(mode)))
    }

    @Test("a region owned by an untrusted user is refused, and read when that user is trusted")
    func untrustedOwner() throws {
        let (bytes, entries) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        try #require(chown(file.path, 65534, 65534) == 0)
        #expect(RegionCopies.openError(file.name) == .untrustedOwner(name: file.name, owner: 65534))
        #expect(RegionCopies.openError(file.name, trustedOwners: [1000, 4242]) == .untrustedOwner(name: file.name, owner: 65534))
        let reader = try RegionReader(name: file.name, trustedOwners: [65534])
        #expect(try reader.listAll() == entries)
        #expect(try reader.check() == [])
    }

    @Test("a symbolic link to a sound region is not followed")
    func symbolicLink() throws {
        let (bytes, _) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let link = "/hostess-test-link-" + UUID().uuidString.lowercased()
        try #require(symlink(file.path, SharedMemory.directory + link) == 0)
        defer { unlink(SharedMemory.directory + link) }
        #expect(RegionCopies.openError(file.name) == nil)
        let error = RegionCopies.openError(link)
        guard case .system(let system)? = error else {
            Issue.record("expected a system error (O_NOFOLLOW), got \(String(describing: error))")
            return
        }
        #expect(system.errno == ELOOP)
    }

    @Test("a directory, a missing name and a malformed name are errors")
    func notARegion() throws {
        let directory = "/hostess-test-dir-" + UUID().uuidString.lowercased()
        try #require(mkdir(SharedMemory.directory + directory, 0o755) == 0)
        defer { rmdir(SharedMemory.directory + directory) }
        #expect(RegionCopies.openError(directory) == .notRegularFile(name: directory, type: .directory, owner: 0, ownerName: "root"))
        let missing = "/hostess-test-missing-" + UUID().uuidString.lowercased()
        guard case .system(let system)? = RegionCopies.openError(missing) else {
            Issue.record("a missing region opened")
            return
        }
        #expect(system.errno == ENOENT)
        for name in ["", "/", "no-slash", "/a/b", "/.."] {
            guard case .system(let system)? = RegionCopies.openError(name) else {
                Issue.record("name '\(name)' was accepted")
                continue
            }
            #expect(system.errno == EINVAL, "\(name)")
        }
    }

    // MARK: Damage behind a sound header

    @Test("damage in both copies behind a sound header: every read returns or throws, and check() names it", arguments: DataDamage.allCases)
    func dataDamage(damage: DataDamage) throws {
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        let firstID = try #require(entries.first?.id)
        for copy in [layout.copy0Offset, layout.copy1Offset] {
            damage.apply(to: &bytes, copy: copy, layout: layout, liveSlots: liveSlots(bytes, copy: copy, layout: layout), firstID: firstID)
        }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        let answers = exercise(reader, ids: entries.map(\.id))

        let problems = try #require(try answers.problems?.get())
        #expect(problems.contains { $0.contains(damage.problemMention) }, "\(damage): \(problems)")
        let published = Dictionary(uniqueKeysWithValues: entries.map { ($0.id, $0) })
        // Whatever a read returns is an entry that was published, under its own id: damage is never passed off as data.
        for (id, result) in answers.lookups {
            if case .success(let entry?) = result {
                #expect(entry.id.lowercased() == id.lowercased() && published[entry.id] == entry, "\(damage): getServer(\(id)) gave \(entry.id)")
            }
        }
        if case .success(let all)? = answers.listAll {
            #expect(all.allSatisfy { published[$0.id] == $0 }, "\(damage)")
        }
        if !damage.breaksLookups {
            // Damage lookups do not go through leaves them working.
            for entry in entries.prefix(5) where damage != .payloadPastArenaUsed || entry.id != firstID {
                #expect(try reader.getServer(entry.id) == entry, "\(damage)")
            }
        }
    }

    @Test("check() survives a copy header whose arena use does not fit an Int")
    func arenaUsedBeyondInt() async {
        // Run in a child process: a trap here would otherwise take every other test down with it.
        await #expect(processExitsWith: .success) {
            var bytes = try RegionCopies.sound().bytes
            let layout = RegionCopies.layout
            for copy in [layout.copy0Offset, layout.copy1Offset] {
                bytes.setLittle(UInt64.max, at: copy + RegionLayout.CopyHeader.arenaUsed)
            }
            let file = try RegionCopies.File(bytes)
            let reader: RegionReader
            do { reader = try RegionReader(name: file.name) } catch {
                file.remove()
                throw error
            }
            file.remove()  // the mapping outlives the name; nothing is left behind if this process dies
            let problems = try reader.check()
            guard problems.contains(where: { $0.contains("arena use") }) else { exit(2) }
            _ = try reader.listAll()
        }
    }

    @Test("lookups through an index that never ends miss rather than spin")
    func endlessProbeChainMisses() throws {
        for damage in [DataDamage.indexAllOccupiedNoMatch, .indexAllTombstones, .indexAllMatchingHashWrongEntries] {
            var (bytes, entries) = try RegionCopies.sound()
            let layout = RegionCopies.layout
            for copy in [layout.copy0Offset, layout.copy1Offset] {
                damage.apply(to: &bytes, copy: copy, layout: layout, liveSlots: liveSlots(bytes, copy: copy, layout: layout), firstID: entries[0].id)
            }
            let file = try RegionCopies.File(bytes)
            defer { file.remove() }
            let reader = try RegionReader(name: file.name)
            for entry in entries {
                let found = bounded("getServer under \(damage)") { () throws(RegionError) in try reader.getServer(entry.id) }
                #expect(try found?.get() == nil, "\(damage)")
            }
            // Scans do not use the index: they still see every entry.
            #expect(try reader.listAll() == entries, "\(damage)")
        }
    }

    @Test("payloads outside the arena make lookups and lists fail with a corrupt-payload error naming the slot and id, not read past it")
    func payloadOutsideArenaIsAnError() throws {
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        for copy in [layout.copy0Offset, layout.copy1Offset] {
            DataDamage.payloadOffsetPastArena.apply(
                to: &bytes, copy: copy, layout: layout, liveSlots: liveSlots(bytes, copy: copy, layout: layout), firstID: entries[0].id)
        }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        // The region's first entry (serial 1) went into slot 0.
        let expected = RegionError.corruptPayload(name: file.name, slot: 0, id: entries[0].id)
        #expect(throws: expected) { try reader.getServer(entries[0].id) }
        #expect(throws: expected) { try reader.listAll() }
        #expect(expected.description.contains("slot 0 (id '\(entries[0].id)') is not a valid entry"), "\(expected)")
        #expect(try reader.withEntry(id: entries[0].id) { $0?.payload.count } == 0)
        #expect(try reader.count(ServerFilter()) == entries.count)
    }

    @Test(
        "an arena id outside the arena is never compared: its lookups miss, name filters match nothing, payloads still list, inline ids are still found, check() names it",
        arguments: [DataDamage.idOffsetPastArena, .idOffsetMaximal, .idRunsPastArenaEnd])
    func idOutsideArenaIsRefused(damage: DataDamage) throws {
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        for copy in [layout.copy0Offset, layout.copy1Offset] {
            damage.apply(to: &bytes, copy: copy, layout: layout, liveSlots: liveSlots(bytes, copy: copy, layout: layout), firstID: entries[0].id)
        }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        for entry in entries {
            if entry.id.utf8.count > RegionLayout.maximumInlineIDBytes {
                #expect(try reader.getServer(entry.id) == nil, "\(damage): \(entry.id)")
                #expect(try reader.withEntry(id: entry.id) { $0 == nil }, "\(damage): \(entry.id)")
            } else {
                // An inline id never reads idOffset: the entry is found as before.
                #expect(try reader.getServer(entry.id) == entry, "\(damage): \(entry.id)")
            }
        }
        // The name parts are parts of the id: with no id bytes to trust, a filter on them matches nothing.
        #expect(try reader.query(ServerFilter(servername: entries[0].name.servername)) == [], "\(damage)")
        #expect(try reader.listAll() == entries, "\(damage)")
        let problems = try reader.check()
        #expect(problems.contains { $0.contains("slot 0: id ") && $0.contains("is outside the arena") }, "\(damage): \(problems)")
        #expect(problems.contains { $0.contains("slot 1: inline id of ") && $0.contains("has an arena offset") }, "\(damage): \(problems)")
    }

    @Test("a payload that is not an entry's JSON is reported as a corrupt payload, not as a header problem")
    func garbledPayload() throws {
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        let sequence = bytes.little(UInt64.self, at: H.sequence)
        let copy = sequence & 1 == 0 ? layout.copy0Offset : layout.copy1Offset
        let target = entries[4]
        // The slot whose record holds the target's serial; its payload's first byte becomes '#'.
        let slot = try #require(liveSlots(bytes, copy: copy, layout: layout).first { slot in
            bytes.little(UInt64.self, at: copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize) == target.serial
        })
        let record = copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize
        let payload = Int(bytes.little(UInt32.self, at: record + RegionLayout.Record.payloadOffset))
        bytes[copy + layout.arenaOffsetInCopy + payload] = UInt8(ascii: "#")
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        let expected = RegionError.corruptPayload(name: file.name, slot: slot, id: target.id)
        #expect(throws: expected) { try reader.getServer(target.id) }
        #expect(throws: expected) { try reader.query(ServerFilter(servername: target.name.servername)) }
        #expect(try reader.getServer(entries[5].id) == entries[5], "other entries still read")
        #expect(try reader.check().contains { $0.contains("slot \(slot): payload is not a valid entry") })
    }

    @Test("damage only in the copy readers are not using is found by check() too")
    func damageInIdleCopy() throws {
        // check() documents that it walks both copies' summaries, records, payloads and index.
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        let sequence = bytes.little(UInt64.self, at: H.sequence)
        let idle = sequence & 1 == 0 ? layout.copy1Offset : layout.copy0Offset
        DataDamage.indexSlotPastCapacity.apply(
            to: &bytes, copy: idle, layout: layout, liveSlots: liveSlots(bytes, copy: idle, layout: layout), firstID: entries[0].id)
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        #expect(try reader.listAll() == entries)
        let problems = try reader.check()
        #expect(problems.contains { $0.contains("points outside the table") }, "\(problems)")
    }

    @Test("a damaged capability table is reported and read safely")
    func capabilityTableDamage() throws {
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        bytes.setLittle(UInt32.max, at: H.capabilityCount)
        for index in 0..<4 { bytes.setLittle(UInt16.max, at: layout.capabilityTableOffset + index * RegionLayout.capabilitySize) }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        let answers = exercise(reader, ids: entries.map(\.id))
        let problems = try #require(try answers.problems?.get())
        #expect(problems.contains { $0.contains("capability count") }, "\(problems)")
        #expect(problems.contains { $0.contains("capability 0 has length") }, "\(problems)")
    }

    // MARK: Fuzz

    @Test("64 random bytes flipped after the header: every read API returns, nothing crashes", arguments: Array(1...12) as [UInt64])
    func fuzz(seed: UInt64) throws {
        var (bytes, entries) = try RegionCopies.sound()
        var generator = SplitMix64(seed: seed)
        for _ in 0..<64 {
            let offset = Int.random(in: RegionLayout.headerSize..<bytes.count, using: &generator)
            bytes[offset] ^= UInt8.random(in: 1...255, using: &generator)
        }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        _ = exercise(reader, ids: entries.map(\.id))
    }

    @Test("64 random bytes flipped in the parts of both copies in use: every read API returns", arguments: Array(1...12) as [UInt64])
    func fuzzUsedParts(seed: UInt64) throws {
        var (bytes, entries) = try RegionCopies.sound()
        let layout = RegionCopies.layout
        // The bytes in use in each copy, measured before any flip.
        let used = [layout.copy0Offset, layout.copy1Offset].map { copy in
            (copy, layout.arenaOffsetInCopy + Int(bytes.little(UInt64.self, at: copy + RegionLayout.CopyHeader.arenaUsed)))
        }
        var generator = SplitMix64(seed: seed)
        for _ in 0..<64 {
            let (copy, length) = used[Int.random(in: 0...1, using: &generator)]
            let offset = copy + Int.random(in: 0..<length, using: &generator)
            bytes[offset] ^= UInt8.random(in: 1...255, using: &generator)
        }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let reader = try RegionReader(name: file.name)
        _ = exercise(reader, ids: entries.map(\.id))
    }

    // MARK: shmdump

    /// A daemon holding 20 entries registered over its socket, and their ids.
    static func populatedDaemon() throws -> (DaemonProcess, [String]) {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        var ids: [String] = []
        for number in 0..<20 {
            let id = Fixture.id(servername: "dump-\(number)", classCode: number % 2 == 0 ? "0x0001" : "0x0003")
            let reply = try client.request("register", ["entry": Fixture.entry(id: id)])
            guard reply.result != nil else { throw TestFailure("register failed: \(reply)") }
            ids.append(id)
        }
        return (daemon, ids)
    }

    @Test("shmdump --check: a sound live region exits 0, a damaged copy exits 1 naming the problems")
    func shmdumpCheck() throws {
        let (daemon, ids) = try Self.populatedDaemon()
        let sound = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName, "--check"])
        #expect(sound.status == 0, "\(sound)")
        #expect(sound.stdout.contains("check: sound"), "\(sound)")
        for id in ids { #expect(sound.stdout.contains(id)) }

        var bytes = try #require(FileManager.default.contents(atPath: SharedMemory.directory + daemon.sharedMemoryName).map(Array.init))
        let layout = try RegionReader(name: daemon.sharedMemoryName).layout
        for copy in [layout.copy0Offset, layout.copy1Offset] {
            DataDamage.indexSlotPastCapacity.apply(
                to: &bytes, copy: copy, layout: layout, liveSlots: liveSlots(bytes, copy: copy, layout: layout), firstID: ids[0])
        }
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let damaged = try CLI.run(Binaries.path("shmdump"), ["--shm", file.name, "--check"])
        #expect(damaged.status == 1, "\(damaged)")
        #expect(damaged.stdout.contains("problem:"), "\(damaged)")
        #expect(!damaged.stdout.contains("check: sound"), "\(damaged)")

        let json = try CLI.run(Binaries.path("shmdump"), ["--shm", file.name, "--check", "--json"])
        #expect(json.status == 1, "\(json)")
        let object = try #require(try JSONParser.parse(json.stdout).objectValue)
        guard case .array(let problems)? = object["problems"] else {
            Issue.record("no problems array: \(json)")
            return
        }
        #expect(!problems.isEmpty)
    }

    @Test("shmdump --json prints the header and the list; shmdump ID prints that entry")
    func shmdumpOutput() throws {
        let (daemon, ids) = try Self.populatedDaemon()
        let json = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName, "--json"])
        #expect(json.status == 0, "\(json)")
        let object = try #require(try JSONParser.parse(json.stdout).objectValue)
        guard case .int(let revision)? = object["revision"], case .array(let list)? = object["list"] else {
            Issue.record("no revision or list: \(json)")
            return
        }
        #expect(revision >= 20)
        #expect(list.count == ids.count)
        #expect(Set(list.compactMap { $0.objectValue?["id"]?.stringValue }) == Set(ids))
        #expect(object["entries"] == .int(Int64(ids.count)))

        let one = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName, ids[7]])
        #expect(one.status == 0, "\(one)")
        #expect(one.stdout.contains(ids[7]), "\(one)")
        #expect(!one.stdout.contains(ids[8]), "\(one)")

        let oneJSON = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName, "--json", ids[7]])
        let shown = try #require(try JSONParser.parse(oneJSON.stdout).objectValue)
        guard case .array(let single)? = shown["list"] else {
            Issue.record("no list: \(oneJSON)")
            return
        }
        #expect(single.count == 1)
        #expect(single.first?.objectValue?["id"]?.stringValue == ids[7])

        let missing = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName, Fixture.id()])
        #expect(missing.status == 1, "\(missing)")
        #expect(missing.stderr.contains("no entry"), "\(missing)")
    }

    @Test("shmdump: an unknown flag is a usage error, an unreadable region a failure")
    func shmdumpErrors() throws {
        let (bytes, _) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let unknown = try CLI.run(Binaries.path("shmdump"), ["--shm", file.name, "--frobnicate"])
        #expect(unknown.status == 2, "\(unknown)")
        #expect(unknown.stderr.contains("unexpected argument"), "\(unknown)")

        var garbage = bytes
        garbage[0] ^= 0xFF
        let bad = try RegionCopies.File(garbage)
        defer { bad.remove() }
        let refused = try CLI.run(Binaries.path("shmdump"), ["--shm", bad.name, "--check"])
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("not a Hostess region"), "\(refused)")

        let copy = try CLI.run(Binaries.path("shmdump"), ["--shm", file.name, "--check"])
        #expect(copy.status == 0, "\(copy)")
        #expect(copy.stdout.contains("check: sound"), "\(copy)")
    }
}
