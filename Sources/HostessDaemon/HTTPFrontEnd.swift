import Glibc
import HostessHTTP
import HostessModel
import HostessSystem

// MARK: - HTTPConnection

/// One HTTP client: its buffers, the request being received, and a blocking read waiting, if any.
final class HTTPConnection {
    /// A blocking read (`?index=N`) waiting for the revision to pass `index`.
    struct Parked {
        var request: HTTPRequest
        var endpoint: HTTPEndpoint
        var command: Command
        var index: UInt64
        var deadline: UInt64
        var receivedAt: UInt64
    }

    let token: UInt64
    let fd: Int32
    let peer: String
    var openedAt: UInt64
    var input: [UInt8] = []
    var parser = HTTPRequestParser()
    var output = OutputBuffer()
    /// When the first byte of the request being received arrived; nil between requests.
    var requestStartedAt: UInt64?
    /// Whether a request has been answered (until then, the request timeout runs from the connect).
    var hasRequested = false
    var lastActivity: UInt64
    var lastWriteProgress: UInt64
    /// Close once the output is written (a `Connection: close` answer or an unrecoverable request error).
    var closeAfterWrite = false
    var inputClosed = false
    var parked: Parked?
    var interest: Epoll.Events = .readable
    /// Whether the request being received was checked for `Expect: 100-continue` (once its header block is in).
    var continueDecided = false
    /// How far into the request being received the end of its header block was looked for.
    var headerSearchedTo = 0
    /// Whether answers on this connection say `Connection: keep-alive` (an HTTP/1.0 client that asked for it).
    var announceKeepAlive = false

    init(token: UInt64, fd: Int32, peer: String, now: UInt64) {
        self.token = token
        self.fd = fd
        self.peer = peer
        openedAt = now
        lastActivity = now
        lastWriteProgress = now
    }

    var pendingOutput: Int { output.pending }

    /// Writes what the socket takes without blocking. Returns false when the peer is gone.
    func flush(now: UInt64) -> Bool {
        guard let progressed = output.flush(to: fd, socket: true) else { return false }
        if progressed { lastWriteProgress = now }
        return true
    }
}

// MARK: - HTTPFrontEnd

/// hostessd's HTTP interface, served on the daemon's epoll loop next to the Unix socket.
///
/// Each connection is read without blocking; requests are parsed with hard limits (414, 431, 413, 411) and a
/// deadline for the whole request (408), handled in order (pipelining works), and answered in full before the
/// next is read. A blocking read parks its connection until the revision moves or its wait ends. A slow or
/// broken client costs its own buffers and nothing else.
final class HTTPFrontEnd {
    /// Tokens of HTTP connections in the daemon's epoll set start here, far from the Unix socket's.
    static let firstToken: UInt64 = 1 << 62
    /// Unwritten response bytes above which a connection's further requests wait for it to read.
    static let outputHighWater = 1 << 20
    /// Seconds a kept-alive connection may sit between requests.
    static let keepAliveSeconds = 60.0
    /// Bytes buffered from one client beyond which it is not read: more than the largest request the
    /// parser accepts (empty lines, request line, header block, body), so a request is always complete or
    /// refused before the buffer fills.
    static let inputLimit: Int = {
        let limits = HTTPRequestParser.Limits()
        return limits.requestLine * 2 + limits.headerBlock + limits.body + 65536
    }()

    let listenerFD: Int32
    let listenerToken: UInt64
    /// The address served, with the port the kernel chose for port 0.
    let boundAddress: String
    private let epoll: Epoll
    private let maxConnections: Int
    private let requestTimeout: UInt64
    private let authenticateReads: Bool
    private var connections: [UInt64: HTTPConnection] = [:]
    /// Connections with a blocking read waiting.
    private var parkedTokens: Set<UInt64> = []
    private var nextToken = HTTPFrontEnd.firstToken
    private var authenticator: HTTPAuthenticator
    private var metrics = HTTPMetrics()
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    /// Set when accepting failed (out of descriptors): the listener is not watched until the next housekeeping.
    private var acceptPaused = false

