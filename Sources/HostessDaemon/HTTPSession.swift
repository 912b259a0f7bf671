import HostessHTTP
import HostessLoop
import HostessModel
import HostessProbing
import HostessSystem

// MARK: - HTTPSession

/// One HTTP client: the ``HTTPServerFraming`` over its ``StreamChannel``, and a blocking read waiting, if any.
///
/// Requests are parsed with hard limits (414, 431, 413, 411) and a deadline for the whole request (408),
/// handled in order (pipelining works), and answered in full before the next is read. A blocking read parks
/// the session until the revision moves or its wait ends. A slow or broken client costs its own buffers.
final class HTTPSession: StreamChannelDelegate, LoopHandler, RevisionWaiter {
    /// What every HTTP session shares.
    final class Context {
        unowned let registry: Registry
        unowned let loop: Loop
        var authenticator: HTTPAuthenticator
        var metrics = HTTPMetrics()
        let authenticateReads: Bool
        /// Seconds, for the 408's message.
        let requestTimeout: Double
        let facts: () -> HTTPRouter.Facts

        init(
            registry: Registry, loop: Loop, authenticator: HTTPAuthenticator, authenticateReads: Bool, requestTimeout: Double,
            facts: @escaping () -> HTTPRouter.Facts
        ) {
            self.registry = registry
            self.loop = loop
            self.authenticator = authenticator
            self.authenticateReads = authenticateReads
            self.requestTimeout = requestTimeout
            self.facts = facts
        }
    }

    /// A blocking read (`?index=N`) waiting for the revision to pass `index`.
    private struct Parked {
        var head: Bool
        var endpoint: HTTPEndpoint
        var command: Command
        var index: UInt64
        var receivedAt: UInt64
        var timer: Loop.Timer
    }

    /// The id session-bound writes would be bound to; never reused.
    let id: UInt64
    /// The channel; it owns this session.
    weak var channel: StreamChannel?

    private let context: Context
    private let onClose: (HTTPSession) -> Void
    private var framing = HTTPServerFraming()
    private var parked: Parked?
    /// Whether a query across the mesh (`POST /query` with scope `remote` or `all`) is under way.
    private var awaitingRemote = false
    /// Whether a request waits: a blocking read, or a query across the mesh.
    private var waiting: Bool { parked != nil || awaitingRemote }
    /// Whether a request was answered (until then, the request deadline runs from the connect).
    private var hasRequested = false

    init(id: UInt64, context: Context, onClose: @escaping (HTTPSession) -> Void) {
        self.id = id
        self.context = context
        self.onClose = onClose
    }

    /// A short name for logs.
    var label: String { "http connection \(id - HTTPServer.firstID)" }

    private var registry: Registry { context.registry }
    private var now: UInt64 { context.loop.now }

    // MARK: Channel events

    func channelRead(_ channel: StreamChannel, received: Int) {
        if received > 0 {
            channel.deadlines.lastActivity = now
            // The request deadline runs from its first byte (until then, the first request's from the connect).
            if channel.deadlines.requestStartedAt == nil || (!hasRequested && channel.input.count == received) {
                channel.deadlines.requestStartedAt = now
            }
        }
        process(channel)
        registry.publishChanges()
        updateState(channel)
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) {
        switch deadline {
        case .idle, .write: channel.close(reason: nil)
        case .request:
            framing.closeAfterResponse()
            let error = HostessError(.timeout, "the request was not complete within \(context.requestTimeout) s")
            queue(HTTPRouter.failure(error, book: nil), on: channel, endpoint: .other, head: false, since: now)
            Log.info("\(label): request not complete within the request timeout; answered 408")
            channel.deadlines.requestStartedAt = nil
            updateState(channel)
        }
    }

    func channelClosed(_ channel: StreamChannel, reason: String?) {
        if let parked { context.loop.cancel(parked.timer) }
        parked = nil
        registry.setWaiting(self, false)
        if let reason, reason != "peer closed", reason != "peer hung up" { Log.info("\(label): \(reason); closed") }
        onClose(self)
    }

    // MARK: Requests

