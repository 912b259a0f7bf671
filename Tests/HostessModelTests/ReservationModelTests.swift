@testable import HostessModel
import Testing

// Unit tests of the guest book's reservation rules (issue 6): all or nothing, holds, preemption order,
// fencing tokens, releases, expiry and retention, cancel rights, the unreserved filter, request validation.

// MARK: - Fixtures

private let second: UInt64 = 1_000_000_000
private let millisecond: UInt64 = 1_000_000
private let epoch: Int64 = 1_700_000_000_000

private let alice = Caller(uid: 1000, ownerNames: ["alice"])
private let bob = Caller(uid: 1001, ownerNames: ["bob"])
private let root = Caller(uid: 0, ownerNames: [])
/// HTTP callers act under a uid no local user has, with the key that signed the request.
private let aliceKey = Caller(uid: UInt32.max, ownerNames: ["alice"], key: "alice-key")
private let opsKey = Caller(uid: UInt32.max, ownerNames: ["alice", "bob"], key: "ops-key")

/// Both clocks at `nanoseconds` on the monotonic clock; wall time moves with it from `epoch`.
private func at(_ nanoseconds: UInt64) -> Timestamp {
    Timestamp(wallMilliseconds: epoch + Int64(nanoseconds / millisecond), monotonicNanoseconds: nanoseconds)
}

private func wall(_ nanoseconds: UInt64) -> Int64 { epoch + Int64(nanoseconds / millisecond) }

private func uuid(_ number: Int) -> String {
    let digits = String(number, radix: 16)
    return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
}

/// A book with `counts[i]` servers of class `i + 1`, all alice's, registered in order (ids returned per class).
/// Server `n` (numbered from 1 across classes) is bound to connection `sessions[n]` when given.
private func makeBook(
    classes counts: [Int], capabilities: [String] = ["pty"], sessions: [Int: UInt64] = [:], ttl: UInt64 = 3600 * second
) throws -> (GuestBook, [[String]]) {
    var book = GuestBook(ttlNanoseconds: ttl)
    var ids: [[String]] = []
    var number = 0
    for (index, count) in counts.enumerated() {
        var classIDs: [String] = []
        for _ in 0..<count {
            number += 1
            let name = try ServerName(
                fqdn: "host.example", servername: "srv-\(number)", classCode: ClassCode(UInt16(index + 1)), owner: "alice",
                authentication: .no, authMechanism: "none", uuid: uuid(number))
            let registration = try Registration(
                name: name, terminals: [try Terminal(name: "stdin", direction: .input, multiplexing: .none)], capabilities: capabilities,
                metadata: JSONObject())
            try book.register(registration, by: alice, session: sessions[number], now: at(0))
            classIDs.append(name.description)
        }
        ids.append(classIDs)
    }
    return (book, ids)
}

private func request(
    count: Int, classCode: UInt16? = 1, capabilities: [String] = [], duration: Int64? = nil, priority: Int = 0, session: Bool = false,
    unreserved: Bool = false
) -> ReservationRequest {
    ReservationRequest(
        filter: ServerFilter(classCode: classCode.map(ClassCode.init), capabilities: capabilities, unreserved: unreserved), count: count,
        duration: duration, priority: priority, session: session)
}

/// Everything the book shows about entries and reservations, to check that a refused request changed nothing.
private struct Snapshot: Equatable {
    var revision: UInt64
    var entries: [GuestBookEntry]
    var changes: [Change]?
    var reservations: [Reservation]
    var lastToken: UInt64

    init(_ book: GuestBook) {
        revision = book.revision
        entries = book.all()
        changes = book.changes(since: 0)
        reservations = book.reservations()
        lastToken = book.lastToken
    }
}

/// The holds as the entries show them: server id → reservation id.
private func holds(_ book: GuestBook) -> [String: String] {
    var result: [String: String] = [:]
    for entry in book.all() { if let holder = entry.reservedBy { result[entry.id] = holder } }
    return result
}

/// Checks the invariant: every active reservation's servers name it in `reservedBy`, no server is in two
/// active reservations, and every held entry is held by an active reservation that lists it.
private func expectConsistent(_ book: GuestBook, sourceLocation: SourceLocation = #_sourceLocation) {
    var seen: [String: String] = [:]
    for reservation in book.reservations(status: .active) {
        for server in reservation.serverIDs {
            #expect(seen[server] == nil, "\(server) is in \(seen[server] ?? "") and \(reservation.id)", sourceLocation: sourceLocation)
            seen[server] = reservation.id
        }
    }
    #expect(holds(book) == seen, "entries' reservedBy match the active reservations", sourceLocation: sourceLocation)
}

@Suite("reservations in the guest book")
struct ReservationModelTests {
    // MARK: All or nothing

