import Glibc
import HostessHTTP
import HostessLoop
import HostessModel
import HostessSystem

// MARK: - HTTPServer

/// hostessd's HTTP interface: a TCP listener on the daemon's loop, its ``Acceptor`` (at most
/// `--http-max-connections`, refused with a 503), and the ``HTTPSession`` of each client.
final class HTTPServer: AcceptorDelegate {
    /// Ids of HTTP sessions start here, far from the line protocol's.
    static let firstID: UInt64 = 1 << 62
    /// Seconds a kept-alive connection may sit between requests.
    static let keepAliveSeconds = 60.0

    /// The address served, with the port the kernel chose for port 0.
    let boundAddress: String
    /// What every session shares: the registry, the signing keys, the metrics, the limits.
    let context: HTTPSession.Context
    private let listenerFD: Int32
    private let timeouts: StreamDeadlines.Timeouts
    private unowned let loop: Loop
    private var acceptor: Acceptor?
    private var sessions: [UInt64: HTTPSession] = [:]
    private var nextID = HTTPServer.firstID

    /// Binds and listens on `address`.
    init(configuration: Configuration, address text: String, registry: Registry, loop: Loop, facts: @escaping () -> HTTPRouter.Facts)
        throws(DaemonError)
    {
        let address: InternetSocketAddress
        do { address = try InternetSocketAddress(parsing: text, passive: true) } catch { throw .listen("--http \(text): \(error.call)") }
        do { listenerFD = try Syscall.tcpListener(address) } catch {
            throw .listen("--http \(text): cannot listen: \(error)")
        }
        let port = (try? Syscall.localPort(listenerFD)) ?? address.port
        boundAddress = address.family == AF_INET6 ? "[\(address.host)]:\(port)" : "\(address.host):\(port)"
        self.loop = loop
        let requestTimeout = UInt64(configuration.httpRequestTimeout * 1e9)
        timeouts = StreamDeadlines.Timeouts(request: requestTimeout, idle: UInt64(Self.keepAliveSeconds * 1e9), write: requestTimeout)
        context = HTTPSession.Context(
            registry: registry, loop: loop, authenticator: HTTPAuthenticator(keys: configuration.httpKeys),
            authenticateReads: configuration.httpAuthenticateReads, requestTimeout: configuration.httpRequestTimeout, facts: facts)
        do {
            let acceptor = try Acceptor(
                fd: listenerFD, noun: "HTTP connections", limit: configuration.httpMaxConnections, reserved: 0, peerCredentials: false,
                loop: loop, delegate: self)
            acceptor.onWarning = { Log.warning("http: \($0)") }
            self.acceptor = acceptor
        } catch {
            Syscall.close(listenerFD)
            throw .system(error)
        }
    }

    /// Open HTTP connections.
    var connectionCount: Int { sessions.count }

    // MARK: Admitting

    func admission(of peer: Acceptor.Peer) -> Acceptor.Admission { .admitted(privileged: false) }

    func refusal(_ reason: String, to peer: Acceptor.Peer) -> [UInt8] {
        var response = HTTPRouter.failure(HostessError(.unavailable, reason), book: nil)
        response.headers.append(HTTPHeader(name: "Connection", value: "close"))
        context.metrics.record(.other, status: 503, seconds: 0)
        return response.serialized()
    }

    func open(_ peer: Acceptor.Peer) -> Bool {
        Syscall.setNoDelay(peer.fd)
        let session = HTTPSession(id: nextID, context: context) { [unowned self] session in
            sessions[session.id] = nil
            acceptor?.release()
        }
        nextID += 1
        do {
            // The loop holds the channel; the session only refers to it.
            let channel = try StreamChannel(
                label: session.label, inputFD: peer.fd, outputFD: peer.fd, isSocket: true, loop: loop, timeouts: timeouts,
                inputLimit: HTTPServerFraming.inputLimit, delegate: session)
            session.channel = channel
        } catch {
            Syscall.close(peer.fd)
            return false
        }
        sessions[session.id] = session
        return true
    }

    // MARK: Stopping

    /// Stops accepting, answers waiting reads with the book as it is, writes what can be written, and closes
    /// every connection.
    func shutDown() {
        acceptor?.stop()
        acceptor = nil
        Syscall.close(listenerFD)
        for session in Array(sessions.values) { session.shutDown() }
    }
}
