// MARK: - EtcdHeader

/// The header of every etcd reply: which cluster answered, and its revision when it did.
///
/// Revisions count the cluster's writes, from 1; they mean nothing across clusters, so a caller that resumes a
/// watch compares ``clusterID`` first.
public struct EtcdHeader: Sendable, Hashable {
    /// The id of the cluster that answered (`cluster_id`).
    public var clusterID: UInt64
    /// The revision of the key-value store when the reply was made (`revision`); 0 only in a canceled watch
    /// response, which etcd sends without one.
    public var revision: Int64

    /// Creates a header.
    public init(clusterID: UInt64, revision: Int64) {
        self.clusterID = clusterID
        self.revision = revision
    }

    /// Reads the reply to a request whose answer is the header alone: `/v3/kv/put` and `/v3/lease/revoke`.
    /// - Throws: The ``EtcdError`` an error reply reports, or ``EtcdError/badReply(field:reason:)``.
    public init(reply body: some Collection<UInt8>) throws(EtcdError) {
        try self.init(try ReplyFields(reply: body).requireReader("header"))
    }

    /// Reads a `header` object; its revision is required (at least 1) unless `revisionRequired` is false.
    init(_ fields: ReplyFields, revisionRequired: Bool = true) throws(EtcdError) {
        clusterID = try fields.uint64("cluster_id")
        revision = try fields.int64("revision", in: (revisionRequired ? 1 : 0)...Int64.max)
    }
}

// MARK: - EtcdLease

/// A lease as etcd grants it and keeps it alive: its id and the seconds it lives without a keepalive.
public struct EtcdLease: Sendable, Hashable {
    /// The reply's header.
    public var header: EtcdHeader
    /// The lease's id (`ID`), positive.
    public var id: Int64
    /// The seconds the lease lives from now without a keepalive (`TTL`), at least 1. etcd may grant more than was
    /// asked: it raises a TTL below its minimum (2 s with the default election timeout).
    public var ttl: Int64

    /// Creates a lease.
    public init(header: EtcdHeader, id: Int64, ttl: Int64) {
        self.header = header
        self.id = id
        self.ttl = ttl
    }

    /// Reads the reply to `/v3/lease/grant`: `{"header":…,"ID":"…","TTL":"…"}`.
    /// - Throws: The ``EtcdError`` an error reply reports, or ``EtcdError/badReply(field:reason:)``.
    public init(grantReply body: some Collection<UInt8>) throws(EtcdError) {
        try self.init(try ReplyFields(reply: body))
    }

    /// Reads the reply to `/v3/lease/keepalive`, a stream of one response: `{"result":{"header":…,"ID":"…",
    /// "TTL":"…"}}`.
    /// - Throws: ``EtcdError/leaseNotFound(id:)`` when the reply has no TTL (etcd's answer for a lease it does
    ///   not have); the ``EtcdError`` an error reply reports; ``EtcdError/badReply(field:reason:)``.
    public init(keepAliveReply body: some Collection<UInt8>) throws(EtcdError) {
        let result = try ReplyFields(reply: body).requireReader("result")
        let id = try result.int64("ID", in: 1...Int64.max)
        guard try result.int64("TTL", in: 0...Int64.max) > 0 else { throw .leaseNotFound(id: id) }
        try self.init(result)
    }

    private init(_ fields: ReplyFields) throws(EtcdError) {
        header = try EtcdHeader(fields.requireReader("header"))
        id = try fields.int64("ID", in: 1...Int64.max)
        ttl = try fields.int64("TTL", in: 1...Int64.max)
    }
}

// MARK: - EtcdKeyValue

/// A key and its value as etcd stores them (`mvccpb.KeyValue`).
public struct EtcdKeyValue: Sendable, Hashable {
    /// The key, not empty.
    public var key: [UInt8]
    /// The value; empty in a delete event.
    public var value: [UInt8]
    /// The revision of the key's creation (`create_revision`); 0 in a delete event.
    public var createRevision: Int64
    /// The revision of the key's last change (`mod_revision`), at least 1: in an event, the event's revision.
    public var modRevision: Int64
    /// How many times the key was written since its creation (`version`); 0 in a delete event.
    public var version: Int64
    /// The lease the key is attached to (`lease`), 0 for none.
    public var lease: Int64

