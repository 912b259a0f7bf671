import HostessModel

// MARK: - MeshClock

/// The time a table operation happens at: the loop's monotonic clock for deadlines, the wall clock for
/// what peers are shown and for signed timestamps.
public struct MeshClock: Sendable, Hashable {
    /// Monotonic time, in nanoseconds.
    public var monotonic: UInt64
    /// Wall time, in milliseconds since the Unix epoch.
    public var wall: Int64

    /// A point in time on both clocks.
    public init(monotonic: UInt64, wall: Int64) {
        self.monotonic = monotonic
        self.wall = wall
    }
}

// MARK: - Peer

/// Another Hostess heard on the mesh, as its last accepted announcement described it.
public struct Peer: Sendable, Hashable {
    /// Whether a peer is current.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Its last announcement's ttl has not run out.
        case live
        /// Its ttl ran out; it is kept for the table's retention, then forgotten.
        case stale
    }

    /// The most source addresses a peer keeps.
    public static let maximumAddresses = 8

    /// The peer's host name.
    public internal(set) var fqdn: String
    /// The peer's id, a lower-case UUID.
    public internal(set) var hostessID: String
    /// The peer's HTTP interface.
    public internal(set) var endpoint: String
    /// Source addresses its announcements came from, most recent first, at most ``maximumAddresses``.
    public internal(set) var addresses: [String]
    /// How many servers its guest book holds.
    public internal(set) var serverCount: Int
    /// Its capability summary; nil when the announcement left it out and it has not been fetched since.
    public internal(set) var summary: [CapabilitySummary]?
    /// The digest of its summary.
    public internal(set) var digest: String
    /// Whether its last announcement left the summary out.
    public internal(set) var summaryTruncated: Bool
    /// Tested ways to reach it.
    public internal(set) var connectionMethods: [ConnectionMethod]
    /// When its last announcement was accepted, wall milliseconds.
    public internal(set) var lastSeen: Int64
    /// When it becomes stale without another announcement, wall milliseconds.
    public internal(set) var expiresAt: Int64
    /// Live or stale.
    public internal(set) var state: State
    /// The sequence of its last accepted announcement.
    public internal(set) var sequence: Int64
    /// The ttl of its last accepted announcement, in seconds.
    public internal(set) var ttl: Int
    /// When it becomes stale, monotonic nanoseconds.
    var expiryDeadline: UInt64

    /// The wire form: `fqdn, hostessId, endpoint, addresses, serverCount, capabilities (or null), digest,
    /// summaryTruncated, connectionMethods, lastSeen, expiresAt, state, ttl, sequence`.
    public var json: JSONValue {
        .object([
            "fqdn": .string(fqdn), "hostessId": .string(hostessID), "endpoint": .string(endpoint),
            "addresses": .array(addresses.map(JSONValue.string)), "serverCount": .int(Int64(serverCount)),
            "capabilities": summary.map { .array($0.map(\.json)) } ?? .null, "digest": .string(digest),
            "summaryTruncated": .bool(summaryTruncated), "connectionMethods": .array(connectionMethods.map(\.json)),
            "lastSeen": .int(lastSeen), "expiresAt": .int(expiresAt), "state": .string(state.rawValue), "ttl": .int(Int64(ttl)),
            "sequence": .int(sequence),
        ])
    }

    /// Whether `other` differs from this peer in what it announces (not in when it was heard).
    func announcesDifferently(from other: Peer) -> Bool {
        fqdn != other.fqdn || endpoint != other.endpoint || serverCount != other.serverCount || digest != other.digest
            || summaryTruncated != other.summaryTruncated || connectionMethods != other.connectionMethods
    }
}

// MARK: - PeerEvent

/// A change in the table the daemon tells its watchers and its log about.
public enum PeerEvent: Sendable, Hashable {
    /// Why a peer was lost.
    public enum LossReason: String, Sendable, Hashable, CaseIterable {
        /// It announced a ttl of 0.
        case goodbye
        /// Its ttl ran out.
        case expired
        /// Its key left the fleet directory: its lease was revoked at a clean stop, or expired when its
        /// keepalives stopped (docs/mesh.md, "Fleet").
        case withdrawn
    }

