import HostessMesh
import HostessModel

// MARK: - CommandResult

/// What a command produced, before either interface encodes it.
public enum CommandResult: Hashable, Sendable {
    /// `register`: the entry as stored, whether it is new, and the liveness terms the client is told.
    case registered(GuestBookEntry, created: Bool, ttl: Double, heartbeatInterval: Double)
    /// `unregister` (the entry as it was), `getServer`, `markInUse`, `markAvailable`.
    case entry(GuestBookEntry)
    /// `heartbeat`: the canonical id and the new heartbeat time (ms since the epoch).
    case heartbeat(serverID: String, lastHeartbeat: Int64)
    /// `listAll`, `query`: entries in registration order, as the guest book keeps their wire forms.
    case entries(EntryList)
    /// `watch`: whether the revision passed, and the changes since, when the log still has them.
    case watched(changed: Bool, changes: [Change]?)
    /// `status`: the facts it reports, in order.
    case status(JSONObject)
    /// `reserve`, `cancelReservation`, `getReservation`.
    case reservation(ReservationReply)
    /// `listReservations`, oldest first.
    case reservations([ReservationReply])
    /// `queryCapabilities`: the per-class summaries.
    case capabilities([JSONValue])
    /// `recordConnectome`: the record, its state as of now, and whether it is new.
    case recordedConnectome(ConnectomeRecord, created: Bool)
    /// `getConnectome`, `removeConnectome` (the record as it was).
    case connectome(ConnectomeRecord)
    /// `listConnectomes`, oldest first.
    case connectomes([ConnectomeRecord])
    /// `listPeers`: the peers by fqdn, and whether this Hostess announces and listens at all.
    case peers([Peer], announcing: Bool)
    /// `listConnectionMethods`: `{"hosts": [...]}` (``ConnectionMethodCache/json(fqdn:ownFqdn:ownID:peers:now:)``).
    case connectionMethods(JSONValue)

    /// The `result` object of a line-protocol reply.
    public var json: JSONValue {
        switch self {
        case .registered(let entry, let created, let ttl, let heartbeatInterval):
            ["entry": entry.json, "created": .bool(created), "ttl": .double(ttl), "heartbeatInterval": .double(heartbeatInterval)]
        case .entry(let entry): ["entry": entry.json]
        case .heartbeat(let serverID, let lastHeartbeat): ["serverId": .string(serverID), "lastHeartbeat": .int(lastHeartbeat)]
        case .entries(let list): ["entries": list.json]
        case .watched(let changed, let changes): ["changed": .bool(changed), "changes": changes.map { .array($0.map(\.json)) } ?? .null]
        case .status(let facts): .object(facts)
        case .reservation(let reply): ["reservation": reply.json]
        case .reservations(let replies): ["reservations": .array(replies.map(\.json))]
        case .capabilities(let summaries): ["capabilities": .array(summaries)]
        case .recordedConnectome(let record, let created): ["connectome": record.json, "created": .bool(created)]
        case .connectome(let record): ["connectome": record.json]
        case .connectomes(let records): ["connectomes": .array(records.map(\.json))]
        case .peers(let peers, let announcing): ["announcing": .bool(announcing), "peers": .array(peers.map(\.json))]
        case .connectionMethods(let hosts): hosts
        }
    }
}

// MARK: - Reads

extension Command {
    /// The result of a command that only reads the guest book, or nil for one that changes it (or needs the
    /// service's state: `watch`, `status`).
    public func read(_ book: GuestBook) throws(HostessError) -> CommandResult? {
        switch self {
        case .getServer(let name): return .entry(try book.entry(id: name.description))
        case .listAll: return .entries(book.listAll())
        case .query(let filter): return .entries(book.list(filter))
        case .queryCapabilities(let filter): return .capabilities(book.capabilitySummary(filter))
        case .getReservation(let id): return .reservation(book.reply(for: try book.reservation(id: id)))
        case .listReservations(let status): return .reservations(book.reservations(status: status).map(book.reply(for:)))
        case .getConnectome(let id): return .connectome(try book.connectome(id: id))
        case .listConnectomes: return .connectomes(book.allConnectomes())
        case .register, .unregister, .heartbeat, .markInUse, .markAvailable, .watch, .status, .reserve, .cancelReservation,
            .recordConnectome, .removeConnectome, .listPeers, .probe, .listConnectionMethods:
            return nil
        }
    }
}

extension GuestBook {
    /// A reservation with the entries it holds as they stand.
    func reply(for reservation: Reservation) -> ReservationReply {
        ReservationReply(reservation: reservation, servers: servers(of: reservation))
    }
}

extension ReservationReply {
    /// The reservation's wire form, its held entries included.
    var json: JSONValue { reservation.json(servers: servers) }
}
