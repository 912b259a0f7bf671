import Glibc
import HostessHTTP
import HostessLoop
import HostessMesh
import HostessModel
import HostessSystem

// MARK: - Announcer

/// hostessd's part in the information mesh: it announces this Hostess (its HTTP endpoint and a summary of
/// its guest book by class) to the link-local multicast groups of its interfaces (`--announce`), serves the
/// same announcement at `GET /announcement`, polls the static peers (`--peer`) for theirs on the same
/// schedule, and keeps the table of the other Hostesses it hears (``Service/peers``).
///
/// **When it sends.** Three announcements one second apart at start (a peer that just came up learns of us
/// at once), then every interval with ±10% jitter (so Hostesses started together do not stay in step), one
/// at most a second after the summary changes, and a goodbye (ttl 0) when hostessd stops. The summary is
/// worked out at most once a second, and only when the guest book changed.
///
/// **What it hears.** Each datagram goes to ``PeerTable/receive(_:from:keys:now:)``, which validates every
/// field and drops what is malformed, unsigned, forged, stale or replayed (counted by reason); a peer's
/// arrival, change and loss are changes of the guest book (``Change/Kind/peerDiscovered`` …), so `watch`
/// wakes for them. One timer serves sending, the summary check and the peers' expiry.
final class Announcer: LoopHandler, DatagramChannelDelegate {
    /// Announcements sent 1 s apart at start.
    static let fastStart = 3
    /// The shortest time between two announcements caused by summary changes, in nanoseconds.
    static let changeInterval: UInt64 = 1_000_000_000

    /// One interface announced on, and the endpoint announced there.
    struct Link {
        var interface: NetworkInterface
        var endpoint: String
    }

    /// Counters for `/metrics`.
    struct Counters {
        var sent = 0
        var sendFailures = 0
    }

    private let configuration: MeshConfiguration
    private unowned let loop: Loop
    private unowned let registry: Registry
    private let hostessID: String
    private let fqdn: String
    private let keys: MeshKeys?
    private let links: [Link]
    /// The endpoint the announcement served over HTTP names.
    private let httpEndpoint: String
    /// The static peers, resolved, and which of them a poll is under way for.
    private let staticPeers: [(peer: MeshConfiguration.StaticPeer, address: InternetSocketAddress)]
    private var polling = Set<Int>()
    /// The static peers whose last poll failed (logged once per failure streak).
    private var unreachable = Set<Int>()
    /// Peers whose truncated summary is being fetched, by hostessId.
    private var fetchingSummaries = Set<String>()
    private var ipv4: DatagramChannel?
    private var ipv6: DatagramChannel?
    private let ipv4Group: InternetSocketAddress
    private let ipv6Group: InternetSocketAddress?
    private var timer: Loop.Timer?
    private var nextSend: UInt64
    private var lastChangeSend: UInt64 = 0
    private var fastStartLeft = Announcer.fastStart
    private var sequence: Int64
    private var summary: [CapabilitySummary] = []
    private var digest = ""
    private var summarizedRevision: UInt64 = .max
    private var nextSummaryCheck: UInt64 = 0
    private(set) var counters = Counters()
    /// Requests on the peers' guest books for local callers.
    private let requests: PeerRequests
    /// The paths to each peer, tried in order.
    let connector: PeerConnector
    /// The fleet directory on etcd, with `--directory`.
    private var directory: Directory?

