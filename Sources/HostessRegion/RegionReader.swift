import CShim
import Glibc
import HostessModel
import HostessSystem
import Synchronization

// MARK: - RegionReader

/// A read-only view of the shared-memory guest book: lookups and queries with no socket, no syscall, no lock
/// and no copy of the region.
///
/// Opening checks that the object is a regular file owned by a trusted user, not writable by group or others,
/// and large enough; it is mapped PROT_READ; its magic, major version, ABI fingerprint and every offset in the
/// header are checked against the layout they imply. After that, every read is a seqcount-latch read section:
/// load the sequence (acquire), read the copy its low bit selects, fence, re-check the sequence. The reader may
/// see a copy being rewritten, so every offset and length it reads is checked against the mapping first, probe
/// chains are bounded, and nothing is returned before the sequence check confirms it.
public final class RegionReader: @unchecked Sendable {
    /// The region's name.
    public let name: String
    /// Its layout, as the header states it (checked).
    public let layout: RegionLayout
    /// The writer instance's id.
    public let instanceID: [UInt8]
    /// The writer's pid when it created the region.
    public let writerPID: Int32

    private let fd: Int32
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let size: Int
    private let inode: UInt64
    @usableFromInline let copyOffsets: (Int, Int)
    private let capabilityCache = Mutex(CapabilityCache())
    @usableFromInline let retryCount = Atomic<UInt64>(0)

    /// Read sections this reader had to repeat because the writer published meanwhile.
    public var retries: UInt64 { retryCount.load(ordering: .relaxed) }

    /// How many read attempts a lookup makes before reporting `busy`.
    public static let maximumAttempts = 4096

    // MARK: Opening

