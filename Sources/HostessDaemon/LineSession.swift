import HostessLoop
import HostessModel
import HostessSystem

// MARK: - LineSession

/// One client of the line protocol, on a Unix socket or stdin/stdout: the ``LineFraming`` over its
/// ``StreamChannel``, its kernel-reported identity, and its watches waiting for the revision to move.
///
/// Requests are handled in the order they arrive, until the client's unread replies pass the channel's
/// high-water mark; the rest wait in its buffer until it reads.
final class LineSession: StreamChannelDelegate, LoopHandler, RevisionWaiter {
    /// The id entries and reservations bound to this session are bound to; never reused.
    let id: UInt64
    /// Who the kernel says the peer is.
    let caller: Caller
    /// The peer's pid, for logs.
    let pid: Int32
    /// Whether this is the stdin/stdout session, whose end ends the daemon.
    let isStdio: Bool
    /// The channel; it owns this session.
    weak var channel: StreamChannel?
    /// Set at shutdown: requests still buffered are not handled.
    var isShuttingDown = false

    private unowned let registry: Registry
    private unowned let loop: Loop
    private let onClose: (LineSession) -> Void
    private let clientTimeout: Double
    private let idleTimeout: Double
    private var framing = LineFraming()
    private var watches: [Service.Watch] = []
    /// Requests across the mesh under way for this connection (at most ``maximumAcrossRequests``).
    private var acrossRequests = 0
    /// Requests across the mesh (queries with scope `remote` or `all`, forwarded terminal changes, remote
    /// reservations) one connection may have under way at once.
    static let maximumAcrossRequests = 16
    private var watchTimer: Loop.Timer?
    /// Whether a request (not a blank line) arrived.
    private var hasSentLine = false
    /// When the partial line buffered started arriving.
    private var partialSince: UInt64?

    init(
        id: UInt64, caller: Caller, pid: Int32, isStdio: Bool, configuration: Configuration, registry: Registry, loop: Loop,
        onClose: @escaping (LineSession) -> Void
    ) {
        self.id = id
        self.caller = caller
        self.pid = pid
        self.isStdio = isStdio
        self.registry = registry
        self.loop = loop
        self.onClose = onClose
        clientTimeout = configuration.clientTimeout
        idleTimeout = configuration.idleTimeout
    }

    /// A short name for logs.
    var label: String { isStdio ? "stdio" : "connection \(id) (uid \(caller.uid), pid \(pid))" }

    /// The channel's timeouts for a socket client.
    static func timeouts(_ configuration: Configuration) -> StreamDeadlines.Timeouts {
        let client = UInt64(configuration.clientTimeout * 1e9)
        return StreamDeadlines.Timeouts(request: client, idle: UInt64(configuration.idleTimeout * 1e9), write: client)
    }

    // MARK: Channel events

    func channelRead(_ channel: StreamChannel, received: Int) {
        guard !isShuttingDown else { return }
        handleLines(channel)
        registry.publishChanges()
        // Watches held back by the high-water mark are answered as the client reads.
        answerDueWatches(channel)
        updateState(channel)
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) {
        let reason =
            switch deadline {
            case .request: hasSentLine ? "did not finish a request line within \(clientTimeout) s" : "sent no request within \(clientTimeout) s"
            case .idle: "idle for \(idleTimeout) s"
            case .write: "did not read its replies for \(clientTimeout) s"
            }
        enqueue(registry.service.reply(id: .null, error: HostessError(.timeout, "\(reason); closing the connection")), on: channel)
        channel.close(reason: reason)
    }

    func channelClosed(_ channel: StreamChannel, reason: String?) {
        if let watchTimer { loop.cancel(watchTimer) }
        watchTimer = nil
        registry.setWaiting(self, false)
        registry.releaseWatches(watches.count, uid: caller.uid)
        if let reason { Log.info("closed \(label): \(reason)") }
        registry.endSession(connection: id)
        if isStdio {
            // End of input ends the daemon; watches still waiting learn why.
            for watch in watches {
                enqueue(registry.service.reply(id: watch.requestID, error: HostessError(.unavailable, "hostessd is shutting down")), on: channel)
            }
            loop.stop()
        }
        watches.removeAll()
        onClose(self)
    }

    // MARK: Requests

    /// Handles the complete lines buffered, until the client's unread replies pass the high-water mark.
    private func handleLines(_ channel: StreamChannel) {
        defer { channel.input.compact() }
        while channel.pendingOutput < StreamChannel.outputHighWater {
            switch framing.next(in: &channel.input, inputEnded: channel.inputClosed) {
            case .incomplete:
                // The deadline for a partial line runs from when its first byte was seen.
                partialSince = channel.input.isEmpty ? nil : (partialSince ?? loop.now)
                return
            case .tooLong:
                enqueue(
                    registry.service.reply(
                        id: .null, error: HostessError(.tooLarge, "a request line is at most \(Limits.lineBytes) bytes; closing the connection")),
                    on: channel)
                channel.input.removeAll()
                framing.reset()
                channel.closesWhenFlushed = true
                Log.warning("\(label): request line over \(Limits.lineBytes) bytes; closing")
                return
            case .line(let line):
                partialSince = nil
                // A blank line is no request: it neither counts as the first one nor keeps the connection alive.
                if LineFraming.isBlank(line) { continue }
                hasSentLine = true
                channel.deadlines.lastActivity = loop.now
                switch registry.handle(line: line, caller: caller, connection: id) {
                case .reply(let reply): enqueue(reply, on: channel)
                case .raw(let bytes):
                    channel.enqueue { output in
                        output += bytes
                        output.append(0x0A)
                    }
                case .park(let watch): park(watch, on: channel)
                case .remote(let requestID, let across): askAcross(requestID, across, on: channel)
                }
            }
        }
    }

