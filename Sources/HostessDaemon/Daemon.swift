import Glibc
import HostessModel
import HostessRegion
import HostessSystem

// MARK: - Daemon

/// hostessd: one thread, one epoll loop, one owner of the guest book.
///
/// Every request is handled to completion on the loop, in the order it arrived on its connection, so the
/// guest book needs no lock and every change has its own revision. Slow clients cost buffer space, never
/// time: reads and writes are non-blocking, and a client that stops reading is paused, then dropped.
public final class Daemon {
    private enum Token {
        static let listener: UInt64 = 1
        static let signals: UInt64 = 2
        static let httpListener: UInt64 = 3
        static let firstConnection: UInt64 = 16
    }

    /// Output buffered for one client above which its further requests wait until it reads.
    private static let outputHighWater = 1 << 20
    /// Longest wait between housekeeping passes (evictions, client deadlines), in nanoseconds.
    private static let tickNanoseconds: UInt64 = 250_000_000
    /// Connections root and hostessd's own user may open beyond `--max-connections`.
    private static let reservedConnections = 16
    /// A gap between two turns of the loop longer than this means the loop did not run (it waits at most a
    /// tick): the gap is credited to every deadline.
    private static let stallNanoseconds: UInt64 = 1_000_000_000

    private let configuration: Configuration
    private let environment: [String: String]
    private var service: Service
    private let epoll: Epoll
    private var listener: Listener?
    private let signalFD: Int32
    private var connections: [UInt64: Connection] = [:]
    private var watchers: Set<UInt64> = []
    /// Open connections per uid (`--max-connections-per-uid`).
    private var connectionsByUID: [UInt32: Int] = [:]
    /// Watches waiting per uid (`--max-watches-per-uid`).
    private var watchesByUID: [UInt32: Int] = [:]
    private var nextToken = Token.firstConnection
    private var ownerNamesByUID: [UInt32: Set<String>] = [:]
    private var stdio: Connection?
    private var stdioNeedsPolling = false
    private var stopping = false
    private var acceptPaused = false
    private var lastHousekeeping: UInt64 = 0
    /// When the loop last turned: woke from epoll, or came to its housekeeping.
    private var lastTurn = SystemClock.monotonicNanoseconds()
    private var answeredRevision: UInt64 = 0
    private var publisher: Publisher?
    private var http: HTTPFrontEnd?
    private let reservationStore: ReservationStore?
    /// A random id for this run of hostessd (`/health`, `status`).
    private let instanceID = Syscall.randomUUID()
    private let startedAt = SystemClock.monotonicNanoseconds()
    private let version: String
    /// Where every read lands before it is appended to its connection's input: one buffer for the loop,
    /// not an allocation (and a 64 KiB clear) per read.
    private var readBuffer = [UInt8](repeating: 0, count: 65536)

