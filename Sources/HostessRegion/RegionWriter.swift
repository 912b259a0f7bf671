import CShim
import Glibc
import HostessModel
import HostessSystem

// MARK: - RegionWriter

/// The one writer of a region: hostessd. It creates the region (O_EXCL, mode 0600 until it is ready, then
/// 0644), holds an open-file-description write lock on it for its life (the kernel's word that it is alive),
/// and publishes each batch of changes with the seqcount latch:
///
/// 1. release fence; sequence += 1 (odd): readers move to copy 1; release fence.
/// 2. apply the batch to copy 0.
/// 3. sequence += 1 (even), release: readers move to copy 0; release fence.
/// 4. apply the batch to copy 1.
///
/// A reader always reads a copy nobody is writing, so a writer stopped or killed anywhere never makes a reader
/// wait; a reader that overlapped a flip sees the sequence change and reads again.
public final class RegionWriter {
    /// The region's name.
    public let name: String
    /// Its layout.
    public let layout: RegionLayout
    /// This daemon instance's random id, in the header.
    public let instanceID: [UInt8]
    /// Whether the region is under ``name`` yet; see ``install()``.
    public private(set) var isInstalled: Bool
    /// The name the region was created under: ``name``, or a temporary one until ``install()``.
    private let createdName: String
    /// The region this one replaces when it is installed.
    private var predecessor: AbandonedRegion?
    private let fd: Int32
    private let base: UnsafeMutableRawPointer

    // Writer-side bookkeeping; readers never see it.
    private var slotOf: [String: Int] = [:]
    private var freeSlots: [Int]
    private var capabilities = CapabilityTable()
    /// Per slot: the capability table indexes its published entry holds.
    private var slotCapabilities: [[Int]]
    private var tombstones = 0
    /// Per copy: each slot's allocation in the arena (an id too long for the record, then the payload), and
    /// the arena's high-water mark.
    private var allocations: [[(offset: Int, length: Int)]]
    private var arenaUsed = [0, 0]
    /// Per copy: each slot's predecessor in its class chain (-1: it is the head), so unlinking is O(1).
    private var classPrevious: [[Int]]
    private let failpoint: Failpoint?
    private var publications = 0
    /// Payloads that did not fit the arena and were published empty (an arena id alone, or no id either when
    /// even that did not fit); 0 unless the capacity rules are broken.
    public private(set) var droppedPayloads = 0
    /// Capability names left out of records because the table had no index to give; 0 unless the capacity
    /// rules are broken.
    public private(set) var droppedCapabilities = 0

    // MARK: Creating

    /// Creates a region for `name`.
    ///
    /// With no predecessor the region is created under `name`, which must not exist (O_EXCL), and is readable
    /// by everyone (0644) once its header is written. To succeed an abandoned region it is created under a
    /// temporary name instead (O_EXCL, 0600), for the caller to fill and then ``install()`` over the old one, so
    /// that the name never goes missing.
    /// - Parameters:
    ///   - capacity: entries it holds.
    ///   - arenaBytes: bytes of each copy's arena, which holds the entries' payloads and long ids: at least
    ///     the guest book's payload capacity (`GuestBook.Capacity.payloadBytes`, which counts long ids too), so
    ///     that every guest book it admits fits, and at most ``RegionLayout/maximumArenaBytes``.
    ///   - environment: read for `HOSTESS_FAILPOINT` (crash tests only).
    ///   - predecessor: the region under `name` whose writer died (from ``examine(_:)``), or nil.
    public init(
        name: String, capacity: Int, arenaBytes: Int, environment: [String: String] = [:], succeeding predecessor: AbandonedRegion? = nil
    ) throws(RegionError) {
        self.name = name
        self.predecessor = predecessor
        isInstalled = predecessor == nil
        createdName = predecessor == nil ? name : "/" + Self.temporaryPrefix + Crypto.hex(Syscall.randomBytes(8))
        guard arenaBytes <= RegionLayout.maximumArenaBytes else { throw .arenaTooLarge(name: name, bytes: arenaBytes) }
        layout = RegionLayout(capacity: capacity, arenaBytes: arenaBytes)
        instanceID = Syscall.randomBytes(16)
        freeSlots = Array((0..<capacity).reversed())
        slotCapabilities = Array(repeating: [], count: capacity)
        allocations = Array(repeating: Array(repeating: (0, 0), count: capacity), count: 2)
        classPrevious = Array(repeating: Array(repeating: -1, count: capacity), count: 2)
        failpoint = Failpoint(environment["HOSTESS_FAILPOINT"])
        let fd: Int32
        do { fd = try SharedMemory.createExclusive(createdName) } catch { throw .system(error) }
        do throws(SystemError) {
            guard try Syscall.takeWriteLock(fd) else { throw SystemError("fcntl F_OFD_SETLK \(createdName)", errno: EAGAIN) }
            try Syscall.setSize(fd, layout.regionSize)
            base = try Syscall.map(fd, size: layout.regionSize, writable: true)
        } catch {
            Syscall.close(fd)
            try? SharedMemory.unlink(createdName)
            throw .system(error)
        }
        self.fd = fd
        writeHeader()
        guard isInstalled else { return }
        do { try Syscall.setMode(fd, 0o644) } catch {
            close()
            throw .system(error)
        }
    }