    /// Creates a key-value.
    public init(key: [UInt8], value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    /// Reads a `kv` object.
    init(_ fields: ReplyFields) throws(EtcdError) {
        key = try fields.requireBytes("key")
        value = try fields.bytes("value")
        createRevision = try fields.int64("create_revision", in: 0...Int64.max)
        modRevision = try fields.int64("mod_revision", in: 1...Int64.max)
        version = try fields.int64("version", in: 0...Int64.max)
        lease = try fields.int64("lease", in: 0...Int64.max)
    }
}

// MARK: - EtcdRange

/// The keys of a range, as `/v3/kv/range` answers.
public struct EtcdRange: Sendable, Hashable {
    /// The reply's header: its revision is the one the range was read at (watch from the next one).
    public var header: EtcdHeader
    /// The keys in the range, in key order.
    public var kvs: [EtcdKeyValue]
    /// How many keys the range holds (`count`).
    public var count: Int64
    /// Whether the range holds more keys than the reply carries (`more`: the request had a limit).
    public var more: Bool

    /// Creates a range.
    public init(header: EtcdHeader, kvs: [EtcdKeyValue], count: Int64, more: Bool) {
        self.header = header
        self.kvs = kvs
        self.count = count
        self.more = more
    }

    /// Reads the reply to `/v3/kv/range`: `{"header":…,"kvs":[…],"count":"…"}` (`kvs` and `count` absent when
    /// the range is empty).
    /// - Throws: The ``EtcdError`` an error reply reports, or ``EtcdError/badReply(field:reason:)``.
    public init(reply body: some Collection<UInt8>) throws(EtcdError) {
        let fields = try ReplyFields(reply: body)
        header = try EtcdHeader(fields.requireReader("header"))
        var kvs: [EtcdKeyValue] = []
        for kv in try fields.readers("kvs") { kvs.append(try EtcdKeyValue(kv)) }
        self.kvs = kvs
        count = try fields.int64("count", in: 0...Int64.max)
        more = try fields.bool("more")
        guard count >= kvs.count else {
            throw .badReply(field: "count", reason: "\(count) is fewer than the \(kvs.count) keys in kvs")
        }
    }
}

// MARK: - EtcdDeleteRange

/// What `/v3/kv/deleterange` answers.
public struct EtcdDeleteRange: Sendable, Hashable {
    /// The reply's header: its revision is the deletion's.
    public var header: EtcdHeader
    /// How many keys were deleted (`deleted`).
    public var deleted: Int64

    /// Creates a reply.
    public init(header: EtcdHeader, deleted: Int64) {
        self.header = header
        self.deleted = deleted
    }

    /// Reads the reply to `/v3/kv/deleterange`: `{"header":…,"deleted":"…"}` (`deleted` absent when none was).
    /// - Throws: The ``EtcdError`` an error reply reports, or ``EtcdError/badReply(field:reason:)``.
    public init(reply body: some Collection<UInt8>) throws(EtcdError) {
        let fields = try ReplyFields(reply: body)
        header = try EtcdHeader(fields.requireReader("header"))
        deleted = try fields.int64("deleted", in: 0...Int64.max)
    }
}

// MARK: - EtcdAuthentication

/// The token `/v3/auth/authenticate` gives, for the `Authorization` header of later requests.
public struct EtcdAuthentication: Sendable, Hashable {
    /// The reply's header.
    public var header: EtcdHeader
    /// The token: printable ASCII, so that it can be sent as a header value as it is.
    public var token: String

    /// Creates an authentication.
    public init(header: EtcdHeader, token: String) {
        self.header = header
        self.token = token
    }

    /// Reads the reply to `/v3/auth/authenticate`: `{"header":…,"token":"…"}`.
    /// - Throws: ``EtcdError/authenticationFailed(message:)`` when the credentials are refused; the
    ///   ``EtcdError`` another error reply reports; ``EtcdError/badReply(field:reason:)``.
    public init(reply body: some Collection<UInt8>) throws(EtcdError) {
        let fields = try ReplyFields(reply: body)
        header = try EtcdHeader(fields.requireReader("header"))
        guard let token = try fields.string("token"), !token.isEmpty else {
            throw .badReply(field: "token", reason: "required field is missing")
        }
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .badReply(field: "token", reason: "the token holds a byte that is not printable ASCII")
        }
        self.token = token
    }
}
