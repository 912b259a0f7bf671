import HostessModel
import HostessProbing

// MARK: - Request

/// A request line of the line protocol, decoded: the id its reply echoes, and the command.
public struct Request: Hashable, Sendable {
    /// The request's `id`: an integer, a string or null.
    public var id: JSONValue
    /// What the request asks for.
    public var command: Command

    /// A request.
    public init(id: JSONValue, command: Command) {
        self.id = id
        self.command = command
    }

    /// Decodes one line (without its newline): the JSON, then the id, the command's name, its members and
    /// its parameters, in that order; the first failure is the only one reported.
    public init(line: some Collection<UInt8>) throws(RequestError) {
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch {
            throw RequestError(id: .null, error: HostessError(.parseError, error.description))
        }
        guard case .object(let object) = value else {
            throw RequestError(id: .null, error: HostessError(.badRequest, "a request is a JSON object, found \(value.typeName)"))
        }
        try self.init(object: object)
    }

    /// Decodes a request object.
    public init(object: JSONObject) throws(RequestError) {
        let id = object["id"] ?? .null
        switch id {
        case .null, .int, .string: break
        default:
            // An id of the wrong type is not echoed back: the reply's id is always an integer, a string or null.
            throw RequestError(
                id: .null, error: HostessError(.badRequest, "expected an integer or a string, found \(id.typeName)", field: "id"))
        }
        do throws(HostessError) {
            let reader = JSONReader(object)
            let name = try reader.requireString("command")
            guard let kind = Command.Kind(rawValue: name) else {
                let known = Command.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw HostessError(.unknownCommand, "unknown command '\(name)'; known: \(known)", field: "command")
            }
            self.init(id: id, command: try Command(kind, reader: reader))
        } catch {
            throw RequestError(id: id, error: error)
        }
    }
}

// MARK: - RequestError

/// Why a line is not a request, with the id its error reply echoes.
public struct RequestError: Error, Equatable, Sendable {
    /// The id to echo: the request's, or null when it had none or the line was not read that far.
    public var id: JSONValue
    /// The error.
    public var error: HostessError

    /// An error for the request with `id`.
    public init(id: JSONValue, error: HostessError) {
        self.id = id
        self.error = error
    }
}

// MARK: - Command decoding

extension Command {
    /// The longest a watch may wait, in seconds.
    public static let maximumWatchSeconds = 300.0
    /// The wait of a watch that gives no timeout, in seconds.
    public static let defaultWatchSeconds = 30.0

    /// Decodes the members of a request object for a command of `kind`: unknown members first, then the
    /// parameters in the order the protocol documents.
    public init(_ kind: Kind, reader request: JSONReader) throws(HostessError) {
        try request.rejectUnknownKeys(allowed: kind.parameters.union(["id", "command"]))
        switch kind {
        case .register:
            let registration = try Registration(reader: try request.requireReader("entry"))
            self = .register(registration, session: try request.bool("session") ?? false)
        case .unregister: self = .unregister(try Self.serverName(request))
        case .heartbeat: self = .heartbeat(try Self.serverName(request))
        case .getServer: self = .getServer(try Self.serverName(request))
        case .listAll: self = .listAll
        case .query: self = .query(try Self.filter(request))
        case .markInUse:
            let name = try Self.serverName(request)
            let terminal = try request.requireString("terminal")
            self = .markInUse(name, terminal: terminal, connectomeID: try request.requireString("connectomeId"))
        case .markAvailable:
            let name = try Self.serverName(request)
            let terminal = try request.requireString("terminal")
            self = .markAvailable(name, terminal: terminal, connectomeID: try request.string("connectomeId"))
        case .watch:
            let since = try request.int("sinceRevision", in: 0...Int64.max).map { UInt64($0) }
            let timeout = try request.number("timeout", in: 0...Self.maximumWatchSeconds) ?? Self.defaultWatchSeconds
            self = .watch(sinceRevision: since, timeout: timeout)
        case .status: self = .status
        case .reserve: self = .reserve(try ReservationRequest(reader: try request.requireReader("reservation")))
        case .cancelReservation: self = .cancelReservation(id: try request.requireString("reservationId"))
        case .getReservation: self = .getReservation(id: try request.requireString("reservationId"))
        case .listReservations: self = .listReservations(status: try Self.reservationStatus(try request.string("status")))
        case .queryCapabilities: self = .queryCapabilities(try Self.filter(request))
        case .recordConnectome: self = .recordConnectome(try Connectome(reader: try request.requireReader("connectome")))
        case .getConnectome: self = .getConnectome(id: try request.requireString("connectomeId"))
        case .listConnectomes: self = .listConnectomes
        case .listPeers: self = .listPeers
        case .removeConnectome: self = .removeConnectome(id: try request.requireString("connectomeId"))
        case .probe: self = .probe(try Self.probeRequest(request))
        case .listConnectionMethods: self = .listConnectionMethods(fqdn: try request.string("fqdn"))
        }
    }

    /// A probe request: `targets` (IP addresses), `ports` (`"A-B"`), `from` (a peer's host name or hostessId).
    static func probeRequest(_ request: JSONReader) throws(HostessError) -> ProbeRequest {
        let targets = try request.strings("targets")
        let ports = try request.string("ports")
        var probe = ProbeRequest(from: try request.string("from"))
        do throws(ProbeError) {
            if let targets {
                guard (1...ProbeAddress.maximumCount).contains(targets.count) else {
                    throw ProbeError("targets", "expected 1 to \(ProbeAddress.maximumCount) IP addresses")
                }
                var literals: [String] = []
                for target in targets { literals.append(try ProbeAddress.literal(target, field: "targets")) }
                probe.targets = literals
            }
            if let ports { probe.ports = try PortRange(parsing: ports, field: "ports") }
        } catch {
            throw HostessError(.badRequest, error.reason, field: error.field)
        }
        return probe
    }

    /// The server name `serverId` spells, parsed once: equivalent spellings name the same entry.
    static func serverName(_ request: JSONReader) throws(HostessError) -> ServerName {
        try serverName(try request.requireString("serverId"), field: "serverId")
    }

    /// The server name `text` spells; a malformed one is `invalid_name` naming `field`.
    static func serverName(_ text: String, field: String) throws(HostessError) -> ServerName {
        do { return try ServerName(parsing: text) } catch {
            throw HostessError(.invalidName, error.message, field: field)
        }
    }

    /// The optional `filter`: absent or null matches everything.
    private static func filter(_ request: JSONReader) throws(HostessError) -> ServerFilter {
        try ServerFilter(reader: try request.reader("filter") ?? JSONReader(JSONObject(), path: "filter"))
    }

    /// The reservation status `text` names, nil for none; an unknown one is `bad_request` on `status`.
    static func reservationStatus(_ text: String?) throws(HostessError) -> Reservation.Status? {
        guard let text else { return nil }
        guard let status = Reservation.Status(rawValue: text) else {
            throw HostessError(
                .badRequest, "expected one of \(Reservation.Status.allCases.map(\.rawValue).joined(separator: ", "))", field: "status")
        }
        return status
    }
}
