import HostessHTTP
import HostessLoop
import HostessMesh
import HostessModel
import HostessSystem

// MARK: - RemoteReservation

/// The peers' half of a reservation with `allowRemote` that this guest book cannot hold alone (the design's
/// "LLDP phone call"): what the peers must hold, got all or nothing.
///
/// 1. **Survey.** The live peers whose summary can match, and for which `--peer-keys` has a key, are asked
///    in parallel how many matching servers they have free (`POST /query` with `unreserved`), within
///    `--remote-timeout`; each answer's round trip is that peer's latency.
/// 2. **Plan.** Peers that advertise a tested connection method come first, then the lower latency, then
///    the host name; each takes as many servers as it has free until the request is covered. When all of
///    them together cannot cover it, nothing is reserved anywhere.
/// 3. **Reserve.** Each chosen peer gets `POST /reserve` with the design's body (`requestedBy`
///    `Hostess@FQDN`, `remoteFqdn`, `serverFilter`, `count`, `connectionInfo`, plus `duration` and
///    `priority`), signed with the key it gave this Hostess. When any part is refused or unanswered, the
///    parts granted are cancelled (`DELETE /reservations/{id}`, signed) and the request fails with the reason.
///
/// The completion gets the parts granted; the caller records them in the local reservation.
final class RemoteReservation {
    /// What the peers' half comes to.
    typealias Completion = (Result<[Reservation.RemotePart], HostessError>) -> Void

    /// A peer that may hold part of the request.
    struct Candidate {
        var peer: Peer
        var key: HTTPKeys.Key
        /// Free matching servers it reported, and the survey's round trip in nanoseconds.
        var free = 0
        var latency: UInt64 = .max
    }

    /// Who this Hostess is, as the parts' requests say.
    struct Requester {
        var fqdn: String
        var endpoint: String
    }

    private let request: ReservationRequest
    private let needed: Int
    private let requester: Requester
    private let timeout: Double
    private let connector: PeerConnector
    private var candidates: [Candidate]
    private var refusals: [String] = []
    private var pending = 0
    private var granted: [(candidate: Candidate, part: Reservation.RemotePart)] = []
    private var failures: [String] = []
    private var completion: Completion?

    /// Starts getting `needed` servers matching `request`'s filter from the peers; `completion` runs once,
    /// on the loop.
    /// - Parameters:
    ///   - localFree: how many this guest book holds itself, for the messages.
    static func start(
        _ request: ReservationRequest, needed: Int, localFree: Int, peers: [Peer], keys: PeerKeys, requester: Requester, connector: PeerConnector,
        timeout: Double, completion: @escaping Completion
    ) {
        var candidates: [Candidate] = []
        var skipped: [String] = []
        for peer in peers where peer.state == .live && RemoteQuery.mayMatch(peer, request.filter) {
            guard let key = keys.key(hostessID: peer.hostessID, fqdn: peer.fqdn) else {
                skipped.append("\(peer.fqdn): no key for it in --peer-keys")
                continue
            }
            guard candidates.count < RemoteQuery.maximumPeersAsked else { break }
            candidates.append(Candidate(peer: peer, key: key))
        }
        let reservation = RemoteReservation(
            request, needed: needed, requester: requester, connector: connector, timeout: timeout, candidates: candidates, completion: completion)
        reservation.refusals = skipped
        guard !candidates.isEmpty else {
            return reservation.fail(
                "\(localFree) matching servers are free here and \(needed) more were needed; no live peer whose summary matches can be asked\(skipped.isEmpty ? "" : " (\(skipped.joined(separator: "; ")))")")
        }
        reservation.survey(localFree: localFree)
    }

    private init(
        _ request: ReservationRequest, needed: Int, requester: Requester, connector: PeerConnector, timeout: Double, candidates: [Candidate],
        completion: @escaping Completion
    ) {
        self.request = request
        self.needed = needed
        self.requester = requester
        self.timeout = timeout
        self.connector = connector
        self.candidates = candidates
        self.completion = completion
    }

    // MARK: Survey

    private func survey(localFree: Int) {
        var filter = request.filter
        filter.scope = .local
        filter.unreserved = true
        let body = filter.json.jsonBytes
        pending = candidates.count
        for index in candidates.indices {
            let candidate = candidates[index]
            let started = SystemClock.monotonicNanoseconds()
            connector.fetch("POST", "/query", to: candidate.peer, body: body, signedWith: candidate.key, timeout: timeout) { [self] result in
                pending -= 1
                switch result {
                case .success(let response) where response.status == 200:
                    if case .array(let items)? = try? JSONParser.parse(response.body) {
                        candidates[index].free = items.count
                        candidates[index].latency = SystemClock.monotonicNanoseconds() &- started
                    } else {
                        refusals.append("\(candidate.peer.fqdn): its answer to POST /query is not a list of entries")
                    }
                case .success(let response): refusals.append("\(candidate.peer.fqdn): HTTP \(response.status) for POST /query")
                case .failure(let error): refusals.append("\(candidate.peer.fqdn): \(error.message)")
                }
                if pending == 0 { plan(localFree: localFree) }
            }
        }
    }

    // MARK: Plan