    /// Opens the sockets, joins the groups on every interface, and schedules the first announcement.
    /// - Parameter httpAddress: where the HTTP interface listens (the announced endpoint's port, and its host
    ///   unless that is a wildcard address).
    /// - Parameter directory: the fleet directory's configuration (announcements also go there, and peers come
    ///   from there, when it is enabled).
    init(
        configuration: MeshConfiguration, directory: DirectoryConfiguration, httpAddress: InternetSocketAddress, hostessID: String, registry: Registry,
        loop: Loop
    ) throws(DaemonError) {
        self.configuration = configuration
        self.loop = loop
        self.registry = registry
        self.hostessID = hostessID
        fqdn = Syscall.hostName().flatMap { ServerName.isValidFQDN($0) ? $0 : nil } ?? "localhost"
        if let id = configuration.keys.firstID, let key = configuration.keys[id], let sending = MeshKey(id: id, secret: key.secret) {
            var accepted: [String: [UInt8]] = [:]
            for (keyID, entry) in configuration.keys.keys { accepted[keyID] = entry.secret }
            keys = MeshKeys(sending: sending, accepted: accepted)
        } else {
            keys = nil
        }
        let interfaces: [NetworkInterface]
        do { interfaces = try NetworkInterface.all() } catch { throw .system(error) }
        var chosen: [NetworkInterface] = []
        if !configuration.announce {
            chosen = []
        } else if configuration.interfaces.isEmpty {
            chosen = interfaces.filter { $0.isUp && $0.supportsMulticast && !$0.isLoopback }
        } else {
            for name in configuration.interfaces {
                guard let interface = interfaces.first(where: { $0.name == name }) else {
                    throw .listen("--announce-interface \(name): no such interface with an address (see `ip addr`)")
                }
                guard interface.isUp, interface.supportsMulticast else {
                    throw .listen("--announce-interface \(name): the interface is \(interface.isUp ? "not multicast-capable" : "down")")
                }
                chosen.append(interface)
            }
        }
        let wildcard = httpAddress.host == "0.0.0.0" || httpAddress.host == "::"
        links = chosen.compactMap { interface in
            let host = wildcard ? interface.ipv4Addresses.first : httpAddress.host
            return host.map { Link(interface: interface, endpoint: "http://\($0.contains(":") ? "[\($0)]" : $0):\(httpAddress.port)") }
        }
        httpEndpoint =
            wildcard
            ? links.first?.endpoint ?? "http://\(fqdn):\(httpAddress.port)"
            : "http://\(httpAddress.host.contains(":") ? "[\(httpAddress.host)]" : httpAddress.host):\(httpAddress.port)"
        var resolved: [(peer: MeshConfiguration.StaticPeer, address: InternetSocketAddress)] = []
        for peer in configuration.peers {
            do { resolved.append((peer, try InternetSocketAddress(parsing: peer.address))) } catch { throw .system(error) }
        }
        staticPeers = resolved
        connector = PeerConnector(ttl: registry.service.connectionMethods.ttl, loop: loop)
        requests = PeerRequests(
            keys: configuration.peerKeys, requester: RemoteReservation.Requester(fqdn: fqdn, endpoint: httpEndpoint), timeout: configuration.remoteTimeout,
            connector: connector, loop: loop)
        do {
            ipv4Group = try InternetSocketAddress(parsing: "\(MeshConfiguration.ipv4Group):\(configuration.port)")
            ipv6Group = try? InternetSocketAddress(parsing: "[\(MeshConfiguration.ipv6Group)]:\(configuration.port)")
        } catch { throw .system(error) }
        sequence = SystemClock.wallMilliseconds()
        nextSend = loop.now
        registry.service.peers = PeerTable(ownHostessID: hostessID, retention: UInt64(configuration.retention * 1e9))
        if configuration.announce { try openSockets() }
        if configuration.announce && links.isEmpty { Log.warning("--announce: no up, multicast-capable interface with an IPv4 address to announce on; listening only") }
        let names = links.map { "\($0.interface.name) (\($0.endpoint))" }.joined(separator: ", ")
        if !staticPeers.isEmpty { Log.info("polling \(staticPeers.map(\.peer.url).joined(separator: ", ")) for their announcements") }
        if configuration.announce { Log.info(
            "announcing on \(names.isEmpty ? "no interface" : names), groups \(MeshConfiguration.ipv4Group) and \(MeshConfiguration.ipv6Group) port \(configuration.port), every \(configuration.interval) s, ttl \(ttl) s\(keys == nil ? ", unsigned" : ", signed with key \(keys?.sending.id ?? "")")"
        ) }
        if directory.isEnabled {
            self.directory = try Directory(
                configuration: directory, hostessID: hostessID, ttl: ttl, keys: keys, registry: registry, loop: loop
            ) { [unowned self] events in
                note(events)
                reschedule()
            }
        }
        reschedule()
    }

    /// The ttl announcements carry, in seconds: interval × hold, rounded up.
    private var ttl: Int { Int((configuration.interval * Double(configuration.holdMultiplier)).rounded(.up)) }

