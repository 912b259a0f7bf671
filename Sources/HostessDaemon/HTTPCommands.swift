import HostessHTTP
import HostessModel

// MARK: - HTTPRouter: commands

extension HTTPRouter {
    /// The command a request to `endpoint` asks for: path segments, query parameters and body decoded into
    /// its typed arguments, each checked once. Field paths name the body's members (`terminals`, not
    /// `entry.terminals`), the path's id as `id`, and query parameters by name.
    static func command(_ endpoint: HTTPEndpoint, request: HTTPRequest, segments: [String]) throws(HostessError) -> Command {
        switch endpoint {
        case .servers, .server:
            return try readCommand(endpoint, segments: segments, items: try queryItems(request))
        case .query:
            return .query(try ServerFilter(reader: try bodyObject(request, required: false)))
        case .capabilities:
            return .queryCapabilities(try ServerFilter(reader: try bodyObject(request, required: false)))
        case .register:
            return .register(try Registration(reader: try bodyObject(request, required: true)), session: false)
        case .unregister:
            try requireEmptyBody(request)
            return .unregister(try Command.serverName(segments[1], field: "id"))
        case .heartbeat:
            try requireEmptyBody(request)
            return .heartbeat(try Command.serverName(segments[1], field: "id"))
        case .inUse, .available:
            let name = try Command.serverName(segments[1], field: "id")
            let body = try bodyObject(request, required: endpoint == .inUse)
            try body.rejectUnknownKeys(allowed: ["connectomeId"])
            if endpoint == .inUse { return .markInUse(name, terminal: segments[3], connectomeID: try body.requireString("connectomeId")) }
            return .markAvailable(name, terminal: segments[3], connectomeID: try body.string("connectomeId"))
        case .reserve:
            let reservation = try ReservationRequest(reader: try bodyObject(request, required: true))
            guard !reservation.session else {
                throw HostessError(.badRequest, "session reservations end with their socket connection; over HTTP give a duration", field: "session")
            }
            guard !reservation.allowRemote else {
                throw HostessError(
                    .badRequest, "allowRemote is for local callers on the socket; a reservation over HTTP is served from this guest book alone",
                    field: "allowRemote")
            }
            return .reserve(reservation)
        case .reservations:
            var status: String?
            for item in try queryItems(request) {
                guard item.name == "status" else { throw HostessError(.badRequest, "unknown query parameter; known: status", field: item.name) }
                status = item.value
            }
            return .listReservations(status: try Command.reservationStatus(status))
        case .reservation:
            return .getReservation(id: segments[1])
        case .cancelReservation:
            try requireEmptyBody(request)
            return .cancelReservation(id: segments[1])
        case .connectomes, .connectome:
            if let item = try queryItems(request).first {
                throw HostessError(.badRequest, "unknown query parameter; \(request.path) takes none", field: item.name)
            }
            return endpoint == .connectomes ? .listConnectomes : .getConnectome(id: segments[1])
        case .peers:
            return try readCommand(endpoint, segments: segments, items: try queryItems(request))
        case .connectionMethods:
            var fqdn: String?
            for item in try queryItems(request) {
                guard item.name == "fqdn" else { throw HostessError(.badRequest, "unknown query parameter; known: fqdn", field: item.name) }
                fqdn = item.value
            }
            return .listConnectionMethods(fqdn: fqdn)
        case .health, .metrics, .announcement, .probe, .other:
            throw HostessError(.notFound, "no such endpoint")
        }
    }

    /// The response carrying a command's result: entries and reservations bare (not wrapped in the socket
    /// protocol's result object), connectomes wrapped as on the socket (`{"connectomes": [...]}`,
    /// `{"connectome": ...}`); `201 Created` for a new entry and for a reservation made.
    static func response(_ endpoint: HTTPEndpoint, _ result: CommandResult, book: GuestBook) -> HTTPResponse {
        switch result {
        case .registered(_, let created, _, _): json(created ? .created : .ok, result.json, book: book)
        case .entry(let entry) where endpoint == .server: entryResponse(entry, book: book)
        case .entries(let entries): entriesResponse(entries, book: book)
        case .capabilities(let summaries): json(.ok, .array(summaries), book: book)
        case .reservation(let reply): json(endpoint == .reserve ? .created : .ok, reply.json, book: book)
        case .reservations(let replies): json(.ok, .array(replies.map(\.json)), book: book)
        case .entry, .heartbeat, .watched, .status, .recordedConnectome, .connectome, .connectomes, .peers, .connectionMethods:
            json(.ok, result.json, book: book)
        }
    }

    /// A list of entries as its body, written from the guest book's kept wire forms.
    static func entriesResponse(_ list: EntryList, book: GuestBook) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(list.byteCount)
        list.write(into: &body)
        return wireResponse(body, book: book)
    }

    /// One entry as its body, written from its kept wire form.
    static func entryResponse(_ entry: GuestBookEntry, book: GuestBook) -> HTTPResponse {
        var body: [UInt8] = []
        body.reserveCapacity(1024)
        book.writeWire(of: entry, into: &body)
        return wireResponse(body, book: book)
    }

    private static func wireResponse(_ body: [UInt8], book: GuestBook) -> HTTPResponse {
        var response = HTTPResponse.json(.ok, body: body)
        response.headers.append(HTTPHeader(name: "X-Hostess-Index", value: String(book.revision)))
        return response
    }
}