    /// Handles the complete requests buffered, in order, until one parks or the connection must close.
    private func process(_ channel: StreamChannel) {
        defer {
            channel.input.compact()
            if hasRequested && channel.input.isEmpty { channel.deadlines.requestStartedAt = nil }
        }
        while !waiting && !framing.closesAfterResponse && channel.pendingOutput < StreamChannel.outputHighWater {
            switch framing.next(in: &channel.input, inputEnded: channel.inputClosed) {
            case .incomplete(let sendContinue):
                if sendContinue { channel.enqueue { $0 += HTTPServerFraming.continueLine } }
                return
            case .truncated:
                // The client finished sending in the middle of a request: nothing to answer.
                return
            case .failure(let error):
                let body = JSONValue.object(["error": ["code": .string(error.code.rawValue), "message": .string(error.message)]])
                queue(HTTPResponse.json(error.status, body: body.jsonBytes), on: channel, endpoint: .other, head: false, since: now)
                Log.info("\(label): \(error); closing")
                return
            case .request(let request):
                channel.deadlines.requestStartedAt = channel.input.isEmpty ? nil : now
                hasRequested = true
                dispatch(request, on: channel)
            }
        }
    }

    /// Routes, authenticates and answers one request, or parks it.
    private func dispatch(_ request: HTTPRequest, on channel: StreamChannel) {
        let start = now
        let head = request.method == "HEAD"
        let endpoint: HTTPEndpoint
        let segments: [String]
        switch HTTPRouter.route(request, book: registry.service.book) {
        case .success(let routed): (endpoint, segments) = routed
        case .failure(let refusal): return queue(refusal.response, on: channel, endpoint: refusal.endpoint, head: head, since: start)
        }
        var caller: Caller?
        if HTTPRouter.isWrite(endpoint) || (context.authenticateReads && endpoint != .health) {
            switch context.authenticator.authenticate(
                authorization: request.header("authorization"), method: request.method, target: request.target, body: request.body,
                nowSeconds: SystemClock.wallMilliseconds() / 1000)
            {
            case .failure(let error):
                Log.info("\(label): \(request.method) \(request.path) refused: \(error.message)")
                return queue(HTTPRouter.failure(error, book: registry.service.book), on: channel, endpoint: endpoint, head: head, since: start)
            case .success(let key):
                caller = Caller(uid: HTTPRouter.remoteUID, ownerNames: key.owners, key: key.id)
            }
        }
        if endpoint == .probe { return probeFor(request, on: channel, since: start) }
        if endpoint == .query, case .query(let filter)? = try? HTTPRouter.command(endpoint, request: request, segments: segments), filter.scope != .local {
            return askAcross(filter, caller: caller ?? Caller(uid: HTTPRouter.remoteUID, ownerNames: []), on: channel, since: start)
        }
        if endpoint == .servers || endpoint == .server || endpoint == .peers, head || request.method == "GET" {
            return read(request, endpoint: endpoint, segments: segments, head: head, on: channel, since: start)
        }
        let timestamp = registry.now
        let facts = context.facts()
        let metrics = context.metrics
        let response = registry.change(by: "over HTTP by key owners \(caller?.ownerNames.sorted() ?? [])") { service in
            HTTPRouter.respond(
                endpoint, request: request, segments: segments, caller: caller, service: &service, connection: id, now: timestamp,
                facts: facts, metrics: metrics)
        }
        queue(response, on: channel, endpoint: endpoint, head: head, since: start)
    }

    /// Answers a guest-book read, or parks a blocking one (`?index=N`) until the revision passes N.
    private func read(_ request: HTTPRequest, endpoint: HTTPEndpoint, segments: [String], head: Bool, on channel: StreamChannel, since start: UInt64) {
        let command: Command
        let blocking: (index: UInt64, waitSeconds: Double)?
        do throws(HostessError) {
            let items = try HTTPRouter.queryItems(request)
            blocking = try HTTPRouter.blocking(items)
            // A request that will fail fails now, not after its wait.
            command = try HTTPRouter.readCommand(endpoint, segments: segments, items: items)
        } catch {
            return queue(HTTPRouter.failure(error, book: registry.service.book), on: channel, endpoint: endpoint, head: head, since: start)
        }
        guard let blocking, registry.service.book.revision <= blocking.index, blocking.waitSeconds > 0 else {
            return queue(HTTPRouter.read(endpoint, command, service: registry.service), on: channel, endpoint: endpoint, head: head, since: start)
        }
        // Jitter (up to wait/16) spreads the answers of many clients that started waiting together.
        let wait = blocking.waitSeconds * (1 + Double.random(in: 0...(1.0 / 16)))
        let timer = context.loop.schedule(at: start &+ UInt64(wait * 1e9), for: self)
        parked = Parked(head: head, endpoint: endpoint, command: command, index: blocking.index, receivedAt: start, timer: timer)
        registry.setWaiting(self, true)
    }