    /// Puts a region created to succeed an abandoned one under its name: mode 0644, then one `rename` over
    /// the old region, so that a reader opening the name finds the old region or this one, never nothing.
    /// Then the old region is marked closed and its waiters are woken, so readers still mapping it move on.
    /// Does nothing for a region created under its name.
    public func install() throws(RegionError) {
        guard !isInstalled else { return }
        do {
            try Syscall.setMode(fd, 0o644)
            try SharedMemory.rename(createdName, to: name)
        } catch { throw .system(error) }
        isInstalled = true
        predecessor?.markClosed()
        predecessor = nil
    }

    private func writeHeader() {
        typealias H = RegionLayout.Header
        store(UInt64(RegionLayout.magic), at: H.magic)
        store(UInt32(RegionLayout.headerSize), at: H.headerSize)
        store(RegionLayout.fingerprint, at: H.fingerprint)
        store(UInt64(layout.regionSize), at: H.regionSize)
        store(UInt32(layout.capacity), at: H.capacity)
        store(UInt32(RegionLayout.capabilityCapacity), at: H.capabilityCapacity)
        store(UInt32(layout.indexSlots), at: H.indexSlots)
        store(UInt64(layout.capabilityTableOffset), at: H.capabilityTableOffset)
        store(UInt64(layout.heartbeatsOffset), at: H.heartbeatsOffset)
        store(UInt64(layout.copy0Offset), at: H.copy0Offset)
        store(UInt64(layout.copy1Offset), at: H.copy1Offset)
        store(UInt64(layout.copySize), at: H.copySize)
        store(UInt64(layout.arenaBytes), at: H.arenaBytes)
        for (index, byte) in instanceID.enumerated() { store(byte, at: H.instanceID + index) }
        store(UInt32(bitPattern: getpid()), at: H.writerPID)
        store(UInt64(SystemClock.wallMilliseconds()), at: H.createdAt)
        cshim_store_release_u64(base + H.writerHeartbeat, SystemClock.monotonicNanoseconds())
        // The version goes last, with release ordering: a reader that sees it sees everything above.
        cshim_store_release_u32(base + H.version, RegionLayout.versionMajor << 16 | RegionLayout.versionMinor)
    }

    // MARK: Publishing

    /// One change to publish: the entry as it now is, or nil when it is gone.
    public struct Change {
        /// The entry id.
        public var id: String
        /// The entry, or nil when it was removed.
        public var entry: GuestBookEntry?
        /// The entry's wire form when the caller already has it (else it is serialized here).
        public var payload: [UInt8]?

        /// A change.
        public init(id: String, entry: GuestBookEntry?, payload: [UInt8]? = nil) {
            self.id = id
            self.entry = entry
            self.payload = payload
        }
    }

