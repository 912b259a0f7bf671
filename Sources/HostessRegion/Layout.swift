import HostessModel

// MARK: - Layout

/// The byte layout of the shared-memory guest book, version 3.0. docs/shm-layout.md describes the same
/// thing for readers in other languages; every number here appears there.
///
/// ```
/// region  = header (4096) | capability table | heartbeats | copy 0 | copy 1
/// copy    = copy header (64) | summaries | records | index | arena | class heads | class links
/// arena   = per entry: [id bytes, when longer than the record's inline field] | payload bytes (one
///           allocation), in no particular order
/// ```
/// Everything is little-endian and naturally aligned; references are byte offsets, never pointers.
public struct RegionLayout: Sendable, Equatable {
    // MARK: Constants

    /// "HOSTESS1" read as a little-endian u64.
    public static let magic: UInt64 = 0x3153_5345_5453_4F48
    /// The layout's major version: readers refuse any other. Version 3 shrinks the record to 256 bytes: an
    /// id of up to ``maximumInlineIDBytes`` stays inline in it, a longer one moves to the arena, just before
    /// its payload; version 2 held every id in a 640-byte record. (Version 2 introduced the reuse of capability table indexes, which a reader must follow by
    /// `capabilityGeneration`; version 1's table was append-only.)
    public static let versionMajor: UInt32 = 3
    /// The layout's minor version: additions a 3.0 reader can ignore.
    public static let versionMinor: UInt32 = 0
    /// The header's size.
    public static let headerSize = 4096
    /// Bytes per copy header.
    public static let copyHeaderSize = 64
    /// Bytes per summary (the query column).
    public static let summarySize = 32
    /// Bytes per record: four cache lines, the first two holding what a lookup reads (its fields and the
    /// inline id), the last the capability list.
    public static let recordSize = 256
    /// Bytes per capability table entry.
    public static let capabilitySize = 80
    /// Bytes per index slot.
    public static let indexSlotSize = 8
    /// Entries of the capability table.
    public static let capabilityCapacity = 2048
    /// Distinct capability names the guest book's entries may carry at once: half the table. A publication
    /// interns the names its entries carry while the names it drops may still be referenced by the copies;
    /// with at most this many names before and after it, the two sets together always fit the table.
    public static let maximumLiveCapabilities = capabilityCapacity / 2
    /// The largest id an entry has (`Limits.nameBytes`).
    public static let maximumIDBytes = Limits.nameBytes
    /// The longest id a record holds inline (``Record/id``, `Limits.inlineNameBytes`); a longer one lies in the
    /// arena at ``Record/idOffset``, and the guest book counts its bytes with the entry's payload. Usual ids
    /// (fqdn, servername, owner, authentication, mechanism and UUID) are 80–110 bytes.
    public static let maximumInlineIDBytes = Limits.inlineNameBytes
    /// The largest arena a copy may have: records address it with 32-bit offsets.
    public static let maximumArenaBytes = Int(UInt32.max)
    /// Capability indexes a record holds.
    public static let maximumCapabilities = 32
    /// Buckets of the per-class slot chains: a class's chain is bucket `class & 255`.
    public static let classBuckets = 256

    /// An index slot holding this marks a deleted entry; probing continues past it.
    public static let tombstone: UInt64 = 0xFFFF_FFFF

    /// A hash of the byte order and of every record size and count above (offsets follow from them and are
    /// checked against the header separately): two builds agree on it exactly when their records agree.
    public static let fingerprint: UInt64 = {
        let description =
            "le;header=\(headerSize);copyheader=\(copyHeaderSize);summary=\(summarySize);record=\(recordSize);"
            + "capability=\(capabilitySize);slot=\(indexSlotSize);capabilities=\(capabilityCapacity);id=\(maximumIDBytes);"
            + "inlineid=\(maximumInlineIDBytes);recordcaps=\(maximumCapabilities);classbuckets=\(classBuckets);classlink=4;"
            + "recordidoffset=\(Record.idOffset);recordpayload=\(Record.payloadOffset);recordid=\(Record.id);"
            + "recordcapabilities=\(Record.capabilities);idhash=lanes4"
        return fnv1a64(Array(description.utf8))
    }()

    // MARK: Header fields (byte offsets from the region's start)

