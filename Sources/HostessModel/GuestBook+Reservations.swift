// MARK: - Reservations

extension GuestBook {
    /// Most reservations kept at once, active and ended together; past it the oldest ended ones are
    /// forgotten first, and when only active ones are left a new reservation is refused with `capacity`.
    public static let maximumReservations = 16_384

    /// Reserves `request.count` servers matching `request.filter` that no other active reservation holds, all
    /// or none. When too few are free, reservations of strictly lower priority are preempted, lowest priority
    /// first and newest first among equals, but only if that makes the request satisfiable.
    ///
    /// - Parameters:
    ///   - id: the new reservation's id (a random UUID the caller made).
    ///   - caller: who asks; the holder is its HTTP key or else its uid.
    ///   - session: the connection whose close ends it, for `session: true`.
    /// - Returns: the reservation.
    /// A request without a duration gets the policy's default one; the policy's quotas, longest duration and
    /// priority limit apply to every holder but root (see ``ReservationPolicy``).
    ///
    /// - Throws: `conflict` saying how many servers matched and how many were free; `capacity` when the
    ///   servers' new wire form would not fit the region, too many reservations are kept, or the holder's
    ///   quota is used up; `forbidden` for a duration or priority the holder may not use.
    /// With `remote`, peers already hold part of the request (a remote reservation): only the rest is taken
    /// here (none when the peers hold it all), the policy counts the whole, and the parts are recorded.
    @discardableResult
    public mutating func reserve(
        _ request: ReservationRequest, id: String, by caller: Caller, session: UInt64?, now: Timestamp, remote: [Reservation.RemotePart] = []
    ) throws(HostessError) -> Reservation {
        guard reservations[id] == nil else { throw HostessError(.conflict, "a reservation with id \(id) exists", field: "id") }
        guard request.session == false || session != nil else {
            throw HostessError(.badRequest, "a session reservation needs a socket connection", field: "session")
        }
        purgeEndedReservations(keeping: Self.maximumReservations - 1)
        guard reservations.count < Self.maximumReservations else {
            throw HostessError(.capacity, "\(reservations.count) reservations are active; cancel some first")
        }
        let (holder, duration) = try admitReservation(request, by: caller)
        let localCount = request.count - remote.reduce(0) { $0 + $1.serverIDs.count }
        guard localCount >= 0 else { throw HostessError(.internal, "the peers hold more servers than were asked for", field: "count") }
        var matchFilter = request.filter
        matchFilter.unreserved = false
        matchFilter.scope = .local
        let matching = localCount > 0 ? query(matchFilter) : []
        var free = matching.filter { $0.reservedBy == nil }.map(\.id)
        var victims: [Reservation] = []
        if free.count < localCount {
            // Lower-priority holders of matching servers, lowest priority first, newest first among equals.
            let matchingIDs = Set(matching.map(\.id))
            let candidates = reservations.values
                .filter { $0.status == .active && $0.priority < request.priority && $0.serverIDs.contains(where: matchingIDs.contains) }
                .sorted { $0.priority != $1.priority ? $0.priority < $1.priority : $0.token > $1.token }
            var gained: [String] = []
            for candidate in candidates where free.count + gained.count < localCount {
                victims.append(candidate)
                gained += candidate.serverIDs.filter(matchingIDs.contains)
            }
            guard free.count + gained.count >= localCount else {
                let held = matching.count - free.count
                throw HostessError(
                    .conflict,
                    "\(matching.count) servers match, \(free.count) free (\(held) held by reservations of priority \(request.priority) or higher, or too few to preempt); \(localCount) were asked for\(remote.isEmpty ? "" : " here")",
                    field: "count")
            }
            free += gained
        }
        let granted = Array(free.prefix(localCount))
        // The servers' wire form grows by the hold; check it fits before anything changes.
        let freedByVictims = victims.flatMap(\.serverIDs).filter { !granted.contains($0) }
        let payloads = try admitHolds(granted.map { ($0, id) } + freedByVictims.map { ($0, nil) })

        let wall = now.wallMilliseconds
        for victim in victims { end(victim.id, status: .preempted, reason: "preempted by \(id) (priority \(request.priority))", preemptedBy: id, at: wall) }
        lastToken = max(lastToken &+ 1, UInt64(clamping: wall) &* 1000)
        var reservation = Reservation(
            id: id, requestedBy: request.requestedBy ?? holder.description, holder: holder, filter: request.filter,
            count: request.count, serverIDs: granted, createdAt: wall, duration: duration, priority: request.priority,
            token: lastToken, session: request.session)
        reservation.remote = remote
        reservation.remoteFqdn = request.remoteFqdn
        reservation.connectionInfo = request.connectionInfo
        reservations[id] = reservation
        if let session, request.session { reservationSessions[id] = session }
        for server in granted { setHold(server, to: id, payload: payloads[server]) }
        log(.reservation, id)
        return reservation
    }