    private func plan(localFree: Int) {
        let ordered = candidates.filter { $0.free > 0 }.sorted { a, b in
            let aTested = !a.peer.connectionMethods.isEmpty
            let bTested = !b.peer.connectionMethods.isEmpty
            if aTested != bTested { return aTested }
            return a.latency != b.latency ? a.latency < b.latency : a.peer.fqdn < b.peer.fqdn
        }
        var left = needed
        var shares: [(Candidate, Int)] = []
        for candidate in ordered where left > 0 {
            let share = min(left, candidate.free)
            shares.append((candidate, share))
            left -= share
        }
        guard left == 0 else {
            let offers = candidates.map { "\($0.peer.fqdn) \($0.free) free" }
            return fail(
                "\(localFree) matching servers are free here, \(needed) more were needed, and the peers have \(needed - left) (\((offers + refusals).joined(separator: "; "))); nothing was reserved"
            )
        }
        pending = shares.count
        for (candidate, count) in shares { reserve(count, on: candidate) }
    }

    // MARK: Reserve

    /// The design's body of a remote reservation.
    private func body(count: Int) -> [UInt8] {
        var filter = request.filter
        filter.scope = .local
        let part = ReservationRequest(
            requestedBy: "Hostess@\(requester.fqdn)", filter: filter, count: count, duration: request.duration, priority: request.priority,
            remoteFqdn: requester.fqdn, connectionInfo: ConnectionInfo(endpoint: requester.endpoint, preferredMethods: ["http"]))
        return part.json.jsonBytes
    }

    private func reserve(_ count: Int, on candidate: Candidate) {
        connector.fetch("POST", "/reserve", to: candidate.peer, body: body(count: count), signedWith: candidate.key, timeout: timeout) { [self] result in
            pending -= 1
            switch result {
            case .success(let response) where response.status == 201:
                do throws(HostessError) {
                    guard let json = try? JSONParser.parse(response.body) else { throw HostessError(.parseError, "not JSON") }
                    let reply = try ReservationReply(json: json)
                    let reservation = reply.reservation
                    guard reservation.status == .active, reservation.serverIDs.count == count else {
                        throw HostessError(.internal, "it granted \(reservation.serverIDs.count) servers (\(reservation.status.rawValue)), not \(count)")
                    }
                    let part = Reservation.RemotePart(
                        fqdn: candidate.peer.fqdn, hostessID: candidate.peer.hostessID, endpoint: candidate.peer.endpoint, reservationID: reservation.id,
                        serverIDs: reservation.serverIDs, servers: reply.servers, token: reservation.token)
                    granted.append((candidate, part))
                } catch {
                    failures.append("\(candidate.peer.fqdn): its answer to POST /reserve is not a reservation: \(error.message)")
                }
            case .success(let response):
                failures.append("\(candidate.peer.fqdn) refused \(count): \(Self.errorMessage(response))")
            case .failure(let error):
                failures.append("\(candidate.peer.fqdn): \(error.message) (a part it may have granted ends with its duration)")
            }
            if pending == 0 { finish() }
        }
    }

    private func finish() {
        guard failures.isEmpty else {
            for (candidate, part) in granted { Self.cancel(part, with: candidate.key, peer: candidate.peer, connector: connector, timeout: timeout) }
            let cancelled = granted.map { "\($0.part.fqdn) (\($0.part.serverIDs.count))" }
            return fail(
                "a part failed: \(failures.sorted().joined(separator: "; "))\(cancelled.isEmpty ? "" : "; the parts granted on \(cancelled.joined(separator: ", ")) were cancelled")")
        }
        guard let completion else { return }
        self.completion = nil
        completion(.success(granted.map(\.part).sorted { $0.fqdn < $1.fqdn }))
    }

    private func fail(_ message: String) {
        guard let completion else { return }
        self.completion = nil
        completion(.failure(HostessError(.conflict, message, field: "count")))
    }

    // MARK: Requests to a peer

    /// Asks a part's peer to cancel it, signed with `key`, along the peer's paths (or at the part's endpoint
    /// when the peer is no longer in the table); `completion` gets the outcome in words.
    static func cancel(
        _ part: Reservation.RemotePart, with key: HTTPKeys.Key, peer: Peer?, connector: PeerConnector, timeout: Double,
        completion: ((String) -> Void)? = nil
    ) {
        let target = "/reservations/" + PercentEncoding.pathSegment(part.reservationID)
        let answered: HTTPFetch.Completion = { result in
            switch result {
            case .success(let response) where response.status == 200: completion?("cancelled at the peer")
            case .success(let response): completion?("the peer refused to cancel it (\(errorMessage(response))); it frees the servers when the duration ends")
            case .failure(let error): completion?("the peer did not answer the cancel (\(error.message)); it frees the servers when the duration ends")
            }
        }
        if let peer { return connector.fetch("DELETE", target, to: peer, signedWith: key, timeout: timeout, completion: answered) }
        guard let (address, authority) = HTTPFetch.numericEndpoint(part.endpoint) else {
            completion?("not cancelled: \(part.endpoint) is not a numeric address; the peer frees the servers when the duration ends")
            return
        }
        connector.fetchDirect("DELETE", target, at: address, host: authority, signedWith: key, timeout: timeout, completion: answered)
    }

    /// A peer's error answer in words: its `error.message`, else the status.
    static func errorMessage(_ response: HTTPClientResponse) -> String {
        if let error = (try? JSONParser.parse(response.body))?.objectValue?["error"]?.objectValue, let message = error["message"]?.stringValue {
            return "HTTP \(response.status) \(error["code"]?.stringValue ?? ""): \(message)"
        }
        return "HTTP \(response.status)"
    }
}
