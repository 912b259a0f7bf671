import Foundation
import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import HostessTestSupport
import Testing

// Reservations (issue 6) against the real hostessd: over the socket, the CLI (also as user nobody), HTTP, the
// shared-memory region, and across a SIGKILL + adopting restart.

// MARK: - Helpers

private enum R {
    /// Registers `count` servers of `classCode` (owner root) and returns their ids in registration order.
    static func register(_ count: Int, classCode: String = "0x0001", on client: RawClient, prefix: String = "res") throws -> [String] {
        var ids: [String] = []
        for number in 0..<count {
            let id = Fixture.id(servername: "\(prefix)-\(number)", classCode: classCode)
            let reply = try client.request("register", ["entry": Fixture.entry(id: id)])
            guard reply.errorCode == nil else { throw TestFailure("register: \(reply)") }
            ids.append(id)
        }
        return ids
    }

    /// A `reservation` request object.
    static func body(
        count: Int, classCode: String? = "0x0001", duration: Int64? = nil, priority: Int? = nil, session: Bool? = nil, requestedBy: String? = nil
    ) -> JSONValue {
        var filter = JSONObject()
        if let classCode { filter["class"] = .string(classCode) }
        var object: JSONObject = ["serverFilter": .object(filter), "count": .int(Int64(count))]
        if let duration { object["duration"] = .int(duration) }
        if let priority { object["priority"] = .int(Int64(priority)) }
        if let session { object["session"] = .bool(session) }
        if let requestedBy { object["requestedBy"] = .string(requestedBy) }
        return .object(object)
    }

    /// Reserves and returns the reservation object, or throws with the reply.
    static func reserve(_ client: RawClient, _ body: JSONValue) throws -> JSONObject {
        let reply = try client.request("reserve", ["reservation": body])
        guard let reservation = reply.result?["reservation"]?.objectValue else { throw TestFailure("reserve: \(reply)") }
        return reservation
    }

    /// `getReservation`'s reservation object, or throws with the reply.
    static func get(_ client: RawClient, _ id: String) throws -> JSONObject {
        let reply = try client.request("getReservation", ["reservationId": .string(id)])
        guard let reservation = reply.result?["reservation"]?.objectValue else { throw TestFailure("getReservation: \(reply)") }
        return reservation
    }

    /// `listReservations`' array and the reply's revision.
    static func list(_ client: RawClient, status: String? = nil) throws -> (reservations: [JSONObject], revision: Int64) {
        let reply = try client.request("listReservations", status.map { ["status": .string($0)] } ?? [:])
        guard case .array(let items)? = reply.result?["reservations"], let revision = reply.revision else {
            throw TestFailure("listReservations: \(reply)")
        }
        return (items.compactMap(\.objectValue), revision)
    }

    /// The entry as the socket's `getServer` shows it.
    static func entry(_ client: RawClient, _ id: String) throws -> JSONObject {
        let reply = try client.request("getServer", ["serverId": .string(id)])
        guard let entry = reply.result?["entry"]?.objectValue else { throw TestFailure("getServer: \(reply)") }
        return entry
    }

    /// The guest book's revision from `status`.
    static func revision(_ client: RawClient) throws -> Int64 {
        let reply = try client.request("status")
        guard case .int(let revision)? = reply.result?["revision"] else { throw TestFailure("status: \(reply)") }
        return revision
    }

    static func int(_ value: JSONValue?) -> Int64? {
        if case .int(let number)? = value { return number }
        return nil
    }

    static func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.stringValue)
    }

    /// Wall-clock milliseconds since the Unix epoch (the daemon's `createdAt`/`expiresAt` clock).
    static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Polls `body` every 20 ms until it returns true or `timeout` seconds pass.
    static func eventually(timeout: Double, _ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try body() { return true }
            usleep(20_000)
        }
        return try body()
    }
}

/// Collects what the racing clients saw, under a lock.
private final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var grants = 0
    private(set) var conflicts = 0
    private(set) var cancels = 0
    private(set) var cancelsOfEnded = 0
    private(set) var problems: [String] = []

    func update(_ body: (Tally) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        body(self)
    }

    func granted() { update { $0.grants += 1 } }
    func conflicted() { update { $0.conflicts += 1 } }
    func cancelled() { update { $0.cancels += 1 } }
    func cancelledEnded() { update { $0.cancelsOfEnded += 1 } }
    func problem(_ text: String) { update { $0.problems.append(text) } }
}

@Suite("reservations against hostessd")
struct ReservationTests {
    // MARK: (a) Racing clients

    /// What the checker found in one round.
    struct Check {
        var strictSocket = false
        var strictRegion = false
    }

    /// One consistency check: `listReservations(active)` and `listAll` pipelined on one connection, then the
    /// region read between two equal stable revisions. Returns problems found (empty when none) and which
    /// checks could be made strictly (both views at the same revision).
    static func check(_ client: RawClient, _ reader: RegionReader, servers: Set<String>) throws -> (problems: [String], check: Check) {
        var problems: [String] = []
        var check = Check()
        let list = JSONValue.object(["id": "check-list", "command": "listReservations", "status": "active"]).jsonBytes + [0x0A]
        let all = JSONValue.object(["id": "check-all", "command": "listAll"]).jsonBytes + [0x0A]
        try client.send(bytes: list + all)
        let listReply = try client.readReply()
        let allReply = try client.readReply()
        guard case .array(let activeItems)? = listReply.result?["reservations"], case .array(let entryItems)? = allReply.result?["entries"] else {
            return (["bad replies: \(listReply) \(allReply)"], check)
        }
        let active = activeItems.compactMap(\.objectValue)
        // Within the one listReservations answer: no server in two active reservations, every listed server
        // names its reservation, and each holds exactly what it was granted.
        var holderOf: [String: String] = [:]
        for reservation in active {
            let id = reservation["id"]?.stringValue ?? "?"
            if reservation["status"] != "active" { problems.append("listReservations(active) lists \(id) as \(reservation["status"] ?? .null)") }
            let serverIDs = R.strings(reservation["serverIds"])
            for server in serverIDs {
                if let other = holderOf[server] { problems.append("\(server) is in active reservations \(other) and \(id)") }
                holderOf[server] = id
            }
            if serverIDs.count > Int(R.int(reservation["count"]) ?? 0) { problems.append("\(id) holds \(serverIDs.count) > count") }
            for case .object(let entry) in reservation["servers"]?.elements ?? [] where entry["reservedBy"] != .string(id) {
                problems.append("\(id) lists \(entry["id"] ?? .null) whose reservedBy is \(entry["reservedBy"] ?? .null)")
            }
        }
        if holderOf.count > servers.count { problems.append("\(holderOf.count) servers held out of \(servers.count)") }
        // Both answers at one revision: the entries' reservedBy are exactly the active reservations' servers.
        let socketRevision = listReply.revision
        if socketRevision != nil, socketRevision == allReply.revision {
            check.strictSocket = true
            var held: [String: String] = [:]
            for case .object(let entry) in entryItems { if let holder = entry["reservedBy"]?.stringValue, let id = entry["id"]?.stringValue { held[id] = holder } }
            if held != holderOf { problems.append("socket at revision \(socketRevision ?? -1): entries say \(held), reservations say \(holderOf)") }
        }
        let region = try regionCheck(reader, servers: servers)
        problems += region.problems
        if let consistent = region.consistentRevision, check.strictSocket, let socketRevision, UInt64(socketRevision) == consistent {
            check.strictRegion = true
            if region.held != holderOf { problems.append("region at \(consistent): \(region.held) but active reservations hold \(holderOf)") }
        }
        return (problems, check)
    }

