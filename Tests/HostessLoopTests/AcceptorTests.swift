import Glibc
import HostessLoop
import HostessSystem
import Testing

/// The ``Acceptor``'s connection limit and reserved slots against loopback TCP peers.
@Suite(.serialized) struct AcceptorTests {
    /// Admits or refuses peers in the order they come, as the test says; keeps admitted descriptors open.
    final class Gate: AcceptorDelegate {
        /// What each next peer is: privileged, not, or refused by the delegate itself with a reason.
        var plan: [Acceptor.Admission] = []
        private(set) var seen = 0
        private(set) var opened: [Int32] = []
        private(set) var refusals: [String] = []

        func admission(of peer: Acceptor.Peer) -> Acceptor.Admission {
            defer { seen += 1 }
            return seen < plan.count ? plan[seen] : .refused("not in the plan")
        }

        func refusal(_ reason: String, to peer: Acceptor.Peer) -> [UInt8] {
            refusals.append(reason)
            return Array("refused: \(reason)\n".utf8)
        }

        func open(_ peer: Acceptor.Peer) -> Bool {
            opened.append(peer.fd)
            return true
        }

        func closeAll() {
            opened.forEach(Syscall.close)
            opened.removeAll()
        }
    }

    @Test("limit 2, reserved 1: the third ordinary peer is refused with the refusal bytes, a privileged one admitted; release frees a slot")
    func limitAndReserve() throws {
        let (listener, address) = try listen(on: "127.0.0.1", backlog: 16)
        defer { Syscall.close(listener) }
        let loop = try Loop()
        let gate = Gate()
        defer { gate.closeAll() }
        gate.plan = [
            .admitted(privileged: false), .admitted(privileged: false), .admitted(privileged: false), .admitted(privileged: true),
            .admitted(privileged: true), .admitted(privileged: true), .admitted(privileged: false), .admitted(privileged: false),
            .refused("uid 1234 has too many connections"),
        ]
        var warnings: [String] = []
        let acceptor = try Acceptor(fd: listener, noun: "connections", limit: 2, reserved: 1, peerCredentials: false, loop: loop, delegate: gate)
        acceptor.onWarning = { warnings.append($0) }
        defer { acceptor.stop() }

        var clients: [Int32] = []
        defer { clients.forEach(Syscall.close) }
        /// Connects the next client (blocking, with 2 s receive timeouts); the accept queue keeps them in order.
        func connect() -> Bool {
            guard let fd = try? Syscall.tcpConnect(address) else { return false }
            Syscall.setTimeouts(fd, seconds: 2)
            clients.append(fd)
            return true
        }
        /// What a refused client reads before the end of the stream.
        func refusalText(_ index: Int) -> String { String(decoding: readToEnd(clients[index]), as: UTF8.self) }
        /// Whether an admitted client's connection is still open and silent.
        func isOpenAndSilent(_ index: Int) -> Bool { !waitUntilReady(clients[index], events: POLLIN, milliseconds: 0) }

        let limitRefusal = "refused: hostessd serves at most 2 connections; try again later\n"
        for _ in 0..<4 { #expect(connect()) }
        drive(
            loop, seconds: 10,
            steps: [
                // Four peers: two ordinary admitted, the third refused (limit 2), the fourth privileged admitted.
                {
                    guard gate.seen == 4 else { return false }
                    #expect(gate.opened.count == 3)
                    #expect(acceptor.openCount == 3)
                    #expect(refusalText(2) == limitRefusal)
                    #expect([0, 1, 3].allSatisfy(isOpenAndSilent))
                    // A fifth, privileged: the reserved slot is taken too.
                    #expect(connect())
                    return true
                },
                {
                    guard gate.seen == 5 else { return false }
                    #expect(refusalText(4) == limitRefusal)
                    #expect(acceptor.openCount == 3)
                    // One admitted connection closes: its slot is free for the next privileged peer.
                    acceptor.release()
                    #expect(acceptor.openCount == 2)
                    #expect(connect())
                    return true
                },
                {
                    guard gate.seen == 6 else { return false }
                    #expect(gate.opened.count == 4)
                    #expect(acceptor.openCount == 3)
                    #expect(isOpenAndSilent(5))
                    // Two more close: an ordinary peer fits under the limit again.
                    acceptor.release()
                    acceptor.release()
                    #expect(acceptor.openCount == 1)
                    #expect(connect())
                    return true
                },
                {
                    guard gate.seen == 7 else { return false }
                    #expect(gate.opened.count == 5)
                    #expect(acceptor.openCount == 2)
                    #expect(isOpenAndSilent(6))
                    // At the limit an ordinary peer is refused again.
                    #expect(connect())
                    return true
                },
                {
                    guard gate.seen == 8 else { return false }
                    #expect(refusalText(7) == limitRefusal)
                    #expect(acceptor.openCount == 2)
                    // The delegate refuses one itself, with its reason.
                    #expect(connect())
                    return true
                },
                {
                    guard gate.seen == 9 else { return false }
                    #expect(refusalText(8) == "refused: uid 1234 has too many connections\n")
                    #expect(acceptor.openCount == 2)
                    return true
                },
            ])
        #expect(clients.count == 9)
        #expect(gate.refusals.count == 4)
        #expect(warnings.count == 4, "\(warnings)")
        #expect(warnings.allSatisfy { $0.hasPrefix("refused a peer: ") }, "\(warnings)")
        // Releasing more than was admitted stays at zero.
        for _ in 0..<4 { acceptor.release() }
        #expect(acceptor.openCount == 0)
    }

    @Test("a burst of connects is accepted across turns, every peer admitted once", arguments: [1, 300])
    func burst(count: Int) throws {
        let (listener, address) = try listen(on: "127.0.0.1", backlog: 512)
        defer { Syscall.close(listener) }
        let loop = try Loop()
        let gate = Gate()
        defer { gate.closeAll() }
        gate.plan = Array(repeating: .admitted(privileged: false), count: count)
        let acceptor = try Acceptor(
            fd: listener, noun: "connections", limit: count, reserved: 0, peerCredentials: false, loop: loop, delegate: gate)
        defer { acceptor.stop() }
        var clients: [Int32] = []
        defer { clients.forEach(Syscall.close) }
        for _ in 0..<count { clients.append(try Syscall.tcpConnect(address)) }
        var turns = 0
        drive(loop, seconds: 10) {
            turns += 1
            return gate.seen == count
        }
        #expect(gate.opened.count == count)
        #expect(Set(gate.opened).count == count)
        #expect(acceptor.openCount == count)
        // At most acceptsPerTurn accepts a turn.
        #expect(turns >= (count + Acceptor.acceptsPerTurn - 1) / Acceptor.acceptsPerTurn)
    }
}
