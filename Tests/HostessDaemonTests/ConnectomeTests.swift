import HostessModel
import Testing

@testable import HostessDaemon

// MARK: - Fixtures

/// alice's PTY server: `stdout` fans out, `stdin` takes one connection.
let ptyID = "machine-a.local:pty:0x0001:alice:no:none:550e8400-e29b-41d4-a716-446655440000"

/// A service with alice's renderer (`input`) and PTY (`stdout`, `stdin`) registered.
func wiredService() throws -> Service {
    var service = makeService()
    _ = try run(.register(try aliceRegistration(), session: false), on: &service)
    let pty = try registration(
        #"{"id":"\#(ptyID)","terminals":{"stdout":{"direction":"output","multiplexing":"fanout"},"stdin":{"direction":"input"}}}"#)
    _ = try run(.register(pty, session: false), on: &service)
    return service
}

/// A `recordConnectome` line whose connectome is `connectome` (JSON text).
func recordLine(_ connectome: String) -> String { #"{"id":1,"command":"recordConnectome","connectome":\#(connectome)}"# }

/// The connectome `w-1`: link `l-1` from the PTY's stdout to the renderer's input.
let ptyToRenderer =
    #"{"id":"w-1","source":"wiring.yaml","links":[{"id":"l-1","mode":"direct","sources":[{"serverId":"\#(ptyID)","terminal":"stdout"}],"targets":[{"serverId":"\#(aliceID)","terminal":"input"}]}]}"#

/// The connectome a JSON text spells, decoded as the socket decodes it.
func connectome(_ text: String = ptyToRenderer) throws -> Connectome {
    try Connectome(reader: JSONReader(try object(text), path: "connectome"))
}

/// Marks both endpoints of `l-1` in use.
func markLink(on service: inout Service) throws {
    _ = try run(.markInUse(try name(ptyID), terminal: "stdout", connectomeID: "l-1"), on: &service)
    _ = try run(.markInUse(try name(aliceID), terminal: "input", connectomeID: "l-1"), on: &service)
}

// MARK: - Decoding

@Suite("recordConnectome and serverIds refuse bad input, naming the field")
struct ConnectomeDecodingTests {
    /// A `connectome` object, and the error it gets.
    struct Case: CustomTestStringConvertible, Sendable {
        var connectome: String
        var code: HostessError.Code
        var field: String
        var testDescription: String { "\(field): \(connectome)" }
    }

    static let endpoint = #"{"serverId":"\#(aliceID)","terminal":"input"}"#
    static func link(_ members: String = #""id":"l","mode":"direct""#, sources: String = endpoint, targets: String = endpoint) -> String {
        #"{\#(members),"sources":[\#(sources)],"targets":[\#(targets)]}"#
    }

    static let cases: [Case] = [
        Case(connectome: #"{"links":[\#(link())]}"#, code: .badRequest, field: "connectome.id"),
        Case(connectome: #"{"id":"","links":[\#(link())]}"#, code: .badRequest, field: "connectome.id"),
        Case(connectome: #"{"id":"a b","links":[\#(link())]}"#, code: .badRequest, field: "connectome.id"),
        Case(connectome: #"{"id":"\#(String(repeating: "x", count: 65))","links":[\#(link())]}"#, code: .badRequest, field: "connectome.id"),
        Case(connectome: #"{"id":"w","extra":1,"links":[\#(link())]}"#, code: .badRequest, field: "connectome.extra"),
        Case(connectome: #"{"id":"w","source":"","links":[\#(link())]}"#, code: .badRequest, field: "connectome.source"),
        Case(connectome: #"{"id":"w","source":"a\u0001b","links":[\#(link())]}"#, code: .badRequest, field: "connectome.source"),
        Case(connectome: #"{"id":"w","reservationId":"r 1","links":[\#(link())]}"#, code: .badRequest, field: "connectome.reservationId"),
        Case(connectome: #"{"id":"w"}"#, code: .badRequest, field: "connectome.links"),
        Case(connectome: #"{"id":"w","links":[]}"#, code: .badRequest, field: "connectome.links"),
        Case(connectome: #"{"id":"w","links":{}}"#, code: .badRequest, field: "connectome.links"),
        Case(connectome: #"{"id":"w","links":[1]}"#, code: .badRequest, field: "connectome.links[0]"),
        Case(connectome: #"{"id":"w","links":[\#(link()),\#(link())]}"#, code: .badRequest, field: "connectome.links[1].id"),
        Case(connectome: #"{"id":"w","links":[\#(link(#""id":"l","mode":"sideways""#))]}"#, code: .badRequest, field: "connectome.links[0].mode"),
        Case(connectome: #"{"id":"w","links":[\#(link(#""id":"l:1/2","mode":"direct""#))]}"#, code: .badRequest, field: "connectome.links[0].id"),
        Case(connectome: #"{"id":"w","links":[\#(link(#""id":"l","mode":"direct","x":0"#))]}"#, code: .badRequest, field: "connectome.links[0].x"),
        Case(connectome: #"{"id":"w","links":[{"id":"l","mode":"direct","sources":[],"targets":[\#(endpoint)]}]}"#, code: .badRequest, field: "connectome.links[0].sources"),
        Case(
            connectome: #"{"id":"w","links":[\#(link(targets: #"\#(endpoint),{"serverId":"x","terminal":"input"}"#))]}"#, code: .invalidName,
            field: "connectome.links[0].targets[1].serverId"),
        Case(
            connectome: #"{"id":"w","links":[\#(link(targets: #"{"serverId":"\#(aliceID)","terminal":"-bad"}"#))]}"#, code: .badRequest,
            field: "connectome.links[0].targets[0].terminal"),
        Case(
            connectome: #"{"id":"w","links":[\#(link(targets: #"{"serverId":"\#(aliceID)"}"#))]}"#, code: .badRequest,
            field: "connectome.links[0].targets[0].terminal"),
        Case(
            connectome: #"{"id":"w","links":[\#(link(sources: endpoint + "," + endpoint.replacingOccurrences(of: aliceID, with: aliceIDUpperCase)))]}"#,
            code: .badRequest, field: "connectome.links[0].sources[1]"),
        Case(
            connectome: #"{"id":"w","links":[\#(link(sources: Array(repeating: endpoint, count: 65).joined(separator: ",")))]}"#, code: .tooLarge,
            field: "connectome.links[0].sources"),
    ]

    @Test("a malformed connectome is refused with its field's path", arguments: cases)
    func refused(_ item: Case) throws {
        let error = try #require(refusal(recordLine(item.connectome)))
        #expect(error.error.code == item.code)
        #expect(error.error.field == item.field)
    }

    @Test("the recorded form reads back, canonical, and survives the output's extra members")
    func roundTrip() throws {
        let decoded = try connectome(ptyToRenderer.replacingOccurrences(of: aliceID, with: aliceIDUpperCase))
        #expect(decoded == (try connectome()))
        #expect(decoded.links.first?.targets.first?.serverID.description == aliceID)
        let record = ConnectomeRecord(connectome: decoded, createdBy: .user(uid: 1000), createdAt: 5)
        #expect(try ConnectomeRecord(json: record.json) == record)
    }

    @Test(
        "serverIds: 1 to 1024 valid, distinct names, reported under the filter's path",
        arguments: [
            (#"{"serverIds":[]}"#, HostessError.Code.badRequest, "filter.serverIds"),
            (#"{"serverIds":"x"}"#, .badRequest, "filter.serverIds"),
            (#"{"serverIds":["\#(aliceID)",1]}"#, .badRequest, "filter.serverIds[1]"),
            (#"{"serverIds":["\#(aliceID)","nope"]}"#, .invalidName, "filter.serverIds[1]"),
            (#"{"serverIds":["\#(aliceID)","\#(aliceIDUpperCase)"]}"#, .badRequest, "filter.serverIds[1]"),
            (#"{"serverIds":[\#(Array(repeating: "\"\(aliceID)\"", count: 1025).joined(separator: ","))]}"#, .tooLarge, "filter.serverIds"),
        ])
    func serverIDsRefused(filter: String, code: HostessError.Code, field: String) throws {
        let error = try #require(refusal(#"{"id":1,"command":"query","filter":\#(filter)}"#))
        #expect(error.error.code == code)
        #expect(error.error.field == field)
    }

    @Test("serverIds in a reservation's filter are refused under the reservation's path")
    func serverIDsInReservation() throws {
        let error = try #require(refusal(#"{"id":1,"command":"reserve","reservation":{"count":1,"serverFilter":{"serverIds":["x"]}}}"#))
        #expect(error.error.field == "reservation.serverFilter.serverIds[0]")
    }

    @Test("serverIds decode canonical and encode back in the order given")
    func serverIDsDecode() throws {
        let command = try decode(#"{"command":"query","filter":{"serverIds":["\#(ptyID)","\#(aliceIDUpperCase)"]}}"#).command
        #expect(command == .query(ServerFilter(serverIDs: [ptyID, aliceID])))
        #expect(ServerFilter(serverIDs: [ptyID, aliceID]).json == ["serverIds": [.string(ptyID), .string(aliceID)]])
    }
}

// MARK: - Executing

@Suite("the executor records, reads and removes connectomes")
struct ConnectomeExecutorTests {
    @Test("record returns the record with its live state; the same again is created: false and changes nothing")
    func recordAndIdempotent() throws {
        var service = try wiredService()
        try markLink(on: &service)
        let before = service.book.revision
        guard case .recordedConnectome(let record, created: true) = try run(.recordConnectome(try connectome()), on: &service, at: at(3)) else {
            Issue.record("not recorded")
            return
        }
        #expect(record.state == .active && record.problems.isEmpty)
        #expect(record.createdBy == .user(uid: alice.uid))
        #expect(record.createdAt == at(3).wallMilliseconds)
        #expect(service.book.revision == before + 1)
        #expect(service.book.changes(since: before) == [Change(revision: before + 1, kind: .connectome, id: "w-1")])
        #expect(try run(.recordConnectome(try connectome()), on: &service, at: at(9)) == .recordedConnectome(record, created: false))
        #expect(service.book.revision == before + 1)
        #expect(try run(.getConnectome(id: "w-1"), on: &service, by: bob) == .connectome(record))
        #expect(try run(.listConnectomes, on: &service, by: bob) == .connectomes([record]))
    }

    @Test("the same id with other content, or by another creator, is a conflict")
    func conflict() throws {
        var service = try wiredService()
        _ = try run(.recordConnectome(try connectome()), on: &service)
        let other = try connectome(ptyToRenderer.replacingOccurrences(of: "wiring.yaml", with: "other.yaml"))
        let changed = try #require(refusal(.recordConnectome(other), on: &service))
        #expect(changed.code == .conflict)
        #expect(changed.message.contains("connectome w-1 exists") && changed.message.contains("remove it first"))
        #expect(refusal(.recordConnectome(try connectome()), on: &service, by: bob)?.code == .conflict)
    }

    @Test(
        "every endpoint's server and terminal must be in the guest book",
        arguments: [
            (ptyID, "stdout", aliceID, "output", "connectome.links[0].targets[0].terminal"),
            (ptyID.replacingOccurrences(of: "550e8400", with: "00000000"), "stdout", aliceID, "input", "connectome.links[0].sources[0].serverId"),
        ])
    func endpointsMustExist(source: String, sourceTerminal: String, target: String, targetTerminal: String, field: String) throws {
        var service = try wiredService()
        let text =
            #"{"id":"w","links":[{"id":"l","mode":"direct","sources":[{"serverId":"\#(source)","terminal":"\#(sourceTerminal)"}],"targets":[{"serverId":"\#(target)","terminal":"\#(targetTerminal)"}]}]}"#
        let error = try #require(refusal(.recordConnectome(try connectome(text)), on: &service))
        #expect(error.code == .notFound)
        #expect(error.field == field)
        #expect(service.book.allConnectomes().isEmpty)
    }

    @Test("state is worked out on every read: not_marked, then active, then server_gone and terminal_gone")
    func liveState() throws {
        var service = try wiredService()
        _ = try run(.recordConnectome(try connectome()), on: &service)
        var record = try service.book.connectome(id: "w-1")
        #expect(record.state == .degraded)
        #expect(record.problems.map(\.reason) == [.notMarked, .notMarked])
        try markLink(on: &service)
        #expect(try service.book.connectome(id: "w-1").state == .active)
        // The renderer goes; then the PTY re-registers without stdout.
        _ = try run(.unregister(try name(aliceID)), on: &service)
        _ = try run(.register(try registration(#"{"id":"\#(ptyID)","terminals":{"stdin":{"direction":"input"}}}"#), session: false), on: &service)
        record = try service.book.connectome(id: "w-1")
        #expect(record.state == .degraded)
        #expect(
            record.problems == [
                .init(linkID: "l-1", serverID: ptyID, terminal: "stdout", reason: .terminalGone),
                .init(linkID: "l-1", serverID: aliceID, terminal: "input", reason: .serverGone),
            ])
        #expect(record.json.objectValue?["state"] == "degraded")
    }

    @Test("only the creator or root removes; removing leaves the terminals alone")
    func remove() throws {
        var service = try wiredService()
        try markLink(on: &service)
        _ = try run(.recordConnectome(try connectome()), on: &service)
        let forbidden = try #require(refusal(.removeConnectome(id: "w-1"), on: &service, by: bob))
        #expect(forbidden.code == .forbidden && forbidden.field == "connectomeId")
        #expect(refusal(.removeConnectome(id: "w-1"), on: &service, by: Caller(uid: 1000, ownerNames: ["alice"], key: "k"))?.code == .forbidden)
        let before = service.book.revision
        let record = try service.book.connectome(id: "w-1")
        #expect(try run(.removeConnectome(id: "w-1"), on: &service, by: root) == .connectome(record))
        #expect(service.book.revision == before + 1)
        #expect(refusal(.getConnectome(id: "w-1"), on: &service)?.code == .notFound)
        #expect(refusal(.removeConnectome(id: "w-1"), on: &service)?.code == .notFound)
        #expect(try service.book.entry(id: aliceID).terminals.first?.connectedTo == ["l-1"])
    }

    @Test("one uid may record at most 256; root is not limited per uid")
    func perCreatorLimit() throws {
        var service = try wiredService()
        for index in 0..<Limits.connectomesPerCreator {
            _ = try run(.recordConnectome(try connectome(ptyToRenderer.replacingOccurrences(of: "w-1", with: "w-\(index)"))), on: &service)
        }
        let error = try #require(refusal(.recordConnectome(try connectome(ptyToRenderer.replacingOccurrences(of: "w-1", with: "w-x"))), on: &service))
        #expect(error.code == .capacity && error.message.contains("\(Limits.connectomesPerCreator)"))
        _ = try run(.recordConnectome(try connectome(ptyToRenderer.replacingOccurrences(of: "w-1", with: "w-x"))), on: &service, by: root)
        #expect(service.book.allConnectomes().count == Limits.connectomesPerCreator + 1)
    }

    @Test("endpoints are bounded per connectome and per uid, so one user's records stay small; root is not limited per uid")
    func endpointLimits() throws {
        var service = try wiredService()
        let input = Connectome.Endpoint(serverID: try name(aliceID), terminal: "input")
        /// A connectome of `links` links, each with 32 sources and 32 targets.
        func wide(_ id: String, links: Int) -> Connectome {
            Connectome(
                id: id, links: (0..<links).map { Connectome.Link(id: "\(id).\($0)", mode: .merge, sources: Array(repeating: input, count: 32), targets: Array(repeating: input, count: 32)) })
        }
        let tooWide = try #require(refusal(.recordConnectome(wide("w-big", links: Limits.connectomeEndpoints / 64 + 1)), on: &service))
        #expect(tooWide.code == .tooLarge && tooWide.field == "connectome.links", "\(tooWide)")
        let perConnectome = Limits.connectomeEndpoints / 64
        for index in 0..<(Limits.connectomeEndpointsPerCreator / Limits.connectomeEndpoints) {
            _ = try run(.recordConnectome(wide("w-\(index)", links: perConnectome)), on: &service)
        }
        let over = try #require(refusal(.recordConnectome(wide("w-over", links: 1)), on: &service))
        #expect(over.code == .capacity && over.message.contains("\(Limits.connectomeEndpointsPerCreator)"), "\(over)")
        _ = try run(.recordConnectome(wide("w-over", links: 1)), on: &service, by: root)
    }

    @Test("list is ordered by createdAt, then id")
    func order() throws {
        var service = try wiredService()
        for (id, time) in [("w-b", 2), ("w-c", 1), ("w-a", 2)] {
            _ = try run(.recordConnectome(try connectome(ptyToRenderer.replacingOccurrences(of: "w-1", with: id))), on: &service, at: at(UInt64(time)))
        }
        #expect(service.book.allConnectomes().map(\.connectome.id) == ["w-c", "w-a", "w-b"])
    }

    @Test("reserve with serverIds holds exactly those servers, all or none")
    func reserveByIDs() throws {
        var service = try wiredService()
        let third = "machine-a.local:pty:0x0001:alice:no:none:550e8400-e29b-41d4-a716-446655440001"
        _ = try run(.register(try registration(#"{"id":"\#(third)"}"#), session: false), on: &service)
        let missing = ptyID.replacingOccurrences(of: "550e8400", with: "00000000")
        let none = try #require(
            refusal(.reserve(ReservationRequest(filter: ServerFilter(serverIDs: [aliceID, missing]), count: 2)), on: &service))
        #expect(none.code == .conflict)
        #expect(service.book.reservations().isEmpty)
        guard case .reservation(let reply) = try run(.reserve(ReservationRequest(filter: ServerFilter(serverIDs: [third, aliceID]), count: 2)), on: &service)
        else {
            Issue.record("not a reservation")
            return
        }
        #expect(Set(reply.reservation.serverIDs) == [aliceID, third])
        #expect(try service.book.entry(id: ptyID).reservedBy == nil)
        #expect(refusal(.reserve(ReservationRequest(filter: ServerFilter(serverIDs: [ptyID, third]), count: 2)), on: &service)?.code == .conflict)
        #expect(try run(.query(ServerFilter(unreserved: true, serverIDs: [ptyID, third])), on: &service).json == ["entries": [try service.book.entry(id: ptyID).json]])
    }
}

// MARK: - HTTP

@Suite("GET /connectomes and /connectomes/{id} map to the connectome reads")
struct ConnectomeRouteTests {
    @Test("the routes decode into listConnectomes and getConnectome")
    func routes() throws {
        #expect(try httpCommand("GET", "/connectomes") == .listConnectomes)
        #expect(try httpCommand("HEAD", "/connectomes/w-1") == .getConnectome(id: "w-1"))
        #expect(try httpRefusal("GET", "/connectomes?x=1")?.field == "x")
    }

    @Test("other methods are 405 with Allow", arguments: ["POST", "DELETE", "PUT"])
    func methods(method: String) throws {
        for path in ["/connectomes", "/connectomes/w-1"] {
            guard case .failure(let refusal) = HTTPRouter.route(httpRequest(method, path), book: GuestBook(ttlNanoseconds: 1)) else {
                Issue.record("\(method) \(path) routed")
                continue
            }
            #expect(refusal.response.status.code == 405)
            #expect(refusal.response.headers.contains { $0.name == "Allow" && $0.value == "GET, HEAD" })
        }
    }

    @Test("a recorded connectome reads back wrapped, and an unknown id is 404")
    func read() throws {
        var service = try wiredService()
        _ = try run(.recordConnectome(try connectome()), on: &service)
        let list = HTTPRouter.read(.connectomes, .listConnectomes, service: service)
        #expect(list.status.code == 200)
        #expect(bodyText(list).hasPrefix(#"{"connectomes":[{"id":"w-1","#))
        #expect(HTTPRouter.read(.connectome, .getConnectome(id: "nope"), service: service).status.code == 404)
    }
}
