import HostessSystem

// MARK: - DatagramChannelDelegate

/// What datagrams mean: announcements, probes, beacons.
public protocol DatagramChannelDelegate: AnyObject {
    /// Datagrams arrived (a batch of at most the buffer's capacity).
    func channel(_ channel: DatagramChannel, received datagrams: [Datagram])
    /// Receiving failed; the channel stays open (UDP errors such as ICMP port unreachable are per datagram).
    func channel(_ channel: DatagramChannel, failed error: SystemError)
}

// MARK: - DatagramChannel

/// A UDP socket on the ``Loop``: bound (and joined to multicast groups) through its ``DatagramSocket``,
/// read in batches with `recvmmsg` when readable, written with `sendto`.
public final class DatagramChannel: LoopHandler {
    /// The socket, for options (multicast groups, TTL) and sending.
    public let socket: DatagramSocket
    /// The delegate, held weakly: its owner owns the channel.
    public weak var delegate: DatagramChannelDelegate?
    /// Batches read per readable event at most, for fairness with the loop's other descriptors.
    public static let batchesPerTurn = 4

    private unowned let loop: Loop
    private var buffer: DatagramBuffer
    private var token: UInt64 = 0
    private var isClosed = false

    /// Puts `socket` on `loop`, receiving into `buffer`'s slots.
    public init(socket: DatagramSocket, buffer: DatagramBuffer = DatagramBuffer(), loop: Loop, delegate: DatagramChannelDelegate) throws(SystemError) {
        self.socket = socket
        self.buffer = buffer
        self.loop = loop
        self.delegate = delegate
        token = try loop.register(socket.fd, events: .readable, handler: self)
    }

    /// Sends one datagram. Returns false when the send buffer is full (the datagram is dropped, as UDP may).
    @discardableResult
    public func send(_ bytes: [UInt8], to address: InternetSocketAddress) throws(SystemError) -> Bool {
        try socket.send(bytes, to: address)
    }

    /// Takes the channel off the loop (the socket closes with its last reference).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        loop.unregister(socket.fd, token: token, watched: true)
    }

    public func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .ready = event, !isClosed else { return }
        for _ in 0..<Self.batchesPerTurn {
            let datagrams: [Datagram]
            do { datagrams = try socket.receive(into: &buffer) } catch {
                delegate?.channel(self, failed: error)
                return
            }
            guard !datagrams.isEmpty else { return }
            delegate?.channel(self, received: datagrams)
            if datagrams.count < buffer.capacity || isClosed { return }
        }
    }
}
