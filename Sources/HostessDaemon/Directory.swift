import HostessDirectory
import HostessHTTP
import HostessLoop
import HostessMesh
import HostessModel
import HostessSystem

// MARK: - Directory

/// hostessd's part in a fleet directory on etcd (`--directory`, docs/mesh.md "Fleet"), on the loop: it keeps
/// this Hostess's announcement under `PREFIX/peers/<hostessId>` with a lease, and feeds the announcements
/// of the others, read from a watch of the prefix, into the same peer table as multicast.
///
/// **One attempt** on a member runs these steps, each an exchange over a fresh connection (``HTTPFetch``),
/// each skipped when its result is at hand: authenticate (with `--directory-auth`), grant a lease of the
/// announcements' ttl, put the announcement under it, read the prefix (a range; only when there is no revision
/// to resume from), open the watch from the revision after. The watch's creation makes the directory
/// `connected`. Then the lease is kept alive at a third of its TTL, the announcement is put again whenever the
/// announcer renews it (every interval, and at most once a second after a change), and each watch event goes
/// to the peer table: a put as an announcement (checked as a datagram is, and against its key), a delete as
/// the peer's withdrawal.
///
/// **Failures.** etcd's answers that name their cure are cured in place: a lease it no longer has is granted
/// again and the announcement put again; a token it no longer knows is fetched again; a compacted revision
/// makes the next attempt read the range. Anything else (no connection, a timeout, an error) ends the attempt,
/// and the next member is tried at once; after a whole round of members failed, the directory is
/// `unreachable` and tries again after a backoff (0.25 s doubling to 5 s, ±20%). Refused credentials or
/// permissions make it `refused`, tried again every 5 s. Each change of state is logged once. Nothing local
/// waits on any of this: exchanges are non-blocking, and the peers already known stay until their ttl.
///
/// **Stopping** revokes the lease, so that the other Hostesses see the key go at once, waiting at most a
/// second for etcd's answer.
final class Directory: LoopHandler {
    /// How long one exchange with etcd may take, connect included, in seconds.
    static let exchangeTimeout = 3.0
    /// The largest reply read: a range of a full peer table (1,024 announcements in base64) fits 3 times.
    static let maximumReplyBytes = 8 << 20
    /// The first wait after a round of members failed, and the longest, in nanoseconds.
    static let backoff: ClosedRange<UInt64> = 250_000_000...5_000_000_000
    /// The longest time between two puts of the announcement: a signed announcement older than the mesh's
    /// clock window (300 s) would be refused as stale, so it is put again well within it.
    static let maximumRepublish: UInt64 = 150_000_000_000
    /// How long stopping waits for etcd to revoke the lease.
    static let stopWait: UInt64 = 1_000_000_000
    /// Quick retries (a lease or token renewed in place) an attempt may make before it counts as failed.
    static let maximumQuickRetries = 3
    /// How long a connection must hold for a failure after it to count as a new outage: after two
    /// connections in a row failed sooner, the directory is *flapping*, and its changes of state are not logged
    /// (nor its backoff reset) until a connection holds this long.
    static let stableConnection: UInt64 = 10_000_000_000

    /// One etcd member, resolved at start.
    private struct Member {
        var authority: String
        var address: InternetSocketAddress
    }

    /// Why an exchange failed: etcd's answer, or none.
    private enum Failure: Error {
        case etcd(EtcdError)
        case transport(String)

        var message: String {
            switch self {
            case .etcd(let error): error.description
            case .transport(let message): message
            }
        }
    }

    private unowned let loop: Loop
    private unowned let registry: Registry
    private let members: [Member]
    private let layout: EtcdDirectoryLayout
    private let ownKey: [UInt8]
    private let hostessID: String
    private let requestedTTL: Int64
    private let credentials: (user: String, password: String)?
    /// Set when etcd said it has authentication disabled: the credentials are not sent (etcd refuses them).
    private var authenticationDisabled = false
    private let keys: MeshKeys?
    /// Where the peer events the directory causes go (the announcer logs them and makes them changes).
    private let onEvents: ([PeerEvent]) -> Void