    /// A change ready to apply to a copy: everything computed once for both copies.
    private struct Prepared {
        var slot: Int
        var isNew: Bool
        var entry: GuestBookEntry?
        var payload: [UInt8]
        var capabilities: [Int]
    }

    /// Publishes a batch of changes as one revision. The guest book's capacity guarantees they fit.
    public func publish(_ changes: [Change], revision: UInt64) {
        failpoint?.trigger(.beforePublication, publication: publications + 1)
        var prepared: [Prepared] = []
        prepared.reserveCapacity(changes.count)
        for change in changes {
            if let entry = change.entry {
                let existing = slotOf[change.id]
                guard let slot = existing ?? freeSlots.popLast() else { continue }
                slotOf[change.id] = slot
                // The new names first, then the old ones let go: a name the entry keeps is never released.
                let indexes = entry.capabilities.prefix(RegionLayout.maximumCapabilities).compactMap(intern)
                for index in slotCapabilities[slot] { capabilities.release(index) }
                slotCapabilities[slot] = indexes
                prepared.append(
                    Prepared(
                        slot: slot, isNew: existing == nil, entry: entry, payload: change.payload ?? entry.json.jsonBytes, capabilities: indexes))
            } else if let slot = slotOf.removeValue(forKey: change.id) {
                freeSlots.append(slot)
                for index in slotCapabilities[slot] { capabilities.release(index) }
                slotCapabilities[slot] = []
                prepared.append(Prepared(slot: slot, isNew: false, entry: nil, payload: [], capabilities: []))
            }
        }
        tombstones += prepared.count { $0.entry == nil }
        let rebuild = tombstones > layout.indexSlots / 4
        if rebuild { tombstones = 0 }
        typealias H = RegionLayout.Header
        let sequence = cshim_load_relaxed_u64(base + H.sequence)
        let first = Int(sequence & 1)
        // smp_wmb(); sequence++; smp_wmb(): nothing before the flip moves after it, nothing after before it.
        cshim_fence_release()
        cshim_store_relaxed_u64(base + H.sequence, sequence &+ 1)
        cshim_fence_release()
        apply(prepared, copy: first, revision: revision, rebuildIndex: rebuild)
        publications += 1
        failpoint?.trigger(.afterFirstHalf, publication: publications)
        cshim_store_release_u64(base + H.sequence, sequence &+ 2)
        cshim_fence_release()
        apply(prepared, copy: 1 - first, revision: revision, rebuildIndex: rebuild, failpoint: failpoint, publication: publications)
        for change in prepared where change.entry != nil {
            let heartbeat = change.entry.map { UInt64(bitPattern: $0.lastHeartbeat) } ?? 0
            cshim_store_relaxed_u64(base + layout.heartbeatsOffset + change.slot * 8, heartbeat)
        }
        // Both copies now hold this batch: the names it let go of are referenced by neither, and may be reused
        // from the next publication on.
        capabilities.publicationEnded()
        cshim_store_release_u64(base + H.revision, revision)
        let counter = cshim_load_acquire_u32(base + H.publications)
        cshim_store_release_u32(base + H.publications, counter &+ 1)
        Futex.wakeAll(base + H.publications)
    }

    /// Records a heartbeat's time for readers; outside the latch (an atomic store), so it disturbs no reader.
    public func heartbeat(id: String, wallMilliseconds: Int64) {
        guard let slot = slotOf[id] else { return }
        cshim_store_relaxed_u64(base + layout.heartbeatsOffset + slot * 8, UInt64(bitPattern: wallMilliseconds))
    }

    /// Shows readers the writer is alive: CLOCK_MONOTONIC nanoseconds into the header.
    public func beat() {
        cshim_store_release_u64(base + RegionLayout.Header.writerHeartbeat, SystemClock.monotonicNanoseconds())
    }