    /// The region alone: per entry, the flag and the payload agree in one read; read between two equal stable
    /// revisions, query(unreserved: true) returns exactly the entries no reservation holds. Returns the problems,
    /// the revision the reads were consistent at (nil when a publication came between), and the holds then.
    static func regionCheck(_ reader: RegionReader, servers: Set<String>) throws -> (problems: [String], consistentRevision: UInt64?, held: [String: String]) {
        var problems: [String] = []
        let before = try reader.stableRevision()
        let regionAll = try reader.query(ServerFilter())
        let regionFree = try reader.query(ServerFilter(unreserved: true))
        let after = try reader.stableRevision()
        for id in servers {
            let seen = try reader.withEntry(id: id) { view in view.map { ($0.isReserved, Array($0.payload)) } }
            guard let (flag, payload) = seen else {
                problems.append("\(id) missing from the region")
                continue
            }
            let holder = (try? GuestBookEntry(json: JSONParser.parse(payload)))?.reservedBy
            if flag != (holder != nil) { problems.append("region flag of \(id) is \(flag) but its payload says reservedBy \(holder ?? "null")") }
        }
        guard before == after else { return (problems, nil, [:]) }
        var held: [String: String] = [:]
        for entry in regionAll { if let holder = entry.reservedBy { held[entry.id] = holder } }
        if !Set(held.keys).isDisjoint(with: regionFree.map(\.id)) {
            problems.append("region query(unreserved) at \(before) returned held entries \(Set(held.keys).intersection(regionFree.map(\.id)))")
        }
        if Set(regionAll.map(\.id)).subtracting(held.keys) != Set(regionFree.map(\.id)) {
            problems.append("region query(unreserved) at \(before) is not the unheld entries")
        }
        if held.count > servers.count { problems.append("region at \(before): \(held.count) held") }
        return (problems, before, held)
    }

    @Test("100 clients racing for 10 servers never over-reserve; socket and shared memory agree on every hold", .timeLimit(.minutes(1)))
    func racingClients() throws {
        Syscall.raiseDescriptorLimit()
        let daemon = try DaemonProcess()
        let setup = try daemon.client()
        let servers = try R.register(10, on: setup)
        let serverSet = Set(servers)
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let clientCount = 100
        let rounds = 10
        var clients: [RawClient] = []
        for _ in 0..<clientCount { clients.append(try daemon.client()) }
        let tally = Tally()
        let group = DispatchGroup()
        let start = DispatchSemaphore(value: 0)
        for (index, client) in clients.enumerated() {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                start.wait()
                var random = SplitMix64(seed: UInt64(index + 1))
                for _ in 0..<rounds {
                    let count = 1 + random.below(3)
                    let priority = random.below(4)
                    let duration = Int64(50 + random.below(250))
                    guard let reply = try? client.request("reserve", ["reservation": R.body(count: count, duration: duration, priority: priority)], timeout: 10)
                    else {
                        tally.problem("client \(index): no reply to reserve")
                        return
                    }
                    if let reservation = reply.result?["reservation"]?.objectValue {
                        tally.granted()
                        let granted = R.strings(reservation["serverIds"])
                        if granted.count != count || Set(granted).count != count || !Set(granted).isSubset(of: serverSet) {
                            tally.problem("client \(index) asked for \(count) and got \(granted)")
                        }
                        if random.below(3) != 0, let id = reservation["id"]?.stringValue {
                            usleep(UInt32(random.below(20_000)))
                            guard let cancel = try? client.request("cancelReservation", ["reservationId": .string(id)], timeout: 10) else {
                                tally.problem("client \(index): no reply to cancel")
                                return
                            }
                            if cancel.errorCode == nil {
                                tally.cancelled()
                            } else if cancel.errorCode == "conflict", cancel.errorMessage?.contains("already ended") == true {
                                tally.cancelledEnded()  // preempted or expired meanwhile
                            } else {
                                tally.problem("client \(index): cancel \(id): \(cancel)")
                            }
                        }
                    } else if reply.errorCode == "conflict" {
                        tally.conflicted()
                        let message = reply.errorMessage ?? ""
                        // "10 servers match, F free ..." with F < count: all or nothing.
                        let words = message.split(separator: " ")
                        if !message.hasPrefix("10 servers match, ") || words.count < 4 || (Int(words[3]).map { $0 >= count } ?? true) {
                            tally.problem("client \(index) asked for \(count): \(message)")
                        }
                        if reply.errorField != "count" {
                            tally.problem("conflict names field \(reply.errorField ?? "none")")
                        }
                    } else {
                        tally.problem("client \(index): \(reply)")
                    }
                    usleep(UInt32(random.below(40_000)))
                }
            }
        }
        for _ in 0..<clientCount { start.signal() }
        // A second checker reads only the region, as fast as it can (bounded), while the clients race.
        let regionTally = Tally()
        let regionChecker = Background<Int> {
            var rounds = 0
            while group.wait(timeout: .now()) == .timedOut, rounds < 5000 {
                do {
                    let found = try Self.regionCheck(reader, servers: serverSet)
                    for problem in found.problems { regionTally.problem(problem) }
                } catch {
                    regionTally.problem("region read failed: \(error)")
                }
                rounds += 1
            }
            return rounds
        }

