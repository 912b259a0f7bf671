import Glibc
import HostessLoop
import HostessModel
import HostessSystem

// MARK: - LineServer

/// The line protocol's interface: the Unix socket (an ``Acceptor`` admitting by the kernel's word on each
/// peer) or stdin/stdout, and the ``LineSession`` of each client.
///
/// One uid holds at most `--max-connections-per-uid`; root and hostessd's own user are not limited that way
/// and have ``reservedConnections`` slots beyond `--max-connections`, so that a daemon others filled still
/// answers its operator.
final class LineServer: AcceptorDelegate {
    /// Connections root and hostessd's own user may open beyond `--max-connections`.
    static let reservedConnections = 16
    /// Ids of line sessions start here; HTTP's start far above.
    static let firstID: UInt64 = 16

    private let configuration: Configuration
    private unowned let registry: Registry
    private unowned let loop: Loop
    private(set) var listener: Listener?
    private var acceptor: Acceptor?
    private var sessions: [UInt64: LineSession] = [:]
    /// Open connections per uid (`--max-connections-per-uid`).
    private var connectionsByUID: [UInt32: Int] = [:]
    private var ownerNamesByUID: [UInt32: Set<String>] = [:]
    private var nextID = LineServer.firstID

    /// Binds the socket (clients are refused until ``startListening()``), or serves stdin/stdout.
    init(configuration: Configuration, registry: Registry, loop: Loop) throws(DaemonError) {
        self.configuration = configuration
        self.registry = registry
        self.loop = loop
        if configuration.stdio {
            try openStdio()
            return
        }
        do { listener = try Listener(path: configuration.socketPath) } catch {
            throw .listen(error.description)
        }
    }

    /// Open socket connections (stdio not counted).
    var connectionCount: Int { sessions.values.count { !$0.isStdio } }

    private func openStdio() throws(DaemonError) {
        let uid = getuid()
        let session = makeSession(caller: Caller(uid: uid, ownerNames: ownerNames(uid: uid)), pid: getpid(), isStdio: true)
        do {
            // The loop holds the channel; the session only refers to it.
            let channel = try StreamChannel(
                label: "stdio", inputFD: STDIN_FILENO, outputFD: STDOUT_FILENO, isSocket: false, loop: loop, timeouts: nil,
                inputLimit: Limits.lineBytes + Loop.readBufferSize, delegate: session)
            session.channel = channel
        } catch {
            throw .system(error)
        }
    }

    /// Starts accepting clients: the region, when there is one, already holds the guest book.
    func startListening() throws(DaemonError) {
        guard let listener else { return }
        do {
            try listener.startListening()
            let acceptor = try Acceptor(
                fd: listener.fd, noun: "connections", limit: configuration.maxConnections, reserved: Self.reservedConnections,
                peerCredentials: true, loop: loop, delegate: self)
            acceptor.onWarning = { Log.warning($0) }
            self.acceptor = acceptor
        } catch {
            throw .system(error)
        }
    }

    // MARK: Admitting

    func admission(of peer: Acceptor.Peer) -> Acceptor.Admission {
        guard let uid = peer.credentials?.uid else { return .refused("no peer credentials") }
        let privileged = uid == 0 || uid == geteuid()
        let held = connectionsByUID[uid] ?? 0
        if !privileged && held >= configuration.maxConnectionsPerUID {
            return .refused("uid \(uid) already has \(held) connections open, the most one user may (--max-connections-per-uid); close some first")
        }
        return .admitted(privileged: privileged)
    }

    func refusal(_ reason: String, to peer: Acceptor.Peer) -> [UInt8] {
        var bytes: [UInt8] = []
        LineFraming.frame(registry.service.reply(id: .null, error: HostessError(.capacity, reason)), into: &bytes)
        return bytes
    }

    func open(_ peer: Acceptor.Peer) -> Bool {
        guard let credentials = peer.credentials else {
            Syscall.close(peer.fd)
            return false
        }
        let session = makeSession(
            caller: Caller(uid: credentials.uid, ownerNames: ownerNames(uid: credentials.uid)), pid: credentials.pid, isStdio: false)
        do {
            // The loop holds the channel; the session only refers to it.
            let channel = try StreamChannel(
                label: session.label, inputFD: peer.fd, outputFD: peer.fd, isSocket: true, loop: loop,
                timeouts: LineSession.timeouts(configuration), inputLimit: Limits.lineBytes + Loop.readBufferSize, delegate: session)
            session.channel = channel
        } catch {
            Log.warning("epoll: \(error)")
            sessions[session.id] = nil
            Syscall.close(peer.fd)
            return false
        }
        connectionsByUID[credentials.uid, default: 0] += 1
        return true
    }

    private func makeSession(caller: Caller, pid: Int32, isStdio: Bool) -> LineSession {
        let session = LineSession(
            id: nextID, caller: caller, pid: pid, isStdio: isStdio, configuration: configuration, registry: registry, loop: loop
        ) { [unowned self] session in closed(session) }
        nextID += 1
        sessions[session.id] = session
        return session
    }

    private func closed(_ session: LineSession) {
        guard sessions.removeValue(forKey: session.id) != nil, !session.isStdio else { return }
        Registry.subtract(1, from: &connectionsByUID, uid: session.caller.uid)
        acceptor?.release()
    }

    private func ownerNames(uid: UInt32) -> Set<String> {
        if let cached = ownerNamesByUID[uid] { return cached }
        var names = configuration.ownerNames[uid] ?? []
        if let user = Syscall.userName(uid: uid) { names.insert(user) }
        ownerNamesByUID[uid] = names
        return names
    }

    // MARK: Stopping

    /// Stops accepting and removes the socket file.
    func stopListening() {
        guard let listener else { return }
        acceptor?.stop()
        acceptor = nil
        self.listener = nil
        listener.close()
        Log.info("stopped accepting; removed \(listener.path)")
    }

    /// Answers waiting watches, gives clients up to a second to take the replies to requests already
    /// handled, and closes every connection.
    func shutDown() {
        for session in Array(sessions.values) { session.shutDown() }
        let deadline = SystemClock.monotonicNanoseconds() &+ 1_000_000_000
        while sessions.values.contains(where: { ($0.channel?.pendingOutput ?? 0) > 0 }) && SystemClock.monotonicNanoseconds() < deadline {
            for session in Array(sessions.values) { session.channel?.settle() }
            loop.turnOnce(waitingAtMost: 10)
        }
        for session in Array(sessions.values) { session.channel?.close(reason: nil) }
    }
}