    /// Offsets of the header's fields.
    public enum Header {
        public static let magic = 0  // u64
        public static let version = 8  // u32: major << 16 | minor; 0 = not ready; written last
        public static let headerSize = 12  // u32
        public static let fingerprint = 16  // u64
        public static let regionSize = 24  // u64
        public static let capacity = 32  // u32: entries
        public static let capabilityCapacity = 36  // u32
        public static let indexSlots = 40  // u32: power of two
        public static let reserved44 = 44  // u32
        public static let capabilityTableOffset = 48  // u64
        public static let heartbeatsOffset = 56  // u64
        public static let copy0Offset = 64  // u64
        public static let copy1Offset = 72  // u64
        public static let copySize = 80  // u64
        public static let arenaBytes = 88  // u64: per copy
        public static let instanceID = 96  // 16 bytes, random per daemon instance
        public static let writerPID = 112  // u32
        public static let closed = 116  // u32: 1 once the writer closed the region
        public static let createdAt = 120  // u64: CLOCK_REALTIME ms when created
        public static let revision = 128  // u64 (atomic): the guest book revision of the latest publication
        public static let capabilityCount = 136  // u32 (atomic, release after the name is written): table entries written
        public static let capabilityGeneration = 144  // u64 (atomic, release): +1 before a table entry is reused
        public static let sequence = 192  // u64 (atomic): the latch sequence; its low bit selects the copy
        public static let writerHeartbeat = 256  // u64 (atomic): CLOCK_MONOTONIC ns, every 250 ms
        public static let publications = 320  // u32 (atomic): +1 per publication; the futex word
    }

    /// Offsets inside a copy header.
    public enum CopyHeader {
        public static let revision = 0  // u64
        public static let count = 8  // u32: live entries
        public static let reserved12 = 12  // u32
        public static let arenaUsed = 16  // u64: bytes of the arena in use from its start
    }

    /// Offsets inside a summary (32 bytes, one per slot).
    public enum Summary {
        public static let serial = 0  // u64: 0 = empty slot
        public static let capabilityMask = 8  // u64: bit (index % 64) for each capability index
        public static let classCode = 16  // u16
        public static let terminalCount = 18  // u8
        public static let availableTerminals = 19  // u8
        public static let capabilityCount = 20  // u8
        public static let flags = 21  // u8: bit 0 session, bit 1 held by a reservation
        public static let idHash = 24  // u32: low 32 bits of the id's hash
    }

    /// Bits of the flags byte in summaries and records.
    public enum Flags {
        /// The entry is session-bound.
        public static let session: UInt8 = 1
        /// An active reservation holds the entry (its payload's `reservedBy` names which).
        public static let reserved: UInt8 = 2
    }

    /// Offsets inside a record (256 bytes, one per slot). What a lookup reads (the serial, the id's length,
    /// where the payload lies) comes first, the inline id right after it, so that a lookup of an id of up to
    /// 104 bytes reads only the record's first two cache lines (one adjacent pair, which the hardware fetches
    /// together), then the other fields and the capability list. An id of up to
    /// ``RegionLayout/maximumInlineIDBytes`` is at `id`; a longer one is in the copy's arena at `idOffset`,
    /// immediately followed by the payload.
    public enum Record {
        public static let serial = 0  // u64
        public static let idOffset = 8  // u32: an arena id's bytes, from the copy's arena start; 0 for an inline id
        public static let idLength = 12  // u16
        public static let fqdnLength = 14  // u16: fqdn = id[0 ..< fqdnLength]
        public static let payloadOffset = 16  // u32: from the copy's arena start; idOffset + idLength for an arena id
        public static let payloadLength = 20  // u32
        public static let id = 24  // maximumInlineIDBytes bytes: the id when idLength <= maximumInlineIDBytes
        public static let servernameOffset = 152  // u16: into the id
        public static let servernameLength = 154  // u16
        public static let ownerOffset = 156  // u16: into the id
        public static let ownerLength = 158  // u16
        public static let mechanismOffset = 160  // u16: into the id
        public static let mechanismLength = 162  // u16
        public static let uuidOffset = 164  // u16: into the id; 36 bytes
        public static let classCode = 166  // u16
        public static let authentication = 168  // u8: 0 no, 1 yes, 2 optional
        public static let terminalCount = 169  // u8
        public static let availableTerminals = 170  // u8
        public static let capabilityCount = 171  // u8
        public static let flags = 172  // u8: bit 0 session, bit 1 held by a reservation
        public static let registeredAt = 176  // i64: ms since the Unix epoch
        public static let capabilities = 192  // u16 × 32: capability table indexes
    }

    // MARK: Derived sizes

    /// Entries the region holds.
    public let capacity: Int
    /// Slots in each copy's id index (a power of two, at least twice the capacity).
    public let indexSlots: Int
    /// Bytes of each copy's arena (ids and payloads).
    public let arenaBytes: Int

    /// Where the capability table starts.
    public let capabilityTableOffset: Int
    /// Where the heartbeat array (u64 ms per slot) starts.
    public let heartbeatsOffset: Int
    /// Where copy 0 starts.
    public let copy0Offset: Int
    /// Bytes of one copy.
    public let copySize: Int
    /// Where copy 1 starts.
    public let copy1Offset: Int
    /// The whole region's size.
    public let regionSize: Int

