import HostessHTTP
import HostessLoop
import HostessMesh
import HostessModel
import HostessSystem

// MARK: - RemoteQuery

/// A query with `scope` `remote` or `all`: the live peers whose summary can match are asked in parallel
/// (`POST /query` at their endpoints, with the filter's `scope` local), and their answers are merged with
/// this Hostess's own (for `all`) once every peer answered or the deadline passed, whichever comes first.
///
/// The answer never hides a peer: every peer that was asked and did not answer in time, or answered
/// something that is not a list of entries, is listed in `unanswered` with the reason. Each entry says
/// where it lives (`hostess`: `fqdn`, `hostessId`, `endpoint`, and `local` for this Hostess's own).
final class RemoteQuery: LoopHandler {
    /// Entries one peer's answer may hold.
    static let maximumEntriesPerPeer = 10_000
    /// Peers one query asks at most; the others that may match are listed as not asked.
    static let maximumPeersAsked = 64

    private var pending: [String: Peer] = [:]
    private var entries: [JSONValue]
    private var remote: [(fqdn: String, entries: [JSONValue])] = []
    private var unanswered: [JSONValue] = []
    private var asked = 0
    private let timeout: Double
    private let connector: PeerConnector
    private unowned let loop: Loop
    private var timer: Loop.Timer?
    private var completion: ((JSONObject) -> Void)?

    /// Starts the query; `completion` runs once, on the loop, with `{"entries", "unanswered", "asked"}`.
    /// - Parameters:
    ///   - local: this Hostess's matching entries, already marked as local (empty for scope `remote`).
    @discardableResult
    static func start(
        _ filter: ServerFilter, local: [JSONValue], peers: [Peer], connector: PeerConnector, timeout: Double, loop: Loop,
        completion: @escaping (JSONObject) -> Void
    ) -> RemoteQuery {
        let query = RemoteQuery(local: local, connector: connector, timeout: timeout, loop: loop, completion: completion)
        var asking = filter
        asking.scope = .local
        let body = asking.json.jsonBytes
        for peer in peers where peer.state == .live && Self.mayMatch(peer, filter) {
            if query.asked < maximumPeersAsked {
                query.ask(peer, body: body)
            } else {
                query.miss(peer, "not asked: more than \(maximumPeersAsked) peers may match; narrow the filter (class, capabilities)")
            }
        }
        if query.pending.isEmpty {
            query.finish()
        } else {
            query.timer = loop.schedule(at: loop.now &+ UInt64(timeout * 1e9), for: query)
        }
        return query
    }

    private init(local: [JSONValue], connector: PeerConnector, timeout: Double, loop: Loop, completion: @escaping (JSONObject) -> Void) {
        entries = local
        self.connector = connector
        self.timeout = timeout
        self.loop = loop
        self.completion = completion
    }

    /// Whether a peer's summary says it may have a matching server (a peer whose summary is not known is
    /// asked if it has any server).
    static func mayMatch(_ peer: Peer, _ filter: ServerFilter) -> Bool {
        guard let summary = peer.summary else { return peer.serverCount > 0 }
        return summary.contains { item in
            (filter.classCode.map { $0 == item.classCode } ?? true) && item.totalCount > 0
                && filter.capabilities.allSatisfy(item.capabilities.contains) && ((filter.availableTerminals ?? 0) == 0 || item.availableCount > 0)
        }
    }

    // MARK: Asking

    private func ask(_ peer: Peer, body: [UInt8]) {
        asked += 1
        pending[peer.hostessID] = peer
        connector.fetch("POST", "/query", to: peer, body: body, timeout: timeout) { [self] result in answered(peer, result) }
    }

    private func answered(_ peer: Peer, _ result: Result<HTTPClientResponse, HostessError>) {
        guard pending.removeValue(forKey: peer.hostessID) != nil, completion != nil else { return }
        switch result {
        case .failure(let error): miss(peer, error.message)
        case .success(let response) where response.status != 200: miss(peer, "HTTP \(response.status) for POST /query")
        case .success(let response):
            guard case .array(let items)? = try? JSONParser.parse(response.body), items.count <= Self.maximumEntriesPerPeer else {
                miss(peer, "its answer is not a list of at most \(Self.maximumEntriesPerPeer) entries")
                break
            }
            var found: [JSONValue] = []
            for item in items {
                guard let entry = try? GuestBookEntry(json: item), case .object(var object) = entry.json else {
                    miss(peer, "its answer holds something that is not a guest book entry")
                    found = []
                    break
                }
                object["hostess"] = ["fqdn": .string(peer.fqdn), "hostessId": .string(peer.hostessID), "endpoint": .string(peer.endpoint)]
                found.append(.object(object))
            }
            if !found.isEmpty || items.isEmpty { remote.append((peer.fqdn, found)) }
        }
        if pending.isEmpty { finish() }
    }

    private func miss(_ peer: Peer, _ reason: String) {
        unanswered.append(["fqdn": .string(peer.fqdn), "hostessId": .string(peer.hostessID), "endpoint": .string(peer.endpoint), "reason": .string(reason)])
    }

    /// The deadline: whoever has not answered is unanswered.
    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event, completion != nil else { return }
        timer = nil
        for peer in pending.values.sorted(by: { $0.fqdn < $1.fqdn }) { miss(peer, "no answer within \(timeout) s") }
        pending.removeAll()
        finish()
    }

    private func finish() {
        guard let completion else { return }
        self.completion = nil
        if let timer { loop.cancel(timer) }
        timer = nil
        for part in remote.sorted(by: { $0.fqdn < $1.fqdn }) { entries += part.entries }
        completion(["entries": .array(entries), "unanswered": .array(unanswered), "asked": .int(Int64(asked))])
    }
}
