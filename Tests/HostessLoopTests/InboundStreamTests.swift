import Glibc
import HostessLoop
import HostessSystem
import Testing

/// Inbound ``StreamChannel``s on accepted loopback sockets: the request, idle and write deadlines the channel
/// keeps in the loop's heap, and the output high-water mark.
@Suite(.serialized) struct InboundStreamTests {
    @Test("a peer that connects and sends nothing is timed out (request) after the request timeout")
    func requestTimeout() throws {
        let (accepted, peer) = try connectedPair()
        defer { Syscall.close(peer) }
        let loop = try Loop()
        let recorder = StreamRecorder()
        recorder.onTimeout = { channel, _ in channel.close(reason: "request timed out") }
        let opened = SystemClock.monotonicNanoseconds()
        let channel = try StreamChannel(
            label: "inbound", inputFD: accepted, outputFD: accepted, isSocket: true, loop: loop,
            timeouts: .init(request: 200_000_000, idle: 5_000_000_000, write: 5_000_000_000), inputLimit: 4096, delegate: recorder)
        drive(loop, seconds: 5) { recorder.isClosed }

        #expect(recorder.events == [.timedOut(.request), .closed("request timed out")])
        let elapsed = seconds(since: opened, until: recorder.times.first ?? opened)
        #expect(elapsed >= 0.15 && elapsed < 2, "timed out after \(elapsed) s")
        #expect(channel.isClosed && loop.registeredCount == 0)
        // The peer sees the close.
        #expect(waitUntilReady(peer, events: POLLIN, milliseconds: 2000))
        #expect(readAvailable(peer).ended)
    }

    @Test(
        "after a request, with requestStartedAt cleared and lastActivity set, the idle deadline fires after the idle time",
        arguments: [1, 3])
    func idleTimeout(messages: Int) throws {
        let (accepted, peer) = try connectedPair()
        defer { Syscall.close(peer) }
        let loop = try Loop()
        let recorder = StreamRecorder()
        var requests: [[UInt8]] = []
        var lastRequestAt: UInt64 = 0
        recorder.onRead = { channel, _ in
            // A complete request per message: consumed, answered, and the channel is between requests.
            guard !channel.input.isEmpty else { return }
            requests.append(Array(channel.input.unconsumed))
            channel.input.consume(channel.input.count)
            channel.input.compact()
            channel.deadlines.requestStartedAt = nil
            channel.deadlines.lastActivity = loop.now
            lastRequestAt = SystemClock.monotonicNanoseconds()
        }
        recorder.onTimeout = { channel, deadline in channel.close(reason: "timed out: \(deadline)") }
        // The request timeout (200 ms) is shorter than the idle one (400 ms): a cleared request must not fire it.
        let channel = try StreamChannel(
            label: "inbound", inputFD: accepted, outputFD: accepted, isSocket: true, loop: loop,
            timeouts: .init(request: 200_000_000, idle: 400_000_000, write: 5_000_000_000), inputLimit: 4096, delegate: recorder)
        // The peer sends `messages` messages 150 ms apart (each within the idle time of the one before), the
        // first before the loop runs (its first turn waits for the request deadline).
        #expect(sendAvailable(peer, Array("ping 0\n".utf8)) > 0)
        var sent = 1
        var lastSentAt = SystemClock.monotonicNanoseconds()
        drive(loop, seconds: 8) {
            if sent < messages && requests.count == sent && SystemClock.monotonicNanoseconds() >= lastSentAt + 150_000_000 {
                #expect(sendAvailable(peer, Array("ping \(sent)\n".utf8)) > 0)
                sent += 1
                lastSentAt = SystemClock.monotonicNanoseconds()
            }
            return recorder.isClosed
        }

        #expect(requests.map { String(decoding: $0, as: UTF8.self) } == (0..<messages).map { "ping \($0)\n" })
        #expect(recorder.significantEvents.suffix(2) == [.timedOut(.idle), .closed("timed out: idle")], "\(recorder.events)")
        #expect(!recorder.events.contains(.timedOut(.request)))
        let firedAt = try #require(recorder.time { $0 == .timedOut(.idle) })
        let idle = seconds(since: lastRequestAt, until: firedAt)
        #expect(idle >= 0.35 && idle < 2.5, "idle fired \(idle) s after the last request")
        #expect(channel.isClosed)
    }

