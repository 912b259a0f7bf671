// MARK: - Caller

/// Who is asking, as the kernel reported it, and which owner names that user may act as.
public struct Caller: Hashable, Sendable, CustomStringConvertible {
    /// The caller's user id (from SO_PEERCRED on a socket).
    public var uid: UInt32
    /// Owner names this user may register and change: its own user name plus names the operator mapped to it.
    public var ownerNames: Set<String>
    /// For a remote caller, the HTTP signing key it proved it holds; nil for a local user.
    public var key: String?

    /// A caller.
    public init(uid: UInt32, ownerNames: Set<String>, key: String? = nil) {
        self.uid = uid
        self.ownerNames = ownerNames
        self.key = key
    }

    /// `key ID` for a remote caller, `uid N` for a local one: how messages name the caller.
    public var description: String { key.map { "key \($0)" } ?? "uid \(uid)" }

    /// Whether the caller is root, who may act as any owner.
    public var isRoot: Bool { uid == 0 }

    /// Whether the caller may register, change or remove entries owned by `owner`.
    public func mayActAs(owner: String) -> Bool { isRoot || ownerNames.contains(owner) }

    /// Whom the capability names of the entries this caller registers are counted against; nil for root,
    /// who is not limited (``GuestBook/Capacity/capabilitiesPerUID``).
    var capabilityAccount: CapabilityAccount? { isRoot ? nil : CapabilityAccount(uid: uid, key: key) }

    /// The daemon itself, for evictions and session ends.
    public static let daemon = Caller(uid: 0, ownerNames: [])
}

// MARK: - CapabilityAccount

/// Whom an entry's capability names are counted against for ``GuestBook/Capacity/capabilitiesPerUID``: the
/// uid that registered it, or for a remote (HTTP) caller, the signing key it proved it holds.
struct CapabilityAccount: Hashable, Sendable, CustomStringConvertible {
    var uid: UInt32
    var key: String?

    var description: String { key.map { "HTTP key '\($0)'" } ?? "uid \(uid)" }
}

// MARK: - Timestamp

/// A reading of both clocks: wall time for what the wire shows, monotonic time for liveness.
public struct Timestamp: Hashable, Sendable {
    /// Milliseconds since the Unix epoch (CLOCK_REALTIME).
    public var wallMilliseconds: Int64
    /// Nanoseconds on CLOCK_MONOTONIC; never goes back, unaffected by clock changes.
    public var monotonicNanoseconds: UInt64

    /// A reading.
    public init(wallMilliseconds: Int64, monotonicNanoseconds: UInt64) {
        self.wallMilliseconds = wallMilliseconds
        self.monotonicNanoseconds = monotonicNanoseconds
    }
}

// MARK: - Change

/// One numbered change to the guest book.
public struct Change: Hashable, Sendable {
    /// What happened to the entry.
    public enum Kind: String, Sendable {
        case registered, updated, unregistered, evicted
        /// The entry's session connection closed.
        case sessionEnded = "session_ended"
        /// A terminal was marked in use or available.
        case terminals
        /// A reservation began holding the server, or let it go.
        case hold
        /// A reservation was made or ended; the change's id is the reservation's.
        case reservation
        /// A connectome was recorded or removed; the change's id is the connectome's.
        case connectome
        /// Another Hostess was heard from for the first time; the change's id is its hostessId.
        case peerDiscovered = "peer_discovered"
        /// A peer's endpoint or summary changed, or a stale one was heard from again; the id is its hostessId.
        case peerChanged = "peer_changed"
        /// A peer said goodbye or missed its ttl (it is stale now); the id is its hostessId.
        case peerLost = "peer_lost"

        /// Whether the change's id names an entry (not a reservation, a connectome or a peer).
        public var namesEntry: Bool {
            switch self {
            case .reservation, .connectome, .peerDiscovered, .peerChanged, .peerLost: false
            default: true
            }
        }
    }

    /// The guest book revision this change produced.
    public var revision: UInt64
    /// What happened.
    public var kind: Kind
    /// The entry id (the reservation id for ``Kind/reservation``, the connectome id for ``Kind/connectome``).
    public var id: String

    /// A change.
    public init(revision: UInt64, kind: Kind, id: String) {
        self.revision = revision
        self.kind = kind
        self.id = id
    }

    /// Reads a change in its wire form; nil when it is not one.
    public init?(json: JSONValue) {
        guard let object = json.objectValue, case .int(let number)? = object["revision"], number >= 0,
            let kind = object["kind"]?.stringValue.flatMap(Kind.init(rawValue:)), let id = object["id"]?.stringValue
        else { return nil }
        self.init(revision: UInt64(number), kind: kind, id: id)
    }

    /// The change in its wire form.
    public var json: JSONValue {
        ["revision": .int(Int64(clamping: revision)), "kind": .string(kind.rawValue), "id": .string(id)]
    }
}

// MARK: - GuestBook