    /// Marks the region closed, wakes watchers, and removes its name. Readers that still map it see `closed`.
    /// A region never installed removes only its temporary name, and leaves the region it was to replace as
    /// it was, for the next writer to adopt.
    public func close() {
        cshim_store_release_u32(base + RegionLayout.Header.closed, 1)
        let counter = cshim_load_acquire_u32(base + RegionLayout.Header.publications)
        cshim_store_release_u32(base + RegionLayout.Header.publications, counter &+ 1)
        Futex.wakeAll(base + RegionLayout.Header.publications)
        try? SharedMemory.unlink(isInstalled ? name : createdName)
        predecessor = nil
        Syscall.unmap(base, size: layout.regionSize)
        Syscall.close(fd)
    }

    // MARK: Applying to one copy

    private func copyBase(_ copy: Int) -> Int { copy == 0 ? layout.copy0Offset : layout.copy1Offset }

    private func apply(
        _ changes: [Prepared], copy: Int, revision: UInt64, rebuildIndex rebuild: Bool, failpoint: Failpoint? = nil,
        publication: Int = 0
    ) {
        let copyOffset = copyBase(copy)
        // Release every id and payload the batch replaces first: each change was admitted against the guest
        // book's running total, so only the batch's final state is known to fit the arena, not every state between.
        for change in changes { allocations[copy][change.slot] = (0, 0) }
        for (position, change) in changes.enumerated() {
            if position == changes.count / 2 { failpoint?.trigger(.midSecondHalf, publication: publication) }
            if let entry = change.entry {
                write(entry, change, copy: copy)
            } else {
                erase(slot: change.slot, copy: copy)
            }
        }
        if rebuild { rebuildIndex(copy: copy) }
        store(revision, at: copyOffset + RegionLayout.CopyHeader.revision)
        store(UInt32(slotOf.count), at: copyOffset + RegionLayout.CopyHeader.count)
        store(UInt64(arenaUsed[copy]), at: copyOffset + RegionLayout.CopyHeader.arenaUsed)
    }

