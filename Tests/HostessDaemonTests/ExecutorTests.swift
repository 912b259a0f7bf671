import HostessModel
import Testing

@testable import HostessDaemon

// MARK: - Executor results

@Suite("the executor runs commands against the guest book")
struct ExecutorTests {
    @Test("register creates, then updates; the result carries the liveness terms")
    func register() throws {
        var service = makeService()
        let first = try run(.register(try aliceRegistration(), session: false), on: &service)
        guard case .registered(let entry, created: true, ttl: 15, heartbeatInterval: 5) = first else {
            Issue.record("\(first)")
            return
        }
        #expect(entry.id == aliceID)
        let second = try run(.register(try aliceRegistration(), session: true), on: &service)
        guard case .registered(_, created: false, _, _) = second else {
            Issue.record("\(second)")
            return
        }
        #expect(service.counters.registrations == 1)
        #expect(service.book.revision == 2)
    }

    @Test("reads: getServer, listAll, query and queryCapabilities")
    func reads() throws {
        var service = makeService()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        let entry = try service.book.entry(id: aliceID)
        #expect(try run(.getServer(try name(aliceIDUpperCase)), on: &service, by: bob) == .entry(entry))
        #expect(try run(.listAll, on: &service, by: bob).json == ["entries": [entry.json]])
        #expect(try run(.query(ServerFilter(capabilities: ["gpu"])), on: &service).json == ["entries": [entry.json]])
        #expect(try run(.query(ServerFilter(capabilities: ["h264"])), on: &service).json == ["entries": []])
        #expect(try run(.queryCapabilities(ServerFilter()), on: &service) == .capabilities(service.book.capabilitySummary(ServerFilter())))
    }

    @Test("heartbeat answers the canonical id and is recorded for publication")
    func heartbeat() throws {
        var service = makeService()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        let result = try run(.heartbeat(try name(aliceIDUpperCase)), on: &service, at: at(2))
        #expect(result == .heartbeat(serverID: aliceID, lastHeartbeat: at(2).wallMilliseconds))
        #expect(service.takeHeartbeats().map(\.id) == [aliceID])
    }

    @Test("markInUse, markAvailable and unregister change the entry")
    func terminalsAndUnregister() throws {
        var service = makeService()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        let id = try name()
        guard case .entry(let used) = try run(.markInUse(id, terminal: "input", connectomeID: "c-1"), on: &service) else {
            Issue.record("not an entry")
            return
        }
        #expect(used.terminals.first?.connectedTo == ["c-1"])
        guard case .entry(let freed) = try run(.markAvailable(id, terminal: "input", connectomeID: nil), on: &service) else {
            Issue.record("not an entry")
            return
        }
        #expect(freed.terminals.first?.connectedTo == [])
        let stored = try service.book.entry(id: aliceID)
        #expect(try run(.unregister(id), on: &service) == .entry(stored))
        #expect(service.book.count == 0)
    }

    @Test("watch answers at once when the revision passed or the timeout is 0, and parks otherwise")
    func watch() throws {
        var service = makeService()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        #expect(
            try run(.watch(sinceRevision: 0, timeout: 30), on: &service)
                == .watched(changed: true, changes: [Change(revision: 1, kind: .registered, id: aliceID)]))
        #expect(try run(.watch(sinceRevision: nil, timeout: 0), on: &service) == .watched(changed: false, changes: []))
        let parked = try service.execute(.watch(sinceRevision: nil, timeout: 2), caller: alice, connection: 1, now: at(1))
        #expect(parked == .park(sinceRevision: 1, deadline: at(1).monotonicNanoseconds + 2_000_000_000))
    }

    @Test("status reports the counters and the caller")
    func status() throws {
        var service = makeService()
        service.statusFacts = ["version": "test"]
        guard case .status(let facts) = try run(.status, on: &service, by: bob) else {
            Issue.record("not a status")
            return
        }
        #expect(Array(facts.keys.prefix(3)) == ["version", "revision", "entries"])
        #expect(facts["caller"] == ["uid": 1001, "ownerNames": ["bob"]])
    }

    @Test("reserve, getReservation, listReservations and cancelReservation")
    func reservations() throws {
        var service = makeService()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        guard case .reservation(let made) = try run(.reserve(ReservationRequest(filter: ServerFilter(), count: 1, duration: 60_000)), on: &service)
        else {
            Issue.record("not a reservation")
            return
        }
        #expect(made.servers.map(\.id) == [aliceID])
        #expect(made.servers.first?.reservedBy == made.reservation.id)
        #expect(try run(.getReservation(id: made.reservation.id), on: &service) == .reservation(made))
        #expect(try run(.listReservations(status: .active), on: &service) == .reservations([made]))
        #expect(try run(.listReservations(status: .cancelled), on: &service) == .reservations([]))
        guard case .reservation(let cancelled) = try run(.cancelReservation(id: made.reservation.id), on: &service) else {
            Issue.record("not a reservation")
            return
        }
        #expect(cancelled.reservation.status == .cancelled)
        #expect(cancelled.servers.isEmpty)
    }
}

// MARK: - Executor refusals