    /// Sets up the loop: signals, and the socket or stdio. Nothing is served until ``run()``.
    public init(configuration: Configuration, environment: [String: String], version: String) throws(DaemonError) {
        self.configuration = configuration
        self.environment = environment
        self.version = version
        reservationStore = configuration.reservationsPath.map(ReservationStore.init(path:))
        let arenaBytes = configuration.capacity * configuration.entryBytes
        service = Service(
            ttlSeconds: configuration.ttl, heartbeatInterval: configuration.heartbeatInterval,
            capacity: GuestBook.Capacity(
                entries: configuration.capacity, payloadBytes: arenaBytes, capabilities: RegionLayout.maximumLiveCapabilities,
                capabilitiesPerUID: configuration.maxCapabilitiesPerUID))
        Syscall.ignoreBrokenPipes()
        let limit = Syscall.raiseDescriptorLimit()
        do {
            epoll = try Epoll()
            signalFD = try Syscall.signalDescriptor(for: [SIGTERM, SIGINT, SIGHUP])
            try epoll.add(signalFD, events: .readable, token: Token.signals)
        } catch {
            throw .system(error)
        }
        service.reservationRetention = Int64(configuration.reservationRetention * 1000)
        service.reservationPolicy = configuration.reservationPolicy
        service.statusFacts = [
            "version": .string(version), "pid": .int(Int64(getpid())),
            "socket": configuration.stdio ? .null : .string(configuration.socketPath),
            "shm": configuration.sharedMemoryName.map(JSONValue.string) ?? .null,
            "instanceId": .string(instanceID),
        ]
        if configuration.stdio {
            try openStdio()
        } else {
            do { listener = try Listener(path: configuration.socketPath) } catch {
                throw .listen(error.description)
            }
            do { try epoll.add(listenerFD, events: .readable, token: Token.listener) } catch {
                throw .system(error)
            }
            if limit < UInt64(configuration.maxConnections) + 64 {
                Log.warning("open-file limit is \(limit); fewer than --max-connections \(configuration.maxConnections) clients can connect")
            }
        }
        // Read before the region is opened: publishing the adopted entries saves the (still empty) reservations.
        let savedReservations = reservationStore?.load()
        var adopted = false
        if let name = configuration.sharedMemoryName {
            do { adopted = try openRegion(name: name, arenaBytes: arenaBytes) } catch {
                listener?.close()
                throw error
            }
        }
        restoreReservations(savedReservations, adopted: adopted)
        if let address = configuration.httpAddress {
            do {
                http = try HTTPFrontEnd(
                    configuration: configuration, address: address, keys: configuration.httpKeys, epoll: epoll, listenerToken: Token.httpListener)
            } catch {
                listener?.close()
                publisher?.writer.close()
                throw error
            }
            service.statusFacts["http"] = http.map { .string($0.boundAddress) } ?? .null
        }
        // The region replaces a predecessor's only now that everything else started: a failure before this
        // leaves the old region (and its entries) for the next start.
        if let writer = publisher?.writer {
            do { try writer.install() } catch {
                listener?.close()
                writer.close()
                throw .listen("cannot put shared-memory region \(writer.name) in place: \(error)")
            }
        }
        // Clients get in only now: the region, when there is one, already holds the guest book.
        do { try listener?.startListening() } catch {
            listener?.close()
            publisher?.writer.close()
            throw .system(error)
        }
    }

    /// What the HTTP interface reports beyond the guest book.
    private var facts: HTTPRouter.Facts {
        HTTPRouter.Facts(
            instanceID: instanceID, version: version, startedAt: startedAt, unixConnections: connections.count - (stdio == nil ? 0 : 1),
            httpConnections: http?.connectionCount ?? 0, publications: publisher?.publications ?? 0)
    }

    private var listenerFD: Int32 { listener?.fd ?? -1 }

    /// Creates the shared-memory region, first taking over what a dead predecessor left under its name. A
    /// successor's region is filled under a temporary name; ``init`` installs it over the old one last.
    /// - Returns: whether a predecessor's guest book was adopted.
    private func openRegion(name: String, arenaBytes: Int) throws(DaemonError) -> Bool {
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
            writer = try RegionWriter(
                name: name, capacity: configuration.capacity, arenaBytes: arenaBytes, environment: environment, succeeding: abandoned)
        } catch {
            throw .listen("cannot create shared-memory region \(name): \(error)")
        }
        publisher = Publisher(writer: writer)
        if let abandoned {
            let now = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: SystemClock.monotonicNanoseconds())
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