    private func write(_ entry: GuestBookEntry, _ change: Prepared, copy: Int) {
        let copyOffset = copyBase(copy)
        let slot = change.slot
        // The payload (the entry's wire form), preceded by the id when it is too long for the record, is one
        // allocation in this copy's arena. Never written past the arena: a payload that cannot fit (the guest
        // book's capacity rules this out) is published empty and counted, and an arena id kept alone if that fits.
        let id = Array(entry.id.utf8.prefix(RegionLayout.maximumIDBytes))
        let inline = id.count <= RegionLayout.maximumInlineIDBytes
        let arenaID = inline ? 0 : id.count
        var offset = 0
        var idLength = inline ? id.count : 0
        var payloadLength = 0
        if let start = allocate(arenaID + change.payload.count, copy: copy) {
            (offset, idLength, payloadLength) = (start, id.count, change.payload.count)
        } else {
            droppedPayloads += 1
            if !inline, let start = allocate(arenaID, copy: copy) { (offset, idLength) = (start, id.count) }
        }
        let idInArena = inline ? 0 : idLength
        allocations[copy][slot] = (offset, idInArena + payloadLength)
        let arena = base + copyOffset + layout.arenaOffsetInCopy
        id.prefix(idInArena).withUnsafeBytes { raw in
            if let source = raw.baseAddress { (arena + offset).copyMemory(from: source, byteCount: raw.count) }
        }
        change.payload.prefix(payloadLength).withUnsafeBytes { raw in
            if let source = raw.baseAddress { (arena + offset + idInArena).copyMemory(from: source, byteCount: raw.count) }
        }

        // The record.
        typealias R = RegionLayout.Record
        let record = copyOffset + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize
        let name = entry.name
        let fqdnLength = name.fqdn.utf8.count
        let servernameOffset = fqdnLength + 1
        let servernameLength = name.servername.utf8.count
        let ownerOffset = servernameOffset + servernameLength + 1 + 7
        let ownerLength = name.owner.utf8.count
        let mechanismOffset = ownerOffset + ownerLength + 1 + name.authentication.rawValue.utf8.count + 1
        let mechanismLength = name.authMechanism.utf8.count
        let uuidOffset = mechanismOffset + mechanismLength + 1
        store(entry.serial, at: record + R.serial)
        store(UInt64(bitPattern: entry.registeredAt), at: record + R.registeredAt)
        // An inline id, zero-padded to the field's end; an arena id's offset (0 for an inline one).
        let inlineID = base + record + R.id
        inlineID.initializeMemory(as: UInt8.self, repeating: 0, count: RegionLayout.maximumInlineIDBytes)
        if inline {
            id.withUnsafeBytes { raw in
                if let source = raw.baseAddress { inlineID.copyMemory(from: source, byteCount: raw.count) }
            }
        }
        store(UInt32(inline ? 0 : offset), at: record + R.idOffset)
        store(UInt16(idLength), at: record + R.idLength)
        store(UInt32(offset + idInArena), at: record + R.payloadOffset)
        store(UInt32(payloadLength), at: record + R.payloadLength)
        store(UInt16(fqdnLength), at: record + R.fqdnLength)
        store(UInt16(servernameOffset), at: record + R.servernameOffset)
        store(UInt16(servernameLength), at: record + R.servernameLength)
        store(UInt16(ownerOffset), at: record + R.ownerOffset)
        store(UInt16(ownerLength), at: record + R.ownerLength)
        store(UInt16(mechanismOffset), at: record + R.mechanismOffset)
        store(UInt16(mechanismLength), at: record + R.mechanismLength)
        store(UInt16(uuidOffset), at: record + R.uuidOffset)
        store(name.classCode.value, at: record + R.classCode)
        store(Self.authenticationCode(name.authentication), at: record + R.authentication)
        store(UInt8(clamping: entry.terminals.count), at: record + R.terminalCount)
        store(UInt8(clamping: entry.availableTerminalCount), at: record + R.availableTerminals)
        store(UInt8(clamping: change.capabilities.count), at: record + R.capabilityCount)
        for (position, index) in change.capabilities.enumerated() {
            store(UInt16(index), at: record + R.capabilities + position * 2)
        }
        store(Self.flags(entry), at: record + R.flags)

        // The summary, read by query scans.
        typealias S = RegionLayout.Summary
        let summary = copyOffset + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize
        let hash = id.withUnsafeBytes { idHash($0) }
        let mask = change.capabilities.reduce(UInt64(0)) { $0 | (1 << UInt64($1 % 64)) }
        store(mask, at: summary + S.capabilityMask)
        store(name.classCode.value, at: summary + S.classCode)
        store(UInt8(clamping: entry.terminals.count), at: summary + S.terminalCount)
        store(UInt8(clamping: entry.availableTerminalCount), at: summary + S.availableTerminals)
        store(UInt8(clamping: change.capabilities.count), at: summary + S.capabilityCount)
        store(Self.flags(entry), at: summary + S.flags)
        store(UInt32(truncatingIfNeeded: hash), at: summary + S.idHash)
        store(entry.serial, at: summary + S.serial)

        if change.isNew {
            insertIntoIndex(slot: slot, hash: hash, copy: copy)
            linkClass(slot: slot, classCode: name.classCode.value, copy: copy)
        }
    }

    // MARK: Class chains

    private func classHead(_ classCode: UInt16, copy: Int) -> Int {
        copyBase(copy) + layout.classHeadsOffsetInCopy + Int(classCode) % RegionLayout.classBuckets * 4
    }

    private func classLink(_ slot: Int, copy: Int) -> Int { copyBase(copy) + layout.classLinksOffsetInCopy + slot * 4 }

    /// Puts a new slot at the head of its class bucket's chain.
    private func linkClass(slot: Int, classCode: UInt16, copy: Int) {
        let head = classHead(classCode, copy: copy)
        let first: UInt32 = load(at: head)
        store(first, at: classLink(slot, copy: copy))
        if first != 0 { classPrevious[copy][Int(first) - 1] = slot }
        classPrevious[copy][slot] = -1
        store(UInt32(slot + 1), at: head)
    }

