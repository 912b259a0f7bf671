import CShim
import Glibc

// MARK: - DatagramSocket

/// A non-blocking UDP socket (IPv4 or IPv6), close-on-exec: bound once, then read in batches with
/// `recvmmsg` and written with `sendto`. A reference, so an event loop and its handlers can share it; the
/// descriptor closes with the last reference.
public final class DatagramSocket: Sendable {
    /// The descriptor, for registering with ``Epoll``.
    public let fd: Int32
    /// The family: `AF_INET` or `AF_INET6`.
    public let family: Int32

    /// A UDP socket bound to `address` (port 0: one the kernel picks; see ``localAddress()``).
    /// - Parameter reuseAddress: sets `SO_REUSEADDR` before binding, so several sockets (several processes
    ///   joining one multicast group, say) may bind the same port.
    /// The corresponding C functions are `socket`, `setsockopt` and `bind`.
    /// An IPv6 socket is IPv6 only (`IPV6_V6ONLY`), so that it and an IPv4 socket on the same port each get their
    /// own family's datagrams once.
    public init(bindingTo address: InternetSocketAddress, reuseAddress: Bool = false) throws(SystemError) {
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = try retrying("socket") { socket(address.family, type, Int32(IPPROTO_UDP)) }
        do {
            if reuseAddress { try Self.setOption(fd, SOL_SOCKET, SO_REUSEADDR, Int32(1), name: "SO_REUSEADDR") }
            if address.family == AF_INET6 { try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, Int32(1), name: "IPV6_V6ONLY") }
            _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
                try retrying("bind \(address) (UDP)") { Glibc.bind(fd, pointer, length) }
            }
        } catch {
            Syscall.close(fd)
            throw error
        }
        self.fd = fd
        family = address.family
    }

    deinit { Syscall.close(fd) }

    /// The address the socket is bound to, with the port the kernel picked for port 0.
    /// The corresponding C function is `getsockname`.
    public func localAddress() throws(SystemError) -> InternetSocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (raw) throws(SystemError) in
                try retrying("getsockname") { getsockname(fd, raw, &length) }
            }
        }
        guard let address = InternetSocketAddress(storage: storage, length: length) else {
            throw SystemError("getsockname: not an internet socket", errno: EINVAL)
        }
        return address
    }

    // MARK: Multicast options

    /// Whether datagrams this socket sends to a multicast group are also delivered to the group's members
    /// on this machine, this socket included (`IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`; on by default).
    public func setMulticastLoop(_ enabled: Bool) throws(SystemError) {
        let value = Int32(enabled ? 1 : 0)
        if family == AF_INET6 {
            try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_LOOP, value, name: "IPV6_MULTICAST_LOOP")
        } else {
            try Self.setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, value, name: "IP_MULTICAST_LOOP")
        }
    }

    /// How many routers a multicast datagram may cross (`IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS`; 1 by
    /// default: this link only; 0: this machine only).
    public func setMulticastTTL(_ ttl: UInt8) throws(SystemError) {
        if family == AF_INET6 {
            try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, Int32(ttl), name: "IPV6_MULTICAST_HOPS")
        } else {
            try Self.setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, Int32(ttl), name: "IP_MULTICAST_TTL")
        }
    }

    /// Sends multicast datagrams out of the interface numbered `interfaceIndex` (see
    /// ``NetworkInterface/index(named:)``) instead of the one the routing table picks
    /// (`IP_MULTICAST_IF` / `IPV6_MULTICAST_IF`).
    public func setMulticastInterface(_ interfaceIndex: UInt32) throws(SystemError) {
        if family == AF_INET6 {
            try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, interfaceIndex, name: "IPV6_MULTICAST_IF")
        } else {
            var request = ip_mreqn()
            request.imr_ifindex = Int32(bitPattern: interfaceIndex)
            try Self.setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, request, name: "IP_MULTICAST_IF")
        }
    }

    /// Whether a socket bound to the wildcard address receives only the groups it joined itself (false), or
    /// every group any socket on the machine joined on its port (true, the kernel's default), with
    /// `IP_MULTICAST_ALL` / `IPV6_MULTICAST_ALL`.
    public func setMulticastAll(_ enabled: Bool) throws(SystemError) {
        let value = Int32(enabled ? 1 : 0)
        if family == AF_INET6 {
            try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_ALL, value, name: "IPV6_MULTICAST_ALL")
        } else {
            try Self.setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_ALL, value, name: "IP_MULTICAST_ALL")
        }
    }

    /// Joins the multicast `group` (a numeric address of the socket's family, e.g. `239.255.77.1` or
    /// `ff15::77:1`) on the interface numbered `interfaceIndex` (`IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP`).
    /// The socket then receives the group's datagrams sent to its port; bind it to the wildcard address
    /// (`0.0.0.0` or `::`) or the group, since a socket bound to a unicast address drops them.
    public func joinMulticastGroup(_ group: String, interfaceIndex: UInt32) throws(SystemError) {
        let what = "multicast group '\(group)' on interface \(interfaceIndex)"
        if family == AF_INET6 {
            var request = ipv6_mreq()
            request.ipv6mr_interface = interfaceIndex
            guard inet_pton(AF_INET6, group, &request.ipv6mr_multiaddr) == 1 else {
                throw SystemError("\(what): not a numeric IPv6 address (this socket is IPv6)", errno: EINVAL)
            }
            try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_JOIN_GROUP, request, name: "IPV6_JOIN_GROUP \(what)")
        } else {
            var request = ip_mreqn()
            request.imr_ifindex = Int32(bitPattern: interfaceIndex)
            guard inet_pton(AF_INET, group, &request.imr_multiaddr) == 1 else {
                throw SystemError("\(what): not a numeric IPv4 address (this socket is IPv4)", errno: EINVAL)
            }
            try Self.setOption(fd, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, request, name: "IP_ADD_MEMBERSHIP \(what)")
        }
    }

    // MARK: Sending and receiving

    /// Sends `bytes` as one datagram to `address`. Returns false when the socket's send buffer is full (try
    /// again when it is writable). The corresponding C function is `sendto`.
    @discardableResult
    public func send(_ bytes: [UInt8], to address: InternetSocketAddress) throws(SystemError) -> Bool {
        do {
            _ = try address.withSockaddr { (pointer, length) throws(SystemError) in
                try bytes.withUnsafeBytes { raw in
                    Result { () throws(SystemError) in
                        try retrying("sendto") {
                            sendto(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL), pointer, length)
                        }
                    }
                }.get()
            }
            return true
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return false }
            // Named here, not before the call: a send on the hot path builds no message.
            throw SystemError("sendto \(address) (UDP, \(bytes.count) bytes)", errno: error.errno)
        }
    }

    /// Receives the datagrams waiting, up to `buffer`'s capacity, in one `recvmmsg` call; none when none is
    /// waiting (it never blocks). A datagram larger than the buffer's slots comes back cut, marked
    /// ``Datagram/isTruncated``, with its full length.
    public func receive(into buffer: inout DatagramBuffer) throws(SystemError) -> [Datagram] {
        let received: Int32
        do {
            received = try buffer.withReceiveArguments { (bytes, slotBytes, count, addresses, addressLengths, lengths, truncated) throws(SystemError) in
                try retrying("recvmmsg") { cshim_recvmmsg(fd, bytes, slotBytes, count, addresses, addressLengths, lengths, truncated) }
            }
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return [] }
            throw error
        }
        return (0..<Int(received)).compactMap { index in buffer.datagram(at: index) }
    }

    // MARK: Options

    private static func setOption<Value>(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Value, name: String) throws(SystemError) {
        _ = try withUnsafeBytes(of: value) { (raw) throws(SystemError) in
            try retrying("setsockopt \(name)") { setsockopt(fd, level, option, raw.baseAddress, socklen_t(raw.count)) }
        }
    }
}

