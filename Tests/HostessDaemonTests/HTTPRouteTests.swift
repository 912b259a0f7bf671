import HostessHTTP
import HostessModel
import Testing

@testable import HostessDaemon

// MARK: - Routing

@Suite("HTTP requests route to endpoints")
struct HTTPRoutingTests {
    @Test("method and path pick the endpoint; HEAD is GET")
    func endpoints() throws {
        let book = GuestBook(ttlNanoseconds: 1)
        let cases: [(String, String, HTTPEndpoint)] = [
            ("GET", "/servers?class=0x0001", .servers), ("HEAD", "/servers", .servers), ("GET", "/servers/\(aliceID)", .server),
            ("DELETE", "/servers/\(aliceID)", .unregister), ("POST", "/servers/\(aliceID)/heartbeat", .heartbeat),
            ("POST", "/servers/\(aliceID)/terminals/input/in-use", .inUse), ("POST", "/servers/\(aliceID)/terminals/input/available", .available),
            ("POST", "/query", .query), ("POST", "/capabilities", .capabilities), ("POST", "/register", .register), ("POST", "/reserve", .reserve),
            ("GET", "/reservations", .reservations), ("GET", "/reservations/r-1", .reservation), ("DELETE", "/reservations/r-1", .cancelReservation),
            ("GET", "/health", .health), ("HEAD", "/metrics", .metrics),
        ]
        for (method, target, endpoint) in cases {
            let (routed, _) = try HTTPRouter.route(HTTPRequest(method: method, target: target), book: book).get()
            #expect(routed == endpoint, "\(method) \(target)")
        }
    }

    @Test("404 for unknown paths, 405 with Allow for other methods, 400 for a bad path encoding")
    func refusals() throws {
        let book = GuestBook(ttlNanoseconds: 1)
        func refusal(_ method: String, _ target: String) -> HTTPRouter.Refusal? {
            guard case .failure(let refusal) = HTTPRouter.route(HTTPRequest(method: method, target: target), book: book) else { return nil }
            return refusal
        }
        for target in ["/", "/nope", "/servers/", "/servers/x/terminals/input/broken", "/servers/x/terminals//in-use", "/reservations/"] {
            let refused = try #require(refusal("GET", target), "\(target)")
            #expect(refused.endpoint == .other)
            #expect(refused.response.status == .notFound)
            #expect(bodyText(refused.response) == #"{"error":{"code":"not_found","message":"no endpoint \#(target); see docs/openapi.yaml"}}"#)
        }
        let put = try #require(refusal("PUT", "/servers"))
        #expect(put.endpoint == .servers)
        #expect(put.response.status == .methodNotAllowed)
        #expect(put.response.header("allow") == "GET, HEAD")
        #expect(try #require(refusal("GET", "/register")).response.header("allow") == "POST")
        #expect(try #require(refusal("POST", "/servers/\(aliceID)")).response.header("allow") == "GET, HEAD, DELETE")
        let encoding = try #require(refusal("GET", "/servers/%zz"))
        #expect(encoding.response.status == .badRequest)
        #expect(encoding.response.header("x-hostess-index") == "0")
    }
}

// MARK: - Commands