    /// Takes a slot out of its class bucket's chain.
    private func unlinkClass(slot: Int, classCode: UInt16, copy: Int) {
        let next: UInt32 = load(at: classLink(slot, copy: copy))
        let previous = classPrevious[copy][slot]
        if previous < 0 {
            store(next, at: classHead(classCode, copy: copy))
        } else {
            store(next, at: classLink(previous, copy: copy))
        }
        if next != 0 { classPrevious[copy][Int(next) - 1] = previous }
        store(UInt32(0), at: classLink(slot, copy: copy))
        classPrevious[copy][slot] = -1
    }

    /// The flags byte of a record and its summary: bit 0 session-bound, bit 1 held by a reservation.
    static func flags(_ entry: GuestBookEntry) -> UInt8 {
        (entry.session ? RegionLayout.Flags.session : 0) | (entry.reservedBy != nil ? RegionLayout.Flags.reserved : 0)
    }

    static func authenticationCode(_ value: AuthenticationRequirement) -> UInt8 {
        switch value {
        case .no: 0
        case .yes: 1
        case .optional: 2
        }
    }

    private func erase(slot: Int, copy: Int) {
        let copyOffset = copyBase(copy)
        let summary = copyOffset + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize
        let record = copyOffset + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize
        let hash: UInt32 = load(at: summary + RegionLayout.Summary.idHash)
        let classCode: UInt16 = load(at: summary + RegionLayout.Summary.classCode)
        unlinkClass(slot: slot, classCode: classCode, copy: copy)
        store(UInt64(0), at: summary + RegionLayout.Summary.serial)
        store(UInt64(0), at: record + RegionLayout.Record.serial)
        allocations[copy][slot] = (0, 0)
        // Find the slot's index entry and leave a tombstone, so probe chains through it stay intact.
        let index = copyOffset + layout.indexOffsetInCopy
        let mask = layout.indexSlots - 1
        var position = Int(hash) & mask
        for _ in 0..<layout.indexSlots {
            let value: UInt64 = load(at: index + position * 8)
            if value == 0 { return }
            if value != RegionLayout.tombstone, Int(value & 0xFFFF_FFFF) == slot + 1 {
                store(RegionLayout.tombstone, at: index + position * 8)
                return
            }
            position = (position + 1) & mask
        }
    }

    private func insertIntoIndex(slot: Int, hash: UInt64, copy: Int) {
        let index = copyBase(copy) + layout.indexOffsetInCopy
        let mask = layout.indexSlots - 1
        var position = Int(UInt32(truncatingIfNeeded: hash)) & mask
        let value = UInt64(UInt32(truncatingIfNeeded: hash)) << 32 | UInt64(slot + 1)
        for _ in 0..<layout.indexSlots {
            let existing: UInt64 = load(at: index + position * 8)
            if existing == 0 || existing == RegionLayout.tombstone {
                store(value, at: index + position * 8)
                return
            }
            position = (position + 1) & mask
        }
    }

    /// Rebuilds a copy's index without tombstones (the copy is not being read).
    private func rebuildIndex(copy: Int) {
        let copyOffset = copyBase(copy)
        let index = copyOffset + layout.indexOffsetInCopy
        (base + index).initializeMemory(as: UInt8.self, repeating: 0, count: layout.indexSlots * 8)
        for slot in slotOf.values {
            let summary = copyOffset + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize
            let hash: UInt32 = load(at: summary + RegionLayout.Summary.idHash)
            insertIntoIndex(slot: slot, hash: UInt64(hash), copy: copy)
        }
    }

    /// Space for `length` bytes (a payload, and an id too long for its record) in a copy's arena: from the high-water mark,
    /// compacting the arena first when the mark would pass its end; nil when even then it does not fit. The
    /// arena holds the guest book's payload capacity, which counts the long ids with the payloads, so once a
    /// batch's replaced allocations are released it fits.
    private func allocate(_ length: Int, copy: Int) -> Int? {
        if arenaUsed[copy] + length > layout.arenaBytes { compact(copy: copy) }
        guard arenaUsed[copy] + length <= layout.arenaBytes else { return nil }
        let offset = arenaUsed[copy]
        arenaUsed[copy] += length
        return offset
    }

