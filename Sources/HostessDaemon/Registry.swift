import Glibc
import HostessLoop
import HostessMesh
import HostessProbing
import HostessModel
import HostessRegion
import HostessSystem

// MARK: - RevisionWaiter

/// A session holding requests that wait for the guest book to change: socket watches, HTTP blocking reads.
protocol RevisionWaiter: AnyObject {
    /// The revision moved: answer what is due.
    func revisionMoved()
}

// MARK: - Registry

/// What every interface serves: the guest book and its executor (``Service``), the shared-memory publication,
/// the saved reservations, and the requests waiting for the book to change.
///
/// Interfaces decode requests into ``Command``s, run them here, and encode what comes back. Every change is
/// published before the reply that caused it is written (read-your-writes): an interface calls
/// ``publishChanges()`` after handling what it read and before writing; one loop turn's burst is one publication.
final class Registry: LoopHandler {
    /// How often evictions run and the region's writer heartbeat beats, in nanoseconds.
    static let tickNanoseconds: UInt64 = 250_000_000

    /// The guest book and the commands over it.
    var service: Service
    /// The shared-memory region's publisher, when there is a region.
    private(set) var publisher: Publisher?
    /// Where reservations are saved, when configured.
    let store: ReservationStore?
    private let configuration: Configuration
    private unowned let loop: Loop
    /// Watches waiting per uid (`--max-watches-per-uid`).
    private var watchesByUID: [UInt32: Int] = [:]
    private var waiters: [ObjectIdentifier: RevisionWaiter] = [:]
    private var answeredRevision: UInt64 = 0
    /// The revision the store and the publisher were last given (nil: not yet).
    private var settledRevision: UInt64?
    /// Whether the saved reservations were restored at start: until then the store is not written, so that a
    /// successor killed while it adopts a region leaves the reservations file for the next one.
    private var reservationsRestored = false

    /// An empty guest book with the configured limits.
    init(configuration: Configuration, loop: Loop) {
        self.configuration = configuration
        self.loop = loop
        store = configuration.reservationsPath.map(ReservationStore.init(path:))
        service = Service(
            ttlSeconds: configuration.ttl, heartbeatInterval: configuration.heartbeatInterval,
            capacity: GuestBook.Capacity(
                entries: configuration.capacity, payloadBytes: configuration.capacity * configuration.entryBytes,
                capabilities: RegionLayout.maximumLiveCapabilities, capabilitiesPerUID: configuration.maxCapabilitiesPerUID))
        service.reservationRetention = Int64(configuration.reservationRetention * 1000)
        service.reservationPolicy = configuration.reservationPolicy
    }