    /// Checks `request` against the reservation policy for `caller`'s holder, without reserving anything:
    /// the holder and the duration the reservation would get (a remote reservation checks before it asks the
    /// peers). Servers peers hold count as the holder's like local ones.
    public func admitReservation(_ request: ReservationRequest, by caller: Caller) throws(HostessError) -> (Reservation.Holder, Int64) {
        let holder: Reservation.Holder = caller.key.map(Reservation.Holder.key) ?? .user(uid: caller.uid)
        var active = 0
        var serversHeld = 0
        for reservation in reservations.values where reservation.status == .active && reservation.holder == holder {
            active += 1
            serversHeld += reservation.heldCount
        }
        return (holder, try reservationPolicy.admit(request, holder: holder, active: active, servers: serversHeld))
    }

    /// Cancels an active reservation; only its holder (the same uid, or the same HTTP key) or root may.
    @discardableResult
    public mutating func cancelReservation(id: String, by caller: Caller, now: Timestamp) throws(HostessError) -> Reservation {
        let reservation = try reservation(id: id)
        let mayCancel: Bool
        switch reservation.holder {
        case .user(let uid): mayCancel = caller.isRoot || (caller.key == nil && caller.uid == uid)
        case .key(let key): mayCancel = caller.isRoot || caller.key == key
        }
        guard mayCancel else {
            throw HostessError(.forbidden, "reservation \(id) belongs to \(reservation.holder); only it or root may cancel it", field: "reservationId")
        }
        guard reservation.status == .active else {
            throw HostessError(.conflict, "reservation \(id) already ended (\(reservation.status.rawValue))", field: "reservationId")
        }
        end(id, status: .cancelled, reason: "cancelled by \(caller)", at: now.wallMilliseconds)
        return reservations[id] ?? reservation
    }

    /// The reservation with this id, active or ended within the retention window.
    public func reservation(id: String) throws(HostessError) -> Reservation {
        guard let reservation = reservations[id] else {
            throw HostessError(.notFound, "no reservation '\(id)' (ended ones are kept for the retention window only)", field: "reservationId")
        }
        return reservation
    }

