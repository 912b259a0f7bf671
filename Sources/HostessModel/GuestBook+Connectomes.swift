// MARK: - Connectomes

extension GuestBook {
    /// Records a connectome a StateManager set up, so that what its terminals are connected to can be asked.
    ///
    /// Recording again what the same creator already recorded under that id changes nothing (`created` is
    /// false); anything else under an existing id is a `conflict`. The record is a change of kind
    /// ``Change/Kind/connectome``; the terminals are not touched (the StateManager marks them).
    /// - Parameter caller: who records it: the creator, by HTTP key or else by uid.
    /// - Returns: the record with its state as the guest book stands, and whether it is new.
    /// - Throws: `conflict` for another connectome under the id; `not_found` for an endpoint whose server or
    ///   terminal is not in the guest book (naming the endpoint's field); `capacity` past ``Limits/connectomes``
    ///   in all or ``Limits/connectomesPerCreator`` for one creator other than root.
    @discardableResult
    public mutating func recordConnectome(
        _ connectome: Connectome, by caller: Caller, now: Timestamp
    ) throws(HostessError) -> (record: ConnectomeRecord, created: Bool) {
        let creator = Self.creator(caller)
        if let existing = connectomes[connectome.id] {
            guard existing.connectome == connectome, existing.createdBy == creator else {
                throw HostessError(
                    .conflict, "connectome \(connectome.id) exists (recorded by \(existing.createdBy)); remove it first", field: "connectome.id")
            }
            return (live(existing), false)
        }
        let endpointCount = connectome.links.reduce(0) { $0 + $1.sources.count + $1.targets.count }
        guard endpointCount <= Limits.connectomeEndpoints else {
            throw HostessError(
                .tooLarge, "a connectome has at most \(Limits.connectomeEndpoints) endpoints in all its links; this one has \(endpointCount)",
                field: "connectome.links")
        }
        for (linkPosition, link) in connectome.links.enumerated() {
            for (side, endpoints) in [("sources", link.sources), ("targets", link.targets)] {
                for (position, endpoint) in endpoints.enumerated() {
                    let field = "connectome.links[\(linkPosition)].\(side)[\(position)]"
                    let id = endpoint.serverID.description
                    guard let entry = try? entry(id: id) else {
                        throw HostessError(.notFound, "no server '\(id)' in the guest book", field: "\(field).serverId")
                    }
                    guard entry.terminal(named: endpoint.terminal) != nil else {
                        let known = entry.terminals.map(\.name).joined(separator: ", ")
                        throw HostessError(
                            .notFound, "server '\(id)' has no terminal '\(endpoint.terminal)' (it has: \(known))", field: "\(field).terminal")
                    }
                }
            }
        }
        guard connectomes.count < Limits.connectomes else {
            throw HostessError(
                .capacity, "hostessd keeps at most \(Limits.connectomes) connectomes and has \(connectomes.count); remove some first")
        }
        if !caller.isRoot {
            let own = connectomes.values.filter { $0.createdBy == creator }
            guard own.count < Limits.connectomesPerCreator else {
                throw HostessError(
                    .capacity, "\(creator) has \(own.count) connectomes recorded, the most one user may (\(Limits.connectomesPerCreator)); remove some first")
            }
            let held = own.reduce(0) { total, record in record.connectome.links.reduce(total) { $0 + $1.sources.count + $1.targets.count } }
            guard held + endpointCount <= Limits.connectomeEndpointsPerCreator else {
                throw HostessError(
                    .capacity,
                    "\(creator)'s connectomes have \(held) endpoints and this one \(endpointCount); one user may record at most \(Limits.connectomeEndpointsPerCreator); remove some first")
            }
        }
        let record = ConnectomeRecord(connectome: connectome, createdBy: creator, createdAt: now.wallMilliseconds)
        connectomes[connectome.id] = record
        log(.connectome, connectome.id)
        return (live(record), true)
    }

    /// The connectome with this id, its state worked out from the guest book now.
    /// - Throws: `not_found` naming `connectomeId`.
    public func connectome(id: String) throws(HostessError) -> ConnectomeRecord {
        guard let record = connectomes[id] else {
            throw HostessError(.notFound, "no connectome '\(id)' is recorded", field: "connectomeId")
        }
        return live(record)
    }

    /// Every recorded connectome, oldest first (ids break ties), each with its state worked out now.
    public func allConnectomes() -> [ConnectomeRecord] {
        connectomes.values.sorted { ($0.createdAt, $0.connectome.id) < ($1.createdAt, $1.connectome.id) }.map(live)
    }

    /// Forgets a connectome; only its creator (the same uid, or the same HTTP key) or root may. The terminals
    /// are not touched: the StateManager marks them available itself.
    /// - Returns: the record as it was, its state worked out just before removal.
    /// - Throws: `not_found` or `forbidden`, naming `connectomeId`.
    @discardableResult
    public mutating func removeConnectome(id: String, by caller: Caller) throws(HostessError) -> ConnectomeRecord {
        let record = try connectome(id: id)
        let mayRemove: Bool
        switch record.createdBy {
        case .user(let uid): mayRemove = caller.isRoot || (caller.key == nil && caller.uid == uid)
        case .key(let key): mayRemove = caller.isRoot || caller.key == key
        }
        guard mayRemove else {
            throw HostessError(.forbidden, "connectome \(id) was recorded by \(record.createdBy); only it or root may remove it", field: "connectomeId")
        }
        connectomes[id] = nil
        log(.connectome, id)
        return record
    }

    /// The endpoints of `connectome` that are not as recorded in the guest book now, link by link, sources
    /// before targets.
    public func problems(of connectome: Connectome) -> [ConnectomeRecord.Problem] {
        var problems: [ConnectomeRecord.Problem] = []
        for link in connectome.links {
            for endpoint in link.endpoints {
                let id = endpoint.serverID.description
                let reason: ConnectomeRecord.Problem.Reason?
                if let entry = try? entry(id: id) {
                    if let terminal = entry.terminal(named: endpoint.terminal) {
                        reason = terminal.connectedTo.contains(link.id) ? nil : .notMarked
                    } else {
                        reason = .terminalGone
                    }
                } else {
                    reason = .serverGone
                }
                if let reason { problems.append(.init(linkID: link.id, serverID: id, terminal: endpoint.terminal, reason: reason)) }
            }
        }
        return problems
    }

    // MARK: Helpers

    /// The record with its problems as the guest book stands now.
    private func live(_ record: ConnectomeRecord) -> ConnectomeRecord {
        var current = record
        current.problems = problems(of: record.connectome)
        return current
    }

    /// Who a caller records connectomes as: its HTTP key, else its uid.
    private static func creator(_ caller: Caller) -> Reservation.Holder {
        caller.key.map(Reservation.Holder.key) ?? .user(uid: caller.uid)
    }
}
