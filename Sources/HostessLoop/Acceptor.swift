import Glibc
import HostessSystem

// MARK: - AcceptorDelegate

/// Who decides what an accepted connection becomes.
public protocol AcceptorDelegate: AnyObject {
    /// Whether `peer` may connect: refused (a per-user limit, unknown credentials) with the reason, or admitted,
    /// `privileged` when it may use the slots reserved beyond the connection limit.
    func admission(of peer: Acceptor.Peer) -> Acceptor.Admission
    /// The bytes that tell a refused peer why, written once without waiting before its descriptor closes.
    func refusal(_ reason: String, to peer: Acceptor.Peer) -> [UInt8]
    /// Makes an admitted peer a channel (the delegate owns the descriptor from here); false when that failed
    /// and the descriptor was closed.
    func open(_ peer: Acceptor.Peer) -> Bool
}

// MARK: - Acceptor

/// A listening socket on the ``Loop``: a bounded number of accepts per turn (a flood of connects cannot
/// starve the connections already served), a pause when the process is out of descriptors (instead of
/// spinning on a listener that stays readable), and the connection limit with slots reserved for the
/// privileged, so that a daemon others filled still answers its operator.
public final class Acceptor: LoopHandler {
    /// A connection just accepted.
    public struct Peer {
        /// The connected socket, non-blocking.
        public var fd: Int32
        /// Who the kernel says is on the other end (Unix sockets only).
        public var credentials: PeerCredentials?
    }

    /// What the delegate makes of a peer.
    public enum Admission {
        /// Refused, with the reason the peer and the log are given.
        case refused(String)
        /// Admitted; `privileged` peers may use the reserved slots.
        case admitted(privileged: Bool)
    }

    /// How many accepts one turn of the loop makes at most.
    public static let acceptsPerTurn = 256
    /// How long accepting pauses after the process ran out of descriptors, in nanoseconds.
    public static let pauseNanoseconds: UInt64 = 250_000_000

    /// The listening descriptor.
    public let fd: Int32
    /// A name for logs ("connections", "HTTP connections").
    public let noun: String
    /// Connections served at most (privileged peers get ``reserved`` more).
    public let limit: Int
    /// Slots beyond ``limit`` for privileged peers.
    public let reserved: Int
    /// Connections admitted and not yet released.
    public private(set) var openCount = 0
    /// Called with each warning (pauses, refusals) for the log.
    public var onWarning: ((String) -> Void)?

    private unowned let loop: Loop
    private unowned let delegate: AcceptorDelegate
    private let peerCredentials: Bool
    private var token: UInt64 = 0
    private var paused = false

    /// Starts watching a listening socket.
    /// - Parameter peerCredentials: read `SO_PEERCRED` of each peer (Unix sockets).
    public init(
        fd: Int32, noun: String, limit: Int, reserved: Int, peerCredentials: Bool, loop: Loop, delegate: AcceptorDelegate
    ) throws(SystemError) {
        self.fd = fd
        self.noun = noun
        self.limit = limit
        self.reserved = reserved
        self.peerCredentials = peerCredentials
        self.loop = loop
        self.delegate = delegate
        token = try loop.register(fd, events: .readable, handler: self)
    }

    /// Frees the slot of a connection this acceptor admitted, once it closed.
    public func release() { openCount = max(0, openCount - 1) }

    /// Stops watching the listener (the owner closes it).
    public func stop() { loop.unregister(fd, token: token, watched: !paused) }

    // MARK: Accepting

    public func handle(_ event: LoopEvent, on loop: Loop) {
        switch event {
        case .ready: acceptWaiting()
        case .deadline:
            guard paused else { return }
            paused = false
            do { try loop.change(fd, token: token, from: [], to: .readable) } catch {
                onWarning?("cannot watch the listener again: \(error)")
            }
        }
    }

    private func acceptWaiting() {
        for _ in 0..<Self.acceptsPerTurn {
            let accepted: Int32
            do {
                guard let fd = try Syscall.accept(fd) else { return }
                accepted = fd
            } catch {
                return pause(error)
            }
            var peer = Peer(fd: accepted, credentials: nil)
            if peerCredentials {
                do { peer.credentials = try Syscall.peerCredentials(accepted) } catch {
                    onWarning?("refused a connection: \(error)")
                    Syscall.close(accepted)
                    continue
                }
            }
            switch delegate.admission(of: peer) {
            case .refused(let reason):
                refuse(peer, reason: reason)
            case .admitted(let privileged):
                guard openCount < limit + (privileged ? reserved : 0) else {
                    refuse(peer, reason: "hostessd serves at most \(limit) \(noun); try again later")
                    continue
                }
                if delegate.open(peer) { openCount += 1 }
            }
        }
    }

    private func refuse(_ peer: Peer, reason: String) {
        let bytes = delegate.refusal(reason, to: peer)
        // Best effort, without waiting: the refusal fits any socket buffer.
        bytes.withUnsafeBytes { raw in
            if let base = raw.baseAddress { _ = try? Syscall.write(peer.fd, from: base, count: raw.count, socket: true) }
        }
        Syscall.close(peer.fd)
        let who = peer.credentials.map { "uid \($0.uid) pid \($0.pid)" } ?? "a peer"
        onWarning?("refused \(who): \(reason)")
    }

    /// Out of descriptors (EMFILE/ENFILE) or another failure: stop watching the listener for a while.
    private func pause(_ error: SystemError) {
        onWarning?("accept: \(error); pausing new \(noun) for \(Self.pauseNanoseconds / 1_000_000) ms")
        do { try loop.change(fd, token: token, from: .readable, to: []) } catch { return }
        paused = true
        loop.schedule(at: loop.now &+ Self.pauseNanoseconds, for: self)
    }
}
