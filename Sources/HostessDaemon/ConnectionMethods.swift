import HostessMesh
import HostessModel
import HostessProbing

// MARK: - ConnectionMethodCache

/// The connection methods this Hostess knows to work (the design's `connectionMethodCache`): its own, from
/// its probe runs, which its announcements carry; and each peer's, as the peer announces them. A method is
/// fresh for `--probe-cache-ttl` after it was tested; stale ones are listed as stale, never announced and
/// never tried first.
public struct ConnectionMethodCache: Sendable {
    /// Milliseconds a tested method stays fresh.
    public var ttl: Int64
    /// This Hostess's own methods, lowest latency first.
    public private(set) var own: [ConnectionMethod] = []

    /// An empty cache whose methods stay fresh for `ttl` milliseconds.
    public init(ttl: Int64) { self.ttl = ttl }

    /// Whether a method tested at `testedAt` is fresh at `now` (wall milliseconds).
    public func isFresh(_ method: ConnectionMethod, now: Int64) -> Bool { method.testedAt &+ ttl > now }

    /// The own methods still fresh at `now` that another machine can use: what announcements and
    /// reservation answers carry (a loopback address means the peer itself to the peer).
    public func freshOwn(now: Int64) -> [ConnectionMethod] { own.filter { isFresh($0, now: now) && !Self.isLoopback($0.endpoint) } }

    /// Whether an `http://HOST:PORT` endpoint names a loopback address (127.0.0.0/8, ::1).
    public static func isLoopback(_ endpoint: String) -> Bool {
        endpoint.hasPrefix("http://127.") || endpoint.hasPrefix("http://[::1]")
    }

    /// Replaces the own methods with what a probe run found: for every address where at least one pair
    /// worked, this Hostess's HTTP interface on that address (`http://IP:PORT`), with the lowest latency
    /// measured there. The probe tests the path to the address; the HTTP port itself is in use and cannot
    /// be a beacon port (docs/probing.md).
    public mutating func learn(from report: ProbeReport, httpPort: UInt16?, at now: Int64) {
        guard let httpPort else { return }
        var best: [String: Double] = [:]
        for result in report.results { best[result.ip] = min(best[result.ip] ?? .infinity, result.latency) }
        own = best.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }.map { ip, latency in
            ConnectionMethod(type: "http", endpoint: "http://\(ProbeAddress.endpoint(ip, httpPort))", latency: latency, testedAt: now)
        }
    }

    /// The methods known for `fqdn` (nil: this Hostess and every peer), as `{"fqdn", "hostessId", "local"?,
    /// "methods": [{type, endpoint, latency, testedAt, fresh}]}`, lowest latency first.
    public func json(fqdn: String?, ownFqdn: String, ownID: String, peers: [Peer], now: Int64) -> JSONValue {
        func methods(_ list: [ConnectionMethod]) -> JSONValue {
            .array(list.sorted { $0.latency < $1.latency }.map { method in
                guard case .object(var object) = method.json else { return method.json }
                object["fresh"] = .bool(isFresh(method, now: now))
                return .object(object)
            })
        }
        var hosts: [JSONValue] = []
        if fqdn == nil || fqdn == ownFqdn {
            hosts.append(["fqdn": .string(ownFqdn), "hostessId": .string(ownID), "local": true, "methods": methods(own)])
        }
        for peer in peers.sorted(by: { $0.fqdn < $1.fqdn }) where fqdn == nil || fqdn == peer.fqdn || fqdn == peer.hostessID {
            hosts.append(["fqdn": .string(peer.fqdn), "hostessId": .string(peer.hostessID), "state": .string(peer.state.rawValue), "methods": methods(peer.connectionMethods)])
        }
        return ["hosts": .array(hosts)]
    }
}
