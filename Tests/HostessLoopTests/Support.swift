import Glibc
import HostessLoop
import HostessSystem
import Testing

// MARK: - Driving the loop

/// Runs `loop` on the calling thread until `done` returns true after a turn, or `seconds` of real time pass
/// (then an issue is recorded). Returns whether `done` returned true.
@discardableResult
func drive(_ loop: Loop, seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation, until done: () -> Bool) -> Bool {
    let deadline = SystemClock.monotonicNanoseconds() + UInt64(seconds * 1e9)
    var finished = false
    do {
        try loop.run {
            if done() {
                finished = true
                loop.stop()
            } else if SystemClock.monotonicNanoseconds() >= deadline {
                loop.stop()
            }
        }
    } catch {
        Issue.record("loop.run threw: \(error)", sourceLocation: sourceLocation)
    }
    if !finished { Issue.record("the loop did not finish within \(seconds) s", sourceLocation: sourceLocation) }
    return finished
}

/// Runs `loop` through `steps` in order: each is called after every turn until it returns true, then the next
/// one is called (in the same turn). Stops when all are done, or after `seconds` (an issue names the step).
@discardableResult
func drive(_ loop: Loop, seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation, steps: [() -> Bool]) -> Bool {
    var index = 0
    let finished = drive(loop, seconds: seconds, sourceLocation: sourceLocation) {
        while index < steps.count && steps[index]() { index += 1 }
        return index == steps.count
    }
    if !finished { Issue.record("stuck at step \(index + 1) of \(steps.count)", sourceLocation: sourceLocation) }
    return finished
}

/// Monotonic nanoseconds since `start`, in seconds.
func seconds(since start: UInt64, until end: UInt64 = SystemClock.monotonicNanoseconds()) -> Double {
    Double(end &- start) / 1e9
}

// MARK: - Addresses and peers

/// Whether a TCP listener can bind ::1 here.
func ipv6LoopbackAvailable() -> Bool {
    guard let address = try? InternetSocketAddress(parsing: "[::1]:0"), let fd = try? Syscall.tcpListener(address) else { return false }
    Syscall.close(fd)
    return true
}

/// Cancels (skips) the current test case when `host` is ::1 and this machine has no IPv6 loopback.
func skipUnlessAvailable(_ host: String) throws {
    if host == "::1" && !ipv6LoopbackAvailable() { try Test.cancel("IPv6 loopback (::1) is not available on this machine") }
}

/// The address of a loopback host ("127.0.0.1" or "::1") and port, as `InternetSocketAddress` parses it.
func loopback(_ host: String, port: UInt16) throws -> InternetSocketAddress {
    try InternetSocketAddress(parsing: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
}

/// A listening TCP socket on `host`, port 0, and the address it got.
func listen(on host: String, backlog: Int32 = 64) throws -> (fd: Int32, address: InternetSocketAddress) {
    let fd = try Syscall.tcpListener(loopback(host, port: 0), backlog: backlog)
    do { return (fd, try loopback(host, port: Syscall.localPort(fd))) } catch {
        Syscall.close(fd)
        throw error
    }
}

/// A loopback port nothing listens on: bound by a listener that is then closed.
func closedPort(on host: String) throws -> InternetSocketAddress {
    let (fd, address) = try listen(on: host)
    Syscall.close(fd)
    return address
}

/// A connected TCP pair on 127.0.0.1: the accepted (server) end, non-blocking, for a ``StreamChannel``, and
/// the peer (client) end, non-blocking, which the test drives.
func connectedPair() throws -> (accepted: Int32, peer: Int32) {
    let (listener, address) = try listen(on: "127.0.0.1")
    defer { Syscall.close(listener) }
    let peer = try Syscall.tcpConnect(address)
    guard waitUntilReady(listener, events: POLLIN, milliseconds: 2000), let accepted = try Syscall.accept(listener) else {
        Syscall.close(peer)
        throw SystemError("accept (test pair)", errno: ETIMEDOUT)
    }
    try Syscall.setNonBlocking(peer)
    return (accepted, peer)
}

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `milliseconds` pass; returns whether it is.
func waitUntilReady(_ fd: Int32, events: Int32, milliseconds: Int32) -> Bool {
    var poller = pollfd(fd: fd, events: Int16(events), revents: 0)
    return poll(&poller, 1, milliseconds) > 0
}

/// Reads what a non-blocking descriptor holds now (at most `limit` bytes). `ended`: the peer closed.
func readAvailable(_ fd: Int32, limit: Int = 1 << 24) -> (bytes: [UInt8], ended: Bool) {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
        let count = chunk.withUnsafeMutableBytes { raw in Glibc.recv(fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT)) }
        if count > 0 {
            bytes += chunk[0..<count]
        } else {
            return (bytes, count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        }
    }
    return (bytes, false)
}

/// Reads a blocking descriptor until end of file, an error or `limit` bytes (at most 64 reads).
func readToEnd(_ fd: Int32, limit: Int = 1 << 16) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<64 where bytes.count < limit {
        let count = chunk.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress, raw.count) }
        guard count > 0 else { break }
        bytes += chunk[0..<count]
    }
    return bytes
}

/// Sends what a non-blocking socket takes of `bytes` now; returns the count (0 when it would block).
func sendAvailable(_ fd: Int32, _ bytes: [UInt8]) -> Int {
    let count = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    return max(count, 0)
}

/// `count` bytes of a pattern that shows misordering: byte i is i mod 251.
func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8($0 % 251) } }

// MARK: - Descriptor identity

/// A descriptor's inode, or nil when it is not open.
func inode(of fd: Int32) -> UInt64? {
    var status = stat()
    guard fstat(fd, &status) == 0 else { return nil }
    return UInt64(status.st_ino)
}

