import Glibc

// MARK: - UnixSocketAddress

/// A Unix socket path that fits `sockaddr_un`. A leading '@' names an abstract socket (Linux).
public struct UnixSocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The path as given.
    public let path: String

    /// The longest path `sun_path` holds, without its terminating NUL.
    public static let maximumPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// Validates that `path` is non-empty, holds no NUL, and fits.
    public init(path: String) throws(SystemError) {
        guard !path.isEmpty, !path.utf8.contains(0) else { throw SystemError("socket path '\(path)'", errno: EINVAL) }
        guard path.utf8.count <= Self.maximumPathBytes else {
            throw SystemError("socket path is \(path.utf8.count) bytes, over \(Self.maximumPathBytes)", errno: ENAMETOOLONG)
        }
        self.path = path
    }

    public var description: String { path }

    /// Calls `body` with a `sockaddr` for this address and its length.
    func withSockaddr<R>(
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R
    ) throws(SystemError) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let isAbstract = bytes.first == UInt8(ascii: "@")
        if isAbstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        let length = socklen_t(pathOffset + bytes.count + (isAbstract ? 0 : 1))
        return try withUnsafePointer(to: &address) { (pointer) throws(SystemError) -> R in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) -> R in
                try body(raw, length)
            }
        }
    }
}

// MARK: - Clock

/// Readings of the system clocks.
public enum SystemClock {
    /// Nanoseconds on CLOCK_MONOTONIC.
    public static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Nanoseconds on CLOCK_MONOTONIC_COARSE: the same clock as ``monotonicNanoseconds()`` as of the last
    /// timer tick (behind it by at most a few milliseconds), for a quarter of the cost.
    public static func coarseMonotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    /// Milliseconds since the Unix epoch on CLOCK_REALTIME.
    public static func wallMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) &* 1000 &+ Int64(spec.tv_nsec / 1_000_000)
    }
}
