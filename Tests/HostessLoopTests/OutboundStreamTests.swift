import Glibc
import HostessLoop
import HostessSystem
import Testing

/// Outbound ``StreamChannel``s on a loop that also runs their loopback peer.
@Suite(.serialized) struct OutboundStreamTests {
    static let timeouts = StreamDeadlines.Timeouts(request: 5_000_000_000, idle: nil, write: 5_000_000_000)

    @Test(
        "an outbound channel connects to an echo server on the same loop, gets its bytes back, and closes",
        arguments: [("127.0.0.1", 5), ("127.0.0.1", 300_000), ("::1", 5), ("::1", 300_000)])
    func echo(host: String, size: Int) throws {
        try skipUnlessAvailable(host)
        let loop = try Loop()
        let server = try EchoServer(on: host, loop: loop)
        defer { server.shutdown() }
        let payload = pattern(size)
        var received: [UInt8] = []
        let client = StreamRecorder()
        client.onConnected = { channel in
            channel.enqueue { $0.append(contentsOf: payload) }
        }
        client.onRead = { channel, _ in
            received += channel.input.unconsumed
            channel.input.consume(channel.input.count)
            channel.input.compact()
            if received.count >= payload.count { channel.close(reason: nil) }
        }
        let channel = try StreamChannel(
            connectingTo: server.address, label: "client", loop: loop, timeouts: Self.timeouts, inputLimit: 1 << 22, delegate: client)
        #expect(channel.isConnecting)

        drive(loop) { client.isClosed && server.closed == 1 }

        #expect(received == payload)
        #expect(client.events.first == .connected)
        #expect(client.events.last == .closed(nil))
        let reads = client.events.dropFirst().dropLast()
        #expect(reads.allSatisfy { if case .read = $0 { true } else { false } }, "\(client.events)")
        #expect(reads.reduce(0) { if case .read(let count) = $1 { $0 + count } else { $0 } } == size)
        #expect(channel.isClosed && !channel.isConnecting)
        #expect(server.opened == 1 && server.echoed == size)
        #expect(server.closeReasons == [nil])
        #expect(server.acceptor?.openCount == 0)
        // The channel closed its descriptor and left the loop (only the listener remains).
        #expect(inode(of: channel.inputFD) == nil || loop.registeredCount == 1)
        #expect(loop.registeredCount == 1)
    }

    @Test("an outbound connect to a closed loopback port closes the channel as refused, never connected", arguments: ["127.0.0.1", "::1"])
    func refused(host: String) throws {
        try skipUnlessAvailable(host)
        let loop = try Loop()
        let address = try closedPort(on: host)
        let client = StreamRecorder()
        let channel: StreamChannel
        do {
            channel = try StreamChannel(
                connectingTo: address, label: "client", loop: loop, timeouts: Self.timeouts, inputLimit: 4096, delegate: client)
        } catch {
            // PendingConnection allows a loopback refusal to come back from connect() itself.
            #expect(error.reason == .refused)
            #expect(client.events.isEmpty)
            return
        }
        let started = SystemClock.monotonicNanoseconds()
        drive(loop, seconds: 5) { client.isClosed }
        #expect(client.events.count == 1, "\(client.events)")
        let reason = try #require(client.closeReason ?? nil, "closed without a reason: \(client.events)")
        #expect(reason.contains("refused"))
        #expect(reason.contains(address.description))
        #expect(!client.events.contains(.connected))
        #expect(channel.isClosed && !channel.isConnecting)
        #expect(seconds(since: started) < 2)
        #expect(loop.registeredCount == 0)
    }

    /// A failed connect closes its descriptor once: PendingConnection.finish closes it when it throws, so the
    /// channel's close must neither close that number again nor write to it (by then it may name another
    /// descriptor: here one the delegate opened while told of the failure, as a reconnecting client would).
    @Test("a refused connect neither closes nor writes to its old descriptor number once the delegate reused it")
    func refusedClosesOnce() throws {
        let loop = try Loop()
        let address = try closedPort(on: "127.0.0.1")
        let client = StreamRecorder()
        var reused: (fd: Int32, inode: UInt64, partner: Int32)?
        client.onClosed = { channel, _ in
            // The delegate opens a descriptor while told of the failure: it gets the lowest free number.
            if let (inode, partner) = occupyWithPair(channel.inputFD) { reused = (channel.inputFD, inode, partner) }
            // Last words, which close() writes "if the descriptor takes them at once".
            channel.enqueue { $0.append(contentsOf: "last words\n".utf8) }
        }
        let channel: StreamChannel
        do {
            channel = try StreamChannel(
                connectingTo: address, label: "client", loop: loop, timeouts: Self.timeouts, inputLimit: 4096, delegate: client)
        } catch {
            #expect(error.reason == .refused)
            return
        }
        // Queued while connecting, for after the connect.
        channel.enqueue { $0.append(contentsOf: "hello\n".utf8) }
        drive(loop, seconds: 5) { client.isClosed }
        #expect(client.closeReason??.contains("refused") == true)
        guard let reused else {
            // Another thread took the number between the close and the delegate's open; nothing to check.
            return
        }
        defer { Syscall.close(reused.partner) }
        let survived = inode(of: reused.fd) == reused.inode
        #expect(survived, "StreamChannel.close closed descriptor \(reused.fd) a second time (the delegate's socket)")
        if survived { Syscall.close(reused.fd) }
        let leaked = readAvailable(reused.partner).bytes
        #expect(leaked.isEmpty, "the channel wrote \(String(decoding: leaked, as: UTF8.self).debugDescription) to the delegate's socket")
    }

    @Test("an outbound connect nobody answers (the listener's backlog full) closes the channel at the request timeout")
    func connectTimeout() throws {
        let (listener, address) = try listen(on: "127.0.0.1", backlog: 0)
        defer { Syscall.close(listener) }
        // Fill the accept queue with connections never accepted, until a connect is left hanging.
        var held: [Int32] = []
        defer { held.forEach(Syscall.close) }
        var hanging = false
        for _ in 0..<16 where !hanging {
            let pending = try PendingConnection.start(to: address, deadline: SystemClock.monotonicNanoseconds() + 200_000_000)
            if waitUntilReady(pending.fd, events: POLLOUT, milliseconds: 100), let fd = try pending.finish(now: SystemClock.monotonicNanoseconds()) {
                held.append(fd)
            } else {
                pending.abandon()
                hanging = true
            }
        }
        try #require(hanging, "16 connects to a listener with backlog 0 all completed")

        let loop = try Loop()
        let client = StreamRecorder()
        let started = SystemClock.monotonicNanoseconds()
        let channel = try StreamChannel(
            connectingTo: address, label: "client", loop: loop,
            timeouts: .init(request: 300_000_000, idle: nil, write: 5_000_000_000), inputLimit: 4096, delegate: client)
        drive(loop, seconds: 5) { client.isClosed }
        let elapsed = seconds(since: started, until: client.time { if case .closed = $0 { true } else { false } } ?? started)
        #expect(client.events.count == 1, "\(client.events)")
        let reason = try #require(client.closeReason ?? nil)
        #expect(reason.contains("no answer within"), "\(reason)")
        #expect(elapsed >= 0.25 && elapsed < 3, "closed after \(elapsed) s")
        #expect(channel.isClosed && loop.registeredCount == 0)
    }
}
