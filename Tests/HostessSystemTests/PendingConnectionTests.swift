import Glibc
import HostessSystem
import Testing

/// Outbound connects to loopback listeners this suite opens.
@Suite struct PendingConnectionTests {
    @Test("a connect to a loopback listener completes once writable")
    func connects() throws {
        let listener = try Syscall.tcpListener(InternetSocketAddress(parsing: "127.0.0.1:0"))
        defer { Syscall.close(listener) }
        let address = try InternetSocketAddress(parsing: "127.0.0.1:\(Syscall.localPort(listener))")
        let pending = try PendingConnection.start(to: address, deadline: SystemClock.monotonicNanoseconds() + 5_000_000_000)
        let fd = try #require(try complete(pending))
        defer { Syscall.close(fd) }
        #expect(waitUntilReady(listener, events: POLLIN, milliseconds: 2000))
        let accepted = try #require(try Syscall.accept(listener))
        Syscall.close(accepted)
    }

    @Test("a connect that finished by the time it is looked at succeeds, even past its deadline")
    func finishedBeforeLookingLate() throws {
        let listener = try Syscall.tcpListener(InternetSocketAddress(parsing: "127.0.0.1:0"))
        defer { Syscall.close(listener) }
        let address = try InternetSocketAddress(parsing: "127.0.0.1:\(Syscall.localPort(listener))")
        let pending = try PendingConnection.start(to: address, deadline: SystemClock.monotonicNanoseconds() + 1_000_000)
        #expect(waitUntilReady(pending.fd, events: POLLOUT, milliseconds: 2000))
        let fd = try #require(try pending.finish(now: pending.deadline + 1_000_000_000))
        Syscall.close(fd)
    }

    @Test("a connect to a closed loopback port is refused, naming the address")
    func refused() throws {
        // A port that was just free: bound, then closed.
        let probe = try Syscall.tcpListener(InternetSocketAddress(parsing: "127.0.0.1:0"))
        let port = try Syscall.localPort(probe)
        Syscall.close(probe)
        let address = try InternetSocketAddress(parsing: "127.0.0.1:\(port)")
        do {
            let pending = try PendingConnection.start(to: address, deadline: SystemClock.monotonicNanoseconds() + 5_000_000_000)
            let fd = try complete(pending)
            if let fd { Syscall.close(fd) }
            Issue.record("connected to a closed port")
        } catch {
            #expect(error.reason == .refused)
            #expect(error.description.contains("127.0.0.1:\(port)"))
            #expect(error.description.contains("nothing listens"))
        }
    }

    @Test("a connect the listener never answers (its backlog full) times out at its deadline")
    func timesOut() throws {
        let listener = try Syscall.tcpListener(InternetSocketAddress(parsing: "127.0.0.1:0"), backlog: 0)
        defer { Syscall.close(listener) }
        let address = try InternetSocketAddress(parsing: "127.0.0.1:\(Syscall.localPort(listener))")
        // Fill the accept queue with connections never accepted, until one connect is left hanging.
        var held: [Int32] = []
        defer { held.forEach(Syscall.close) }
        var hanging: PendingConnection?
        for _ in 0..<16 where hanging == nil {
            let pending = try PendingConnection.start(to: address, deadline: SystemClock.monotonicNanoseconds() + 300_000_000)
            if waitUntilReady(pending.fd, events: POLLOUT, milliseconds: 100), let fd = try pending.finish(now: SystemClock.monotonicNanoseconds()) {
                held.append(fd)
            } else {
                hanging = pending
            }
        }
        let pending = try #require(hanging, "16 connects to a listener with backlog 0 all completed")
        // Still under way before its deadline.
        #expect(try pending.finish(now: pending.deadline - 1) == nil)
        #expect(!waitUntilReady(pending.fd, events: POLLOUT, milliseconds: 100))
        do {
            _ = try pending.finish(now: pending.deadline)
            Issue.record("a hanging connect completed")
        } catch {
            guard case .timedOut(let nanoseconds) = error.reason else {
                Issue.record("expected a timeout, got \(error)")
                return
            }
            #expect(nanoseconds >= 299_000_000)
            #expect(error.description.contains("no answer within"))
        }
        // finish closed the descriptor.
        #expect(fcntl(pending.fd, F_GETFD) == -1)
    }

    /// Waits for writability (at most 20 × 100 ms) and finishes the connect.
    private func complete(_ pending: PendingConnection) throws(ConnectError) -> Int32? {
        for _ in 0..<20 {
            _ = waitUntilReady(pending.fd, events: POLLOUT, milliseconds: 100)
            if let fd = try pending.finish(now: SystemClock.monotonicNanoseconds()) { return fd }
        }
        return nil
    }
}
