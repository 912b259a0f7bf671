import HostessHTTP
import HostessLoop
import HostessMesh
import HostessModel
import HostessSystem

// MARK: - PeerConnector

/// How this Hostess reaches a peer (the design's "optimized connection establishment"): every request to a
/// peer (a query across the mesh, a forwarded change, a reservation part, a probe request, a summary fetch)
/// tries the peer's known paths in order, falls back to the next when one cannot be connected to, and when
/// all fail measures the peer's paths again, at most once per `--probe-cache-ttl`.
///
/// The paths, in order: those this Hostess measured itself (after a failure: the peer's endpoint port at
/// each address its announcements came from), fresh, lowest latency first; then the HTTP connection
/// methods the peer announces (its own probe runs found them), fresh, lowest latency first; then the
/// endpoint it announces. Only a failed connect moves on to the next path: once a request was sent, its
/// answer (or its absence) is final, so a write is never sent twice.
final class PeerConnector {
    /// Where a path came from, as the metrics label it.
    enum Source: String, CaseIterable {
        /// Measured by this Hostess.
        case measured
        /// A connection method the peer announces.
        case announced
        /// The endpoint the peer announces.
        case endpoint
    }

    /// Connections by path source and result, for `hostess_connect_path_total`.
    private(set) var counts: [Source: (ok: Int, failed: Int)] = [:]
    private let ttl: Int64
    private unowned let loop: Loop
    /// Paths measured per peer (hostessId), and when each peer was last measured (monotonic ns).
    private var measured: [String: [ConnectionMethod]] = [:]
    private var lastMeasured: [String: UInt64] = [:]
    /// The path each peer was last reached by, to log only changes.
    private var lastPath: [String: String] = [:]

    /// A connector whose measurements stay fresh for `ttl` milliseconds.
    init(ttl: Int64, loop: Loop) {
        self.ttl = ttl
        self.loop = loop
    }

    /// The endpoints to try for `peer`, in order, each with its source (numeric `http://` endpoints only:
    /// resolving a name would block the loop).
    func paths(for peer: Peer, now: Int64) -> [(endpoint: String, source: Source)] {
        var paths: [(String, Source)] = []
        func add(_ endpoint: String, _ source: Source) {
            guard HTTPFetch.numericEndpoint(endpoint) != nil, !paths.contains(where: { $0.0 == endpoint }) else { return }
            paths.append((endpoint, source))
        }
        for method in (measured[peer.hostessID] ?? []).filter({ $0.testedAt &+ ttl > now }).sorted(by: { $0.latency < $1.latency }) {
            add(method.endpoint, .measured)
        }
        // A peer's loopback methods would reach this machine itself.
        let announced = peer.connectionMethods.filter { $0.type == "http" && $0.testedAt &+ ttl > now && !ConnectionMethodCache.isLoopback($0.endpoint) }
        for method in announced.sorted(by: { $0.latency < $1.latency }) {
            add(method.endpoint, .announced)
        }
        add(peer.endpoint, .endpoint)
        return paths
    }

    /// Sends one request to `peer` along its first path that connects (see the type's rules).
    func fetch(
        _ method: String, _ target: String, to peer: Peer, body: [UInt8]? = nil, signedWith key: HTTPKeys.Key? = nil, timeout: Double,
        completion: @escaping HTTPFetch.Completion
    ) {
        let paths = paths(for: peer, now: SystemClock.wallMilliseconds())
        guard !paths.isEmpty else {
            return completion(.failure(HostessError(.unavailable, "\(peer.fqdn)'s endpoint \(peer.endpoint) is not a numeric http:// address", field: "connect")))
        }
        attempt(method, target, to: peer, body: body, key: key, timeout: timeout, paths: paths[...], failures: [], completion: completion)
    }

