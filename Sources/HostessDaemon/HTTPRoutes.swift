import HostessHTTP
import HostessModel
import HostessSystem

// MARK: - Endpoint

/// The HTTP interface's endpoints, as the metrics label them.
enum HTTPEndpoint: String, CaseIterable, Sendable {
    case servers, server, query, register, unregister, heartbeat
    case inUse = "in_use"
    case available, capabilities, health, metrics
    case reserve, reservations, reservation
    case cancelReservation = "cancel_reservation"
    case other
}

// MARK: - HTTPRouter

/// Turns HTTP requests into guest-book reads and protocol commands, and their results into responses.
///
/// No I/O: the front end hands it complete requests and writes what it returns. Writes go through
/// ``Service/handle(request:caller:connection:now:)`` like socket requests, so both interfaces share one set of
/// rules; the caller is the signing key's owners, never root.
struct HTTPRouter {
    /// What to do with a request.
    enum Outcome {
        /// Answer now.
        case respond(HTTPResponse)
        /// A blocking read: answer when the revision passes `index` or at `deadline` (CLOCK_MONOTONIC ns).
        case park(index: UInt64, deadline: UInt64)
    }

    /// The longest a blocking query may wait, in seconds, and the wait when only `index` is given.
    static let maximumWaitSeconds = 300.0
    static let defaultWaitSeconds = 30.0
    /// The uid HTTP callers act under: no local user has it, so it is never root.
    static let remoteUID = UInt32.max

    /// Facts the health and metrics endpoints report that live outside the guest book.
    struct Facts {
        var instanceID: String
        var version: String
        var startedAt: UInt64
        var unixConnections: Int
        var httpConnections: Int
        var publications: UInt64
    }

    /// The endpoint a request is for, and the methods that endpoint allows; nil for an unknown path.
    static func endpoint(_ segments: [String], method: String) -> (HTTPEndpoint, allowed: [String])? {
        switch segments.count {
        case 1:
            switch segments[0] {
            case "servers": return (.servers, ["GET", "HEAD"])
            case "query": return (.query, ["POST"])
            case "register": return (.register, ["POST"])
            case "capabilities": return (.capabilities, ["POST"])
            case "reserve": return (.reserve, ["POST"])
            case "reservations": return (.reservations, ["GET", "HEAD"])
            case "health": return (.health, ["GET", "HEAD"])
            case "metrics": return (.metrics, ["GET", "HEAD"])
            default: return nil
            }
        case 2 where segments[0] == "servers" && !segments[1].isEmpty:
            return (method == "DELETE" ? .unregister : .server, ["GET", "HEAD", "DELETE"])
        case 2 where segments[0] == "reservations" && !segments[1].isEmpty:
            return (method == "DELETE" ? .cancelReservation : .reservation, ["GET", "HEAD", "DELETE"])
        case 3 where segments[0] == "servers" && segments[2] == "heartbeat":
            return (.heartbeat, ["POST"])
        case 5 where segments[0] == "servers" && segments[2] == "terminals" && !segments[3].isEmpty:
            switch segments[4] {
            case "in-use": return (.inUse, ["POST"])
            case "available": return (.available, ["POST"])
            default: return nil
            }
        default: return nil
        }
    }

    /// Whether requests to `endpoint` change the guest book (and so always need a signature).
    static func isWrite(_ endpoint: HTTPEndpoint) -> Bool {
        switch endpoint {
        case .register, .unregister, .heartbeat, .inUse, .available, .reserve, .cancelReservation: true
        default: false
        }
    }

    // MARK: Reads

    /// The response to a guest-book read (`GET /servers`, `GET /servers/{id}`) as the book stands now; also
    /// how a parked blocking read is answered.
    static func read(_ endpoint: HTTPEndpoint, segments: [String], items: [(name: String, value: String)], book: GuestBook) -> HTTPResponse {
        do throws(HostessError) {
            switch endpoint {
            case .servers:
                let filter = try filter(items)
                return json(.ok, .array(book.query(filter).map(\.json)), book: book)
            default:
                try rejectUnknownParameters(items, known: ["index", "wait"])
                let id = try serverID(segments[1], field: "id")
                return json(.ok, try book.entry(id: id).json, book: book)
            }
        } catch {
            return failure(error, book: book)
        }
    }

