import HostessHTTP
import HostessTestSupport
import Testing

@Suite struct HTTPParserIncrementalTests {
    /// Requests, good and bad, whose result must not depend on how their bytes arrive.
    static let samples: [String] = [
        "GET /servers?class=0x0001&capability=gpu HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
        "POST /register HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"id\":\"a:b\",\"x\":1}",
        "\r\n\r\nDELETE /servers/a%3Ab HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: h\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n",
    ]

    @Test("a request split at every byte boundary parses as when it arrives whole", arguments: samples)
    func everySplit(text: String) {
        let bytes = Array(text.utf8)
        let whole = parse(bytes)
        #expect(!whole.isIncomplete)
        for split in 0...bytes.count {
            var parser = HTTPRequestParser()
            let first = parser.parse(Array(bytes[..<split]))
            if !first.isIncomplete {
                #expect(first == whole, "split at \(split)")
                continue
            }
            #expect(parser.parse(bytes) == whole, "split at \(split)")
        }
    }

    @Test("bytes arriving one at a time give the same result", arguments: samples)
    func byteByByte(text: String) {
        let bytes = Array(text.utf8)
        var parser = HTTPRequestParser()
        var received: [UInt8] = []
        var result = ParseResult.incomplete
        for byte in bytes {
            received.append(byte)
            result = parser.parse(received)
            if !result.isIncomplete { break }
        }
        #expect(result == parse(bytes))
    }

    @Test("two pipelined requests in one buffer, then a third completed after the caller compacts its buffer")
    func pipelined() throws {
        let first = "POST /query HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"
        let second = "GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let third = "GET /met"
        let buffer = Array((first + second + third).utf8)
        var parser = HTTPRequestParser()

        guard case .request(let one, let consumedOne) = parser.parse(buffer, from: 0) else {
            Issue.record("expected the first request")
            return
        }
        #expect(one.path == "/query")
        #expect(one.body == Array("{}".utf8))
        #expect(consumedOne == first.utf8.count)

        guard case .request(let two, let consumedTwo) = parser.parse(buffer, from: consumedOne) else {
            Issue.record("expected the second request")
            return
        }
        #expect(two.path == "/health")
        #expect(two.body == [])
        #expect(!two.keepAlive)
        #expect(consumedTwo == second.utf8.count)

        #expect(parser.parse(buffer, from: consumedOne + consumedTwo).isIncomplete)
        let compacted = Array(third.utf8) + Array("rics HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        guard case .request(let three, let consumedThree) = parser.parse(compacted, from: 0) else {
            Issue.record("expected the third request")
            return
        }
        #expect(three.path == "/metrics")
        #expect(consumedThree == compacted.count)
    }

    @Test("start is clamped to the buffer")
    func startIsClamped() {
        let bytes = Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        var parser = HTTPRequestParser()
        #expect(parser.parse(bytes, from: -5) == parse(bytes))
        #expect(parser.parse(bytes, from: bytes.count + 10).isIncomplete)
        #expect(parser.parse([], from: 0).isIncomplete)
    }

    @Test("given fewer bytes than before, the parser starts over instead of trapping")
    func shrinkingBufferStartsOver() throws {
        var parser = HTTPRequestParser()
        #expect(parser.parse(Array("POST /long/path/that/is/long HTTP/1.1\r\nHost: h\r\n".utf8)).isIncomplete)
        let short = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        let request = try #require(parser.parse(short).request)
        #expect(request.method == "GET")
    }

    @Test("a failure is repeated until reset; a request resets the parser by itself")
    func failureIsSticky() throws {
        var parser = HTTPRequestParser()
        let valid = Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        #expect(parser.parse(valid).request != nil)
        #expect(parser.parse(valid).request != nil)
        let failure = parser.parse(Array("BAD\r\n".utf8))
        #expect(failure.failure?.code == .badRequest)
        #expect(parser.parse(valid) == failure)
        parser.reset()
        #expect(parser.parse(valid).request != nil)
    }

    // MARK: Fuzz

    @Test("20,000 seeded random and mutated inputs: no trap, sane results, and a split never changes the result")
    func fuzz() {
        var random = SplitMix64(seed: 0x4854_5450_2F31_2E31)
        let alphabet = Array("GET POST/HTTP1.0:\r\n \t%?=&#*Host: hContent-Length: 0123456789Transfer-Encoding chunked".utf8)
            + [0x00, 0x01, 0x7F, 0x80, 0xC3, 0xA9, 0xFF]
        let seeds = Self.samples.map { Array($0.utf8) }
        let small = Limits(requestLine: 24, headerBlock: 48, headerFields: 3, body: 8)
        var incomplete = 0
        var requests = 0
        var failures = 0
        var mismatches = 0

        for round in 0..<20_000 {
            let limits = random.chance(30) ? small : Limits()
            var input: [UInt8]
            switch round % 3 {
            case 0:
                input = (0..<random.below(64)).map { _ in UInt8.random(in: 0...255, using: &random) }
            case 1:
                input = (0..<random.below(160)).map { _ in random.pick(alphabet) }
            default:
                input = random.pick(seeds)
                for _ in 0..<(1 + random.below(4)) {
                    let position = random.below(input.count + 1)
                    switch random.below(4) {
                    case 0 where position < input.count: input[position] = random.pick(alphabet)
                    case 1: input.insert(random.pick(alphabet), at: position)
                    case 2 where position < input.count: input.remove(at: position)
                    default: input.insert(contentsOf: input[position...].prefix(random.below(24)), at: position)
                    }
                }
            }

            var whole = parse(input, limits: limits)
            var offset = 0
            // Follow pipelined requests to the end of the input.
            while case .request(_, let consumed) = whole, consumed > 0, offset + consumed <= input.count {
                requests += 1
                offset += consumed
                var next = HTTPRequestParser(limits: limits)
                whole = next.parse(input, from: offset)
            }
            switch whole {
            case .incomplete: incomplete += 1
            case .request(_, let consumed):
                Issue.record("consumed \(consumed) of \(input.count - offset) bytes: \(input)")
            case .failure(let error):
                failures += 1
                if error.message.isEmpty || !error.message.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) {
                    Issue.record("unsafe message \(error.message.debugDescription)")
                }
            }

            let split = random.below(input.count + 1)
            var parser = HTTPRequestParser(limits: limits)
            let first = parser.parse(Array(input[..<split]))
            let second = first.isIncomplete ? parser.parse(input) : first
            if second != parse(input, limits: limits) {
                mismatches += 1
                if mismatches <= 5 { Issue.record("split at \(split) changed the result for \(input)") }
            }
        }
        #expect(mismatches == 0)
        #expect(incomplete > 0)
        #expect(requests > 0)
        #expect(failures > 0)
    }
}
