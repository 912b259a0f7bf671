// MARK: - StreamDeadlines

/// The deadlines of one ``StreamChannel``, in loop-clock nanoseconds: how long its peer may take to read
/// what is queued for it, to finish a request, and to sit idle. A value with no I/O; the channel keeps one
/// heap entry at ``next(outputPending:)`` and asks ``expired(at:outputPending:)`` when it comes.
///
/// Only one deadline runs at a time: while output waits, the peer's reading (the others are paused: the
/// peer is being served); else a request under way; else, unless a request of the peer's waits on the
/// server, the idle time.
public struct StreamDeadlines: Sendable {
    /// How long a peer may take, in nanoseconds.
    public struct Timeouts: Sendable {
        /// To finish a request once it started (and the first one, from the connect).
        public var request: UInt64
        /// To sit between requests; nil: forever.
        public var idle: UInt64?
        /// To make progress reading the output queued for it.
        public var write: UInt64

        /// Timeouts in nanoseconds.
        public init(request: UInt64, idle: UInt64?, write: UInt64) {
            self.request = request
            self.idle = idle
            self.write = write
        }
    }

    /// Which deadline passed.
    public enum Kind: Sendable, Equatable {
        /// The peer did not read what was queued for it in time.
        case write
        /// A request (or the first one, counted from the connect) was not complete in time.
        case request
        /// The peer sent nothing for the idle time.
        case idle
    }

    /// The timeouts; nil for a peer that is never timed out (stdio).
    public let timeouts: Timeouts?
    /// When the channel opened.
    public let openedAt: UInt64
    /// When the current request started arriving, or nil between requests. Starts at the connect: the first
    /// request is timed from there.
    public var requestStartedAt: UInt64?
    /// When the peer last did something that keeps it alive (its session decides what counts).
    public var lastActivity: UInt64
    /// When the peer last took output.
    public var lastWriteProgress: UInt64
    /// Set while a request of the peer's waits on the server (a watch, a blocking read): no idle deadline.
    public var isWaiting = false

    /// Deadlines for a channel opened at `now`.
    public init(timeouts: Timeouts?, now: UInt64) {
        self.timeouts = timeouts
        openedAt = now
        requestStartedAt = now
        lastActivity = now
        lastWriteProgress = now
    }

    /// The deadline that runs now, or nil when none does.
    public func next(outputPending: Bool) -> UInt64? {
        guard let (_, deadline) = running(outputPending: outputPending) else { return nil }
        return deadline
    }

    /// The deadline that passed by `now`, if one did.
    public func expired(at now: UInt64, outputPending: Bool) -> Kind? {
        guard let (kind, deadline) = running(outputPending: outputPending), deadline <= now else { return nil }
        return kind
    }

    private func running(outputPending: Bool) -> (Kind, UInt64)? {
        guard let timeouts else { return nil }
        if outputPending { return (.write, lastWriteProgress &+ timeouts.write) }
        if let started = requestStartedAt { return (.request, started &+ timeouts.request) }
        if !isWaiting, let idle = timeouts.idle { return (.idle, lastActivity &+ idle) }
        return nil
    }
}