    /// Opens and checks the region.
    /// - Parameters:
    ///   - name: the shared-memory name, e.g. `/hostess-registry`.
    ///   - trustedOwners: uids that may own it; root and the caller's own uid are always trusted.
    public init(name: String, trustedOwners: Set<UInt32> = []) throws(RegionError) {
        self.name = name
        let fd: Int32
        do { fd = try SharedMemory.open(name, writable: false) } catch {
            // A Unix socket cannot be opened at all (ENXIO): say what it is rather than "no such device".
            if error.errno == ENXIO, let found = try? SharedMemory.status(of: name) {
                throw .notRegularFile(name: name, type: found.type, owner: found.owner, ownerName: Syscall.userName(uid: found.owner))
            }
            throw .system(error)
        }
        do throws(RegionError) {
            // The type first: the descriptor was opened O_NONBLOCK, so a FIFO did not block the open; nothing
            // else may touch it before this check.
            let status: FileStatus
            do { status = try Syscall.status(fd) } catch { throw .system(error) }
            guard status.type == .regular else {
                throw .notRegularFile(name: name, type: status.type, owner: status.owner, ownerName: Syscall.userName(uid: status.owner))
            }
            guard status.owner == 0 || status.owner == getuid() || trustedOwners.contains(status.owner) else {
                throw .untrustedOwner(name: name, owner: status.owner)
            }
            guard status.permissions & 0o022 == 0 else { throw .writableByOthers(name: name, mode: UInt32(status.permissions)) }
            guard status.size >= RegionLayout.headerSize else {
                throw .tooSmall(name: name, size: status.size, needed: RegionLayout.headerSize)
            }
            let mapping: UnsafeMutableRawPointer
            do { mapping = try Syscall.map(fd, size: status.size, writable: false) } catch { throw .system(error) }
            let base = UnsafeRawPointer(mapping)
            do throws(RegionError) {
                layout = try RegionReader.checkHeader(base, size: status.size, name: name)
            } catch {
                Syscall.unmap(mapping, size: status.size)
                throw error
            }
            inode = status.inode
            self.base = base
            size = status.size
            self.fd = fd
            instanceID = (0..<16).map { base.load(fromByteOffset: RegionLayout.Header.instanceID + $0, as: UInt8.self) }
            writerPID = Int32(bitPattern: UInt32(littleEndian: base.load(fromByteOffset: RegionLayout.Header.writerPID, as: UInt32.self)))
            copyOffsets = (layout.copy0Offset, layout.copy1Offset)
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    deinit {
        Syscall.unmap(UnsafeMutableRawPointer(mutating: base), size: size)
        Syscall.close(fd)
    }

    private static func checkHeader(_ base: UnsafeRawPointer, size: Int, name: String) throws(RegionError) -> RegionLayout {
        typealias H = RegionLayout.Header
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: base.load(fromByteOffset: offset, as: UInt32.self)) }
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: base.load(fromByteOffset: offset, as: UInt64.self)) }
        guard u64(H.magic) == RegionLayout.magic else { throw .badMagic(name: name) }
        let version = cshim_load_acquire_u32(base + H.version)
        guard version != 0 else { throw .notReady(name: name) }
        guard version >> 16 == RegionLayout.versionMajor else {
            throw .unsupportedVersion(name: name, major: version >> 16, minor: version & 0xFFFF)
        }
        guard u32(H.headerSize) == UInt32(RegionLayout.headerSize) else { throw .inconsistentHeader(name: name, field: "headerSize") }
        guard u64(H.fingerprint) == RegionLayout.fingerprint else { throw .fingerprintMismatch(name: name) }
        let capacity = Int(u32(H.capacity))
        let arenaBytes = u64(H.arenaBytes)
        guard capacity > 0, capacity <= 1 << 24 else { throw .inconsistentHeader(name: name, field: "capacity \(capacity)") }
        guard arenaBytes <= 1 << 40 else { throw .inconsistentHeader(name: name, field: "arenaBytes \(arenaBytes)") }
        let layout = RegionLayout(capacity: capacity, arenaBytes: Int(arenaBytes))
        let expected: [(String, UInt64, Int)] = [
            ("regionSize", u64(H.regionSize), layout.regionSize),
            ("capabilityCapacity", UInt64(u32(H.capabilityCapacity)), RegionLayout.capabilityCapacity),
            ("indexSlots", UInt64(u32(H.indexSlots)), layout.indexSlots),
            ("capabilityTableOffset", u64(H.capabilityTableOffset), layout.capabilityTableOffset),
            ("heartbeatsOffset", u64(H.heartbeatsOffset), layout.heartbeatsOffset),
            ("copy0Offset", u64(H.copy0Offset), layout.copy0Offset),
            ("copy1Offset", u64(H.copy1Offset), layout.copy1Offset),
            ("copySize", u64(H.copySize), layout.copySize),
        ]
        for (field, stated, implied) in expected where stated != UInt64(implied) {
            throw .inconsistentHeader(name: name, field: "\(field) is \(stated), the layout implies \(implied)")
        }
        guard size >= layout.regionSize else { throw .tooSmall(name: name, size: size, needed: layout.regionSize) }
        return layout
    }

    // MARK: State

    /// The guest book revision of the latest publication.
    public var revision: UInt64 { cshim_load_acquire_u64(base + RegionLayout.Header.revision) }

    /// The revision of the copy readers use now: ahead of ``revision`` while a publication is under way, or
    /// when the writer died between its halves.
    public func stableRevision() throws(RegionError) -> UInt64 {
        try readSection { copy in u64(copy + RegionLayout.CopyHeader.revision) }
    }

    /// Whether the writer closed the region.
    public var isClosed: Bool { cshim_load_acquire_u32(base + RegionLayout.Header.closed) != 0 }

    /// Seconds since the writer last beat (CLOCK_MONOTONIC), the second liveness signal.
    public var writerHeartbeatAge: Double {
        let beat = cshim_load_acquire_u64(base + RegionLayout.Header.writerHeartbeat)
        let now = SystemClock.monotonicNanoseconds()
        return now > beat ? Double(now - beat) / 1e9 : 0
    }

    /// What the reader can tell about its writer.
    public enum Liveness: Equatable, Sendable {
        /// A process holds the region's write lock.
        case alive
        /// The writer closed the region.
        case closed
        /// No process holds the write lock: the writer died.
        case writerGone
        /// The name now refers to another region (a new daemon instance): reopen it.
        case replaced
    }

    /// Asks the kernel (one fcntl and one stat) whether the writer lives and the name still refers to this region.
    public func liveness() -> Liveness {
        if isClosed { return .closed }
        if let path = try? SharedMemory.path(of: name) {
            var info = stat()
            if stat(path, &info) != 0 || UInt64(info.st_ino) != inode { return .replaced }
        }
        guard let holder = try? Syscall.writeLockHolder(fd), holder != 0 else { return .writerGone }
        return .alive
    }

    // MARK: Read sections

    /// Runs `body` over the stable copy until a sequence check confirms what it read.
    /// `body` may run more than once and must not keep pointers it was given.
    @inlinable
    func readSection<R>(_ body: (_ copy: Int) -> R) throws(RegionError) -> R {
        for _ in 0..<Self.maximumAttempts {
            let sequence = cshim_load_acquire_u64(base + RegionLayout.Header.sequence)
            let result = body(sequence & 1 == 0 ? copyOffsets.0 : copyOffsets.1)
            cshim_fence_acquire()
            if cshim_load_relaxed_u64(base + RegionLayout.Header.sequence) == sequence { return result }
            retryCount.add(1, ordering: .relaxed)
        }
        throw .busy(name: name)
    }

    /// An atomic (acquire) load of a u32 header word.
    @inlinable
    func acquireU32(_ offset: Int) -> UInt32 { cshim_load_acquire_u32(base + offset) }
    /// An atomic (relaxed) load of a u64 outside the latch, such as a heartbeat slot.
    @inlinable
    func relaxedU64(_ offset: Int) -> UInt64 { UInt64(littleEndian: cshim_load_relaxed_u64(base + offset)) }
    @inlinable
    func u8(_ offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }
    @inlinable
    func u16(_ offset: Int) -> UInt16 { UInt16(littleEndian: base.load(fromByteOffset: offset, as: UInt16.self)) }
    @inlinable
    func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: base.load(fromByteOffset: offset, as: UInt32.self)) }
    @inlinable
    func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: base.load(fromByteOffset: offset, as: UInt64.self)) }

    /// The slot holding `id` in the copy at `copy`, or nil. Bounded by the index size; every slot number, id
    /// length and id offset is checked before it is used: an id of up to ``RegionLayout/maximumInlineIDBytes``
    /// is compared in the record, a longer one only where it lies inside the copy's arena.
    @inlinable
    func find(_ id: UnsafeRawBufferPointer, copy: Int) -> Int? {
        let hash = UInt32(truncatingIfNeeded: idHash(id))
        let mask = layout.indexSlots - 1
        let index = copy + layout.indexOffsetInCopy
        let records = copy + layout.recordsOffsetInCopy
        let arena = copy + layout.arenaOffsetInCopy
        var position = Int(hash) & mask
        for _ in 0..<layout.indexSlots {
            let value = u64(index + position &* 8)
            if value == 0 { return nil }
            if value != RegionLayout.tombstone && UInt32(truncatingIfNeeded: value >> 32) == hash {
                let slot = Int(value & 0xFFFF_FFFF) &- 1
                if slot >= 0 && slot < layout.capacity {
                    let record = records + slot &* RegionLayout.recordSize
                    let length = Int(u16(record + RegionLayout.Record.idLength))
                    if length == id.count, let start = id.baseAddress {
                        if length <= RegionLayout.maximumInlineIDBytes {
                            if memcmp(base + (record &+ RegionLayout.Record.id), start, length) == 0 { return slot }
                        } else if length <= RegionLayout.maximumIDBytes {
                            let offset = Int(u32(record + RegionLayout.Record.idOffset))
                            if offset <= layout.arenaBytes &- length, memcmp(base + (arena &+ offset), start, length) == 0 { return slot }
                        }
                    }
                }
            }
            position = (position &+ 1) & mask
        }
        return nil
    }

    /// A view of the entry in `slot` of the copy at `copy`.
    @inlinable
    func view(slot: Int, copy: Int) -> EntryView {
        EntryView(reader: self, record: copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize,
            arena: copy + layout.arenaOffsetInCopy, heartbeat: layout.heartbeatsOffset + slot * 8)
    }

    /// The bytes at `offset ..< offset + length` of the mapping, or an empty buffer when they fall outside it.
    @inlinable
    func bytes(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        guard offset >= 0, length >= 0, offset <= size, length <= size - offset else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    // MARK: Lookup by id

    /// Calls `body` with a view of the entry `id` names, or nil when there is none, and returns what `body`
    /// returned once the read is confirmed consistent. Nothing is copied or allocated on this path; `body` may
    /// run more than once and must copy out what it keeps.
    /// - Throws: `busy` when the writer kept publishing through every attempt.
    @inlinable
    public func withEntry<R>(id: UnsafeRawBufferPointer, _ body: (EntryView?) -> R) throws(RegionError) -> R {
        try readSection { copy in
            body(find(id, copy: copy).map { view(slot: $0, copy: copy) })
        }
    }

    /// The same, for an id given as text.
    @inline(__always)
    public func withEntry<R>(id: String, _ body: (EntryView?) -> R) throws(RegionError) -> R {
        var id = id
        return try id.withUTF8 { buffer in
            Result { () throws(RegionError) in try withEntry(id: UnsafeRawBufferPointer(buffer), body) }
        }.get()
    }

    /// The entry `id` names, as the socket's `getServer` returns it, or nil.
    public func getServer(_ id: String) throws(RegionError) -> GuestBookEntry? {
        let found = try withEntry(id: id) { view in view.map { (Array($0.payload), $0.lastHeartbeat, $0.slot) } }
        if let (payload, heartbeat, slot) = found { return try decode(payload, heartbeat: heartbeat, slot: slot, id: id) }
        // Not found as given: a non-canonical spelling (an upper-case UUID, say) names the same entry.
        if let canonical = try? ServerName(parsing: id).description, canonical != id { return try getServer(canonical) }
        return nil
    }

    /// The entry a confirmed read copied out of `slot`, whose record holds `id`.
    /// - Throws: `corruptPayload` when the payload is not a valid entry.
    private func decode(_ payload: [UInt8], heartbeat: Int64, slot: Int, id: String) throws(RegionError) -> GuestBookEntry {
        guard let json = try? JSONParser.parse(payload), var entry = try? GuestBookEntry(json: json) else {
            throw .corruptPayload(name: name, slot: slot, id: id)
        }
        if heartbeat > entry.lastHeartbeat { entry.lastHeartbeat = heartbeat }
        return entry
    }

    // MARK: Queries

    /// Every entry, in registration order.
    public func listAll() throws(RegionError) -> [GuestBookEntry] { try query(ServerFilter()) }

    /// The entries matching `filter`, in registration order: the same answer as the socket's `query`.
    public func query(_ filter: ServerFilter) throws(RegionError) -> [GuestBookEntry] {
        let matches = try readSection(capabilities: filter.capabilities) { required, copy in
            required.map { matchingPayloads(filter, required: $0, copy: copy) } ?? []
        }
        var entries: [GuestBookEntry] = []
        entries.reserveCapacity(matches.count)
        for match in matches.sorted(by: { $0.serial < $1.serial }) {
            entries.append(
                try decode(match.payload, heartbeat: match.heartbeat, slot: match.slot, id: String(decoding: match.id, as: UTF8.self)))
        }
        return entries
    }

    /// How many entries match `filter`, without copying any.
    public func count(_ filter: ServerFilter) throws(RegionError) -> Int {
        try readSection(capabilities: filter.capabilities) { required, copy in
            guard let required else { return 0 }
            var count = 0
            scan(filter, required: required, copy: copy) { _ in count += 1 }
            return count
        }
    }

    /// What a query copies out of one matching entry: enough to decode it, and to name it if it is corrupt.
    private typealias Match = (serial: UInt64, payload: [UInt8], heartbeat: Int64, slot: Int, id: [UInt8])

    private func matchingPayloads(_ filter: ServerFilter, required: [Int], copy: Int) -> [Match] {
        var result: [Match] = []
        // A damaged chain could name a slot twice; an answer never holds an entry twice.
        var seen = Set<UInt64>()
        scan(filter, required: required, copy: copy) { view in
            guard seen.insert(view.serial).inserted else { return }
            result.append((view.serial, Array(view.payload), view.lastHeartbeat, view.slot, Array(view.id)))
        }
        return result
    }

    /// Calls `match` for each entry of a copy that satisfies `filter`. The summaries are scanned first (class,
    /// free terminals, a 64-bit capability mask); records are read only for candidates.
    @inline(__always)
    func scan(_ filter: ServerFilter, required: [Int], copy: Int, _ match: (EntryView) -> Void) {
        typealias S = RegionLayout.Summary
        let requiredMask = required.reduce(UInt64(0)) { $0 | 1 << UInt64($1 % 64) }
        // One 32-bit load covers class (bits 0-15), terminal count (16-23) and free terminals (24-31); the
        // class test is branch-free of the optional, so the loop over the summaries stays tight.
        let classMask: UInt32 = filter.classCode == nil ? 0 : 0xFFFF
        let wantedClass = UInt32(filter.classCode?.value ?? 0)
        let available = UInt32(clamping: filter.availableTerminals ?? 0)
        let summaries = copy + layout.summariesOffsetInCopy
        /// Whether the entry in `slot` satisfies the filter (its ids aside), and its view when it does.
        @inline(__always)
        func candidate(_ slot: Int) -> EntryView? {
            let summary = summaries &+ slot &* RegionLayout.summarySize
            let word = u32(summary + S.classCode)
            if word & classMask != wantedClass { return nil }
            if word >> 24 < available { return nil }
            if u64(summary + S.capabilityMask) & requiredMask != requiredMask { return nil }
            if u64(summary + S.serial) == 0 { return nil }
            if filter.unreserved && u8(summary + S.flags) & RegionLayout.Flags.reserved != 0 { return nil }
            let view = view(slot: slot, copy: copy)
            if view.serial == 0 { return nil }
            for index in required where !view.hasCapability(index) { return nil }
            if let fqdn = filter.fqdn, !view.fqdn.elementsEqual(fqdn.utf8) { return nil }
            if let servername = filter.servername, !view.servername.elementsEqual(servername.utf8) { return nil }
            if let owner = filter.owner, !view.owner.elementsEqual(owner.utf8) { return nil }
            return view
        }
        // Named ids are looked up in the id index, one probe sequence each, instead of a walk of the slots.
        if let serverIDs = filter.serverIDs {
            for id in serverIDs {
                var text = id
                let slot = text.withUTF8 { find(UnsafeRawBufferPointer($0), copy: copy) }
                if let slot, let view = candidate(slot) { match(view) }
            }
            return
        }
        // With a class, walk that class's bucket chain instead of every slot: bounded by the capacity, every
        // link checked before use, entries of other classes in the same bucket skipped.
        let links = copy + layout.classLinksOffsetInCopy
        var next = filter.classCode.map { u32(copy + layout.classHeadsOffsetInCopy + Int($0.value) % RegionLayout.classBuckets * 4) }
        var position = 0
        for _ in 0..<layout.capacity {
            let slot: Int
            if next != nil {
                guard let link = next, link != 0, Int(link) <= layout.capacity else { return }
                slot = Int(link) - 1
                next = u32(links + slot * 4)
            } else {
                slot = position
                position += 1
            }
            if let view = candidate(slot) { match(view) }
        }
    }

    // MARK: Capability names

    /// Runs `body` over the stable copy with the table indexes of `capabilities` (nil when one is not in the
    /// table: then nothing matches), and returns what it returned once both the sequence and the capability
    /// generation confirm it. The writer bumps the generation before it gives a table index a new name, so an
    /// index resolved from a name is trusted only while the generation it was resolved at stands: a section
    /// that read a copy using a reused index sees the generation changed, and runs again with fresh indexes.
    @inlinable
    func readSection<R>(capabilities: [String], _ body: (_ required: [Int]?, _ copy: Int) -> R) throws(RegionError) -> R {
        if capabilities.isEmpty { return try readSection { copy in body([], copy) } }
        for _ in 0..<Self.maximumAttempts {
            let generation = cshim_load_acquire_u64(base + RegionLayout.Header.capabilityGeneration)
            let required = capabilityIndexes(capabilities, generation: generation)
            let result = try readSection { copy in body(required, copy) }
            cshim_fence_acquire()
            if cshim_load_relaxed_u64(base + RegionLayout.Header.capabilityGeneration) == generation { return result }
            retryCount.add(1, ordering: .relaxed)
        }
        throw .busy(name: name)
    }

    /// Names resolved to table indexes, valid for one capability generation.
    struct CapabilityCache {
        /// The generation the indexes were read at.
        var generation: UInt64 = 0
        /// Table entries read so far (entries are appended below `capabilityCount`).
        var scanned = 0
        var indexes: [String: Int] = [:]
    }

    /// The table indexes of `capabilities` at `generation`, or nil when one is not in the table (then nothing can
    /// match). Also nil when `generation` is older than the cache's: the caller's re-check of the generation then
    /// fails, and it retries.
    @usableFromInline
    func capabilityIndexes(_ capabilities: [String], generation: UInt64) -> [Int]? {
        capabilityCache.withLock { cache in
            if generation < cache.generation { return nil }
            if generation > cache.generation { cache = CapabilityCache(generation: generation) }
            var indexes: [Int] = []
            for capability in capabilities {
                if cache.indexes[capability] == nil { refresh(&cache) }
                guard let index = cache.indexes[capability] else { return nil }
                indexes.append(index)
            }
            return indexes
        }
    }

    /// Reads the table entries written since the cache last looked. Within a generation an entry, once its
    /// count is published (release), never changes; a torn read of one being renamed is caught by the
    /// generation re-check of the caller, and the cache is rebuilt at the new generation.
    private func refresh(_ cache: inout CapabilityCache) {
        let count = min(Int(cshim_load_acquire_u32(base + RegionLayout.Header.capabilityCount)), RegionLayout.capabilityCapacity)
        guard count > cache.scanned else { return }
        for index in cache.scanned..<count {
            let name = capabilityName(index)
            if cache.indexes[name] == nil { cache.indexes[name] = index }
        }
        cache.scanned = count
    }

    /// The name of capability `index` in the table (empty when out of range).
    func capabilityName(_ index: Int) -> String {
        guard index >= 0, index < RegionLayout.capabilityCapacity else { return "" }
        let entry = layout.capabilityTableOffset + index * RegionLayout.capabilitySize
        let length = min(Int(u16(entry)), RegionLayout.capabilitySize - 2)
        return String(decoding: bytes(entry + 2, length), as: UTF8.self)
    }

    /// Bytes of capability `index`'s name, without copying.
    func capabilityBytes(_ index: Int) -> UnsafeRawBufferPointer {
        guard index >= 0, index < RegionLayout.capabilityCapacity else { return bytes(0, 0) }
        let entry = layout.capabilityTableOffset + index * RegionLayout.capabilitySize
        return bytes(entry + 2, min(Int(u16(entry)), RegionLayout.capabilitySize - 2))
    }

    // MARK: Watching

    /// Checks that the region's file still covers the mapping (one fstat). The region's owner or root can
    /// truncate it; a load from a mapped page past the file's end then raises SIGBUS. A long-lived reader calls
    /// this before each pass over the region; it cannot rule out a truncation during the pass.
    /// - Throws: `truncated` when the file is now smaller than the mapping.
    public func checkNotTruncated() throws(RegionError) {
        let status: FileStatus
        do { status = try Syscall.status(fd) } catch { throw .system(error) }
        guard status.size >= size else { throw .truncated(name: name, size: status.size, mapped: size) }
    }

    /// Blocks until the region's revision passes `revision`, the region closes, or `timeout` seconds pass, by
    /// FUTEX_WAIT on the publication counter in the read-only mapping. Returns the revision then (on a timeout,
    /// the one it last saw). Before it reads the header, and again after each wake-up, it checks that the file
    /// was not truncated under the mapping (one fstat per wake-up, none on the lookup path).
    /// - Throws: `truncated` when it was.
    public func waitForRevision(after revision: UInt64, timeout: Double) throws(RegionError) -> UInt64 {
        let deadline = SystemClock.monotonicNanoseconds() &+ UInt64(max(0, timeout) * 1e9)
        let word = base + RegionLayout.Header.publications
        while true {
            try checkNotTruncated()
            let counter = cshim_load_acquire_u32(word)
            let current = self.revision
            if current > revision || isClosed { return current }
            let now = SystemClock.monotonicNanoseconds()
            guard now < deadline else { return current }
            Futex.wait(word, expected: counter, timeoutNanoseconds: deadline - now)
        }
    }
}