    @Test("a reservation holds exactly `count` free matching servers, in registration order, and the entries name it")
    func grantsAndHolds() throws {
        var (book, ids) = try makeBook(classes: [4, 2])
        let before = book.revision
        let reservation = try book.reserve(request(count: 3, duration: 5000, priority: 7), id: "r1", by: alice, session: nil, now: at(2 * second))
        #expect(reservation.id == "r1")
        #expect(reservation.serverIDs == Array(ids[0].prefix(3)))
        #expect(reservation.count == 3)
        #expect(reservation.status == .active)
        #expect(reservation.priority == 7)
        #expect(reservation.createdAt == wall(2 * second))
        #expect(reservation.expiresAt == wall(2 * second) + 5000)
        #expect(reservation.holder == .user(uid: 1000))
        #expect(reservation.requestedBy == "uid 1000", "requestedBy defaults to the holder")
        #expect(reservation.released.isEmpty)
        #expect(reservation.token > 0)
        for id in ids[0].prefix(3) { #expect(try book.entry(id: id).reservedBy == "r1") }
        #expect(try book.entry(id: ids[0][3]).reservedBy == nil)
        #expect(book.servers(of: reservation).map(\.id) == Array(ids[0].prefix(3)))
        // One change per hold, one for the reservation itself.
        let changes = try #require(book.changes(since: before))
        #expect(changes.filter { $0.kind == .hold }.map(\.id).sorted() == Array(ids[0].prefix(3)).sorted())
        #expect(changes.filter { $0.kind == .reservation }.map(\.id) == ["r1"])
        // The wire form shows it too.
        let json = reservation.json(servers: book.servers(of: reservation)).objectValue
        #expect(json?["serverIds"] == .array(ids[0].prefix(3).map(JSONValue.string)))
        #expect(json?["servers"] == .array(book.servers(of: reservation).map(\.json)))
        #expect(try book.entry(id: ids[0][0]).json.objectValue?["reservedBy"] == "r1")
        #expect(try book.entry(id: ids[0][3]).json.objectValue?["reservedBy"] == .null)
        expectConsistent(book)
    }

    struct Shortfall: Sendable, CustomTestStringConvertible {
        var classCode: UInt16?
        var capabilities: [String]
        var count: Int
        var matched: Int
        var free: Int
        var testDescription: String { "class \(classCode.map(String.init) ?? "any") ×\(count): \(matched) match, \(free) free" }
    }

    /// Five servers of class 1 (two held by an earlier reservation), two of class 2.
    @Test(
        "a request that cannot be met changes nothing and says how many servers matched and how many were free",
        arguments: [
            Shortfall(classCode: 1, capabilities: [], count: 4, matched: 5, free: 3),
            Shortfall(classCode: 1, capabilities: [], count: 1024, matched: 5, free: 3),
            Shortfall(classCode: 2, capabilities: [], count: 3, matched: 2, free: 2),
            Shortfall(classCode: nil, capabilities: [], count: 6, matched: 7, free: 5),
            Shortfall(classCode: 1, capabilities: ["nope"], count: 1, matched: 0, free: 0),
            Shortfall(classCode: 9, capabilities: [], count: 1, matched: 0, free: 0),
        ])
    func allOrNothing(_ shortfall: Shortfall) throws {
        var (book, ids) = try makeBook(classes: [5, 2])
        let held = try book.reserve(request(count: 2), id: "held", by: alice, session: nil, now: at(0))
        #expect(held.serverIDs == Array(ids[0].prefix(2)))
        let before = Snapshot(book)
        let refused = #expect(throws: HostessError.self) {
            try book.reserve(
                // By root, whom no holder quota limits, so that the count alone decides.
                request(count: shortfall.count, classCode: shortfall.classCode, capabilities: shortfall.capabilities), id: "new", by: root,
                session: nil, now: at(second))
        }
        #expect(refused?.code == .conflict)
        #expect(refused?.field == "count")
        let message = refused?.message ?? ""
        #expect(message.hasPrefix("\(shortfall.matched) servers match, \(shortfall.free) free"), "\(message)")
        #expect(message.contains("\(shortfall.count) were asked for"), "\(message)")
        #expect(Snapshot(book) == before, "a refused reservation changes nothing")
        #expect(throws: HostessError.self) { try book.reservation(id: "new") }
    }

    @Test("the servers another reservation holds are skipped; the rest can be reserved to the last one")
    func heldServersAreSkipped() throws {
        var (book, ids) = try makeBook(classes: [5])
        let first = try book.reserve(request(count: 2), id: "a", by: alice, session: nil, now: at(0))
        let later = try book.reserve(request(count: 3), id: "b", by: bob, session: nil, now: at(0))
        #expect(Set(first.serverIDs).isDisjoint(with: later.serverIDs))
        #expect(Set(first.serverIDs + later.serverIDs) == Set(ids[0]))
        let none = #expect(throws: HostessError.self) { try book.reserve(request(count: 1), id: "c", by: bob, session: nil, now: at(0)) }
        #expect(none?.message.hasPrefix("5 servers match, 0 free") == true, "\(String(describing: none))")
        expectConsistent(book)
        // Re-registering a held server (an update, with `reservedBy` sent back) keeps the hold as it is.
        let heldID = first.serverIDs[0]
        let update = try Registration(
            reader: JSONReader(["id": .string(heldID), "capabilities": ["pty", "new"], "reservedBy": "someone-else"]))
        let updated = try book.register(update, by: alice, session: nil, now: at(second))
        #expect(!updated.created)
        #expect(updated.entry.reservedBy == "a")
        expectConsistent(book)
        // Freed servers are reservable again.
        try book.cancelReservation(id: "a", by: alice, now: at(second))
        let third = try book.reserve(request(count: 2), id: "c", by: bob, session: nil, now: at(2 * second))
        #expect(Set(third.serverIDs) == Set(first.serverIDs))
        expectConsistent(book)
    }