// MARK: - Datagram

/// One received datagram.
public struct Datagram: Sendable {
    /// Its bytes, cut to the receive buffer's slot when ``isTruncated``.
    public var bytes: [UInt8]
    /// Who sent it.
    public var source: InternetSocketAddress
    /// Whether it was larger than the receive buffer's slot (MSG_TRUNC): ``bytes`` holds only its start.
    public var isTruncated: Bool
    /// Its full length as sent, larger than `bytes.count` when truncated.
    public var length: Int
}

// MARK: - DatagramBuffer

/// The memory one ``DatagramSocket/receive(into:)`` fills: `capacity` slots of `slotBytes` each. Kept by
/// the caller across calls, so a batch costs no allocation of receive memory.
public struct DatagramBuffer: Sendable {
    /// The most datagrams one receive returns (at most 256).
    public let capacity: Int
    /// The most bytes kept of one datagram; a longer one is reported truncated.
    public let slotBytes: Int
    /// `capacity` × `slotBytes` bytes.
    private var bytes: [UInt8]
    /// Per slot: the source, its length, the datagram's full length, and whether it was cut.
    private var sources: [sockaddr_storage]
    private var sourceLengths: [UInt32]
    private var lengths: [Int]
    private var truncated: [UInt8]

    /// A buffer for up to `capacity` datagrams (clamped to 1...256) of up to `slotBytes` bytes each (at least
    /// 1). 65,507 bytes is the largest UDP payload over IPv4; most protocols bound theirs far lower.
    public init(capacity: Int = 64, slotBytes: Int = 2048) {
        self.capacity = min(max(capacity, 1), 256)
        self.slotBytes = max(slotBytes, 1)
        bytes = [UInt8](repeating: 0, count: self.capacity * self.slotBytes)
        sources = [sockaddr_storage](repeating: sockaddr_storage(), count: self.capacity)
        sourceLengths = [UInt32](repeating: 0, count: self.capacity)
        lengths = [Int](repeating: 0, count: self.capacity)
        truncated = [UInt8](repeating: 0, count: self.capacity)
    }

