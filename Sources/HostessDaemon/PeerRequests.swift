import HostessHTTP
import HostessLoop
import HostessMesh
import HostessModel
import HostessProbing
import HostessSystem

// MARK: - PeerRequests

/// What this Hostess asks of its peers' guest books on behalf of its local callers: terminal changes of
/// their entries (forwarded `markInUse` / `markAvailable`), the parts of remote reservations, and their
/// cancellation. Every such request is signed with the key the peer gave this Hostess (`--peer-keys`).
///
/// Which peer holds an entry: the one whose answer to a query across the mesh last listed it (the latest
/// ``maximumLocations`` ids are remembered), else the one live peer whose host name is the id's `fqdn`.
final class PeerRequests {
    /// Entry ids whose Hostess is remembered from the answers of queries across the mesh.
    static let maximumLocations = 16_384

    /// The keys peers gave this Hostess.
    let keys: PeerKeys
    private let requester: RemoteReservation.Requester
    private let timeout: Double
    private let connector: PeerConnector
    private unowned let loop: Loop
    /// Entry id → hostessId of the peer that last listed it, and the ids in the order they were learned.
    private var locations: [String: String] = [:]
    private var learned: [String] = []
    private var learnedStart = 0

    /// Requests signed with `keys`, naming this Hostess as `requester`, each answered within `timeout` seconds.
    init(keys: PeerKeys, requester: RemoteReservation.Requester, timeout: Double, connector: PeerConnector, loop: Loop) {
        self.keys = keys
        self.connector = connector
        self.requester = requester
        self.timeout = timeout
        self.loop = loop
    }

    // MARK: Where entries live

    /// Remembers which peer listed each entry of a query's merged answer.
    func learn(from answer: JSONObject) {
        guard case .array(let entries)? = answer["entries"] else { return }
        for entry in entries {
            guard let object = entry.objectValue, let id = object["id"]?.stringValue,
                let hostess = object["hostess"]?.objectValue, hostess["local"] == nil, let hostessID = hostess["hostessId"]?.stringValue
            else { continue }
            if locations.updateValue(hostessID, forKey: id) == nil { learned.append(id) }
        }
        while learned.count - learnedStart > Self.maximumLocations {
            locations[learned[learnedStart]] = nil
            learnedStart += 1
        }
        if learnedStart > 4096 && learnedStart * 2 > learned.count {
            learned.removeFirst(learnedStart)
            learnedStart = 0
        }
    }

    /// The peer that holds `name`, or why none can be asked.
    func peer(holding name: ServerName, in peers: [Peer]) -> Result<Peer, HostessError> {
        let id = name.description
        if let hostessID = locations[id], let peer = peers.first(where: { $0.hostessID == hostessID }) {
            guard peer.state == .live else {
                return .failure(HostessError(.unavailable, "'\(id)' lives on \(peer.fqdn), which is stale (no announcement since its ttl ran out)", field: "serverId"))
            }
            return .success(peer)
        }
        let named = peers.filter { $0.state == .live && $0.fqdn.lowercased() == name.fqdn.lowercased() }
        switch named.count {
        case 1: return .success(named[0])
        case 0:
            return .failure(
                HostessError(
                    .notFound, "no entry '\(id)' here, and no live peer is known to hold it (none is named \(name.fqdn); a query with scope remote or all teaches hostessd where entries live)",
                    field: "serverId"))
        default:
            return .failure(
                HostessError(
                    .conflict, "\(named.count) live peers are named \(name.fqdn); query with scope remote or all first, so that hostessd learns which holds '\(id)'",
                    field: "serverId"))
        }
    }

    // MARK: Forwarded terminal changes

    /// Forwards `markInUse` / `markAvailable` of `name` to `peer`; the completion gets the peer's entry (with
    /// `hostess` saying where it lives) or the peer's refusal.
    func forward(_ command: Command, _ name: ServerName, to peer: Peer, completion: @escaping (Result<JSONValue, HostessError>) -> Void) {
        guard let key = keys.key(hostessID: peer.hostessID, fqdn: peer.fqdn) else {
            return completion(
                .failure(HostessError(.forbidden, "'\(name)' lives on \(peer.fqdn), and --peer-keys has no key for it (a line `\(peer.fqdn) KEY_ID SECRET`)", field: "serverId")))
        }
        let target: String
        var body: JSONObject = [:]
        switch command {
        case .markInUse(_, let terminal, let connectomeID):
            target = "/servers/\(PercentEncoding.pathSegment(name.description))/terminals/\(PercentEncoding.pathSegment(terminal))/in-use"
            body["connectomeId"] = .string(connectomeID)
        case .markAvailable(_, let terminal, let connectomeID):
            target = "/servers/\(PercentEncoding.pathSegment(name.description))/terminals/\(PercentEncoding.pathSegment(terminal))/available"
            if let connectomeID { body["connectomeId"] = .string(connectomeID) }
        default:
            return completion(.failure(HostessError(.internal, "\(command.kind.rawValue) is not forwarded")))
        }
        let hostess: JSONValue = ["fqdn": .string(peer.fqdn), "hostessId": .string(peer.hostessID), "endpoint": .string(peer.endpoint)]
        connector.fetch("POST", target, to: peer, body: JSONValue.object(body).jsonBytes, signedWith: key, timeout: timeout) { result in
            switch result {
            case .failure(let error):
                completion(.failure(HostessError(error.code == .timeout ? .timeout : .unavailable, "\(peer.fqdn) did not answer: \(error.message)", field: "serverId")))
            case .success(let response) where response.status == 200:
                // The terminal endpoints answer `{"entry": …}`, as the socket does.
                guard let json = try? JSONParser.parse(response.body), let entry = try? GuestBookEntry(json: json.objectValue?["entry"] ?? .null),
                    case .object(var object) = entry.json
                else {
                    return completion(.failure(HostessError(.unavailable, "\(peer.fqdn) answered something that is not a guest book entry", field: "serverId")))
                }
                object["hostess"] = hostess
                completion(.success(.object(object)))
            case .success(let response):
                completion(.failure(Self.peerError(response, from: peer)))
            }
        }
    }