    /// Binds and listens on `configuration.httpAddress`.
    init(configuration: Configuration, address text: String, keys: HTTPKeys, epoll: Epoll, listenerToken: UInt64) throws(DaemonError) {
        let address: InternetSocketAddress
        do { address = try InternetSocketAddress(parsing: text, passive: true) } catch { throw .listen("--http \(text): \(error.call)") }
        do { listenerFD = try Syscall.tcpListener(address) } catch {
            throw .listen("--http \(text): cannot listen: \(error)")
        }
        let port = (try? Syscall.localPort(listenerFD)) ?? address.port
        boundAddress = address.family == AF_INET6 ? "[\(address.host)]:\(port)" : "\(address.host):\(port)"
        self.epoll = epoll
        self.listenerToken = listenerToken
        maxConnections = configuration.httpMaxConnections
        requestTimeout = UInt64(configuration.httpRequestTimeout * 1e9)
        authenticateReads = configuration.httpAuthenticateReads
        authenticator = HTTPAuthenticator(keys: keys)
        do { try epoll.add(listenerFD, events: .readable, token: listenerToken) } catch {
            Syscall.close(listenerFD)
            throw .system(error)
        }
    }

    /// Open HTTP connections.
    var connectionCount: Int { connections.count }

    /// Whether `token` names one of this front end's connections.
    func owns(_ token: UInt64) -> Bool { token >= Self.firstToken }

    // MARK: Accepting

    /// Accepts waiting connections (a bounded number per call, for fairness).
    func acceptConnections() {
        for _ in 0..<256 {
            let fd: Int32
            do {
                guard let accepted = try Syscall.accept(listenerFD) else { return }
                fd = accepted
            } catch {
                // Out of descriptors (EMFILE/ENFILE) or another failure: stop watching the listener until the
                // next housekeeping pass instead of spinning on a listener that stays readable.
                Log.warning("http accept: \(error); pausing new HTTP connections until the next housekeeping pass")
                acceptPaused = true
                try? epoll.modify(listenerFD, events: [], token: listenerToken)
                return
            }
            let now = SystemClock.monotonicNanoseconds()
            guard connections.count < maxConnections else {
                let refusal = HTTPRouter.failure(
                    HostessError(.unavailable, "hostessd serves at most \(maxConnections) HTTP connections; try again later"), book: nil)
                var response = refusal
                response.headers.append(HTTPHeader(name: "Connection", value: "close"))
                // Best effort, without waiting: the refusal fits any socket buffer.
                response.serialized().withUnsafeBytes { raw in
                    if let base = raw.baseAddress { _ = try? Syscall.write(fd, from: base, count: raw.count, socket: true) }
                }
                Syscall.close(fd)
                metrics.record(.other, status: 503, seconds: 0)
                continue
            }
            Syscall.setNoDelay(fd)
            let connection = HTTPConnection(token: nextToken, fd: fd, peer: "http connection \(nextToken - Self.firstToken)", now: now)
            nextToken += 1
            do { try epoll.add(fd, events: .readable, token: connection.token) } catch {
                Syscall.close(fd)
                continue
            }
            connections[connection.token] = connection
        }
    }

    // MARK: Serving

    /// Serves a connection epoll reported: reads, handles complete requests, publishes, writes.
    func handle(token: UInt64, events: Epoll.Events, service: inout Service, facts: HTTPRouter.Facts, publish: (inout Service) -> Void) {
        guard let connection = connections[token] else { return }
        let now = SystemClock.monotonicNanoseconds()
        // While a blocking read waits, only a hang-up is watched for: the client will not read the answer.
        if connection.parked != nil && !events.isDisjoint(with: [.hangup, .closed]) { return close(connection) }
        if !events.isDisjoint(with: [.readable, .hangup, .closed]) && !connection.inputClosed {
            guard read(connection, now: now) else { return close(connection) }
        }
        process(connection, service: &service, facts: facts, now: now)
        publish(&service)
        settle(connection)
    }

