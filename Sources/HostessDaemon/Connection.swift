import HostessModel
import HostessSystem

// MARK: - Connection

/// One client of the daemon: a socket (or the stdin/stdout pair), its buffers, its identity and its deadlines.
final class Connection {
    /// The token the connection is known by in epoll and in session-bound entries; never reused.
    let token: UInt64
    /// Where requests are read from.
    let inputFD: Int32
    /// Where replies are written to.
    let outputFD: Int32
    /// Whether the descriptors are a socket (send with MSG_NOSIGNAL, close both as one).
    let isSocket: Bool
    /// Who the kernel says the peer is.
    let caller: Caller
    /// The peer's pid, for logs.
    let pid: Int32

    /// Bytes read; those before `consumed` are lines already handled.
    var input: [UInt8] = []
    /// Where the next line starts in `input`.
    var consumed = 0
    /// Where the next newline search starts in `input`.
    var scanned = 0
    /// Replies not yet written.
    var output = OutputBuffer()
    /// Watches waiting on the revision.
    var watches: [Service.Watch] = []
    /// Whether at least one complete line arrived.
    var hasSentLine = false
    /// When the connection was opened, and when it last made progress reading or writing (CLOCK_MONOTONIC ns).
    var openedAt: UInt64
    var lastActivity: UInt64
    var lastWriteProgress: UInt64
    /// When the current partial line started arriving, if one is buffered.
    var partialSince: UInt64?
    /// Set when the peer finished sending (EOF); the connection closes once its replies are written.
    var inputClosed = false
    /// The events epoll currently watches for.
    var interest: Epoll.Events = .readable

    init(token: UInt64, inputFD: Int32, outputFD: Int32, isSocket: Bool, caller: Caller, pid: Int32, now: UInt64) {
        self.token = token
        self.inputFD = inputFD
        self.outputFD = outputFD
        self.isSocket = isSocket
        self.caller = caller
        self.pid = pid
        openedAt = now
        lastActivity = now
        lastWriteProgress = now
    }

    /// Bytes waiting to be written.
    var pendingOutput: Int { output.pending }

    /// A short name for logs.
    var label: String { isSocket ? "connection \(token) (uid \(caller.uid), pid \(pid))" : "stdio" }

    // MARK: Framing

    /// The outcome of looking for the next line.
    enum NextLine {
        case line(ArraySlice<UInt8>)
        case incomplete
        case tooLong
    }

    /// Takes the next complete line from the input buffer. The slice is valid until ``compact()``.
    func nextLine() -> NextLine {
        if let newline = input[scanned...].firstIndex(of: 0x0A) {
            var end = newline
            if end > consumed, input[end - 1] == 0x0D { end -= 1 }
            let line = input[consumed..<end]
            guard line.count <= Limits.lineBytes else { return .tooLong }
            consumed = newline + 1
            scanned = consumed
            return .line(line)
        }
        scanned = input.count
        return input.count - consumed > Limits.lineBytes ? .tooLong : .incomplete
    }

    /// Drops the lines already handled from the input buffer.
    func compact() {
        guard consumed > 0 else { return }
        input.removeSubrange(..<consumed)
        scanned -= consumed
        consumed = 0
    }

    /// Moves the client's deadlines later by the time the loop did not run (a stalled daemon is not a slow
    /// client), never past `now`.
    func postpone(by nanoseconds: UInt64, now: UInt64) {
        openedAt = min(openedAt &+ nanoseconds, now)
        lastActivity = min(lastActivity &+ nanoseconds, now)
        lastWriteProgress = min(lastWriteProgress &+ nanoseconds, now)
        partialSince = partialSince.map { min($0 &+ nanoseconds, now) }
    }

    /// Whether part of a line is buffered.
    var hasPartialLine: Bool { input.count > consumed }

    /// Queues a reply line.
    func enqueue(_ reply: JSONValue) {
        output.append { bytes in
            reply.write(into: &bytes)
            bytes.append(0x0A)
        }
    }

    /// Writes as much queued output as the descriptor takes without blocking.
    /// - Returns: false when the peer is gone.
    func flush(now: UInt64) -> Bool {
        guard let progressed = output.flush(to: outputFD, socket: isSocket) else { return false }
        if progressed { lastWriteProgress = now }
        return true
    }
}