    private func enqueue(_ reply: JSONValue, on channel: StreamChannel) {
        channel.enqueue { LineFraming.frame(reply, into: &$0) }
    }

    /// Tells the channel what the session waits for: the first request or the rest of a line (the request
    /// deadline), watches (no idle deadline), and whether it is done once its replies are written.
    private func updateState(_ channel: StreamChannel) {
        channel.deadlines.requestStartedAt = hasSentLine ? partialSince : channel.deadlines.openedAt
        channel.deadlines.isWaiting = !watches.isEmpty || acrossRequests > 0
        // A half-closed peer with a watch or a query across the mesh pending keeps its connection (out of epoll)
        // until the answer.
        channel.closesWhenFlushed = channel.closesWhenFlushed || (channel.inputClosed && ((watches.isEmpty && acrossRequests == 0) || isStdio))
    }

    // MARK: Queries across the mesh

    /// Starts work across the mesh (a query with scope `remote` or `all`, a forwarded terminal change, a
    /// remote reservation); its reply (with its request id) comes when the peers answered or their deadline
    /// passed, after replies to later requests if those are quicker.
    private func askAcross(_ requestID: JSONValue, _ across: Service.Across, on channel: StreamChannel) {
        guard acrossRequests < Self.maximumAcrossRequests else {
            let error = HostessError(.capacity, "\(acrossRequests) requests across the mesh are under way on this connection, the most one may have")
            return enqueue(registry.service.reply(id: requestID, error: error), on: channel)
        }
        acrossRequests += 1
        registry.across(across, caller: caller, connection: id) { [weak self] result in self?.answerAcross(requestID, result) }
    }

    private func answerAcross(_ requestID: JSONValue, _ result: Result<JSONValue, HostessError>) {
        acrossRequests -= 1
        guard let channel, !channel.isClosed else { return }
        switch result {
        case .success(let answer): enqueue(registry.service.reply(id: requestID, result: answer), on: channel)
        case .failure(let error): enqueue(registry.service.reply(id: requestID, error: error), on: channel)
        }
        updateState(channel)
        channel.settle()
    }

    // MARK: Watches

    /// Parks a watch, or refuses it when this connection or its uid already has as many waiting as allowed.
    private func park(_ watch: Service.Watch, on channel: StreamChannel) {
        if let refusal = registry.admitWatch(caller: caller, waiting: watches.count) {
            return enqueue(registry.service.reply(id: watch.requestID, error: HostessError(.capacity, refusal, field: "command")), on: channel)
        }
        watches.append(watch)
        registry.setWaiting(self, true)
        scheduleWatchTimer()
    }

    func revisionMoved() {
        guard let channel, answerDueWatches(channel) else { return }
        updateState(channel)
        channel.settle()
    }

    /// A watch's wait ended.
    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event else { return }
        watchTimer = nil
        guard let channel else { return }
        if answerDueWatches(channel) { updateState(channel) }
        scheduleWatchTimer()
        channel.settle()
    }

    /// Answers the watches that are due (the revision passed, or the wait ended), in order, while the
    /// client's unread output stays under the high-water mark; the rest wait until it reads.
    /// - Returns: whether any was answered.
    @discardableResult
    private func answerDueWatches(_ channel: StreamChannel) -> Bool {
        guard !watches.isEmpty else { return false }
        let revision = registry.service.book.revision
        let now = loop.now
        var kept: [Service.Watch] = []
        for watch in watches {
            if (watch.sinceRevision < revision || watch.deadline <= now) && channel.pendingOutput < StreamChannel.outputHighWater {
                enqueue(registry.service.answer(watch), on: channel)
            } else {
                kept.append(watch)
            }
        }
        let answered = watches.count - kept.count
        guard answered > 0 else { return false }
        watches = kept
        channel.deadlines.lastActivity = now
        registry.releaseWatches(answered, uid: caller.uid)
        if kept.isEmpty { registry.setWaiting(self, false) }
        scheduleWatchTimer()
        return true
    }

    /// Keeps one loop deadline at the earliest watch's.
    private func scheduleWatchTimer() {
        guard let earliest = watches.map(\.deadline).min() else {
            if let watchTimer { loop.cancel(watchTimer) }
            watchTimer = nil
            return
        }
        if let watchTimer, loop.reschedule(watchTimer, to: earliest) { return }
        watchTimer = loop.schedule(at: earliest, for: self)
    }

    /// Answers every waiting watch with the shutdown, and takes no more requests.
    func shutDown() {
        isShuttingDown = true
        guard let channel else { return }
        for watch in watches {
            enqueue(registry.service.reply(id: watch.requestID, error: HostessError(.unavailable, "hostessd is shutting down")), on: channel)
        }
        registry.releaseWatches(watches.count, uid: caller.uid)
        watches.removeAll()
        registry.setWaiting(self, false)
        channel.closesWhenFlushed = true
        channel.settle()
    }
}
