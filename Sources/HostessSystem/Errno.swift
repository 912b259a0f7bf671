import Glibc

// MARK: - Errno

/// A failed syscall: which call, and the error number the kernel returned.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The C function that failed, e.g. `bind`.
    public var call: String
    /// The errno value.
    public var errno: Int32

    /// An error for `call` with `errno`.
    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// The C library's text for the error number.
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(call): \(reason) (errno \(errno))" }
}

// MARK: - Retry helpers

/// Runs a syscall until it does not fail with EINTR; throws ``SystemError`` on -1.
/// The corresponding C idiom is `do { r = f(); } while (r == -1 && errno == EINTR);`.
@inline(__always)
func retrying<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Glibc.errno
        if error != EINTR { throw SystemError(call, errno: error) }
    }
}