    /// Calls `body` with `cshim_recvmmsg`'s arguments over this buffer's storage.
    fileprivate mutating func withReceiveArguments(
        _ body: (
            UnsafeMutablePointer<UInt8>?, Int, UInt32, UnsafeMutablePointer<sockaddr_storage>?, UnsafeMutablePointer<UInt32>?,
            UnsafeMutablePointer<Int>?, UnsafeMutablePointer<UInt8>?
        ) throws(SystemError) -> Int32
    ) throws(SystemError) -> Int32 {
        let slotBytes = slotBytes
        let count = UInt32(capacity)
        return try bytes.withUnsafeMutableBufferPointer { (bytes) throws(SystemError) -> Int32 in
            try sources.withUnsafeMutableBufferPointer { (sources) throws(SystemError) -> Int32 in
                try sourceLengths.withUnsafeMutableBufferPointer { (sourceLengths) throws(SystemError) -> Int32 in
                    try lengths.withUnsafeMutableBufferPointer { (lengths) throws(SystemError) -> Int32 in
                        try truncated.withUnsafeMutableBufferPointer { (truncated) throws(SystemError) -> Int32 in
                            try body(
                                bytes.baseAddress, slotBytes, count, sources.baseAddress, sourceLengths.baseAddress, lengths.baseAddress,
                                truncated.baseAddress)
                        }
                    }
                }
            }
        }
    }

    /// Datagram `index` of the last receive; nil when its source is not an internet address (never, on a
    /// UDP socket).
    fileprivate func datagram(at index: Int) -> Datagram? {
        guard let source = InternetSocketAddress(storage: sources[index], length: socklen_t(sourceLengths[index])) else { return nil }
        let start = index * slotBytes
        return Datagram(
            bytes: Array(bytes[start..<start + min(lengths[index], slotBytes)]), source: source, isTruncated: truncated[index] != 0,
            length: lengths[index])
    }
}

// MARK: - NetworkInterface

/// Network interfaces: by name, and the machine's list.
public struct NetworkInterface: Sendable, Hashable {
    /// The name (`eth0`).
    public var name: String
    /// The index the multicast options take.
    public var index: UInt32
    /// Whether it is up (`IFF_UP`).
    public var isUp: Bool
    /// Whether it can send and receive multicast (`IFF_MULTICAST`).
    public var supportsMulticast: Bool
    /// Whether it is a loopback interface (`IFF_LOOPBACK`).
    public var isLoopback: Bool
    /// Its IPv4 addresses, numeric.
    public var ipv4Addresses: [String]
    /// Its IPv6 addresses, numeric (link-local ones without the zone).
    public var ipv6Addresses: [String]

    /// Every interface with an address, in the kernel's order. The corresponding C functions are
    /// `getifaddrs` and `freeifaddrs`.
    public static func all() throws(SystemError) -> [NetworkInterface] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { throw SystemError("getifaddrs", errno: Glibc.errno) }
        defer { freeifaddrs(list) }
        var interfaces: [NetworkInterface] = []
        var cursor = list
        while let item = cursor {
            cursor = item.pointee.ifa_next
            guard let namePointer = item.pointee.ifa_name else { continue }
            let name = String(cString: namePointer)
            let flags = Int32(bitPattern: item.pointee.ifa_flags)
            if !interfaces.contains(where: { $0.name == name }) {
                interfaces.append(
                    NetworkInterface(
                        name: name, index: if_nametoindex(name), isUp: flags & Int32(IFF_UP) != 0,
                        supportsMulticast: flags & Int32(IFF_MULTICAST) != 0, isLoopback: flags & Int32(IFF_LOOPBACK) != 0,
                        ipv4Addresses: [], ipv6Addresses: []))
            }
            guard let address = item.pointee.ifa_addr, let position = interfaces.firstIndex(where: { $0.name == name }) else { continue }
            let family = Int32(address.pointee.sa_family)
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            if family == AF_INET {
                var inet = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                if inet_ntop(AF_INET, &inet, &text, socklen_t(text.count)) != nil { interfaces[position].ipv4Addresses.append(String(cString: text)) }
            } else if family == AF_INET6 {
                var inet6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                if inet_ntop(AF_INET6, &inet6, &text, socklen_t(text.count)) != nil { interfaces[position].ipv6Addresses.append(String(cString: text)) }
            }
        }
        return interfaces
    }

    /// The index of the interface called `name` (`lo`, `eth0`), for the multicast options.
    /// The corresponding C function is `if_nametoindex`.
    public static func index(named name: String) throws(SystemError) -> UInt32 {
        let index = if_nametoindex(name)
        guard index != 0 else { throw SystemError("if_nametoindex '\(name)': no such interface (see `ip link`)", errno: Glibc.errno) }
        return index
    }
}