    // MARK: State

    /// The member in use or tried next.
    private var member = 0
    /// The attempt under way; replies to an earlier one are ignored.
    private var attempt = 0
    private var token: String?
    private var lease: EtcdLease?
    /// The cluster that answered last: revisions mean nothing in another.
    private var clusterID: UInt64?
    /// The revision the watch resumes from; 0: read the range first.
    private var watchRevision: Int64 = 0
    /// The peers read from the directory: hostessId → the revision of the value last taken.
    private var known: [String: Int64] = [:]
    private var watch: DirectoryWatch?
    /// The announcement to keep under the key, as the announcer built it last.
    private var value: [UInt8]?
    /// Whether the key holds `value` under the current lease.
    private var valuePut = false
    private var putInFlight = false
    private var keepAliveInFlight = false
    private var quickRetries = 0
    /// Members that failed since the directory was last connected.
    private var failedInRow = 0
    private var lastPut: UInt64 = 0
    private var nextKeepAlive = UInt64.max
    private var retryAt = UInt64.max
    private var timer: Loop.Timer?
    private var stopped = false
    /// When the directory last became connected (monotonic).
    private var connectedAt: UInt64 = 0
    /// Connections in a row that failed within ``stableConnection`` of being made.
    private var shortConnections = 0
    /// Whether the last two connections (or more) failed within ``stableConnection``.
    private var flapping: Bool { shortConnections >= 2 }
    private var status: DirectoryStatus {
        didSet { registry.service.directory = status }
    }

    /// Starts the first attempt on the first member.
    /// - Parameters:
    ///   - ttl: The announcements' ttl in seconds, the lease's TTL.
    ///   - keys: The mesh keys announcements read from the directory are checked with.
    ///   - onEvents: Takes the peer events the directory's reads cause.
    init(
        configuration: DirectoryConfiguration, hostessID: String, ttl: Int, keys: MeshKeys?, registry: Registry, loop: Loop,
        onEvents: @escaping ([PeerEvent]) -> Void
    ) throws(DaemonError) {
        self.loop = loop
        self.registry = registry
        self.hostessID = hostessID
        self.keys = keys
        self.onEvents = onEvents
        requestedTTL = Int64(max(1, ttl))
        credentials = configuration.user.flatMap { user in configuration.password.map { (user, $0) } }
        var members: [Member] = []
        for endpoint in configuration.endpoints {
            do { members.append(Member(authority: endpoint.authority, address: try InternetSocketAddress(parsing: endpoint.address))) } catch {
                throw .system(error)
            }
        }
        guard let first = members.first, let layout = EtcdDirectoryLayout(prefix: configuration.prefix), let key = layout.peerKey(hostessID) else {
            throw .listen("--directory: no member, or a prefix or hostessId the directory's keys cannot be made of")
        }
        self.members = members
        self.layout = layout
        ownKey = key
        status = DirectoryStatus(endpoint: first.authority, since: SystemClock.wallMilliseconds())
        registry.service.directory = status
        Log.info(
            "directory: joining etcd \(members.map(\.authority).joined(separator: ", ")) as \(String(decoding: key, as: UTF8.self)) (lease ttl \(requestedTTL) s\(credentials == nil ? "" : ", as user \(credentials?.user ?? "")"))"
        )
        retryAt = loop.now
        reschedule()
    }

    // MARK: Publishing

    /// Keeps `announcement` under this Hostess's key from now on: put at once when connected, else at the next
    /// attempt.
    func publish(_ announcement: [UInt8]) {
        guard !stopped else { return }
        value = announcement
        valuePut = false
        if status.state == .connected { put(attempt) }
    }

    // MARK: Attempts

    /// Starts an attempt on the current member.
    private func connect() {
        closeWatch()
        attempt &+= 1
        retryAt = .max
        quickRetries = 0
        status.endpoint = members[member].authority
        valuePut = false
        step(attempt)
    }

