import HostessHTTP
import HostessModel
import Testing

@testable import HostessDaemon

// MARK: - Fixtures

/// The protocol document's example id, owned by alice.
let aliceID = "machine-a.local:gpu-renderer:0x0002:alice:yes:preshared-secret:6ba7b810-9dad-11d1-80b4-00c04fd430c8"
/// The same id spelled with an upper-case class and UUID.
let aliceIDUpperCase = "machine-a.local:gpu-renderer:0X0002:alice:yes:preshared-secret:6BA7B810-9DAD-11D1-80B4-00C04FD430C8"

let alice = Caller(uid: 1000, ownerNames: ["alice"])
let bob = Caller(uid: 1001, ownerNames: ["bob"])
let root = Caller(uid: 0, ownerNames: [])

/// A reading of both clocks `seconds` after a fixed start.
func at(_ seconds: UInt64) -> Timestamp {
    Timestamp(wallMilliseconds: 1_700_000_000_000 + Int64(seconds * 1000), monotonicNanoseconds: 1_000_000_000 + seconds * 1_000_000_000)
}

/// The parsed server name `text`.
func name(_ text: String = aliceID) throws -> ServerName { try ServerName(parsing: text) }

/// The JSON object `text` spells.
func object(_ text: String) throws -> JSONObject {
    let value = try JSONParser.parse(Array(text.utf8))
    return try #require(value.objectValue)
}

/// The registration an `entry` object spells.
func registration(_ text: String) throws -> Registration { try Registration(reader: JSONReader(try object(text))) }

/// alice's entry with an `input` terminal (multiplexing none) and the capability `gpu`.
func aliceRegistration() throws -> Registration {
    try registration(#"{"id":"\#(aliceID)","terminals":{"input":{"direction":"input"}},"capabilities":["gpu"]}"#)
}

// MARK: - Decoding

/// Decodes a request line given as text.
func decode(_ line: String) throws(RequestError) -> Request { try Request(line: Array(line.utf8)) }

/// The refusal decoding `line` gives; nil when it decodes.
func refusal(_ line: String) -> RequestError? {
    do {
        _ = try decode(line)
        return nil
    } catch {
        return error
    }
}

// MARK: - Running

/// A service over an empty guest book: TTL 15 s, heartbeats every 5 s.
func makeService() -> Service { Service(ttlSeconds: 15, heartbeatInterval: 5) }

/// Runs `command` and returns its result, failing the test on a park.
func run(_ command: Command, on service: inout Service, by caller: Caller = alice, at time: Timestamp = at(1)) throws -> CommandResult {
    guard case .done(let result) = try service.execute(command, caller: caller, connection: 1, now: time) else {
        Issue.record("\(command.kind) parked")
        throw HostessError(.internal, "parked")
    }
    return result
}

/// The error running `command` throws; nil when it succeeds.
func refusal(_ command: Command, on service: inout Service, by caller: Caller = alice) -> HostessError? {
    do {
        _ = try service.execute(command, caller: caller, connection: 1, now: at(1))
        return nil
    } catch {
        return error
    }
}

/// The reply line `line` gets, as text.
func replyText(_ line: String, on service: inout Service, by caller: Caller = alice) -> String? {
    switch service.handle(line: Array(line.utf8), caller: caller, connection: 1, now: at(1)) {
    case .reply(let reply): return String(decoding: reply.jsonBytes, as: UTF8.self)
    case .raw(let bytes): return String(decoding: bytes, as: UTF8.self)
    default: return nil
    }
}

// MARK: - HTTP

/// An HTTP request; a body is sent as `application/json`.
func httpRequest(_ method: String, _ target: String, body: String? = nil) -> HTTPRequest {
    guard let body else { return HTTPRequest(method: method, target: target) }
    return HTTPRequest(
        method: method, target: target, headers: [HTTPHeader(name: "content-type", value: "application/json")], body: Array(body.utf8))
}

/// The command an HTTP request maps to, through the router's routing and decoding.
func httpCommand(_ method: String, _ target: String, body: String? = nil) throws -> Command {
    let request = httpRequest(method, target, body: body)
    let (endpoint, segments) = try HTTPRouter.route(request, book: GuestBook(ttlNanoseconds: 1)).get()
    return try HTTPRouter.command(endpoint, request: request, segments: segments)
}

/// The error mapping an HTTP request to a command throws; nil when it maps.
func httpRefusal(_ method: String, _ target: String, body: String? = nil, request given: HTTPRequest? = nil) throws -> HostessError? {
    let request = given ?? httpRequest(method, target, body: body)
    let (endpoint, segments) = try HTTPRouter.route(request, book: GuestBook(ttlNanoseconds: 1)).get()
    do {
        _ = try HTTPRouter.command(endpoint, request: request, segments: segments)
        return nil
    } catch {
        return error
    }
}

/// The body of a response, as text.
func bodyText(_ response: HTTPResponse) -> String { String(decoding: response.body, as: UTF8.self) }
