import HostessHTTP
import HostessModel

// MARK: - EtcdRequest

/// A request to etcd's v3 JSON gateway: `POST /v3/…` with a JSON body, keys and values in base64, 64-bit
/// integers as decimal strings (proto3 JSON).
///
/// Only what the fleet directory needs is built here; the replies are read by ``EtcdLease``, ``EtcdHeader``,
/// ``EtcdRange``, ``EtcdDeleteRange``, ``EtcdAuthentication`` and, for a watch, ``EtcdWatchDecoder``.
public struct EtcdRequest: Sendable, Hashable {
    /// The method: `POST`.
    public var method: String
    /// The target, e.g. `/v3/lease/grant`.
    public var target: String
    /// The JSON body.
    public var body: [UInt8]

    /// Creates a request.
    public init(method: String = "POST", target: String, body: [UInt8]) {
        self.method = method
        self.target = target
        self.body = body
    }

    private init(_ target: String, _ members: JSONObject) {
        self.init(target: target, body: JSONValue.object(members).jsonBytes)
    }

    // MARK: Leases

    /// `POST /v3/lease/grant {"TTL":"…"}`: a new lease of `ttl` seconds, read with ``EtcdLease/init(grantReply:)``.
    public static func leaseGrant(ttl: Int64) -> EtcdRequest {
        EtcdRequest("/v3/lease/grant", ["TTL": int64(ttl)])
    }

    /// `POST /v3/lease/keepalive {"ID":"…"}`: renews lease `id` for its TTL, read with
    /// ``EtcdLease/init(keepAliveReply:)``. (The gateway answers with a stream of one response, chunked.)
    public static func leaseKeepAlive(id: Int64) -> EtcdRequest {
        EtcdRequest("/v3/lease/keepalive", ["ID": int64(id)])
    }

    /// `POST /v3/lease/revoke {"ID":"…"}`: ends lease `id` and deletes its keys, read with
    /// ``EtcdHeader/init(reply:)``.
    public static func leaseRevoke(id: Int64) -> EtcdRequest {
        EtcdRequest("/v3/lease/revoke", ["ID": int64(id)])
    }

    // MARK: Keys

    /// `POST /v3/kv/put {"key":…,"value":…,"lease":"…"}`: writes `value` at `key`, attached to `lease` (0 for
    /// none), read with ``EtcdHeader/init(reply:)``.
    public static func put(key: [UInt8], value: [UInt8], lease: Int64) -> EtcdRequest {
        EtcdRequest("/v3/kv/put", ["key": bytes(key), "value": bytes(value), "lease": int64(lease)])
    }

    /// `POST /v3/kv/range {"key":…,"range_end":…}`: the keys from `key` up to `rangeEnd` (excluded) at the
    /// current revision, read with ``EtcdRange/init(reply:)``. ``EtcdDirectoryLayout`` gives a prefix's range.
    public static func range(key: [UInt8], rangeEnd: [UInt8]) -> EtcdRequest {
        EtcdRequest("/v3/kv/range", ["key": bytes(key), "range_end": bytes(rangeEnd)])
    }

    /// `POST /v3/kv/deleterange {"key":…}`: deletes `key`, read with ``EtcdDeleteRange/init(reply:)``.
    public static func deleteRange(key: [UInt8]) -> EtcdRequest {
        EtcdRequest("/v3/kv/deleterange", ["key": bytes(key)])
    }

    // MARK: Watches

    /// `POST /v3/watch {"create_request":{"key":…,"range_end":…,"start_revision":"…"}}`: a watch of the keys
    /// from `key` up to `rangeEnd` (excluded), from `startRevision` on (0: from now). The response is a
    /// stream that lasts as long as the connection, read with ``EtcdWatchDecoder``.
    ///
    /// With `progressNotify`, etcd also sends a response without events now and then (every 10 minutes by
    /// default) once the watch has caught up, so that the revision to resume from
    /// (``EtcdWatchResponse/resumeRevision(from:)``) keeps up with the store even when nothing changes.
    public static func watch(key: [UInt8], rangeEnd: [UInt8], startRevision: Int64, progressNotify: Bool = false) -> EtcdRequest {
        var create: JSONObject = ["key": bytes(key), "range_end": bytes(rangeEnd), "start_revision": int64(startRevision)]
        if progressNotify { create["progress_notify"] = .bool(true) }
        return EtcdRequest("/v3/watch", ["create_request": .object(create)])
    }

    // MARK: Authentication

    /// `POST /v3/auth/authenticate {"name":…,"password":…}`: a token for the user, read with
    /// ``EtcdAuthentication/init(reply:)``.
    public static func authenticate(name: String, password: String) -> EtcdRequest {
        EtcdRequest("/v3/auth/authenticate", ["name": .string(name), "password": .string(password)])
    }

    // MARK: Wire form

    /// The request as bytes for the wire (``HTTPClientRequest/serialized(method:target:host:headers:body:)``):
    /// `Content-Type: application/json`, the token as `Authorization` when there is one, then `headers`.
    ///
    /// - Parameters:
    ///   - host: The `Host` value, e.g. `127.0.0.1:2379`.
    ///   - token: The token of ``EtcdAuthentication``, nil when etcd has authentication disabled (etcd refuses a
    ///     token it does not know even then).
    ///   - headers: More header fields, e.g. `Connection: close`.
    public func serialized(host: String, token: String? = nil, headers: [HTTPHeader] = []) -> [UInt8] {
        var fields = [HTTPHeader(name: "Content-Type", value: "application/json")]
        if let token { fields.append(HTTPHeader(name: "Authorization", value: token)) }
        return HTTPClientRequest.serialized(method: method, target: target, host: host, headers: fields + headers, body: body)
    }

    private static func int64(_ value: Int64) -> JSONValue { .string(String(value)) }

    private static func bytes(_ value: [UInt8]) -> JSONValue { .string(Base64.encode(value)) }
}