    /// Reservations, oldest first, optionally only those with `status`.
    public func reservations(status: Reservation.Status? = nil) -> [Reservation] {
        reservations.values.filter { status == nil || $0.status == status }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    /// The entries a reservation holds now.
    public func servers(of reservation: Reservation) -> [GuestBookEntry] {
        reservation.status == .active ? reservation.serverIDs.compactMap { try? entry(id: $0) } : []
    }

    /// Ends the reservations whose duration ran out, and forgets ended ones older than `retention`
    /// milliseconds. Returns the ids that expired.
    @discardableResult
    public mutating func expireReservations(now: Timestamp, retention: Int64) -> [String] {
        let wall = now.wallMilliseconds
        let due = reservations.values.filter { $0.status == .active && ($0.expiresAt ?? .max) <= wall }.sorted { $0.createdAt < $1.createdAt }
        for reservation in due { end(reservation.id, status: .expired, reason: "its duration ended", at: wall) }
        for reservation in reservations.values where reservation.status != .active && (reservation.endedAt ?? wall) <= wall - retention {
            reservations[reservation.id] = nil
        }
        return due.map(\.id)
    }

    /// Puts back reservations a previous daemon saved: active ones keep their servers that are still here
    /// (the rest count as released) and their expiry time; session-bound ones end, since their connection
    /// died with the daemon. Fencing tokens continue above every saved one.
    public mutating func restoreReservations(_ saved: [Reservation], lastToken savedToken: UInt64, now: Timestamp) {
        lastToken = max(lastToken, savedToken, saved.map(\.token).max() ?? 0)
        let before = revision
        for var reservation in saved.sorted(by: { $0.createdAt < $1.createdAt }) where reservations[reservation.id] == nil {
            guard reservations.count < Self.maximumReservations else { break }
            if reservation.status == .active {
                let (kept, lost) = reservation.serverIDs.reduce(into: ([String](), [String]())) { result, server in
                    if let held = try? entry(id: server), held.reservedBy == nil || held.reservedBy == reservation.id {
                        result.0.append(server)
                    } else {
                        result.1.append(server)
                    }
                }
                reservation.serverIDs = kept
                reservation.released += lost.map { Reservation.Release(serverID: $0, reason: "unregistered", at: now.wallMilliseconds) }
                if reservation.session {
                    reservation.status = .cancelled
                    reservation.reason = "its session connection closed (hostessd restarted)"
                    reservation.endedAt = now.wallMilliseconds
                } else if kept.isEmpty && !reservation.holdsRemoteServers {
                    reservation.status = .lost
                    reservation.reason = "every server it held left the guest book"
                    reservation.endedAt = now.wallMilliseconds
                }
            }
            if reservation.status != .active { releaseRemoteParts(of: &reservation) }
            reservations[reservation.id] = reservation
            if reservation.status == .active {
                for server in reservation.serverIDs { setHold(server, to: reservation.id) }
            }
        }
        // Entries the old daemon published as held by a reservation that did not come back are free.
        for id in entryIDsHeld() where reservations[id.holder]?.status != .active { setHold(id.server, to: nil) }
        if !saved.isEmpty || revision != before { log(.reservation, "*") }
    }

    /// The state to save: the active reservations (ended ones are kept for inspection only) and the last token.
    public var savedReservations: (reservations: [Reservation], lastToken: UInt64) { (reservations(status: .active), lastToken) }

    // MARK: Capabilities

    /// The design's per-class summary of the entries matching `filter`: how many, how many have a free
    /// terminal, and the union of their capabilities; sorted by class, capabilities sorted.
    public func capabilitySummary(_ filter: ServerFilter) -> [JSONValue] {
        var byClass: [ClassCode: (total: Int, available: Int, capabilities: Set<String>)] = [:]
        for entry in query(filter) {
            var summary = byClass[entry.name.classCode] ?? (0, 0, [])
            summary.total += 1
            if entry.availableTerminalCount > 0 { summary.available += 1 }
            summary.capabilities.formUnion(entry.capabilities)
            byClass[entry.name.classCode] = summary
        }
        return byClass.sorted { $0.key < $1.key }.map { classCode, summary in
            [
                "class": .string(classCode.description), "totalCount": .int(Int64(summary.total)),
                "availableCount": .int(Int64(summary.available)),
                "capabilities": .array(summary.capabilities.sorted().map(JSONValue.string)),
            ]
        }
    }

    // MARK: Remote parts

    /// A peer went stale: every part it holds of an active reservation turns `lost`, and a reservation left
    /// with no server here or on a peer ends as `lost`. The peer is asked to cancel those parts all the same
    /// (``takeRemoteReleases()``), in case it is only unreachable for a while. Returns the reservations changed.
    @discardableResult
    public mutating func loseRemoteParts(hostessID: String, reason: String, now: Timestamp) -> [String] {
        var changed: [String] = []
        for (id, var reservation) in reservations where reservation.status == .active && reservation.remote.contains(where: { $0.hostessID == hostessID && $0.state == .held }) {
            for index in reservation.remote.indices where reservation.remote[index].hostessID == hostessID && reservation.remote[index].state == .held {
                reservation.remote[index].state = .lost
                reservation.remote[index].reason = reason
                remoteReleases.append((id, reservation.remote[index]))
            }
            if reservation.serverIDs.isEmpty && !reservation.holdsRemoteServers {
                reservation.status = .lost
                reservation.reason = "every Hostess holding its servers went stale"
                reservation.endedAt = now.wallMilliseconds
                reservationSessions[id] = nil
            }
            reservations[id] = reservation
            changed.append(id)
        }
        for id in changed.sorted() { log(.reservation, id) }
        return changed.sorted()
    }

    /// The parts peers must be asked to cancel (their reservation ended here, or they went stale), oldest
    /// first; each is returned once.
    public mutating func takeRemoteReleases() -> [(reservationID: String, part: Reservation.RemotePart)] {
        defer { remoteReleases.removeAll() }
        return remoteReleases
    }

    /// Whether parts wait for their peers to be asked to cancel them.
    public var hasRemoteReleases: Bool { !remoteReleases.isEmpty }

    /// Records how a peer answered the cancellation of a released part (`reason` says it in words).
    public mutating func noteRemoteRelease(reservationID: String, peerReservationID: String, reason: String) {
        guard var reservation = reservations[reservationID],
            let index = reservation.remote.firstIndex(where: { $0.reservationID == peerReservationID && $0.state != .held })
        else { return }
        reservation.remote[index].reason = reason
        reservations[reservationID] = reservation
        log(.reservation, reservationID)
    }

    /// Marks the parts an ended reservation still holds released, and queues their cancellation at the peers.
    private mutating func releaseRemoteParts(of reservation: inout Reservation) {
        for index in reservation.remote.indices where reservation.remote[index].state == .held {
            reservation.remote[index].state = .released
            reservation.remote[index].reason = "this reservation ended (\(reservation.status.rawValue)); cancelling it at the peer"
            remoteReleases.append((reservation.id, reservation.remote[index]))
        }
    }

    // MARK: Helpers

    /// Ends the session-bound reservations of a closed connection.
    mutating func endReservationSessions(connection: UInt64, now: Timestamp) {
        let ended = reservationSessions.filter { $0.value == connection }.map(\.key).sorted()
        for id in ended where reservations[id]?.status == .active {
            end(id, status: .cancelled, reason: "its session connection closed", at: now.wallMilliseconds)
        }
    }

    /// A server left the guest book while `holder` held it: the reservation keeps going without it and
    /// records why; when it was the last one, the reservation ends as `lost`.
    mutating func releaseLost(_ server: String, from holder: String, reason: String, at wallMilliseconds: Int64) {
        guard var reservation = reservations[holder], reservation.status == .active else { return }
        reservation.serverIDs.removeAll { $0 == server }
        reservation.released.append(Reservation.Release(serverID: server, reason: reason, at: wallMilliseconds))
        if reservation.serverIDs.isEmpty && !reservation.holdsRemoteServers {
            reservation.status = .lost
            reservation.reason = "every server it held left the guest book"
            reservation.endedAt = wallMilliseconds
            reservationSessions[holder] = nil
        }
        reservations[holder] = reservation
        log(.reservation, holder)
    }

    /// Marks a reservation ended and frees its servers.
    private mutating func end(_ id: String, status: Reservation.Status, reason: String, preemptedBy: String? = nil, at wallMilliseconds: Int64) {
        guard var reservation = reservations[id], reservation.status == .active else { return }
        for server in reservation.serverIDs where (try? entry(id: server))?.reservedBy == id { setHold(server, to: nil) }
        reservation.status = status
        reservation.reason = reason
        reservation.preemptedBy = preemptedBy
        reservation.endedAt = wallMilliseconds
        releaseRemoteParts(of: &reservation)
        reservations[id] = reservation
        reservationSessions[id] = nil
        log(.reservation, id)
    }

    /// Forgets the oldest ended reservations until at most `limit` are kept.
    private mutating func purgeEndedReservations(keeping limit: Int) {
        guard reservations.count > limit else { return }
        let ended = reservations.values.filter { $0.status != .active }.sorted { ($0.endedAt ?? 0) < ($1.endedAt ?? 0) }
        for reservation in ended.prefix(reservations.count - limit) { reservations[reservation.id] = nil }
    }
}
