import HostessModel

// MARK: - DirectoryStatus

/// What the fleet directory is doing, as `status`, `GET /health` and `GET /metrics` report it: its state, the
/// etcd member in use, the lease, the last revision seen, and counters. A value the ``Directory`` renews on the
/// loop; reading it never waits on etcd.
public struct DirectoryStatus: Sendable, Equatable {
    /// Where the directory stands with etcd.
    public enum State: String, Sendable, CaseIterable {
        /// Starting, or moving to another member after the one in use failed.
        case connecting
        /// The announcement is under its lease and the prefix is watched.
        case connected
        /// No member answered in the last round; retried with backoff.
        case unreachable
        /// etcd answers but refuses the credentials or a permission; retried with the longest backoff.
        case refused
    }

    /// The state.
    public var state = State.connecting
    /// The member in use or last tried, `HOST:PORT`.
    public var endpoint: String
    /// When the state last changed (wall milliseconds).
    public var since: Int64
    /// Why the last attempt failed, while not connected.
    public var error: String?
    /// The keys under the prefix other than this Hostess's own, as last read.
    public var peers = 0
    /// The last revision of etcd's store seen.
    public var revision: Int64 = 0
    /// The lease the announcement is under (0: none now).
    public var lease: Int64 = 0
    /// The lease's TTL in seconds, as etcd granted it.
    public var ttl: Int64 = 0
    /// Exchanges with etcd that got the answer asked for.
    public var requestsOK = 0
    /// Exchanges with etcd that got no answer, or an error.
    public var requestsFailed = 0
    /// Watch events read.
    public var watchEvents = 0
    /// Times a connection to a member was made again after the one in use failed.
    public var reconnects = 0

    /// A status at start, about to try `endpoint`.
    init(endpoint: String, since: Int64) {
        self.endpoint = endpoint
        self.since = since
    }

    /// The object `status` and `/health` report as `directory`.
    public var json: JSONValue {
        var object: JSONObject = [
            "state": .string(state.rawValue), "endpoint": .string(endpoint), "since": .int(since), "peers": .int(Int64(peers)),
            "revision": .int(revision), "lease": .int(lease), "ttl": .int(ttl),
        ]
        if let error { object["error"] = .string(error) }
        return .object(object)
    }
}