// MARK: - EntryView

/// One entry inside the mapping, read in place. Valid only inside the read section that produced it; every
/// accessor checks its offsets, so a view of a copy being rewritten yields wrong but safe values, and the
/// section's sequence check then discards them.
public struct EntryView {
    /// Not retained: a view lives only inside the read section of the reader that made it, so counting
    /// references would only cost two atomic operations per lookup.
    @usableFromInline unowned(unsafe) let reader: RegionReader
    @usableFromInline let record: Int
    @usableFromInline let arena: Int
    @usableFromInline let heartbeat: Int

    /// The mapping's start, so field loads need no access to the reader object.
    @usableFromInline let base: UnsafeRawPointer

    @usableFromInline
    init(reader: RegionReader, record: Int, arena: Int, heartbeat: Int) {
        self.reader = reader
        base = reader.base
        self.record = record
        self.arena = arena
        self.heartbeat = heartbeat
    }

    @usableFromInline typealias R = RegionLayout.Record

    /// The slot the entry is in (its heartbeat slot has the same number).
    var slot: Int { (heartbeat - reader.layout.heartbeatsOffset) / 8 }

    /// The registration's serial: never reused, so it tells a new entry in a reused slot from the old one.
    @inlinable public var serial: UInt64 { loadU64(record + R.serial) }
    /// The server's class.
    public var classCode: ClassCode { ClassCode(loadU16(record + R.classCode)) }
    /// When it first registered (ms since the Unix epoch).
    public var registeredAt: Int64 { Int64(bitPattern: loadU64(record + R.registeredAt)) }
    /// Its last heartbeat (ms since the Unix epoch): an atomic slot outside the latch.
    public var lastHeartbeat: Int64 { Int64(bitPattern: reader.relaxedU64(heartbeat)) }
    /// Terminals in all.
    public var terminalCount: Int { Int(loadU8(record + R.terminalCount)) }
    /// Terminals no connection uses.
    public var availableTerminals: Int { Int(loadU8(record + R.availableTerminals)) }
    /// Whether it is session-bound.
    public var isSession: Bool { loadU8(record + R.flags) & RegionLayout.Flags.session != 0 }
    /// Whether an active reservation holds it.
    public var isReserved: Bool { loadU8(record + R.flags) & RegionLayout.Flags.reserved != 0 }

