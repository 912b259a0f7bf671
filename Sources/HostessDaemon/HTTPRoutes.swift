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
    case connectomes, connectome, peers, announcement
    case connectionMethods = "connection_methods"
    case probe
    case other
}

// MARK: - HTTPRouter

/// Turns HTTP requests into guest-book reads and protocol commands, and their results into responses.
///
/// No I/O: the front end hands it complete requests and writes what it returns. A request maps to a
/// ``Command`` (its path, query string and body decoded into the typed arguments), which
/// ``Service/execute(_:caller:connection:now:)`` runs as it runs socket requests, so both interfaces share
/// one set of rules; the caller is the signing key's owners, never root.
struct HTTPRouter {
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
        /// Announcements sent and sends that failed, when hostessd announces.
        var announcements: (sent: Int, failed: Int)? = nil
        /// Connections to peers by path source, when in a mesh (`hostess_connect_path_total`).
        var connectPaths: [PeerConnector.Source: (ok: Int, failed: Int)]? = nil
    }

    /// A request refused before it reaches an endpoint, and the endpoint its metrics count it under.
    struct Refusal: Error {
        /// The endpoint for metrics: the path's, or ``HTTPEndpoint/other`` for an unknown path.
        var endpoint: HTTPEndpoint
        /// The error response.
        var response: HTTPResponse
    }

    /// The endpoint a request is for and its decoded path segments; or its refusal: 400 for a path that is
    /// not percent-encoded properly, 404 for an unknown path, 405 (with `Allow`) for a method the path does
    /// not take. `HEAD` is routed as `GET`.
    static func route(_ request: HTTPRequest, book: GuestBook) -> Result<(HTTPEndpoint, [String]), Refusal> {
        let method = request.method == "HEAD" ? "GET" : request.method
        let segments: [String]
        do { segments = try request.pathSegments() } catch {
            let error = HostessError(.badRequest, "bad percent-encoding in the path: \(error)", field: "path")
            return .failure(Refusal(endpoint: .other, response: failure(error, book: book)))
        }
        guard let (endpoint, allowed) = endpoint(segments, method: method) else {
            let error = HostessError(.notFound, "no endpoint \(request.path); see docs/openapi.yaml")
            return .failure(Refusal(endpoint: .other, response: failure(error, book: book)))
        }
        guard allowed.contains(method) else {
            let error = HostessError(
                .methodNotAllowed, "\(request.method) is not allowed on \(request.path); allowed: \(allowed.joined(separator: ", "))")
            var response = failure(error, book: book)
            response.headers.append(HTTPHeader(name: "Allow", value: allowed.joined(separator: ", ")))
            return .failure(Refusal(endpoint: endpoint, response: response))
        }
        return .success((endpoint, segments))
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
            case "connectomes": return (.connectomes, ["GET", "HEAD"])
            case "peers": return (.peers, ["GET", "HEAD"])
            case "connection-methods": return (.connectionMethods, ["GET", "HEAD"])
            case "probe": return (.probe, ["POST"])
            case "announcement": return (.announcement, ["GET", "HEAD"])
            case "health": return (.health, ["GET", "HEAD"])
            case "metrics": return (.metrics, ["GET", "HEAD"])
            default: return nil
            }
        case 2 where segments[0] == "servers" && !segments[1].isEmpty:
            return (method == "DELETE" ? .unregister : .server, ["GET", "HEAD", "DELETE"])
        case 2 where segments[0] == "reservations" && !segments[1].isEmpty:
            return (method == "DELETE" ? .cancelReservation : .reservation, ["GET", "HEAD", "DELETE"])
        case 2 where segments[0] == "connectomes" && !segments[1].isEmpty:
            return (.connectome, ["GET", "HEAD"])
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
        case .register, .unregister, .heartbeat, .inUse, .available, .reserve, .cancelReservation, .probe: true
        default: false
        }
    }

    // MARK: Reads

    /// The response to a guest-book read (`GET /servers`, `GET /servers/{id}`) as the book stands now; also
    /// how a parked blocking read is answered.
    static func read(_ endpoint: HTTPEndpoint, _ command: Command, service: Service) -> HTTPResponse {
        let book = service.book
        do throws(HostessError) {
            guard let result = try service.read(command) else { throw HostessError(.internal, "\(command.kind.rawValue) is not a read") }
            return response(endpoint, result, book: book)
        } catch {
            return failure(error, book: book)
        }
    }

    /// The command a read that may block asks for: `GET /servers` a query, `GET /servers/{id}` one entry,
    /// `GET /peers` the peer table.
    static func readCommand(_ endpoint: HTTPEndpoint, segments: [String], items: [(name: String, value: String)]) throws(HostessError) -> Command {
        if endpoint == .servers { return .query(try filter(items)) }
        try rejectUnknownParameters(items, known: ["index", "wait"])
        if endpoint == .peers { return .listPeers }
        return .getServer(try Command.serverName(segments[1], field: "id"))
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
        do throws(HostessError) {
            switch endpoint {
            case .health:
                return health(service.book, directory: service.directory, facts: facts)
            case .metrics:
                var response = HTTPResponse(status: .ok, body: metrics.exposition(service: service, facts: facts))
                response.headers.append(HTTPHeader(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8"))
                return response
            case .announcement:
                guard let packet = service.announcement else {
                    throw HostessError(.notFound, "this Hostess does not announce (hostessd --announce or --peer)")
                }
                var response = HTTPResponse(status: .ok, body: packet)
                response.headers.append(HTTPHeader(name: "Content-Type", value: "application/vnd.hostess.announcement"))
                response.headers.append(HTTPHeader(name: "Cache-Control", value: "no-store"))
                return response
            default:
                let command = try command(endpoint, request: request, segments: segments)
                if countsAsRequest(endpoint) { service.counters.requests += 1 }
                let who = caller ?? Caller(uid: remoteUID, ownerNames: [])
                guard case .done(let result) = try service.execute(command, caller: who, connection: connection, now: now) else {
                    throw HostessError(.internal, "\(command.kind.rawValue) waited over HTTP")
                }
                if endpoint == .reserve, case .reservation(let reply) = result, case .object(var object) = reply.json {
                    // A peer reserving here learns how to reach this Hostess (the design's remote reservation answer).
                    object["connectionMethods"] = .array(service.connectionMethods.freshOwn(now: now.wallMilliseconds).map(\.json))
                    return json(.created, .object(object), book: service.book)
                }
                return response(endpoint, result, book: service.book)
            }
        } catch {
            return failure(error, book: service.book)
        }
    }

    /// The `GET /health` answer: `ok` whenever hostessd serves, whatever the fleet directory's state, which it
    /// reports as `directory`.
    private static func health(_ book: GuestBook, directory: DirectoryStatus?, facts: Facts) -> HTTPResponse {
        let uptime = Double(SystemClock.monotonicNanoseconds() &- facts.startedAt) / 1e9
        var object: JSONObject = [
            "status": "ok", "instanceId": .string(facts.instanceID), "version": .string(facts.version),
            "revision": .int(Int64(clamping: book.revision)), "entries": .int(Int64(book.count)),
            "uptime": .double((uptime * 1000).rounded() / 1000),
        ]
        if let directory { object["directory"] = directory.json }
        return json(.ok, .object(object), book: book)
    }

    /// Whether `hostess_requests_total` counts requests to `endpoint`: writes, reservation and connectome
    /// reads, the endpoints that are protocol commands; guest-book reads are not counted.
    private static func countsAsRequest(_ endpoint: HTTPEndpoint) -> Bool {
        switch endpoint {
        case .reservations, .reservation, .connectomes, .connectome, .peers: true
        default: isWrite(endpoint)
        }
    }
}
