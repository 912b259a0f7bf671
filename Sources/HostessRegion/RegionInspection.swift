import CShim
import HostessModel
import HostessSystem

// MARK: - Header facts

/// The header of a region as plain values, for tools.
public struct RegionHeader: Sendable {
    public var versionMajor: UInt32
    public var versionMinor: UInt32
    public var fingerprint: UInt64
    public var regionSize: Int
    public var capacity: Int
    public var indexSlots: Int
    public var arenaBytes: Int
    public var instanceID: String
    public var writerPID: Int32
    public var closed: Bool
    public var createdAt: Int64
    public var revision: UInt64
    public var sequence: UInt64
    public var publications: UInt32
    /// Capability table entries written (names in use and names no entry carries any more).
    public var capabilityCount: Int
    /// How many times a table entry was given a new name.
    public var capabilityGeneration: UInt64
    public var writerHeartbeatAge: Double
    /// Live entries in the copy readers use now.
    public var count: Int
}

extension RegionReader {
    /// The header's fields, read now.
    public func header() -> RegionHeader {
        typealias H = RegionLayout.Header
        let version = acquireU32(H.version)
        let sequence = u64(H.sequence)
        let copy = sequence & 1 == 0 ? layout.copy0Offset : layout.copy1Offset
        return RegionHeader(
            versionMajor: version >> 16, versionMinor: version & 0xFFFF, fingerprint: u64(H.fingerprint),
            regionSize: layout.regionSize, capacity: layout.capacity, indexSlots: layout.indexSlots, arenaBytes: layout.arenaBytes,
            instanceID: instanceID.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(), writerPID: writerPID,
            closed: isClosed, createdAt: Int64(bitPattern: u64(H.createdAt)), revision: revision, sequence: sequence,
            publications: u32(H.publications), capabilityCount: Int(u32(H.capabilityCount)),
            capabilityGeneration: cshim_load_acquire_u64(base + H.capabilityGeneration), writerHeartbeatAge: writerHeartbeatAge,
            count: Int(u32(copy + RegionLayout.CopyHeader.count)))
    }

    /// Distinct capability names the entries of the copy readers use now carry.
    public func capabilitiesInUse() throws(RegionError) -> Int {
        try readSection { copy in
            var used = Set<Int>()
            for slot in 0..<layout.capacity where u64(copy + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize) != 0 {
                let view = view(slot: slot, copy: copy)
                for position in 0..<view.capabilityCount {
                    used.insert(Int(u16(view.record + RegionLayout.Record.capabilities + position * 2)))
                }
            }
            return used.count
        }
    }

    // MARK: Checking

    /// Walks the region and names everything wrong with it: the capability table, and the summaries, records,
    /// ids (inline or in the arena), payloads, index and capability references of the copy readers use (inside a read section, so a copy
    /// caught mid-rewrite is checked again rather than reported). The other copy may be half-written by a live
    /// writer and is checked too only when no writer holds the region. An empty list means it is sound.
    public func check() throws(RegionError) -> [String] {
        var problems: [String] = []
        let capabilityCount = Int(acquireU32(RegionLayout.Header.capabilityCount))
        if capabilityCount > RegionLayout.capabilityCapacity {
            problems.append("capability count \(capabilityCount) is over the table's \(RegionLayout.capabilityCapacity)")
        }
        // Names are distinct: a reader resolves a name to the first index holding it. Read at one generation
        // (a writer renaming an entry meanwhile makes a comparison meaningless, so it is not reported).
        let generation = cshim_load_acquire_u64(base + RegionLayout.Header.capabilityGeneration)
        var firstIndex: [String: Int] = [:]
        var duplicates: [String] = []
        for index in 0..<min(capabilityCount, RegionLayout.capabilityCapacity) {
            let entry = layout.capabilityTableOffset + index * RegionLayout.capabilitySize
            let length = Int(u16(entry))
            if length == 0 || length > RegionLayout.capabilitySize - 2 {
                problems.append("capability \(index) has length \(length)")
            } else if let first = firstIndex.updateValue(index, forKey: capabilityName(index)) {
                duplicates.append("capability name '\(capabilityName(index))' is at indexes \(first) and \(index)")
            }
        }
        cshim_fence_acquire()
        if cshim_load_relaxed_u64(base + RegionLayout.Header.capabilityGeneration) == generation { problems += duplicates }
        // Inside the section, the count is read after the sequence: names interned since the first read count.
        var checked = 0
        problems += try readSection { copy in
            checked = copy
            return checkCopy(copy, capabilityCount: min(Int(acquireU32(RegionLayout.Header.capabilityCount)), RegionLayout.capabilityCapacity))
        }
        if liveness() != .alive {
            let other = checked == layout.copy0Offset ? layout.copy1Offset : layout.copy0Offset
            problems += checkCopy(other, capabilityCount: min(Int(acquireU32(RegionLayout.Header.capabilityCount)), RegionLayout.capabilityCapacity))
        }
        return problems
    }