    /// Takes the attempt `current` one step on: the first thing not yet done.
    private func step(_ current: Int) {
        guard current == attempt, !stopped else { return }
        if let credentials, !authenticationDisabled, token == nil { return authenticate(current, credentials) }
        if lease == nil { return grant(current) }
        if !valuePut, value != nil, !putInFlight { return put(current, thenStep: true) }
        if watchRevision == 0 { return readRange(current) }
        if watch == nil { openWatch(current) }
    }

    private func authenticate(_ current: Int, _ credentials: (user: String, password: String)) {
        exchange(.authenticate(name: credentials.user, password: credentials.password), current, useToken: false) {
            (body) throws(EtcdError) in try EtcdAuthentication(reply: body)
        } then: { [unowned self] authentication in
            token = authentication.token
            step(current)
        }
    }

    private func grant(_ current: Int) {
        exchange(.leaseGrant(ttl: requestedTTL), current) { (body) throws(EtcdError) in try EtcdLease(grantReply: body) } then: { [unowned self] granted in
            lease = granted
            valuePut = false
            status.lease = granted.id
            status.ttl = granted.ttl
            scheduleKeepAlive(ttl: granted.ttl)
            step(current)
        }
    }

    /// Puts the announcement under the lease; with `thenStep`, as a step of the attempt, else on its own
    /// (a renewal while connected; a renewal that comes while one is under way follows it).
    private func put(_ current: Int, thenStep: Bool = false) {
        guard let value, let lease else { return }
        if putInFlight && !thenStep { return }
        putInFlight = true
        let putting = value
        exchange(.put(key: ownKey, value: putting, lease: lease.id), current) { (body) throws(EtcdError) in try EtcdHeader(reply: body) } then: {
            [unowned self] header in
            putInFlight = false
            lastPut = loop.now
            if self.value == putting { valuePut = true }
            status.revision = max(status.revision, header.revision)
            if thenStep {
                step(current)
            } else if !valuePut {
                put(current)
            }
            reschedule()
        }
    }

    private func readRange(_ current: Int) {
        exchange(.range(key: layout.peersKey, rangeEnd: layout.peersRangeEnd), current) { (body) throws(EtcdError) in try EtcdRange(reply: body) } then: {
            [unowned self] range in
            take(range)
            step(current)
        }
    }

