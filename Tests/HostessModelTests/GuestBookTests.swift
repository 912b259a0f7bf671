@testable import HostessModel
import Testing

// MARK: - Fixtures

private let second: UInt64 = 1_000_000_000
private let ttl: UInt64 = second

private let alice = Caller(uid: 1000, ownerNames: ["alice"])
private let bob = Caller(uid: 1001, ownerNames: ["bob"])
private let root = Caller(uid: 0, ownerNames: [])

/// A reading of both clocks at `nanoseconds` on the monotonic clock; wall time moves with it.
private func at(_ nanoseconds: UInt64) -> Timestamp {
    Timestamp(wallMilliseconds: 1_700_000_000_000 + Int64(nanoseconds / 1_000_000), monotonicNanoseconds: nanoseconds)
}

private func uuid(_ number: Int) -> String {
    let digits = String(number, radix: 16)
    return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
}

private func serverName(
    _ number: Int, owner: String = "alice", fqdn: String = "host.example", servername: String = "pty-server",
    classCode: UInt16 = 1
) throws -> ServerName {
    try ServerName(
        fqdn: fqdn, servername: servername, classCode: ClassCode(classCode), owner: owner, authentication: .no,
        authMechanism: "none", uuid: uuid(number))
}

private func terminal(_ name: String, _ multiplexing: Terminal.Multiplexing = .none, direction: Terminal.Direction = .bidirectional)
    throws -> Terminal
{
    try Terminal(name: name, direction: direction, multiplexing: multiplexing)
}

private func registration(
    _ name: ServerName, terminals: [Terminal] = [], capabilities: [String] = [], metadata: JSONObject = JSONObject()
) throws -> Registration {
    try Registration(name: name, terminals: terminals, capabilities: capabilities, metadata: metadata)
}

/// A book with one entry of alice's with a `none` terminal `stdin`, a `fanout` `out` and a `fanin` `in`.
private func bookWithOneEntry(capacity: Int = 4096) throws -> (GuestBook, String) {
    var book = GuestBook(ttlNanoseconds: ttl, changeLogCapacity: capacity)
    let name = try serverName(1)
    try book.register(
        registration(name, terminals: [terminal("stdin"), terminal("out", .fanout), terminal("in", .fanin)]),
        by: alice, session: nil, now: at(0))
    return (book, name.description)
}

/// A snapshot of everything the book shows, to check that a refused request changed nothing.
private func snapshot(_ book: GuestBook) -> (UInt64, [GuestBookEntry], [Change]?) {
    (book.revision, book.all(), book.changes(since: 0))
}

private func expectUnchanged(_ book: GuestBook, _ before: (UInt64, [GuestBookEntry], [Change]?), sourceLocation: SourceLocation = #_sourceLocation) {
    let after = snapshot(book)
    #expect(after.0 == before.0, "revision changed", sourceLocation: sourceLocation)
    #expect(after.1 == before.1, "entries changed", sourceLocation: sourceLocation)
    #expect(after.2 == before.2, "change log changed", sourceLocation: sourceLocation)
}

@Suite struct GuestBookTests {
    // MARK: Register

    @Test("register creates an entry with serial 1 at revision 1")
    func registerCreates() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        #expect(book.revision == 0)
        #expect(book.changes(since: 0) == [])
        let name = try serverName(1)
        let result = try book.register(
            registration(name, terminals: [terminal("stdin")], capabilities: ["pty"], metadata: ["k": "v"]),
            by: alice, session: nil, now: at(5 * second))
        #expect(result.created)
        #expect(result.entry.serial == 1)
        #expect(result.entry.id == name.description)
        #expect(result.entry.registeredAt == at(5 * second).wallMilliseconds)
        #expect(result.entry.lastHeartbeat == at(5 * second).wallMilliseconds)
        #expect(result.entry.session == false)
        #expect(result.entry.capabilities == ["pty"])
        #expect(result.entry.metadata == ["k": "v"])
        #expect(result.entry.terminal(named: "stdin")?.inUse == false)
        #expect(book.revision == 1)
        #expect(book.count == 1)
        #expect(try book.entry(id: name.description) == result.entry)
        #expect(book.changes(since: 0) == [Change(revision: 1, kind: .registered, id: name.description)])