    private func checkCopy(_ copy: Int, capabilityCount: Int) -> [String] {
        typealias R = RegionLayout.Record
        var problems: [String] = []
        let which = copy == layout.copy0Offset ? "copy 0" : "copy 1"
        let stated = Int(u32(copy + RegionLayout.CopyHeader.count))
        let arenaUsed = Int(clamping: u64(copy + RegionLayout.CopyHeader.arenaUsed))
        if arenaUsed > layout.arenaBytes { problems.append("\(which): arena use \(arenaUsed) is over its size \(layout.arenaBytes)") }
        var live: [Int] = []
        var serials = Set<UInt64>()
        // The arena ranges live records claim (ids and payloads), to find any two that overlap.
        var claims: [ArenaClaim] = []
        for slot in 0..<layout.capacity {
            let summary = copy + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize
            let serial = u64(summary + RegionLayout.Summary.serial)
            guard serial != 0 else { continue }
            live.append(slot)
            let view = view(slot: slot, copy: copy)
            let label = "\(which) slot \(slot)"
            if view.serial != serial { problems.append("\(label): record serial \(view.serial) differs from summary serial \(serial)") }
            if !serials.insert(serial).inserted { problems.append("\(label): serial \(serial) is used twice") }
            let record = copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize
            let idOffset = Int(u32(record + R.idOffset))
            let idLength = Int(u16(record + R.idLength))
            if idLength == 0 || idLength > RegionLayout.maximumIDBytes { problems.append("\(label): id length \(idLength)") }
            let inline = idLength <= RegionLayout.maximumInlineIDBytes
            if inline {
                if idOffset != 0 { problems.append("\(label): inline id of \(idLength) bytes has an arena offset \(idOffset)") }
            } else if idOffset + idLength > min(arenaUsed, layout.arenaBytes) {
                problems.append("\(label): id \(idOffset)+\(idLength) is outside the arena's used \(arenaUsed) bytes")
            } else {
                claims.append(ArenaClaim(slot: slot, part: "id", start: idOffset, end: idOffset + idLength))
            }
            let offset = Int(u32(record + R.payloadOffset))
            let length = Int(u32(record + R.payloadLength))
            if !inline && offset != idOffset + idLength {
                problems.append("\(label): payload starts at \(offset), not right after the id at \(idOffset)+\(idLength)")
            }
            if offset + length > min(arenaUsed, layout.arenaBytes) {
                problems.append("\(label): payload \(offset)+\(length) is outside the arena's used \(arenaUsed) bytes")
            } else {
                claims.append(ArenaClaim(slot: slot, part: "payload", start: offset, end: offset + length))
                if let json = try? JSONParser.parse(view.payload), let entry = try? GuestBookEntry(json: json) {
                    if !entry.id.utf8.elementsEqual(view.id) { problems.append("\(label): payload id differs from record id") }
                    if entry.serial != serial { problems.append("\(label): payload serial \(entry.serial) differs from \(serial)") }
                    if !entry.name.fqdn.utf8.elementsEqual(view.fqdn) || !entry.name.servername.utf8.elementsEqual(view.servername)
                        || !entry.name.owner.utf8.elementsEqual(view.owner) || !entry.name.uuid.utf8.elementsEqual(view.uuid)
                    {
                        problems.append("\(label): name field offsets do not match the id")
                    }
                    if entry.availableTerminalCount != view.availableTerminals {
                        problems.append("\(label): available terminal count differs from payload")
                    }
                } else {
                    problems.append("\(label): payload is not a valid entry")
                }
            }
            let capabilities = Int(u8(record + R.capabilityCount))
            if capabilities > RegionLayout.maximumCapabilities { problems.append("\(label): \(capabilities) capabilities") }
            for position in 0..<min(capabilities, RegionLayout.maximumCapabilities) {
                let index = Int(u16(record + R.capabilities + position * 2))
                if index >= capabilityCount { problems.append("\(label): capability index \(index) is past the table's \(capabilityCount)") }
            }
            if find(view.id, copy: copy) != slot { problems.append("\(label): the index does not find this entry by its id") }
        }
        if live.count != stated { problems.append("\(which): header says \(stated) entries, summaries hold \(live.count)") }
        // No two ranges of the arena are claimed twice: an id never overlaps a payload or another id.
        let sorted = claims.filter { $0.end > $0.start }.sorted { ($0.start, $0.end) < ($1.start, $1.end) }
        var reaching: ArenaClaim?
        for claim in sorted {
            if let previous = reaching, claim.start < previous.end {
                problems.append(
                    "\(which): slot \(claim.slot)'s \(claim.part) at \(claim.start)+\(claim.end - claim.start) overlaps slot \(previous.slot)'s \(previous.part) at \(previous.start)+\(previous.end - previous.start)")
            }
            if claim.end > reaching?.end ?? 0 { reaching = claim }
        }
        // Every index slot names a live entry, an empty slot, or a tombstone.
        let index = copy + layout.indexOffsetInCopy
        var referenced = 0
        for position in 0..<layout.indexSlots {
            let value = u64(index + position * 8)
            guard value != 0, value != RegionLayout.tombstone else { continue }
            let slot = Int(value & 0xFFFF_FFFF) - 1
            referenced += 1
            if slot < 0 || slot >= layout.capacity {
                problems.append("\(which): index slot \(position) points outside the table (\(slot))")
            } else if u64(copy + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize) == 0 {
                problems.append("\(which): index slot \(position) points to empty slot \(slot)")
            }
        }
        if referenced != live.count { problems.append("\(which): index holds \(referenced) entries, summaries \(live.count)") }
        // Every live slot is in exactly one class chain, the one of its class; chains end within the capacity.
        var chained = Set<Int>()
        for bucket in 0..<RegionLayout.classBuckets {
            var link = u32(copy + layout.classHeadsOffsetInCopy + bucket * 4)
            var steps = 0
            while link != 0 {
                let slot = Int(link) - 1
                guard slot < layout.capacity else {
                    problems.append("\(which): class chain \(bucket) points outside the table (\(slot))")
                    break
                }
                guard chained.insert(slot).inserted, steps <= layout.capacity else {
                    problems.append("\(which): class chain \(bucket) loops or repeats slot \(slot)")
                    break
                }
                let summary = copy + layout.summariesOffsetInCopy + slot * RegionLayout.summarySize
                if u64(summary + RegionLayout.Summary.serial) == 0 {
                    problems.append("\(which): class chain \(bucket) holds empty slot \(slot)")
                } else if Int(u16(summary + RegionLayout.Summary.classCode)) % RegionLayout.classBuckets != bucket {
                    problems.append("\(which): slot \(slot) is in class chain \(bucket), not its class's")
                }
                link = u32(copy + layout.classLinksOffsetInCopy + slot * 4)
                steps += 1
            }
        }
        if chained.count != live.count { problems.append("\(which): class chains hold \(chained.count) entries, summaries \(live.count)") }
        return problems
    }
}

/// A range of a copy's arena a live record claims: its arena id or its payload.
private struct ArenaClaim {
    var slot: Int
    var part: String
    var start: Int
    var end: Int
}