    private func read(_ connection: HTTPConnection, now: UInt64) -> Bool {
        // A connection with answers unread, or with a request waiting, is not read further (its kernel buffer
        // pushes back on the client) beyond what one more request may take.
        guard connection.pendingOutput < Self.outputHighWater, connection.input.count < Self.inputLimit else { return true }
        for _ in 0..<4 {
            let result = readBuffer.withUnsafeMutableBytes { raw -> Result<Int?, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try Syscall.read(connection.fd, into: base, count: raw.count) }
            }
            switch result {
            case .failure: return false
            case .success(nil): return true
            case .success(0):
                connection.inputClosed = true
                return true
            case .success(let count?):
                connection.input.append(contentsOf: readBuffer[..<count])
                connection.lastActivity = now
                if connection.requestStartedAt == nil { connection.requestStartedAt = now }
                if count < readBuffer.count { return true }
            }
        }
        return true
    }

    /// Handles the complete requests buffered, in order, until one parks or must close the connection.
    private func process(_ connection: HTTPConnection, service: inout Service, facts: HTTPRouter.Facts, now: UInt64) {
        var consumed = 0
        defer {
            if consumed > 0 { connection.input.removeSubrange(..<consumed) }
            if connection.input.isEmpty { connection.requestStartedAt = nil }
        }
        while connection.parked == nil && !connection.closeAfterWrite && connection.pendingOutput < Self.outputHighWater {
            guard consumed < connection.input.count else { return }
            switch connection.parser.parse(connection.input, from: consumed) {
            case .incomplete:
                if connection.inputClosed && consumed < connection.input.count {
                    // The client finished sending in the middle of a request: nothing to answer.
                    connection.closeAfterWrite = true
                } else if !connection.continueDecided {
                    decideContinue(connection, request: connection.input[consumed...])
                }
                return
            case .failure(let error):
                let body = JSONValue.object(["error": ["code": .string(error.code.rawValue), "message": .string(error.message)]])
                var response = HTTPResponse.json(error.status, body: body.jsonBytes)
                response.headers.append(HTTPHeader(name: "Connection", value: "close"))
                queue(response, on: connection, endpoint: .other, head: false, since: now)
                connection.closeAfterWrite = true
                consumed = connection.input.count
                Log.info("\(connection.peer): \(error); closing")
                return
            case .request(let request, let length):
                consumed += length
                connection.continueDecided = false
                connection.headerSearchedTo = 0
                connection.parser.reset()
                connection.requestStartedAt = consumed < connection.input.count ? now : nil
                connection.hasRequested = true
                dispatch(request, on: connection, service: &service, facts: facts, now: now)
            }
        }
    }

    /// Once the header block of the request being received is in (and the parser has not refused it), sends
    /// `100 Continue` when an HTTP/1.1 request asks for it: curl does for larger bodies and otherwise waits a
    /// second. Each byte is searched once, however slowly the request arrives.
    private func decideContinue(_ connection: HTTPConnection, request bytes: ArraySlice<UInt8>) {
        let end: [UInt8] = [13, 10, 13, 10]
        var index = bytes.startIndex + max(0, connection.headerSearchedTo - 3)
        while index + 4 <= bytes.endIndex {
            if bytes[index] == 13 && bytes[index..<(index + 4)].elementsEqual(end) {
                connection.continueDecided = true
                if Self.expectsContinue(head: bytes[..<index]) {
                    connection.output.append { $0 += Array("HTTP/1.1 100 Continue\r\n\r\n".utf8) }
                }
                return
            }
            index += 1
        }
        connection.headerSearchedTo = bytes.count
    }

    /// Whether a header block asks for `Expect: 100-continue` in an HTTP/1.1 request. An HTTP/1.0 request's
    /// expectation is ignored (RFC 9110 §10.1.1).
    static func expectsContinue(head bytes: ArraySlice<UInt8>) -> Bool {
        let head = String(decoding: bytes, as: UTF8.self).lowercased()
        // ("\r\n" is one Character in Swift: cut the request line on the bytes.)
        let requestLine = head.utf8.prefix { $0 != 13 }
        guard requestLine.suffix(9).elementsEqual(" http/1.1".utf8) else { return false }
        return head.contains("\r\nexpect: 100-continue") || head.contains("\r\nexpect:100-continue")
    }

    /// Routes, authenticates and answers one request, or parks it.
    private func dispatch(_ request: HTTPRequest, on connection: HTTPConnection, service: inout Service, facts: HTTPRouter.Facts, now: UInt64) {
        let head = request.method == "HEAD"
        let method = head ? "GET" : request.method
        if !request.keepAlive { connection.closeAfterWrite = true }
        // HTTP/1.0 closes by default: a 1.0 client that asked to keep the connection is told it is kept.
        connection.announceKeepAlive = request.version == .http1_0 && request.keepAlive
        let endpoint: HTTPEndpoint
        let segments: [String]
        switch HTTPRouter.route(request, book: service.book) {
        case .success(let routed): (endpoint, segments) = routed
        case .failure(let refusal): return queue(refusal.response, on: connection, endpoint: refusal.endpoint, head: head, since: now)
        }
        var caller: Caller?
        if HTTPRouter.isWrite(endpoint) || (authenticateReads && endpoint != .health) {
            switch authenticator.authenticate(
                authorization: request.header("authorization"), method: request.method, target: request.target, body: request.body,
                nowSeconds: SystemClock.wallMilliseconds() / 1000)
            {
            case .failure(let error):
                Log.info("\(connection.peer): \(request.method) \(request.path) refused: \(error.message)")
                return queue(HTTPRouter.failure(error, book: service.book), on: connection, endpoint: endpoint, head: head, since: now)
            case .success(let key):
                caller = Caller(uid: HTTPRouter.remoteUID, ownerNames: key.owners, key: key.id)
            }
        }
        if endpoint == .servers || endpoint == .server, method == "GET" {
            let command: Command
            let blocking: (index: UInt64, waitSeconds: Double)?
            do throws(HostessError) {
                let items = try HTTPRouter.queryItems(request)
                blocking = try HTTPRouter.blocking(items)
                // A request that will fail fails now, not after its wait.
                command = try HTTPRouter.readCommand(endpoint, segments: segments, items: items)
            } catch {
                return queue(HTTPRouter.failure(error, book: service.book), on: connection, endpoint: endpoint, head: head, since: now)
            }
            if let blocking, service.book.revision <= blocking.index, blocking.waitSeconds > 0 {
                // Jitter (up to wait/16) spreads the answers of many clients that started waiting together.
                let wait = blocking.waitSeconds * (1 + Double.random(in: 0...(1.0 / 16)))
                parkedTokens.insert(connection.token)
                connection.parked = HTTPConnection.Parked(
                    request: request, endpoint: endpoint, command: command, index: blocking.index,
                    deadline: now &+ UInt64(wait * 1e9), receivedAt: now)
                return
            }
            return queue(HTTPRouter.read(endpoint, command, book: service.book), on: connection, endpoint: endpoint, head: head, since: now)
        }
        let before = service.book.revision
        let timestamp = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: now)
        let response = HTTPRouter.respond(
            endpoint, request: request, segments: segments, caller: caller, service: &service, connection: connection.token, now: timestamp,
            facts: facts, metrics: metrics)
        if service.book.revision != before, let changes = service.book.changes(since: before) {
            for change in changes where change.kind != .terminals && change.kind != .hold {
                Log.info("\(change.kind.rawValue) \(change.id) over HTTP by key owners \(caller?.ownerNames.sorted() ?? []) (revision \(change.revision))")
            }
        }
        queue(response, on: connection, endpoint: endpoint, head: head, since: now)
    }

    /// Queues a response, marking it `Connection: close` when the connection ends after it.
    private func queue(_ response: HTTPResponse, on connection: HTTPConnection, endpoint: HTTPEndpoint, head: Bool, since start: UInt64) {
        var response = response
        if connection.closeAfterWrite && response.header("connection") == nil {
            response.headers.append(HTTPHeader(name: "Connection", value: "close"))
        } else if connection.announceKeepAlive && response.header("connection") == nil {
            response.headers.append(HTTPHeader(name: "Connection", value: "keep-alive"))
        }
        connection.output.append { $0 += response.serialized(includeBody: !head) }
        metrics.record(endpoint, status: response.status.code, seconds: Double(SystemClock.monotonicNanoseconds() &- start) / 1e9)
    }

    /// Writes, then closes or re-arms the connection.
    private func settle(_ connection: HTTPConnection) {
        guard connections[connection.token] != nil else { return }
        guard connection.flush(now: SystemClock.monotonicNanoseconds()) else { return close(connection) }
        if connection.pendingOutput == 0 && connection.parked == nil && (connection.closeAfterWrite || connection.inputClosed) {
            return close(connection)
        }
        // A client that hung up while its blocking read waits will not read the answer.
        if connection.parked != nil && connection.inputClosed { return close(connection) }
        var interest: Epoll.Events = []
        if connection.parked != nil {
            interest.insert(.hangup)
        } else if !connection.inputClosed && !connection.closeAfterWrite && connection.pendingOutput < Self.outputHighWater
            && connection.input.count < Self.inputLimit
        {
            interest.insert(.readable)
        }
        if connection.pendingOutput > 0 { interest.insert(.writable) }
        guard interest != connection.interest else { return }
        do {
            try epoll.change(connection.fd, from: connection.interest, to: interest, token: connection.token)
            connection.interest = interest
        } catch {
            close(connection)
        }
    }

    private func close(_ connection: HTTPConnection) {
        guard connections.removeValue(forKey: connection.token) != nil else { return }
        parkedTokens.remove(connection.token)
        if !connection.interest.isEmpty { epoll.remove(connection.fd) }
        Syscall.close(connection.fd)
    }

    // MARK: Blocking reads and deadlines

    /// Answers the blocking reads whose revision passed or whose wait ended, then carries on with the
    /// requests their connections pipelined behind them.
    func answerParked(service: inout Service, facts: HTTPRouter.Facts, publish: (inout Service) -> Void) {
        guard !parkedTokens.isEmpty else { return }
        let now = SystemClock.monotonicNanoseconds()
        for token in parkedTokens {
            guard let connection = connections[token], let parked = connection.parked else {
                parkedTokens.remove(token)
                continue
            }
            guard service.book.revision > parked.index || parked.deadline <= now else { continue }
            connection.parked = nil
            parkedTokens.remove(token)
            let response = HTTPRouter.read(parked.endpoint, parked.command, book: service.book)
            queue(response, on: connection, endpoint: parked.endpoint, head: parked.request.method == "HEAD", since: parked.receivedAt)
            process(connection, service: &service, facts: facts, now: now)
            publish(&service)
            settle(connection)
        }
    }

    /// The earliest blocking-read deadline, for the loop's wait.
    func nextDeadline() -> UInt64? {
        parkedTokens.compactMap { connections[$0]?.parked?.deadline }.min()
    }

    /// Moves every client's request, write and keep-alive deadlines later by the time the loop did not run,
    /// never past `now`.
    func postponeDeadlines(by nanoseconds: UInt64, now: UInt64) {
        for connection in connections.values {
            connection.openedAt = min(connection.openedAt &+ nanoseconds, now)
            connection.requestStartedAt = connection.requestStartedAt.map { min($0 &+ nanoseconds, now) }
            connection.lastActivity = min(connection.lastActivity &+ nanoseconds, now)
            connection.lastWriteProgress = min(connection.lastWriteProgress &+ nanoseconds, now)
        }
    }

    /// Closes connections that took too long to send a request (408), to read their answers, or that sat idle.
    func expireSlowClients() {
        let now = SystemClock.monotonicNanoseconds()
        if acceptPaused {
            acceptPaused = false
            try? epoll.modify(listenerFD, events: .readable, token: listenerToken)
        }
        let keepAlive = UInt64(Self.keepAliveSeconds * 1e9)
        for connection in Array(connections.values) where connection.parked == nil {
            if connection.pendingOutput > 0 {
                if now &- connection.lastWriteProgress > requestTimeout {
                    Log.info("\(connection.peer): did not read its answer within the request timeout; closing")
                    close(connection)
                }
                continue
            }
            let started = connection.requestStartedAt ?? (connection.hasRequested ? nil : connection.openedAt)
            if let started, now &- started > requestTimeout {
                var response = HTTPRouter.failure(
                    HostessError(.timeout, "the request was not complete within \(Double(requestTimeout) / 1e9) s"), book: nil)
                response.headers.append(HTTPHeader(name: "Connection", value: "close"))
                connection.closeAfterWrite = true
                queue(response, on: connection, endpoint: .other, head: false, since: now)
                Log.info("\(connection.peer): request not complete within the request timeout; answered 408")
                settle(connection)
            } else if started == nil && now &- connection.lastActivity > keepAlive {
                close(connection)
            }
        }
    }

    /// Answers waiting reads with the book as it is, writes what can be written, and closes everything.
    func shutdown(book: GuestBook) {
        epoll.remove(listenerFD)
        Syscall.close(listenerFD)
        for connection in connections.values {
            if let parked = connection.parked {
                connection.parked = nil
                connection.closeAfterWrite = true
                queue(
                    HTTPRouter.read(parked.endpoint, parked.command, book: book), on: connection,
                    endpoint: parked.endpoint, head: parked.request.method == "HEAD", since: parked.receivedAt)
            }
            _ = connection.flush(now: SystemClock.monotonicNanoseconds())
            if !connection.interest.isEmpty { epoll.remove(connection.fd) }
            Syscall.close(connection.fd)
        }
        connections.removeAll()
    }
}
