import Glibc
import HostessSystem

// MARK: - StreamChannelDelegate

/// What a stream means: the session (a framing and what it serves) on top of a ``StreamChannel``.
public protocol StreamChannelDelegate: AnyObject {
    /// `received` bytes were appended to ``StreamChannel/input`` (0: the input ended, or the channel may take
    /// requests again because its output drained). Handle what is buffered; the channel settles afterwards.
    func channelRead(_ channel: StreamChannel, received: Int)
    /// A request or idle deadline passed (a write deadline closes the channel); the channel is still open and
    /// settles afterwards.
    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind)
    /// An outbound channel finished connecting.
    func channelConnected(_ channel: StreamChannel)
    /// The channel closed (`reason` for the log; nil when orderly). Output queued here is written if the
    /// descriptor takes it at once, then the descriptor closes.
    func channelClosed(_ channel: StreamChannel, reason: String?)
}

extension StreamChannelDelegate {
    /// Inbound channels never connect.
    public func channelConnected(_ channel: StreamChannel) {}
}

// MARK: - StreamChannel

/// One stream descriptor on the ``Loop``: a socket, the stdin/stdout pair, or an outbound TCP connection.
///
/// It owns the input and output buffers, the output high-water mark (a peer that does not read its replies
/// is not read either), the epoll interest, its ``StreamDeadlines`` as one entry in the loop's heap,
/// half-close and close. What the bytes mean is its delegate's business.
public final class StreamChannel: LoopHandler {
    /// Output buffered for a peer above which it is not read until it reads.
    public static let outputHighWater = 1 << 20

    /// A short name for logs.
    public let label: String
    /// Where bytes are read from, and (for a socket) written to.
    public let inputFD: Int32
    /// Where bytes are written.
    public let outputFD: Int32
    /// Whether the descriptors are one socket (send with MSG_NOSIGNAL, watch for writability, close it).
    public let isSocket: Bool
    /// Bytes read and not consumed by the delegate's framing.
    public var input = InputBuffer()
    /// Bytes queued for the peer.
    public var output = OutputBuffer()
    /// The delegate; held strongly, the channel is the delegate's only owner on the loop.
    public var delegate: StreamChannelDelegate?
    /// The peer's deadlines, which its delegate keeps current (a request under way, activity, waiting).
    public var deadlines: StreamDeadlines
    /// Set while the delegate takes no more requests (one waits, or it is closing): input is not read, and a
    /// socket is watched only for the peer hanging up, which closes it.
    public var pausesInput = false
    /// Close once the output is written.
    public var closesWhenFlushed = false
    /// Whether the peer finished sending (EOF or reset).
    public private(set) var inputClosed = false
    /// Whether the channel is closed.
    public private(set) var isClosed = false
    /// Buffered input beyond which the peer is not read (the delegate's framing refuses before).
    public var inputLimit: Int

    private unowned let loop: Loop
    private var token: UInt64 = 0
    private var interest: Epoll.Events = []
    private var timer: Loop.Timer?
    private var connecting: PendingConnection?
    /// Set when a failed connect already closed the descriptor: its number may name another one by now.
    private var descriptorClosed = false

    // MARK: Opening

    /// Puts an accepted socket (or stdin/stdout) on `loop`, reading.
    /// - Parameters:
    ///   - timeouts: nil for a peer that is never timed out (stdio).
    public init(
        label: String, inputFD: Int32, outputFD: Int32, isSocket: Bool, loop: Loop, timeouts: StreamDeadlines.Timeouts?, inputLimit: Int,
        delegate: StreamChannelDelegate
    ) throws(SystemError) {
        self.label = label
        self.inputFD = inputFD
        self.outputFD = outputFD
        self.isSocket = isSocket
        self.loop = loop
        self.inputLimit = inputLimit
        self.delegate = delegate
        deadlines = StreamDeadlines(timeouts: timeouts, now: loop.now)
        token = try loop.register(inputFD, events: .readable, handler: self)
        interest = .readable
        updateTimer()
    }

    /// Starts an outbound TCP connection to `address` on `loop`, given up after `timeouts.request`; the
    /// delegate hears ``StreamChannelDelegate/channelConnected(_:)`` or ``StreamChannelDelegate/channelClosed(_:reason:)``.
    public init(
        connectingTo address: InternetSocketAddress, label: String, loop: Loop, timeouts: StreamDeadlines.Timeouts, inputLimit: Int,
        delegate: StreamChannelDelegate
    ) throws(ConnectError) {
        let now = loop.now
        let pending = try PendingConnection.start(to: address, deadline: SystemClock.monotonicNanoseconds() &+ timeouts.request)
        self.label = label
        inputFD = pending.fd
        outputFD = pending.fd
        isSocket = true
        self.loop = loop
        self.inputLimit = inputLimit
        self.delegate = delegate
        deadlines = StreamDeadlines(timeouts: timeouts, now: now)
        connecting = pending
        do { token = try loop.register(pending.fd, events: .writable, handler: self) } catch {
            pending.abandon()
            throw ConnectError(address: address, reason: .failed(error))
        }
        interest = .writable
        timer = loop.schedule(at: now &+ timeouts.request, for: self)
    }

    /// Whether the channel is still connecting.
    public var isConnecting: Bool { connecting != nil }

    /// Bytes queued and not written yet.
    public var pendingOutput: Int { output.pending }

    // MARK: Events