    /// The time as the guest book reads it: wall clock, and the loop clock for deadlines.
    var now: Timestamp { Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: loop.now) }

    // MARK: Starting

    /// Creates the shared-memory region, first taking over what a dead predecessor left under its name (its
    /// entries and then its saved reservations come back). A successor's region is filled under a temporary
    /// name; ``installRegion()`` puts it over the old one once everything else started.
    func open(environment: [String: String]) throws(DaemonError) {
        // Read before the region is opened; nothing is saved until they are restored (publishing the adopted
        // entries must not write the still empty list over them).
        let saved = store?.load()
        var adopted = false
        if let name = configuration.sharedMemoryName { adopted = try openRegion(name: name, environment: environment) }
        let reservations = adopted ? saved?.reservations ?? [] : []
        service.restoreReservations(reservations, lastToken: saved?.lastToken ?? 0, now: now)
        reservationsRestored = true
        let active = service.book.reservations(status: .active).count
        if adopted, let saved { Log.info("restored \(saved.reservations.count) reservations (\(active) active) from \(store?.path ?? "")") }
        store?.save(service.book)
        publishChanges()
        loop.schedule(at: loop.now &+ Self.tickNanoseconds, for: self)
    }

    private func openRegion(name: String, environment: [String: String]) throws(DaemonError) -> Bool {
        var abandoned: AbandonedRegion?
        do {
            switch try RegionWriter.examine(name) {
            case .none: break
            case .movedAside(let aside, let reason):
                Log.warning("shared-memory region \(name) is not trusted (\(reason)); moved it aside to \(aside)")
            case .abandoned(let region): abandoned = region
            }
        } catch {
            throw .listen("\(error)")
        }
        let writer: RegionWriter
        do {
            // The arena holds the payloads and the ids too long for a record: the guest book counts both.
            writer = try RegionWriter(
                name: name, capacity: configuration.capacity, arenaBytes: service.book.capacity.payloadBytes, environment: environment, succeeding: abandoned)
        } catch {
            throw .listen("cannot create shared-memory region \(name): \(error)")
        }
        publisher = Publisher(writer: writer)
        settledRevision = nil
        if abandoned != nil {
            for name in RegionWriter.removeAbandonedTemporaryRegions() {
                Log.warning("removed \(name), the temporary region of a hostessd that died while it took over \(configuration.sharedMemoryName ?? "")")
            }
        }
        if let abandoned {
            let refused = service.restore(abandoned.entries, revision: abandoned.revision, now: now)
            for (entry, error) in refused { Log.warning("could not restore \(entry.id): \(error)") }
            Log.info(
                "adopted \(abandoned.entries.count - refused.count) entries from the region of a previous hostessd (pid \(abandoned.writerPID)); each has \(configuration.ttl) s to heartbeat again"
            )
        }
        publishChanges()
        Log.info("publishing the guest book in shared memory \(name) (capacity \(configuration.capacity) entries, \(writer.layout.regionSize) bytes)")
        return abandoned != nil
    }

    /// Puts the region in place of a predecessor's. Until now a failure left the old region (and its entries)
    /// for the next start.
    func installRegion() throws(DaemonError) {
        guard let writer = publisher?.writer else { return }
        do { try writer.install() } catch {
            throw .listen("cannot put shared-memory region \(writer.name) in place: \(error)")
        }
    }

    // MARK: Work across the mesh

    /// The mesh, when hostessd takes part in one.
    weak var mesh: Announcer?
    /// Queries, forwarded changes and remote reservations under way, from every interface, in all and by
    /// who asked (`uid N`, `key K`, or unsigned HTTP).
    private var acrossUnderWay = 0
    private var acrossByAsker: [String: Int] = [:]
    /// Work across the mesh under way at once in all (a query asks up to 64 peers): more is refused, so that
    /// no client can spend the daemon's descriptors on outbound connections.
    static let maximumAcross = 64
    /// Work across the mesh one asker (a uid, a key, unsigned HTTP) may have under way at once, so that one
    /// cannot take the whole of ``maximumAcross``.
    static let maximumAcrossPerAsker = 16
    /// Session reservations across the mesh under way, by connection, and the connections that closed meanwhile.
    private var sessionReservationsUnderWay: [UInt64: Int] = [:]
    private var closedWhileReserving = Set<UInt64>()

    /// Runs work that involves the peers (``Service/Across``); `completion` gets the reply's `result`.
    /// Without a mesh a query asks no peer (and says so, `asked` 0) and a forwarded change finds no entry.
    /// Refused with `capacity` while ``maximumAcross`` are under way, or ``maximumAcrossPerAsker`` for the asker.
    func across(_ work: Service.Across, caller: Caller, connection: UInt64, completion: @escaping (Result<JSONValue, HostessError>) -> Void) {
        let asker = caller.key.map { "key \($0)" } ?? (caller.uid == HTTPRouter.remoteUID ? "unsigned HTTP" : "uid \(caller.uid)")
        let field = if case .reserve = work { "reservation.allowRemote" } else if case .query = work { "filter.scope" } else { "serverId" }
        guard acrossUnderWay < Self.maximumAcross else {
            return completion(.failure(HostessError(.capacity, "\(acrossUnderWay) requests across the mesh are under way, the most hostessd runs at once; try again shortly", field: field)))
        }
        guard (acrossByAsker[asker] ?? 0) < Self.maximumAcrossPerAsker else {
            return completion(.failure(HostessError(.capacity, "\(asker) has \(Self.maximumAcrossPerAsker) requests across the mesh under way, the most one may; wait for their answers", field: field)))
        }
        acrossUnderWay += 1
        acrossByAsker[asker, default: 0] += 1
        let done: (Result<JSONValue, HostessError>) -> Void = { [weak self] result in
            if let self {
                acrossUnderWay -= 1
                let left = (acrossByAsker[asker] ?? 1) - 1
                acrossByAsker[asker] = left > 0 ? left : nil
            }
            completion(result)
        }
        switch work {
        case .query(let filter): queryAcross(filter) { done(.success(.object($0))) }
        case .forward(let command, let name):
            guard let mesh else { return done(.failure(HostessError(.notFound, "no entry '\(name)'", field: "serverId"))) }
            mesh.forward(command, name) { done($0.map { ["entry": $0] }) }
        case .reserve(let request): reserveAcross(request, caller: caller, connection: connection, completion: done)
        case .probe(let request): probe(request, completion: done)
        }
    }

    // MARK: Probing

    /// Runs the Executor/Probe/Beacon trio, when hostessd found the programs.
    var executor: Executor?
    /// The Executor's own entry while a run is under way.
    private var executorEntry: String?

    /// Every address of this machine's up interfaces: IPv4, and IPv6 but link-local (which needs a scope).
    static func localAddresses() -> [String] {
        let interfaces = (try? NetworkInterface.all()) ?? []
        var addresses: [String] = []
        for interface in interfaces where interface.isUp {
            for address in interface.ipv4Addresses + interface.ipv6Addresses.filter({ !$0.lowercased().hasPrefix("fe80") })
            where !addresses.contains(address) {
                addresses.append(address)
            }
        }
        return Array(addresses.prefix(ProbeAddress.maximumCount))
    }

    /// A probe run over the request's targets (every local address by default); what it finds becomes this
    /// Hostess's connection methods.
    private func probe(_ request: ProbeRequest, completion: @escaping (Result<JSONValue, HostessError>) -> Void) {
        guard let executor else {
            return completion(.failure(HostessError(.unavailable, "hostessd found no hostess-beacon and hostess-probe beside it (--probe-binaries)", field: "command")))
        }
        var targets = request.targets ?? Self.localAddresses()
        var remote: ProbeRun.RemoteProbe?
        if let from = request.from {
            guard let mesh else { return completion(.failure(HostessError(.badRequest, "from needs a mesh (hostessd --announce or --peer)", field: "from"))) }
            switch mesh.remoteProbe(from: from, seconds: executor.windowTimeout) {
            case .failure(let error): return completion(.failure(error))
            case .success(let asking):
                targets = request.targets ?? [asking.target]
                remote = asking.ask
            }
        }
        guard !targets.isEmpty else { return completion(.failure(HostessError(.badRequest, "this machine has no address to probe", field: "targets"))) }
        executor.run(targets: targets, ports: request.ports, remote: remote, started: { [weak self] in self?.registerExecutor(request) }) {
            [weak self] result in
            guard let self else { return }
            unregisterExecutor()
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(var object):
                var members = object
                for key in ["windows", "descriptorLimit", "seconds", "killed"] { members[key] = nil }
                if let report = try? ProbeReport(members), !report.results.isEmpty {
                    let port = service.statusFacts["http"]?.stringValue.flatMap { try? InternetSocketAddress(parsing: $0).port }
                    service.connectionMethods.learn(from: report, httpPort: port, at: SystemClock.wallMilliseconds())
                }
                object["connectionMethods"] = .array(service.connectionMethods.own.map(\.json))
                if let from = request.from { object["from"] = .string(from) }
                mesh?.methodsChanged()
                let matrix = object["testedMatrix"]?.objectValue
                let worked = if case .int(let count)? = matrix?["successfulTests"] { count } else { Int64(0) }
                let total = if case .int(let count)? = matrix?["totalTests"] { count } else { Int64(0) }
                let seconds = if case .double(let value)? = object["seconds"] { value } else { 0.0 }
                Log.info("probe run: \(worked) of \(total) tests worked in \(seconds) s\(request.from.map { ", probed from \($0)" } ?? "")")
                completion(.success(.object(object)))
            }
        }
    }

    /// Runs a probe a peer asked for (`POST /probe`, phase 3) toward the address the request came from.
    func probe(for instructions: ProbeInstructions, completion: @escaping (Result<JSONObject, HostessError>) -> Void) {
        guard let executor else {
            return completion(.failure(HostessError(.unavailable, "hostessd found no hostess-probe beside it (--probe-binaries)")))
        }
        executor.probe(for: instructions, completion: completion)
    }

    /// The Executor signs the guest book while it runs (class 0x00FE, `hostess-executor`).
    private func registerExecutor(_ request: ProbeRequest) {
        let owner = Syscall.userName(uid: geteuid()) ?? "root"
        let manifest = ServerManifest(
            name: "hostess-executor", classCode: ClassCode(0x00FE), owner: owner, capabilities: ["probe-executor"],
            metadata: ["ports": .string(request.ports.description)])
        guard let registration = try? manifest.registration(fqdn: service.fqdn, uuid: Syscall.randomUUID()) else { return }
        let caller = Caller(uid: geteuid(), ownerNames: [owner])
        let now = now
        if case .done(.registered(let entry, _, _, _))? = change(by: "the Executor", { service in
            try? service.execute(.register(registration, session: false), caller: caller, connection: 0, now: now)
        }) {
            executorEntry = entry.id
        }
        publishChanges()
    }

    private func unregisterExecutor() {
        guard let id = executorEntry, let name = try? ServerName(parsing: id) else { return }
        executorEntry = nil
        let caller = Caller(uid: geteuid(), ownerNames: [name.owner])
        let now = now
        _ = change(by: "the Executor") { service in try? service.execute(.unregister(name), caller: caller, connection: 0, now: now) }
        publishChanges()
    }

    /// Keeps the Executor's entry alive while a run lasts (called every tick).
    private func heartbeatExecutor() {
        guard let id = executorEntry, let name = try? ServerName(parsing: id) else { return }
        _ = try? service.execute(.heartbeat(name), caller: Caller(uid: geteuid(), ownerNames: [name.owner]), connection: 0, now: now)
    }

    /// A query with scope `remote` or `all`: this Hostess's matches (for `all`) and the live peers'.
    private func queryAcross(_ filter: ServerFilter, completion: @escaping (JSONObject) -> Void) {
        var localFilter = filter
        localFilter.scope = .local
        let identity = mesh?.identity ?? ["local": true]
        let local: [JSONValue] = filter.scope == .all ? service.book.query(localFilter).compactMap { entry in
            guard case .object(var object) = entry.json else { return nil }
            object["hostess"] = identity
            return .object(object)
        } : []
        guard let mesh else { return completion(["entries": .array(local), "unanswered": [], "asked": 0]) }
        mesh.query(filter, local: local, completion: completion)
    }

    /// A reservation with `allowRemote` this guest book cannot hold alone: the peers are asked for what it
    /// lacks (``RemoteReservation``), then the reservation is made here with their parts, all or nothing.
    private func reserveAcross(_ request: ReservationRequest, caller: Caller, connection: UInt64, completion: @escaping (Result<JSONValue, HostessError>) -> Void) {
        guard let mesh else { return completion(.failure(HostessError(.conflict, "too few servers match here, and hostessd takes part in no mesh", field: "count"))) }
        var free = request.filter
        free.scope = .local
        free.unreserved = true
        let localFree = min(service.book.query(free).count, request.count - 1)
        if request.session { sessionReservationsUnderWay[connection, default: 0] += 1 }
        mesh.reserve(request, needed: request.count - localFree, localFree: localFree) { [weak self] result in
            guard let self else { return }
            let abandoned = request.session && closedWhileReserving.contains(connection)
            if request.session {
                let left = (sessionReservationsUnderWay[connection] ?? 1) - 1
                sessionReservationsUnderWay[connection] = left > 0 ? left : nil
                if left <= 0 { closedWhileReserving.remove(connection) }
            }
            switch result {
            case .failure(let error): completion(.failure(error))
            case .success(let parts) where abandoned:
                for part in parts { mesh.release(part) { _ in } }
                completion(.failure(HostessError(.disconnected, "the session connection closed before the peers answered; their parts were cancelled")))
            case .success(let parts):
                let outcome = change(by: "by uid \(caller.uid) across the mesh") { service in
                    Result { () throws(HostessError) in try service.reserve(request, by: caller, connection: connection, now: now, remote: parts) }
                }
                switch outcome {
                case .success(let reply): completion(.success(["reservation": reply.json]))
                case .failure(let error):
                    for part in parts { mesh.release(part) { _ in } }
                    completion(.failure(HostessError(error.code, "\(error.message); the parts the peers granted were cancelled", field: error.field)))
                }
                publishChanges()
            }
        }
    }

    /// A peer went stale or said goodbye: the parts of active reservations it holds turn `lost`.
    func peerLost(_ peer: Peer, reason: String) {
        let changed = change(by: "the mesh") { $0.loseRemoteParts(hostessID: peer.hostessID, reason: reason, now: now) }
        for id in changed { Log.warning("reservation \(id): its part on \(peer.fqdn) is lost (\(reason))") }
    }

    /// Asks the peers to cancel the parts of reservations that ended here (or were lost), and records what
    /// each answered.
    private func releaseRemoteParts() {
        for (reservationID, part) in service.takeRemoteReleases() {
            guard let mesh else {
                service.noteRemoteRelease(reservationID: reservationID, peerReservationID: part.reservationID, reason: "not cancelled: hostessd takes part in no mesh now; the peer frees the servers when the duration ends")
                continue
            }
            mesh.release(part) { [weak self] outcome in
                guard let self else { return }
                Log.info("reservation \(reservationID): its part \(part.reservationID) on \(part.fqdn): \(outcome)")
                if part.state == .released { service.noteRemoteRelease(reservationID: reservationID, peerReservationID: part.reservationID, reason: outcome) }
                publishChanges()
            }
        }
    }

    // MARK: Commands

    /// Handles one protocol line for `caller` on `connection`, logging what it changed.
    func handle(line: ArraySlice<UInt8>, caller: Caller, connection: UInt64) -> Service.Outcome {
        let before = service.book.revision
        let outcome = service.handle(line: line, caller: caller, connection: connection, now: now)
        logChanges(since: before, by: "by uid \(caller.uid)")
        return outcome
    }

    /// Runs `body` over the service (an HTTP route), logging what it changed as done `who` ("over HTTP by …").
    func change<Result>(by who: String, _ body: (inout Service) -> Result) -> Result {
        let before = service.book.revision
        let result = body(&service)
        logChanges(since: before, by: who)
        return result
    }

    private func logChanges(since before: UInt64, by who: String) {
        guard service.book.revision != before, let changes = service.book.changes(since: before) else { return }
        for change in changes where change.kind != .terminals && change.kind != .hold {
            Log.info("\(change.kind.rawValue) \(change.id) \(who) (revision \(change.revision))")
        }
    }

    /// Removes the entries bound to a closed connection (and abandons its session reservations across the mesh).
    func endSession(connection: UInt64) {
        if sessionReservationsUnderWay[connection] != nil { closedWhileReserving.insert(connection) }
        for entry in service.endSession(connection: connection, now: now) {
            Log.info("session ended: removed \(entry.id) (revision \(service.book.revision))")
        }
    }

    /// Publishes guest book changes and heartbeats to the region, and saves the reservations when they changed.
    func publishChanges() {
        if service.book.hasRemoteReleases { releaseRemoteParts() }
        // Checked here first: handing the book to the store and the publisher copies it (a retain of each
        // of its parts), which a turn that changed nothing, like a read, should not pay.
        if service.book.revision != settledRevision {
            settledRevision = service.book.revision
            if reservationsRestored { store?.saveIfChanged(service.book) }
            publisher?.publish(service.book)
        }
        // Taken even without a region, so that they never pile up.
        guard !service.heartbeats.isEmpty else { return }
        let heartbeats = service.takeHeartbeats()
        guard let publisher else { return }
        for heartbeat in heartbeats {
            publisher.writer.heartbeat(id: heartbeat.id, wallMilliseconds: heartbeat.wallMilliseconds)
        }
    }

    /// Publications made so far.
    var publications: UInt64 { publisher?.publications ?? 0 }

    // MARK: Waiting requests

    /// Admits one more watch for `caller` on a connection that has `waiting` already, or says why not: each
    /// waiting watch holds memory, and its answer output, until the revision moves.
    func admitWatch(caller: Caller, waiting: Int) -> String? {
        let held = watchesByUID[caller.uid] ?? 0
        if waiting >= configuration.maxWatchesPerConnection {
            return "this connection has \(waiting) watches waiting, the most one may (--max-watches-per-connection); wait for their answers"
        }
        if !caller.isRoot && held >= configuration.maxWatchesPerUID {
            return "uid \(caller.uid) has \(held) watches waiting, the most one user may (--max-watches-per-uid); wait for their answers"
        }
        watchesByUID[caller.uid] = held + 1
        return nil
    }

    /// Gives back `count` watches of `uid` (answered, or their connection closed).
    func releaseWatches(_ count: Int, uid: UInt32) { Self.subtract(count, from: &watchesByUID, uid: uid) }

    /// Takes `count` from a uid's tally, dropping the uid at zero so the tally holds only uids with something open.
    static func subtract(_ count: Int, from tally: inout [UInt32: Int], uid: UInt32) {
        let left = (tally[uid] ?? 0) - count
        tally[uid] = left > 0 ? left : nil
    }

    /// Starts or stops telling `waiter` when the revision moves.
    func setWaiting(_ waiter: RevisionWaiter, _ waiting: Bool) {
        waiters[ObjectIdentifier(waiter)] = waiting ? waiter : nil
    }

    /// The end of a loop turn: publishes what deadlines changed, then answers the requests waiting for a
    /// revision that passed.
    func endTurn() {
        publishChanges()
        // Requests pipelined behind an answered read may change the book again: a few rounds, bounded, so
        // that the other waiters hear of it this turn.
        for _ in 0..<4 where service.book.revision != answeredRevision {
            answeredRevision = service.book.revision
            for waiter in Array(waiters.values) { waiter.revisionMoved() }
            publishChanges()
        }
    }

    /// Every waiting session, for shutdown.
    var waitingSessions: [RevisionWaiter] { Array(waiters.values) }

    // MARK: Housekeeping

    /// Every tick: the region's writer heartbeat, expired reservations, evictions.
    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event else { return }
        publisher?.writer.beat()
        heartbeatExecutor()
        for entry in service.evictExpired(now: now) {
            Log.info(
                "evicted \(entry.id): no heartbeat for \(configuration.ttl) s (revision \(service.book.revision), \(service.counters.evictions) evictions in all)"
            )
        }
        loop.schedule(at: loop.now &+ Self.tickNanoseconds, for: self)
    }

    /// Closes and removes the region.
    func close() {
        guard let publisher else { return }
        publisher.writer.close()
        self.publisher = nil
        Log.info("closed and removed shared-memory region \(publisher.writer.name)")
    }
}