/// The guest book and its rules: who is here, what they offer, and which terminals are in use.
///
/// A value with one owner (the daemon's event loop). Its ``Capacity`` is checked before a change is made, so
/// a change that would not fit the shared-memory region is refused with `capacity` and changes nothing. Every change bumps ``revision`` by one and is recorded
/// in a bounded log, so that watchers and publishers learn exactly what changed since a revision.
/// Heartbeats refresh liveness only: they are not changes and do not bump the revision.
public struct GuestBook: Sendable {
    /// The stored state of one entry.
    struct Record: Sendable {
        var entry: GuestBookEntry
        /// CLOCK_MONOTONIC nanoseconds after which the entry is evicted.
        var deadline: UInt64
        /// The connection whose close ends the entry, for session-bound entries.
        var sessionConnection: UInt64?
        /// Whom its capability names are counted against: who registered it last; nil for root, and for an
        /// entry restored from a predecessor's region.
        var account: CapabilityAccount?
        /// The entry's wire form as of its last change: what the region publishes, and what the payload
        /// capacity counts. Heartbeats do not rewrite it.
        var wire: WireForm
    }

    /// What a query tests of an entry, kept beside its record so that a query reads 32 bytes per entry, in
    /// order, and touches a record only for a candidate the summary cannot settle.
    struct Summary: Sendable {
        /// The entry's serial: the order results are given in.
        var serial: UInt64
        /// Bit `min(n, 63)` for the number `n` of each capability name the entry carries (see
        /// ``GuestBook/capabilityNumbers``): exact for the first 63 names, a hint past them.
        var capabilityMask: UInt64
        /// The entry's class.
        var classCode: UInt16
        /// Terminals no connection uses.
        var availableTerminals: UInt16
        /// Whether an active reservation holds the entry.
        var held: Bool
    }

    /// What the guest book may hold.
    public struct Capacity: Sendable, Equatable {
        /// Entries at most.
        public var entries: Int
        /// Bytes of all entries' wire form (compact JSON) together, at most, counting with each entry the
        /// bytes of an id longer than `Limits.inlineNameBytes` (the region stores such an id beside the payload).
        public var payloadBytes: Int
        /// Distinct capability names the entries may carry at once (the region interns each name while an entry
        /// carries it). A name no entry carries any more is freed.
        public var capabilities: Int
        /// Distinct capability names the entries one uid registered may carry at once (a remote caller counts
        /// per signing key); root is not limited. Keeps one user from using up ``capabilities``.
        public var capabilitiesPerUID: Int

        /// ``capabilitiesPerUID`` unless configured otherwise.
        public static let defaultCapabilitiesPerUID = 256

        /// A capacity.
        public init(entries: Int, payloadBytes: Int, capabilities: Int, capabilitiesPerUID: Int = Capacity.defaultCapabilitiesPerUID) {
            self.entries = entries
            self.payloadBytes = payloadBytes
            self.capabilities = capabilities
            self.capabilitiesPerUID = capabilitiesPerUID
        }

        /// No practical limit.
        public static let unlimited = Capacity(entries: .max, payloadBytes: .max, capabilities: .max, capabilitiesPerUID: .max)
    }

    /// The revision of the latest change; 0 before any.
    public private(set) var revision: UInt64 = 0
    /// What the book may hold.
    public let capacity: Capacity
    /// Bytes of all entries' wire form together, with the ids longer than `Limits.inlineNameBytes`.
    public private(set) var payloadBytes = 0
    /// Distinct capability names the entries carry now.
    public var capabilitiesInUse: Int { capabilityUse.count }
    /// How long an entry lives without a heartbeat, in nanoseconds.
    public let ttlNanoseconds: UInt64
    /// How many changes the log keeps for ``changes(since:)``.
    public let changeLogCapacity: Int

    /// The entries, densely and in no particular order (``slots`` finds one by id); removing one moves the
    /// last into its place.
    private var records: [Record] = []
    /// Each record's summary, at the same position.
    private var summaries: [Summary] = []
    /// Where each id's record is in ``records``.
    private var slots: [String: Int] = [:]
    /// How many entries carry each capability name; a name no entry carries is not here.
    private var capabilityUse: [String: Int] = [:]
    /// A small number for each capability name the entries carry, given when the first entry carries it and
    /// taken back when the last lets it go: the bits of the summaries' capability masks.
    private var capabilityNumbers: [String: Int] = [:]
    /// Numbers given back, reused before new ones.
    private var freeCapabilityNumbers: [Int] = []
    /// The same per account, for the per-uid limit.
    private var capabilityUseByAccount: [CapabilityAccount: [String: Int]] = [:]
    /// The ids of each connection's session-bound entries, so that a closing connection costs its own entries,
    /// not a pass over the guest book.
    private var idsBySession: [UInt64: Set<String>] = [:]
    private var nextSerial: UInt64 = 1
    /// Every entry's liveness deadline, earliest first.
    private var deadlines = DeadlineQueue()
    /// Reservations, active and ended (kept for the retention window), by id.
    var reservations: [String: Reservation] = [:]
    /// The connection whose close ends each session-bound active reservation.
    var reservationSessions: [String: UInt64] = [:]
    /// Remote parts waiting for their peers to be asked to cancel them (see ``takeRemoteReleases()``).
    var remoteReleases: [(reservationID: String, part: Reservation.RemotePart)] = []
    /// Recorded connectomes by id, as recorded: their state is worked out from the entries when read.
    var connectomes: [String: ConnectomeRecord] = [:]
    /// The last fencing token granted.
    var lastToken: UInt64 = 0
    /// The limits on reservations; the standard ones unless the operator configured others.
    public var reservationPolicy = ReservationPolicy.standard
    private var changeLog: [Change] = []
    private var changeLogStart = 0

