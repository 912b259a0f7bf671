@testable import HostessModel
import Testing

// MARK: - Fixtures

private let second: UInt64 = 1_000_000_000

private func at(_ nanoseconds: UInt64) -> Timestamp {
    Timestamp(wallMilliseconds: 1_700_000_000_000 + Int64(nanoseconds / 1_000_000), monotonicNanoseconds: nanoseconds)
}

/// A reproducible generator (SplitMix64), so a failure names its seed and replays.
private struct Generator {
    var state: UInt64
    mutating func below(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

private func name(_ number: Int, servername: String, classCode: UInt16, owner: String, fqdn: String) throws -> ServerName {
    let digits = String(number, radix: 16)
    return try ServerName(
        fqdn: fqdn, servername: servername, classCode: ClassCode(classCode), owner: owner, authentication: .no, authMechanism: "none",
        uuid: "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits)
}

/// What a query must return: every entry, filtered one by one, in registration order.
private func bruteForce(_ book: GuestBook, _ filter: ServerFilter) -> [String] {
    if let ids = filter.serverIDs {
        return ids.compactMap { try? book.entry(id: $0) }.filter(filter.matches).sorted { $0.serial < $1.serial }.map(\.id)
    }
    return book.all().filter(filter.matches).map(\.id)
}

// MARK: - Tests

@Suite("GuestBook queries: summaries scanned in order, records read only for what they cannot settle")
struct GuestBookQueryTests {
    /// Capability names: more than the 63 exact bits of a summary's mask, so some share the overflow bit.
    static let capabilityPool = (0..<80).map { "cap-\($0)" }

    @Test("a query equals filtering every entry, through registrations, updates, marks, holds and removals", arguments: [1, 2, 3, 4] as [UInt64])
    func agreesWithBruteForce(seed: UInt64) throws {
        var generator = Generator(state: seed)
        var book = GuestBook(ttlNanoseconds: 3_600 * second)
        var ids: [String] = []
        var reservationNumber = 0
        for step in 0..<300 {
            let now = at(UInt64(step) * 1_000_000)
            switch ids.isEmpty ? 0 : generator.below(10) {
            case 0...3:
                // Register a new entry or re-register one with other capabilities.
                let number = ids.isEmpty || generator.below(3) > 0 ? step : -1
                let entryName = number >= 0
                    ? try name(number, servername: "srv-\(generator.below(3))", classCode: UInt16(generator.below(4)), owner: "root", fqdn: ["a.local", "b.local"][generator.below(2)])
                    : try ServerName(parsing: ids[generator.below(ids.count)])
                let capabilities = (0..<generator.below(6)).map { _ in Self.capabilityPool[generator.below(Self.capabilityPool.count)] }
                let terminals = try (0..<generator.below(3)).map { try Terminal(name: "t\($0)", direction: .bidirectional, multiplexing: .none) }
                let registration = try Registration(
                    name: entryName, terminals: terminals, capabilities: Array(Set(capabilities)).sorted(), metadata: JSONObject())
                let (entry, created) = try book.register(registration, by: .daemon, session: nil, now: now)
                if created { ids.append(entry.id) }
            case 4:
                let id = ids.remove(at: generator.below(ids.count))
                try book.unregister(id: id, by: .daemon, now: now)
            case 5, 6:
                let id = ids[generator.below(ids.count)]
                guard let terminal = try book.entry(id: id).terminals.first else { continue }
                if terminal.inUse {
                    try book.markAvailable(id: id, terminal: terminal.name, by: .daemon)
                } else {
                    try book.markInUse(id: id, terminal: terminal.name, connectomeID: "c\(step)", by: .daemon)
                }
            case 7:
                reservationNumber += 1
                let id = ids[generator.below(ids.count)]
                _ = try? book.reserve(
                    ReservationRequest(filter: ServerFilter(serverIDs: [id]), count: 1, duration: 60_000), id: "r\(reservationNumber)",
                    by: .daemon, session: nil, now: now)
            default:
                try book.heartbeat(id: ids[generator.below(ids.count)], by: .daemon, now: now)
            }
            let filters = [
                ServerFilter(),
                ServerFilter(classCode: ClassCode(UInt16(generator.below(4)))),
                ServerFilter(capabilities: [Self.capabilityPool[generator.below(Self.capabilityPool.count)]]),
                ServerFilter(
                    classCode: ClassCode(UInt16(generator.below(4))),
                    capabilities: [Self.capabilityPool[generator.below(8)], Self.capabilityPool[63 + generator.below(17)]]),
                ServerFilter(servername: "srv-\(generator.below(3))", availableTerminals: generator.below(3)),
                ServerFilter(fqdn: "b.local", owner: "root", unreserved: true),
                ServerFilter(capabilities: ["no-entry-carries-this"]),
                ServerFilter(availableTerminals: 1, serverIDs: ids.isEmpty ? [] : [ids[generator.below(ids.count)], "nope"]),
            ]
            for filter in filters {
                let expected = bruteForce(book, filter)
                #expect(book.query(filter).map(\.id) == expected, "seed \(seed), step \(step), filter \(filter.json)")
                #expect(book.list(filter).json == .array(expected.map { (try? book.entry(id: $0).json) ?? .null }), "seed \(seed), step \(step)")
            }
        }
        #expect(book.listAll().json == .array(book.all().map(\.json)))
    }

    @Test("a heartbeat is spliced into the kept wire form: the list writes what the entry's json gives")
    func heartbeatSpliced() throws {
        var book = GuestBook(ttlNanoseconds: 3_600 * second)
        let entryName = try name(1, servername: "srv", classCode: 1, owner: "root", fqdn: "a.local")
        let metadata: JSONObject = ["lastHeartbeat": .int(-5), "nested": .object(["lastHeartbeat": .string("\"lastHeartbeat\":1")])]
        try book.register(
            Registration(name: entryName, terminals: [], capabilities: [], metadata: metadata), by: .daemon, session: nil, now: at(0))
        for step in [1, 999, 123_456_789] as [UInt64] {
            try book.heartbeat(id: entryName.description, by: .daemon, now: at(step * 1_000_000_000))
            var bytes: [UInt8] = []
            book.listAll().write(into: &bytes)
            #expect(bytes == JSONValue.array([try book.entry(id: entryName.description).json]).jsonBytes)
        }
    }

    @Test("appendDecimal spells a number as String does", arguments: [0, 7, -7, 10, 1_700_000_000_000, Int64.max, Int64.min] as [Int64])
    func decimal(value: Int64) {
        var bytes: [UInt8] = []
        EntryList.Item.appendDecimal(value, to: &bytes)
        #expect(bytes == Array(String(value).utf8))
    }
}
