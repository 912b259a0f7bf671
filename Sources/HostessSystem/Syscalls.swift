import CShim
import Dispatch
import Glibc

// MARK: - Syscalls

/// Every syscall Hostess makes, wrapped once: EINTR is retried (except by `close`), EAGAIN is reported as
/// nil where a descriptor may be non-blocking, and any other failure throws a ``SystemError`` naming the call.
public enum Syscall {
    // MARK: Descriptors

    /// Closes a descriptor. Not retried on EINTR: on Linux the descriptor is gone either way.
    /// The corresponding C function is `close`.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    /// Reads up to `count` bytes into `buffer`. Returns 0 at end of file, nil when a non-blocking read would block.
    /// The corresponding C function is `read`.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) throws(SystemError) -> Int? {
        do { return try retrying("read") { Glibc.read(fd, buffer, count) } } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return nil }
            throw error
        }
    }

    /// Writes up to `count` bytes; returns how many were written, or nil when a non-blocking write would block.
    /// The corresponding C function is `send` with MSG_NOSIGNAL on sockets, `write` otherwise.
    public static func write(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int, socket: Bool) throws(SystemError) -> Int? {
        do {
            return try retrying(socket ? "send" : "write") {
                socket ? Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL)) : Glibc.write(fd, buffer, count)
            }
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return nil }
            throw error
        }
    }

    /// Writes all of `bytes` to a blocking descriptor.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], socket: Bool) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { raw -> Result<Int?, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try write(fd, from: base + offset, count: raw.count - offset, socket: socket) }
            }
            guard let written = try result.get() else { throw SystemError("write", errno: EAGAIN) }
            offset += written
        }
    }

    /// Sets or clears O_NONBLOCK. The corresponding C function is `fcntl`.
    public static func setNonBlocking(_ fd: Int32, _ enabled: Bool = true) throws(SystemError) {
        let flags = try retrying("fcntl") { fcntl(fd, F_GETFL) }
        _ = try retrying("fcntl") { fcntl(fd, F_SETFL, enabled ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) }
    }

    /// Opens a file. The corresponding C function is `open`.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0) throws(SystemError) -> Int32 {
        try retrying("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// Takes an exclusive advisory lock without waiting. Returns false when another process holds it.
    /// The corresponding C function is `flock`.
    public static func tryLockExclusive(_ fd: Int32) throws(SystemError) -> Bool {
        do {
            _ = try retrying("flock") { flock(fd, LOCK_EX | LOCK_NB) }
            return true
        } catch {
            if error.errno == EWOULDBLOCK { return false }
            throw error
        }
    }

    /// Removes a name from the file system; a missing name is not an error. The corresponding C function is `unlink`.
    public static func unlinkIfPresent(_ path: String) throws(SystemError) {
        do { _ = try retrying("unlink \(path)") { Glibc.unlink(path) } } catch {
            if error.errno != ENOENT { throw error }
        }
    }

    /// Creates a directory and its missing parents with `mode`. The corresponding C function is `mkdir`.
    public static func makeDirectories(_ path: String, mode: mode_t) throws(SystemError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            do { _ = try retrying("mkdir \(prefix)") { mkdir(prefix, mode) } } catch {
                if error.errno != EEXIST { throw error }
            }
        }
    }

    /// Changes a path's permission bits. The corresponding C function is `chmod`.
    public static func chmod(_ path: String, _ mode: mode_t) throws(SystemError) {
        _ = try retrying("chmod \(path)") { Glibc.chmod(path, mode) }
    }

    // MARK: Sockets

    /// Creates a Unix stream socket, close-on-exec, optionally non-blocking.
    public static func unixStreamSocket(nonBlocking: Bool) throws(SystemError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        return try retrying("socket") { socket(AF_UNIX, type, 0) }
    }

    /// Binds a socket to a Unix socket path. The corresponding C function is `bind`.
    public static func bind(_ fd: Int32, to address: UnixSocketAddress) throws(SystemError) {
        _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
            try retrying("bind \(address.path)") { Glibc.bind(fd, pointer, length) }
        }
    }

    /// Connects a socket to a Unix socket path. The corresponding C function is `connect`.
    public static func connect(_ fd: Int32, to address: UnixSocketAddress) throws(SystemError) {
        _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
            try retrying("connect \(address.path)") { Glibc.connect(fd, pointer, length) }
        }
    }

    /// Marks a socket as accepting connections. The corresponding C function is `listen`.
    public static func listen(_ fd: Int32, backlog: Int32) throws(SystemError) {
        _ = try retrying("listen") { Glibc.listen(fd, backlog) }
    }

    /// Accepts one connection, non-blocking and close-on-exec; nil when none is waiting.
    /// The corresponding C function is `accept4`.
    public static func accept(_ fd: Int32) throws(SystemError) -> Int32? {
        do {
            return try retrying("accept4") { cshim_accept_nonblocking(fd) }
        } catch {
            switch error.errno {
            case EAGAIN, EWOULDBLOCK, ECONNABORTED, EPROTO: return nil
            default: throw error
            }
        }
    }

    /// The kernel's record of the process at the other end of a Unix socket.
    /// The corresponding C call is `getsockopt(SO_PEERCRED)`.
    public static func peerCredentials(_ fd: Int32) throws(SystemError) -> PeerCredentials {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        _ = try retrying("getsockopt SO_PEERCRED") { cshim_peercred(fd, &pid, &uid, &gid) }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    /// Sends one datagram to a Unix datagram socket path (or an abstract name starting with '@').
    /// The corresponding C function is `sendto`.
    public static func sendDatagram(_ bytes: [UInt8], to address: UnixSocketAddress) throws(SystemError) {
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = try retrying("socket") { socket(AF_UNIX, type, 0) }
        defer { close(fd) }
        _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
            try bytes.withUnsafeBytes { raw in
                Result { () throws(SystemError) in
                    try retrying("sendto \(address.path)") { sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), pointer, length) }
                }
            }.get()
        }
    }

    // MARK: Signals

    /// Blocks `signals` in the calling thread (and threads it starts) and returns a signalfd that reports them.
    /// Each signal's disposition is first reset to the default: one a shell set to be ignored (as it does for
    /// background jobs) would otherwise be discarded before it could queue.
    /// The corresponding C functions are `pthread_sigmask` and `signalfd`.
    public static func signalDescriptor(for signals: [Int32]) throws(SystemError) -> Int32 {
        for number in signals { signal(number, SIG_DFL) }
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        let status = pthread_sigmask(SIG_BLOCK, &set, nil)
        if status != 0 { throw SystemError("pthread_sigmask", errno: status) }
        return try retrying("signalfd") { signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) }
    }

    /// Unblocks `signals` in the calling thread. A process started from a thread that blocks signals (as
    /// libdispatch's worker threads do) inherits that mask; a tool meant to stop on SIGINT or SIGTERM calls
    /// this first. The corresponding C function is `pthread_sigmask(SIG_UNBLOCK)`.
    public static func unblock(_ signals: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        _ = pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Reads one pending signal number from a signalfd, or nil when none is pending.
    public static func readSignal(_ fd: Int32) throws(SystemError) -> Int32? {
        var info = signalfd_siginfo()
        let count = try read(fd, into: &info, count: MemoryLayout<signalfd_siginfo>.size)
        guard let count, count == MemoryLayout<signalfd_siginfo>.size else { return nil }
        return Int32(bitPattern: info.ssi_signo)
    }

    /// Ignores SIGPIPE for the process, so a closed peer is an EPIPE error and not a kill.
    public static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    // MARK: Limits

    /// Raises the soft limit on open descriptors to the hard limit; returns the new soft limit.
    /// The corresponding C functions are `getrlimit` and `setrlimit`.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return UInt64(limit.rlim_cur)
    }

    // MARK: Randomness

    /// `count` bytes from the kernel's random source; waits for it to be seeded at boot.
    /// The corresponding C function is `getrandom`.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return getrandom(base + filled, raw.count - filled, 0)
            }
            if got > 0 { filled += got } else if Glibc.errno != EINTR { break }
        }
        return bytes
    }

    /// A random (version 4) UUID in its canonical lower-case form.
    public static func randomUUID() -> String {
        var bytes = randomBytes(16)
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        let hex = Crypto.hex(bytes)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in String(hex.dropFirst(range.lowerBound).prefix(range.count)) }
            .joined(separator: "-")
    }

    /// The machine's host name (`gethostname`), or nil when it cannot be read.
    public static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Users

    /// The user name of `uid` from the password database, or nil. The corresponding C function is `getpwuid_r`.
    public static func userName(uid: uid_t) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil, let name = entry.pw_name else { return nil }
        return String(cString: name)
    }

    /// The uid of user `name`, or nil. The corresponding C function is `getpwnam_r`.
    public static func userID(name: String) -> uid_t? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
        guard status == 0, result != nil else { return nil }
        return entry.pw_uid
    }
}