    /// The kind of an event, as its wire name.
    public enum Kind: String, Sendable, Hashable, CaseIterable { case discovered, changed, lost }

    /// A Hostess not in the table was accepted.
    case discovered(Peer)
    /// A peer announced a different endpoint, summary, digest or connection methods, or came back from stale.
    case changed(Peer)
    /// A peer said goodbye (and was removed) or expired (and became stale).
    case lost(Peer, reason: LossReason)

    /// The kind of event.
    public var kind: Kind {
        switch self {
        case .discovered: .discovered
        case .changed: .changed
        case .lost: .lost
        }
    }

    /// The peer as the event left it.
    public var peer: Peer {
        switch self {
        case .discovered(let peer), .changed(let peer), .lost(let peer, _): peer
        }
    }

    /// The wire form: `{"kind","peer"}`, and `reason` for `lost`.
    public var json: JSONValue {
        var object: JSONObject = ["kind": .string(kind.rawValue), "peer": peer.json]
        if case .lost(_, let reason) = self { object["reason"] = .string(reason.rawValue) }
        return .object(object)
    }
}

// MARK: - PeerTable

/// The Hostesses heard on the mesh. A value, driven by the daemon: each datagram goes to
/// ``receive(_:from:keys:now:)``, and a timer at ``nextDeadline`` calls ``expire(now:)``.
///
/// Rules (docs/mesh.md): our own id is dropped; a signed announcement must have a sequence greater than the
/// last accepted from that Hostess, an unsigned one at least equal (equal refreshes, older is a replay);
/// that last sequence is remembered for ``departedMemory`` after a peer is removed, so a replayed older
/// packet cannot bring back a Hostess that said goodbye. A ttl of 0 removes the peer at once. A live peer
/// whose ttl runs out becomes stale and is removed `retention` later. When the table is full, a new peer
/// takes the place of the stale peer closest to removal, or is dropped when none is stale.
public struct PeerTable: Sendable {
    /// How long the last sequence of a removed peer is remembered: twice ``Announcement/clockSkewMilliseconds``,
    /// past which any packet it sent before is stale to a signed receiver.
    public static let departedMemory: UInt64 = 2 * UInt64(Announcement.clockSkewMilliseconds) * 1_000_000

    /// This Hostess's id (lower-cased); announcements carrying it are dropped.
    public let ownHostessID: String
    /// How long a stale peer is kept before it is removed, in nanoseconds.
    public let retention: UInt64
    /// The most peers the table holds.
    public let maximumPeers: Int

    /// Datagrams received.
    public private(set) var received = 0
    /// Datagrams accepted.
    public private(set) var accepted = 0
    /// Datagrams dropped, by reason.
    public private(set) var dropped: [DropReason: Int] = [:]

    private var byID: [String: Peer] = [:]
    /// The last sequence of removed peers, and until when (monotonic) it is remembered.
    private var departed: [String: (sequence: Int64, until: UInt64)] = [:]

    /// An empty table. `retention` is in nanoseconds.
    public init(ownHostessID: String, retention: UInt64, maximumPeers: Int = 1024) {
        self.ownHostessID = ownHostessID.lowercased()
        self.retention = retention
        self.maximumPeers = max(0, maximumPeers)
    }

    // MARK: Reading

    /// Every peer, sorted by fqdn, then hostessId.
    public var peers: [Peer] {
        byID.values.sorted { ($0.fqdn, $0.hostessID) < ($1.fqdn, $1.hostessID) }
    }

    /// The live peers, in the order of ``peers``.
    public var livePeers: [Peer] { peers.filter { $0.state == .live } }

    /// The peer with id `hostessID`, if any.
    public func peer(hostessID: String) -> Peer? { byID[hostessID.lowercased()] }

    /// The next monotonic time at which ``expire(now:)`` has something to do: a live peer's expiry or a stale
    /// peer's removal. Nil when the table is empty.
    public var nextDeadline: UInt64? {
        byID.values.map(deadline(of:)).min()
    }