/// Opens Unix datagram sockets (each its own inode) until one is given descriptor number `fd` (the kernel
/// gives the lowest free number), at most 64; closes the others. Returns the socket's inode, or nil when
/// another thread took the number first.
func occupy(_ fd: Int32) -> UInt64? {
    var others: [Int32] = []
    defer { others.forEach(Syscall.close) }
    for _ in 0..<64 {
        let opened = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard opened >= 0 else { return nil }
        if opened == fd { return inode(of: opened) }
        if opened > fd {
            Syscall.close(opened)
            return nil
        }
        others.append(opened)
    }
    return nil
}

/// Opens connected Unix stream socket pairs until one end is given descriptor number `fd`, at most 32 pairs;
/// closes the others. Returns that end's inode and the other end (the caller closes both), or nil when another
/// thread took the number first.
func occupyWithPair(_ fd: Int32) -> (inode: UInt64, partner: Int32)? {
    var others: [Int32] = []
    defer { others.forEach(Syscall.close) }
    for _ in 0..<32 {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else { return nil }
        if ends[0] == fd || ends[1] == fd, let inode = inode(of: fd) { return (inode, ends[0] == fd ? ends[1] : ends[0]) }
        others += ends
        if ends[0] > fd && ends[1] > fd { return nil }
    }
    return nil
}

// MARK: - A recording stream delegate

/// A ``StreamChannelDelegate`` that records what it is told, with when, and calls the test's hooks.
final class StreamRecorder: StreamChannelDelegate {
    enum Event: Equatable, CustomStringConvertible {
        case connected
        case read(Int)
        case timedOut(StreamDeadlines.Kind)
        case closed(String?)

        var description: String {
            switch self {
            case .connected: "connected"
            case .read(let count): "read(\(count))"
            case .timedOut(let deadline): "timedOut(\(deadline))"
            case .closed(let reason): "closed(\(reason ?? "nil"))"
            }
        }
    }

    private(set) var events: [Event] = []
    /// Monotonic nanoseconds of each event.
    private(set) var times: [UInt64] = []

    var onConnected: ((StreamChannel) -> Void)?
    var onRead: ((StreamChannel, Int) -> Void)?
    var onTimeout: ((StreamChannel, StreamDeadlines.Kind) -> Void)?
    var onClosed: ((StreamChannel, String?) -> Void)?

    init() {}

    /// Whether the channel closed, and why.
    var closeReason: String?? {
        for case .closed(let reason) in events { return .some(reason) }
        return nil
    }

    var isClosed: Bool { closeReason != nil }

    /// The events other than empty reads (`read(0)`: a writable turn with nothing new).
    var significantEvents: [Event] { events.filter { $0 != .read(0) } }

    /// When the first event matching `predicate` came.
    func time(of predicate: (Event) -> Bool) -> UInt64? {
        events.firstIndex(where: predicate).map { times[$0] }
    }

    private func record(_ event: Event) {
        events.append(event)
        times.append(SystemClock.monotonicNanoseconds())
    }

    func channelConnected(_ channel: StreamChannel) {
        record(.connected)
        onConnected?(channel)
    }

    func channelRead(_ channel: StreamChannel, received: Int) {
        record(.read(received))
        onRead?(channel, received)
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) {
        record(.timedOut(deadline))
        onTimeout?(channel, deadline)
    }

    func channelClosed(_ channel: StreamChannel, reason: String?) {
        record(.closed(reason))
        onClosed?(channel, reason)
    }
}

// MARK: - An echo server on the loop

/// A listener with an ``Acceptor`` whose channels write back what they read.
final class EchoServer: AcceptorDelegate, StreamChannelDelegate {
    let listener: Int32
    let address: InternetSocketAddress
    private unowned let loop: Loop
    private(set) var acceptor: Acceptor?
    private(set) var opened = 0
    private(set) var closed = 0
    private(set) var closeReasons: [String?] = []
    private(set) var echoed = 0

    init(on host: String, loop: Loop) throws {
        (listener, address) = try listen(on: host)
        self.loop = loop
        do { acceptor = try Acceptor(fd: listener, noun: "echo connections", limit: 16, reserved: 0, peerCredentials: false, loop: loop, delegate: self) } catch {
            Syscall.close(listener)
            throw error
        }
    }

    /// Stops accepting and closes the listener.
    func shutdown() {
        acceptor?.stop()
        acceptor = nil
        Syscall.close(listener)
    }

    func admission(of peer: Acceptor.Peer) -> Acceptor.Admission { .admitted(privileged: false) }

    func refusal(_ reason: String, to peer: Acceptor.Peer) -> [UInt8] { Array("refused: \(reason)\n".utf8) }

    func open(_ peer: Acceptor.Peer) -> Bool {
        do {
            _ = try StreamChannel(
                label: "echo", inputFD: peer.fd, outputFD: peer.fd, isSocket: true, loop: loop, timeouts: nil, inputLimit: 1 << 20, delegate: self)
            opened += 1
            return true
        } catch {
            Syscall.close(peer.fd)
            return false
        }
    }

    func channelRead(_ channel: StreamChannel, received: Int) {
        let bytes = channel.input.unconsumed
        guard !bytes.isEmpty else { return }
        channel.enqueue { $0.append(contentsOf: bytes) }
        echoed += bytes.count
        channel.input.consume(bytes.count)
        channel.input.compact()
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) {}

    func channelClosed(_ channel: StreamChannel, reason: String?) {
        closed += 1
        closeReasons.append(reason)
        acceptor?.release()
    }
}