// MARK: - PeerCredentials

/// The process at the other end of a Unix socket, as the kernel recorded it at connect time.
public struct PeerCredentials: Sendable, Hashable {
    /// The peer's process id.
    public var pid: pid_t
    /// The peer's effective user id.
    public var uid: uid_t
    /// The peer's effective group id.
    public var gid: gid_t
}

// MARK: - SignalWaiter

/// Waits for termination signals off the caller's thread, for clients that run until stopped.
public enum SignalWaiter {
    /// Catches `signals` from now on: each arrival is queued for ``wait(descriptor:)`` instead of killing the
    /// process, whichever thread the kernel delivers it to. Returns the descriptor to wait on.
    /// The corresponding C functions are `pipe2` and `sigaction`.
    public static func catching(_ signals: [Int32]) throws(SystemError) -> Int32 {
        let descriptor = try retrying("sigaction") { signals.withUnsafeBufferPointer { cshim_signal_pipe($0.baseAddress, Int32($0.count)) } }
        Syscall.unblock(signals)
        return descriptor
    }

    /// Suspends until one of the caught signals arrives; returns its number.
    public static func wait(descriptor: Int32) async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                while true {
                    var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                    _ = poll(&poller, 1, -1)
                    var byte: UInt8 = 0
                    if let count = try? Syscall.read(descriptor, into: &byte, count: 1), count == 1 {
                        continuation.resume(returning: Int32(byte))
                        return
                    }
                }
            }
        }
    }
}