    private func openWatch(_ current: Int) {
        let authority = members[member].authority
        let request = EtcdRequest.watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: watchRevision, progressNotify: true)
        do {
            watch = try DirectoryWatch(
                request: request.serialized(host: authority, token: token), to: members[member].address, label: "etcd watch \(authority)", loop: loop,
                timeout: UInt64(Self.exchangeTimeout * 1e9),
                onResponse: { [weak self] response in self?.watched(response, current) },
                onEnd: { [weak self] reason in self?.watchEnded(reason, current) })
        } catch {
            failed(.transport("the watch: \(error)"), current)
        }
    }

    // MARK: Exchanges

    /// Sends `request` to the current member as part of attempt `current`; `success` gets the decoded reply,
    /// unless the attempt is over by then. A failure goes to ``failed(_:_:)``.
    private func exchange<Reply>(
        _ request: EtcdRequest, _ current: Int, useToken: Bool = true, decode: @escaping ([UInt8]) throws(EtcdError) -> Reply,
        then success: @escaping (Reply) -> Void
    ) {
        let target = members[member]
        let headers = useToken ? token.map { [HTTPHeader(name: "Authorization", value: $0)] } ?? [] : []
        HTTPFetch.start(
            request.method, request.target, at: target.address, host: target.authority, body: request.body, extraHeaders: headers,
            maximumResponseBytes: Self.maximumReplyBytes, timeout: Self.exchangeTimeout, loop: loop
        ) { [weak self] result in
            guard let self, current == attempt, !stopped else { return }
            switch result {
            case .failure(let error):
                failed(.transport(error.message), current)
            case .success(let response):
                do throws(EtcdError) {
                    let reply = try decode(response.body)
                    status.requestsOK += 1
                    success(reply)
                } catch {
                    // A gateway that is not etcd's answers something else: say what came back.
                    if case .badReply = error, response.status != 200 {
                        return failed(.transport("\(request.target): HTTP \(response.status) \(response.reason)"), current)
                    }
                    failed(.etcd(error), current)
                }
            }
        }
    }

    /// Cures what etcd's answer names a cure for, in the same attempt; ends the attempt otherwise.
    private func failed(_ failure: Failure, _ current: Int) {
        guard current == attempt, !stopped else { return }
        status.requestsFailed += 1
        putInFlight = false
        keepAliveInFlight = false
        guard case .etcd(let error) = failure else { return memberFailed(failure.message) }
        quickRetries += 1
        switch error {
        case .leaseNotFound where quickRetries <= Self.maximumQuickRetries:
            lease = nil
            status.lease = 0
            nextKeepAlive = .max
            if status.state == .connected { Log.warning("directory: etcd lost the lease (\(error)); granting a new one and putting the announcement again") }
            step(current)
        case .unauthenticated where credentials != nil && quickRetries <= Self.maximumQuickRetries:
            token = nil
            step(current)
        case .unauthenticated(let message) where credentials == nil:
            refused("etcd has authentication enabled (\(message)): give --directory-auth with a user that may read and write the prefix")
        case .unauthenticated:
            refused(error.description)
        case .authenticationFailed, .permissionDenied:
            refused(error.description)
        case .server(code: 9, let message) where message.hasSuffix("authentication is not enabled") && !authenticationDisabled:
            Log.warning("directory: etcd has authentication disabled; connecting without the --directory-auth credentials")
            authenticationDisabled = true
            step(current)
        default:
            memberFailed(error.description)
        }
    }

    // MARK: Keepalive

    private func scheduleKeepAlive(ttl: Int64) {
        // etcd's TTL is outside input: clamped (to a day) before it is turned into nanoseconds.
        nextKeepAlive = loop.now &+ UInt64(min(max(1, ttl), 86_400)) * 1_000_000_000 / 3
        reschedule()
    }

    private func keepAlive() {
        nextKeepAlive = .max
        guard let lease, !keepAliveInFlight else { return }
        keepAliveInFlight = true
        let current = attempt
        exchange(.leaseKeepAlive(id: lease.id), current) { (body) throws(EtcdError) in try EtcdLease(keepAliveReply: body) } then: { [unowned self] renewed in
            keepAliveInFlight = false
            status.ttl = renewed.ttl
            scheduleKeepAlive(ttl: renewed.ttl)
        }
    }

    // MARK: Reading the directory

    /// Takes a whole read of the prefix: each announcement as a watch put, and the peers read before that are
    /// no longer there as withdrawn; the watch then starts after the range's revision.
    private func take(_ range: EtcdRange) {
        noteCluster(range.header)
        var present = Set<String>()
        var events: [PeerEvent] = []
        for kv in range.kvs {
            guard let id = layout.hostessID(fromKey: kv.key), id != hostessID else { continue }
            present.insert(id)
            if let event = took(kv, id: id) { events.append(event) }
        }
        for id in known.keys where !present.contains(id) {
            known[id] = nil
            if let event = registry.service.peers?.withdraw(hostessID: id, now: clock) { events.append(event) }
        }
        status.peers = present.count
        status.revision = max(status.revision, range.header.revision)
        watchRevision = range.header.revision < .max ? range.header.revision + 1 : range.header.revision
        if !events.isEmpty { onEvents(events) }
    }

    /// Takes one key's value into the peer table, unless it was taken already; the event it caused.
    private func took(_ kv: EtcdKeyValue, id: String) -> PeerEvent? {
        if let seen = known[id], seen >= kv.modRevision { return nil }
        known[id] = kv.modRevision
        guard case .success(let event?)? = registry.service.peers?.receive(kv.value, from: nil, expecting: id, keys: keys, now: clock) else { return nil }
        return event
    }

    private func watched(_ response: EtcdWatchResponse, _ current: Int) {
        guard current == attempt, !stopped else { return }
        if let cancellation = response.cancellation {
            if case .compacted = cancellation {
                Log.info("directory: \(cancellation)")
                watchRevision = 0
                closeWatch()
                return step(current)
            }
            closeWatch()
            return failed(.etcd(cancellation), current)
        }
        if response.header.revision > 0 { noteCluster(response.header) }
        if response.created, status.state != .connected { connected() }
        var events: [PeerEvent] = []
        for event in response.events {
            status.watchEvents += 1
            guard let id = layout.hostessID(fromKey: event.kv.key) else { continue }
            if id == hostessID {
                // This Hostess's own key went (its lease ran out, or someone deleted it): put it back.
                if event.kind == .delete, value != nil {
                    valuePut = false
                    put(current)
                }
                continue
            }
            switch event.kind {
            case .put:
                if known[id] == nil { status.peers += 1 }
                if let peerEvent = took(event.kv, id: id) { events.append(peerEvent) }
            case .delete:
                if known.removeValue(forKey: id) != nil { status.peers = max(0, status.peers - 1) }
                if let peerEvent = registry.service.peers?.withdraw(hostessID: id, now: clock) { events.append(peerEvent) }
            }
        }
        watchRevision = response.resumeRevision(from: watchRevision)
        status.revision = max(status.revision, response.header.revision, watchRevision - 1)
        if !events.isEmpty { onEvents(events) }
    }

    private func watchEnded(_ reason: String, _ current: Int) {
        guard current == attempt, !stopped else { return }
        watch = nil
        failed(.transport("the watch ended: \(reason)"), current)
    }

    /// A reply from another cluster than the last one (etcd was replaced): its revisions are not ours to
    /// resume from, so the prefix is read again.
    private func noteCluster(_ header: EtcdHeader) {
        if let clusterID, clusterID != header.clusterID {
            Log.warning("directory: etcd answers as cluster \(header.clusterID), not \(clusterID) as before; reading the directory again")
            watchRevision = 0
            status.revision = 0
        }
        clusterID = header.clusterID
    }

    private var clock: MeshClock { MeshClock(monotonic: loop.now, wall: SystemClock.wallMilliseconds()) }

    // MARK: States

    private func connected() {
        connectedAt = loop.now
        if !flapping { failedInRow = 0 }
        quickRetries = 0
        set(.connected, error: nil)
        if !valuePut { put(attempt) }
        // A lease granted on another member, or before an outage: renewed now, its TTL counted again from here.
        if nextKeepAlive == .max { nextKeepAlive = loop.now }
        reschedule()
    }

    /// The current member failed: the next one is tried at once, or after a backoff when a whole round failed.
    private func memberFailed(_ reason: String) {
        let wasConnected = status.state == .connected
        let failedMember = members[member].authority
        closeWatch()
        attempt &+= 1
        nextKeepAlive = .max
        putInFlight = false
        keepAliveInFlight = false
        failedInRow += 1
        member = (member + 1) % members.count
        if wasConnected { status.reconnects += 1 }
        var error = "\(failedMember): \(reason)"
        let wasFlapping = flapping
        if wasConnected && loop.now &- connectedAt < Self.stableConnection { shortConnections += 1 }
        if flapping && !wasFlapping {
            let seconds = Double((loop.now &- connectedAt) / 1_000_000) / 1000
            error += " (\(seconds) s after connecting, \(shortConnections) times in a row; until a connection holds \(Self.stableConnection / 1_000_000_000) s, the next changes are not logged)"
        }
        if failedInRow >= members.count {
            let rounds = failedInRow / members.count
            let base = min(Self.backoff.upperBound, Self.backoff.lowerBound << UInt64(min(rounds - 1, 16)))
            retryAt = loop.now &+ UInt64(Double(base) * Double.random(in: 0.8...1.2))
            set(.unreachable, error: error, logged: !wasFlapping)
        } else {
            retryAt = loop.now
            set(wasConnected ? .connecting : status.state, error: error, logged: !wasFlapping)
        }
        reschedule()
    }

    private func refused(_ reason: String) {
        closeWatch()
        attempt &+= 1
        nextKeepAlive = .max
        retryAt = loop.now &+ Self.backoff.upperBound
        set(.refused, error: "\(members[member].authority): \(reason)")
        reschedule()
    }

    /// Changes the state, logging the change once when `logged` (the default unless flapping).
    private func set(_ state: DirectoryStatus.State, error: String?, logged: Bool? = nil) {
        status.error = error
        guard state != status.state else { return }
        let logged = logged ?? !flapping
        status.state = state
        status.since = SystemClock.wallMilliseconds()
        guard logged else { return }
        switch state {
        case .connected:
            Log.info("directory: connected to etcd \(members[member].authority) (revision \(status.revision), \(status.peers) other Hostesses listed)")
        case .connecting:
            Log.warning("directory: lost etcd \(error ?? "?"); trying \(members[member].authority)")
        case .unreachable:
            Log.warning("directory: etcd unreachable (\(error ?? "?")); serving locally, keeping the known peers until their ttl, retrying with backoff up to \(Self.backoff.upperBound / 1_000_000_000) s")
        case .refused:
            Log.error("directory: etcd refused this Hostess (\(error ?? "?")); retrying every \(Self.backoff.upperBound / 1_000_000_000) s")
        }
    }

    private func closeWatch() {
        let closing = watch
        watch = nil
        closing?.close()
    }

    // MARK: Timer

    private func reschedule() {
        guard !stopped else { return }
        var deadline = min(retryAt, nextKeepAlive)
        if shortConnections > 0, status.state == .connected { deadline = min(deadline, connectedAt &+ Self.stableConnection) }
        if status.state == .connected, value != nil { deadline = min(deadline, lastPut &+ Self.maximumRepublish) }
        guard deadline != .max else {
            if let timer { loop.cancel(timer) }
            timer = nil
            return
        }
        if let timer, loop.reschedule(timer, to: deadline) { return }
        timer = loop.schedule(at: deadline, for: self)
    }

    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event, !stopped else { return }
        timer = nil
        let now = loop.now
        if now >= retryAt { connect() }
        if shortConnections > 0, status.state == .connected, now &- connectedAt >= Self.stableConnection {
            if flapping {
                failedInRow = 0
                Log.info("directory: connected to etcd \(members[member].authority) and holding (revision \(status.revision), \(status.peers) other Hostesses listed)")
            }
            shortConnections = 0
        }
        if now >= nextKeepAlive { keepAlive() }
        if status.state == .connected, value != nil, now >= lastPut &+ Self.maximumRepublish {
            lastPut = now
            valuePut = false
            put(attempt)
        }
        reschedule()
    }

    // MARK: Stopping

    /// Revokes the lease (the key goes with it: the other Hostesses' goodbye), waiting at most ``stopWait`` for
    /// etcd's answer, and closes everything.
    func stop() {
        guard !stopped else { return }
        stopped = true
        if let timer { loop.cancel(timer) }
        timer = nil
        closeWatch()
        guard let lease else { return }
        let target = members[member]
        let request = EtcdRequest.leaseRevoke(id: lease.id)
        var done = false
        var outcome = "no answer within \(Self.stopWait / 1_000_000) ms; the key goes when its lease expires"
        let headers = token.map { [HTTPHeader(name: "Authorization", value: $0)] } ?? []
        HTTPFetch.start(
            request.method, request.target, at: target.address, host: target.authority, body: request.body, extraHeaders: headers,
            timeout: Double(Self.stopWait) / 1e9, loop: loop
        ) { result in
            done = true
            switch result {
            case .success(let response):
                do {
                    _ = try EtcdHeader(reply: response.body)
                    outcome = "revoked lease \(lease.id); the other Hostesses see this one leave"
                } catch {
                    outcome = "etcd did not revoke lease \(lease.id) (\(error)); the key goes when its lease expires"
                }
            case .failure(let error):
                outcome = "\(error.message); the key goes when its lease expires"
            }
        }
        let deadline = SystemClock.monotonicNanoseconds() &+ Self.stopWait
        while !done && SystemClock.monotonicNanoseconds() < deadline { loop.turnOnce(waitingAtMost: 20) }
        Log.info("directory: \(outcome)")
        self.lease = nil
    }
}