    /// An empty guest book.
    /// - Parameters:
    ///   - ttlNanoseconds: liveness window; an entry not heartbeated within it is evicted.
    ///   - changeLogCapacity: how many recent changes to remember for watchers.
    ///   - capacity: what the book may hold.
    public init(ttlNanoseconds: UInt64, changeLogCapacity: Int = 4096, capacity: Capacity = .unlimited) {
        self.ttlNanoseconds = ttlNanoseconds
        self.changeLogCapacity = max(1, changeLogCapacity)
        self.capacity = capacity
    }

    /// The number of entries.
    public var count: Int { records.count }

    // MARK: Reading

    /// The entry with this id.
    public func entry(id: String) throws(HostessError) -> GuestBookEntry {
        records[try slot(of: id)].entry
    }

    /// Every entry, in registration order.
    public func all() -> [GuestBookEntry] {
        records.map(\.entry).sorted { $0.serial < $1.serial }
    }

    /// Writes `entry`'s wire form into `bytes`, exactly as `entry.json` serializes: the bytes the guest book
    /// keeps for it (rewritten on every change but a heartbeat), with the entry's `lastHeartbeat` spliced in.
    public func writeWire(of entry: GuestBookEntry, into bytes: inout [UInt8]) {
        guard let slot = slots[entry.id] else { return entry.json.write(into: &bytes) }
        EntryList.Item(wire: records[slot].wire, lastHeartbeat: entry.lastHeartbeat).write(into: &bytes)
    }

    /// The entries matching `filter`, in registration order, as the wire forms kept for them.
    public func list(_ filter: ServerFilter) -> EntryList {
        EntryList(items: matchingSlots(filter).map { EntryList.Item(wire: records[$0].wire, lastHeartbeat: records[$0].entry.lastHeartbeat) })
    }

    /// Every entry, in registration order, as the wire forms kept for them.
    public func listAll() -> EntryList {
        let order = records.indices.sorted { summaries[$0].serial < summaries[$1].serial }
        return EntryList(items: order.map { EntryList.Item(wire: records[$0].wire, lastHeartbeat: records[$0].entry.lastHeartbeat) })
    }
}

// MARK: - Wire forms

/// An entry's wire form (compact JSON, as ``GuestBookEntry/json`` serializes it) and where the value of its
/// own `lastHeartbeat` member lies in it, so that a heartbeat is spliced in without a rescan.
struct WireForm: Sendable, Hashable {
    /// The bytes, held with no spare capacity.
    let bytes: [UInt8]
    /// The digits of the top-level `lastHeartbeat` value; nil only for bytes without that member, which
    /// ``GuestBookEntry/json`` never writes.
    let heartbeat: Range<Int>?

    /// The wire form of `entry`.
    init(_ entry: GuestBookEntry) {
        let written = entry.json.jsonBytes
        bytes = [UInt8](unsafeUninitializedCapacity: written.count) { buffer, count in
            count = buffer.initialize(fromContentsOf: written)
        }
        heartbeat = Self.heartbeatDigits(in: bytes)
    }

    /// Where the value of the entry's own `"lastHeartbeat":` member is in its wire form: the member at the
    /// top level of the object, found by a scan that follows strings (and their escapes) and nesting, so a
    /// terminal's or the metadata's member of that name is never taken for it.
    private static func heartbeatDigits(in payload: [UInt8]) -> Range<Int>? {
        let key = Array(#""lastHeartbeat":"#.utf8)
        return payload.withUnsafeBufferPointer { buffer -> Range<Int>? in
            var depth = 0
            var index = 0
            while index < buffer.count {
                let byte = buffer[index]
                if byte == 0x22 {  // a string: a key at depth 1 may be the one
                    if depth == 1, index + key.count <= buffer.count, buffer[index..<(index + key.count)].elementsEqual(key) {
                        var end = index + key.count
                        if end < buffer.count, buffer[end] == 0x2D { end += 1 }
                        while end < buffer.count, buffer[end] >= 0x30, buffer[end] <= 0x39 { end += 1 }
                        return (index + key.count)..<end
                    }
                    index += 1
                    while index < buffer.count, buffer[index] != 0x22 { index += buffer[index] == 0x5C ? 2 : 1 }
                } else if byte == 0x7B || byte == 0x5B {
                    depth += 1
                } else if byte == 0x7D || byte == 0x5D {
                    depth -= 1
                }
                index += 1
            }
            return nil
        }
    }
}

/// Entries a query chose, as the wire forms the guest book keeps for them: what a reply writes without a
/// JSON tree per entry. It holds the bytes (shared, not copied), so it stays valid after the book changes.
public struct EntryList: Sendable, Hashable {
    /// One entry: its kept wire form and its current `lastHeartbeat`.
    struct Item: Sendable, Hashable {
        let wire: WireForm
        let lastHeartbeat: Int64