    public func handle(_ event: LoopEvent, on loop: Loop) {
        guard !isClosed else { return }
        switch event {
        case .ready(let events):
            if connecting != nil { return finishConnecting() }
            if pausesInput && isSocket && !events.isDisjoint(with: [.hangup, .closed]) { return close(reason: "peer hung up") }
            var received = 0
            if !events.isDisjoint(with: [.readable, .hangup, .closed]) && !inputClosed && wantsInput {
                guard let count = read() else { return close(reason: "read failed") }
                received = count
            }
            delegate?.channelRead(self, received: received)
            settle()
            // Both directions gone (EPOLLHUP/EPOLLERR): nothing more can be written either.
            if events.contains(.closed) && isSocket && !isClosed { close(reason: nil) }
        case .deadline:
            timer = nil
            if connecting != nil { return finishConnecting() }
            expire()
        }
    }

    /// Whether the channel reads: the delegate takes requests, the peer reads its replies, the input has room.
    private var wantsInput: Bool { !pausesInput && !closesWhenFlushed && output.pending < Self.outputHighWater && input.count < inputLimit }

    /// Reads what is available, a bounded amount for fairness. Returns the count read, or nil on an error.
    private func read() -> Int? {
        var total = 0
        for _ in 0..<4 {
            let result = loop.withReadBuffer { base, capacity in
                Result { () throws(SystemError) in try Syscall.read(inputFD, into: base, count: capacity) }
            }
            switch result {
            case .failure(let error):
                guard error.errno == ECONNRESET else { return nil }
                inputClosed = true
                return total
            case .success(nil): return total
            case .success(0):
                inputClosed = true
                return total
            case .success(let count?):
                loop.withReadBuffer { base, _ in
                    input.append(contentsOf: UnsafeRawBufferPointer(start: base, count: count))
                }
                total += count
                if count < Loop.readBufferSize || input.count >= inputLimit { return total }
            }
        }
        return total
    }

    private func finishConnecting() {
        guard let pending = connecting else { return }
        do {
            guard try pending.finish(now: SystemClock.monotonicNanoseconds()) != nil else {
                if timer == nil { timer = loop.schedule(at: loop.now &+ Loop.stallNanoseconds / 10, for: self) }
                return
            }
        } catch {
            // finish(now:) closed the descriptor when it threw, which also took it out of epoll.
            connecting = nil
            interest = []
            descriptorClosed = true
            return close(reason: error.description)
        }
        connecting = nil
        deadlines.lastWriteProgress = loop.now
        deadlines.requestStartedAt = nil
        delegate?.channelConnected(self)
        settle()
    }

    private func expire() {
        switch deadlines.expired(at: loop.now, outputPending: output.pending > 0) {
        case nil: break
        case .write?:
            let seconds = Double(deadlines.timeouts?.write ?? 0) / 1e9
            return close(reason: "did not read its replies for \(seconds) s")
        case let kind?: delegate?.channel(self, timedOut: kind)
        }
        settle()
    }

    // MARK: Writing and settling

    /// Queues bytes for the peer; ``settle()`` writes them.
    public func enqueue(_ body: (inout [UInt8]) -> Void) { output.append(body) }

    /// Writes what the descriptor takes without blocking. Returns false when the peer is gone.
    @discardableResult
    public func flush() -> Bool {
        guard let progressed = output.flush(to: outputFD, socket: isSocket) else { return false }
        if progressed { deadlines.lastWriteProgress = loop.now }
        return true
    }

    /// Writes what is queued, closes a channel that is done, and decides what it waits for next: input while
    /// it may read, writability while output waits, nothing (out of epoll) when neither, its next deadline.
    public func settle() {
        guard !isClosed, connecting == nil else { return }
        guard flush() else { return close(reason: "peer closed") }
        // Done: the delegate said so, or the peer finished sending and everything it sent is answered.
        let answered = inputClosed && input.isEmpty && !pausesInput && !deadlines.isWaiting
        if output.pending == 0 && (closesWhenFlushed || answered) {
            return close(reason: nil)
        }
        var wanted: Epoll.Events = []
        if !inputClosed && wantsInput {
            wanted.insert(.readable)
        } else if pausesInput && isSocket && output.pending == 0 && !inputClosed {
            wanted.insert(.hangup)
        }
        if output.pending > 0 && isSocket { wanted.insert(.writable) }
        if wanted != interest {
            do {
                try loop.change(inputFD, token: token, from: interest, to: wanted)
                interest = wanted
            } catch {
                return close(reason: "\(error)")
            }
        }
        updateTimer()
    }

    /// Keeps the channel's one heap entry at its running deadline.
    private func updateTimer() {
        let next = deadlines.next(outputPending: output.pending > 0)
        switch (next, timer) {
        case (nil, nil): return
        case (nil, let current?):
            loop.cancel(current)
            timer = nil
        case (let deadline?, let current?):
            if loop.deadline(of: current) != deadline && !loop.reschedule(current, to: deadline) {
                timer = loop.schedule(at: deadline, for: self)
            }
        case (let deadline?, nil):
            timer = loop.schedule(at: deadline, for: self)
        }
    }

    // MARK: Closing

    /// Closes the channel: out of the loop, the delegate told (its last words written if they fit at once),
    /// the descriptor closed (stdin/stdout stay open). Closing twice does nothing.
    public func close(reason: String?) {
        guard !isClosed else { return }
        isClosed = true
        if let timer { loop.cancel(timer) }
        timer = nil
        if let pending = connecting {
            connecting = nil
            loop.unregister(pending.fd, token: token, watched: true)
            pending.abandon()
            delegate?.channelClosed(self, reason: reason)
            delegate = nil
            return
        }
        loop.unregister(inputFD, token: token, watched: !interest.isEmpty)
        interest = []
        delegate?.channelClosed(self, reason: reason)
        delegate = nil
        if descriptorClosed { return output.discard() }
        if output.pending > 0 && !flush() { output.discard() }
        if isSocket { Syscall.close(inputFD) }
    }
}