@Suite("HTTP requests map to commands")
struct HTTPCommandTests {
    @Test("query parameters, path segments and bodies decode into the typed arguments")
    func commands() throws {
        let id = try name()
        let upper = aliceIDUpperCase
        #expect(
            try httpCommand("GET", "/servers?class=0x0002&capability=gpu&capabilities=h264,a4&availableTerminals=1&index=3&wait=1s")
                == .query(ServerFilter(classCode: try ClassCode(parsing: "0x0002"), capabilities: ["gpu", "h264", "a4"], availableTerminals: 1)))
        #expect(try httpCommand("GET", "/servers/\(upper)") == .getServer(id))
        #expect(try httpCommand("POST", "/query") == .query(ServerFilter()))
        #expect(try httpCommand("POST", "/query", body: #"{"owner":"alice"}"#) == .query(ServerFilter(owner: "alice")))
        #expect(try httpCommand("POST", "/capabilities", body: "{}") == .queryCapabilities(ServerFilter()))
        #expect(
            try httpCommand("POST", "/register", body: #"{"id":"\#(aliceID)","terminals":{"input":{"direction":"input"}},"capabilities":["gpu"]}"#)
                == .register(try aliceRegistration(), session: false))
        #expect(try httpCommand("DELETE", "/servers/\(upper)") == .unregister(id))
        #expect(try httpCommand("POST", "/servers/\(aliceID)/heartbeat") == .heartbeat(id))
        #expect(
            try httpCommand("POST", "/servers/\(aliceID)/terminals/input/in-use", body: #"{"connectomeId":"c-1"}"#)
                == .markInUse(id, terminal: "input", connectomeID: "c-1"))
        #expect(try httpCommand("POST", "/servers/\(aliceID)/terminals/input/available") == .markAvailable(id, terminal: "input", connectomeID: nil))
        #expect(
            try httpCommand("POST", "/reserve", body: #"{"count":1,"duration":1000,"serverFilter":{"capabilities":["gpu"]}}"#)
                == .reserve(ReservationRequest(filter: ServerFilter(capabilities: ["gpu"]), count: 1, duration: 1000)))
        #expect(try httpCommand("GET", "/reservations") == .listReservations(status: nil))
        #expect(try httpCommand("GET", "/reservations?status=expired") == .listReservations(status: .expired))
        #expect(try httpCommand("GET", "/reservations/r-1") == .getReservation(id: "r-1"))
        #expect(try httpCommand("DELETE", "/reservations/r-1") == .cancelReservation(id: "r-1"))
    }

    /// A request and the error mapping it gives: code and field (the body's members without a prefix).
    struct Case: CustomTestStringConvertible, Sendable {
        var method: String
        var target: String
        var body: String?
        var code: HostessError.Code
        var field: String?
        var testDescription: String { "\(method) \(target) \(body ?? "")" }
    }

    static let cases: [Case] = [
        Case(method: "GET", target: "/servers?bogus=1", code: .badRequest, field: "bogus"),
        Case(method: "GET", target: "/servers?class=0x0001&class=0x0002", code: .badRequest, field: "class"),
        Case(method: "GET", target: "/servers?class=zz", code: .badRequest, field: "class"),
        Case(method: "GET", target: "/servers?availableTerminals=x", code: .badRequest, field: "availableTerminals"),
        Case(method: "GET", target: "/servers?availableTerminals=17", code: .badRequest, field: "availableTerminals"),
        Case(method: "GET", target: "/servers?capability=%zz", code: .badRequest, field: "query"),
        Case(method: "GET", target: "/servers/not-a-name", code: .invalidName, field: "id"),
        Case(method: "GET", target: "/servers/\(aliceID)?class=0x0001", code: .badRequest, field: "class"),
        Case(method: "POST", target: "/query", body: #"{"x":1}"#, code: .badRequest, field: "x"),
        Case(method: "POST", target: "/query", body: "[1]", code: .badRequest, field: "body"),
        Case(method: "POST", target: "/query", body: "{", code: .parseError, field: "body"),
        Case(method: "POST", target: "/register", code: .badRequest, field: "body"),
        Case(method: "POST", target: "/register", body: #"{"id":"nope"}"#, code: .invalidName, field: "id"),
        Case(method: "POST", target: "/register", body: #"{"id":"\#(aliceID)","terminals":{"a":{"direction":"x"}}}"#, code: .badRequest, field: "terminals.a.direction"),
        Case(method: "POST", target: "/register", body: #"{"id":"\#(aliceID)","capabilities":["-"]}"#, code: .badRequest, field: "capabilities[0]"),
        Case(method: "DELETE", target: "/servers/\(aliceID)", body: "{}", code: .badRequest, field: "body"),
        Case(method: "POST", target: "/servers/bad/heartbeat", code: .invalidName, field: "id"),
        Case(method: "POST", target: "/servers/\(aliceID)/terminals/input/in-use", code: .badRequest, field: "body"),
        Case(method: "POST", target: "/servers/\(aliceID)/terminals/input/in-use", body: "{}", code: .badRequest, field: "connectomeId"),
        Case(method: "POST", target: "/servers/\(aliceID)/terminals/input/in-use", body: #"{"connectomeId":1}"#, code: .badRequest, field: "connectomeId"),
        Case(method: "POST", target: "/servers/\(aliceID)/terminals/input/available", body: #"{"x":1}"#, code: .badRequest, field: "x"),
        Case(method: "POST", target: "/reserve", body: #"{"count":1,"session":true}"#, code: .badRequest, field: "session"),
        Case(method: "POST", target: "/reserve", body: #"{"count":1,"allowRemote":true}"#, code: .badRequest, field: "allowRemote"),
        Case(method: "POST", target: "/reserve", body: #"{"count":0}"#, code: .badRequest, field: "count"),
        Case(method: "GET", target: "/reservations?status=gone", code: .badRequest, field: "status"),
        Case(method: "GET", target: "/reservations?x=1", code: .badRequest, field: "x"),
        Case(method: "DELETE", target: "/reservations/r-1", body: "{}", code: .badRequest, field: "body"),
    ]

    @Test("malformed requests are refused with the field they concern", arguments: cases)
    func refused(_ expected: Case) throws {
        let error = try #require(try httpRefusal(expected.method, expected.target, body: expected.body))
        #expect(error.code == expected.code)
        #expect(error.field == expected.field)
        #expect(HTTPRouter.status(for: error.code) == .badRequest)
    }

    @Test("a body without Content-Type: application/json is 415")
    func mediaType() throws {
        let request = HTTPRequest(method: "POST", target: "/query", body: Array("{}".utf8))
        let error = try #require(try httpRefusal("POST", "/query", request: request))
        #expect(error.code == .unsupportedMediaType)
        #expect(HTTPRouter.status(for: error.code) == .unsupportedMediaType)
    }
}

// MARK: - Responses

@Suite("HTTP responses are encoded from results")
struct HTTPResponseEncodingTests {
    static let facts = HTTPRouter.Facts(instanceID: "i", version: "v", startedAt: 0, unixConnections: 0, httpConnections: 0, publications: 0)

    func respond(_ request: HTTPRequest, caller: Caller?, service: inout Service) throws -> HTTPResponse {
        let (endpoint, segments) = try HTTPRouter.route(request, book: service.book).get()
        return HTTPRouter.respond(
            endpoint, request: request, segments: segments, caller: caller, service: &service, connection: 1, now: at(1), facts: Self.facts,
            metrics: HTTPMetrics())
    }

    @Test("201 then 200 for register, bare entries for reads, 403 for another key's owner, 404 when absent")
    func statuses() throws {
        var service = makeService()
        let key = Caller(uid: HTTPRouter.remoteUID, ownerNames: ["alice"], key: "peer")
        let other = Caller(uid: HTTPRouter.remoteUID, ownerNames: ["bob"], key: "bob-key")
        let body = #"{"id":"\#(aliceID)"}"#
        #expect(try respond(httpRequest("GET", "/servers/\(aliceID)"), caller: nil, service: &service).status == .notFound)
        #expect(try respond(httpRequest("POST", "/register", body: body), caller: other, service: &service).status == .forbidden)
        let created = try respond(httpRequest("POST", "/register", body: body), caller: key, service: &service)
        #expect(created.status == .created)
        #expect(bodyText(created).hasPrefix(#"{"entry":{"id":"\#(aliceID)""#))
        #expect(bodyText(created).hasSuffix(#","created":true,"ttl":15.0,"heartbeatInterval":5.0}"#))
        #expect(created.header("x-hostess-index") == "1")
        #expect(try respond(httpRequest("POST", "/register", body: body), caller: key, service: &service).status == .ok)
        let entry = try service.book.entry(id: aliceID)
        #expect(bodyText(try respond(httpRequest("GET", "/servers/\(aliceID)"), caller: nil, service: &service)) == String(decoding: entry.json.jsonBytes, as: UTF8.self))
        #expect(bodyText(try respond(httpRequest("POST", "/query"), caller: nil, service: &service)) == "[\(String(decoding: entry.json.jsonBytes, as: UTF8.self))]")
        let deleted = try respond(httpRequest("DELETE", "/servers/\(aliceID)"), caller: key, service: &service)
        #expect(bodyText(deleted) == #"{"entry":\#(String(decoding: entry.json.jsonBytes, as: UTF8.self))}"#)
        // Writes and reservation reads count as protocol requests; guest-book reads do not.
        #expect(service.counters.requests == 4)
    }

    @Test("reservations: 201 with the bare reservation, 403 for another key, arrays for lists")
    func reservations() throws {
        var service = makeService()
        _ = try run(.register(try aliceRegistration(), session: false), on: &service)
        let key = Caller(uid: HTTPRouter.remoteUID, ownerNames: [], key: "peer")
        let made = try respond(httpRequest("POST", "/reserve", body: #"{"count":1,"duration":1000}"#), caller: key, service: &service)
        #expect(made.status == .created)
        let reservation = try #require(service.book.reservations().first)
        // The reservation, and how to reach this Hostess (its fresh connection methods: none tested here).
        var expected = try #require(service.book.reply(for: reservation).json.objectValue)
        expected["connectionMethods"] = []
        #expect(bodyText(made) == String(decoding: JSONValue.object(expected).jsonBytes, as: UTF8.self))
        let listed = try respond(httpRequest("GET", "/reservations"), caller: nil, service: &service)
        #expect(bodyText(listed) == "[\(String(decoding: service.book.reply(for: reservation).json.jsonBytes, as: UTF8.self))]")
        let other = Caller(uid: HTTPRouter.remoteUID, ownerNames: [], key: "other")
        #expect(try respond(httpRequest("DELETE", "/reservations/\(reservation.id)"), caller: other, service: &service).status == .forbidden)
        #expect(try respond(httpRequest("DELETE", "/reservations/\(reservation.id)"), caller: key, service: &service).status == .ok)
        #expect(try respond(httpRequest("GET", "/reservations/none"), caller: nil, service: &service).status == .notFound)
    }
}