    /// Offsets inside a copy (stored, not computed: the lookup path reads them on every call).
    public let summariesOffsetInCopy: Int
    public let recordsOffsetInCopy: Int
    public let indexOffsetInCopy: Int
    public let arenaOffsetInCopy: Int
    /// `classBuckets` u32 heads (slot + 1 of a chain's first entry, 0 for none).
    public let classHeadsOffsetInCopy: Int
    /// One u32 per slot: slot + 1 of the next entry in the same class bucket, 0 at the end.
    public let classLinksOffsetInCopy: Int

    /// A layout for `capacity` entries with an arena of `arenaBytes` (ids and payloads) per copy.
    public init(capacity: Int, arenaBytes: Int) {
        self.capacity = capacity
        var slots = 1
        while slots < capacity * 2 { slots <<= 1 }
        indexSlots = slots
        self.arenaBytes = arenaBytes
        capabilityTableOffset = Self.headerSize
        heartbeatsOffset = Self.align(capabilityTableOffset + Self.capabilityCapacity * Self.capabilitySize)
        copy0Offset = Self.align(heartbeatsOffset + capacity * 8, to: 4096)
        summariesOffsetInCopy = Self.copyHeaderSize
        recordsOffsetInCopy = Self.align(summariesOffsetInCopy + capacity * Self.summarySize)
        indexOffsetInCopy = Self.align(recordsOffsetInCopy + capacity * Self.recordSize)
        arenaOffsetInCopy = Self.align(indexOffsetInCopy + slots * Self.indexSlotSize)
        classHeadsOffsetInCopy = Self.align(arenaOffsetInCopy + arenaBytes)
        classLinksOffsetInCopy = Self.align(classHeadsOffsetInCopy + Self.classBuckets * 4)
        copySize = Self.align(classLinksOffsetInCopy + capacity * 4, to: 4096)
        copy1Offset = copy0Offset + copySize
        regionSize = copy1Offset + copySize
    }

    @usableFromInline static func align(_ value: Int, to alignment: Int = 64) -> Int { (value + alignment - 1) / alignment * alignment }
}

// MARK: - Hashing

/// FNV-1a, 64-bit: the hash of the fingerprint text.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}

/// The id hash used by the index: four independent lanes, each mixing one 8-byte little-endian word of
/// every 32 with a multiply and an xorshift, so the chains run side by side and an 80-byte id costs three
/// dependent steps instead of eleven; the last whole words go to lanes 0, 1 and 2 in turn and the final 1–7
/// bytes to lane 3; the lanes are folded with rotations and finished with the SplitMix64 avalanche.
/// docs/shm-layout.md gives the same function in C.
@inlinable
public func idHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let count = bytes.count
    var lane0: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
    var lane1: UInt64 = 0x6A09_E667_F3BC_C909
    var lane2: UInt64 = 0xBB67_AE85_84CA_A73B
    var lane3: UInt64 = 0x3C6E_F372_FE94_F82B
    var offset = 0
    while offset + 32 <= count {
        lane0 = idHashMix(lane0, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian)
        lane1 = idHashMix(lane1, bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self).littleEndian)
        lane2 = idHashMix(lane2, bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self).littleEndian)
        lane3 = idHashMix(lane3, bytes.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self).littleEndian)
        offset += 32
    }
    if offset + 8 <= count {
        lane0 = idHashMix(lane0, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian)
        offset += 8
        if offset + 8 <= count {
            lane1 = idHashMix(lane1, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian)
            offset += 8
            if offset + 8 <= count {
                lane2 = idHashMix(lane2, bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian)
                offset += 8
            }
        }
    }
    let remaining = count - offset
    if remaining > 0 {
        // The last 1–7 bytes, little-endian in the low bits of a word with zeros above. With 8 bytes or more in
        // all, one overlapping load of the final 8 bytes shifted down gives the same word without a byte loop.
        var word: UInt64 = 0
        if count >= 8 {
            word = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self).littleEndian >> UInt64(64 - 8 * remaining)
        } else {
            for index in 0..<remaining { word |= UInt64(bytes[offset + index]) << UInt64(8 * index) }
        }
        lane3 = idHashMix(lane3, word)
    }
    var hash = lane0 ^ idHashRotate(lane1, 17) ^ idHashRotate(lane2, 31) ^ idHashRotate(lane3, 47)
    hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
    hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
    return hash ^ (hash >> 31)
}

/// One step of a lane of ``idHash(_:)``: the word xored in, a multiply, an xorshift.
@inlinable
func idHashMix(_ lane: UInt64, _ word: UInt64) -> UInt64 {
    let mixed = (lane ^ word) &* 0xBF58_476D_1CE4_E5B9
    return mixed ^ (mixed >> 31)
}

/// `value` rotated left by `bits` (1–63).
@inlinable
func idHashRotate(_ value: UInt64, _ bits: UInt64) -> UInt64 { (value << bits) | (value >> (64 - bits)) }
