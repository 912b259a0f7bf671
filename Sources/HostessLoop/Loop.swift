import Glibc
import HostessSystem

// MARK: - LoopEvent

/// What the loop hands a ``LoopHandler``.
public enum LoopEvent {
    /// The handler's descriptor is ready for these events.
    case ready(Epoll.Events)
    /// A deadline the handler scheduled with ``Loop/schedule(at:for:)`` came (loop-clock nanoseconds).
    case deadline(UInt64)
}

// MARK: - LoopHandler

/// The owner of a descriptor or a deadline on the ``Loop``: it alone knows what the bytes mean.
public protocol LoopHandler: AnyObject {
    /// Handles one event. Called on the loop's thread, never re-entrantly.
    func handle(_ event: LoopEvent, on loop: Loop)
}

// MARK: - Loop

/// One thread's event loop: epoll, the tokens that name registered descriptors, a deadline heap, signals, and
/// a clock that stops while the loop does not run. It knows no protocol: each event goes to the
/// ``LoopHandler`` that owns the descriptor or deadline.
///
/// **The loop clock.** ``now`` is CLOCK_MONOTONIC minus every gap longer than ``stallNanoseconds`` between
/// two turns: a SIGSTOP, a page-fault storm or one slow request does not count against anyone's deadline
/// (heartbeats sent meanwhile sit unread in socket buffers, and would otherwise evict every live server).
/// Everything the daemon times (heartbeat TTLs, client timeouts, waits) reads this clock.
public final class Loop {
    /// A scheduled deadline, for ``reschedule(_:to:)`` and ``cancel(_:)``.
    public typealias Timer = DeadlineHeap<LoopHandler>.Handle

    /// A gap between turns longer than this means the loop did not run (it waits at most ``maximumWait``).
    public static let stallNanoseconds: UInt64 = 1_000_000_000
    /// The longest a turn waits for events, in milliseconds, so that ``afterTurn`` runs regularly.
    public static let maximumWait: Int32 = 250

    private let epoll: Epoll
    private var handlers: [UInt64: LoopHandler] = [:]
    /// Handlers whose descriptor epoll cannot watch (a regular file or /dev/null on stdin): always ready.
    private var alwaysReady: [UInt64: LoopHandler] = [:]
    private var timers = DeadlineHeap<LoopHandler>()
    private var nextToken: UInt64 = 1
    private var signalFD: Int32 = -1
    private var signalToken: UInt64 = 0
    private var onSignal: ((Int32) -> Void)?
    private var stopping = false
    /// Gaps credited so far, subtracted from CLOCK_MONOTONIC.
    private var credit: UInt64 = 0
    private var lastTurn: UInt64