        /// Writes the wire form with `lastHeartbeat` spliced in: byte for byte what the entry's `json` gives.
        func write(into bytes: inout [UInt8]) {
            guard let digits = wire.heartbeat else { return bytes += wire.bytes }
            bytes += wire.bytes[..<digits.lowerBound]
            Self.appendDecimal(lastHeartbeat, to: &bytes)
            bytes += wire.bytes[digits.upperBound...]
        }

        /// Appends `value` in decimal, as `String(value)` spells it, without making the string.
        static func appendDecimal(_ value: Int64, to bytes: inout [UInt8]) {
            if value < 0 { bytes.append(0x2D) }
            var magnitude = value.magnitude
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of 2^64
            withUnsafeMutableBytes(of: &digits) { buffer in
                var start = buffer.count
                repeat {
                    start -= 1
                    buffer[start] = UInt8(truncatingIfNeeded: magnitude % 10) &+ 0x30
                    magnitude /= 10
                } while magnitude > 0
                bytes.append(contentsOf: buffer[start...])
            }
        }
    }

    let items: [Item]

    /// Bytes the wire forms take, to size an output buffer.
    public var byteCount: Int { items.reduce(2) { $0 + $1.wire.bytes.count + 1 } }

    /// Writes the entries as a JSON array, each exactly as its `json` serializes.
    public func write(into bytes: inout [UInt8]) {
        bytes.append(0x5B)
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(0x2C) }
            item.write(into: &bytes)
        }
        bytes.append(0x5D)
    }

    /// The entries as a JSON array value, for a reply built as a tree (the socket and HTTP write the bytes).
    public var json: JSONValue {
        var bytes: [UInt8] = []
        write(into: &bytes)
        return (try? JSONParser.parse(bytes)) ?? .array([])
    }
}

extension GuestBook {
    /// The entries matching `filter`, in registration order.
    public func query(_ filter: ServerFilter) -> [GuestBookEntry] {
        matchingSlots(filter).map { records[$0].entry }
    }

    /// The positions of the records matching `filter`, in registration order. Named ids are looked up
    /// directly; otherwise the summaries are scanned in order, and a record is read only when the summary
    /// cannot settle the match (a name part to compare, or a capability past the 63 exact bits).
    private func matchingSlots(_ filter: ServerFilter) -> [Int] {
        if let ids = filter.serverIDs {
            return ids.compactMap { slots[$0] }.filter { filter.matches(records[$0].entry) }.sorted { summaries[$0].serial < summaries[$1].serial }
        }
        var required: UInt64 = 0
        var confirm = filter.fqdn != nil || filter.servername != nil || filter.owner != nil
        for capability in filter.capabilities {
            // A name no entry carries matches nothing.
            guard let number = capabilityNumbers[capability] else { return [] }
            required |= 1 << min(number, 63)
            if number >= 63 { confirm = true }
        }
        let classCode = filter.classCode?.value
        let minimum = filter.availableTerminals ?? 0
        let unreserved = filter.unreserved
        var found: [Int] = []
        summaries.withUnsafeBufferPointer { summaries in
            for slot in summaries.indices {
                let summary = summaries[slot]
                if let classCode, summary.classCode != classCode { continue }
                if summary.capabilityMask & required != required { continue }
                if Int(summary.availableTerminals) < minimum { continue }
                if unreserved && summary.held { continue }
                if confirm && !filter.matches(records[slot].entry) { continue }
                found.append(slot)
            }
        }
        return found.sorted { summaries[$0].serial < summaries[$1].serial }
    }

    /// The changes after `revision`, oldest first; nil when the log no longer reaches back that far.
    public func changes(since revision: UInt64) -> [Change]? {
        guard revision < self.revision else { return [] }
        let wanted = self.revision - revision
        let count = changeLog.count
        guard count > 0, wanted <= UInt64(count) else { return nil }
        // The log is a ring; its newest change sits just before `changeLogStart` once it is full.
        let newest = count < changeLogCapacity ? count - 1 : (changeLogStart + count - 1) % count
        var result: [Change] = []
        result.reserveCapacity(Int(wanted))
        for back in stride(from: Int(wanted) - 1, through: 0, by: -1) {
            result.append(changeLog[(newest - back + count) % count])
        }
        // Revisions in the log are consecutive unless a restore jumped ahead; then the log cannot answer.
        guard result.first?.revision == revision + 1, result.last?.revision == self.revision else { return nil }
        return result
    }

    // MARK: Writing

