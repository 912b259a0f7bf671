import Glibc
import HostessSystem
import Testing

/// UDP on loopback only: every socket binds 127.0.0.1, ::1 or the wildcard address with its multicast
/// traffic pinned to `lo` and a TTL of 0, so no datagram leaves the machine.
@Suite struct DatagramSocketTests {
    // MARK: Unicast

    @Test("a datagram and its echo between two sockets", arguments: ["127.0.0.1:0", "[::1]:0"])
    func echo(bindAddress: String) throws {
        let any = try InternetSocketAddress(parsing: bindAddress)
        let client = try DatagramSocket(bindingTo: any)
        let server = try DatagramSocket(bindingTo: any)
        var buffer = DatagramBuffer(capacity: 4, slotBytes: 512)
        #expect(try server.receive(into: &buffer).isEmpty)

        #expect(try client.send(Array("ping".utf8), to: server.localAddress()))
        let request = try receive(1, on: server, into: &buffer)
        try #require(request.count == 1)
        #expect(request[0].bytes == Array("ping".utf8))
        #expect(!request[0].isTruncated)
        #expect(request[0].length == 4)
        #expect(request[0].source.description == (try client.localAddress()).description)

        #expect(try server.send(Array("pong".utf8), to: request[0].source))
        let reply = try receive(1, on: client, into: &buffer)
        #expect(reply.map(\.bytes) == [Array("pong".utf8)])
        #expect(reply.first?.source.description == (try server.localAddress()).description)
    }

    @Test("64 datagrams come back in one or a few recvmmsg calls, in order")
    func batch() throws {
        let loopback = try InternetSocketAddress(parsing: "127.0.0.1:0")
        let sender = try DatagramSocket(bindingTo: loopback)
        let receiver = try DatagramSocket(bindingTo: loopback)
        let destination = try receiver.localAddress()
        for index in 0..<64 { #expect(try sender.send([UInt8(index), 0xAB, UInt8(index)], to: destination)) }

        var buffer = DatagramBuffer(capacity: 64, slotBytes: 64)
        var received: [Datagram] = []
        var calls = 0
        while received.count < 64 && calls < 20 && waitUntilReady(receiver.fd, events: POLLIN, milliseconds: 2000) {
            received += try receiver.receive(into: &buffer)
            calls += 1
        }
        #expect(received.map(\.bytes) == (0..<64).map { [UInt8($0), 0xAB, UInt8($0)] })
        #expect(calls <= 4, "64 queued datagrams took \(calls) recvmmsg calls")
        #expect(try receiver.receive(into: &buffer).isEmpty)
    }

    @Test("a datagram larger than the slot comes back cut, marked truncated, with its full length")
    func truncation() throws {
        let loopback = try InternetSocketAddress(parsing: "127.0.0.1:0")
        let sender = try DatagramSocket(bindingTo: loopback)
        let receiver = try DatagramSocket(bindingTo: loopback)
        let destination = try receiver.localAddress()
        let oversize = (0..<1000).map { UInt8($0 % 251) }
        try sender.send(oversize, to: destination)
        try sender.send(Array("fits".utf8), to: destination)

        var buffer = DatagramBuffer(capacity: 8, slotBytes: 100)
        let received = try receive(2, on: receiver, into: &buffer)
        try #require(received.count == 2)
        #expect(received[0].isTruncated)
        #expect(received[0].length == 1000)
        #expect(received[0].bytes == Array(oversize.prefix(100)))
        #expect(!received[1].isTruncated)
        #expect(received[1].bytes == Array("fits".utf8))
    }

    // MARK: Multicast

    @Test("a member of 239.255.77.1 on lo receives its own datagrams (IP_MULTICAST_LOOP) and another sender's")
    func multicastOnLoopback() throws {
        let lo = try NetworkInterface.index(named: "lo")
        let member = try DatagramSocket(bindingTo: InternetSocketAddress(parsing: "0.0.0.0:0"), reuseAddress: true)
        try member.joinMulticastGroup("239.255.77.1", interfaceIndex: lo)
        try member.setMulticastInterface(lo)
        try member.setMulticastLoop(true)
        try member.setMulticastTTL(0)
        let group = try InternetSocketAddress(parsing: "239.255.77.1:\(member.localAddress().port)")

        var buffer = DatagramBuffer(capacity: 4, slotBytes: 256)
        #expect(try member.send(Array("to the group".utf8), to: group))
        #expect(try receive(1, on: member, into: &buffer).map(\.bytes) == [Array("to the group".utf8)])

        let sender = try DatagramSocket(bindingTo: InternetSocketAddress(parsing: "127.0.0.1:0"))
        try sender.setMulticastInterface(lo)
        try sender.setMulticastTTL(0)
        #expect(try sender.send(Array("from 127.0.0.1".utf8), to: group))
        let received = try receive(1, on: member, into: &buffer)
        #expect(received.map(\.bytes) == [Array("from 127.0.0.1".utf8)])
        #expect(received.first?.source.description == (try sender.localAddress()).description)
    }

    @Test("an IPv6 group can be joined on lo; a group of the other family is refused")
    func multicastGroupFamilies() throws {
        let lo = try NetworkInterface.index(named: "lo")
        let member6 = try DatagramSocket(bindingTo: InternetSocketAddress(parsing: "[::]:0"))
        try member6.joinMulticastGroup("ff15::77:1", interfaceIndex: lo)
        try member6.setMulticastLoop(true)
        try member6.setMulticastTTL(0)
        try member6.setMulticastInterface(lo)
        #expect(throws: SystemError.self) { try member6.joinMulticastGroup("239.255.77.1", interfaceIndex: lo) }
        let member4 = try DatagramSocket(bindingTo: InternetSocketAddress(parsing: "0.0.0.0:0"))
        do throws(SystemError) {
            try member4.joinMulticastGroup("ff15::77:1", interfaceIndex: lo)
            Issue.record("an IPv6 group joined on an IPv4 socket")
        } catch {
            #expect(error.errno == EINVAL)
            #expect(error.call.contains("not a numeric IPv4 address"))
        }
        #expect(throws: SystemError.self) { try NetworkInterface.index(named: "no-such-interface0") }
    }

    // MARK: Helpers

    /// Receives until `count` datagrams came or 2 s passed without one (at most 20 calls).
    private func receive(_ count: Int, on socket: DatagramSocket, into buffer: inout DatagramBuffer) throws -> [Datagram] {
        var received: [Datagram] = []
        for _ in 0..<20 where received.count < count {
            guard waitUntilReady(socket.fd, events: POLLIN, milliseconds: 2000) else { break }
            received += try socket.receive(into: &buffer)
        }
        return received
    }
}
