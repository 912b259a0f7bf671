import Glibc
import HostessLoop
import HostessSystem
import Testing

/// ``InputBuffer`` and ``OutputBuffer`` on their own.
@Suite struct BufferTests {
    @Test("InputBuffer: consuming moves the start (clamped), compacting drops the consumed prefix")
    func input() {
        var buffer = InputBuffer(Array("hello world".utf8))
        #expect(buffer.count == 11 && !buffer.isEmpty)
        buffer.consume(6)
        #expect(Array(buffer.unconsumed) == Array("world".utf8))
        #expect(buffer.start == 6 && buffer.bytes.count == 11)
        buffer.consume(-3)
        #expect(buffer.count == 5)
        buffer.compact()
        #expect(buffer.start == 0 && buffer.bytes == Array("world".utf8))
        buffer.append(contentsOf: "!".utf8)
        buffer.consume(100)
        #expect(buffer.isEmpty && buffer.count == 0)
        buffer.compact()
        #expect(buffer.bytes.isEmpty && buffer.start == 0)
        buffer.append(contentsOf: [1, 2])
        buffer.removeAll()
        #expect(buffer.isEmpty && buffer.bytes.isEmpty)
    }

    @Test("OutputBuffer: flush writes what the socket takes, keeps the rest, and reports a peer that is gone")
    func output() throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
        defer { Syscall.close(ends[0]) }
        var buffer = OutputBuffer()
        #expect(buffer.flush(to: ends[0], socket: true) == false)
        buffer.append { $0 += Array("small".utf8) }
        #expect(buffer.flush(to: ends[0], socket: true) == true)
        #expect(buffer.pending == 0 && buffer.written == 0)
        #expect(readAvailable(ends[1]).bytes == Array("small".utf8))

        // More than a Unix socket's buffer: part is written, the rest waits.
        let large = pattern(8 << 20)
        buffer.append { $0 += large }
        #expect(buffer.flush(to: ends[0], socket: true) == true)
        #expect(buffer.pending > 0 && buffer.pending < large.count)
        #expect(buffer.flush(to: ends[0], socket: true) == false, "a full socket took more")
        var drained: [UInt8] = []
        for _ in 0..<10_000 where buffer.pending > 0 {
            drained += readAvailable(ends[1]).bytes
            _ = buffer.flush(to: ends[0], socket: true)
        }
        drained += readAvailable(ends[1]).bytes
        #expect(buffer.pending == 0)
        #expect(drained == large)

        buffer.append { $0 += Array("to nobody".utf8) }
        Syscall.close(ends[1])
        #expect(buffer.flush(to: ends[0], socket: true) == nil)
        buffer.discard()
        #expect(buffer.pending == 0)
    }
}