    @Test("query with unreserved: true leaves out held entries; a reservation whose filter says unreserved behaves the same")
    func unreservedFilter() throws {
        var (book, ids) = try makeBook(classes: [3])
        try book.reserve(request(count: 2), id: "a", by: alice, session: nil, now: at(0))
        #expect(book.query(ServerFilter(unreserved: true)).map(\.id) == [ids[0][2]])
        #expect(book.query(ServerFilter(classCode: ClassCode(1), unreserved: true)).map(\.id) == [ids[0][2]])
        #expect(book.query(ServerFilter()).map(\.id) == ids[0])
        #expect(book.query(ServerFilter(classCode: ClassCode(1))).map(\.reservedBy) == ["a", "a", nil])
        let parsed = try ServerFilter(reader: JSONReader(["unreserved": true, "class": "0x0001"]))
        #expect(parsed.unreserved)
        #expect(parsed.json.objectValue?["unreserved"] == true)
        #expect(book.query(parsed).map(\.id) == [ids[0][2]])
        // A request with `unreserved: true` in its filter counts the same matches.
        let refused = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 2, unreserved: true), id: "b", by: alice, session: nil, now: at(0))
        }
        #expect(refused?.message.hasPrefix("3 servers match, 1 free") == true, "\(String(describing: refused))")
        let granted = try book.reserve(request(count: 1, unreserved: true), id: "b", by: alice, session: nil, now: at(0))
        #expect(granted.serverIDs == [ids[0][2]])
        #expect(book.query(ServerFilter(unreserved: true)).isEmpty)
        // Released servers are unreserved again.
        try book.cancelReservation(id: "a", by: alice, now: at(second))
        #expect(book.query(ServerFilter(unreserved: true)).map(\.id) == Array(ids[0].prefix(2)))
    }

    // MARK: Preemption

    @Test("preemption takes the lowest priority first and the newest first among equals, and only as many as needed")
    func preemptionOrder() throws {
        var (book, ids) = try makeBook(classes: [6])
        let s = ids[0]
        // Made in this order (each newer than the one before): A p1, B p0, C p0, D p0, E p3, F p10.
        let plan: [(String, Int)] = [("A", 1), ("B", 0), ("C", 0), ("D", 0), ("E", 3), ("F", 10)]
        var made: [String: Reservation] = [:]
        for (index, (name, priority)) in plan.enumerated() {
            made[name] = try book.reserve(
                request(count: 1, priority: priority), id: name, by: alice, session: nil, now: at(UInt64(index) * second))
            #expect(made[name]?.serverIDs == [s[index]])
        }
        let before = book.revision
        let high = try book.reserve(request(count: 4, priority: 5), id: "H", by: bob, session: nil, now: at(10 * second))
        // Victims in order D, C, B (priority 0, newest first), then A (priority 1); E (3) and F (10) stay.
        #expect(high.serverIDs == [s[3], s[2], s[1], s[0]])
        for name in ["A", "B", "C", "D"] {
            let victim = try book.reservation(id: name)
            #expect(victim.status == .preempted, "\(name)")
            #expect(victim.preemptedBy == "H", "\(name)")
            #expect(victim.endedAt == wall(10 * second), "\(name)")
            #expect(victim.reason?.contains("preempted by H") == true, "\(name): \(String(describing: victim.reason))")
            #expect(book.servers(of: victim).isEmpty)
        }
        for name in ["E", "F"] {
            #expect(try book.reservation(id: name).status == .active, "\(name) has priority 3 or more and is not needed")
        }
        #expect(try book.reservation(id: "E").serverIDs == [s[4]])
        for server in s.prefix(4) { #expect(try book.entry(id: server).reservedBy == "H") }
        // Each victim's holder can learn it from the change log: a `reservation` change with its id.
        let changes = try #require(book.changes(since: before))
        let reservationChanges = changes.filter { $0.kind == .reservation }.map(\.id)
        #expect(Set(reservationChanges) == ["A", "B", "C", "D", "H"], "\(reservationChanges)")
        #expect(reservationChanges.last == "H")
        expectConsistent(book)
    }

    @Test("among equal priorities only the newest is preempted when one is enough")
    func newestFirstAmongEquals() throws {
        var (book, ids) = try makeBook(classes: [3])
        for (index, name) in ["old", "middle", "new"].enumerated() {
            try book.reserve(request(count: 1, priority: 2), id: name, by: alice, session: nil, now: at(UInt64(index) * second))
        }
        let taken = try book.reserve(request(count: 1, priority: 3), id: "x", by: bob, session: nil, now: at(5 * second))
        #expect(taken.serverIDs == [ids[0][2]])
        #expect(try book.reservation(id: "new").status == .preempted)
        #expect(try book.reservation(id: "middle").status == .active)
        #expect(try book.reservation(id: "old").status == .active)
        // The next one takes the next newest.
        let next = try book.reserve(request(count: 1, priority: 3), id: "y", by: bob, session: nil, now: at(6 * second))
        #expect(next.serverIDs == [ids[0][1]])
        #expect(try book.reservation(id: "middle").preemptedBy == "y")
        #expect(try book.reservation(id: "old").status == .active)
        expectConsistent(book)
    }

    @Test("equal priority never preempts; free servers are used before any victim, and a victim's other servers go free")
    func preemptionUsesFreeFirst() throws {
        var (book, ids) = try makeBook(classes: [4])
        let s = ids[0]
        try book.reserve(request(count: 3, priority: 1), id: "low", by: alice, session: nil, now: at(0))
        let same = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 2, priority: 1), id: "same", by: bob, session: nil, now: at(second))
        }
        #expect(same?.code == .conflict)
        #expect(same?.message.hasPrefix("4 servers match, 1 free") == true, "\(String(describing: same))")
        // One free server; the victim (3 servers) gives the second. Its two others are freed.
        let high = try book.reserve(request(count: 2, priority: 2), id: "high", by: bob, session: nil, now: at(2 * second))
        #expect(high.serverIDs == [s[3], s[0]])
        #expect(try book.reservation(id: "low").status == .preempted)
        #expect(try book.entry(id: s[1]).reservedBy == nil)
        #expect(try book.entry(id: s[2]).reservedBy == nil)
        #expect(book.query(ServerFilter(unreserved: true)).map(\.id) == [s[1], s[2]])
        expectConsistent(book)
    }

    @Test("preemption happens only if it makes the request satisfiable; otherwise nothing changes")
    func preemptOnlyIfSatisfiable() throws {
        var (book, ids) = try makeBook(classes: [5])
        try book.reserve(request(count: 2, priority: 0), id: "p0", by: alice, session: nil, now: at(0))
        try book.reserve(request(count: 1, priority: 4), id: "p4", by: alice, session: nil, now: at(second))
        try book.reserve(request(count: 2, priority: 9), id: "p9", by: alice, session: nil, now: at(2 * second))
        let before = Snapshot(book)
        // Priority 5 could take p0 (2) and p4 (1): 3 servers, but 4 are asked for.
        let refused = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 4, priority: 5), id: "x", by: bob, session: nil, now: at(3 * second))
        }
        #expect(refused?.code == .conflict)
        #expect(refused?.field == "count")
        #expect(refused?.message.hasPrefix("5 servers match, 0 free") == true, "\(String(describing: refused))")
        #expect(Snapshot(book) == before, "no victim was preempted")
        for name in ["p0", "p4", "p9"] { #expect(try book.reservation(id: name).status == .active) }
        // Three is satisfiable: p0 then p4 go.
        let granted = try book.reserve(request(count: 3, priority: 5), id: "y", by: bob, session: nil, now: at(4 * second))
        #expect(Set(granted.serverIDs) == Set(ids[0].prefix(3)))
        #expect(try book.reservation(id: "p0").status == .preempted)
        #expect(try book.reservation(id: "p4").status == .preempted)
        #expect(try book.reservation(id: "p9").status == .active)
        expectConsistent(book)
    }

    @Test("a victim holding servers the request does not match still ends, and those servers go free")
    func victimWithOtherServers() throws {
        var (book, ids) = try makeBook(classes: [1, 2])
        // `wide` holds the class-1 server and one class-2 server.
        let wide = try book.reserve(
            ReservationRequest(filter: ServerFilter(), count: 2), id: "wide", by: alice, session: nil, now: at(0))
        #expect(wide.serverIDs == [ids[0][0], ids[1][0]])
        let narrow = try book.reserve(request(count: 1, classCode: 1, priority: 1), id: "narrow", by: bob, session: nil, now: at(second))
        #expect(narrow.serverIDs == [ids[0][0]])
        #expect(try book.reservation(id: "wide").status == .preempted)
        #expect(try book.entry(id: ids[1][0]).reservedBy == nil)
        expectConsistent(book)
    }

    // MARK: Fencing tokens

    @Test("tokens strictly increase: at the same instant, when the wall clock steps back, and on the same server")
    func tokensIncrease() throws {
        var (book, ids) = try makeBook(classes: [8])
        var tokens: [UInt64] = []
        // Same instant.
        for index in 0..<3 {
            tokens.append(try book.reserve(request(count: 1), id: "same-\(index)", by: alice, session: nil, now: at(10 * second)).token)
        }
        // The wall clock goes back an hour.
        let back = Timestamp(wallMilliseconds: epoch - 3_600_000, monotonicNanoseconds: 11 * second)
        tokens.append(try book.reserve(request(count: 1), id: "back", by: alice, session: nil, now: back).token)
        #expect(zip(tokens, tokens.dropFirst()).allSatisfy { $0 < $1 }, "\(tokens)")

        // Per server: cancel and grant again, expire and grant again, preempt.
        let first = try book.reserve(request(count: 1, duration: 1000), id: "t1", by: alice, session: nil, now: at(12 * second))
        let server = try #require(first.serverIDs.first)
        try book.cancelReservation(id: "t1", by: alice, now: at(12 * second))
        let secondGrant = try book.reserve(
            ReservationRequest(filter: ServerFilter(servername: try ServerName(parsing: server).servername), count: 1, duration: 1000), id: "t2",
            by: bob, session: nil, now: at(12 * second))
        #expect(secondGrant.serverIDs == [server])
        #expect(secondGrant.token > first.token)
        book.expireReservations(now: at(14 * second), retention: 600_000)
        let third = try book.reserve(
            ReservationRequest(filter: ServerFilter(servername: try ServerName(parsing: server).servername), count: 1), id: "t3", by: alice,
            session: nil, now: at(14 * second))
        #expect(third.token > secondGrant.token)
        let fourth = try book.reserve(
            ReservationRequest(filter: ServerFilter(servername: try ServerName(parsing: server).servername), count: 1, priority: 1), id: "t4",
            by: bob, session: nil, now: at(14 * second))
        #expect(try book.reservation(id: "t3").status == .preempted)
        #expect(fourth.token > third.token)
        #expect(fourth.token > tokens.max() ?? 0)
        #expect(ids[0].contains(server))
    }

    // MARK: Releases

    @Test("a reservation whose last server leaves ends as lost, freeing its place")
    func lastServerLeaving() throws {
        var (book, ids) = try makeBook(classes: [2])
        try book.reserve(request(count: 2), id: "r", by: bob, session: nil, now: at(0))
        try book.unregister(id: ids[0][0], by: alice, now: at(1 * second))
        #expect(try book.reservation(id: "r").status == .active)
        try book.unregister(id: ids[0][1], by: alice, now: at(2 * second))
        let ended = try book.reservation(id: "r")
        #expect(ended.status == .lost)
        #expect(ended.endedAt == wall(2 * second))
        #expect(ended.released.map(\.reason) == ["unregistered", "unregistered"])
        #expect(book.reservations(status: .active).isEmpty)
        #expect(!book.savedReservations.reservations.contains { $0.id == "r" }, "an ended reservation is not saved state")
    }

    @Test("one holder may keep at most maximumActivePerHolder active reservations; root is not limited")
    func perHolderLimit() throws {
        var (book, _) = try makeBook(classes: [ReservationPolicy.standard.maximumActivePerHolder + 2])
        let limit = book.reservationPolicy.maximumActivePerHolder
        for index in 0..<limit { try book.reserve(request(count: 1), id: "b\(index)", by: bob, session: nil, now: at(0)) }
        let before = Snapshot(book)
        let refused = #expect(throws: HostessError.self) { try book.reserve(request(count: 1), id: "over", by: bob, session: nil, now: at(0)) }
        #expect(refused?.code == .capacity)
        #expect(Snapshot(book) == before)
        try book.reserve(request(count: 1), id: "other", by: alice, session: nil, now: at(0))
        try book.reserve(request(count: 1), id: "root", by: root, session: nil, now: at(0))
        try book.cancelReservation(id: "b0", by: bob, now: at(second))
        try book.reserve(request(count: 1), id: "again", by: bob, session: nil, now: at(second))
    }

    @Test("a server that is unregistered, evicted or whose session ends leaves the reservation, which records why")
    func releasesAreRecorded() throws {
        // Server 2 is bound to connection 7; every server lives 10 s without heartbeats.
        var (book, ids) = try makeBook(classes: [4], sessions: [2: 7], ttl: 10 * second)
        let s = ids[0]
        let reservation = try book.reserve(request(count: 4), id: "r", by: bob, session: nil, now: at(0))
        #expect(reservation.serverIDs == s)

        try book.unregister(id: s[0], by: alice, now: at(1 * second))
        var current = try book.reservation(id: "r")
        #expect(current.status == .active)
        #expect(current.serverIDs == [s[1], s[2], s[3]])
        #expect(current.released == [Reservation.Release(serverID: s[0], reason: "unregistered", at: wall(1 * second))])

        _ = book.endSession(connection: 7, now: at(2 * second))
        current = try book.reservation(id: "r")
        #expect(current.serverIDs == [s[2], s[3]])
        #expect(current.released.last == Reservation.Release(serverID: s[1], reason: "session_ended", at: wall(2 * second)))

        // Keep s[3] alive; s[2] misses its heartbeats.
        try book.heartbeat(id: s[3], by: alice, now: at(5 * second))
        let before = book.revision
        let evicted = book.evictExpired(now: at(11 * second))
        #expect(evicted.map(\.id) == [s[2]])
        current = try book.reservation(id: "r")
        #expect(current.status == .active, "losing some servers does not end a reservation")
        #expect(current.serverIDs == [s[3]])
        #expect(current.released.map(\.reason) == ["unregistered", "session_ended", "evicted"])
        #expect(current.released.last == Reservation.Release(serverID: s[2], reason: "evicted", at: wall(11 * second)))
        #expect(book.changes(since: before)?.contains(Change(revision: before + 1, kind: .reservation, id: "r")) == true)
        #expect(book.servers(of: current).map(\.id) == [s[3]])
        // The wire form lists the releases.
        let released = current.json(servers: []).objectValue?["released"]
        #expect(
            released
                == [
                    ["serverId": .string(s[0]), "reason": "unregistered", "at": .int(wall(1 * second))],
                    ["serverId": .string(s[1]), "reason": "session_ended", "at": .int(wall(2 * second))],
                    ["serverId": .string(s[2]), "reason": "evicted", "at": .int(wall(11 * second))],
                ])
        // A server registered again under the same id is not held.
        let name = try ServerName(parsing: s[0])
        let again = try book.register(
            try Registration(name: name, terminals: [], capabilities: [], metadata: JSONObject()), by: alice, session: nil, now: at(12 * second))
        #expect(again.entry.reservedBy == nil)
        #expect(try book.reservation(id: "r").serverIDs == [s[3]])
        expectConsistent(book)
    }

    @Test("a session reservation ends when its connection closes; other reservations made on it do not")
    func sessionReservationEnds() throws {
        var (book, ids) = try makeBook(classes: [3])
        let session = try book.reserve(request(count: 1, session: true), id: "session", by: alice, session: 5, now: at(0))
        #expect(session.session)
        // `session:` without `session: true` in the request does not bind.
        let plain = try book.reserve(request(count: 1), id: "plain", by: alice, session: 5, now: at(0))
        _ = try book.reserve(request(count: 1, session: true), id: "other", by: alice, session: 6, now: at(0))
        #expect(book.endSession(connection: 5, now: at(3 * second)).isEmpty, "no entries were bound to connection 5")
        let ended = try book.reservation(id: "session")
        #expect(ended.status == .cancelled)
        #expect(ended.endedAt == wall(3 * second))
        #expect(ended.reason?.contains("session") == true)
        #expect(try book.entry(id: ids[0][0]).reservedBy == nil)
        #expect(try book.reservation(id: "plain").status == .active)
        #expect(try book.reservation(id: "other").status == .active)
        #expect(try book.entry(id: plain.serverIDs[0]).reservedBy == "plain")
        _ = book.endSession(connection: 6, now: at(4 * second))
        #expect(try book.reservation(id: "other").status == .cancelled)
        expectConsistent(book)

        // A session reservation needs a connection.
        let before = Snapshot(book)
        let refused = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 1, session: true), id: "x", by: alice, session: nil, now: at(5 * second))
        }
        #expect(refused?.code == .badRequest)
        #expect(refused?.field == "session")
        #expect(Snapshot(book) == before)
    }

    // MARK: Expiry and retention

    @Test("a reservation expires exactly at expiresAt and frees its servers; one without a duration gets the policy's default")
    func expiry() throws {
        var (book, ids) = try makeBook(classes: [3])
        let timed = try book.reserve(request(count: 2, duration: 1500), id: "timed", by: alice, session: nil, now: at(0))
        let lasting = try book.reserve(request(count: 1), id: "lasting", by: alice, session: nil, now: at(0))
        #expect(timed.expiresAt == epoch + 1500)
        let standard = ReservationPolicy.standard.defaultDuration
        #expect(lasting.duration == standard)
        #expect(lasting.expiresAt == epoch + standard)
        #expect(lasting.json(servers: []).objectValue?["expiresAt"] == .int(epoch + standard))
        let before = book.revision
        #expect(book.expireReservations(now: at(1499 * millisecond), retention: 600_000) == [])
        #expect(book.revision == before, "nothing due: no change")
        #expect(try book.reservation(id: "timed").status == .active)
        #expect(book.expireReservations(now: at(1500 * millisecond), retention: 600_000) == ["timed"])
        let expired = try book.reservation(id: "timed")
        #expect(expired.status == .expired)
        #expect(expired.endedAt == epoch + 1500)
        #expect(expired.expiresAt == epoch + 1500, "expiresAt stays as it was")
        for server in timed.serverIDs { #expect(try book.entry(id: server).reservedBy == nil) }
        #expect(book.query(ServerFilter(unreserved: true)).map(\.id) == Array(ids[0].prefix(2)))
        #expect(book.reservations(status: .expired).map(\.id) == ["timed"])
        #expect(book.reservations(status: .active).map(\.id) == ["lasting"])
        // The one without a duration lasts the default duration, not for ever.
        #expect(book.expireReservations(now: at(UInt64(standard - 1) * millisecond), retention: 600_000) == [])
        #expect(book.expireReservations(now: at(UInt64(standard) * millisecond), retention: 600_000) == ["lasting"])
        expectConsistent(book)
    }

    @Test("ended reservations stay listed for the retention window, then are forgotten; active ones never are")
    func retention() throws {
        var (book, _) = try makeBook(classes: [3])
        try book.reserve(request(count: 1, duration: 1000), id: "expires", by: alice, session: nil, now: at(0))
        try book.reserve(request(count: 1), id: "cancelled", by: alice, session: nil, now: at(0))
        try book.reserve(request(count: 1, duration: book.reservationPolicy.maximumDuration), id: "active", by: alice, session: nil, now: at(0))
        try book.cancelReservation(id: "cancelled", by: alice, now: at(1 * second))
        book.expireReservations(now: at(1 * second), retention: 10_000)
        #expect(book.reservations().map(\.status).sorted { $0.rawValue < $1.rawValue } == [.active, .cancelled, .expired])
        // Both ended at 1 s; with a 10 s window they go at 11 s, not before.
        book.expireReservations(now: at(10_999 * millisecond), retention: 10_000)
        #expect(book.reservations().count == 3)
        book.expireReservations(now: at(11 * second), retention: 10_000)
        #expect(book.reservations().map(\.id) == ["active"])
        let gone = #expect(throws: HostessError.self) { try book.reservation(id: "expires") }
        #expect(gone?.code == .notFound)
        #expect(gone?.field == "reservationId")
        book.expireReservations(now: at(80_000 * second), retention: 10_000)
        #expect(try book.reservation(id: "active").status == .active)
    }

    // MARK: Cancel rights

    struct CancelCase: Sendable, CustomTestStringConvertible {
        var holder: Caller
        var canceller: Caller
        var allowed: Bool
        var testDescription: String {
            func name(_ caller: Caller) -> String { caller.key.map { "key \($0)" } ?? "uid \(caller.uid)" }
            return "\(name(holder)) made it, \(name(canceller)) cancels: \(allowed ? "allowed" : "forbidden")"
        }
    }

    @Test(
        "only the holder (same uid, or same HTTP key) or root may cancel",
        arguments: [
            CancelCase(holder: alice, canceller: alice, allowed: true),
            CancelCase(holder: alice, canceller: Caller(uid: 1000, ownerNames: []), allowed: true),
            CancelCase(holder: alice, canceller: bob, allowed: false),
            CancelCase(holder: alice, canceller: root, allowed: true),
            CancelCase(holder: alice, canceller: Caller(uid: 1000, ownerNames: ["alice"], key: "alice-key"), allowed: false),
            CancelCase(holder: alice, canceller: aliceKey, allowed: false),
            CancelCase(holder: aliceKey, canceller: aliceKey, allowed: true),
            CancelCase(holder: aliceKey, canceller: opsKey, allowed: false),
            CancelCase(holder: aliceKey, canceller: alice, allowed: false),
            CancelCase(holder: aliceKey, canceller: Caller(uid: UInt32.max, ownerNames: ["alice"]), allowed: false),
            CancelCase(holder: aliceKey, canceller: root, allowed: true),
            CancelCase(holder: root, canceller: alice, allowed: false),
            CancelCase(holder: root, canceller: root, allowed: true),
        ])
    func cancelRights(_ test: CancelCase) throws {
        var (book, ids) = try makeBook(classes: [2])
        let reservation = try book.reserve(request(count: 2), id: "r", by: test.holder, session: nil, now: at(0))
        #expect(reservation.holder == (test.holder.key.map(Reservation.Holder.key) ?? .user(uid: test.holder.uid)))
        let before = Snapshot(book)
        if test.allowed {
            let cancelled = try book.cancelReservation(id: "r", by: test.canceller, now: at(second))
            #expect(cancelled.status == .cancelled)
            #expect(cancelled.endedAt == wall(second))
            for server in ids[0] { #expect(try book.entry(id: server).reservedBy == nil) }
            #expect(book.revision > before.revision)
        } else {
            let refused = #expect(throws: HostessError.self) { try book.cancelReservation(id: "r", by: test.canceller, now: at(second)) }
            #expect(refused?.code == .forbidden)
            #expect(refused?.field == "reservationId")
            #expect(Snapshot(book) == before, "a forbidden cancel changes nothing")
        }
    }

    @Test("cancelling an unknown or already ended reservation is refused and changes nothing")
    func cancelUnknownOrEnded() throws {
        var (book, _) = try makeBook(classes: [2])
        try book.reserve(request(count: 1), id: "r", by: alice, session: nil, now: at(0))
        var before = Snapshot(book)
        let unknown = #expect(throws: HostessError.self) { try book.cancelReservation(id: "nope", by: root, now: at(second)) }
        #expect(unknown?.code == .notFound)
        #expect(unknown?.field == "reservationId")
        #expect(Snapshot(book) == before)
        try book.cancelReservation(id: "r", by: alice, now: at(second))
        before = Snapshot(book)
        let again = #expect(throws: HostessError.self) { try book.cancelReservation(id: "r", by: alice, now: at(2 * second)) }
        #expect(again?.code == .conflict)
        #expect(again?.message.contains("cancelled") == true)
        #expect(Snapshot(book) == before)
        #expect(try book.reservation(id: "r").endedAt == wall(second), "the first end stands")
    }

    // MARK: Restore

    @Test("restored reservations keep id, token and expiresAt; lost servers count as released; session ones end; ended ones are not saved; tokens continue")
    func restore() throws {
        var (old, ids) = try makeBook(classes: [4])
        let s = ids[0]
        let kept = try old.reserve(request(count: 2, duration: 60_000), id: "kept", by: alice, session: nil, now: at(0))
        try old.reserve(request(count: 1, session: true), id: "session", by: alice, session: 3, now: at(0))
        try old.reserve(request(count: 1), id: "done", by: alice, session: nil, now: at(0))
        try old.cancelReservation(id: "done", by: alice, now: at(0))
        let saved = old.savedReservations
        // The successor adopts every entry but the second one held by `kept`.
        var new = GuestBook(ttlNanoseconds: 3600 * second)
        let survivors = old.all().filter { $0.id != kept.serverIDs[1] }
        #expect(new.restore(survivors, revision: old.revision, now: at(5 * second)).isEmpty)
        new.restoreReservations(saved.reservations, lastToken: saved.lastToken, now: at(5 * second))
        let restored = try new.reservation(id: "kept")
        #expect(restored.status == .active)
        #expect(restored.token == kept.token)
        #expect(restored.createdAt == kept.createdAt)
        #expect(restored.expiresAt == kept.expiresAt, "the remaining duration is kept, not reset")
        #expect(restored.serverIDs == [kept.serverIDs[0]])
        #expect(restored.released == [Reservation.Release(serverID: kept.serverIDs[1], reason: "unregistered", at: wall(5 * second))])
        #expect(try new.entry(id: kept.serverIDs[0]).reservedBy == "kept")
        let session = try new.reservation(id: "session")
        #expect(session.status == .cancelled, "its connection died with the old daemon")
        #expect(try new.entry(id: s[2]).reservedBy == nil)
        #expect(saved.reservations.map(\.id).sorted() == ["kept", "session"], "only active reservations are saved")
        #expect(throws: HostessError.self, "an ended one is history, not state: it does not come back") { try new.reservation(id: "done") }
        expectConsistent(new)
        let next = try new.reserve(
            request(count: 1), id: "next", by: alice, session: nil, now: Timestamp(wallMilliseconds: 0, monotonicNanoseconds: 6 * second))
        #expect(next.token > saved.lastToken)
        #expect(next.token > saved.reservations.map(\.token).max() ?? 0)
        // Made at wall time 0 (a clock gone back), it would expire at once below: out of the way.
        try new.cancelReservation(id: "next", by: alice, now: at(6 * second))
        // Expiry still runs from the original createdAt.
        #expect(new.expireReservations(now: at(59_999 * millisecond), retention: 600_000) == [])
        #expect(new.expireReservations(now: at(60 * second), retention: 600_000) == ["kept"])
    }

    @Test("the wire form of a reservation reads back to the same reservation")
    func wireRoundTrip() throws {
        var (book, _) = try makeBook(classes: [3])
        try book.reserve(request(count: 2, priority: -3), id: "low", by: aliceKey, session: nil, now: at(0))
        _ = try book.reserve(
            ReservationRequest(requestedBy: "ci job 42", filter: ServerFilter(classCode: ClassCode(1)), count: 2, duration: 900, priority: 4),
            id: "high", by: alice, session: nil, now: at(second))
        for reservation in book.reservations() {
            #expect(try Reservation(json: reservation.json(servers: book.servers(of: reservation))) == reservation)
        }
        #expect(try book.reservation(id: "high").requestedBy == "ci job 42")
        #expect(try book.reservation(id: "low").requestedBy == "key alice-key")
    }

    // MARK: Bad requests

    struct BadRequest: Sendable, CustomTestStringConvertible {
        var name: String
        var json: JSONValue
        var field: String
        var code: HostessError.Code = .badRequest
        var testDescription: String { name }
    }

    @Test(
        "malformed reservation requests are refused naming their field",
        arguments: [
            BadRequest(name: "count 0", json: ["count": 0], field: "count"),
            BadRequest(name: "count -1", json: ["count": -1], field: "count"),
            BadRequest(name: "count 1025", json: ["count": 1025], field: "count"),
            BadRequest(name: "count huge", json: ["count": .int(Int64.max)], field: "count"),
            BadRequest(name: "count missing", json: ["serverFilter": [:]], field: "count"),
            BadRequest(name: "count a string", json: ["count": "2"], field: "count"),
            BadRequest(name: "count fractional", json: ["count": 1.5], field: "count"),
            BadRequest(name: "duration negative", json: ["count": 1, "duration": -5], field: "duration"),
            BadRequest(name: "duration 0", json: ["count": 1, "duration": 0], field: "duration"),
            BadRequest(name: "duration over 30 days", json: ["count": 1, "duration": .int(30 * 24 * 3600 * 1000 + 1)], field: "duration"),
            BadRequest(name: "duration a string", json: ["count": 1, "duration": "10s"], field: "duration"),
            BadRequest(name: "priority too high", json: ["count": 1, "priority": 1_000_001], field: "priority"),
            BadRequest(name: "priority too low", json: ["count": 1, "priority": -1_000_001], field: "priority"),
            BadRequest(name: "requestedBy empty", json: ["count": 1, "requestedBy": ""], field: "requestedBy"),
            BadRequest(name: "requestedBy too long", json: ["count": 1, "requestedBy": .string(String(repeating: "x", count: 129))], field: "requestedBy"),
            BadRequest(name: "requestedBy control character", json: ["count": 1, "requestedBy": "a\nb"], field: "requestedBy"),
            BadRequest(name: "session not a bool", json: ["count": 1, "session": "yes"], field: "session"),
            BadRequest(name: "unknown member", json: ["count": 1, "servers": 3], field: "servers"),
            BadRequest(name: "filter not an object", json: ["count": 1, "serverFilter": "0x0001"], field: "serverFilter"),
            BadRequest(name: "filter with a bad class", json: ["count": 1, "serverFilter": ["class": "zz"]], field: "serverFilter.class"),
            BadRequest(name: "filter with an unknown member", json: ["count": 1, "serverFilter": ["klass": "0x0001"]], field: "serverFilter.klass"),
            BadRequest(name: "filter capabilities not strings", json: ["count": 1, "serverFilter": ["capabilities": [1]]], field: "serverFilter.capabilities[0]"),
            BadRequest(name: "filter availableTerminals negative", json: ["count": 1, "serverFilter": ["availableTerminals": -1]], field: "serverFilter.availableTerminals"),
            BadRequest(name: "filter unreserved not a bool", json: ["count": 1, "serverFilter": ["unreserved": "yes"]], field: "serverFilter.unreserved"),
            BadRequest(name: "allowRemote not a bool", json: ["count": 1, "allowRemote": 1], field: "allowRemote"),
            BadRequest(name: "remoteFqdn not a host name", json: ["count": 1, "remoteFqdn": "a b"], field: "remoteFqdn"),
            BadRequest(name: "connectionInfo not an object", json: ["count": 1, "connectionInfo": "http"], field: "connectionInfo"),
            BadRequest(name: "connectionInfo endpoint with a space", json: ["count": 1, "connectionInfo": ["endpoint": "http://a b"]], field: "connectionInfo.endpoint"),
            BadRequest(
                name: "connectionInfo endpoint too long", json: ["count": 1, "connectionInfo": ["endpoint": .string(String(repeating: "e", count: 257))]],
                field: "connectionInfo.endpoint"),
            BadRequest(
                name: "connectionInfo with 9 methods", json: ["count": 1, "connectionInfo": ["preferredMethods": .array(Array(repeating: "tcp", count: 9))]],
                field: "connectionInfo.preferredMethods"),
            BadRequest(name: "connectionInfo method upper-case", json: ["count": 1, "connectionInfo": ["preferredMethods": ["TCP"]]], field: "connectionInfo.preferredMethods[0]"),
            BadRequest(name: "connectionInfo unknown member", json: ["count": 1, "connectionInfo": ["port": 1]], field: "connectionInfo.port"),
        ])
    func badRequests(_ bad: BadRequest) throws {
        let object = try #require(bad.json.objectValue)
        let error = #expect(throws: HostessError.self) { try ReservationRequest(reader: JSONReader(object, path: "reservation")) }
        #expect(error?.code == bad.code, "\(String(describing: error))")
        #expect(error?.field == "reservation." + bad.field, "\(String(describing: error))")
        #expect(error?.message.isEmpty == false)
    }

    @Test("the limits themselves are accepted, and defaults are priority 0, no duration, no session")
    func goodRequests() throws {
        let low = try ReservationRequest(reader: JSONReader(["count": 1, "duration": 1, "priority": -1_000_000, "serverFilter": [:]]))
        #expect(low.count == 1)
        #expect(low.duration == 1)
        #expect(low.priority == -1_000_000)
        let high = try ReservationRequest(
            reader: JSONReader([
                "count": 1024, "duration": .int(30 * 24 * 3600 * 1000), "priority": 1_000_000, "session": true,
                "requestedBy": .string(String(repeating: "é", count: 64)),
                "serverFilter": ["class": "0x0002", "capabilities": ["gpu"], "unreserved": true],
            ]))
        #expect(high.count == 1024)
        #expect(high.session)
        #expect(high.filter.classCode == ClassCode(2))
        #expect(high.filter.unreserved)
        let defaults = try ReservationRequest(reader: JSONReader(["count": 2]))
        #expect(defaults.priority == 0)
        #expect(defaults.duration == nil)
        #expect(defaults.session == false)
        #expect(defaults.requestedBy == nil)
        #expect(defaults.filter == ServerFilter())
        // The wire form reads back.
        #expect(try ReservationRequest(reader: JSONReader(high.json.objectValue ?? [:])) == high)
        let remote = try ReservationRequest(
            reader: JSONReader([
                "count": 2, "allowRemote": true, "remoteFqdn": "machine-b.local",
                "connectionInfo": ["endpoint": "http://10.0.0.2:8080", "preferredMethods": ["websocket", "tcp"]],
            ]))
        #expect(remote.allowRemote && remote.remoteFqdn == "machine-b.local")
        #expect(remote.connectionInfo == ConnectionInfo(endpoint: "http://10.0.0.2:8080", preferredMethods: ["websocket", "tcp"]))
        #expect(try ReservationRequest(reader: JSONReader(remote.json.objectValue ?? [:])) == remote)
    }
}

// MARK: - Remote parts

/// A part a peer granted: `servers` ids on `fqdn`.
private func part(_ fqdn: String, hostess: Int, servers: Int, token: UInt64 = 7) -> Reservation.RemotePart {
    Reservation.RemotePart(
        fqdn: fqdn, hostessID: uuid(1000 + hostess), endpoint: "http://10.0.0.\(hostess):8080", reservationID: uuid(2000 + hostess),
        serverIDs: (0..<servers).map { "\(fqdn):gpu-\($0):0x0002:root:no:none:\(uuid(3000 + hostess * 100 + $0))" }, servers: [], token: token)
}

@Suite("reservations whose servers peers hold in part")
struct RemotePartTests {
    @Test("peers' parts make up the count: only the rest is held here, the policy counts the whole, and the wire form reads back")
    func localAndRemote() throws {
        var (book, ids) = try makeBook(classes: [3])
        let reservation = try book.reserve(
            request(count: 3, duration: 60_000), id: "mixed", by: alice, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 2)])
        #expect(reservation.serverIDs == [ids[0][0]] && reservation.count == 3 && reservation.heldCount == 3)
        #expect(holds(book) == [ids[0][0]: "mixed"])
        expectConsistent(book)
        #expect(try Reservation(json: reservation.json(servers: book.servers(of: reservation))) == reservation)

        // All of it on peers: nothing is held here, and the reservation is active.
        let remoteOnly = try book.reserve(
            request(count: 2), id: "remote", by: alice, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 1), part("c.example", hostess: 3, servers: 1)])
        #expect(remoteOnly.serverIDs.isEmpty && remoteOnly.status == .active && remoteOnly.holdsRemoteServers)
        #expect(holds(book).count == 1)

        // The quota counts the peers' servers: bob may hold 2 in all.
        book.reservationPolicy.maximumServersPerHolder = 2
        #expect(throws: HostessError.self) {
            try book.reserve(request(count: 3), id: "over", by: bob, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 2)])
        }
        try book.reserve(request(count: 2), id: "bob", by: bob, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 2)])
        let third = #expect(throws: HostessError.self) { try book.reserve(request(count: 1), id: "bob2", by: bob, session: nil, now: at(0)) }
        #expect(third?.code == .capacity)
    }

    @Test("when a reservation ends, each part it held is released once, to be cancelled at its peer; the reply's reason is recorded")
    func releases() throws {
        var (book, _) = try makeBook(classes: [1])
        try book.reserve(request(count: 2), id: "r", by: alice, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 1)])
        #expect(book.takeRemoteReleases().isEmpty && !book.hasRemoteReleases)
        try book.cancelReservation(id: "r", by: alice, now: at(second))
        let released = book.takeRemoteReleases()
        #expect(released.map(\.reservationID) == ["r"] && released.first?.part.reservationID == uuid(2002))
        #expect(try book.reservation(id: "r").remote.map(\.state) == [.released])
        #expect(book.takeRemoteReleases().isEmpty)
        book.noteRemoteRelease(reservationID: "r", peerReservationID: uuid(2002), reason: "cancelled at the peer")
        #expect(try book.reservation(id: "r").remote.first?.reason == "cancelled at the peer")

        // Expiry releases too.
        try book.reserve(request(count: 1, duration: 1000), id: "short", by: alice, session: nil, now: at(2 * second), remote: [part("c.example", hostess: 3, servers: 1)])
        book.expireReservations(now: at(4 * second), retention: 600_000)
        #expect(book.takeRemoteReleases().map(\.reservationID) == ["short"])
    }

    @Test("a stale peer's parts turn lost: a reservation with servers left keeps going, one with none ends lost")
    func stalePeer() throws {
        var (book, ids) = try makeBook(classes: [2])
        try book.reserve(request(count: 2), id: "mixed", by: alice, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 1)])
        try book.reserve(request(count: 1), id: "remote", by: alice, session: nil, now: at(0), remote: [part("b.example", hostess: 2, servers: 1)])
        try book.reserve(request(count: 1), id: "elsewhere", by: alice, session: nil, now: at(0), remote: [part("c.example", hostess: 3, servers: 1)])
        let changed = book.loseRemoteParts(hostessID: uuid(1002), reason: "b.example missed its ttl; stale", now: at(second))
        #expect(changed == ["mixed", "remote"])
        #expect(try book.reservation(id: "mixed").status == .active && book.reservation(id: "mixed").remote.first?.state == .lost)
        #expect(try book.reservation(id: "remote").status == .lost)
        #expect(try book.reservation(id: "elsewhere").status == .active)
        #expect(book.takeRemoteReleases().count == 2, "lost parts are still asked to be cancelled, in case the peer comes back")
        expectConsistent(book)

        // The local server leaving does not end a reservation whose peer still holds its part.
        try book.reserve(request(count: 2, classCode: 1), id: "both", by: alice, session: nil, now: at(second), remote: [part("c.example", hostess: 3, servers: 1)])
        _ = ids
        let local = try book.reservation(id: "both").serverIDs
        for server in local { try book.unregister(id: server, by: alice, now: at(2 * second)) }
        #expect(try book.reservation(id: "both").status == .active, "c.example still holds its part")
    }
}