    /// Moves every live allocation (a payload, with the arena id before it) of a copy to the start of its
    /// arena, in offset order, and rewrites the records' `payloadOffset` and, for arena ids, `idOffset`.
    private func compact(copy: Int) {
        typealias R = RegionLayout.Record
        let copyOffset = copyBase(copy)
        let arena = base + copyOffset + layout.arenaOffsetInCopy
        let live = slotOf.values.map { ($0, allocations[copy][$0]) }.filter { $0.1.length > 0 }.sorted { $0.1.offset < $1.1.offset }
        var next = 0
        for (slot, allocation) in live {
            if allocation.offset != next { (arena + next).copyMemory(from: arena + allocation.offset, byteCount: allocation.length) }
            allocations[copy][slot] = (next, allocation.length)
            // The writer's own record of this copy: its id length is the one it wrote.
            let record = copyOffset + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize
            let idLength = Int(load(at: record + R.idLength) as UInt16)
            if idLength > RegionLayout.maximumInlineIDBytes {
                store(UInt32(next), at: record + R.idOffset)
                store(UInt32(next + idLength), at: record + R.payloadOffset)
            } else {
                store(UInt32(next), at: record + R.payloadOffset)
            }
            next += allocation.length
        }
        arenaUsed[copy] = next
    }

    // MARK: Capabilities

    /// The capability's index in the region's table, taking one reference to it; nil only when the table has
    /// no index to give (ruled out while the guest book keeps to ``RegionLayout/maximumLiveCapabilities``).
    ///
    /// A name already in the table keeps its index (even one no entry held since). A new name takes the next
    /// unwritten index (name first, then `capabilityCount`, released), or once all are written, the lowest
    /// index no copy references any more: `capabilityGeneration` is bumped (released, then a release fence)
    /// before the name is rewritten, so a reader that resolved the old name at the old generation finds the
    /// generation changed and resolves again.
    private func intern(_ capability: String) -> Int? {
        if let index = capabilities.retain(capability) { return index }
        let count = capabilities.written
        if count < RegionLayout.capabilityCapacity {
            writeCapabilityName(capability, at: count)
            cshim_store_release_u32(base + RegionLayout.Header.capabilityCount, UInt32(count + 1))
            capabilities.assign(capability, to: count)
            return count
        }
        guard let index = capabilities.takeReusable() else {
            droppedCapabilities += 1
            return nil
        }
        let generation = cshim_load_relaxed_u64(base + RegionLayout.Header.capabilityGeneration)
        cshim_store_release_u64(base + RegionLayout.Header.capabilityGeneration, generation &+ 1)
        cshim_fence_release()
        writeCapabilityName(capability, at: index)
        capabilities.assign(capability, to: index)
        return index
    }

    /// Writes a table entry: length, name, zeros after it.
    private func writeCapabilityName(_ capability: String, at index: Int) {
        let bytes = Array(capability.utf8.prefix(RegionLayout.capabilitySize - 2))
        let entry = layout.capabilityTableOffset + index * RegionLayout.capabilitySize
        store(UInt16(bytes.count), at: entry)
        for position in 0..<(RegionLayout.capabilitySize - 2) {
            store(position < bytes.count ? bytes[position] : 0, at: entry + 2 + position)
        }
    }

    // MARK: Raw access

    @inline(__always)
    private func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        (base + offset).storeBytes(of: value.littleEndian, as: T.self)
    }

    @inline(__always)
    private func load<T: FixedWidthInteger>(at offset: Int) -> T {
        T(littleEndian: (base + offset).load(as: T.self))
    }
}

// MARK: - Temporary regions left behind

extension RegionWriter {
    /// The prefix of a successor's temporary region, until ``install()`` renames it over the old one.
    static let temporaryPrefix = ".hostess-new-"

