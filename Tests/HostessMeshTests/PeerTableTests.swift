import HostessMesh
import HostessModel
import Testing

@Suite struct PeerTableTests {
    static let own = uuid(999)
    static let second: UInt64 = 1_000_000_000
    static let retention: UInt64 = 60 * second

    /// A clock `seconds` after the fixtures' start, on both clocks.
    static func clock(_ seconds: UInt64) -> MeshClock {
        MeshClock(monotonic: 1_000 * second + seconds * second, wall: wallNow + Int64(seconds) * 1000)
    }

    static func table(maximumPeers: Int = 1024) -> PeerTable {
        PeerTable(ownHostessID: own, retention: retention, maximumPeers: maximumPeers)
    }

    static func packet(
        _ id: Int, sequence: Int64, ttl: Int = 90, at seconds: UInt64 = 0, signed: Bool = true,
        capabilities: [CapabilitySummary]? = nil, endpoint: String = "http://machine-a.local:8080"
    ) -> [UInt8] {
        var announcement = smallAnnouncement(
            hostessID: uuid(id), fqdn: "host-\(id).local", sequence: sequence, ttl: ttl, timestamp: wallNow + Int64(seconds) * 1000,
            endpoint: endpoint)
        if let capabilities {
            announcement = smallAnnouncement(
                hostessID: uuid(id), fqdn: "host-\(id).local", sequence: sequence, ttl: ttl, timestamp: wallNow + Int64(seconds) * 1000,
                capabilities: capabilities, endpoint: endpoint)
        }
        return announcement.encode(signingWith: signed ? testKey : nil)
    }

    static func kind(_ result: Result<PeerEvent?, AnnouncementError>) -> String {
        switch result {
        case .success(let event?): event.kind.rawValue
        case .success(nil): "refresh"
        case .failure(let error): error.reason.rawValue
        }
    }

    // MARK: Events