// MARK: - Policy

@Suite("the reservation policy: quotas, durations, priorities")
struct ReservationPolicyTests {
    private let nobody = Caller(uid: 65534, ownerNames: ["nobody"])

    @Test("the attack: nobody at priority 1,000,000 with no duration cannot preempt root; at the limit it gets the default duration")
    func noForeverPreemption() throws {
        var (book, _) = try makeBook(classes: [2])
        try book.reserve(request(count: 2), id: "root's", by: root, session: nil, now: at(0))
        let before = Snapshot(book)
        let refused = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 2, priority: 1_000_000), id: "grab", by: nobody, session: nil, now: at(second))
        }
        #expect(refused?.code == .forbidden)
        #expect(refused?.field == "priority")
        #expect(refused?.message.contains("above 100") == true, "\(refused?.message ?? "")")
        #expect(Snapshot(book) == before)
        let limited = try book.reserve(request(count: 2, priority: 100), id: "limited", by: nobody, session: nil, now: at(second))
        #expect(limited.expiresAt == wall(second) + ReservationPolicy.standard.defaultDuration)
        #expect(book.expireReservations(now: at(second + UInt64(ReservationPolicy.standard.defaultDuration) * millisecond), retention: 0) == ["limited"])
    }

    @Test("holders the configuration names may use priorities above the limit, users and keys alike")
    func privilegedHolders() throws {
        var (book, _) = try makeBook(classes: [3])
        book.reservationPolicy.privilegedHolders = [.user(uid: 1000), .key("ops-key")]
        try book.reserve(request(count: 1, priority: 500), id: "alice", by: alice, session: nil, now: at(0))
        try book.reserve(request(count: 1, priority: 500), id: "ops", by: opsKey, session: nil, now: at(0))
        let refused = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 1, priority: 500), id: "bob", by: bob, session: nil, now: at(0))
        }
        #expect(refused?.code == .forbidden)
        try book.reserve(request(count: 1, priority: 1_000_000), id: "root", by: root, session: nil, now: at(0))
    }

    @Test("a holder other than root may hold at most maximumServersPerHolder servers and ask for at most maximumDuration")
    func serversAndDuration() throws {
        var (book, _) = try makeBook(classes: [12])
        book.reservationPolicy.maximumServersPerHolder = 5
        try book.reserve(request(count: 3), id: "a", by: bob, session: nil, now: at(0))
        let before = Snapshot(book)
        let tooMany = #expect(throws: HostessError.self) { try book.reserve(request(count: 3), id: "b", by: bob, session: nil, now: at(0)) }
        #expect(tooMany?.code == .capacity)
        #expect(tooMany?.message == "uid 1001 holds 3 servers; 3 more would pass the 5 one holder may hold")
        #expect(Snapshot(book) == before)
        try book.reserve(request(count: 2), id: "c", by: bob, session: nil, now: at(0))
        try book.reserve(request(count: 6), id: "root", by: root, session: nil, now: at(0))

        let longest = book.reservationPolicy.maximumDuration
        let tooLong = #expect(throws: HostessError.self) {
            try book.reserve(request(count: 1, duration: longest + 1), id: "d", by: alice, session: nil, now: at(0))
        }
        #expect(tooLong?.code == .forbidden)
        #expect(tooLong?.field == "duration")
        try book.cancelReservation(id: "root", by: root, now: at(0))
        try book.reserve(request(count: 1, duration: longest), id: "e", by: alice, session: nil, now: at(0))
        try book.reserve(request(count: 1, duration: ReservationRequest.maximumDuration), id: "f", by: root, session: nil, now: at(0))
    }
}