        let checker = try daemon.client()
        var problems: [String] = []
        var checks = 0
        var strictSocket = 0
        var strictRegion = 0
        let started = Date()
        while group.wait(timeout: .now()) == .timedOut, checks < 400, Date().timeIntervalSince(started) < 30 {
            let (found, check) = try Self.check(checker, reader, servers: serverSet)
            problems += found
            checks += 1
            if check.strictSocket { strictSocket += 1 }
            if check.strictRegion { strictRegion += 1 }
            usleep(2_000)
        }
        #expect(group.wait(timeout: .now() + 30) == .success, "every client finished")
        let regionRounds = try regionChecker.wait(timeout: 30)
        #expect(regionTally.problems.isEmpty, "\(regionTally.problems.prefix(20))")
        // Quiet now (expiries aside): both views must agree strictly at least once.
        var settled = false
        for _ in 0..<50 where !settled {
            let (found, check) = try Self.check(checker, reader, servers: serverSet)
            problems += found
            settled = check.strictSocket && check.strictRegion
            if !settled { usleep(20_000) }
        }
        #expect(settled, "a check with socket and region at one revision")
        #expect(problems.isEmpty, "\(problems.prefix(20))")
        #expect(tally.problems.isEmpty, "\(tally.problems.prefix(20))")
        #expect(tally.grants > 0 && tally.conflicts > 0, "the race both granted and refused: \(tally.grants) grants, \(tally.conflicts) conflicts")
        #expect(tally.grants + tally.conflicts == clientCount * rounds)
        #expect(checks > 0)
        print("racing clients (\(String(format: "%.2f", Date().timeIntervalSince(started))) s): \(tally.grants) grants, \(tally.conflicts) conflicts, \(tally.cancels) cancels, \(tally.cancelsOfEnded) cancels of ended; \(checks) checks (\(strictSocket) socket-strict, \(strictRegion) region-strict), \(regionRounds) region-only checks")

        // Every reservation ends by its short duration: all servers free again, in both views.
        let freed = try R.eventually(timeout: 3) { try R.list(checker, status: "active").reservations.isEmpty }
        #expect(freed, "all short reservations expired")
        #expect(try R.eventually(timeout: 2) { try reader.query(ServerFilter(unreserved: true)).count == 10 })
        for id in servers { #expect(try reader.withEntry(id: id) { $0?.isReserved } == false) }
        // History (every ended reservation is still listed: retention is 10 min): per server, the grants ordered
        // by token never overlap in time, and tokens grow with creation time.
        let history = try R.list(checker).reservations
        #expect(history.count == tally.grants, "every grant is listed")
        #expect(history.allSatisfy { $0["status"] != "active" })
        let tokens = history.compactMap { R.int($0["token"]) }
        #expect(Set(tokens).count == history.count, "tokens are unique")
        var byServer: [String: [(token: Int64, createdAt: Int64, endedAt: Int64, id: String)]] = [:]
        for reservation in history {
            guard let token = R.int(reservation["token"]), let createdAt = R.int(reservation["createdAt"]),
                let endedAt = R.int(reservation["endedAt"]), let id = reservation["id"]?.stringValue
            else {
                Issue.record("incomplete reservation \(reservation)")
                continue
            }
            #expect(endedAt >= createdAt)
            for server in R.strings(reservation["serverIds"]) { byServer[server, default: []].append((token, createdAt, endedAt, id)) }
        }
        var overlaps: [String] = []
        for (server, grants) in byServer {
            let ordered = grants.sorted { $0.token < $1.token }
            for (earlier, later) in zip(ordered, ordered.dropFirst()) {
                if later.createdAt < earlier.endedAt { overlaps.append("\(server): \(earlier.id) held it until \(earlier.endedAt), \(later.id) got it at \(later.createdAt)") }
                if later.createdAt < earlier.createdAt { overlaps.append("\(server): token \(later.token) of \(later.id) is newer but was created earlier") }
            }
        }
        #expect(overlaps.isEmpty, "\(overlaps.prefix(10))")
    }

    // MARK: (b) Preemption

    @Test("preemption over the socket: lowest priority first, newest first among equals; the victim's parked watch wakes")
    func preemption() throws {
        let daemon = try DaemonProcess()
        let setup = try daemon.client()
        let servers = try R.register(4, on: setup)
        // Made in this order: V2 p0 (oldest), V3 p0, V1 p1 (newest of the low ones), V4 p9.
        let holders = try (0..<4).map { _ in try daemon.client() }
        let v2 = try R.reserve(holders[0], R.body(count: 1, priority: 0, requestedBy: "v2"))
        let v3 = try R.reserve(holders[1], R.body(count: 1, priority: 0, requestedBy: "v3"))
        let v1 = try R.reserve(holders[2], R.body(count: 1, priority: 1, requestedBy: "v1"))
        let v4 = try R.reserve(holders[3], R.body(count: 1, priority: 9, requestedBy: "v4"))
        let ids = [v2, v3, v1, v4].map { $0["id"]?.stringValue ?? "" }
        #expect([v2, v3, v1, v4].map { R.strings($0["serverIds"]) } == servers.map { [$0] })
        #expect(zip([v2, v3, v1], [v3, v1, v4]).allSatisfy { (R.int($0["token"]) ?? 0) < (R.int($1["token"]) ?? 0) }, "tokens grow")

        // V3's holder parks a watch; V2's too.
        let revision = try R.revision(setup)
        try holders[1].send(JSONValue.object(["id": "w3", "command": "watch", "sinceRevision": .int(revision), "timeout": 10]).jsonText)
        #expect(holders[1].readLine(timeout: 0.3) == nil, "the watch is parked")

        // Priority 5 needs two: V3 (p0, newer) then V2 (p0, older); V1 (p1) stays.
        let high = try daemon.client()
        let first = try R.reserve(high, R.body(count: 2, priority: 5, requestedBy: "high"))
        let firstID = try #require(first["id"]?.stringValue)
        #expect(R.strings(first["serverIds"]) == [servers[1], servers[0]], "V3's server, then V2's")
        #expect((R.int(first["token"]) ?? 0) > (R.int(v4["token"]) ?? .max))

        let woke = try holders[1].readReply(timeout: 5)
        #expect(woke["id"] == "w3")
        #expect(woke.result?["changed"] == true)
        let changes = woke.result?["changes"]?.elements ?? []
        #expect(
            changes.contains { $0.objectValue?["kind"] == "reservation" && $0.objectValue?["id"] == .string(ids[1]) },
            "the victim's watch sees a reservation change with its id: \(changes)")