    @Test("discovered, refreshed, changed, then goodbye removes the peer")
    func lifecycle() throws {
        var table = Self.table()
        let first = table.receive(Self.packet(1, sequence: 1), from: "10.0.0.1", keys: testKeys, now: Self.clock(0))
        #expect(Self.kind(first) == "discovered")
        let peer = try #require(table.peer(hostessID: uuid(1)))
        #expect(peer.state == .live)
        #expect(peer.lastSeen == wallNow)
        #expect(peer.expiresAt == wallNow + 90_000)
        #expect(peer.summary == smallAnnouncement().capabilities)

        #expect(Self.kind(table.receive(Self.packet(1, sequence: 2, at: 10), from: "10.0.0.1", keys: testKeys, now: Self.clock(10))) == "refresh")
        #expect(table.peer(hostessID: uuid(1))?.expiresAt == wallNow + 100_000)
        #expect(table.peer(hostessID: uuid(1))?.sequence == 2)

        let moved = table.receive(Self.packet(1, sequence: 3, at: 20, endpoint: "http://10.0.0.1:9000"), from: "10.0.0.1", keys: testKeys, now: Self.clock(20))
        #expect(Self.kind(moved) == "changed")
        #expect(table.peer(hostessID: uuid(1))?.endpoint == "http://10.0.0.1:9000")

        let summary = [CapabilitySummary(classCode: ClassCode(1), totalCount: 2, availableCount: 0, capabilities: ["pty"])]
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 4, at: 21, capabilities: summary, endpoint: "http://10.0.0.1:9000"), from: "10.0.0.1", keys: testKeys, now: Self.clock(21))) == "changed")
        #expect(table.peer(hostessID: uuid(1))?.summary == summary)

        let goodbye = table.receive(Self.packet(1, sequence: 5, ttl: 0, at: 30), from: "10.0.0.1", keys: testKeys, now: Self.clock(30))
        guard case .success(.lost(let gone, reason: .goodbye)?) = goodbye else {
            Issue.record("expected a goodbye, got \(goodbye)")
            return
        }
        #expect(gone.hostessID == uuid(1))
        #expect(gone.ttl == 0)
        #expect(table.peers.isEmpty)
        #expect(table.received == 5)
        #expect(table.accepted == 5)
        #expect(table.dropped.isEmpty)
    }

    @Test("after a goodbye, an older signed packet replayed cannot bring the peer back")
    func goodbyeThenReplay() {
        var table = Self.table()
        let old = Self.packet(1, sequence: 1)
        _ = table.receive(old, from: "a", keys: testKeys, now: Self.clock(0))
        _ = table.receive(Self.packet(1, sequence: 2, ttl: 0), from: "a", keys: testKeys, now: Self.clock(1))
        #expect(Self.kind(table.receive(old, from: "a", keys: testKeys, now: Self.clock(2))) == "replayed")
        #expect(table.peers.isEmpty)
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 3, at: 3), from: "a", keys: testKeys, now: Self.clock(3))) == "discovered")
    }

    @Test("a goodbye from a Hostess not in the table is accepted and changes nothing")
    func unknownGoodbye() {
        var table = Self.table()
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 1, ttl: 0), from: "a", keys: testKeys, now: Self.clock(0))) == "refresh")
        #expect(table.peers.isEmpty)
    }

    @Test("signed: a sequence not newer than the last is replayed; unsigned: equal refreshes, older is replayed")
    func replay() {
        var signed = Self.table()
        _ = signed.receive(Self.packet(1, sequence: 5), from: "a", keys: testKeys, now: Self.clock(0))
        #expect(Self.kind(signed.receive(Self.packet(1, sequence: 5), from: "a", keys: testKeys, now: Self.clock(1))) == "replayed")
        #expect(Self.kind(signed.receive(Self.packet(1, sequence: 4), from: "a", keys: testKeys, now: Self.clock(1))) == "replayed")
        #expect(signed.dropped == [.replayed: 2])

        var unsigned = Self.table()
        _ = unsigned.receive(Self.packet(1, sequence: 5, signed: false), from: "a", keys: nil, now: Self.clock(0))
        #expect(Self.kind(unsigned.receive(Self.packet(1, sequence: 5, signed: false), from: "a", keys: nil, now: Self.clock(1))) == "refresh")
        #expect(Self.kind(unsigned.receive(Self.packet(1, sequence: 4, signed: false), from: "a", keys: nil, now: Self.clock(1))) == "replayed")
    }

    @Test("our own announcement is dropped, whatever the case of its id")
    func ownAnnouncement() {
        var table = PeerTable(ownHostessID: uuid(0xabc).uppercased(), retention: Self.retention)
        #expect(Self.kind(table.receive(Self.packet(0xabc, sequence: 1), from: "a", keys: testKeys, now: Self.clock(0))) == "own_announcement")
        #expect(table.peers.isEmpty)
        #expect(table.dropped == [.ownAnnouncement: 1])
    }

    @Test("decode failures are counted by reason and leave the table alone")
    func decodeFailures() {
        var table = Self.table()
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 1, signed: false), from: "a", keys: testKeys, now: Self.clock(0))) == "unsigned")
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 1, at: 400), from: "a", keys: testKeys, now: Self.clock(0))) == "stale")
        #expect(Self.kind(table.receive([UInt8](repeating: 0, count: 2000), from: "a", keys: testKeys, now: Self.clock(0))) == "too_large")
        #expect(table.dropped == [.unsigned: 1, .stale: 1, .tooLarge: 1])
        #expect(table.received == 3)
        #expect(table.accepted == 0)
        #expect(table.peers.isEmpty)
    }

    // MARK: Expiry

    @Test("a live peer past its ttl becomes stale (lost, expired); a packet brings it back (changed); stale past retention is removed")
    func expiry() throws {
        var table = Self.table()
        _ = table.receive(Self.packet(1, sequence: 1, ttl: 30), from: "a", keys: testKeys, now: Self.clock(0))
        _ = table.receive(Self.packet(2, sequence: 1, ttl: 90), from: "b", keys: testKeys, now: Self.clock(0))
        #expect(table.nextDeadline == Self.clock(30).monotonic)
        #expect(table.expire(now: Self.clock(29)).isEmpty)

        let lost = table.expire(now: Self.clock(30))
        #expect(lost.map(\.kind) == [.lost])
        guard case .lost(let stale, reason: .expired)? = lost.first else {
            Issue.record("expected an expiry")
            return
        }
        #expect(stale.hostessID == uuid(1))
        #expect(stale.state == .stale)
        #expect(table.livePeers.map(\.hostessID) == [uuid(2)])
        #expect(table.peers.count == 2)
        #expect(table.nextDeadline == Self.clock(90).monotonic)

        #expect(Self.kind(table.receive(Self.packet(1, sequence: 2, ttl: 30, at: 40), from: "a", keys: testKeys, now: Self.clock(40))) == "changed")
        #expect(table.peer(hostessID: uuid(1))?.state == .live)

        #expect(table.expire(now: Self.clock(90)).map(\.peer.hostessID) == [uuid(1), uuid(2)], "peer 1 at 70, peer 2 at 90")
        #expect(table.expire(now: Self.clock(90)).isEmpty, "each peer is lost once")
        #expect(table.nextDeadline == Self.clock(130).monotonic, "peer 1, stale since 70, goes at 70 + 60")
        _ = table.expire(now: Self.clock(129))
        #expect(table.peer(hostessID: uuid(1)) != nil)
        #expect(table.expire(now: Self.clock(130)).isEmpty, "removal is silent")
        #expect(table.peer(hostessID: uuid(1)) == nil)
        _ = table.expire(now: Self.clock(150))
        #expect(table.peers.isEmpty)
        #expect(table.nextDeadline == nil)
    }

    @Test("a table of live peers is full; a stale peer makes room")
    func tableFull() {
        var table = Self.table(maximumPeers: 3)
        for id in 1...3 { _ = table.receive(Self.packet(id, sequence: 1, ttl: id == 1 ? 10 : 90), from: "a", keys: testKeys, now: Self.clock(0)) }
        #expect(Self.kind(table.receive(Self.packet(4, sequence: 1), from: "a", keys: testKeys, now: Self.clock(1))) == "table_full")
        #expect(Self.kind(table.receive(Self.packet(2, sequence: 2, at: 1), from: "a", keys: testKeys, now: Self.clock(1))) == "refresh", "known peers still refresh")
        _ = table.expire(now: Self.clock(10))
        #expect(Self.kind(table.receive(Self.packet(4, sequence: 1, at: 11), from: "a", keys: testKeys, now: Self.clock(11))) == "discovered")
        #expect(table.peers.map(\.hostessID) == [uuid(2), uuid(3), uuid(4)])
        #expect(table.dropped == [.tableFull: 1])
    }

    @Test("addresses: most recent first, each once, at most 8")
    func addresses() {
        var table = Self.table()
        for sequence in 1...12 {
            _ = table.receive(Self.packet(1, sequence: Int64(sequence)), from: "10.0.0.\(sequence)", keys: testKeys, now: Self.clock(0))
        }
        _ = table.receive(Self.packet(1, sequence: 13), from: "10.0.0.9", keys: testKeys, now: Self.clock(0))
        #expect(table.peer(hostessID: uuid(1))?.addresses == ["10.0.0.9", "10.0.0.12", "10.0.0.11", "10.0.0.10", "10.0.0.8", "10.0.0.7", "10.0.0.6", "10.0.0.5"])
    }

    // MARK: The fleet directory

    @Test("a directory read stands for its endpoint's host, must carry its key's id, and a withdrawal removes the peer as a goodbye does")
    func directory() throws {
        var table = Self.table()
        let misfiled = table.receive(Self.packet(1, sequence: 1), from: nil, expecting: uuid(2), keys: testKeys, now: Self.clock(0))
        #expect(Self.kind(misfiled) == "misfiled")
        #expect(table.peers.isEmpty)
        #expect(table.dropped[.misfiled] == 1)

        let read = table.receive(
            Self.packet(1, sequence: 1, endpoint: "http://[fd00::7]:8080"), from: nil, expecting: uuid(1).uppercased(), keys: testKeys, now: Self.clock(0))
        #expect(Self.kind(read) == "discovered")
        #expect(table.peer(hostessID: uuid(1))?.addresses == ["fd00::7"])
        #expect(Self.kind(table.receive(Self.packet(3, sequence: 1, endpoint: "http://10.1.2.3:9"), from: nil, keys: testKeys, now: Self.clock(0))) == "discovered")
        #expect(table.peer(hostessID: uuid(3))?.addresses == ["10.1.2.3"])

        guard case .lost(let gone, reason: .withdrawn)? = table.withdraw(hostessID: uuid(1), now: Self.clock(1)) else {
            Issue.record("expected a withdrawal")
            return
        }
        #expect(gone.hostessID == uuid(1))
        #expect(table.peer(hostessID: uuid(1)) == nil)
        #expect(table.withdraw(hostessID: uuid(1), now: Self.clock(1)) == nil)
        // Its last sequence is remembered: the value read before cannot bring it back.
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 1), from: nil, keys: testKeys, now: Self.clock(2))) == "replayed")
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 2, at: 2), from: nil, keys: testKeys, now: Self.clock(2))) == "discovered")
        #expect(PeerEvent.lost(gone, reason: .withdrawn).json.objectValue?["reason"] == "withdrawn")
    }

    // MARK: Summaries

    @Test("a truncated summary is nil until fetched; a fetch must match the digest; it is kept while the digest stays")
    func fetchedSummary() {
        var table = Self.table()
        let summary = bigSummary(classes: 40, names: 4)
        _ = table.receive(Self.packet(1, sequence: 1, capabilities: summary), from: "a", keys: testKeys, now: Self.clock(0))
        #expect(table.peer(hostessID: uuid(1))?.summaryTruncated == true)
        #expect(table.peer(hostessID: uuid(1))?.summary == nil)
        let wrongDigest = table.updateSummary(hostessID: uuid(1), summary: Array(summary.dropLast()))
        let unknownPeer = table.updateSummary(hostessID: uuid(2), summary: summary)
        let reordered = table.updateSummary(hostessID: uuid(1).uppercased(), summary: Array(summary.reversed()))
        #expect(!wrongDigest)
        #expect(!unknownPeer)
        #expect(reordered, "order does not change the digest")
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 2, capabilities: summary), from: "a", keys: testKeys, now: Self.clock(1))) == "refresh")
        #expect(table.peer(hostessID: uuid(1))?.summary == Array(summary.reversed()))
        let other = bigSummary(classes: 41, names: 4)
        #expect(Self.kind(table.receive(Self.packet(1, sequence: 3, capabilities: other), from: "a", keys: testKeys, now: Self.clock(2))) == "changed")
        #expect(table.peer(hostessID: uuid(1))?.summary == nil)
    }

    @Test("the summary of guest book entries matches queryCapabilities: per class, available = a free terminal")
    func summaryOfEntries() throws {
        func entry(_ name: String, _ classCode: UInt16, capabilities: [String], terminals: [(String, Bool)]) throws -> GuestBookEntry {
            let serverName = try ServerName(parsing: "m.local:\(name):0x000\(classCode):alice:no:none:\(uuid(Int(classCode) * 100 + name.count))")
            let list = try terminals.map { name, used in
                var terminal = try Terminal(name: name, direction: .input, multiplexing: .fanin)
                if used { terminal.connectedTo = ["c1"] }
                return terminal
            }
            return GuestBookEntry(
                name: serverName, terminals: list, capabilities: capabilities, metadata: [:], registeredAt: 1, lastHeartbeat: 1, serial: 1, session: false)
        }
        let entries = [
            try entry("gpu-a", 2, capabilities: ["h264", "gpu"], terminals: [("in", false)]),
            try entry("gpu-bb", 2, capabilities: ["cuda", "gpu"], terminals: [("in", true)]),
            try entry("pty", 1, capabilities: ["vt100"], terminals: []),
        ]
        let summary = CapabilitySummary.summary(of: entries)
        #expect(summary == [
            CapabilitySummary(classCode: ClassCode(1), totalCount: 1, availableCount: 0, capabilities: ["vt100"]),
            CapabilitySummary(classCode: ClassCode(2), totalCount: 2, availableCount: 1, capabilities: ["cuda", "gpu", "h264"]),
        ])
    }

    // MARK: Wire form

    @Test("peer and event JSON use the wire names")
    func json() throws {
        var table = Self.table()
        guard case .success(let event?) = table.receive(Self.packet(1, sequence: 1), from: "10.0.0.1", keys: testKeys, now: Self.clock(0)) else {
            Issue.record("expected a discovery")
            return
        }
        let object = try #require(event.json.objectValue)
        #expect(object.keys == ["kind", "peer"])
        #expect(object["kind"] == "discovered")
        let peer = try #require(object["peer"]?.objectValue)
        #expect(peer.keys == [
            "fqdn", "hostessId", "endpoint", "addresses", "serverCount", "capabilities", "digest", "summaryTruncated", "connectionMethods",
            "lastSeen", "expiresAt", "state", "ttl", "sequence",
        ])
        #expect(peer["state"] == "live")
        #expect(peer["addresses"] == ["10.0.0.1"])
        let lost = PeerEvent.lost(event.peer, reason: .expired).json.objectValue
        #expect(lost?["reason"] == "expired")
    }
}
