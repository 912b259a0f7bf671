import Glibc
import HostessLoop
import HostessSystem
import Testing

/// ``DatagramChannel`` on the loop against a plain loopback ``DatagramSocket`` peer.
@Suite(.serialized) struct DatagramChannelTests {
    /// Records each datagram and sends it back to its source through the channel.
    final class Echo: DatagramChannelDelegate {
        private(set) var received: [Datagram] = []
        private(set) var batches = 0
        private(set) var failures: [SystemError] = []
        private(set) var unsent = 0

        func channel(_ channel: DatagramChannel, received datagrams: [Datagram]) {
            batches += 1
            received += datagrams
            for datagram in datagrams {
                do {
                    if try !channel.send(datagram.bytes, to: datagram.source) { unsent += 1 }
                } catch {
                    failures.append(error)
                }
            }
        }

        func channel(_ channel: DatagramChannel, failed error: SystemError) { failures.append(error) }
    }

    @Test("N datagrams arrive with their source, and their echoes reach the peer", arguments: ["127.0.0.1", "::1"], [1, 40, 200])
    func echo(host: String, count: Int) throws {
        try skipUnlessAvailable(host)
        let any = try loopback(host, port: 0)
        let loop = try Loop()
        let socket = try DatagramSocket(bindingTo: any)
        let peer = try DatagramSocket(bindingTo: any)
        let echo = Echo()
        // A small buffer, so that 200 datagrams take several batches (and several turns).
        let channel = try DatagramChannel(socket: socket, buffer: DatagramBuffer(capacity: 16, slotBytes: 256), loop: loop, delegate: echo)
        defer { channel.close() }
        let destination = try socket.localAddress()
        let peerAddress = try peer.localAddress()
        let messages = (0..<count).map { Array("datagram \($0) from \(host)".utf8) }

        var sent = 0
        var echoes: [Datagram] = []
        var buffer = DatagramBuffer(capacity: 64, slotBytes: 256)
        drive(loop, seconds: 10) {
            // The peer sends in bursts of at most 50 (well within loopback's receive buffer) and reads the echoes.
            while sent < count && sent < echoes.count + 50 {
                guard (try? peer.send(messages[sent], to: destination)) == true else { break }
                sent += 1
            }
            while let batch = try? peer.receive(into: &buffer), !batch.isEmpty { echoes += batch }
            return echoes.count >= count
        }

        #expect(echo.failures.isEmpty, "\(echo.failures)")
        #expect(echo.unsent == 0)
        #expect(echo.received.map(\.bytes) == messages)
        #expect(echo.received.allSatisfy { $0.source.description == peerAddress.description && !$0.isTruncated })
        #expect(echoes.map(\.bytes) == messages)
        #expect(echoes.allSatisfy { $0.source.description == destination.description })
        if count == 200 { #expect(echo.batches >= 200 / 16) }
    }

    @Test("a closed channel leaves the loop and hears nothing more")
    func close() throws {
        let any = try loopback("127.0.0.1", port: 0)
        let loop = try Loop()
        let socket = try DatagramSocket(bindingTo: any)
        let peer = try DatagramSocket(bindingTo: any)
        let echo = Echo()
        let channel = try DatagramChannel(socket: socket, loop: loop, delegate: echo)
        #expect(loop.registeredCount == 1)
        try peer.send(Array("one".utf8), to: socket.localAddress())
        var turns = 0
        drive(loop, seconds: 5) {
            turns += 1
            if echo.received.count == 1 && turns < 1000 {
                channel.close()
                channel.close()
                // Sent after the close: nobody reads it.
                _ = try? peer.send(Array("two".utf8), to: socket.localAddress())
                turns = 1000
            }
            return turns >= 1003
        }
        #expect(echo.received.map(\.bytes) == [Array("one".utf8)])
        #expect(loop.registeredCount == 0)
    }
}