    /// Signs the guest book, or updates the entry when the id is already registered.
    ///
    /// The caller must be allowed to act as the name's owner. An update keeps `registeredAt`, the serial, and
    /// the connections of terminals that keep their name and multiplexing.
    /// - Parameter session: the connection whose close should end the entry, or nil.
    /// - Returns: the entry and whether it is new.
    @discardableResult
    public mutating func register(
        _ registration: Registration, by caller: Caller, session: UInt64?, now: Timestamp
    ) throws(HostessError) -> (entry: GuestBookEntry, created: Bool) {
        let id = registration.name.description
        try authorize(caller, owner: registration.name.owner, action: "register", id: id)
        let deadline = now.monotonicNanoseconds &+ ttlNanoseconds
        let account = caller.capabilityAccount
        if let slot = slots[id] {
            var record = records[slot]
            try admitCapabilities(registration.capabilities, account: account, replacing: record)
            record.entry.terminals = registration.terminals.map { terminal in
                var updated = terminal
                if let old = record.entry.terminal(named: terminal.name), old.multiplexing == terminal.multiplexing {
                    updated.connectedTo = old.connectedTo
                }
                return updated
            }
            record.entry.capabilities = registration.capabilities
            record.entry.metadata = registration.metadata
            record.entry.lastHeartbeat = now.wallMilliseconds
            record.entry.session = session != nil
            record.wire = try admit(record.entry, replacing: record.wire)
            record.deadline = deadline
            deadlines.push(deadline, id)
            moveSession(of: id, from: record.sessionConnection, to: session)
            record.sessionConnection = session
            releaseCapabilities(of: records[slot])
            record.account = account
            retainCapabilities(of: record)
            store(record, at: slot)
            log(.updated, id)
            return (record.entry, false)
        }
        try admitCapabilities(registration.capabilities, account: account, replacing: nil)
        guard records.count < capacity.entries else {
            throw HostessError(.capacity, "the guest book is full: it holds at most \(capacity.entries) entries (hostessd --capacity)")
        }
        let entry = GuestBookEntry(
            name: registration.name, terminals: registration.terminals, capabilities: registration.capabilities,
            metadata: registration.metadata, registeredAt: now.wallMilliseconds, lastHeartbeat: now.wallMilliseconds,
            serial: nextSerial, session: session != nil)
        let wire = try admit(entry, replacing: nil)
        nextSerial += 1
        let record = Record(entry: entry, deadline: deadline, sessionConnection: session, account: account, wire: wire)
        retainCapabilities(of: record)
        insert(record)
        deadlines.push(deadline, id)
        moveSession(of: id, from: nil, to: session)
        log(.registered, id)
        return (entry, true)
    }

    /// Removes an entry; only its owner or root may.
    @discardableResult
    public mutating func unregister(id: String, by caller: Caller, now: Timestamp) throws(HostessError) -> GuestBookEntry {
        let entry = records[try slot(of: id)].entry
        try authorize(caller, owner: entry.name.owner, action: "unregister", id: id)
        remove(id, reason: "unregistered", at: now.wallMilliseconds)
        log(.unregistered, id)
        return entry
    }

    /// Refreshes an entry's liveness. Not a change: the revision stays.
    @discardableResult
    public mutating func heartbeat(id: String, by caller: Caller, now: Timestamp) throws(HostessError) -> GuestBookEntry {
        let slot = try slot(of: id)
        try authorize(caller, owner: records[slot].entry.name.owner, action: "heartbeat", id: id)
        let deadline = now.monotonicNanoseconds &+ ttlNanoseconds
        records[slot].entry.lastHeartbeat = now.wallMilliseconds
        records[slot].deadline = deadline
        deadlines.push(deadline, records[slot].entry.id)
        compactDeadlines()
        return records[slot].entry
    }

    /// Records that connectome `connectomeID` uses terminal `terminal`.
    ///
    /// A `none` terminal takes one connection: a second, different connectome is a `conflict`. Marking a
    /// connectome that is already recorded changes nothing.
    @discardableResult
    public mutating func markInUse(
        id: String, terminal name: String, connectomeID: String, by caller: Caller
    ) throws(HostessError) -> GuestBookEntry {
        try Token.validate(
            connectomeID, maximum: Limits.connectomeIDBytes, first: \.isExtensionByte, rest: \.isExtensionByte,
            rule: "printable ASCII without spaces or ':'"
        ) { HostessError(.badRequest, "connectome id \($0)", field: "connectomeId") }
        let slot = try slot(of: id)
        var record = records[slot]
        try authorize(caller, owner: record.entry.name.owner, action: "mark terminals of", id: id)
        let index = try terminalIndex(record.entry, name)
        var terminal = record.entry.terminals[index]
        if terminal.connectedTo.contains(connectomeID) { return record.entry }
        if terminal.multiplexing == .none, let holder = terminal.connectedTo.first {
            throw HostessError(
                .conflict,
                "terminal '\(name)' has multiplexing none and is in use by connectome '\(holder)'; mark it available first",
                field: "terminal")
        }
        guard terminal.connectedTo.count < Limits.connectionsPerTerminal else {
            throw HostessError(
                .tooLarge, "terminal '\(name)' already has \(Limits.connectionsPerTerminal) connections", field: "terminal")
        }
        terminal.connectedTo.append(connectomeID)
        record.entry.terminals[index] = terminal
        record.wire = try admit(record.entry, replacing: record.wire)
        store(record, at: slot)
        log(.terminals, id)
        return record.entry
    }