    /// Brings back the reservations a predecessor saved when its guest book was adopted; otherwise only its
    /// last fencing token, so that tokens keep growing. Entries published as held by a reservation that did
    /// not come back are freed either way.
    private func restoreReservations(_ saved: (reservations: [Reservation], lastToken: UInt64)?, adopted: Bool) {
        let now = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: SystemClock.monotonicNanoseconds())
        let reservations = adopted ? saved?.reservations ?? [] : []
        service.restoreReservations(reservations, lastToken: saved?.lastToken ?? 0, now: now)
        let active = service.book.reservations(status: .active).count
        if adopted, let saved { Log.info("restored \(saved.reservations.count) reservations (\(active) active) from \(reservationStore?.path ?? "")") }
        reservationStore?.save(service.book)
        publishChanges()
    }

    /// Publishes guest book changes and heartbeats to the region, before any reply to them is written.
    private func publishChanges() { Self.publish(&service, to: publisher, store: reservationStore) }

    /// The same, for code that holds the service as an `inout` parameter (the HTTP interface). Saves the
    /// reservations too when they changed.
    private static func publish(_ service: inout Service, to publisher: Publisher?, store: ReservationStore?) {
        store?.saveIfChanged(service.book)
        guard let publisher else { return }
        publisher.publish(service.book)
        for heartbeat in service.takeHeartbeats() {
            publisher.writer.heartbeat(id: heartbeat.id, wallMilliseconds: heartbeat.wallMilliseconds)
        }
    }

    private func openStdio() throws(DaemonError) {
        let uid = getuid()
        let connection = Connection(
            token: Token.firstConnection, inputFD: STDIN_FILENO, outputFD: STDOUT_FILENO, isSocket: false,
            caller: Caller(uid: uid, ownerNames: ownerNames(uid: uid)), pid: getpid(),
            now: SystemClock.monotonicNanoseconds())
        nextToken += 1
        do {
            try epoll.add(STDIN_FILENO, events: .readable, token: connection.token)
        } catch {
            // Regular files and /dev/null cannot be watched by epoll; they are always readable.
            guard error.errno == EPERM else { throw .system(error) }
            stdioNeedsPolling = true
        }
        connections[connection.token] = connection
        stdio = connection
    }

    // MARK: Running

    /// Serves until SIGTERM or SIGINT (or, with `--stdio`, the end of standard input).
    /// - Returns: the process exit status.
    public func run() -> Int32 {
        if let listener {
            Log.info(
                "listening on \(listener.path) (ttl \(configuration.ttl) s, heartbeat interval \(configuration.heartbeatInterval) s, max \(configuration.maxConnections) connections)"
            )
        } else {
            Log.info("serving on stdin/stdout (ttl \(configuration.ttl) s)")
        }
        if let http {
            Log.info("serving HTTP on \(http.boundAddress) (max \(configuration.httpMaxConnections) connections, request timeout \(configuration.httpRequestTimeout) s)")
            if configuration.secretsPath == nil { Log.warning("no --secrets file: every HTTP write will be refused (401)") }
        }
        SystemdNotifier.notify("READY=1\nSTATUS=serving", environment: environment)
        var status: Int32 = 0
        while !stopping {
            let timeout = stdioNeedsPolling ? 0 : millisecondsUntilNextDeadline()
            let events: [Epoll.Event]
            do { events = try epoll.wait(timeoutMilliseconds: timeout) } catch {
                Log.error("\(error); stopping")
                status = 1
                break
            }
            creditStall()
            for event in events {
                switch event.token {
                case Token.listener: acceptConnections()
                case Token.signals: handleSignals()
                case Token.httpListener: http?.acceptConnections()
                case let token where http?.owns(token) == true:
                    http?.handle(token: token, events: event.events, service: &service, facts: facts) { [publisher, reservationStore] service in
                        Daemon.publish(&service, to: publisher, store: reservationStore)
                    }
                default:
                    if let connection = connections[event.token] { service(connection, events: event.events) }
                }
            }
            if stdioNeedsPolling, let stdio { service(stdio, events: .readable) }
            housekeeping()
            publishChanges()
            answerWatches()
        }
        shutdown()
        return status
    }

    // MARK: Accepting

    private func acceptConnections() {
        // Bounded so that a flood of connects cannot starve clients already connected.
        for _ in 0..<256 {
            let fd: Int32
            do {
                guard let accepted = try Syscall.accept(listenerFD) else { return }
                fd = accepted
            } catch {
                // Out of descriptors (EMFILE/ENFILE) or another failure: pause accepting until the next
                // housekeeping pass instead of spinning on a listener that stays readable.
                Log.warning("accept: \(error); pausing new connections for \(Self.tickNanoseconds / 1_000_000) ms")
                acceptPaused = true
                try? epoll.modify(listenerFD, events: [], token: Token.listener)
                return
            }
            let now = SystemClock.monotonicNanoseconds()
            let credentials: PeerCredentials
            do { credentials = try Syscall.peerCredentials(fd) } catch {
                Log.warning("refused a connection: \(error)")
                Syscall.close(fd)
                continue
            }
            let connection = Connection(
                token: nextToken, inputFD: fd, outputFD: fd, isSocket: true,
                caller: Caller(uid: credentials.uid, ownerNames: ownerNames(uid: credentials.uid)), pid: credentials.pid,
                now: now)
            nextToken += 1
            if let refusal = connectionRefusal(uid: credentials.uid) {
                connection.enqueue(service.reply(id: .null, error: HostessError(.capacity, refusal)))
                _ = connection.flush(now: now)
                Syscall.close(fd)
                Log.warning("refused uid \(credentials.uid) pid \(credentials.pid): \(refusal)")
                continue
            }
            do { try epoll.add(fd, events: .readable, token: connection.token) } catch {
                Log.warning("epoll: \(error)")
                Syscall.close(fd)
                continue
            }
            connections[connection.token] = connection
            connectionsByUID[credentials.uid, default: 0] += 1
        }
    }

    /// Why a new connection of `uid` is refused, or nil. One uid may hold `--max-connections-per-uid`; root
    /// and hostessd's own user are not limited that way and have ``reservedConnections`` slots beyond
    /// `--max-connections`, so that a daemon others filled still answers its operator.
    private func connectionRefusal(uid: UInt32) -> String? {
        let privileged = uid == 0 || uid == geteuid()
        let held = connectionsByUID[uid] ?? 0
        if !privileged && held >= configuration.maxConnectionsPerUID {
            return "uid \(uid) already has \(held) connections open, the most one user may (--max-connections-per-uid); close some first"
        }
        let limit = configuration.maxConnections + (privileged ? Self.reservedConnections : 0)
        guard connections.count < limit else {
            return "hostessd serves at most \(configuration.maxConnections) connections; try again later"
        }
        return nil
    }

    private func ownerNames(uid: UInt32) -> Set<String> {
        if let cached = ownerNamesByUID[uid] { return cached }
        var names = configuration.ownerNames[uid] ?? []
        if let user = Syscall.userName(uid: uid) { names.insert(user) }
        ownerNamesByUID[uid] = names
        return names
    }

    // MARK: Serving a connection

    private func service(_ connection: Connection, events: Epoll.Events) {
        let now = SystemClock.monotonicNanoseconds()
        if !events.isDisjoint(with: [.readable, .hangup, .closed]) && !connection.inputClosed {
            guard read(connection, now: now) else { return close(connection, reason: "read failed") }
        }
        handleLines(connection, now: now)
        publishChanges()
        // Watches held back by the high-water mark are answered as the client reads.
        answerDueWatches(connection, now: now)
        settle(connection)
        // Both directions gone (EPOLLHUP/EPOLLERR): nothing more can be written either.
        if events.contains(.closed) && connections[connection.token] != nil && connection.isSocket {
            close(connection, reason: nil)
        }
    }

    /// Reads what is available (a bounded amount, for fairness). Returns false on a read error.
    private func read(_ connection: Connection, now: UInt64) -> Bool {
        guard connection.pendingOutput < Self.outputHighWater else { return true }
        for _ in 0..<4 {
            let result = readBuffer.withUnsafeMutableBytes { raw -> Result<Int?, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try Syscall.read(connection.inputFD, into: base, count: raw.count) }
            }
            switch result {
            case .failure(let error):
                if error.errno == ECONNRESET {
                    connection.inputClosed = true
                    return true
                }
                return false
            case .success(nil): return true
            case .success(0):
                connection.inputClosed = true
                return true
            case .success(let count?):
                connection.input.append(contentsOf: readBuffer[..<count])
                if count < readBuffer.count || stdioNeedsPolling { return true }
            }
        }
        return true
    }

    /// Handles the complete lines buffered, until the client's unread replies pass the high-water mark.
    private func handleLines(_ connection: Connection, now: UInt64) {
        defer { connection.compact() }
        while connection.pendingOutput < Self.outputHighWater {
            switch connection.nextLine() {
            case .incomplete:
                if connection.inputClosed && connection.hasPartialLine {
                    // The last line of a stream may lack its newline.
                    connection.input.append(0x0A)
                    continue
                }
                // The deadline for a partial line runs from when its first byte was seen.
                connection.partialSince = connection.hasPartialLine ? (connection.partialSince ?? now) : nil
                return
            case .tooLong:
                connection.enqueue(
                    service.reply(
                        id: .null,
                        error: HostessError(.tooLarge, "a request line is at most \(Limits.lineBytes) bytes; closing the connection")))
                connection.input.removeAll()
                connection.consumed = 0
                connection.scanned = 0
                connection.inputClosed = true
                Log.warning("\(connection.label): request line over \(Limits.lineBytes) bytes; closing")
                return
            case .line(let line):
                connection.partialSince = nil
                // A blank line is no request: it neither counts as the first one nor keeps the connection alive.
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                connection.hasSentLine = true
                connection.lastActivity = now
                let wall = SystemClock.wallMilliseconds()
                let before = service.book.revision
                switch service.handle(
                    line: line, caller: connection.caller, connection: connection.token,
                    now: Timestamp(wallMilliseconds: wall, monotonicNanoseconds: now))
                {
                case .reply(let reply): connection.enqueue(reply)
                case .park(let watch): park(watch, on: connection)
                }
                if service.book.revision != before, let changes = service.book.changes(since: before) {
                    for change in changes where change.kind != .terminals && change.kind != .hold {
                        Log.info("\(change.kind.rawValue) \(change.id) by uid \(connection.caller.uid) (revision \(change.revision))")
                    }
                }
            }
        }
    }

    /// Watches a connection for what it needs next: input while it may send and its replies are being read,
    /// writability while replies wait. A connection that needs neither is taken out of epoll, so that a
    /// half-closed peer with a pending watch costs no wake-ups.
    private func updateInterest(_ connection: Connection) {
        guard !(connection === stdio && stdioNeedsPolling) else { return }
        var interest: Epoll.Events = []
        if !connection.inputClosed && connection.pendingOutput < Self.outputHighWater { interest.insert(.readable) }
        if connection.pendingOutput > 0 && connection.isSocket { interest.insert(.writable) }
        guard interest != connection.interest else { return }
        do {
            try epoll.change(connection.inputFD, from: connection.interest, to: interest, token: connection.token)
            connection.interest = interest
        } catch {
            close(connection, reason: "\(error)")
        }
    }

    private func close(_ connection: Connection, reason: String?) {
        guard connections.removeValue(forKey: connection.token) != nil else { return }
        forgetWatches(of: connection)
        Self.subtract(1, from: &connectionsByUID, uid: connection.caller.uid)
        if let reason { Log.info("closed \(connection.label): \(reason)") }
        let now = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: SystemClock.monotonicNanoseconds())
        for entry in service.endSession(connection: connection.token, now: now) {
            Log.info("session ended: removed \(entry.id) (revision \(service.book.revision))")
        }
        if connection === stdio {
            // End of input ends the daemon; watches still waiting learn why.
            for watch in connection.watches {
                connection.enqueue(service.reply(id: watch.requestID, error: HostessError(.unavailable, "hostessd is shutting down")))
            }
            connection.watches.removeAll()
            _ = connection.flush(now: SystemClock.monotonicNanoseconds())
            stopping = true
            stdio = nil
            return
        }
        if !connection.interest.isEmpty { epoll.remove(connection.inputFD) }
        Syscall.close(connection.inputFD)
    }

    // MARK: Watches

    /// Parks a watch, or refuses it when its connection or its uid already has as many waiting as allowed:
    /// each waiting watch holds memory, and its answer output, until the revision moves.
    private func park(_ watch: Service.Watch, on connection: Connection) {
        let uid = connection.caller.uid
        let waiting = watchesByUID[uid] ?? 0
        var refusal: String?
        if connection.watches.count >= configuration.maxWatchesPerConnection {
            refusal =
                "this connection has \(connection.watches.count) watches waiting, the most one may (--max-watches-per-connection); wait for their answers"
        } else if !connection.caller.isRoot && waiting >= configuration.maxWatchesPerUID {
            refusal = "uid \(uid) has \(waiting) watches waiting, the most one user may (--max-watches-per-uid); wait for their answers"
        }
        if let refusal {
            connection.enqueue(service.reply(id: watch.requestID, error: HostessError(.capacity, refusal, field: "command")))
            return
        }
        connection.watches.append(watch)
        watchesByUID[uid] = waiting + 1
        watchers.insert(connection.token)
    }

    /// Drops a closing connection's watches from the counts.
    private func forgetWatches(of connection: Connection) {
        watchers.remove(connection.token)
        Self.subtract(connection.watches.count, from: &watchesByUID, uid: connection.caller.uid)
    }

    /// Takes `count` from a uid's tally, dropping the uid at zero so the tallies hold only uids with something open.
    private static func subtract(_ count: Int, from tally: inout [UInt32: Int], uid: UInt32) {
        let left = (tally[uid] ?? 0) - count
        tally[uid] = left > 0 ? left : nil
    }

    /// Answers a connection's watches that are due (the revision passed, or the deadline came), in order,
    /// while its unread output stays under the high-water mark; the rest wait until it reads. The caller
    /// settles the connection.
    /// - Returns: whether any was answered.
    @discardableResult
    private func answerDueWatches(_ connection: Connection, now: UInt64) -> Bool {
        guard !connection.watches.isEmpty else { return false }
        let revision = service.book.revision
        var kept: [Service.Watch] = []
        for watch in connection.watches {
            if (watch.sinceRevision < revision || watch.deadline <= now) && connection.pendingOutput < Self.outputHighWater {
                connection.enqueue(service.answer(watch))
            } else {
                kept.append(watch)
            }
        }
        let answered = connection.watches.count - kept.count
        guard answered > 0 else { return false }
        connection.watches = kept
        connection.lastActivity = now
        Self.subtract(answered, from: &watchesByUID, uid: connection.caller.uid)
        if kept.isEmpty { watchers.remove(connection.token) }
        return true
    }

    private func answerWatches() {
        http?.answerParked(service: &service, facts: facts) { [publisher, reservationStore] service in
            Daemon.publish(&service, to: publisher, store: reservationStore)
        }
        // Read after the HTTP answers: requests queued behind a blocking read may have changed the book.
        let revision = service.book.revision
        guard revision != answeredRevision else { return }
        answeredRevision = revision
        let now = SystemClock.monotonicNanoseconds()
        for token in watchers {
            guard let connection = connections[token], answerDueWatches(connection, now: now) else { continue }
            settle(connection)
        }
    }

    /// Writes what a connection has queued and decides what it waits for next. A connection whose input
    /// ended closes once its replies are written; for stdio, the end of input ends the daemon, and watches
    /// still pending are answered as the daemon shuts down.
    private func settle(_ connection: Connection) {
        guard connection.flush(now: SystemClock.monotonicNanoseconds()) else { return close(connection, reason: "peer closed") }
        if connection.inputClosed && connection.pendingOutput == 0 && (connection.watches.isEmpty || connection === stdio) {
            return close(connection, reason: nil)
        }
        updateInterest(connection)
    }

    private func millisecondsUntilNextDeadline() -> Int32 {
        let now = SystemClock.monotonicNanoseconds()
        var next = now &+ Self.tickNanoseconds
        for token in watchers {
            for watch in connections[token]?.watches ?? [] where watch.deadline < next { next = watch.deadline }
        }
        if let deadline = http?.nextDeadline(), deadline < next { next = deadline }
        let wait = next > now ? next - now : 0
        return Int32((wait + 999_999) / 1_000_000)
    }

    // MARK: Housekeeping

    /// Gives back the time the loop did not run. Heartbeats sent meanwhile wait unread in socket buffers, so
    /// without this a SIGSTOP, a page-fault storm or one slow request longer than the TTL would evict every
    /// live server and drop clients for being slow. Deadlines move by the gap; the input is then read and
    /// the heartbeats counted before any eviction looks at them.
    private func creditStall() {
        let now = SystemClock.monotonicNanoseconds()
        let gap = now &- lastTurn
        lastTurn = now
        guard gap > Self.stallNanoseconds else { return }
        service.postponeDeadlines(by: gap)
        for connection in connections.values { connection.postpone(by: gap, now: now) }
        http?.postponeDeadlines(by: gap, now: now)
        Log.warning(
            "the loop did not run for \(Double(gap / 1_000_000) / 1000) s (stopped, or a request took that long); heartbeat and client deadlines moved by as much"
        )
    }

    private func housekeeping() {
        creditStall()
        let now = SystemClock.monotonicNanoseconds()
        expireWatches(now: now)
        guard now &- lastHousekeeping >= Self.tickNanoseconds else { return }
        lastHousekeeping = now
        publisher?.writer.beat()
        http?.expireSlowClients()
        if acceptPaused {
            acceptPaused = false
            try? epoll.modify(listenerFD, events: .readable, token: Token.listener)
        }
        let timestamp = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: now)
        for entry in service.evictExpired(now: timestamp) {
            Log.info(
                "evicted \(entry.id): no heartbeat for \(configuration.ttl) s (revision \(service.book.revision), \(service.counters.evictions) evictions in all)"
            )
        }
        let clientTimeout = UInt64(configuration.clientTimeout * 1e9)
        let idleTimeout = UInt64(configuration.idleTimeout * 1e9)
        for connection in Array(connections.values) where connection !== stdio {
            var reason: String?
            if connection.pendingOutput > 0 && now &- connection.lastWriteProgress > clientTimeout {
                reason = "did not read its replies for \(configuration.clientTimeout) s"
            } else if !connection.hasSentLine && now &- connection.openedAt > clientTimeout {
                reason = "sent no request within \(configuration.clientTimeout) s"
            } else if let since = connection.partialSince, connection.pendingOutput < Self.outputHighWater,
                now &- since > clientTimeout
            {
                // A line held back while the client's replies are unread is our pause, not its slowness.
                reason = "did not finish a request line within \(configuration.clientTimeout) s"
            } else if connection.watches.isEmpty && now &- connection.lastActivity > idleTimeout {
                reason = "idle for \(configuration.idleTimeout) s"
            }
            guard let reason else { continue }
            if connection.pendingOutput == 0 {
                connection.enqueue(service.reply(id: .null, error: HostessError(.timeout, "\(reason); closing the connection")))
                _ = connection.flush(now: now)
            }
            close(connection, reason: reason)
        }
    }

    private func expireWatches(now: UInt64) {
        for token in watchers {
            guard let connection = connections[token], connection.watches.contains(where: { $0.deadline <= now }),
                answerDueWatches(connection, now: now)
            else { continue }
            settle(connection)
        }
    }

    // MARK: Signals and shutdown

    private func handleSignals() {
        while let signal = try? Syscall.readSignal(signalFD) {
            switch signal {
            case SIGTERM, SIGINT:
                Log.info("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); shutting down")
                stopping = true
            default:
                Log.info("received signal \(signal); ignored (hostessd has no configuration to reload)")
            }
        }
    }

    private func shutdown() {
        if let http {
            http.shutdown(book: service.book)
            self.http = nil
            Log.info("stopped serving HTTP")
        }
        if let listener {
            self.listener = nil
            epoll.remove(listener.fd)
            let path = listener.path
            listener.close()
            Log.info("stopped accepting; removed \(path)")
        }
        if let publisher {
            publisher.writer.close()
            self.publisher = nil
            Log.info("closed and removed shared-memory region \(publisher.writer.name)")
        }
        let deadline = SystemClock.monotonicNanoseconds() &+ 1_000_000_000
        for connection in connections.values {
            for watch in connection.watches {
                connection.enqueue(service.reply(id: watch.requestID, error: HostessError(.unavailable, "hostessd is shutting down")))
            }
            connection.watches.removeAll()
        }
        // Give clients up to a second to take the replies to requests already handled.
        while connections.values.contains(where: { $0.pendingOutput > 0 }) && SystemClock.monotonicNanoseconds() < deadline {
            for connection in connections.values where connection.pendingOutput > 0 {
                if !connection.flush(now: SystemClock.monotonicNanoseconds()) { connection.output.discard() }
            }
            _ = try? epoll.wait(timeoutMilliseconds: 10)
        }
        for connection in Array(connections.values) where connection !== stdio {
            epoll.remove(connection.inputFD)
            Syscall.close(connection.inputFD)
        }
        connections.removeAll()
        Log.info("stopped (revision \(service.book.revision), \(service.book.count) entries)")
    }
}

// MARK: - DaemonError

/// Why hostessd could not start.
public enum DaemonError: Error, CustomStringConvertible {
    /// The socket could not be served.
    case listen(String)
    /// A syscall failed while setting up.
    case system(SystemError)

    public var description: String {
        switch self {
        case .listen(let message): message
        case .system(let error): "\(error)"
        }
    }
}
