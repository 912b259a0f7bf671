import HostessModel
import HostessProbing
import Testing

@testable import HostessDaemon

// MARK: - Decoding each command

@Suite("request lines decode into commands")
struct RequestDecodingTests {
    @Test("every command decodes with its typed arguments")
    func everyCommand() throws {
        let id = try name()
        let cases: [(String, Command)] = [
            (
                #"{"command":"register","session":true,"entry":{"id":"\#(aliceID)","terminals":{"input":{"direction":"input"}},"capabilities":["gpu"]}}"#,
                .register(try aliceRegistration(), session: true)
            ),
            (#"{"command":"register","entry":{"id":"\#(aliceID)"}}"#, .register(try registration(#"{"id":"\#(aliceID)"}"#), session: false)),
            (#"{"command":"unregister","serverId":"\#(aliceID)"}"#, .unregister(id)),
            (#"{"command":"heartbeat","serverId":"\#(aliceID)"}"#, .heartbeat(id)),
            (#"{"command":"getServer","serverId":"\#(aliceIDUpperCase)"}"#, .getServer(id)),
            (#"{"command":"listAll"}"#, .listAll),
            (#"{"command":"query"}"#, .query(ServerFilter())),
            (#"{"command":"query","filter":null}"#, .query(ServerFilter())),
            (
                #"{"command":"query","filter":{"class":"0X0002","capabilities":["gpu"],"availableTerminals":1,"unreserved":true}}"#,
                .query(ServerFilter(classCode: try ClassCode(parsing: "0x0002"), capabilities: ["gpu"], availableTerminals: 1, unreserved: true))
            ),
            (
                #"{"command":"markInUse","serverId":"\#(aliceID)","terminal":"input","connectomeId":"c-1"}"#,
                .markInUse(id, terminal: "input", connectomeID: "c-1")
            ),
            (#"{"command":"markAvailable","serverId":"\#(aliceID)","terminal":"input"}"#, .markAvailable(id, terminal: "input", connectomeID: nil)),
            (
                #"{"command":"markAvailable","serverId":"\#(aliceID)","terminal":"input","connectomeId":"any thing"}"#,
                .markAvailable(id, terminal: "input", connectomeID: "any thing")
            ),
            (#"{"command":"watch"}"#, .watch(sinceRevision: nil, timeout: 30)),
            (#"{"command":"watch","sinceRevision":3,"timeout":0.5}"#, .watch(sinceRevision: 3, timeout: 0.5)),
            (#"{"command":"status"}"#, .status),
            (
                #"{"command":"reserve","reservation":{"count":2,"duration":1000,"priority":5,"serverFilter":{"capabilities":["gpu"]}}}"#,
                .reserve(ReservationRequest(filter: ServerFilter(capabilities: ["gpu"]), count: 2, duration: 1000, priority: 5))
            ),
            (#"{"command":"cancelReservation","reservationId":"r-1"}"#, .cancelReservation(id: "r-1")),
            (#"{"command":"getReservation","reservationId":"r-1"}"#, .getReservation(id: "r-1")),
            (#"{"command":"listReservations"}"#, .listReservations(status: nil)),
            (#"{"command":"listReservations","status":"active"}"#, .listReservations(status: .active)),
            (#"{"command":"queryCapabilities","filter":{"owner":"alice"}}"#, .queryCapabilities(ServerFilter(owner: "alice"))),
            (
                #"{"command":"recordConnectome","connectome":{"id":"w-1","links":[{"id":"l-1","mode":"direct","sources":[{"serverId":"\#(aliceIDUpperCase)","terminal":"output"}],"targets":[{"serverId":"\#(aliceID)","terminal":"input"}]}]}}"#,
                .recordConnectome(
                    Connectome(
                        id: "w-1",
                        links: [
                            .init(
                                id: "l-1", mode: .direct, sources: [.init(serverID: id, terminal: "output")], targets: [.init(serverID: id, terminal: "input")])
                        ]))
            ),
            (#"{"command":"getConnectome","connectomeId":"w-1"}"#, .getConnectome(id: "w-1")),
            (#"{"command":"listConnectomes"}"#, .listConnectomes),
            (#"{"command":"removeConnectome","connectomeId":"w-1"}"#, .removeConnectome(id: "w-1")),
            (#"{"command":"listPeers"}"#, .listPeers),
            (#"{"command":"probe"}"#, .probe(ProbeRequest())),
            (
                #"{"command":"probe","targets":["127.0.0.1","::1"],"ports":"20000-20099","from":"machine-b"}"#,
                .probe(ProbeRequest(targets: ["127.0.0.1", "::1"], ports: PortRange(lowerBound: 20000, upperBound: 20099), from: "machine-b"))
            ),
            (#"{"command":"listConnectionMethods"}"#, .listConnectionMethods(fqdn: nil)),
            (#"{"command":"listConnectionMethods","fqdn":"machine-b"}"#, .listConnectionMethods(fqdn: "machine-b")),
        ]
        for (line, command) in cases {
            #expect(try decode(line).command == command, "\(line)")
        }
        #expect(Set(cases.map(\.1.kind)) == Set(Command.Kind.allCases))
    }

    @Test("the id is echoed as given, and absent is null")
    func ids() throws {
        #expect(try decode(#"{"id":7,"command":"listAll"}"#).id == .int(7))
        #expect(try decode(#"{"id":"x","command":"listAll"}"#).id == .string("x"))
        #expect(try decode(#"{"id":null,"command":"listAll"}"#).id == .null)
        #expect(try decode(#"{"command":"listAll"}"#).id == .null)
    }

    @Test("the known commands of unknown_command come from Command.Kind, in the documented order")
    func unknownCommand() throws {
        let error = try #require(refusal(#"{"id":4,"command":"nope","extra":1}"#))
        #expect(error.id == .int(4))
        #expect(
            error.error
                == HostessError(
                    .unknownCommand,
                    "unknown command 'nope'; known: register, unregister, heartbeat, getServer, listAll, query, markInUse, markAvailable, watch, status, reserve, cancelReservation, getReservation, listReservations, queryCapabilities, recordConnectome, getConnectome, listConnectomes, removeConnectome, listPeers, probe, listConnectionMethods",
                    field: "command"))
    }
}

// MARK: - Refusals

@Suite("request lines that are refused")
struct RequestRefusalTests {
    /// A line, and the error it gets: code, field, message (nil: not checked) and the id echoed.
    struct Case: CustomTestStringConvertible, Sendable {
        var line: String
        var code: HostessError.Code
        var field: String?
        var message: String?
        var id: JSONValue = .int(1)
        var testDescription: String { line }
    }

    static let cases: [Case] = [
        Case(line: "not json", code: .parseError, field: nil, id: .null),
        Case(line: "[1]", code: .badRequest, field: nil, message: "a request is a JSON object, found array", id: .null),
        Case(
            line: #"{"id":true,"command":"listAll"}"#, code: .badRequest, field: "id", message: "expected an integer or a string, found boolean",
            id: .null),
        Case(line: #"{"id":1}"#, code: .badRequest, field: "command", message: "required field is missing"),
        Case(line: #"{"id":1,"command":5}"#, code: .badRequest, field: "command", message: "expected a string, found number"),
        Case(line: #"{"id":1,"command":"listAll","x":1}"#, code: .badRequest, field: "x", message: "unknown field"),
        Case(line: #"{"id":1,"command":"getServer","serverId":"bad","x":1}"#, code: .badRequest, field: "x", message: "unknown field"),
        Case(line: #"{"id":1,"command":"getServer"}"#, code: .badRequest, field: "serverId", message: "required field is missing"),
        Case(line: #"{"id":1,"command":"unregister","serverId":null}"#, code: .badRequest, field: "serverId", message: "required field is missing"),
        Case(line: #"{"id":1,"command":"heartbeat","serverId":"a:b"}"#, code: .invalidName, field: "serverId"),
        Case(
            line: #"{"id":1,"command":"markInUse","serverId":"\#(aliceID)","terminal":3,"connectomeId":"c"}"#, code: .badRequest,
            field: "terminal", message: "expected a string, found number"),
        Case(
            line: #"{"id":1,"command":"markInUse","serverId":"\#(aliceID)","terminal":"input"}"#, code: .badRequest, field: "connectomeId",
            message: "required field is missing"),
        Case(line: #"{"id":1,"command":"markAvailable","serverId":"bad","terminal":"input"}"#, code: .invalidName, field: "serverId"),
        Case(line: #"{"id":1,"command":"register"}"#, code: .badRequest, field: "entry", message: "required field is missing"),
        Case(line: #"{"id":1,"command":"register","entry":[]}"#, code: .badRequest, field: "entry", message: "expected an object, found array"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(aliceID)","bogus":1}}"#, code: .badRequest, field: "entry.bogus"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"nope"}}"#, code: .invalidName, field: "entry.id"),
        Case(
            line: #"{"id":1,"command":"register","entry":{"id":"\#(aliceID)","authentication":{"x":1}}}"#, code: .badRequest,
            field: "entry.authentication.x", message: "unknown field"),
        Case(
            line: #"{"id":1,"command":"register","entry":{"id":"\#(aliceID)","terminals":{"in":{"direction":"sideways"}}}}"#, code: .badRequest,
            field: "entry.terminals.in.direction"),
        Case(
            line: #"{"id":1,"command":"register","entry":{"id":"\#(aliceID)","capabilities":["gpu",1]}}"#, code: .badRequest,
            field: "entry.capabilities[1]", message: "expected a string, found number"),
        Case(
            line: #"{"id":1,"command":"register","entry":{"id":"\#(aliceID)"},"session":"yes"}"#, code: .badRequest, field: "session",
            message: "expected true or false, found string"),
        Case(line: #"{"id":1,"command":"query","filter":{"class":"zz"}}"#, code: .badRequest, field: "filter.class"),
        Case(line: #"{"id":1,"command":"query","filter":{"x":1}}"#, code: .badRequest, field: "filter.x", message: "unknown field"),
        Case(line: #"{"id":1,"command":"query","filter":3}"#, code: .badRequest, field: "filter", message: "expected an object, found number"),
        Case(
            line: #"{"id":1,"command":"queryCapabilities","filter":{"capabilities":[\#((0...32).map { "\"c\($0)\"" }.joined(separator: ","))]}}"#,
            code: .tooLarge, field: "filter.capabilities", message: "at most 32 capabilities"),
        Case(line: #"{"id":1,"command":"watch","timeout":301}"#, code: .badRequest, field: "timeout", message: "301.0 is outside 0.0...300.0"),
        Case(
            line: #"{"id":1,"command":"watch","sinceRevision":1.0}"#, code: .badRequest, field: "sinceRevision",
            message: "expected an integer, found number"),
        Case(line: #"{"id":1,"command":"watch","sinceRevision":-1}"#, code: .badRequest, field: "sinceRevision"),
        Case(line: #"{"id":1,"command":"reserve"}"#, code: .badRequest, field: "reservation", message: "required field is missing"),
        Case(line: #"{"id":1,"command":"reserve","reservation":{"count":0}}"#, code: .badRequest, field: "reservation.count"),
        Case(line: #"{"id":1,"command":"reserve","reservation":{"count":1,"x":1}}"#, code: .badRequest, field: "reservation.x"),
        Case(
            line: #"{"id":1,"command":"reserve","reservation":{"count":1,"serverFilter":{"class":"no"}}}"#, code: .badRequest,
            field: "reservation.serverFilter.class"),
        Case(line: #"{"id":1,"command":"cancelReservation"}"#, code: .badRequest, field: "reservationId", message: "required field is missing"),
        Case(line: #"{"id":1,"command":"getReservation","reservationId":1}"#, code: .badRequest, field: "reservationId"),
        Case(
            line: #"{"id":1,"command":"listReservations","status":"gone"}"#, code: .badRequest, field: "status",
            message: "expected one of \(Reservation.Status.allCases.map(\.rawValue).joined(separator: ", "))"),
        Case(line: #"{"id":1,"command":"status","verbose":true}"#, code: .badRequest, field: "verbose", message: "unknown field"),
    ]

    @Test("each is refused with its code, field path, message and echoed id", arguments: cases)
    func refused(_ expected: Case) throws {
        let error = try #require(refusal(expected.line))
        #expect(error.id == expected.id)
        #expect(error.error.code == expected.code)
        #expect(error.error.field == expected.field)
        if let message = expected.message { #expect(error.error.message == message) }
    }
}