// MARK: - DirectoryWatch

/// The watch of the directory's prefix: one connection to an etcd member, its request written once, its
/// response a stream read as it arrives (``HTTPResponseStreamParser``, then ``EtcdWatchDecoder``), each
/// watch response handed on. It must answer within the timeout with its head; after that it waits as long as
/// etcd keeps it open (the keepalives on the same member find a member that went silent). Anything that is
/// not a watch stream ends it.
final class DirectoryWatch: StreamChannelDelegate {
    private let request: [UInt8]
    private let onResponse: (EtcdWatchResponse) -> Void
    private let onEnd: (String) -> Void
    private var parser = HTTPResponseStreamParser()
    private var decoder = EtcdWatchDecoder()
    private weak var channel: StreamChannel?
    private var ended = false
    /// Whether the response's head came: the stream is under way.
    private var streaming = false

    /// Connects to `address` and writes `request` once connected.
    init(
        request: [UInt8], to address: InternetSocketAddress, label: String, loop: Loop, timeout: UInt64,
        onResponse: @escaping (EtcdWatchResponse) -> Void, onEnd: @escaping (String) -> Void
    ) throws(ConnectError) {
        self.request = request
        self.onResponse = onResponse
        self.onEnd = onEnd
        // The loop holds the channel while it is open, and the channel its delegate.
        let channel = try StreamChannel(
            connectingTo: address, label: label, loop: loop, timeouts: StreamDeadlines.Timeouts(request: timeout, idle: nil, write: timeout),
            inputLimit: EtcdWatchDecoder.defaultMaximumObjectBytes + 65536, delegate: self)
        self.channel = channel
    }