    /// A range of the copy's arena, or an empty buffer when it does not lie inside the arena.
    private func arenaRange(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        guard offset <= reader.layout.arenaBytes, length <= reader.layout.arenaBytes - offset else { return reader.bytes(0, 0) }
        return reader.bytes(arena + offset, length)
    }

    /// A part of the id, checked against the id's bytes.
    private func idPart(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        let id = self.id
        guard offset <= id.count, length <= id.count - offset, let start = id.baseAddress else { return reader.bytes(0, 0) }
        return UnsafeRawBufferPointer(start: start + offset, count: length)
    }

    /// The id's bytes: in the record up to ``RegionLayout/maximumInlineIDBytes``, else in the arena; empty
    /// when the record states a length over ``RegionLayout/maximumIDBytes`` or a range outside the arena.
    public var id: UnsafeRawBufferPointer {
        let length = Int(loadU16(record + R.idLength))
        if length <= RegionLayout.maximumInlineIDBytes { return reader.bytes(record + R.id, length) }
        guard length <= RegionLayout.maximumIDBytes else { return reader.bytes(0, 0) }
        return arenaRange(Int(loadU32(record + R.idOffset)), length)
    }
    /// The fqdn's bytes.
    public var fqdn: UnsafeRawBufferPointer { idPart(0, Int(loadU16(record + R.fqdnLength))) }
    /// The servername's bytes.
    public var servername: UnsafeRawBufferPointer {
        idPart(Int(loadU16(record + R.servernameOffset)), Int(loadU16(record + R.servernameLength)))
    }
    /// The owner's bytes.
    public var owner: UnsafeRawBufferPointer { idPart(Int(loadU16(record + R.ownerOffset)), Int(loadU16(record + R.ownerLength))) }
    /// The auth mechanism's bytes.
    public var authMechanism: UnsafeRawBufferPointer {
        idPart(Int(loadU16(record + R.mechanismOffset)), Int(loadU16(record + R.mechanismLength)))
    }
    /// The UUID's 36 bytes.
    public var uuid: UnsafeRawBufferPointer { idPart(Int(loadU16(record + R.uuidOffset)), 36) }