        let next = try book.register(registration(try serverName(2)), by: alice, session: 9, now: at(6 * second))
        #expect(next.created)
        #expect(next.entry.serial == 2)
        #expect(next.entry.session)
        #expect(book.revision == 2)
        #expect(book.all().map(\.serial) == [1, 2])
    }

    @Test("re-registering updates the entry, keeping registeredAt, the serial and compatible connections")
    func reRegisterUpdates() throws {
        var (book, id) = try bookWithOneEntry()
        try book.register(registration(try serverName(2)), by: alice, session: nil, now: at(0))
        try book.markInUse(id: id, terminal: "stdin", connectomeID: "c1", by: alice)
        try book.markInUse(id: id, terminal: "out", connectomeID: "c2", by: alice)
        try book.markInUse(id: id, terminal: "out", connectomeID: "c3", by: alice)
        try book.markInUse(id: id, terminal: "in", connectomeID: "c4", by: alice)
        let before = try book.entry(id: id)
        let revision = book.revision

        let name = try ServerName(parsing: id)
        let result = try book.register(
            registration(
                name,
                terminals: [
                    terminal("stdin", .none, direction: .input),  // same multiplexing: keeps c1
                    terminal("out", .fanin),  // multiplexing changed: connections dropped
                    terminal("in", .fanin),  // unchanged: keeps c4
                    terminal("log", .fanout),  // new
                ],
                capabilities: ["pty", "vt100"], metadata: ["version": 2]),
            by: alice, session: 77, now: at(3 * second))
        #expect(result.created == false)
        #expect(result.entry.serial == before.serial)
        #expect(result.entry.registeredAt == before.registeredAt)
        #expect(result.entry.lastHeartbeat == at(3 * second).wallMilliseconds)
        #expect(result.entry.session)
        #expect(result.entry.capabilities == ["pty", "vt100"])
        #expect(result.entry.metadata == ["version": 2])
        #expect(result.entry.terminals.map(\.name) == ["stdin", "out", "in", "log"])
        #expect(result.entry.terminal(named: "stdin")?.connectedTo == ["c1"])
        #expect(result.entry.terminal(named: "stdin")?.direction == .input)
        #expect(result.entry.terminal(named: "out")?.connectedTo == [])
        #expect(result.entry.terminal(named: "in")?.connectedTo == ["c4"])
        #expect(result.entry.terminal(named: "log")?.connectedTo == [])
        #expect(try book.entry(id: id) == result.entry)
        #expect(book.count == 2)
        #expect(book.revision == revision + 1)
        #expect(book.changes(since: revision) == [Change(revision: revision + 1, kind: .updated, id: id)])

        // A terminal left out of the update is gone; its connections with it.
        let dropped = try book.register(registration(name, terminals: [terminal("log", .fanout)]), by: alice, session: nil, now: at(4 * second))
        #expect(dropped.entry.terminals.map(\.name) == ["log"])
        #expect(dropped.entry.session == false)
        #expect(dropped.entry.serial == before.serial)
    }

    @Test("the serial is never reused, even after the entry is removed and registered again")
    func serialNotReused() throws {
        var (book, id) = try bookWithOneEntry()
        try book.unregister(id: id, by: alice, now: at(0))
        let again = try book.register(registration(try ServerName(parsing: id)), by: alice, session: nil, now: at(second))
        #expect(again.created)
        #expect(again.entry.serial == 2)
        #expect(again.entry.registeredAt == at(second).wallMilliseconds)
    }

    // MARK: Authorization

    enum Operation: String, CaseIterable, Sendable {
        case register, unregister, heartbeat, markInUse, markAvailable, markAvailableOne

        func perform(on book: inout GuestBook, id: String, by caller: Caller) throws {
            switch self {
            case .register:
                try book.register(
                    registration(try ServerName(parsing: id), terminals: [terminal("stdin")]), by: caller, session: nil,
                    now: at(second))
            case .unregister: try book.unregister(id: id, by: caller, now: at(0))
            case .heartbeat: try book.heartbeat(id: id, by: caller, now: at(second))
            case .markInUse: try book.markInUse(id: id, terminal: "out", connectomeID: "new", by: caller)
            case .markAvailable: try book.markAvailable(id: id, terminal: "stdin", by: caller)
            case .markAvailableOne: try book.markAvailable(id: id, terminal: "out", connectomeID: "c2", by: caller)
            }
        }
    }

    /// A book where alice's entry has connections on `stdin` and `out`, so that every operation would change it.
    private func busyBook() throws -> (GuestBook, String) {
        var (book, id) = try bookWithOneEntry()
        try book.markInUse(id: id, terminal: "stdin", connectomeID: "c1", by: alice)
        try book.markInUse(id: id, terminal: "out", connectomeID: "c2", by: alice)
        return (book, id)
    }

    @Test("a caller whose owner names lack the owner is forbidden and nothing changes", arguments: Operation.allCases)
    func forbidden(operation: Operation) throws {
        var (book, id) = try busyBook()
        let before = snapshot(book)
        for caller in [bob, Caller(uid: 1002, ownerNames: []), Caller(uid: 1003, ownerNames: ["Alice", "alice2"])] {
            let error = hostessError { try operation.perform(on: &book, id: id, by: caller) }
            #expect(error?.code == .forbidden)
            #expect(error?.field == "owner")
            expectUnchanged(book, before)
        }
        // The deadline did not move either: a forbidden heartbeat does not keep the entry alive.
        #expect(book.evictExpired(now: at(ttl + 1)).map(\.id) == [id])
    }

    @Test("registering a new entry under someone else's owner is forbidden")
    func forbiddenNewEntry() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let error = hostessError { try book.register(registration(try serverName(1)), by: bob, session: nil, now: at(0)) }
        #expect(error?.code == .forbidden)
        #expect(book.count == 0)
        #expect(book.revision == 0)
        // The next successful registration still gets serial 1.
        #expect(try book.register(registration(try serverName(1)), by: alice, session: nil, now: at(0)).entry.serial == 1)
    }

    @Test(
        "root and callers mapped to the owner may act on the entry",
        arguments: Operation.allCases, [root, Caller.daemon, Caller(uid: 0, ownerNames: ["bob"]), Caller(uid: 1005, ownerNames: ["svc", "alice"])])
    func permitted(operation: Operation, caller: Caller) throws {
        var (book, id) = try busyBook()
        let revision = book.revision
        try operation.perform(on: &book, id: id, by: caller)
        if operation == .heartbeat {
            #expect(book.revision == revision)
        } else {
            #expect(book.revision == revision + 1)
        }
    }

    // MARK: Not found

    @Test("operations on an unknown id fail with not_found naming serverId", arguments: [Operation.unregister, .heartbeat, .markInUse, .markAvailable, .markAvailableOne])
    func unknownID(operation: Operation) throws {
        var (book, _) = try busyBook()
        let before = snapshot(book)
        for caller in [alice, root] {
            let error = hostessError { try operation.perform(on: &book, id: try serverName(99).description, by: caller) }
            #expect(error?.code == .notFound)
            #expect(error?.field == "serverId")
            expectUnchanged(book, before)
        }
        #expect(throws: HostessError(.notFound, "no server 'nope' in the guest book", field: "serverId")) {
            _ = try book.entry(id: "nope")
        }
    }

    @Test("marking an unknown terminal fails with not_found naming the terminal")
    func unknownTerminal() throws {
        var (book, id) = try busyBook()
        let before = snapshot(book)
        let inUse = hostessError { try book.markInUse(id: id, terminal: "stdout", connectomeID: "c9", by: alice) }
        #expect(inUse?.code == .notFound)
        #expect(inUse?.field == "terminal")
        #expect(inUse?.message.contains("stdin, out, in") == true)
        let available = hostessError { try book.markAvailable(id: id, terminal: "stdout", by: alice) }
        #expect(available?.code == .notFound)
        #expect(available?.field == "terminal")
        expectUnchanged(book, before)
    }

    // MARK: Heartbeat

    @Test("a heartbeat moves lastHeartbeat and the deadline but not the revision")
    func heartbeat() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let beating = try serverName(1).description
        let silent = try serverName(2).description
        try book.register(registration(try ServerName(parsing: beating)), by: alice, session: nil, now: at(0))
        try book.register(registration(try ServerName(parsing: silent)), by: alice, session: nil, now: at(0))
        let revision = book.revision

        let entry = try book.heartbeat(id: beating, by: alice, now: at(800_000_000))
        #expect(entry.lastHeartbeat == at(800_000_000).wallMilliseconds)
        #expect(entry.registeredAt == at(0).wallMilliseconds)
        #expect(try book.entry(id: beating).lastHeartbeat == at(800_000_000).wallMilliseconds)
        #expect(book.revision == revision)
        #expect(book.changes(since: revision) == [])

        // Without the heartbeat the deadline would be 1 s; with it, 1.8 s.
        #expect(book.evictExpired(now: at(1_500_000_000)).map(\.id) == [silent])
        #expect(book.evictExpired(now: at(1_800_000_000)).isEmpty)
        #expect(book.evictExpired(now: at(1_800_000_001)).map(\.id) == [beating])
        #expect(book.count == 0)
    }

    // MARK: Terminals

    @Test("a none terminal refuses a second, different connectome and stays as it was")
    func noneConflict() throws {
        var (book, id) = try bookWithOneEntry()
        let marked = try book.markInUse(id: id, terminal: "stdin", connectomeID: "c1", by: alice)
        #expect(marked.terminal(named: "stdin")?.connectedTo == ["c1"])
        #expect(marked.terminal(named: "stdin")?.inUse == true)
        #expect(marked.availableTerminalCount == 2)
        #expect(book.revision == 2)
        let before = snapshot(book)

        let error = hostessError { try book.markInUse(id: id, terminal: "stdin", connectomeID: "c2", by: alice) }
        #expect(error?.code == .conflict)
        #expect(error?.field == "terminal")
        #expect(error?.message.contains("c1") == true)
        expectUnchanged(book, before)
        #expect(try book.entry(id: id).terminal(named: "stdin")?.connectedTo == ["c1"])
    }

    @Test("marking the same connectome twice is idempotent: no revision bump", arguments: ["stdin", "out", "in"])
    func idempotentMark(terminalName: String) throws {
        var (book, id) = try bookWithOneEntry()
        try book.markInUse(id: id, terminal: terminalName, connectomeID: "c1", by: alice)
        let before = snapshot(book)
        let again = try book.markInUse(id: id, terminal: terminalName, connectomeID: "c1", by: alice)
        #expect(again.terminal(named: terminalName)?.connectedTo == ["c1"])
        expectUnchanged(book, before)
    }

    @Test("fanout and fanin terminals take up to Limits.connectionsPerTerminal connections, then too_large", arguments: ["out", "in"])
    func manyConnections(terminalName: String) throws {
        var (book, id) = try bookWithOneEntry()
        let ids = (0..<Limits.connectionsPerTerminal).map { "connectome-\($0)" }
        for (position, connectome) in ids.enumerated() {
            let entry = try book.markInUse(id: id, terminal: terminalName, connectomeID: connectome, by: alice)
            #expect(entry.terminal(named: terminalName)?.connectedTo == Array(ids[...position]))
        }
        #expect(book.revision == 1 + UInt64(Limits.connectionsPerTerminal))
        let before = snapshot(book)
        let error = hostessError { try book.markInUse(id: id, terminal: terminalName, connectomeID: "one-more", by: alice) }
        #expect(error?.code == .tooLarge)
        #expect(error?.field == "terminal")
        expectUnchanged(book, before)
        // A connectome that is already recorded is still idempotent when the terminal is full.
        try book.markInUse(id: id, terminal: terminalName, connectomeID: ids[3], by: alice)
        expectUnchanged(book, before)
    }

    @Test("connectome ids must be 1 to 64 printable bytes without spaces", arguments: ["", "has space", "tab\t", "caf\u{e9}", String(repeating: "x", count: Limits.connectomeIDBytes + 1)])
    func badConnectomeID(connectome: String) throws {
        var (book, id) = try bookWithOneEntry()
        let before = snapshot(book)
        let error = hostessError { try book.markInUse(id: id, terminal: "out", connectomeID: connectome, by: alice) }
        #expect(error?.code == .badRequest)
        #expect(error?.field == "connectomeId")
        expectUnchanged(book, before)
        let longest = String(repeating: "x", count: Limits.connectomeIDBytes)
        #expect(try book.markInUse(id: id, terminal: "out", connectomeID: longest, by: alice).terminal(named: "out")?.connectedTo == [longest])
    }

    @Test("markAvailable clears every connection, or only the one named")
    func markAvailable() throws {
        var (book, id) = try bookWithOneEntry()
        for connectome in ["c1", "c2", "c3"] { try book.markInUse(id: id, terminal: "out", connectomeID: connectome, by: alice) }
        try book.markInUse(id: id, terminal: "stdin", connectomeID: "s1", by: alice)
        var revision = book.revision

        let one = try book.markAvailable(id: id, terminal: "out", connectomeID: "c2", by: alice)
        #expect(one.terminal(named: "out")?.connectedTo == ["c1", "c3"])
        #expect(one.terminal(named: "stdin")?.connectedTo == ["s1"])
        #expect(book.revision == revision + 1)
        #expect(book.changes(since: revision) == [Change(revision: revision + 1, kind: .terminals, id: id)])
        revision = book.revision

        // A connectome that is not there changes nothing.
        let before = snapshot(book)
        try book.markAvailable(id: id, terminal: "out", connectomeID: "c2", by: alice)
        try book.markAvailable(id: id, terminal: "in", by: alice)
        expectUnchanged(book, before)

        let all = try book.markAvailable(id: id, terminal: "out", by: alice)
        #expect(all.terminal(named: "out")?.connectedTo == [])
        #expect(all.terminal(named: "out")?.inUse == false)
        #expect(all.terminal(named: "stdin")?.connectedTo == ["s1"])
        #expect(book.revision == revision + 1)

        // The none terminal, once available, takes a different connectome.
        try book.markAvailable(id: id, terminal: "stdin", connectomeID: "s1", by: alice)
        #expect(try book.markInUse(id: id, terminal: "stdin", connectomeID: "s2", by: alice).terminal(named: "stdin")?.connectedTo == ["s2"])
    }

    // MARK: Wire form

    @Test("the wire form a query answers from is the entry's JSON byte for byte, after heartbeats, even when terminals and metadata carry a lastHeartbeat of their own")
    func wireForm() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let decoy: JSONObject = ["lastHeartbeat": 7, "note": "\"lastHeartbeat\":9 {[", "nested": ["lastHeartbeat": [1, 2]]]
        var stdin = try terminal("stdin")
        stdin.metadata = decoy
        let names = try (1...3).map { try serverName($0) }
        try book.register(registration(names[0], terminals: [stdin], metadata: decoy), by: alice, session: nil, now: at(0))
        try book.register(registration(names[1]), by: alice, session: nil, now: at(0))
        try book.register(registration(names[2], terminals: [try terminal("out", .fanout)]), by: alice, session: nil, now: at(0))
        for step in 1...3 {
            for name in names.prefix(2) { try book.heartbeat(id: name.description, by: alice, now: at(UInt64(step) * second / 10)) }
        }
        _ = try book.markInUse(id: names[2].description, terminal: "out", connectomeID: "c", by: alice)
        for entry in book.all() {
            var wire: [UInt8] = []
            book.writeWire(of: entry, into: &wire)
            #expect(wire == entry.json.jsonBytes, "\(entry.id)")
        }
    }

    // MARK: Eviction

    @Test("evictExpired removes exactly the entries whose deadline has passed, one revision each")
    func eviction() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let ids = try (1...3).map { try serverName($0).description }
        try book.register(registration(try ServerName(parsing: ids[0])), by: alice, session: nil, now: at(0))
        try book.register(registration(try ServerName(parsing: ids[1])), by: alice, session: nil, now: at(second / 2))
        try book.register(registration(try ServerName(parsing: ids[2])), by: alice, session: nil, now: at(second))
        #expect(book.revision == 3)

        #expect(book.evictExpired(now: at(ttl)).isEmpty, "a deadline that is now has not passed")
        #expect(book.revision == 3)
        #expect(book.evictExpired(now: at(ttl + 1)).map(\.id) == [ids[0]])
        #expect(book.revision == 4)
        #expect(book.changes(since: 3) == [Change(revision: 4, kind: .evicted, id: ids[0])])
        #expect(book.all().map(\.id) == [ids[1], ids[2]])
        #expect(book.evictExpired(now: at(ttl + second / 2)).isEmpty)
        #expect(book.evictExpired(now: at(ttl + second / 2 + 1)).map(\.id) == [ids[1]])
        #expect(book.all().map(\.id) == [ids[2]])
        #expect(book.revision == 5)
    }

    @Test("eviction follows the latest deadline of each entry through thousands of heartbeats, re-registrations and removals")
    func evictionAfterManyHeartbeats() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let ids = try (1...200).map { try serverName($0).description }
        for id in ids { try book.register(registration(try ServerName(parsing: id)), by: alice, session: nil, now: at(0)) }
        // The even ones heartbeat 40 times each (4,000 deadlines queued, most of them stale), the last at 0.4 s;
        // one odd one is unregistered and registered again at 0.5 s, one removed for good.
        for round in 1...40 {
            for id in ids.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
                try book.heartbeat(id: id, by: alice, now: at(UInt64(round) * second / 100))
            }
        }
        try book.unregister(id: ids[1], by: alice, now: at(second / 4))
        try book.register(registration(try ServerName(parsing: ids[1])), by: alice, session: nil, now: at(second / 2))
        try book.unregister(id: ids[3], by: alice, now: at(second / 4))
        let odd = Set(ids.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)).subtracting([ids[1], ids[3]])
        #expect(Set(book.evictExpired(now: at(ttl + 1)).map(\.id)) == odd, "the odd ones that never heartbeat, once each")
        #expect(book.evictExpired(now: at(ttl + 1)).isEmpty)
        let even = Set(ids.enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        let evens = book.evictExpired(now: at(ttl + 4 * second / 10 + 1)).map(\.id)
        #expect(evens.count == even.count && Set(evens) == even, "their last heartbeat, at 0.4 s, counts")
        let last = book.evictExpired(now: at(ttl + second / 2 + 1)).map(\.id)
        #expect(last == [ids[1]], "re-registered: its new deadline counts")
        #expect(book.count == 0)
    }

    @Test("evicting several entries at once bumps the revision once per entry, in registration order")
    func evictionOfMany() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let ids = try (1...5).map { try serverName($0).description }
        for (position, id) in ids.enumerated() {
            try book.register(registration(try ServerName(parsing: id)), by: alice, session: nil, now: at(UInt64(position) * 10))
        }
        try book.heartbeat(id: ids[2], by: alice, now: at(second))
        let evicted = book.evictExpired(now: at(2 * second))
        #expect(Set(evicted.map(\.id)) == Set([ids[0], ids[1], ids[3], ids[4]]))
        #expect(book.revision == 5 + 4)
        #expect(
            book.changes(since: 5)
                == [ids[0], ids[1], ids[3], ids[4]].enumerated().map { Change(revision: 6 + UInt64($0.offset), kind: .evicted, id: $0.element) })
        #expect(book.all().map(\.id) == [ids[2]])
        #expect(throws: HostessError.self) { _ = try book.entry(id: ids[0]) }
    }

    // MARK: Sessions

    @Test("endSession removes only the entries bound to that connection")
    func endSession() throws {
        var book = GuestBook(ttlNanoseconds: ttl)
        let ids = try (1...5).map { try serverName($0).description }
        let sessions: [UInt64?] = [7, 8, 7, nil, 7]
        for (id, session) in zip(ids, sessions) {
            try book.register(registration(try ServerName(parsing: id)), by: alice, session: session, now: at(0))
        }
        // Re-registering without a session unbinds the entry.
        try book.register(registration(try ServerName(parsing: ids[4])), by: alice, session: nil, now: at(0))
        #expect(try book.entry(id: ids[4]).session == false)
        let revision = book.revision

        #expect(book.endSession(connection: 99, now: at(0)).isEmpty)
        #expect(book.revision == revision)

        let ended = book.endSession(connection: 7, now: at(0))
        #expect(Set(ended.map(\.id)) == Set([ids[0], ids[2]]))
        #expect(ended.allSatisfy { $0.session })
        #expect(book.all().map(\.id) == [ids[1], ids[3], ids[4]])
        #expect(
            book.changes(since: revision)
                == [Change(revision: revision + 1, kind: .sessionEnded, id: ids[0]), Change(revision: revision + 2, kind: .sessionEnded, id: ids[2])])
        #expect(book.endSession(connection: 7, now: at(0)).isEmpty)
    }

    // MARK: Change log

    @Test("changes(since:) returns the exact changes, and nil once the log no longer reaches back")
    func changeLog() throws {
        var book = GuestBook(ttlNanoseconds: ttl, changeLogCapacity: 4)
        let name = try serverName(1)
        let id = name.description
        try book.register(registration(name, terminals: [terminal("out", .fanout)]), by: alice, session: nil, now: at(0))  // 1
        try book.markInUse(id: id, terminal: "out", connectomeID: "c1", by: alice)  // 2
        try book.register(registration(name, terminals: [terminal("out", .fanout)]), by: alice, session: nil, now: at(1))  // 3
        let expected = [
            Change(revision: 1, kind: .registered, id: id), Change(revision: 2, kind: .terminals, id: id),
            Change(revision: 3, kind: .updated, id: id),
        ]
        #expect(book.changes(since: 0) == expected, "the log still reaches back to the start")
        #expect(book.changes(since: 1) == Array(expected[1...]))
        #expect(book.changes(since: 3) == [])
        #expect(book.changes(since: 10) == [])

        try book.markAvailable(id: id, terminal: "out", by: alice)  // 4
        try book.unregister(id: id, by: alice, now: at(0))  // 5
        let other = try serverName(2).description
        try book.register(registration(try ServerName(parsing: other)), by: alice, session: 3, now: at(2))  // 6
        _ = book.endSession(connection: 3, now: at(0))  // 7
        #expect(book.revision == 7)
        let tail = [
            Change(revision: 4, kind: .terminals, id: id), Change(revision: 5, kind: .unregistered, id: id),
            Change(revision: 6, kind: .registered, id: other), Change(revision: 7, kind: .sessionEnded, id: other),
        ]
        #expect(book.changes(since: 3) == tail)
        #expect(book.changes(since: 5) == Array(tail[2...]))
        #expect(book.changes(since: 6) == [tail[3]])
        #expect(book.changes(since: 7) == [])
        #expect(book.changes(since: 2) == nil)
        #expect(book.changes(since: 0) == nil)
    }

    @Test("the change log wraps around many times and stays exact", arguments: [1, 2, 3, 4, 7])
    func changeLogWraps(capacity: Int) throws {
        var book = GuestBook(ttlNanoseconds: ttl, changeLogCapacity: capacity)
        let name = try serverName(1)
        try book.register(registration(name, terminals: [terminal("out", .fanout)]), by: alice, session: nil, now: at(0))
        for round in 0..<25 {
            try book.markInUse(id: name.description, terminal: "out", connectomeID: "c\(round)", by: alice)
            try book.markAvailable(id: name.description, terminal: "out", by: alice)
        }
        let revision = book.revision
        #expect(revision == 51)
        for since in 0...revision {
            let changes = book.changes(since: since)
            if since + UInt64(capacity) >= revision {
                let expected: [UInt64] = since == revision ? [] : Array((since + 1)...revision)
                #expect(changes?.map(\.revision) == expected, "since \(since)")
            } else {
                #expect(changes == nil, "since \(since)")
            }
        }
    }

    // MARK: Query

    /// term: host-a pty-server 0x0001 alice [pty, vt100], terminals stdin (in use) and stdout.
    /// term2: host-b pty-server 0x0001 bob [pty], terminals stdin and stdout, both free.
    /// db: host-a db-server 0x0002 alice [sql, vt100], no terminals.
    /// web: 10.0.0.1 web 0x0003 carol [], fanin http with two connections.
    private static func queryBook() throws -> (GuestBook, [String: String]) {
        var book = GuestBook(ttlNanoseconds: ttl)
        var ids: [String: String] = [:]
        func add(_ key: String, _ name: ServerName, _ terminals: [Terminal], _ capabilities: [String]) throws {
            try book.register(registration(name, terminals: terminals, capabilities: capabilities), by: root, session: nil, now: at(0))
            ids[key] = name.description
        }
        try add("term", serverName(1, owner: "alice", fqdn: "host-a"), [terminal("stdin"), terminal("stdout")], ["pty", "vt100"])
        try add("term2", serverName(2, owner: "bob", fqdn: "host-b"), [terminal("stdin"), terminal("stdout")], ["pty"])
        try add("db", serverName(3, owner: "alice", fqdn: "host-a", servername: "db-server", classCode: 2), [], ["sql", "vt100"])
        try add("web", serverName(4, owner: "carol", fqdn: "10.0.0.1", servername: "web", classCode: 3), [terminal("http", .fanin)], [])
        try book.markInUse(id: ids["term"]!, terminal: "stdin", connectomeID: "x", by: root)
        try book.markInUse(id: ids["web"]!, terminal: "http", connectomeID: "y", by: root)
        try book.markInUse(id: ids["web"]!, terminal: "http", connectomeID: "z", by: root)
        return (book, ids)
    }

    static let queries: [(ServerFilter, [String])] = [
        (ServerFilter(), ["term", "term2", "db", "web"]),
        (ServerFilter(classCode: ClassCode(1)), ["term", "term2"]),
        (ServerFilter(classCode: ClassCode(2)), ["db"]),
        (ServerFilter(classCode: ClassCode(9)), []),
        (ServerFilter(fqdn: "host-a"), ["term", "db"]),
        (ServerFilter(fqdn: "10.0.0.1"), ["web"]),
        (ServerFilter(fqdn: "HOST-A"), []),
        (ServerFilter(servername: "pty-server"), ["term", "term2"]),
        (ServerFilter(servername: "db-server"), ["db"]),
        (ServerFilter(servername: "pty"), []),
        (ServerFilter(owner: "alice"), ["term", "db"]),
        (ServerFilter(owner: "bob"), ["term2"]),
        (ServerFilter(owner: "dave"), []),
        (ServerFilter(capabilities: ["pty"]), ["term", "term2"]),
        (ServerFilter(capabilities: ["vt100"]), ["term", "db"]),
        (ServerFilter(capabilities: ["pty", "vt100"]), ["term"]),
        (ServerFilter(capabilities: ["vt100", "pty"]), ["term"]),
        (ServerFilter(capabilities: ["pty", "sql"]), []),
        (ServerFilter(capabilities: ["nope"]), []),
        (ServerFilter(availableTerminals: 0), ["term", "term2", "db", "web"]),
        (ServerFilter(availableTerminals: 1), ["term", "term2"]),
        (ServerFilter(availableTerminals: 2), ["term2"]),
        (ServerFilter(availableTerminals: 3), []),
        (ServerFilter(classCode: ClassCode(1), owner: "alice"), ["term"]),
        (ServerFilter(fqdn: "host-a", capabilities: ["sql"]), ["db"]),
        (ServerFilter(fqdn: "host-a", servername: "pty-server", classCode: ClassCode(1), owner: "alice", capabilities: ["pty"], availableTerminals: 1), ["term"]),
        (ServerFilter(fqdn: "host-a", servername: "pty-server", classCode: ClassCode(1), owner: "alice", capabilities: ["pty"], availableTerminals: 2), []),
    ]

    @Test("query returns the entries matching every criterion, in registration order", arguments: queries)
    func query(filter: ServerFilter, expected: [String]) throws {
        let (book, ids) = try Self.queryBook()
        let result = book.query(filter)
        #expect(result.map(\.id) == expected.map { ids[$0]! })
        #expect(result.allSatisfy(filter.matches))
        #expect(book.all().filter(filter.matches).map(\.id) == result.map(\.id))
    }

    // MARK: Payload bytes

    @Test("the payload bytes count each entry's wire form, and an id past Limits.inlineNameBytes once more; removal gives them back")
    func payloadBytesCountLongIDs() throws {
        let short = try serverName(1)
        let long = try serverName(2, fqdn: String(repeating: "node.", count: 20) + "example")
        #expect(short.description.utf8.count <= Limits.inlineNameBytes)
        #expect(long.description.utf8.count > Limits.inlineNameBytes)
        var unlimited = GuestBook(ttlNanoseconds: ttl)
        try unlimited.register(registration(short), by: alice, session: nil, now: at(0))
        let shortBytes = unlimited.payloadBytes
        #expect(shortBytes == GuestBook.payloadSize(of: try unlimited.entry(id: short.description)))
        #expect(shortBytes == (unlimited.payload(id: short.description)?.count ?? -1))
        try unlimited.register(registration(long), by: alice, session: nil, now: at(0))
        let longWire = try #require(unlimited.payload(id: long.description)).count
        #expect(unlimited.payloadBytes == shortBytes + longWire + long.description.utf8.count)
        // A book with room for the two wire forms but not for the long id beside them refuses the second entry.
        var book = GuestBook(
            ttlNanoseconds: ttl, capacity: GuestBook.Capacity(entries: 10, payloadBytes: shortBytes + longWire, capabilities: 10))
        try book.register(registration(short), by: alice, session: nil, now: at(0))
        let before = snapshot(book)
        let second = try registration(long)
        do throws(HostessError) {
            try book.register(second, by: alice, session: nil, now: at(0))
            Issue.record("the long id was not counted")
        } catch {
            #expect(error.code == .capacity)
        }
        expectUnchanged(book, before)
        try unlimited.unregister(id: long.description, by: alice, now: at(0))
        #expect(unlimited.payloadBytes == shortBytes)
    }

    @Test("the largest entry the limits allow has a wire form well within Limits.entryWireBytes, the bound readers size buffers by")
    func largestEntryFitsTheWireBound() throws {
        func padded(_ prefix: String, to count: Int) -> String { prefix + String(repeating: "x", count: count - prefix.utf8.count) }
        /// A metadata object whose compact JSON is exactly `bytes` long.
        func metadata(bytes: Int) throws -> JSONObject {
            guard case .object(let object) = try JSONParser.parse(#"{"k":""# + String(repeating: "m", count: bytes - 8) + #""}"#) else {
                throw HostessError(.badRequest, "not an object")
            }
            return object
        }
        let fqdn = (0..<4).map { padded("l\($0)", to: 62) }.joined(separator: ".")
        var extensions: [String] = []
        var name = try ServerName(
            fqdn: fqdn, servername: padded("s", to: Limits.tokenBytes), classCode: ClassCode(0xFFFF), owner: padded("o", to: Limits.tokenBytes),
            authentication: .optional, authMechanism: padded("a", to: Limits.tokenBytes), uuid: uuid(1))
        while extensions.count < Limits.extensions, name.description.utf8.count + 2 <= Limits.nameBytes {
            let room = Limits.nameBytes - name.description.utf8.count - 1
            extensions.append(padded("e\(extensions.count)", to: min(Limits.tokenBytes, room)))
            name = try ServerName(
                fqdn: name.fqdn, servername: name.servername, classCode: name.classCode, owner: name.owner, authentication: name.authentication,
                authMechanism: name.authMechanism, uuid: name.uuid, extensions: extensions)
        }
        let terminals = try (0..<Limits.terminals).map { number in
            var terminal = try Terminal(
                name: padded("t\(number)", to: Limits.tokenBytes), direction: .bidirectional, multiplexing: .fanout,
                protocol: padded("p", to: Limits.tokenBytes))
            terminal.metadata = try metadata(bytes: Limits.terminalMetadataBytes)
            return terminal
        }
        let capabilities = (0..<Limits.capabilities).map { padded("c\($0)", to: Limits.tokenBytes) }
        var book = GuestBook(ttlNanoseconds: ttl)
        try book.register(
            try Registration(name: name, terminals: terminals, capabilities: capabilities, metadata: try metadata(bytes: Limits.metadataBytes)),
            by: root, session: 1, now: at(0))
        for terminal in terminals {
            for connection in 0..<Limits.connectionsPerTerminal {
                try book.markInUse(
                    id: name.description, terminal: terminal.name, connectomeID: padded("c\(connection)-", to: Limits.connectomeIDBytes), by: root)
            }
        }
        let wire = try #require(book.payload(id: name.description))
        // A holder's reservation id (at most a connectome id's length) and a 20-digit serial would add under 128 bytes.
        #expect(wire.count + 128 <= Limits.entryWireBytes, "the largest entry is \(wire.count) bytes")
        #expect(wire.count > Limits.entryWireBytes / 2, "the test builds a large entry: \(wire.count) bytes")
    }

    // MARK: Capability names

    @Test("a capability name no entry carries any more is freed: the limit counts names carried now")
    func capabilityNamesAreFreed() throws {
        var book = GuestBook(ttlNanoseconds: ttl, capacity: GuestBook.Capacity(entries: 10, payloadBytes: .max, capabilities: 4))
        let first = try serverName(1)
        try book.register(registration(first, capabilities: ["a", "b", "c", "d"]), by: alice, session: nil, now: at(0))
        #expect(book.capabilitiesInUse == 4)
        let before = snapshot(book)
        #expect(throws: HostessError.self) {
            try book.register(registration(try serverName(2), capabilities: ["e"]), by: alice, session: nil, now: at(0))
        }
        expectUnchanged(book, before)
        // An update may swap a name at the limit: the name it drops is freed.
        try book.register(registration(first, capabilities: ["a", "b", "c", "e"]), by: alice, session: nil, now: at(0))
        #expect(book.capabilitiesInUse == 4)
        // Names another entry shares cost nothing.
        try book.register(registration(try serverName(2, owner: "bob"), capabilities: ["a", "e"]), by: bob, session: nil, now: at(0))
        try book.unregister(id: first.description, by: alice, now: at(0))
        #expect(book.capabilitiesInUse == 2)
        try book.register(registration(try serverName(3), capabilities: ["f", "g"]), by: alice, session: nil, now: at(0))
        #expect(book.capabilitiesInUse == 4)
        // Evictions free names too.
        _ = book.evictExpired(now: at(2 * ttl))
        #expect(book.capabilitiesInUse == 0)
    }

    @Test("one uid's entries may carry at most capabilitiesPerUID distinct names; shared ones count once; root is exempt")
    func capabilitiesPerUID() throws {
        var book = GuestBook(
            ttlNanoseconds: ttl, capacity: GuestBook.Capacity(entries: 10, payloadBytes: .max, capabilities: 100, capabilitiesPerUID: 3))
        let one = try serverName(1)
        try book.register(registration(one, capabilities: ["a", "b"]), by: alice, session: nil, now: at(0))
        try book.register(registration(try serverName(2), capabilities: ["b", "c"]), by: alice, session: nil, now: at(0))
        let before = snapshot(book)
        let fourth = try registration(try serverName(3), capabilities: ["d"])
        do throws(HostessError) {
            try book.register(fourth, by: alice, session: nil, now: at(0))
            Issue.record("a fourth name was admitted")
        } catch {
            #expect(error.code == .capacity)
            #expect(error.field == "capabilities")
            #expect(error.message.contains("uid 1000's entries would carry 4 distinct capability names"), "\(error.message)")
            #expect(error.message.contains("at most 3 (hostessd --max-capabilities-per-uid)"), "\(error.message)")
        }
        expectUnchanged(book, before)
        // Other users have their own allowance; root has none.
        try book.register(registration(try serverName(4, owner: "bob"), capabilities: ["x", "y", "z"]), by: bob, session: nil, now: at(0))
        try book.register(registration(try serverName(5, owner: "carol"), capabilities: ["p", "q", "r", "s", "t"]), by: root, session: nil, now: at(0))
        // Dropping an entry gives its names back.
        try book.unregister(id: one.description, by: alice, now: at(0))
        try book.register(registration(try serverName(3), capabilities: ["d"]), by: alice, session: nil, now: at(0))
        // Remote callers count per signing key.
        let keyA = Caller(uid: UInt32.max, ownerNames: ["alice"], key: "a")
        let keyB = Caller(uid: UInt32.max, ownerNames: ["alice"], key: "b")
        try book.register(registration(try serverName(6), capabilities: ["k1", "k2", "k3"]), by: keyA, session: nil, now: at(0))
        try book.register(registration(try serverName(7), capabilities: ["k4", "k5", "k6"]), by: keyB, session: nil, now: at(0))
        #expect(throws: HostessError.self) {
            try book.register(registration(try serverName(8), capabilities: ["k7"]), by: keyA, session: nil, now: at(0))
        }
    }
}