    /// Where every read lands before it is appended to its channel's input: one buffer for the loop, not an
    /// allocation per read.
    private let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: Loop.readBufferSize, alignment: 16)

    /// Called with each stall's length (nanoseconds) after it is credited, for a log line.
    public var onStall: ((UInt64) -> Void)?

    /// A loop with nothing registered.
    public init() throws(SystemError) {
        epoll = try Epoll()
        lastTurn = SystemClock.monotonicNanoseconds()
    }

    deinit {
        if signalFD >= 0 { Syscall.close(signalFD) }
        readBuffer.deallocate()
    }

    /// The size of the loop's read buffer: the most one read takes.
    public static let readBufferSize = 65536

    /// Lends the loop's read buffer (``readBufferSize`` bytes) to `body`.
    public func withReadBuffer<Result>(_ body: (UnsafeMutableRawPointer, Int) -> Result) -> Result {
        body(readBuffer, Self.readBufferSize)
    }

    // MARK: Clock

    /// The loop clock, in nanoseconds: monotonic, without the stalls.
    public var now: UInt64 { SystemClock.monotonicNanoseconds() &- credit }

    /// Credits the time since the last turn when it is longer than a stall.
    private func creditStall() {
        let monotonic = SystemClock.monotonicNanoseconds()
        let gap = monotonic &- lastTurn
        lastTurn = monotonic
        guard gap > Self.stallNanoseconds else { return }
        credit &+= gap
        onStall?(gap)
    }

    // MARK: Descriptors

    /// Registers `fd` for `events` with `handler`; returns the token that names it. A descriptor epoll cannot
    /// watch (a regular file) is reported readable every turn instead.
    public func register(_ fd: Int32, events: Epoll.Events, handler: LoopHandler) throws(SystemError) -> UInt64 {
        let token = nextToken
        nextToken += 1
        do {
            if !events.isEmpty { try epoll.add(fd, events: events, token: token) }
            handlers[token] = handler
        } catch {
            guard error.errno == EPERM else { throw error }
            alwaysReady[token] = handler
        }
        return token
    }

    /// Changes what a registered descriptor is watched for, from `old` to `new` (empty: not watched at all).
    public func change(_ fd: Int32, token: UInt64, from old: Epoll.Events, to new: Epoll.Events) throws(SystemError) {
        guard handlers[token] != nil else { return }
        try epoll.change(fd, from: old, to: new, token: token)
    }

    /// Forgets a registered descriptor (the caller closes it). `watched`: whether epoll watches it now.
    public func unregister(_ fd: Int32, token: UInt64, watched: Bool) {
        if handlers.removeValue(forKey: token) != nil && watched { epoll.remove(fd) }
        alwaysReady[token] = nil
    }

    /// How many descriptors are registered.
    public var registeredCount: Int { handlers.count + alwaysReady.count }

    // MARK: Deadlines

    /// Calls `handler` with ``LoopEvent/deadline(_:)`` once the loop clock reaches `deadline`.
    @discardableResult
    public func schedule(at deadline: UInt64, for handler: LoopHandler) -> Timer {
        timers.schedule(at: deadline, handler)
    }

    /// Moves a scheduled deadline; false when it already fired or was cancelled.
    @discardableResult
    public func reschedule(_ timer: Timer, to deadline: UInt64) -> Bool { timers.reschedule(timer, to: deadline) }

    /// Cancels a scheduled deadline (nothing when it already fired).
    public func cancel(_ timer: Timer) { timers.cancel(timer) }

    /// When a scheduled deadline falls, or nil when it already fired or was cancelled.
    public func deadline(of timer: Timer) -> UInt64? { timers.deadline(of: timer) }

    // MARK: Signals

    /// Blocks `signals` and delivers each to `handler` on the loop (a signalfd).
    public func handleSignals(_ signals: [Int32], with handler: @escaping (Int32) -> Void) throws(SystemError) {
        signalFD = try Syscall.signalDescriptor(for: signals)
        onSignal = handler
        signalToken = nextToken
        nextToken += 1
        try epoll.add(signalFD, events: .readable, token: signalToken)
    }

    // MARK: Running

    /// Turns until ``stop()``: waits for events or the next deadline, hands each to its handler, then calls
    /// `afterTurn` (where the daemon publishes once per turn).
    /// - Throws: when epoll itself fails.
    public func run(afterTurn: () -> Void) throws(SystemError) {
        while !stopping {
            let timeout = alwaysReady.isEmpty ? timers.millisecondsUntilNextDeadline(now: now, maximum: Self.maximumWait) : 0
            let events = try epoll.wait(timeoutMilliseconds: timeout)
            creditStall()
            for event in events {
                if event.token == signalToken && signalToken != 0 {
                    while let signal = try? Syscall.readSignal(signalFD) { onSignal?(signal) }
                } else if let handler = handlers[event.token] {
                    handler.handle(.ready(event.events), on: self)
                }
            }
            for handler in Array(alwaysReady.values) { handler.handle(.ready(.readable), on: self) }
            // A handler that took longer than a stall (one slow request) is credited before any deadline is judged.
            creditStall()
            // Bounded, so that a burst of deadlines cannot starve the descriptors; the rest come next turn.
            for expired in timers.popExpired(upTo: now, limit: 4096) { expired.token.handle(.deadline(expired.deadline), on: self) }
            afterTurn()
        }
    }

    /// Ends ``run(afterTurn:)`` after the current turn.
    public func stop() { stopping = true }

    /// Whether ``stop()`` was called.
    public var isStopping: Bool { stopping }

    /// Waits up to `milliseconds` for any descriptor, handing events out as ``run(afterTurn:)`` does; for
    /// draining replies at shutdown.
    public func turnOnce(waitingAtMost milliseconds: Int32) {
        guard let events = try? epoll.wait(timeoutMilliseconds: milliseconds) else { return }
        for event in events where event.token != signalToken {
            handlers[event.token]?.handle(.ready(event.events), on: self)
        }
    }
}