    /// Ends the watch without telling its owner (who asked).
    func close() {
        ended = true
        channel?.close(reason: nil)
    }

    private func end(_ channel: StreamChannel, _ reason: String) {
        guard !ended else { return }
        ended = true
        onEnd(reason)
        channel.close(reason: reason)
    }

    // MARK: Channel events

    func channelConnected(_ channel: StreamChannel) {
        channel.enqueue { $0.append(contentsOf: request) }
        channel.deadlines.requestStartedAt = channel.deadlines.lastWriteProgress
    }

    func channelRead(_ channel: StreamChannel, received: Int) {
        guard !ended else { return }
        let output: HTTPResponseStreamParser.Output
        do {
            output = try parser.parse(channel.input.unconsumed, atEndOfInput: channel.inputClosed)
        } catch {
            if streaming && channel.inputClosed { return end(channel, "etcd closed the watch's connection") }
            return end(channel, "not an HTTP response etcd sends: \(error)")
        }
        channel.input.consume(channel.input.count)
        channel.input.compact()
        if let head = output.head {
            guard head.status == 200 else { return end(channel, "HTTP \(head.status) \(head.reason) for the watch") }
            streaming = true
            // The head came: from now on the stream may be quiet for as long as nothing changes.
            channel.deadlines.requestStartedAt = nil
            channel.deadlines.isWaiting = true
        }
        decoder.append(output.body)
        do {
            while !ended, let response = try decoder.next() { onResponse(response) }
        } catch {
            return end(channel, "\(error)")
        }
        if !ended && (output.isComplete || channel.inputClosed) { end(channel, "etcd ended the stream") }
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) {
        end(channel, "no answer within the timeout")
    }

    func channelClosed(_ channel: StreamChannel, reason: String?) {
        guard !ended else { return }
        ended = true
        onEnd(reason ?? "the connection closed")
    }
}