    /// The filter a `GET /servers` query string spells: `class`, `capability` (repeatable) or `capabilities`
    /// (comma-separated), `availableTerminals`, `fqdn`, `servername`, `owner`; `index` and `wait` are read
    /// elsewhere.
    static func filter(_ items: [(name: String, value: String)]) throws(HostessError) -> ServerFilter {
        var object = JSONObject()
        var capabilities: [JSONValue] = []
        for item in items {
            switch item.name {
            case "class", "fqdn", "servername", "owner":
                guard object[item.name] == nil else { throw HostessError(.badRequest, "given more than once", field: item.name) }
                object[item.name] = .string(item.value)
            case "capability": capabilities.append(.string(item.value))
            case "capabilities": capabilities += item.value.split(separator: ",").map { .string(String($0)) }
            case "availableTerminals":
                guard let count = Int64(item.value) else {
                    throw HostessError(.badRequest, "expected a whole number, found '\(item.value)'", field: "availableTerminals")
                }
                object["availableTerminals"] = .int(count)
            case "index", "wait": continue
            default:
                throw HostessError(
                    .badRequest,
                    "unknown query parameter; known: class, capability, capabilities, availableTerminals, fqdn, servername, owner, index, wait",
                    field: item.name)
            }
        }
        if !capabilities.isEmpty { object["capabilities"] = .array(capabilities) }
        return try ServerFilter(reader: JSONReader(object))
    }