    @Test("a peer that does not read its replies is closed after the write timeout")
    func writeTimeout() throws {
        let (accepted, peer) = try connectedPair()
        defer { Syscall.close(peer) }
        let loop = try Loop()
        let recorder = StreamRecorder()
        let channel = try StreamChannel(
            label: "inbound", inputFD: accepted, outputFD: accepted, isSocket: true, loop: loop,
            timeouts: .init(request: 10_000_000_000, idle: nil, write: 300_000_000), inputLimit: 4096, delegate: recorder)
        // More than loopback's socket buffers hold (bounded: 64 MiB at most).
        var queued = 0
        while channel.pendingOutput == 0 && queued < 64 << 20 {
            channel.enqueue { $0.append(contentsOf: repeatElement(0x5A, count: 4 << 20)) }
            queued += 4 << 20
            channel.flush()
        }
        try #require(channel.pendingOutput > 0, "the kernel took \(queued) bytes at once")
        channel.settle()
        let queuedAt = SystemClock.monotonicNanoseconds()
        drive(loop, seconds: 8) { recorder.isClosed }

        let reason = try #require(recorder.closeReason ?? nil, "\(recorder.events)")
        #expect(reason.contains("did not read its replies"), "\(reason)")
        #expect(!recorder.events.contains { if case .timedOut = $0 { true } else { false } })
        let elapsed = seconds(since: queuedAt, until: recorder.time { if case .closed = $0 { true } else { false } } ?? queuedAt)
        #expect(elapsed >= 0.25 && elapsed < 4, "closed after \(elapsed) s")
        #expect(channel.isClosed)
    }

    @Test("above the output high-water mark the channel stops reading a peer that does not read, and reads again once it does")
    func outputHighWater() throws {
        let (accepted, peer) = try connectedPair()
        defer { Syscall.close(peer) }
        let loop = try Loop()
        let recorder = StreamRecorder()
        var queued = 0
        recorder.onRead = { channel, _ in
            // The first request gets a reply larger than the high-water mark that the kernel cannot take at once.
            guard queued == 0, !channel.input.isEmpty else { return }
            while channel.pendingOutput <= StreamChannel.outputHighWater && queued < 64 << 20 {
                channel.enqueue { $0.append(contentsOf: repeatElement(0x5A, count: 1 << 20)) }
                queued += 1 << 20
                channel.flush()
            }
        }
        let channel = try StreamChannel(
            label: "inbound", inputFD: accepted, outputFD: accepted, isSocket: true, loop: loop,
            timeouts: .init(request: 30_000_000_000, idle: nil, write: 30_000_000_000), inputLimit: 64 << 20, delegate: recorder)

        let chunk = [UInt8](repeating: 0x41, count: 65536)
        var peerSent = 0
        var peerRead = 0
        var stalledInput = -1
        var stalledAt: UInt64 = 0
        var blockedSends = 0
        var readWhileStalled = false
        drive(
            loop, seconds: 20,
            steps: [
                // 1. The peer sends until the channel is above the mark.
                {
                    if channel.pendingOutput > StreamChannel.outputHighWater {
                        stalledInput = channel.input.count
                        stalledAt = SystemClock.monotonicNanoseconds()
                        return true
                    }
                    if peerSent < 8 << 20 { peerSent += sendAvailable(peer, chunk) }
                    return false
                },
                // 2. For 600 ms the peer keeps sending (without reading, at most 32 MiB): the channel reads nothing.
                {
                    while peerSent < 32 << 20 {
                        let count = sendAvailable(peer, chunk)
                        peerSent += count
                        if count == 0 {
                            blockedSends += 1
                            break
                        }
                    }
                    if channel.input.count != stalledInput { readWhileStalled = true }
                    return SystemClock.monotonicNanoseconds() >= stalledAt + 600_000_000
                },
                // 3. The peer reads: the output drains and the channel reads again.
                {
                    peerRead += readAvailable(peer).bytes.count
                    return channel.input.count > stalledInput
                },
                // 4. The peer gets the whole reply.
                {
                    peerRead += readAvailable(peer).bytes.count
                    return peerRead >= queued
                },
            ])

        #expect(queued > StreamChannel.outputHighWater)
        #expect(stalledInput > 0)
        #expect(!readWhileStalled, "the channel read while above the high-water mark")
        #expect(blockedSends > 0, "the peer's sends never blocked (sent \(peerSent) bytes)")
        #expect(peerRead == queued)
        #expect(channel.input.count > stalledInput)
        #expect(!recorder.isClosed, "\(recorder.events)")
        channel.close(reason: nil)
        #expect(recorder.closeReason == .some(nil))
    }
}