    private func openSockets() throws(DaemonError) {
        do {
            let socket = try DatagramSocket(
                bindingTo: try InternetSocketAddress(parsing: "0.0.0.0:\(configuration.port)", passive: true), reuseAddress: true)
            try socket.setMulticastAll(false)
            try socket.setMulticastTTL(1)
            for link in links { try socket.joinMulticastGroup(MeshConfiguration.ipv4Group, interfaceIndex: link.interface.index) }
            ipv4 = try DatagramChannel(socket: socket, loop: loop, delegate: self)
        } catch {
            throw .listen("--announce: cannot listen on UDP port \(configuration.port) for \(MeshConfiguration.ipv4Group): \(error)")
        }
        // IPv6 is a bonus: a machine without it announces over IPv4 alone.
        do {
            let socket = try DatagramSocket(
                bindingTo: try InternetSocketAddress(parsing: "[::]:\(configuration.port)", passive: true), reuseAddress: true)
            try socket.setMulticastAll(false)
            try socket.setMulticastTTL(1)
            for link in links { try socket.joinMulticastGroup(MeshConfiguration.ipv6Group, interfaceIndex: link.interface.index) }
            ipv6 = try DatagramChannel(socket: socket, loop: loop, delegate: self)
        } catch {
            Log.warning("--announce: no IPv6 announcements (\(error)); IPv4 only")
        }
    }

    // MARK: Sending

    /// One announcement naming `endpoint`, signed when there is a key; nil (logged) if it cannot be built.
    private func packet(endpoint: String, goodbye: Bool) -> [UInt8]? {
        let book = registry.service.book
        sequence &+= 1
        do {
            let announcement = try Announcement(
                timestamp: SystemClock.wallMilliseconds(), fqdn: fqdn, hostessID: hostessID, endpoint: endpoint,
                serverCount: min(book.count, Announcement.maximumCount), ttl: goodbye ? 0 : ttl, sequence: sequence, capabilities: summary,
                connectionMethods: Array(registry.service.connectionMethods.freshOwn(now: SystemClock.wallMilliseconds()).prefix(Announcement.maximumConnectionMethods)))
            return announcement.encode(signingWith: keys?.sending)
        } catch {
            counters.sendFailures += 1
            Log.error("announcement for \(endpoint) not built: \(error)")
            return nil
        }
    }

    /// Sends one announcement on every link (a goodbye when `goodbye`), and renews the one `GET /announcement`
    /// serves.
    private func announce(goodbye: Bool = false) {
        refreshSummary(force: true)
        registry.service.announcement = packet(endpoint: httpEndpoint, goodbye: goodbye)
        if !goodbye, let bytes = registry.service.announcement { directory?.publish(bytes) }
        for link in links {
            guard let bytes = packet(endpoint: link.endpoint, goodbye: goodbye) else { continue }
            for (channel, group) in [(ipv4, ipv4Group as InternetSocketAddress?), (ipv6, ipv6Group)] {
                guard let channel, let group else { continue }
                do {
                    try channel.socket.setMulticastInterface(link.interface.index)
                    if try channel.send(bytes, to: group) { counters.sent += 1 } else { counters.sendFailures += 1 }
                } catch {
                    counters.sendFailures += 1
                }
            }
        }
    }

    /// Works the summary out again when the guest book changed and the last check is a second old (or
    /// `force`); returns whether its digest changed.
    @discardableResult
    private func refreshSummary(force: Bool = false) -> Bool {
        let book = registry.service.book
        guard book.revision != summarizedRevision, force || loop.now >= nextSummaryCheck else { return false }
        summarizedRevision = book.revision
        nextSummaryCheck = loop.now &+ Self.changeInterval
        let fresh = CapabilitySummary.summary(of: book.all())
        let freshDigest = CapabilitySummary.digest(of: fresh)
        defer {
            summary = fresh
            digest = freshDigest
        }
        return freshDigest != digest
    }

    /// After a loop turn: when the guest book changed, check the summary (at most once a second) and
    /// announce a change soon (at most once a second).
    func afterTurn() {
        guard registry.service.book.revision != summarizedRevision else { return }
        if loop.now < nextSummaryCheck {
            reschedule()
            return
        }
        guard refreshSummary() else { return }
        nextSend = min(nextSend, max(loop.now, lastChangeSend &+ Self.changeInterval))
        reschedule()
    }

    // MARK: Timer

