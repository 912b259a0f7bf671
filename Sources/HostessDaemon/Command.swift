import HostessModel
import HostessProbing

// MARK: - Command

/// One operation on the guest book, with its arguments decoded and validated.
///
/// Both interfaces produce commands: the line protocol decodes them from request objects
/// (``Request/init(line:)``), the HTTP interface from a method, a path, a query string and a body
/// (``HTTPRouter``). ``Service/execute(_:caller:connection:now:)`` runs them.
public enum Command: Hashable, Sendable {
    /// Signs the guest book, or updates the entry; with `session`, binds it to the sending connection.
    case register(Registration, session: Bool)
    /// Removes an entry.
    case unregister(ServerName)
    /// Refreshes an entry's liveness.
    case heartbeat(ServerName)
    /// Reads one entry.
    case getServer(ServerName)
    /// Reads every entry.
    case listAll
    /// Reads the entries a filter matches.
    case query(ServerFilter)
    /// Records that a connectome uses a terminal.
    case markInUse(ServerName, terminal: String, connectomeID: String)
    /// Clears a terminal's connections, or only `connectomeID`'s.
    case markAvailable(ServerName, terminal: String, connectomeID: String?)
    /// Waits until the revision passes `sinceRevision` (nil: the current one) or `timeout` seconds pass.
    case watch(sinceRevision: UInt64?, timeout: Double)
    /// Reports the daemon's state and the caller's identity.
    case status
    /// Holds servers, all or none.
    case reserve(ReservationRequest)
    /// Ends a reservation.
    case cancelReservation(id: String)
    /// Reads one reservation.
    case getReservation(id: String)
    /// Reads the reservations, or those with one status.
    case listReservations(status: Reservation.Status?)
    /// Summarizes, per class, the entries a filter matches.
    case queryCapabilities(ServerFilter)
    /// Records a connectome a StateManager set up.
    case recordConnectome(Connectome)
    /// Reads one recorded connectome.
    case getConnectome(id: String)
    /// Reads every recorded connectome.
    case listConnectomes
    /// Reads the peer Hostesses heard from on the mesh.
    case listPeers
    /// Forgets a recorded connectome.
    case removeConnectome(id: String)
    /// Runs the Executor/Probe/Beacon trio over addresses × ports (root or hostessd's user only).
    case probe(ProbeRequest)
    /// Reads the connection methods known for a host (nil: this Hostess and every peer).
    case listConnectionMethods(fqdn: String?)

    /// The commands' names, as a request's `command` spells them, in the order error messages list them.
    public enum Kind: String, CaseIterable, Sendable {
        case register, unregister, heartbeat, getServer, listAll, query, markInUse, markAvailable, watch, status
        case reserve, cancelReservation, getReservation, listReservations, queryCapabilities
        case recordConnectome, getConnectome, listConnectomes, removeConnectome
        case listPeers
        case probe, listConnectionMethods
    }

    /// The command's name.
    public var kind: Kind {
        switch self {
        case .register: .register
        case .unregister: .unregister
        case .heartbeat: .heartbeat
        case .getServer: .getServer
        case .listAll: .listAll
        case .query: .query
        case .markInUse: .markInUse
        case .markAvailable: .markAvailable
        case .watch: .watch
        case .status: .status
        case .reserve: .reserve
        case .cancelReservation: .cancelReservation
        case .getReservation: .getReservation
        case .listReservations: .listReservations
        case .queryCapabilities: .queryCapabilities
        case .recordConnectome: .recordConnectome
        case .getConnectome: .getConnectome
        case .listConnectomes: .listConnectomes
        case .listPeers: .listPeers
        case .removeConnectome: .removeConnectome
        case .probe: .probe
        case .listConnectionMethods: .listConnectionMethods
        }
    }
}

// MARK: - Kind parameters

extension Command.Kind {
    /// The request members this command takes besides `id` and `command`.
    var parameters: Set<String> {
        switch self {
        case .register: ["entry", "session"]
        case .unregister, .heartbeat, .getServer: ["serverId"]
        case .listAll, .status, .listConnectomes, .listPeers: []
        case .query, .queryCapabilities: ["filter"]
        case .markInUse, .markAvailable: ["serverId", "terminal", "connectomeId"]
        case .watch: ["sinceRevision", "timeout"]
        case .reserve: ["reservation"]
        case .cancelReservation, .getReservation: ["reservationId"]
        case .listReservations: ["status"]
        case .recordConnectome: ["connectome"]
        case .getConnectome, .removeConnectome: ["connectomeId"]
        case .probe: ["targets", "ports", "from"]
        case .listConnectionMethods: ["fqdn"]
        }
    }
}