@Suite("the executor's refusals")
struct ExecutorRefusalTests {
    @Test("forbidden: another owner's entry, terminal or reservation")
    func forbidden() throws {
        var service = makeService()
        let id = try name()
        #expect(refusal(.register(try aliceRegistration(), session: false), on: &service, by: bob)?.code == .forbidden)
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        for command in [Command.unregister(id), .heartbeat(id), .markInUse(id, terminal: "input", connectomeID: "c"), .markAvailable(id, terminal: "input", connectomeID: nil)] {
            let error = refusal(command, on: &service, by: bob)
            #expect(error?.code == .forbidden, "\(command)")
            #expect(error?.field == "owner", "\(command)")
        }
        guard case .reservation(let made) = try run(.reserve(ReservationRequest(filter: ServerFilter(), count: 1, duration: 1000)), on: &service) else {
            Issue.record("not a reservation")
            return
        }
        let error = refusal(.cancelReservation(id: made.reservation.id), on: &service, by: bob)
        #expect(error?.code == .forbidden)
        #expect(error?.field == "reservationId")
        #expect(refusal(.cancelReservation(id: made.reservation.id), on: &service, by: root) == nil)
    }

    @Test("not_found: unknown entries, terminals and reservations")
    func notFound() throws {
        var service = makeService()
        let id = try name()
        for command in [Command.getServer(id), .unregister(id), .heartbeat(id), .markInUse(id, terminal: "input", connectomeID: "c")] {
            #expect(refusal(command, on: &service) == HostessError(.notFound, "no server '\(aliceID)' in the guest book", field: "serverId"))
        }
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        let terminal = refusal(.markAvailable(id, terminal: "output", connectomeID: nil), on: &service)
        #expect(terminal?.code == .notFound)
        #expect(terminal?.field == "terminal")
        let reservation = refusal(.getReservation(id: "r-0"), on: &service)
        #expect(reservation?.code == .notFound)
        #expect(reservation?.field == "reservationId")
    }

    @Test("conflict: a second connectome on a none terminal, a reservation nothing can meet, a cancelled one cancelled again")
    func conflict() throws {
        var service = makeService()
        let id = try name()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        _ = try run(.markInUse(id, terminal: "input", connectomeID: "c-1"), on: &service)
        #expect(
            refusal(.markInUse(id, terminal: "input", connectomeID: "c-2"), on: &service)
                == HostessError(
                    .conflict, "terminal 'input' has multiplexing none and is in use by connectome 'c-1'; mark it available first", field: "terminal"))
        #expect(refusal(.reserve(ReservationRequest(filter: ServerFilter(), count: 2, duration: 1000)), on: &service)?.code == .conflict)
        guard case .reservation(let made) = try run(.reserve(ReservationRequest(filter: ServerFilter(), count: 1, duration: 1000)), on: &service) else {
            Issue.record("not a reservation")
            return
        }
        _ = try run(.cancelReservation(id: made.reservation.id), on: &service)
        #expect(refusal(.cancelReservation(id: made.reservation.id), on: &service)?.code == .conflict)
    }

    @Test("a connectome id is checked by the guest book, after the name")
    func connectomeFormat() throws {
        var service = makeService()
        let error = refusal(.markInUse(try name(), terminal: "input", connectomeID: "a b"), on: &service)
        #expect(error?.code == .badRequest)
        #expect(error?.field == "connectomeId")
    }
}

// MARK: - Socket replies

@Suite("socket replies are encoded from results")
struct SocketReplyTests {
    @Test("replies keep id, revision, result or error in order, byte for byte")
    func replyBytes() throws {
        var service = makeService()
        #expect(replyText(#"{"id":1,"command":"listAll"}"#, on: &service) == #"{"id":1,"revision":0,"result":{"entries":[]}}"#)
        #expect(
            replyText(#"{"id":"g","command":"getServer","serverId":"\#(aliceID)"}"#, on: &service)
                == #"{"id":"g","revision":0,"error":{"code":"not_found","message":"no server '\#(aliceID)' in the guest book","field":"serverId"}}"#)
        #expect(
            replyText(#"{"id":[1],"command":"listAll"}"#, on: &service)
                == #"{"id":null,"revision":0,"error":{"code":"bad_request","message":"expected an integer or a string, found array","field":"id"}}"#)
        let registered = try #require(replyText(#"{"id":2,"command":"register","entry":{"id":"\#(aliceID)"}}"#, on: &service))
        #expect(registered.hasPrefix(#"{"id":2,"revision":1,"result":{"entry":{"id":"\#(aliceID)","fqdn":"machine-a.local","#))
        #expect(registered.hasSuffix(#""serial":1,"session":false,"reservedBy":null},"created":true,"ttl":15.0,"heartbeatInterval":5.0}}"#))
        #expect(
            replyText(#"{"id":3,"command":"watch","sinceRevision":0,"timeout":0}"#, on: &service)
                == #"{"id":3,"revision":1,"result":{"changed":true,"changes":[{"revision":1,"kind":"registered","id":"\#(aliceID)"}]}}"#)
        #expect(service.counters.requests == 5)
    }

    @Test("a watch that must wait parks with its request id")
    func park() throws {
        var service = makeService()
        guard case .park(let watch) = service.handle(line: Array(#"{"id":"w","command":"watch","timeout":1}"#.utf8), caller: alice, connection: 1, now: at(0))
        else {
            Issue.record("not parked")
            return
        }
        #expect(watch.requestID == "w")
        #expect(watch.sinceRevision == 0)
        #expect(String(decoding: service.answer(watch).jsonBytes, as: UTF8.self) == #"{"id":"w","revision":0,"result":{"changed":false,"changes":[]}}"#)
    }
}