    /// Keeps the one timer at the earliest of the next send, the next summary check and the next peer expiry.
    private func reschedule() {
        var deadline = nextSend
        if registry.service.book.revision != summarizedRevision { deadline = min(deadline, nextSummaryCheck) }
        if let expiry = registry.service.peers?.nextDeadline { deadline = min(deadline, expiry) }
        if let timer, loop.reschedule(timer, to: deadline) { return }
        timer = loop.schedule(at: deadline, for: self)
    }

    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event else { return }
        timer = nil
        let now = loop.now
        if now >= nextSend {
            let periodic = nextSend
            announce()
            poll()
            lastChangeSend = now
            if fastStartLeft > 1 {
                fastStartLeft -= 1
                nextSend = now &+ 1_000_000_000
            } else {
                fastStartLeft = 0
                let jitter = Double.random(in: 0.9...1.1)
                nextSend = max(periodic, now) &+ UInt64(configuration.interval * jitter * 1e9)
            }
        } else if refreshSummary() {
            nextSend = min(nextSend, max(now, lastChangeSend &+ Self.changeInterval))
        }
        if let events = registry.service.peers?.expire(now: clock) { note(events) }
        reschedule()
    }

    private var clock: MeshClock { MeshClock(monotonic: loop.now, wall: SystemClock.wallMilliseconds()) }

    // MARK: Queries across the mesh

    /// Runs a query with scope `remote` or `all` over the live peers; `local` are this Hostess's own matches.
    /// The answer teaches where the peers' entries live, for forwarded terminal changes.
    func query(_ filter: ServerFilter, local: [JSONValue], completion: @escaping (JSONObject) -> Void) {
        RemoteQuery.start(
            filter, local: local, peers: registry.service.peers?.livePeers ?? [], connector: connector, timeout: configuration.remoteTimeout, loop: loop
        ) { [weak self] answer in
            self?.requests.learn(from: answer)
            completion(answer)
        }
    }

    /// Forwards a terminal change of an entry this guest book does not hold to the peer that does.
    func forward(_ command: Command, _ name: ServerName, completion: @escaping (Result<JSONValue, HostessError>) -> Void) {
        switch requests.peer(holding: name, in: registry.service.peers?.peers ?? []) {
        case .failure(let error): completion(.failure(error))
        case .success(let peer): requests.forward(command, name, to: peer, completion: completion)
        }
    }

    /// Gets `needed` servers for a reservation with `allowRemote` from the live peers, all or nothing.
    func reserve(_ request: ReservationRequest, needed: Int, localFree: Int, completion: @escaping RemoteReservation.Completion) {
        requests.reserve(request, needed: needed, localFree: localFree, peers: registry.service.peers?.livePeers ?? [], completion: completion)
    }

    /// How to have the peer named `name` probe this machine (phase 3), each window within `seconds`.
    func remoteProbe(from name: String, seconds: Double) -> Result<(target: String, ask: ProbeRun.RemoteProbe), HostessError> {
        requests.remoteProbe(from: name, in: registry.service.peers?.peers ?? [], seconds: seconds)
    }

    /// Announces soon (at most a second after the last change-triggered one): the connection methods changed.
    func methodsChanged() {
        nextSend = min(nextSend, max(loop.now, lastChangeSend &+ Self.changeInterval))
        reschedule()
    }

    /// Asks a remote part's peer to cancel it.
    func release(_ part: Reservation.RemotePart, completion: @escaping (String) -> Void) {
        requests.release(part, peers: registry.service.peers?.peers ?? [], completion: completion)
    }

    /// How this Hostess's own entries say where they live.
    var identity: JSONValue { ["fqdn": .string(fqdn), "hostessId": .string(hostessID), "local": true] }

    // MARK: Polling static peers

    /// Asks every static peer that is not being asked already for its announcement.
    private func poll() {
        let timeout = min(5, max(0.5, configuration.interval))
        for (index, entry) in staticPeers.enumerated() where !polling.contains(index) {
            polling.insert(index)
            HTTPFetch.start("GET", "/announcement", at: entry.address, host: entry.peer.authority, timeout: timeout, loop: loop) {
                [weak self] result in self?.polled(index, result)
            }
        }
    }

    private func polled(_ index: Int, _ result: Result<HTTPClientResponse, HostessError>) {
        polling.remove(index)
        let entry = staticPeers[index]
        let failure: String
        switch result {
        case .success(let response) where response.status == 200:
            if unreachable.remove(index) != nil { Log.info("static peer \(entry.peer.url) answers again") }
            if case .success(let event?)? = registry.service.peers?.receive(response.body, from: entry.address.host, keys: keys, now: clock) {
                note([event])
                reschedule()
            }
            return
        case .success(let response): failure = "HTTP \(response.status) for GET /announcement"
        case .failure(let error): failure = error.message
        }
        if unreachable.insert(index).inserted { Log.warning("static peer \(entry.peer.url): \(failure); asking again every interval") }
    }

    // MARK: Truncated summaries

    /// Asks a peer whose announcement left its summary out for it (`POST /capabilities` along its paths).
    private func fetchSummary(of peer: Peer) {
        guard !fetchingSummaries.contains(peer.hostessID) else { return }
        fetchingSummaries.insert(peer.hostessID)
        let id = peer.hostessID
        connector.fetch("POST", "/capabilities", to: peer, body: Array("{}".utf8), timeout: 5) { [weak self] result in
            self?.fetchedSummary(of: id, from: peer.endpoint, result)
        }
    }

    private func fetchedSummary(of hostessID: String, from endpoint: String, _ result: Result<HTTPClientResponse, HostessError>) {
        fetchingSummaries.remove(hostessID)
        let problem: String
        switch result {
        case .success(let response) where response.status == 200:
            do {
                let summary = try CapabilitySummary.fetched(try JSONParser.parse(response.body))
                if registry.service.peers?.updateSummary(hostessID: hostessID, summary: summary) == true {
                    registry.service.notePeer(.peerChanged, hostessID: hostessID)
                    return
                }
                problem = "its summary does not match the digest it announces (it changed meanwhile; asked again at its next change)"
            } catch {
                problem = "its summary is not one: \(error)"
            }
        case .success(let response): problem = "HTTP \(response.status)"
        case .failure(let error): problem = error.message
        }
        Log.warning("peer at \(endpoint): fetching its summary (POST /capabilities) failed: \(problem)")
    }

    // MARK: Receiving

    func channel(_ channel: DatagramChannel, received datagrams: [Datagram]) {
        var events: [PeerEvent] = []
        for datagram in datagrams {
            guard case .success(let event?)? = registry.service.peers?.receive(datagram.bytes, from: datagram.source.host, keys: keys, now: clock)
            else { continue }
            events.append(event)
        }
        note(events)
        if !events.isEmpty { reschedule() }
    }

    func channel(_ channel: DatagramChannel, failed error: SystemError) {
        Log.warning("announcements: receiving failed: \(error)")
    }

    /// Makes peer events guest-book changes (so `watch` and blocking reads wake) and log lines, and fetches the
    /// summaries announcements left out.
    private func note(_ events: [PeerEvent]) {
        for event in events {
            let peer = event.peer
            if case .lost = event {} else if peer.summaryTruncated && peer.summary == nil { fetchSummary(of: peer) }
            switch event {
            case .discovered:
                registry.service.notePeer(.peerDiscovered, hostessID: peer.hostessID)
                Log.info("peer discovered: \(peer.fqdn) (\(peer.hostessID)) at \(peer.endpoint), \(peer.serverCount) servers")
            case .changed:
                registry.service.notePeer(.peerChanged, hostessID: peer.hostessID)
            case .lost(_, let reason):
                registry.service.notePeer(.peerLost, hostessID: peer.hostessID)
                let why =
                    switch reason {
                    case .goodbye: "said goodbye"
                    case .expired: "missed its ttl; stale"
                    case .withdrawn: "left the fleet directory"
                    }
                Log.info("peer lost: \(peer.fqdn) (\(peer.hostessID)): \(why)")
                registry.peerLost(peer, reason: "\(peer.fqdn) \(why)")
            }
        }
    }

    // MARK: Stopping

    /// Leaves the fleet directory, says goodbye on every link and closes the sockets.
    func stop() {
        if let timer { loop.cancel(timer) }
        timer = nil
        directory?.stop()
        directory = nil
        announce(goodbye: true)
        ipv4?.close()
        ipv6?.close()
        ipv4 = nil
        ipv6 = nil
    }
}
