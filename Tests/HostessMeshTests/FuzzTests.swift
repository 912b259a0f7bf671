import HostessMesh
import HostessModel
import HostessTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct FuzzTests {
    /// A table holding one peer (id 2), and the signed datagram of another (id 1) to damage.
    static func fixture() -> (table: PeerTable, datagram: [UInt8]) {
        var table = PeerTable(ownHostessID: uuid(999), retention: 60_000_000_000)
        _ = table.receive(
            smallAnnouncement(hostessID: uuid(2), sequence: 1).encode(signingWith: testKey), from: "10.0.0.2", keys: testKeys,
            now: MeshClock(monotonic: 1, wall: wallNow))
        return (table, smallAnnouncement(hostessID: uuid(1), sequence: 1).encode(signingWith: testKey))
    }

    /// Random bytes, prefixes and damaged copies of a good datagram, and splices of the two; never the datagram itself.
    static func damaged(_ datagram: [UInt8], using generator: inout SplitMix64) -> [UInt8] {
        switch generator.below(4) {
        case 0:
            return (0..<generator.below(1300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        case 1:
            return Array(datagram.prefix(generator.below(datagram.count)))
        case 2:
            var copy = datagram
            for _ in 0...generator.below(3) {
                let position = generator.below(copy.count)
                copy[position] ^= UInt8(1 + generator.below(255))
            }
            return copy
        default:
            let cut = generator.below(datagram.count)
            let noise = (0..<generator.below(64)).map { _ in generator.pick(Array("{}[]\",:0123456789abcdef\n -.etrufnl".utf8)) }
            let spliced = Array(datagram.prefix(cut)) + noise + Array(datagram.dropFirst(cut + generator.below(8)))
            // An empty splice gives the datagram back: damage it after all.
            return spliced == datagram ? spliced + [0x20] : spliced
        }
    }

    @Test("10,000 random, truncated and damaged datagrams are all dropped, signed mode, and the table is unchanged")
    func signedFuzz() {
        var (table, datagram) = Self.fixture()
        let before = table.peers
        var generator = SplitMix64(seed: 0x4D45_5348)
        for round in 0..<10_000 {
            let input = Self.damaged(datagram, using: &generator)
            if case .success(let event) = table.receive(input, from: "10.0.0.1", keys: testKeys, now: MeshClock(monotonic: 2, wall: wallNow)) {
                Issue.record("round \(round): accepted \(input.count) bytes: \(String(describing: event))")
            }
        }
        #expect(table.peers == before)
        #expect(table.accepted == 1)
        #expect(table.dropped.values.reduce(0, +) == 10_000)
    }

    @Test("unsigned mode: random bytes and every strict prefix of the JSON are dropped")
    func unsignedFuzz() {
        var (table, _) = Self.fixture()
        let json = smallAnnouncement(hostessID: uuid(1)).encode(signingWith: nil)
        let before = table.peers
        var generator = SplitMix64(seed: 0x5553_4947)
        for _ in 0..<5_000 {
            let input = (0..<generator.below(1300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            _ = table.receive(input, from: "a", keys: nil, now: MeshClock(monotonic: 2, wall: wallNow))
        }
        for length in 0..<json.count {
            _ = table.receive(Array(json.prefix(length)), from: "a", keys: nil, now: MeshClock(monotonic: 2, wall: wallNow))
        }
        #expect(table.peers == before)
        #expect(table.accepted == 1)
    }

    @Test("a 64 KiB datagram is too large")
    func huge() {
        var (table, _) = Self.fixture()
        let result = table.receive(Array(repeating: UInt8(ascii: "{"), count: 65_536), from: "a", keys: nil, now: MeshClock(monotonic: 2, wall: wallNow))
        #expect(throws: AnnouncementError.self) { try result.get() }
        #expect(table.dropped == [.tooLarge: 1])
    }

    @Test("decoding is linear: 8× the bytes take less than 24× the time (quadratic work would take 64×)", arguments: ["0,", "\"abcdefgh\",", "[[[]]],", "{\"a\":1},"])
    func linear(element: String) {
        func datagram(bytes: Int) -> [UInt8] {
            let head = Array(#"{"type":"HOSTESS_ANNOUNCEMENT","pad":["#.utf8)
            var body = head
            while body.count + element.utf8.count + 3 < bytes { body += Array(element.utf8) }
            return body + Array("0]}".utf8)
        }
        // The fastest of nine rounds of each, taken in turn, so that a busy moment slows both alike.
        let inputs = [datagram(bytes: 145), datagram(bytes: 1160)]
        #expect(inputs[1].count <= Announcement.maximumBytes)
        var best = [Double.infinity, Double.infinity]
        for _ in 0..<9 {
            for (index, input) in inputs.enumerated() {
                let start = now()
                for _ in 0..<400 { _ = try? Announcement.decode(input, keys: nil, now: wallNow) }
                best[index] = min(best[index], now() - start)
            }
        }
        let ratio = best[1] / best[0]
        #expect(ratio < 24, "ratio \(ratio)")
    }

    private func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