    /// Clears a terminal's connections, or only `connectomeID` when given.
    @discardableResult
    public mutating func markAvailable(
        id: String, terminal name: String, connectomeID: String? = nil, by caller: Caller
    ) throws(HostessError) -> GuestBookEntry {
        let slot = try slot(of: id)
        var record = records[slot]
        try authorize(caller, owner: record.entry.name.owner, action: "mark terminals of", id: id)
        let index = try terminalIndex(record.entry, name)
        let before = record.entry.terminals[index].connectedTo
        let after = connectomeID.map { removed in before.filter { $0 != removed } } ?? []
        guard after != before else { return record.entry }
        record.entry.terminals[index].connectedTo = after
        record.wire = try admit(record.entry, replacing: record.wire)
        store(record, at: slot)
        log(.terminals, id)
        return record.entry
    }

    /// Rebuilds the deadline heap when heartbeats left it mostly stale (amortized: a rebuild costs the book's
    /// size once per as many heartbeats).
    private mutating func compactDeadlines() {
        guard deadlines.needsCompaction(live: records.count) else { return }
        deadlines.rebuild(from: records.map { ($0.deadline, $0.entry.id) })
    }

    /// Removes every entry whose liveness deadline has passed.
    /// - Returns: the evicted entries.
    public mutating func evictExpired(now: Timestamp) -> [GuestBookEntry] {
        // The queue is moved out while it is popped, so that reading the records does not overlap it, and
        // nothing holds a second reference to the records when they change below.
        var queue = deadlines
        deadlines = DeadlineQueue()
        let due = queue.popExpired(before: now.monotonicNanoseconds) { id, deadline in
            self.slots[id].map { self.records[$0].deadline == deadline } ?? false
        }
        deadlines = queue
        let expired = due.compactMap { slots[$0].map { records[$0].entry } }
        for entry in expired.sorted(by: { $0.serial < $1.serial }) {
            remove(entry.id, reason: "evicted", at: now.wallMilliseconds)
            log(.evicted, entry.id)
        }
        return expired
    }

    /// Removes the entries bound to a closed connection.
    /// - Returns: the removed entries.
    public mutating func endSession(connection: UInt64, now: Timestamp) -> [GuestBookEntry] {
        endReservationSessions(connection: connection, now: now)
        let ended = (idsBySession[connection] ?? []).compactMap { slots[$0].map { records[$0].entry } }
        for entry in ended.sorted(by: { $0.serial < $1.serial }) {
            remove(entry.id, reason: "session_ended", at: now.wallMilliseconds)
            log(.sessionEnded, entry.id)
        }
        return ended
    }

    /// Puts back entries a previous daemon published, keeping their serials and timestamps, after a crash.
    /// Each gets one TTL from `now` to heartbeat again. Revisions continue from `revision`.
    /// - Returns: the entries that could not be restored, with why (a duplicate id, or over capacity).
    public mutating func restore(
        _ entries: [GuestBookEntry], revision: UInt64, now: Timestamp
    ) -> [(entry: GuestBookEntry, error: HostessError)] {
        self.revision = max(self.revision, revision)
        var refused: [(GuestBookEntry, HostessError)] = []
        for entry in entries.sorted(by: { $0.serial < $1.serial }) {
            do throws(HostessError) {
                let id = entry.id
                guard slots[id] == nil else { throw HostessError(.conflict, "duplicate id in the region") }
                guard records.count < capacity.entries else { throw HostessError(.capacity, "the guest book is full") }
                try admitCapabilities(entry.capabilities, account: nil, replacing: nil)
                var restored = entry
                // A session-bound entry's connection died with the old daemon: it stays as a plain entry, and
                // ends by TTL unless its server re-registers.
                restored.session = false
                let wire = try admit(restored, replacing: nil)
                let record = Record(
                    entry: restored, deadline: now.monotonicNanoseconds &+ ttlNanoseconds, sessionConnection: nil, account: nil,
                    wire: wire)
                retainCapabilities(of: record)
                insert(record)
                deadlines.push(record.deadline, id)
                nextSerial = max(nextSerial, entry.serial &+ 1)
                log(.registered, id)
            } catch {
                refused.append((entry, error))
            }
        }
        return refused
    }

    // MARK: Helpers

    /// The size an entry takes in the region's payload area: its wire form, and its id when the id is too
    /// long for the record (`Limits.inlineNameBytes`).
    public static func payloadSize(of entry: GuestBookEntry) -> Int { entry.json.jsonBytes.count + outOfLineBytes(of: entry.id) }