        for (index, id) in [(1, ids[1]), (0, ids[0])] {
            let victim = try R.get(holders[index], id)
            #expect(victim["status"] == "preempted", "\(victim)")
            #expect(victim["preemptedBy"] == .string(firstID))
            #expect(R.strings(victim["serverIds"]).count == 1, "what it held is still on record")
            #expect(victim["servers"] == [], "but it holds nothing now")
        }
        #expect(try R.get(setup, ids[2])["status"] == "active")
        #expect(try R.entry(setup, servers[0])["reservedBy"] == .string(firstID))
        #expect(try R.entry(setup, servers[2])["reservedBy"] == .string(ids[2]))

        // Next: V1 (p1) goes, not V4 (p9).
        let second = try R.reserve(high, R.body(count: 1, priority: 5))
        #expect(R.strings(second["serverIds"]) == [servers[2]])
        #expect(try R.get(setup, ids[2])["preemptedBy"] == second["id"])
        #expect(try R.get(setup, ids[3])["status"] == "active")

        // Equal priority never preempts: nothing left below 5 but V4 (p9).
        let before = try R.revision(setup)
        let refused = try high.request("reserve", ["reservation": R.body(count: 1, priority: 5)])
        #expect(refused.errorCode == "conflict")
        #expect(refused.errorField == "count", "protocol.md §8: a reserve that cannot be met is a conflict on `count`")
        #expect(refused.errorMessage?.hasPrefix("4 servers match, 0 free") == true, "\(refused)")
        #expect(try R.revision(setup) == before)
        let active = try R.list(setup, status: "active").reservations.compactMap { $0["id"]?.stringValue }
        #expect(Set(active) == [firstID, second["id"]?.stringValue ?? "", ids[3]])
        let preempted = try R.list(setup, status: "preempted").reservations.compactMap { $0["id"]?.stringValue }
        #expect(Set(preempted) == [ids[0], ids[1], ids[2]])
    }

    // MARK: (c) Expiry

    @Test("a 1500 ms reservation reads expired no earlier than expiresAt and within a second after, and frees its servers")
    func expiryTiming() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let servers = try R.register(3, on: client)
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let reservation = try R.reserve(client, R.body(count: 2, duration: 1500))
        let id = try #require(reservation["id"]?.stringValue)
        let createdAt = try #require(R.int(reservation["createdAt"]))
        let expiresAt = try #require(R.int(reservation["expiresAt"]))
        #expect(expiresAt == createdAt + 1500)
        #expect(reservation["duration"] == 1500)
        let held = R.strings(reservation["serverIds"])
        #expect(held == Array(servers.prefix(2)))
        for server in held { #expect(try reader.withEntry(id: server) { $0?.isReserved } == true) }
        #expect(try reader.query(ServerFilter(unreserved: true)).map(\.id) == [servers[2]])
        #expect(try reader.count(ServerFilter(unreserved: true)) == 1)

        var firstExpired: Int64?
        var lastActiveSent: Int64 = 0
        var statuses: [String] = []
        let deadline = Date().addingTimeInterval(5)
        while firstExpired == nil, Date() < deadline {
            let sent = R.nowMilliseconds()
            let current = try R.get(client, id)
            let received = R.nowMilliseconds()
            let status = current["status"]?.stringValue ?? "?"
            statuses.append(status)
            switch status {
            case "active": lastActiveSent = sent
            case "expired":
                firstExpired = received
                #expect(R.int(current["expiresAt"]) == expiresAt, "expiresAt stays")
                let endedAt = try #require(R.int(current["endedAt"]))
                #expect(endedAt >= expiresAt, "ended at \(endedAt), before expiresAt \(expiresAt)")
                #expect(endedAt <= expiresAt + 1000, "ended at \(endedAt), more than 1 s after expiresAt \(expiresAt)")
                #expect(current["servers"] == [])
            default: Issue.record("unexpected status \(status)")
            }
            // An answer that left the daemon before expiresAt must say active.
            if received < expiresAt { #expect(status == "active", "expired at \(received) before expiresAt \(expiresAt)") }
            usleep(25_000)
        }
        let expired = try #require(firstExpired, "it expired within 5 s: \(statuses.suffix(5))")
        #expect(expired >= expiresAt)
        #expect(expired <= expiresAt + 1000, "first seen expired \(expired - expiresAt) ms after expiresAt")
        #expect(lastActiveSent < expiresAt + 1000)

        // Free again: the socket and the region say so.
        for server in held {
            #expect(try R.entry(client, server)["reservedBy"] == .null)
            #expect(try reader.withEntry(id: server) { $0?.isReserved } == false)
            #expect(try reader.getServer(server)?.reservedBy == nil)
        }
        #expect(try reader.query(ServerFilter(unreserved: true)).map(\.id) == servers)
        let unreserved = try client.request("query", ["filter": ["unreserved": true]])
        #expect(R.strings(.array(unreserved.result?["entries"]?.elements?.compactMap { $0.objectValue?["id"] } ?? [])) == servers)
        #expect(try R.list(client, status: "expired").reservations.map { $0["id"] } == [.string(id)])
        #expect(try R.reserve(client, R.body(count: 3))["serverIds"] == .array(servers.map(JSONValue.string)))
    }

    @Test("hostessd logs a reservation made and one cancelled differently, naming who and what")
    func loggedApart() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        _ = try R.register(2, on: client)
        let id = try #require(try R.reserve(client, R.body(count: 2, duration: 30_000, requestedBy: "StateManager"))["id"]?.stringValue)
        #expect(try client.request("cancelReservation", ["reservationId": .string(id)]).errorCode == nil)
        let made = R.eventually(timeout: 3) { daemon.log.contains("reservation \(id) made for StateManager by uid 0: 2 of 2 servers held, for 30 s") }
        #expect(made, "\(daemon.log)")
        #expect(daemon.log.contains("reservation \(id) of StateManager cancelled by uid 0"), "\(daemon.log)")
    }

    @Test("ended reservations stay listed for --reservation-retention, then are gone")
    func retention() throws {
        let daemon = try DaemonProcess(["--reservation-retention", "0.5"])
        let client = try daemon.client()
        _ = try R.register(1, on: client)
        let id = try #require(try R.reserve(client, R.body(count: 1))["id"]?.stringValue)
        #expect(try client.request("cancelReservation", ["reservationId": .string(id)]).errorCode == nil)
        #expect(try R.get(client, id)["status"] == "cancelled", "kept right after it ended")
        let gone = try R.eventually(timeout: 3) { try client.request("getReservation", ["reservationId": .string(id)]).errorCode == "not_found" }
        #expect(gone, "forgotten after the retention window")
        #expect(try R.list(client).reservations.isEmpty)
    }

    // MARK: (d) Cancel rights

    @Test("root's reservation cannot be cancelled by nobody through the CLI; root can; nobody can cancel its own")
    func cancelRights() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        _ = try R.register(3, on: client)
        let rootReservation = try R.reserve(client, R.body(count: 1, duration: 60_000))
        let rootID = try #require(rootReservation["id"]?.stringValue)
        #expect(rootReservation["holder"] == ["uid": 0])

        let refused = try CLI.hostess(["cancel", rootID], socket: daemon.socketPath, asNobody: true, scratch: daemon.scratch)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("forbidden"), "\(refused)")
        #expect(try R.get(client, rootID)["status"] == "active", "a refused cancel changes nothing")

        let own = try CLI.hostess(
            ["--json", "reserve", "--count", "1", "--class", "0x0001", "--duration", "60"], socket: daemon.socketPath, asNobody: true,
            scratch: daemon.scratch)
        #expect(own.status == 0, "\(own)")
        let ownReservation = try #require(try JSONParser.parse(own.stdout).objectValue, "\(own)")
        let ownID = try #require(ownReservation["id"]?.stringValue)
        #expect(ownReservation["holder"] == ["uid": 65534])
        #expect(ownReservation["requestedBy"] == "uid 65534")
        let cancelledOwn = try CLI.hostess(["cancel", ownID], socket: daemon.socketPath, asNobody: true, scratch: daemon.scratch)
        #expect(cancelledOwn.status == 0, "\(cancelledOwn)")
        #expect(cancelledOwn.stdout.contains("cancelled reservation \(ownID) of uid 65534: 1 server released"), "\(cancelledOwn)")
        #expect(try R.get(client, ownID)["status"] == "cancelled")

        let byRoot = try CLI.hostess(["cancel", rootID], socket: daemon.socketPath)
        #expect(byRoot.status == 0, "\(byRoot)")
        #expect(try R.get(client, rootID)["status"] == "cancelled")

        // Root may cancel nobody's too.
        let another = try CLI.hostess(
            ["--json", "reserve", "--count", "1", "--class", "0x0001"], socket: daemon.socketPath, asNobody: true, scratch: daemon.scratch)
        let anotherID = try #require(try JSONParser.parse(another.stdout).objectValue?["id"]?.stringValue, "\(another)")
        #expect(try client.request("cancelReservation", ["reservationId": .string(anotherID)]).errorCode == nil)
        #expect(try R.list(client, status: "active").reservations.isEmpty)
    }

    // MARK: (e) Restart

    @Test("after SIGKILL and an adopting restart reservations keep their id, token and expiresAt, and their holds", .timeLimit(.minutes(1)))
    func restartKeepsReservations() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let servers = try R.register(6, on: client)
        let long = try R.reserve(client, R.body(count: 2, duration: 600_000, priority: 3, requestedBy: "long"))
        let short = try R.reserve(client, R.body(count: 1, duration: 4000, requestedBy: "short"))
        let forever = try R.reserve(client, R.body(count: 1, requestedBy: "forever"))
        let ended = try R.reserve(client, R.body(count: 1))
        #expect(try client.request("cancelReservation", ["reservationId": ended["id"] ?? .null]).errorCode == nil)
        let sessionClient = try daemon.client()
        let session = try R.reserve(sessionClient, R.body(count: 1, session: true))
        let kept = [long, short, forever]
        let heldBefore = Set(kept.flatMap { R.strings($0["serverIds"]) })
        #expect(heldBefore.count == 4)
        #expect(FileManager.default.fileExists(atPath: daemon.socketPath + ".reservations"))
        var info = stat()
        #expect(stat(daemon.socketPath + ".reservations", &info) == 0 && info.st_mode & 0o777 == 0o600, "the saved file is private")

        #expect(daemon.stop(signal: SIGKILL) != nil)
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName, "--socket", daemon.socketPath], scratch: daemon.scratch)
        defer { successor.stop() }
        let after = try successor.client()
        #expect(successor.log.contains("restored"), "\(successor.log)")
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        for before in kept {
            let id = try #require(before["id"]?.stringValue)
            let now = try R.get(after, id)
            #expect(now["status"] == "active", "\(now)")
            for key in ["id", "token", "createdAt", "expiresAt", "duration", "priority", "requestedBy", "serverIds", "holder"] {
                #expect(now[key] == before[key], "\(key) of \(before["requestedBy"] ?? .null): \(now[key] ?? .null) vs \(before[key] ?? .null)")
            }
            for server in R.strings(before["serverIds"]) {
                #expect(try R.entry(after, server)["reservedBy"] == .string(id), "socket: \(server) still held")
                #expect(try reader.getServer(server)?.reservedBy == id, "region: \(server) still held")
                #expect(try reader.withEntry(id: server) { $0?.isReserved } == true)
            }
        }
        let endedAfter = try after.request("getReservation", ["reservationId": ended["id"] ?? .null])
        #expect(endedAfter.errorCode == "not_found", "ended ones are history, not saved state: \(endedAfter)")
        let sessionNow = try R.get(after, session["id"]?.stringValue ?? "")
        #expect(sessionNow["status"] == "cancelled", "a session reservation's connection died with the old daemon: \(sessionNow)")
        let free = Set(servers).subtracting(heldBefore)
        #expect(Set(try reader.query(ServerFilter(unreserved: true)).map(\.id)) == free)

        // New grants carry larger tokens than any before the crash.
        let maxToken = ([long, short, forever, ended, session].compactMap { R.int($0["token"]) }).max() ?? .max
        let fresh = try R.reserve(after, R.body(count: 2))
        #expect((R.int(fresh["token"]) ?? 0) > maxToken, "\(fresh["token"] ?? .null) > \(maxToken)")
        #expect(Set(R.strings(fresh["serverIds"])) == free, "held servers are still skipped")

        // The short one still expires at its original time, not 4 s after the restart.
        let shortID = try #require(short["id"]?.stringValue)
        let expiresAt = try #require(R.int(short["expiresAt"]))
        let expired = try R.eventually(timeout: 5) { try R.get(after, shortID)["status"] == "expired" }
        let seen = R.nowMilliseconds()
        #expect(expired)
        #expect(seen <= expiresAt + 1000 + 100, "expired \(seen - expiresAt) ms after its original expiresAt")
        #expect(try reader.getServer(R.strings(short["serverIds"])[0])?.reservedBy == nil)
    }

    @Test("reservations dropped by a clean stop do not come back when a later daemon crashes and is adopted")
    func staleReservationsFileIsNotRestored() throws {
        // 1. A reservation without a duration; SIGTERM: a clean stop, nothing is adopted afterwards.
        let first = try DaemonProcess()
        let servers = try R.register(2, on: try first.client())
        let old = try R.reserve(try first.client(), R.body(count: 2, requestedBy: "before the clean stop"))
        let oldID = try #require(old["id"]?.stringValue)
        #expect(first.stop(signal: SIGTERM) == 0)

        // 2. A fresh daemon on the same socket and region name: it starts without reservations. The same
        //    servers sign in again under their ids, as servers do after a restart. Then it crashes.
        let second = try DaemonProcess(["--shm", first.sharedMemoryName, "--socket", first.socketPath], scratch: first.scratch)
        let client = try second.client()
        #expect(try R.list(client).reservations.isEmpty, "a clean stop drops reservations")
        for id in servers { #expect(try client.request("register", ["entry": Fixture.entry(id: id)]).errorCode == nil) }
        #expect(try R.entry(client, servers[0])["reservedBy"] == .null)
        #expect(second.stop(signal: SIGKILL) != nil)

        // 3. A third daemon adopts the second's region: the second had no reservation, so none comes back.
        let third = try DaemonProcess(["--shm", first.sharedMemoryName, "--socket", first.socketPath], scratch: first.scratch)
        defer { third.stop() }
        let after = try third.client()
        let listed = try R.list(after).reservations
        let summary = listed.map { "\($0["id"]?.stringValue ?? "?") \($0["status"]?.stringValue ?? "?") (\($0["requestedBy"]?.stringValue ?? "?"))" }
        #expect(!listed.contains { $0["id"] == .string(oldID) }, "the reservation the first daemon dropped at its clean stop was restored: \(summary)")
        for id in servers {
            #expect(try R.entry(after, id)["reservedBy"] == .null, "\(id) is held again by \(oldID)")
        }
        let fresh = try after.request("reserve", ["reservation": R.body(count: 2)])
        #expect(fresh.errorCode == nil, "both servers are free: \(fresh.errorMessage ?? "")")
    }

    // MARK: (f) Session

    @Test("a session reservation ends when its connection closes; the servers are free again")
    func sessionEndsWithConnection() throws {
        let daemon = try DaemonProcess()
        let observer = try daemon.client()
        let servers = try R.register(2, on: observer)
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let holder = try daemon.client()
        let reservation = try R.reserve(holder, R.body(count: 1, session: true))
        let plain = try R.reserve(holder, R.body(count: 1))
        let id = try #require(reservation["id"]?.stringValue)
        #expect(reservation["session"] == true)
        #expect(try R.get(observer, id)["status"] == "active")
        #expect(try reader.withEntry(id: servers[0]) { $0?.isReserved } == true)
        holder.close()
        let ended = try R.eventually(timeout: 3) { try R.get(observer, id)["status"] == "cancelled" }
        #expect(ended)
        let now = try R.get(observer, id)
        #expect(now["reason"]?.stringValue?.contains("session") == true, "\(now)")
        #expect(try R.entry(observer, servers[0])["reservedBy"] == .null)
        #expect(try R.eventually(timeout: 1) { try reader.withEntry(id: servers[0]) { $0?.isReserved } == false })
        #expect(try R.get(observer, plain["id"]?.stringValue ?? "")["status"] == "active", "a reservation without session: true stays")
    }

    @Test("hostess reserve --session holds until the command gets SIGTERM")
    func cliSession() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let servers = try R.register(1, on: client)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostess"))
        process.arguments = ["--socket", daemon.socketPath, "--json", "reserve", "--count", "1", "--class", "0x0001", "--session"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        // The reservation is printed first, then the command waits.
        let printed = try R.eventually(timeout: 10) { try R.list(client, status: "active").reservations.count == 1 }
        #expect(printed, "the session reservation was made")
        let active = try R.list(client, status: "active").reservations
        let id = try #require(active.first?["id"]?.stringValue)
        #expect(active.first?["session"] == true)
        #expect(try R.entry(client, servers[0])["reservedBy"] == .string(id))
        usleep(200_000)
        #expect(process.isRunning, "it stays in the foreground")
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        #expect(!process.isRunning, "SIGTERM ends it")
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect((try? JSONParser.parse(text.split(separator: "\n").first.map(String.init) ?? ""))?.objectValue?["id"] == .string(id), "\(text)")
        let ended = try R.eventually(timeout: 3) { try R.get(client, id)["status"] == "cancelled" }
        #expect(ended, "the reservation ended with the command's connection")
        #expect(try R.entry(client, servers[0])["reservedBy"] == .null)
    }

    // MARK: (g) CLI

    @Test("hostess --json reserve, reservations and cancel")
    func cli() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let servers = try R.register(3, on: client)
        _ = try R.register(1, classCode: "0x0002", on: client, prefix: "other")
        let reserved = try CLI.hostess(
            ["--json", "reserve", "--count", "2", "--class", "0x0001", "--duration", "60", "--priority", "4", "--requested-by", "cli test"],
            socket: daemon.socketPath)
        #expect(reserved.status == 0, "\(reserved)")
        let reservation = try #require(try JSONParser.parse(reserved.stdout).objectValue, "\(reserved)")
        let id = try #require(reservation["id"]?.stringValue)
        #expect(reservation["status"] == "active")
        #expect(reservation["duration"] == 60_000)
        #expect(R.int(reservation["expiresAt"]) == (R.int(reservation["createdAt"]) ?? 0) + 60_000)
        #expect(reservation["priority"] == 4)
        #expect(reservation["requestedBy"] == "cli test")
        #expect(R.strings(reservation["serverIds"]) == Array(servers.prefix(2)))
        #expect((reservation["servers"]?.elements ?? []).compactMap { $0.objectValue?["reservedBy"] } == [.string(id), .string(id)])

        let listed = try CLI.hostess(["--json", "reservations"], socket: daemon.socketPath)
        #expect(listed.status == 0, "\(listed)")
        let items = try JSONParser.parse(listed.stdout).elements ?? []
        #expect(items.compactMap { $0.objectValue?["id"] } == [.string(id)], "\(listed)")
        let one = try CLI.hostess(["--json", "reservations", id], socket: daemon.socketPath)
        #expect(try JSONParser.parse(one.stdout).objectValue?["token"] == reservation["token"], "\(one)")
        let table = try CLI.hostess(["reservations"], socket: daemon.socketPath)
        #expect(table.status == 0 && table.stdout.contains(id.prefix(8) + "  active") && table.stdout.contains("1 reservation"), "\(table)")
        let wide = try CLI.hostess(["reservations", "--wide"], socket: daemon.socketPath)
        #expect(wide.status == 0 && wide.stdout.contains(id) && wide.stdout.contains(servers[0]), "\(wide)")

        // All or nothing, from the CLI: the error says how many matched and were free.
        let tooMany = try CLI.hostess(["--json", "reserve", "--count", "2", "--class", "0x0001"], socket: daemon.socketPath)
        #expect(tooMany.status == 1, "\(tooMany)")
        #expect(tooMany.stderr.contains("3 servers match, 1 free"), "\(tooMany)")
        let zero = try CLI.hostess(["reserve", "--count", "0"], socket: daemon.socketPath)
        #expect(zero.status != 0, "\(zero)")
        #expect(zero.stderr.contains("count"), "\(zero)")

        let cancelled = try CLI.hostess(["cancel", id], socket: daemon.socketPath)
        #expect(cancelled.status == 0, "\(cancelled)")
        #expect(cancelled.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "cancelled reservation \(id) of cli test: 2 servers released")
        let active = try CLI.hostess(["--json", "reservations", "--status", "active"], socket: daemon.socketPath)
        #expect(try JSONParser.parse(active.stdout).elements == [], "\(active)")
        let afterCancel = try CLI.hostess(["--json", "reservations", "--status", "cancelled"], socket: daemon.socketPath)
        #expect((try JSONParser.parse(afterCancel.stdout).elements ?? []).compactMap { $0.objectValue?["id"] } == [.string(id)])
        let again = try CLI.hostess(["cancel", id], socket: daemon.socketPath)
        #expect(again.status == 1 && again.stderr.contains("conflict"), "\(again)")
        let unknown = try CLI.hostess(["cancel", "no-such-reservation"], socket: daemon.socketPath)
        #expect(unknown.status == 1 && unknown.stderr.contains("not_found"), "\(unknown)")
    }

    // MARK: (h) HTTP

    @Test("HTTP: POST /reserve signed answers 201 and unsigned 401; GET /reservations; DELETE /reservations/{id} by its key only")
    func http() throws {
        let http = try HTTPDaemon()
        let socket = try http.socketClient()
        let servers = try R.register(3, on: socket)
        let alice = PythonHTTP.Signing(key: TestKeys.alice)
        let ops = PythonHTTP.Signing(key: TestKeys.ops)
        let body: JSONValue = ["serverFilter": ["class": "0x0001"], "count": 2, "duration": 60_000, "requestedBy": "http test"]
        typealias Request = PythonHTTP.Request

        let revision = try R.revision(socket)
        let unsigned = try PythonHTTP.run(http, [.json("POST", "/reserve", body)])
        #expect(unsigned.first?.reply?.status == 401, "\(unsigned)")
        #expect(unsigned.first?.reply?.errorCode == "unauthorized")
        #expect(try R.revision(socket) == revision, "an unsigned reserve changes nothing")
        #expect(try R.list(socket).reservations.isEmpty)

        let first = try PythonHTTP.run(http, [
            .json("POST", "/reserve", body, sign: alice),  // 0: 201
            .json("POST", "/reserve", ["serverFilter": ["class": "0x0001"], "count": 2], sign: alice),  // 1: 409
            .json("POST", "/reserve", ["count": 0], sign: alice),  // 2: 400 count
            .json("POST", "/reserve", ["count": 1, "session": true], sign: alice),  // 3: 400 session
            Request(method: "GET", target: "/reservations"),  // 4
            Request(method: "GET", target: "/reservations?status=active"),  // 5
            Request(method: "GET", target: "/reservations?status=expired"),  // 6
            Request(method: "GET", target: "/reservations?status=bogus"),  // 7
            Request(method: "GET", target: "/reservations/no-such-id"),  // 8
        ])
        let created = try #require(first[0].reply)
        #expect(created.status == 201, "\(created)")
        let reservation = try #require(created.json?.objectValue, "\(created)")
        let id = try #require(reservation["id"]?.stringValue)
        #expect(reservation["holder"] == ["key": "alice-key"])
        #expect(reservation["status"] == "active")
        #expect(reservation["requestedBy"] == "http test")
        #expect(R.strings(reservation["serverIds"]) == Array(servers.prefix(2)))
        #expect(created.index != nil)
        #expect(first[1].reply?.status == 409, "\(first[1])")
        #expect(first[1].reply?.errorMessage?.hasPrefix("3 servers match, 1 free") == true, "\(first[1])")
        #expect(first[2].reply?.status == 400, "\(first[2])")
        #expect(first[2].reply?.json?.objectValue?["error"]?.objectValue?["field"] == "count", "\(first[2])")
        #expect(first[3].reply?.status == 400, "\(first[3])")
        #expect(first[3].reply?.json?.objectValue?["error"]?.objectValue?["field"] == "session", "\(first[3])")
        #expect(first[4].reply?.status == 200)
        #expect(first[4].reply?.json?.elements?.compactMap { $0.objectValue?["id"] } == [.string(id)], "\(first[4])")
        #expect(first[5].reply?.json?.elements?.count == 1, "\(first[5])")
        #expect(first[6].reply?.json?.elements == [], "\(first[6])")
        #expect(first[7].reply?.status == 400, "\(first[7])")
        #expect(first[8].reply?.status == 404, "\(first[8])")
        #expect(try R.entry(socket, servers[0])["reservedBy"] == .string(id), "the socket sees the HTTP hold")

        let path = "/reservations/" + id
        let second = try PythonHTTP.run(http, [
            Request(method: "GET", target: path),  // 0: 200
            Request(method: "DELETE", target: path),  // 1: 401 unsigned
            Request(method: "DELETE", target: path, sign: ops),  // 2: 403 another key
            Request(method: "DELETE", target: path, sign: alice),  // 3: 200
            Request(method: "DELETE", target: path, sign: alice),  // 4: 409 already ended
            Request(method: "DELETE", target: "/reservations/no-such-id", sign: alice),  // 5: 404
        ])
        #expect(second.map { $0.reply?.status ?? -1 } == [200, 401, 403, 200, 409, 404], "\(second)")
        #expect(second[0].reply?.json?.objectValue?["token"] == reservation["token"])
        #expect(second[2].reply?.errorCode == "forbidden")
        #expect(second[3].reply?.json?.objectValue?["status"] == "cancelled", "\(second[3])")
        #expect(try R.entry(socket, servers[0])["reservedBy"] == .null)
        #expect(try R.get(socket, id)["status"] == "cancelled")

        // Root over the socket may cancel a key's reservation.
        let another = try PythonHTTP.run(http, [.json("POST", "/reserve", body, sign: alice)])
        let anotherID = try #require(another.first?.reply?.json?.objectValue?["id"]?.stringValue, "\(another)")
        #expect(try socket.request("cancelReservation", ["reservationId": .string(anotherID)]).errorCode == nil)
    }

    // MARK: (i) Bad input

    struct BadInput: Sendable {
        var name: String
        var command: String
        var parameters: JSONObject
        var code: String
        var field: String
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "no reservation", command: "reserve", parameters: [:], code: "bad_request", field: "reservation"),
        BadInput(name: "reservation not an object", command: "reserve", parameters: ["reservation": 3], code: "bad_request", field: "reservation"),
        BadInput(name: "count 0", command: "reserve", parameters: ["reservation": R.body(count: 0)], code: "bad_request", field: "reservation.count"),
        BadInput(name: "count -3", command: "reserve", parameters: ["reservation": R.body(count: -3)], code: "bad_request", field: "reservation.count"),
        BadInput(name: "count 1025", command: "reserve", parameters: ["reservation": R.body(count: 1025)], code: "bad_request", field: "reservation.count"),
        BadInput(name: "count missing", command: "reserve", parameters: ["reservation": ["serverFilter": [:]]], code: "bad_request", field: "reservation.count"),
        BadInput(name: "count a string", command: "reserve", parameters: ["reservation": ["count": "1"]], code: "bad_request", field: "reservation.count"),
        BadInput(name: "negative duration", command: "reserve", parameters: ["reservation": R.body(count: 1, duration: -1)], code: "bad_request", field: "reservation.duration"),
        BadInput(name: "zero duration", command: "reserve", parameters: ["reservation": R.body(count: 1, duration: 0)], code: "bad_request", field: "reservation.duration"),
        BadInput(name: "malformed class", command: "reserve", parameters: ["reservation": R.body(count: 1, classCode: "0xZZ")], code: "bad_request", field: "reservation.serverFilter.class"),
        BadInput(name: "unknown filter member", command: "reserve", parameters: ["reservation": ["count": 1, "serverFilter": ["nope": true]]], code: "bad_request", field: "reservation.serverFilter.nope"),
        BadInput(name: "filter an array", command: "reserve", parameters: ["reservation": ["count": 1, "serverFilter": []]], code: "bad_request", field: "reservation.serverFilter"),
        BadInput(name: "priority out of range", command: "reserve", parameters: ["reservation": R.body(count: 1, priority: 10_000_000)], code: "bad_request", field: "reservation.priority"),
        BadInput(name: "unknown reservation member", command: "reserve", parameters: ["reservation": ["count": 1, "extra": 1]], code: "bad_request", field: "reservation.extra"),
        BadInput(name: "unknown request member", command: "reserve", parameters: ["reservation": R.body(count: 1), "extra": 1], code: "bad_request", field: "extra"),
        BadInput(name: "more than are free", command: "reserve", parameters: ["reservation": R.body(count: 3)], code: "conflict", field: "count"),
        BadInput(name: "cancel unknown id", command: "cancelReservation", parameters: ["reservationId": "no-such-id"], code: "not_found", field: "reservationId"),
        BadInput(name: "cancel without id", command: "cancelReservation", parameters: [:], code: "bad_request", field: "reservationId"),
        BadInput(name: "cancel with a number", command: "cancelReservation", parameters: ["reservationId": 7], code: "bad_request", field: "reservationId"),
        BadInput(name: "get unknown id", command: "getReservation", parameters: ["reservationId": "no-such-id"], code: "not_found", field: "reservationId"),
        BadInput(name: "list with a bad status", command: "listReservations", parameters: ["status": "bogus"], code: "bad_request", field: "status"),
        BadInput(name: "capabilities with a bad filter", command: "queryCapabilities", parameters: ["filter": ["class": "x"]], code: "bad_request", field: "filter.class"),
    ]

    @Test("bad input over the socket gets its field-named error and changes nothing")
    func badInput() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let servers = try R.register(3, on: client)
        let held = try R.reserve(client, R.body(count: 2, duration: 600_000))
        let heldID = try #require(held["id"]?.stringValue)
        let cancelled = try R.reserve(client, R.body(count: 1))
        #expect(try client.request("cancelReservation", ["reservationId": cancelled["id"] ?? .null]).errorCode == nil)
        let before = try R.list(client)
        let entriesBefore = try client.request("listAll").result?["entries"]
        let cases = Self.badInputs + [
            BadInput(name: "cancel an ended one", command: "cancelReservation", parameters: ["reservationId": cancelled["id"] ?? .null], code: "conflict", field: "reservationId")
        ]
        for bad in cases {
            let reply = try client.request(bad.command, bad.parameters)
            #expect(reply.errorCode == bad.code, "\(bad.name): \(reply)")
            #expect(reply.errorField == bad.field, "\(bad.name): \(reply)")
            #expect(reply.errorMessage?.isEmpty == false, "\(bad.name)")
            #expect(reply.revision == before.revision, "\(bad.name): the revision moved")
        }
        let more = try client.request("reserve", ["reservation": R.body(count: 3)])
        #expect(more.errorMessage?.hasPrefix("3 servers match, 1 free") == true, "\(more)")
        let after = try R.list(client)
        #expect(after.revision == before.revision)
        #expect(after.reservations == before.reservations, "reservations unchanged")
        #expect(try client.request("listAll").result?["entries"] == entriesBefore, "entries unchanged")
        #expect(try R.get(client, heldID)["status"] == "active")
        #expect(try R.entry(client, servers[2])["reservedBy"] == .null)
    }

    @Test("queryCapabilities summarises the matching entries per class")
    func queryCapabilities() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        _ = try R.register(2, on: client)
        let gpu = Fixture.id(servername: "gpu", classCode: "0x0002")
        #expect(try client.request("register", ["entry": Fixture.entry(id: gpu, capabilities: ["gpu", "cuda"])]).errorCode == nil)
        let reply = try client.request("queryCapabilities", ["filter": [:]])
        let summary = reply.result?["capabilities"]?.elements ?? []
        #expect(summary.count == 2, "\(reply)")
        #expect(summary.first?.objectValue?["class"] == "0x0001")
        #expect(summary.first?.objectValue?["totalCount"] == 2)
        #expect(summary.first?.objectValue?["capabilities"] == ["pty", "vt100"])
        #expect(summary.last?.objectValue?["capabilities"] == ["cuda", "gpu"])
    }
}
