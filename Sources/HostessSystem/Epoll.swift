import CShim
import Glibc

// MARK: - Epoll

/// An epoll instance: descriptors registered with a 64-bit token that comes back with their events.
/// A reference, so the daemon's interfaces can share one loop; the descriptor closes with the last reference.
public final class Epoll: Sendable {
    /// Readiness kinds.
    public struct Events: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Readable (or a listening socket has connections).
        public static let readable = Events(rawValue: EPOLLIN.rawValue)
        /// Writable.
        public static let writable = Events(rawValue: EPOLLOUT.rawValue)
        /// The peer stopped sending (EPOLLRDHUP); reported only when asked for.
        public static let hangup = Events(rawValue: EPOLLRDHUP.rawValue)
        /// Both directions are shut (EPOLLHUP) or an error is pending; always reported.
        public static let closed = Events(rawValue: EPOLLHUP.rawValue | EPOLLERR.rawValue)
    }

    /// One readiness report.
    public struct Event: Sendable {
        /// The token the descriptor was registered with.
        public var token: UInt64
        /// What it is ready for.
        public var events: Events
    }

    /// The epoll descriptor.
    public let fd: Int32

    /// Creates an epoll instance. The corresponding C function is `epoll_create1`.
    public init() throws(SystemError) {
        fd = try retrying("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    deinit { Syscall.close(fd) }

    /// Registers `descriptor` for `events`. The corresponding C function is `epoll_ctl(EPOLL_CTL_ADD)`.
    public func add(_ descriptor: Int32, events: Events, token: UInt64) throws(SystemError) {
        _ = try retrying("epoll_ctl ADD") { cshim_epoll_ctl(fd, EPOLL_CTL_ADD, descriptor, events.rawValue, token) }
    }

    /// Changes the events `descriptor` is watched for. The corresponding C function is `epoll_ctl(EPOLL_CTL_MOD)`.
    public func modify(_ descriptor: Int32, events: Events, token: UInt64) throws(SystemError) {
        _ = try retrying("epoll_ctl MOD") { cshim_epoll_ctl(fd, EPOLL_CTL_MOD, descriptor, events.rawValue, token) }
    }

    /// Stops watching `descriptor`. The corresponding C function is `epoll_ctl(EPOLL_CTL_DEL)`.
    public func remove(_ descriptor: Int32) {
        _ = cshim_epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, 0, 0)
    }

    /// Moves `descriptor` from watching `old` to watching `new` (empty: not registered): added, modified or
    /// removed as needed.
    public func change(_ descriptor: Int32, from old: Events, to new: Events, token: UInt64) throws(SystemError) {
        switch (old.isEmpty, new.isEmpty) {
        case (true, true): return
        case (false, true): remove(descriptor)
        case (true, false): try add(descriptor, events: new, token: token)
        case (false, false): try modify(descriptor, events: new, token: token)
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for events. EINTR returns no events.
    /// The corresponding C function is `epoll_wait`.
    public func wait(maximum: Int = 256, timeoutMilliseconds: Int32) throws(SystemError) -> [Event] {
        var events = [UInt32](repeating: 0, count: maximum)
        var tokens = [UInt64](repeating: 0, count: maximum)
        let count = cshim_epoll_wait(fd, &events, &tokens, Int32(maximum), timeoutMilliseconds)
        if count < 0 {
            if errno == EINTR { return [] }
            throw SystemError("epoll_wait", errno: errno)
        }
        return (0..<Int(count)).map { Event(token: tokens[$0], events: Events(rawValue: events[$0])) }
    }
}
