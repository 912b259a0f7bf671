import HostessModel

// MARK: - EtcdWatchEvent

/// One change a watch reports.
public struct EtcdWatchEvent: Sendable, Hashable {
    /// What happened to the key.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The key was written: created or changed.
        case put = "PUT"
        /// The key was deleted, or the lease it was attached to expired or was revoked.
        case delete = "DELETE"
    }

    /// What happened (`type`). The gateway leaves `PUT` out, the enumeration's default: an event without a
    /// type is a put.
    public var kind: Kind
    /// The key after the event (`kv`): for a delete, only its key and the revision of the deletion.
    public var kv: EtcdKeyValue
    /// The key before the event (`prev_kv`), when the watch asked for it and there was one.
    public var previous: EtcdKeyValue?

    /// Creates an event.
    public init(kind: Kind, kv: EtcdKeyValue, previous: EtcdKeyValue? = nil) {
        self.kind = kind
        self.kv = kv
        self.previous = previous
    }

    /// Reads an event object.
    init(_ fields: ReplyFields) throws(EtcdError) {
        switch try fields.string("type") {
        case nil, "PUT"?: kind = .put
        case "DELETE"?: kind = .delete
        case let other?:
            throw .badReply(field: fields.fieldPath("type"), reason: "'\(EtcdError.clean(other))' is neither PUT nor DELETE")
        }
        kv = try EtcdKeyValue(fields.requireReader("kv"))
        previous = try fields.reader("prev_kv").map { (previous) throws(EtcdError) in try EtcdKeyValue(previous) }
    }
}

// MARK: - EtcdWatchResponse

/// One response of a watch stream (`etcdserverpb.WatchResponse`, which the gateway wraps in `result`): the
/// watch's creation, a batch of events, a progress notification, or its cancellation.
public struct EtcdWatchResponse: Sendable, Hashable {
    /// The response's header. Its revision is the store's when the response was made, which may be past the
    /// last event while a watch catches up; a canceled watch's response has none (0).
    public var header: EtcdHeader
    /// The watch's id on its stream (`watch_id`); -1 for a watch refused at its creation.
    public var watchID: Int64
    /// Whether this response confirms the watch's creation (`created`).
    public var created: Bool
    /// Whether etcd canceled the watch (`canceled`): no response follows on it.
    public var canceled: Bool
    /// The revision etcd has compacted its history to, when that canceled the watch (`compact_revision`), else 0.
    public var compactRevision: Int64
    /// Why etcd canceled the watch (`cancel_reason`), empty when it did not say.
    public var cancelReason: String
    /// The events, oldest first.
    public var events: [EtcdWatchEvent]

    /// Creates a response.
    public init(
        header: EtcdHeader, watchID: Int64 = 0, created: Bool = false, canceled: Bool = false, compactRevision: Int64 = 0,
        cancelReason: String = "", events: [EtcdWatchEvent] = []
    ) {
        self.header = header
        self.watchID = watchID
        self.created = created
        self.canceled = canceled
        self.compactRevision = compactRevision
        self.cancelReason = cancelReason
        self.events = events
    }

    /// Reads one object of the stream: `{"result":{…}}`; the stream's error object throws the error it reports.
    init(document value: JSONValue) throws(EtcdError) {
        let result = try ReplyFields(document: value).requireReader("result")
        canceled = try result.bool("canceled")
        header = try EtcdHeader(result.requireReader("header"), revisionRequired: !canceled)
        watchID = try result.int64("watch_id", in: -1...Int64.max)
        created = try result.bool("created")
        compactRevision = try result.int64("compact_revision", in: 0...Int64.max)
        cancelReason = EtcdError.clean(try result.string("cancel_reason") ?? "")
        var events: [EtcdWatchEvent] = []
        for event in try result.readers("events") { events.append(try EtcdWatchEvent(event)) }
        self.events = events
    }

    // MARK: Using a response

    /// Why etcd canceled the watch, when it did: ``EtcdError/compacted(compactRevision:)`` when compaction did;
    /// for a reason etcd gives as a gRPC error, the error ``EtcdError`` makes of its code (a watch refused for
    /// want of a token or a permission); else ``EtcdError/watchCanceled(reason:)``. Nil for a live watch.
    public var cancellation: EtcdError? {
        guard canceled else { return nil }
        if compactRevision > 0 { return .compacted(compactRevision: compactRevision) }
        return EtcdError.canceled(reason: cancelReason.isEmpty ? "etcd gave no reason" : cancelReason)
    }

    /// The revision to start a new watch from, to miss nothing and see nothing twice, after this response, for
    /// a watch that had reached `current`: the start revision it was created with (0 for "from now"), then what
    /// this returned for the response before.
    ///
    /// After events, the revision after the last one. After a progress notification (no events, neither created
    /// nor canceled), which etcd sends only once a watch has caught up, the revision after its header's. After the
    /// creation of a watch from now, the revision after the one it was created at. Otherwise `current`.
    public func resumeRevision(from current: Int64) -> Int64 {
        /// The revision after `revision` (Int64.max, which no etcd reaches, stays).
        func after(_ revision: Int64) -> Int64 { revision < .max ? revision + 1 : revision }
        if let last = events.last { return max(current, after(last.kv.modRevision)) }
        if canceled { return current }
        if !created || current == 0 { return max(current, after(header.revision)) }
        return current
    }
}