    private func attempt(
        _ method: String, _ target: String, to peer: Peer, body: [UInt8]?, key: HTTPKeys.Key?, timeout: Double,
        paths: ArraySlice<(endpoint: String, source: Source)>, failures: [String], completion: @escaping HTTPFetch.Completion
    ) {
        guard let path = paths.first, let (address, authority) = HTTPFetch.numericEndpoint(path.endpoint) else {
            remeasure(peer)
            return completion(
                .failure(HostessError(.unavailable, "no path to \(peer.fqdn) connects (\(failures.joined(separator: "; "))); measuring its paths again", field: "connect")))
        }
        HTTPFetch.start(method, target, at: address, host: authority, body: body, signedWith: key, timeout: timeout, loop: loop) { [weak self] result in
            guard let self else { return completion(result) }
            if case .failure(let error) = result, error.field == "connect" {
                counts[path.source, default: (0, 0)].failed += 1
                return attempt(
                    method, target, to: peer, body: body, key: key, timeout: timeout, paths: paths.dropFirst(),
                    failures: failures + ["\(path.endpoint): \(error.message)"], completion: completion)
            }
            counts[path.source, default: (0, 0)].ok += 1
            if lastPath.updateValue(path.endpoint, forKey: peer.hostessID) != path.endpoint, lastPath.count > 1 || !failures.isEmpty {
                Log.info("reaching \(peer.fqdn) by \(path.endpoint) (\(path.source.rawValue))\(failures.isEmpty ? "" : " after \(failures.count) failed")")
            }
            completion(result)
        }
    }

    /// Sends one request to an address outside the peer table (a part whose peer was forgotten).
    func fetchDirect(
        _ method: String, _ target: String, at address: InternetSocketAddress, host: String, signedWith key: HTTPKeys.Key?, timeout: Double,
        completion: @escaping HTTPFetch.Completion
    ) {
        HTTPFetch.start(method, target, at: address, host: host, signedWith: key, timeout: timeout, loop: loop, completion: completion)
    }

    // MARK: Measuring

    /// Measures `peer`'s paths again (its endpoint's port at every address its announcements came from,
    /// `GET /health`, round trip as latency), unless that was done within the ttl.
    func remeasure(_ peer: Peer) {
        let now = loop.now
        if let last = lastMeasured[peer.hostessID], now &- last < UInt64(ttl) &* 1_000_000 { return }
        lastMeasured[peer.hostessID] = now
        guard let (endpoint, _) = HTTPFetch.numericEndpoint(peer.endpoint) else { return }
        let candidates = peer.addresses.compactMap { host -> (String, InternetSocketAddress, String)? in
            let candidate = "http://\(host.contains(":") ? "[\(host)]" : host):\(endpoint.port)"
            return HTTPFetch.numericEndpoint(candidate).map { (candidate, $0.address, $0.authority) }
        }
        var found: [ConnectionMethod] = []
        // Counted before any starts: a fetch refused at once completes inside start.
        var pending = candidates.count
        for (candidate, address, authority) in candidates {
            let started = loop.now
            HTTPFetch.start("GET", "/health", at: address, host: authority, timeout: 2, loop: loop) { [weak self] result in
                guard let self else { return }
                pending -= 1
                // Only a path that reaches this very Hostess counts (its /health names its instanceId).
                if case .success(let response) = result, response.status == 200,
                    (try? JSONParser.parse(response.body))?.objectValue?["instanceId"]?.stringValue == peer.hostessID
                {
                    let latency = (Double(loop.now &- started) / 1e3).rounded() / 1000
                    found.append(ConnectionMethod(type: "http", endpoint: candidate, latency: latency, testedAt: SystemClock.wallMilliseconds()))
                }
                if pending == 0 {
                    measured[peer.hostessID] = found
                    Log.info("measured \(peer.fqdn)'s paths: \(found.isEmpty ? "none answers" : found.map { "\($0.endpoint) \($0.latency) ms" }.joined(separator: ", "))")
                }
            }
        }
    }
}