    /// The entry's full wire form (compact JSON, as `getServer` returns it), in place; empty when the record
    /// states a range outside the arena.
    public var payload: UnsafeRawBufferPointer { arenaRange(Int(loadU32(record + R.payloadOffset)), Int(loadU32(record + R.payloadLength))) }

    /// How many capabilities the entry has.
    @inlinable public var capabilityCount: Int { min(Int(loadU8(record + R.capabilityCount)), RegionLayout.maximumCapabilities) }

    /// The name of the entry's capability at `position`, in place.
    public func capability(at position: Int) -> UnsafeRawBufferPointer {
        guard position >= 0, position < capabilityCount else { return reader.bytes(0, 0) }
        return reader.capabilityBytes(Int(loadU16(record + R.capabilities + position * 2)))
    }

    /// Whether the entry has the capability with table index `index`.
    @inlinable func hasCapability(_ index: Int) -> Bool {
        for position in 0..<capabilityCount where Int(loadU16(record + R.capabilities + position * 2)) == index { return true }
        return false
    }

    // MARK: Loads

    @inlinable func loadU8(_ offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }
    @inlinable func loadU16(_ offset: Int) -> UInt16 { UInt16(littleEndian: base.load(fromByteOffset: offset, as: UInt16.self)) }
    @inlinable func loadU32(_ offset: Int) -> UInt32 { UInt32(littleEndian: base.load(fromByteOffset: offset, as: UInt32.self)) }
    @inlinable func loadU64(_ offset: Int) -> UInt64 { UInt64(littleEndian: base.load(fromByteOffset: offset, as: UInt64.self)) }
}