    /// Removes the temporary regions of this user's successors that died before they put theirs in place (a
    /// hostessd killed while it adopted a region): each `/.hostess-new-…` that is a regular file of the
    /// effective uid and whose write lock this call can take, since every live writer holds its region's. A
    /// successor caught between creating its region and locking it then fails to lock it, and says so; none
    /// loses a region it holds. Returns the names removed.
    public static func removeAbandonedTemporaryRegions() -> [String] {
        guard let names = try? FileContents.directoryNames(SharedMemory.directory, limit: 1 << 20) else { return [] }
        var removed: [String] = []
        for file in names where file.hasPrefix(temporaryPrefix) {
            let name = "/" + file
            guard let status = try? SharedMemory.status(of: name), status.type == .regular, status.owner == geteuid(),
                let fd = try? SharedMemory.open(name, writable: true)
            else { continue }
            defer { Syscall.close(fd) }
            guard (try? Syscall.takeWriteLock(fd)) == true, (try? SharedMemory.unlink(name)) != nil else { continue }
            removed.append(name)
        }
        return removed
    }
}

// MARK: - Failpoint

/// A crash on purpose, for tests of what readers see when the writer dies mid-publication, and of what its
/// clients were told: `HOSTESS_FAILPOINT=before-publication:N`, `after-first-half:N` or `mid-second-half:N`
/// kills hostessd with SIGKILL at that point of its Nth publication. Unset in production.
struct Failpoint {
    enum Point: String {
        case beforePublication = "before-publication", afterFirstHalf = "after-first-half", midSecondHalf = "mid-second-half"
    }

    let point: Point
    let publication: Int

    init?(_ text: String?) {
        guard let text, let colon = text.firstIndex(of: ":"), let point = Point(rawValue: String(text[..<colon])),
            let publication = Int(text[text.index(after: colon)...])
        else { return nil }
        self.point = point
        self.publication = publication
    }

    func trigger(_ point: Point, publication: Int) {
        guard point == self.point, publication == self.publication else { return }
        kill(getpid(), SIGKILL)
    }
}

// MARK: - CapabilityTable

/// The writer's bookkeeping of the region's capability table: which name each written index holds, how many
/// published entries reference it, and which indexes may be given a new name.
///
/// An index whose references fall to 0 keeps its name (the name comes back to it if used again) and becomes
/// reusable only when the publication that dropped it has ended: until then one copy may still reference it.
struct CapabilityTable {
    /// Indexes written so far (the header's `capabilityCount`).
    private(set) var written = 0
    private var indexOf: [String: Int] = [:]
    private var names: [String] = []
    private var references: [Int] = []
    /// Unreferenced indexes dropped in an earlier publication: no copy references them.
    private var reusable = Set<Int>()
    /// Indexes whose references fell to 0 in the publication under way.
    private var retiring: [Int] = []

    /// The index of a name already in the table, with one more reference; nil when it is not.
    mutating func retain(_ name: String) -> Int? {
        guard let index = indexOf[name] else { return nil }
        if references[index] == 0 { reusable.remove(index) }
        references[index] += 1
        return index
    }

    /// Drops one reference.
    mutating func release(_ index: Int) {
        references[index] -= 1
        if references[index] == 0 { retiring.append(index) }
    }

    /// The lowest reusable index, taken out of the reusable set; nil when none is.
    mutating func takeReusable() -> Int? {
        guard let index = reusable.min() else { return nil }
        reusable.remove(index)
        indexOf[names[index]] = nil
        return index
    }

    /// Records that `index` (the next unwritten one, or one from ``takeReusable()``) now holds `name`, with
    /// one reference.
    mutating func assign(_ name: String, to index: Int) {
        if index == written {
            names.append(name)
            references.append(0)
            written += 1
        }
        names[index] = name
        references[index] = 1
        indexOf[name] = index
    }

    /// The publication ended: what it dropped and did not take back may be reused.
    mutating func publicationEnded() {
        for index in retiring where references[index] == 0 { reusable.insert(index) }
        retiring.removeAll(keepingCapacity: true)
    }
}