    /// The bytes an id takes in the payload area: none when the region's record holds it.
    private static func outOfLineBytes(of id: String) -> Int {
        let count = id.utf8.count
        return count > Limits.inlineNameBytes ? count : 0
    }

    /// The entry's wire form as of its last change (what the region publishes), or nil when there is none.
    public func payload(id: String) -> [UInt8]? { slots[id].map { records[$0].wire.bytes } }

    /// Serializes an entry once and refuses the change when its wire form would take the entries past the
    /// payload capacity. Returns the wire form, to be stored with the entry.
    private mutating func admit(_ entry: GuestBookEntry, replacing old: WireForm?) throws(HostessError) -> WireForm {
        let wire = WireForm(entry)
        let idBytes = Self.outOfLineBytes(of: entry.id)
        let size = wire.bytes.count + idBytes
        let freed = old.map { $0.bytes.count + idBytes } ?? 0
        guard payloadBytes - freed + size <= capacity.payloadBytes else { throw payloadAreaFull() }
        payloadBytes += size - freed
        return wire
    }

    // MARK: Storage

    /// The position of the record for `id`, or `not_found`.
    private func slot(of id: String) throws(HostessError) -> Int {
        guard let slot = slots[id] else {
            throw HostessError(.notFound, "no server '\(id)' in the guest book", field: "serverId")
        }
        return slot
    }

    /// Adds a new record (its capability names already counted) at the end.
    private mutating func insert(_ record: Record) {
        slots[record.entry.id] = records.count
        records.append(record)
        summaries.append(summary(of: record))
    }

    /// Replaces the record at `slot` (its capability names already counted) and its summary.
    private mutating func store(_ record: Record, at slot: Int) {
        records[slot] = record
        summaries[slot] = summary(of: record)
    }

    /// Removes the record at `slot`, moving the last record into its place.
    private mutating func removeRecord(at slot: Int) -> Record {
        let last = records.count - 1
        if slot != last {
            records.swapAt(slot, last)
            summaries.swapAt(slot, last)
            slots[records[slot].entry.id] = slot
        }
        summaries.removeLast()
        let removed = records.removeLast()
        slots[removed.entry.id] = nil
        return removed
    }

    /// What a query tests of `record`. Its capability names must be counted (they have their numbers).
    private func summary(of record: Record) -> Summary {
        var mask: UInt64 = 0
        for name in record.entry.capabilities {
            if let number = capabilityNumbers[name] { mask |= 1 << min(number, 63) }
        }
        return Summary(
            serial: record.entry.serial, capabilityMask: mask, classCode: record.entry.name.classCode.value,
            availableTerminals: UInt16(clamping: record.entry.availableTerminalCount), held: record.entry.reservedBy != nil)
    }

    // MARK: Capability names

    /// Refuses a registration of `names` by `account` (nil: not limited per uid) that replaces `old` when it
    /// would take the names the entries carry past ``Capacity/capabilities``, or the account's past
    /// ``Capacity/capabilitiesPerUID``. Changes nothing.
    private func admitCapabilities(_ names: [String], account: CapabilityAccount?, replacing old: Record?) throws(HostessError) {
        let oldNames = old?.entry.capabilities ?? []
        let added = names.count { capabilityUse[$0] == nil }
        if added > 0 {
            let freed = oldNames.count { capabilityUse[$0] == 1 && !names.contains($0) }
            guard capabilityUse.count - freed + added <= capacity.capabilities else {
                throw HostessError(
                    .capacity,
                    "the entries carry \(capabilityUse.count) distinct capability names and the shared-memory region holds at most \(capacity.capabilities); this registration would add \(added) (a name is freed once no entry carries it)",
                    field: "capabilities")
            }
        }
        guard let account else { return }
        let own = capabilityUseByAccount[account] ?? [:]
        let addedOwn = names.count { own[$0] == nil }
        guard addedOwn > 0 else { return }
        let freedOwn = old?.account == account ? oldNames.count { own[$0] == 1 && !names.contains($0) } : 0
        let total = own.count - freedOwn + addedOwn
        guard total <= capacity.capabilitiesPerUID else {
            throw HostessError(
                .capacity,
                "\(account)'s entries would carry \(total) distinct capability names; one user's entries may carry at most \(capacity.capabilitiesPerUID) (hostessd --max-capabilities-per-uid)",
                field: "capabilities")
        }
    }

    /// Counts the names a stored entry carries, for the book and for its account.
    private mutating func retainCapabilities(of record: Record) {
        for name in record.entry.capabilities {
            if let count = capabilityUse[name] {
                capabilityUse[name] = count + 1
            } else {
                capabilityUse[name] = 1
                capabilityNumbers[name] = freeCapabilityNumbers.popLast() ?? capabilityNumbers.count
            }
        }
        guard let account = record.account else { return }
        for name in record.entry.capabilities { capabilityUseByAccount[account, default: [:]][name, default: 0] += 1 }
    }

