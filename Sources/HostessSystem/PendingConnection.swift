import Glibc

// MARK: - PendingConnection

/// An outbound TCP connection under way, never blocking the caller: ``start(to:deadline:)`` sends the SYN
/// and returns at once; the loop watches ``fd`` for writability and calls ``finish(now:)`` when it is
/// writable or when ``deadline`` comes (a ``DeadlineHeap`` entry), which hands back the connected descriptor,
/// says to keep waiting, or throws.
///
/// Ownership: the descriptor belongs to the pending connection until ``finish(now:)`` returns it (the caller's
/// from then on) or throws (closed by then). ``abandon()`` closes it for a caller that gives up first.
public struct PendingConnection: Sendable {
    /// The socket: non-blocking, close-on-exec, `TCP_NODELAY`. Register it with ``Epoll`` for
    /// ``Epoll/Events/writable``.
    public let fd: Int32
    /// Where it is connecting.
    public let address: InternetSocketAddress
    /// When to give up, in monotonic nanoseconds (``SystemClock/monotonicNanoseconds()``).
    public let deadline: UInt64
    /// When it started, in monotonic nanoseconds, for the timeout's message.
    public let startedAt: UInt64

    /// Starts connecting to `address` without waiting. A loopback connect may complete at once; the first
    /// ``finish(now:)`` then returns the descriptor. Throws when the connect fails at once (no route, a
    /// refused loopback port on some kernels). The corresponding C functions are `socket` and `connect`.
    public static func start(to address: InternetSocketAddress, deadline: UInt64) throws(ConnectError) -> PendingConnection {
        let now = SystemClock.monotonicNanoseconds()
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd: Int32
        do { fd = try retrying("socket") { socket(address.family, type, 0) } } catch {
            throw ConnectError(address: address, reason: .failed(error))
        }
        Syscall.setNoDelay(fd)
        let failure = (try? address.withSockaddr { (pointer, length) -> Int32 in Glibc.connect(fd, pointer, length) == 0 ? 0 : errno }) ?? EINVAL
        // EINTR: the connect goes on in the background, as with EINPROGRESS (connect(2)).
        if failure != 0 && failure != EINPROGRESS && failure != EINTR {
            let error = ConnectError(address: address, errno: failure)
            Syscall.close(fd)
            throw error
        }
        return PendingConnection(fd: fd, address: address, deadline: deadline, startedAt: now)
    }

    /// Completes the connect when it has finished: the connected descriptor (now the caller's), or nil while
    /// the handshake is still under way and `now` is before ``deadline``. Throws, having closed the descriptor,
    /// when the connect failed (`SO_ERROR`: refused, unreachable, reset) or `now` reached ``deadline`` first.
    /// A connect that finished by the time this runs succeeds even past its deadline.
    /// The corresponding C functions are `poll` and `getsockopt(SO_ERROR)`.
    public func finish(now: UInt64) throws(ConnectError) -> Int32? {
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready: Int32
        do { ready = try retrying("poll") { poll(&poller, 1, 0) } } catch {
            abandon()
            throw ConnectError(address: address, reason: .failed(error))
        }
        guard ready > 0 else {
            guard now >= deadline else { return nil }
            abandon()
            throw ConnectError(address: address, reason: .timedOut(nanoseconds: now &- startedAt))
        }
        var pending: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        do { _ = try retrying("getsockopt SO_ERROR") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &pending, &length) } } catch {
            abandon()
            throw ConnectError(address: address, reason: .failed(error))
        }
        guard pending == 0 else {
            abandon()
            throw ConnectError(address: address, errno: pending)
        }
        return fd
    }

    /// Gives up: closes the descriptor. Use only before ``finish(now:)`` returned it or threw.
    public func abandon() {
        Syscall.close(fd)
    }
}

// MARK: - ConnectError

/// Why an outbound TCP connection did not happen.
public struct ConnectError: Error, Sendable, CustomStringConvertible {
    /// The kinds of failure, each with what to check.
    public enum Reason: Sendable, Equatable {
        /// Nothing listens there (ECONNREFUSED): a reset answered the SYN.
        case refused
        /// The deadline came before the handshake finished: nothing answered, after this many nanoseconds.
        case timedOut(nanoseconds: UInt64)
        /// Any other failure of a syscall (no route, reset, out of descriptors).
        case failed(SystemError)
    }

    /// Where the connection was going.
    public var address: InternetSocketAddress
    /// Why it failed.
    public var reason: Reason

    /// An error for `address` with `reason`.
    public init(address: InternetSocketAddress, reason: Reason) {
        self.address = address
        self.reason = reason
    }

    /// The error for a connect that failed with `errno` (from `connect` or `SO_ERROR`).
    init(address: InternetSocketAddress, errno: Int32) {
        self.init(address: address, reason: errno == ECONNREFUSED ? .refused : .failed(SystemError("connect \(address)", errno: errno)))
    }

    public var description: String {
        switch reason {
        case .refused:
            return "connect \(address): refused: nothing listens on port \(address.port) there; is the server running, and on this address?"
        case .timedOut(let nanoseconds):
            return
                "connect \(address): no answer within \(nanoseconds / 1_000_000) ms; is the host up and reachable, does a firewall drop the SYN, or is the server's accept backlog full?"
        case .failed(let error):
            return "connect \(address): \(error)"
        }
    }
}