    /// Starts a query with scope `remote` or `all`; the requests pipelined behind it wait until it is answered.
    private func askAcross(_ filter: ServerFilter, caller: Caller, on channel: StreamChannel, since start: UInt64) {
        awaitingRemote = true
        updateState(channel)
        registry.across(.query(filter), caller: caller, connection: id) { [weak self] result in self?.answerAcross(result, endpoint: .query, since: start) }
    }

    /// `POST /probe` (phase 3): a peer asks this Hostess to probe its beacon. The probe goes only toward the
    /// address the request came from, so a key cannot turn this Hostess into a scanner of other machines;
    /// the answer is the probe's summary, when it ends.
    private func probeFor(_ request: HTTPRequest, on channel: StreamChannel, since start: UInt64) {
        let instructions: ProbeInstructions
        do throws(HostessError) {
            guard case .object(let object)? = try? JSONParser.parse(request.body) else { throw HostessError(.badRequest, "expected a JSON object") }
            do { instructions = try ProbeInstructions(json: object) } catch { throw HostessError(.badRequest, error.reason, field: error.field) }
            var source = Syscall.peerAddress(channel.inputFD)?.host ?? "?"
            if source.hasPrefix("::ffff:") { source = String(source.dropFirst(7)) }
            guard instructions.targets == [source] else {
                throw HostessError(
                    .forbidden, "a probe runs only toward the address the request came from (\(source)), not \(instructions.targets.joined(separator: ", "))",
                    field: "targets")
            }
        } catch {
            return queue(HTTPRouter.failure(error, book: registry.service.book), on: channel, endpoint: .probe, head: false, since: start)
        }
        awaitingRemote = true
        updateState(channel)
        registry.probe(for: instructions) { [weak self] result in self?.answerAcross(result.map(JSONValue.object), endpoint: .probe, since: start) }
    }

    private func answerAcross(_ result: Result<JSONValue, HostessError>, endpoint: HTTPEndpoint, since start: UInt64) {
        awaitingRemote = false
        guard let channel, !channel.isClosed else { return }
        let response =
            switch result {
            case .success(let answer): HTTPResponse.json(.ok, body: answer.jsonBytes)
            case .failure(let error): HTTPRouter.failure(error, book: registry.service.book)
            }
        queue(response, on: channel, endpoint: endpoint, head: false, since: start)
        updateState(channel)
        process(channel)
        updateState(channel)
        channel.settle()
    }

    /// Queues a response and counts it in the metrics.
    private func queue(_ response: HTTPResponse, on channel: StreamChannel, endpoint: HTTPEndpoint, head: Bool, since start: UInt64) {
        channel.enqueue { framing.frame(response, head: head, into: &$0) }
        context.metrics.record(endpoint, status: response.status.code, seconds: Double(now &- start) / 1e9)
    }

    /// Tells the channel what the session waits for: while a read is parked, only the client hanging up
    /// (which closes it); otherwise the next request, or the end once the response is written.
    private func updateState(_ channel: StreamChannel) {
        channel.pausesInput = waiting
        channel.deadlines.isWaiting = waiting
        if waiting {
            channel.deadlines.requestStartedAt = nil
            // A client that hung up while its blocking read waits will not read the answer.
            if channel.inputClosed { channel.close(reason: "peer hung up") }
            return
        }
        channel.closesWhenFlushed = framing.closesAfterResponse || channel.inputClosed
    }

    // MARK: Blocking reads

    func revisionMoved() {
        guard let parked, registry.service.book.revision > parked.index else { return }
        answerParked()
    }

    /// The blocking read's wait ended.
    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event, parked != nil else { return }
        answerParked()
    }

    /// Answers the parked read with the book as it is, then carries on with the requests pipelined behind it.
    private func answerParked() {
        guard let waited = parked, let channel else { return }
        context.loop.cancel(waited.timer)
        parked = nil
        registry.setWaiting(self, false)
        queue(HTTPRouter.read(waited.endpoint, waited.command, service: registry.service), on: channel, endpoint: waited.endpoint, head: waited.head, since: waited.receivedAt)
        process(channel)
        registry.publishChanges()
        updateState(channel)
        channel.settle()
    }

    /// Answers a waiting read with the book as it is, writes what can be written at once, and closes.
    func shutDown() {
        guard let channel else { return }
        if let waited = parked {
            context.loop.cancel(waited.timer)
            parked = nil
            framing.closeAfterResponse()
            queue(HTTPRouter.read(waited.endpoint, waited.command, service: registry.service), on: channel, endpoint: waited.endpoint, head: waited.head, since: waited.receivedAt)
        }
        channel.close(reason: nil)
    }
}