    /// Stops counting the names an entry carried; a name no entry carries any more is freed.
    private mutating func releaseCapabilities(of record: Record) {
        for name in record.entry.capabilities {
            if let count = capabilityUse[name], count > 1 {
                capabilityUse[name] = count - 1
            } else if capabilityUse.removeValue(forKey: name) != nil, let number = capabilityNumbers.removeValue(forKey: name) {
                freeCapabilityNumbers.append(number)
            }
        }
        guard let account = record.account, var own = capabilityUseByAccount[account] else { return }
        for name in record.entry.capabilities {
            if let count = own[name], count > 1 { own[name] = count - 1 } else { own[name] = nil }
        }
        capabilityUseByAccount[account] = own.isEmpty ? nil : own
    }

    // MARK: Holds

    /// Checks that giving each server its new holder (nil: none) keeps the entries' wire form within the
    /// payload capacity, changing nothing.
    /// - Returns: each server's wire form with its new holder, to hand to ``setHold(_:to:payload:)``.
    func admitHolds(_ holds: [(server: String, holder: String?)]) throws(HostessError) -> [String: WireForm] {
        var delta = 0
        var payloads: [String: WireForm] = [:]
        for (server, holder) in holds {
            guard let slot = slots[server] else { continue }
            var entry = records[slot].entry
            entry.reservedBy = holder
            let wire = WireForm(entry)
            delta += wire.bytes.count - records[slot].wire.bytes.count
            payloads[server] = wire
        }
        guard payloadBytes + delta <= capacity.payloadBytes else { throw payloadAreaFull() }
        return payloads
    }

    /// Records which reservation holds a server (nil: none) as a change of the entry. Call
    /// ``admitHolds(_:)`` first when the entry may grow: this does not check the capacity.
    /// - Parameter payload: the entry's wire form with that holder, when ``admitHolds(_:)`` made it.
    mutating func setHold(_ server: String, to holder: String?, payload prepared: WireForm? = nil) {
        guard let slot = slots[server], records[slot].entry.reservedBy != holder else { return }
        var record = records[slot]
        record.entry.reservedBy = holder
        let wire = prepared ?? WireForm(record.entry)
        payloadBytes += wire.bytes.count - record.wire.bytes.count
        record.wire = wire
        store(record, at: slot)
        log(.hold, server)
    }

    /// Every held entry and its holder.
    func entryIDsHeld() -> [(server: String, holder: String)] {
        records.compactMap { record in record.entry.reservedBy.map { (record.entry.id, $0) } }
    }

    private func payloadAreaFull() -> HostessError {
        HostessError(
            .capacity,
            "the shared-memory region's payload area is full (\(payloadBytes) of \(capacity.payloadBytes) bytes used); raise hostessd --capacity")
    }

    private mutating func remove(_ id: String, reason: String, at wallMilliseconds: Int64) {
        if let holder = slots[id].flatMap({ records[$0].entry.reservedBy }) { releaseLost(id, from: holder, reason: reason, at: wallMilliseconds) }
        guard let slot = slots[id] else { return }
        let record = removeRecord(at: slot)
        moveSession(of: id, from: record.sessionConnection, to: nil)
        payloadBytes -= record.wire.bytes.count + Self.outOfLineBytes(of: id)
        releaseCapabilities(of: record)
    }

    /// Keeps ``idsBySession`` in step when an entry's session connection changes.
    private mutating func moveSession(of id: String, from old: UInt64?, to new: UInt64?) {
        guard old != new else { return }
        if let old {
            idsBySession[old]?.remove(id)
            if idsBySession[old]?.isEmpty == true { idsBySession[old] = nil }
        }
        if let new { idsBySession[new, default: []].insert(id) }
    }

    private func terminalIndex(_ entry: GuestBookEntry, _ name: String) throws(HostessError) -> Int {
        guard let index = entry.terminals.firstIndex(where: { $0.name == name }) else {
            let known = entry.terminals.map(\.name).joined(separator: ", ")
            throw HostessError(.notFound, "server has no terminal '\(name)' (it has: \(known))", field: "terminal")
        }
        return index
    }

    private func authorize(_ caller: Caller, owner: String, action: String, id: String) throws(HostessError) {
        guard caller.mayActAs(owner: owner) else {
            let names = caller.ownerNames.sorted().joined(separator: ", ")
            throw HostessError(
                .forbidden,
                "\(caller) may not \(action) '\(id)': owner '\(owner)' is not among the owner names it may act as (\(names.isEmpty ? "none" : names))",
                field: "owner")
        }
    }

    /// Records a change that is not the guest book's own (a peer Hostess came or went), so that `watch`
    /// wakes for it; it bumps the revision like any change.
    public mutating func note(_ kind: Change.Kind, id: String) { log(kind, id) }

    mutating func log(_ kind: Change.Kind, _ id: String) {
        revision += 1
        let change = Change(revision: revision, kind: kind, id: id)
        if changeLog.count < changeLogCapacity {
            changeLog.append(change)
        } else {
            changeLog[changeLogStart] = change
            changeLogStart = (changeLogStart + 1) % changeLogCapacity
        }
    }
}