    /// The blocking parameters: `index` (the revision the client has seen) and `wait` (`30s`, `500ms`, `5m`,
    /// or bare seconds; at most 5 minutes, longer is cut to 5), or nil without `index`.
    static func blocking(_ items: [(name: String, value: String)]) throws(HostessError) -> (index: UInt64, waitSeconds: Double)? {
        let index = items.last(where: { $0.name == "index" })?.value
        let wait = items.last(where: { $0.name == "wait" })?.value
        guard let index else {
            if wait != nil { throw HostessError(.badRequest, "wait needs index (the X-Hostess-Index of a previous answer)", field: "wait") }
            return nil
        }
        guard let revision = UInt64(index) else {
            throw HostessError(.badRequest, "expected a revision (a whole number), found '\(index)'", field: "index")
        }
        guard let wait else { return (revision, defaultWaitSeconds) }
        var number = Substring(wait)
        var scale = 1.0
        for (suffix, factor) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where number.hasSuffix(suffix) {
            number = number.dropLast(suffix.count)
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, !number.hasPrefix("+") else {
            throw HostessError(.badRequest, "expected a duration like 30s, 500ms or 5m, found '\(wait)'", field: "wait")
        }
        return (revision, min(value * scale, maximumWaitSeconds))
    }

    // MARK: Other endpoints

    /// The response to everything but a blocking read that must wait.
    /// - Parameter caller: the signing key's identity for writes, nil for reads.
    static func respond(
        _ endpoint: HTTPEndpoint, request: HTTPRequest, segments: [String], caller: Caller?, service: inout Service,
        connection: UInt64, now: Timestamp, facts: Facts, metrics: HTTPMetrics
    ) -> HTTPResponse {
        let book = service.book
        do throws(HostessError) {
            switch endpoint {
            case .servers, .server:
                return read(endpoint, segments: segments, items: try queryItems(request), book: book)
            case .query:
                let filter = try ServerFilter(reader: try bodyObject(request, required: false))
                return json(.ok, .array(book.query(filter).map(\.json)), book: book)
            case .capabilities:
                let filter = try ServerFilter(reader: try bodyObject(request, required: false))
                return json(.ok, .array(book.capabilitySummary(filter)), book: book)
            case .health:
                let uptime = Double(SystemClock.monotonicNanoseconds() &- facts.startedAt) / 1e9
                return json(
                    .ok,
                    [
                        "status": "ok", "instanceId": .string(facts.instanceID), "version": .string(facts.version),
                        "revision": .int(Int64(clamping: book.revision)), "entries": .int(Int64(book.count)),
                        "uptime": .double((uptime * 1000).rounded() / 1000),
                    ], book: book)
            case .metrics:
                var response = HTTPResponse(status: .ok, body: metrics.exposition(service: service, facts: facts))
                response.headers.append(HTTPHeader(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8"))
                return response
            case .register:
                let entry = try bodyObject(request, required: true)
                let result = try command(
                    ["command": "register", "entry": .object(entry.object)], caller: caller, service: &service, connection: connection,
                    now: now, fieldPrefix: "entry")
                let created = result.objectValue?["created"] == .bool(true)
                return json(created ? .created : .ok, result, book: service.book)
            case .unregister:
                try requireEmptyBody(request)
                let id = try serverID(segments[1], field: "id")
                return json(
                    .ok, try command(["command": "unregister", "serverId": .string(id)], caller: caller, service: &service, connection: connection, now: now),
                    book: service.book)
            case .heartbeat:
                try requireEmptyBody(request)
                let id = try serverID(segments[1], field: "id")
                return json(
                    .ok, try command(["command": "heartbeat", "serverId": .string(id)], caller: caller, service: &service, connection: connection, now: now),
                    book: service.book)
            case .inUse, .available:
                let id = try serverID(segments[1], field: "id")
                let body = try bodyObject(request, required: endpoint == .inUse)
                try body.rejectUnknownKeys(allowed: ["connectomeId"])
                var object: JSONObject = [
                    "command": endpoint == .inUse ? "markInUse" : "markAvailable", "serverId": .string(id), "terminal": .string(segments[3]),
                ]
                if let connectome = body.object["connectomeId"] { object["connectomeId"] = connectome }
                return json(.ok, try command(object, caller: caller, service: &service, connection: connection, now: now), book: service.book)
            case .reserve:
                let body = try bodyObject(request, required: true)
                let parsed = try ReservationRequest(reader: body)
                guard !parsed.session else {
                    throw HostessError(.badRequest, "session reservations end with their socket connection; over HTTP give a duration", field: "session")
                }
                let result = try command(
                    ["command": "reserve", "reservation": .object(body.object)], caller: caller, service: &service, connection: connection, now: now,
                    fieldPrefix: "reservation")
                return json(.created, result.objectValue?["reservation"] ?? .null, book: service.book)
            case .reservations:
                var object: JSONObject = ["command": "listReservations"]
                for item in try queryItems(request) {
                    guard item.name == "status" else { throw HostessError(.badRequest, "unknown query parameter; known: status", field: item.name) }
                    object["status"] = .string(item.value)
                }
                let result = try command(object, caller: caller, service: &service, connection: connection, now: now)
                return json(.ok, result.objectValue?["reservations"] ?? .array([]), book: service.book)
            case .reservation, .cancelReservation:
                if endpoint == .cancelReservation { try requireEmptyBody(request) }
                let result = try command(
                    ["command": endpoint == .reservation ? "getReservation" : "cancelReservation", "reservationId": .string(segments[1])],
                    caller: caller, service: &service, connection: connection, now: now)
                return json(.ok, result.objectValue?["reservation"] ?? .null, book: service.book)
            case .other:
                throw HostessError(.notFound, "no such endpoint")
            }
        } catch {
            return failure(error, book: service.book)
        }
    }

    /// Runs a protocol command and returns its result, or throws its error (with `fieldPrefix.` taken off
    /// field paths, since the body is the object the prefix names).
    private static func command(
        _ object: JSONObject, caller: Caller?, service: inout Service, connection: UInt64, now: Timestamp, fieldPrefix: String? = nil
    ) throws(HostessError) -> JSONValue {
        let who = caller ?? Caller(uid: remoteUID, ownerNames: [])
        guard case .reply(let reply) = service.handle(request: object, caller: who, connection: connection, now: now),
            let replyObject = reply.objectValue
        else { throw HostessError(.internal, "the command did not produce a reply") }
        if let errorValue = replyObject["error"], var error = HostessError(json: errorValue) {
            if let prefix = fieldPrefix, let field = error.field {
                if field == prefix {
                    error.field = nil
                } else if field.hasPrefix(prefix + ".") {
                    error.field = String(field.dropFirst(prefix.count + 1))
                }
            }
            throw error
        }
        return replyObject["result"] ?? .null
    }

    // MARK: Request parts

    /// The decoded query items.
    static func queryItems(_ request: HTTPRequest) throws(HostessError) -> [(name: String, value: String)] {
        do { return try request.queryItems() } catch {
            throw HostessError(.badRequest, "bad percent-encoding in the query string: \(error)", field: "query")
        }
    }

    /// Refuses query parameters other than `known`, naming the first one.
    static func rejectUnknownParameters(_ items: [(name: String, value: String)], known: Set<String>) throws(HostessError) {
        if let unknown = items.first(where: { !known.contains($0.name) }) {
            throw HostessError(
                .badRequest, "unknown query parameter; known: \(known.sorted().joined(separator: ", "))", field: unknown.name)
        }
    }

    /// The canonical id a path segment names (equivalent spellings find the same entry).
    static func serverID(_ text: String, field: String) throws(HostessError) -> String {
        do { return try ServerName(parsing: text).description } catch {
            throw HostessError(.invalidName, error.message, field: field)
        }
    }

    /// The body as a JSON object: `application/json` required when there is a body; an empty body is `{}`
    /// unless `required`.
    static func bodyObject(_ request: HTTPRequest, required: Bool) throws(HostessError) -> JSONReader {
        guard !request.body.isEmpty else {
            if required { throw HostessError(.badRequest, "this endpoint needs a JSON object as its body", field: "body") }
            return JSONReader(JSONObject())
        }
        try requireJSONContentType(request)
        let value: JSONValue
        do { value = try JSONParser.parse(request.body) } catch {
            throw HostessError(.parseError, "the body is not JSON: \(error.description)", field: "body")
        }
        guard case .object(let object) = value else {
            throw HostessError(.badRequest, "expected a JSON object, found \(value.typeName)", field: "body")
        }
        return JSONReader(object)
    }

    /// Refuses a body on endpoints that take none.
    static func requireEmptyBody(_ request: HTTPRequest) throws(HostessError) {
        guard request.body.isEmpty else { throw HostessError(.badRequest, "this endpoint takes no body", field: "body") }
    }

    /// Refuses a body that is not declared `application/json` (parameters such as `charset=utf-8` allowed).
    static func requireJSONContentType(_ request: HTTPRequest) throws(HostessError) {
        let type = request.header("content-type")?.split(separator: ";").first.map {
            $0.trimmingOptionalWhitespace().lowercased()
        }
        guard type == "application/json" else {
            throw HostessError(
                .unsupportedMediaType, "send the body as Content-Type: application/json (found \(request.header("content-type") ?? "none"))",
                field: "Content-Type")
        }
    }

    // MARK: Responses

    /// A JSON response carrying the revision it reflects in `X-Hostess-Index`.
    static func json(_ status: HTTPStatus, _ value: JSONValue, book: GuestBook) -> HTTPResponse {
        var response = HTTPResponse.json(status, body: value.jsonBytes)
        response.headers.append(HTTPHeader(name: "X-Hostess-Index", value: String(book.revision)))
        return response
    }

    /// An error response: `{"error": {"code", "message", "field"?}}` with the status the code maps to.
    static func failure(_ error: HostessError, book: GuestBook?) -> HTTPResponse {
        var response = HTTPResponse.json(status(for: error.code), body: JSONValue.object(["error": error.json]).jsonBytes)
        if error.code == .unauthorized {
            response.headers.append(HTTPHeader(name: "WWW-Authenticate", value: RequestSignature.scheme))
        }
        if let book { response.headers.append(HTTPHeader(name: "X-Hostess-Index", value: String(book.revision))) }
        return response
    }

    /// The HTTP status for an error code.
    static func status(for code: HostessError.Code) -> HTTPStatus {
        switch code {
        case .parseError, .badRequest, .invalidName, .unknownCommand: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .forbidden: .forbidden
        case .unauthorized: .unauthorized
        case .tooLarge: .contentTooLarge
        case .capacity: .insufficientStorage
        case .timeout: .requestTimeout
        case .unavailable, .disconnected: .serviceUnavailable
        case .methodNotAllowed: .methodNotAllowed
        case .unsupportedMediaType: .unsupportedMediaType
        case .internal: .internalServerError
        }
    }
}