    private func deadline(of peer: Peer) -> UInt64 {
        peer.state == .live ? peer.expiryDeadline : Self.adding(peer.expiryDeadline, retention)
    }

    // MARK: Receiving

    /// Decodes `datagram`, heard from `address`, and takes it into the table; returns the event it caused
    /// (nil for a refresh or a goodbye from an unknown peer) or why it was dropped. Every datagram counts in
    /// ``received`` and in ``accepted`` or ``dropped``.
    ///
    /// - Parameters:
    ///   - address: The address the datagram came from; nil for an announcement read from the fleet directory,
    ///     which has none: the host of the endpoint it announces stands for it.
    ///   - hostessID: The id the announcement must carry, when its source names one (the directory's key):
    ///     another is dropped as ``DropReason/misfiled``.
    public mutating func receive(
        _ datagram: [UInt8], from address: String?, expecting hostessID: String? = nil, keys: MeshKeys?, now: MeshClock
    ) -> Result<PeerEvent?, AnnouncementError> {
        received += 1
        let result = take(datagram, from: address, expecting: hostessID?.lowercased(), keys: keys, now: now)
        switch result {
        case .success: accepted += 1
        case .failure(let error): dropped[error.reason, default: 0] += 1
        }
        return result
    }

    private mutating func take(
        _ datagram: [UInt8], from address: String?, expecting expectedID: String?, keys: MeshKeys?, now: MeshClock
    ) -> Result<PeerEvent?, AnnouncementError> {
        let announcement: Announcement
        let keyID: String?
        do { (announcement, keyID) = try Announcement.decode(datagram, keys: keys, now: now.wall) } catch { return .failure(error) }
        let id = announcement.hostessID
        guard id != ownHostessID else {
            return .failure(AnnouncementError(.ownAnnouncement, "our own announcement", field: "hostessId"))
        }
        if let expectedID, expectedID != id {
            return .failure(AnnouncementError(.misfiled, "the announcement of \(id) lies under the key of \(expectedID)", field: "hostessId"))
        }
        let address = address ?? Self.host(ofEndpoint: announcement.endpoint)
        let existing = byID[id]
        if let last = existing?.sequence ?? departedSequence(id, now: now) {
            let signed = keyID != nil
            guard signed ? announcement.sequence > last : announcement.sequence >= last else {
                return .failure(
                    AnnouncementError(
                        .replayed, "sequence \(announcement.sequence) is not newer than \(last), the last accepted", field: "sequence"))
            }
        }
        if announcement.ttl == 0 {
            guard let existing else { return .success(nil) }
            remove(existing, now: now, sequence: announcement.sequence)
            var gone = existing
            gone.sequence = announcement.sequence
            gone.ttl = 0
            return .success(.lost(gone, reason: .goodbye))
        }
        if existing == nil, byID.count >= maximumPeers {
            guard let evicted = byID.values.filter({ $0.state == .stale }).min(by: { deadline(of: $0) < deadline(of: $1) }) else {
                return .failure(AnnouncementError(.tableFull, "the table holds \(maximumPeers) live peers"))
            }
            remove(evicted, now: now, sequence: evicted.sequence)
        }
        let peer = updated(existing, with: announcement, from: address, now: now)
        byID[id] = peer
        departed[id] = nil
        guard let existing else { return .success(.discovered(peer)) }
        if existing.state == .stale || peer.announcesDifferently(from: existing) { return .success(.changed(peer)) }
        return .success(nil)
    }