    /// A peer's refusal as this Hostess's: its code (when it is one of the protocol's) and message, named.
    static func peerError(_ response: HTTPClientResponse, from peer: Peer) -> HostessError {
        let error = (try? JSONParser.parse(response.body))?.objectValue?["error"]?.objectValue
        let code = error?["code"]?.stringValue.flatMap(HostessError.Code.init(rawValue:)) ?? .unavailable
        // A refusal of this Hostess's own signature is the operator's to fix here, not the caller's.
        let mapped: HostessError.Code = code == .unauthorized ? .forbidden : code
        return HostessError(mapped, "\(peer.fqdn) answered HTTP \(response.status): \(error?["message"]?.stringValue ?? "no message")", field: error?["field"]?.stringValue)
    }

    // MARK: Probes run by a peer

    /// How to ask the live peer named `name` (host name or hostessId) to probe this machine (phase 3): the
    /// local address that faces it, which its probe will test, and the request for each window (`POST
    /// /probe`, signed, answered when the peer's probe ends, within `seconds`).
    func remoteProbe(from name: String, in peers: [Peer], seconds: Double) -> Result<(target: String, ask: ProbeRun.RemoteProbe), HostessError> {
        let lowered = name.lowercased()
        let named = peers.filter { $0.state == .live && ($0.fqdn.lowercased() == lowered || $0.hostessID == lowered) }
        guard named.count == 1, let peer = named.first else {
            return .failure(
                HostessError(named.isEmpty ? .notFound : .conflict, named.isEmpty ? "no live peer named \(name) (hostess peers)" : "\(named.count) live peers are named \(name); give its hostessId", field: "from"))
        }
        guard let key = keys.key(hostessID: peer.hostessID, fqdn: peer.fqdn) else {
            return .failure(HostessError(.forbidden, "--peer-keys has no key for \(peer.fqdn); a peer runs probes only for requests signed with one", field: "from"))
        }
        let first = connector.paths(for: peer, now: SystemClock.wallMilliseconds()).first.flatMap { HTTPFetch.numericEndpoint($0.endpoint) }
        guard let (address, _) = first, let local = Syscall.localAddress(toward: address) else {
            return .failure(HostessError(.unavailable, "\(peer.fqdn)'s endpoint \(peer.endpoint) is not a numeric address this machine has a route to", field: "from"))
        }
        let connector = self.connector
        let ask: ProbeRun.RemoteProbe = { instructions, completion in
            connector.fetch("POST", "/probe", to: peer, body: JSONValue.object(instructions.json).jsonBytes, signedWith: key, timeout: seconds) { result in
                switch result {
                case .failure(let error): completion(.failure(HostessError(.unavailable, "\(peer.fqdn) did not answer: \(error.message)")))
                case .success(let response) where response.status == 200:
                    guard case .object(let summary)? = try? JSONParser.parse(response.body) else {
                        return completion(.failure(HostessError(.unavailable, "\(peer.fqdn) answered something that is not a probe summary")))
                    }
                    completion(.success(summary))
                case .success(let response): completion(.failure(Self.peerError(response, from: peer)))
                }
            }
        }
        return .success((local, ask))
    }

    // MARK: Remote reservations

    /// Gets `needed` servers matching `request` from `peers` (see ``RemoteReservation``).
    func reserve(_ request: ReservationRequest, needed: Int, localFree: Int, peers: [Peer], completion: @escaping RemoteReservation.Completion) {
        RemoteReservation.start(
            request, needed: needed, localFree: localFree, peers: peers, keys: keys, requester: requester, connector: connector, timeout: timeout,
            completion: completion)
    }

    /// Asks a part's peer to cancel it; `completion` gets the outcome in words.
    func release(_ part: Reservation.RemotePart, peers: [Peer], completion: @escaping (String) -> Void) {
        guard let key = keys.key(hostessID: part.hostessID, fqdn: part.fqdn) else {
            return completion("not cancelled: --peer-keys has no key for \(part.fqdn) now; the peer frees the servers when the duration ends")
        }
        RemoteReservation.cancel(part, with: key, peer: peers.first { $0.hostessID == part.hostessID }, connector: connector, timeout: timeout, completion: completion)
    }
}
