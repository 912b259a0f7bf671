import Glibc

// MARK: - InternetSocketAddress

/// An IPv4 or IPv6 address and TCP or UDP port, as `HOST:PORT` (`127.0.0.1:8080`, `0.0.0.0:8080`, `[::1]:8080`,
/// `localhost:8080`).
public struct InternetSocketAddress: Sendable, CustomStringConvertible {
    /// The host as given (without IPv6 brackets).
    public let host: String
    /// The port.
    public let port: UInt16
    /// The resolved `sockaddr_in` or `sockaddr_in6`, as bytes.
    private let storage: [UInt8]

    /// The family: `AF_INET` or `AF_INET6`.
    public let family: Int32

    /// Splits `HOST:PORT` (an IPv6 host in brackets) and resolves the host: numeric addresses directly, names
    /// through the resolver (`getaddrinfo`), taking the first address.
    /// - Parameter passive: for a listening socket (`AI_PASSIVE`).
    public init(parsing text: String, passive: Bool = false) throws(SystemError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw SystemError("address '\(text)': an IPv6 address is written [ADDRESS]:PORT", errno: EINVAL)
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw SystemError("address '\(text)': expected HOST:PORT (an IPv6 address in brackets: [::1]:8080)", errno: EINVAL)
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, !hostPart.utf8.contains(0) else { throw SystemError("address '\(text)': the host is empty", errno: EINVAL) }
        guard let port = UInt16(portPart), String(port) == portPart else {
            throw SystemError("address '\(text)': the port must be a number from 0 to 65535", errno: EINVAL)
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(String(hostPart), String(port), &hints, &list)
        defer { if let list { freeaddrinfo(list) } }
        guard status == 0, let first = list, let address = first.pointee.ai_addr else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            throw SystemError("address '\(text)': cannot resolve '\(hostPart)': \(reason)", errno: EINVAL)
        }
        host = String(hostPart)
        self.port = port
        family = first.pointee.ai_family
        storage = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(address), count: Int(first.pointee.ai_addrlen)))
    }

    /// The address the kernel wrote into `storage` (a datagram's source, a socket's name): its numeric host
    /// and port. Nil when it is not an IPv4 or IPv6 address.
    init?(storage: sockaddr_storage, length: socklen_t) {
        let family = Int32(storage.ss_family)
        let size = family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
        guard family == AF_INET || family == AF_INET6, Int(length) >= size else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let converted = withUnsafeBytes(of: storage) { raw -> Bool in
            // sin_addr follows family and port; sin6_addr follows them and the flow label.
            let addressOffset = family == AF_INET ? 4 : 8
            guard let base = raw.baseAddress else { return false }
            return inet_ntop(family, base + addressOffset, &text, socklen_t(text.count)) != nil
        }
        guard converted else { return nil }
        host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        port = withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        self.family = family
        self.storage = withUnsafeBytes(of: storage) { Array($0.prefix(size)) }
    }

    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Calls `body` with the `sockaddr` and its length.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemError) -> R) throws(SystemError) -> R {
        var copy = sockaddr_storage()
        withUnsafeMutableBytes(of: &copy) { raw in
            for (index, byte) in storage.prefix(raw.count).enumerated() { raw[index] = byte }
        }
        let length = socklen_t(min(storage.count, MemoryLayout<sockaddr_storage>.size))
        return try withUnsafePointer(to: &copy) { (pointer) throws(SystemError) -> R in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) -> R in try body(raw, length) }
        }
    }
}

// MARK: - TCP sockets

extension Syscall {
    /// A listening TCP socket on `address`: non-blocking, close-on-exec, `SO_REUSEADDR`; an IPv6 socket also
    /// takes IPv4 unless the system says otherwise. The corresponding C functions are `socket`, `bind` and `listen`.
    public static func tcpListener(_ address: InternetSocketAddress, backlog: Int32 = 1024) throws(SystemError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try retrying("socket") { socket(address.family, type, 0) }
        do {
            var one: Int32 = 1
            _ = try retrying("setsockopt SO_REUSEADDR") {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
                try retrying("bind \(address)") { Glibc.bind(fd, pointer, length) }
            }
            try listen(fd, backlog: backlog)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// The port a bound socket was given (for `--http HOST:0`). The corresponding C function is `getsockname`.
    public static func localPort(_ fd: Int32) throws(SystemError) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) in
                try retrying("getsockname") { getsockname(fd, raw, &length) }
            }
        }
        switch Int32(storage.ss_family) {
        case AF_INET: return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        case AF_INET6: return withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        default: throw SystemError("getsockname: not an internet socket", errno: EINVAL)
        }
    }

    /// The address at the other end of a connected socket (nil when it is not an internet socket).
    /// The corresponding C function is `getpeername`.
    public static func peerAddress(_ fd: Int32) -> InternetSocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        return InternetSocketAddress(storage: storage, length: length)
    }

    /// The address this machine would send from to reach `remote` (the kernel's route choice), without
    /// sending anything: a UDP socket connected there, then `getsockname`.
    public static func localAddress(toward remote: InternetSocketAddress) -> String? {
        let fd = socket(remote.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        let connected = (try? remote.withSockaddr { (pointer, length) -> Int32 in Glibc.connect(fd, pointer, length) }) ?? -1
        guard connected == 0 else { return nil }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return InternetSocketAddress(storage: storage, length: length)?.host
    }

    /// A blocking TCP connection to `address` with `TCP_NODELAY`, close-on-exec.
    /// The corresponding C functions are `socket` and `connect`.
    public static func tcpConnect(_ address: InternetSocketAddress) throws(SystemError) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let fd = try retrying("socket") { socket(address.family, type, 0) }
        do {
            _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
                try retrying("connect \(address)") { Glibc.connect(fd, pointer, length) }
            }
            setNoDelay(fd)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Turns off Nagle's algorithm: replies are written whole, and waiting for an ACK only adds latency.
    public static func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sets the receive and send timeouts of a blocking socket. The corresponding C call is `setsockopt`.
    public static func setTimeouts(_ fd: Int32, seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}