    /// The peer as `announcement` leaves it.
    private func updated(_ existing: Peer?, with announcement: Announcement, from address: String, now: MeshClock) -> Peer {
        var addresses = [address]
        for known in existing?.addresses ?? [] where known != address && addresses.count < Peer.maximumAddresses {
            addresses.append(known)
        }
        // A truncated announcement keeps a summary fetched earlier while the digest stays the same.
        var summary = announcement.capabilities
        if summary == nil, let existing, existing.digest == announcement.digest { summary = existing.summary }
        let ttlMilliseconds = Int64(announcement.ttl) * 1000
        let expiresAt = now.wall.addingReportingOverflow(ttlMilliseconds)
        return Peer(
            fqdn: announcement.fqdn, hostessID: announcement.hostessID, endpoint: announcement.endpoint, addresses: addresses,
            serverCount: announcement.serverCount, summary: summary, digest: announcement.digest,
            summaryTruncated: announcement.summaryTruncated, connectionMethods: announcement.connectionMethods, lastSeen: now.wall,
            expiresAt: expiresAt.overflow ? Int64.max : expiresAt.partialValue, state: .live, sequence: announcement.sequence,
            ttl: announcement.ttl, expiryDeadline: Self.adding(now.monotonic, UInt64(announcement.ttl) * 1_000_000_000))
    }

    // MARK: Withdrawal

    /// Removes the peer `hostessID` because its key left the fleet directory (a revoked or expired lease),
    /// remembering its last sequence as a goodbye does; returns its `lost(withdrawn)` event, or nil when the
    /// table does not hold it.
    public mutating func withdraw(hostessID: String, now: MeshClock) -> PeerEvent? {
        guard let peer = byID[hostessID.lowercased()] else { return nil }
        remove(peer, now: now, sequence: peer.sequence)
        return .lost(peer, reason: .withdrawn)
    }

    // MARK: Expiry

    /// Live peers whose expiry has come become stale (one `lost(expired)` event each, in the order of
    /// ``peers``); stale peers whose expiry plus retention has come are removed, without an event.
    public mutating func expire(now: MeshClock) -> [PeerEvent] {
        departed = departed.filter { $0.value.until > now.monotonic }
        var events: [PeerEvent] = []
        for peer in peers where deadline(of: peer) <= now.monotonic {
            switch peer.state {
            case .live:
                var stale = peer
                stale.state = .stale
                byID[peer.hostessID] = stale
                events.append(.lost(stale, reason: .expired))
            case .stale:
                remove(peer, now: now, sequence: peer.sequence)
            }
        }
        return events
    }

    // MARK: Summaries

    /// Stores the summary fetched (over HTTP) for a peer whose announcement left it out. Returns false, and
    /// stores nothing, when there is no such peer or `summary`'s digest is not the one the peer announced.
    @discardableResult
    public mutating func updateSummary(hostessID: String, summary: [CapabilitySummary]) -> Bool {
        let id = hostessID.lowercased()
        guard var peer = byID[id], CapabilitySummary.digest(of: summary) == peer.digest else { return false }
        peer.summary = summary
        byID[id] = peer
        return true
    }

    // MARK: Helpers

    /// Removes `peer`, remembering `sequence` for ``departedMemory``; when that memory is full (as many as
    /// ``maximumPeers``) the entry closest to being forgotten makes room.
    private mutating func remove(_ peer: Peer, now: MeshClock, sequence: Int64) {
        byID[peer.hostessID] = nil
        if departed[peer.hostessID] == nil, departed.count >= maximumPeers,
            let oldest = departed.min(by: { $0.value.until < $1.value.until })
        {
            departed[oldest.key] = nil
        }
        departed[peer.hostessID] = (sequence, Self.adding(now.monotonic, Self.departedMemory))
    }

    private func departedSequence(_ id: String, now: MeshClock) -> Int64? {
        guard let memory = departed[id], memory.until > now.monotonic else { return nil }
        return memory.sequence
    }

    /// The host of an `http://HOST:PORT` endpoint (an IPv6 host without its brackets); the endpoint itself when
    /// it has no such form.
    static func host(ofEndpoint endpoint: String) -> String {
        var rest = Substring(endpoint)
        if rest.hasPrefix("http://") { rest = rest.dropFirst("http://".count) }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { return String(rest[rest.index(after: rest.startIndex)..<close]) }
        return String(rest.prefix { $0 != ":" && $0 != "/" })
    }

    private static func adding(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let sum = a.addingReportingOverflow(b)
        return sum.overflow ? UInt64.max : sum.partialValue
    }
}
