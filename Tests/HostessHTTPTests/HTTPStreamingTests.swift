import HostessHTTP
import HostessTestSupport
import Testing

// MARK: - Helpers

private typealias ResponseResult = HTTPResponseParser.ParseResult
private typealias ResponseLimits = HTTPResponseParser.Limits

/// What ``HTTPResponseParser`` makes of all of `bytes` at once, the input ending there, interim 1xx responses
/// skipped as a client skips them (their bytes counted in `consumed`).
private func wholeResult(_ bytes: [UInt8], limits: ResponseLimits) -> ResponseResult {
    var parser = HTTPResponseParser(limits: limits)
    var start = 0
    while true {
        let result = parser.parse(bytes, from: start, atEndOfInput: true)
        guard case .response(let response, let consumed) = result else { return result }
        start += consumed
        if response.status >= 200 { return .response(response, consumed: start) }
    }
}

/// What ``HTTPResponseStreamParser`` makes of `bytes` given in pieces of the sizes `cuts` draws, the last call
/// ending the input, as the ``HTTPResponseParser`` result it should equal: the head with the body pieces put
/// together.
private func streamedResult(_ bytes: [UInt8], limits: ResponseLimits, requestWasHead: Bool = false, cuts: (Int) -> Int) -> ResponseResult {
    var parser = HTTPResponseStreamParser(limits: limits, requestWasHead: requestWasHead)
    var head: HTTPClientResponse?
    var body: [UInt8] = []
    var consumed = 0
    var offset = 0
    repeat {
        let size = min(max(0, cuts(bytes.count - offset)), bytes.count - offset)
        let piece = bytes[offset..<(offset + size)]
        offset += size
        let output: HTTPResponseStreamParser.Output
        do { output = try parser.parse(piece, atEndOfInput: offset == bytes.count) } catch { return .failure(error) }
        if let arrived = output.head {
            if head != nil { Issue.record("a second head") }
            head = arrived
        }
        #expect(output.head == nil || output.head?.body == [])
        body += output.body
        consumed += output.consumed
        if output.isComplete {
            guard var response = head else {
                Issue.record("complete without a head")
                return .incomplete
            }
            response.body = body
            return .response(response, consumed: consumed)
        }
        #expect(output.consumed == size, "an incomplete response takes every byte given")
    } while offset < bytes.count
    return .incomplete
}

/// The body ``HTTPChunkedDecoder`` makes of `bytes` in pieces of the sizes `cuts` draws, and the bytes it took.
private func decodeChunked(_ bytes: [UInt8], limits: ResponseLimits = ResponseLimits(), cuts: (Int) -> Int) throws(HTTPParseError) -> (body: [UInt8], consumed: Int) {
    var decoder = HTTPChunkedDecoder(limits: limits)
    var body: [UInt8] = []
    var consumed = 0
    var offset = 0
    while offset < bytes.count && !decoder.isComplete {
        let size = min(max(1, cuts(bytes.count - offset)), bytes.count - offset)
        let taken = try decoder.decode(bytes[offset..<(offset + size)], appendingTo: &body)
        #expect(taken == size || decoder.isComplete)
        consumed += taken
        offset += size
    }
    try decoder.finish()
    return (body, consumed)
}

/// The head of a chunked response.
private let chunkedHead = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

// MARK: - HTTPChunkedDecoder

@Suite struct HTTPChunkedDecoderTests {
    @Test("chunks in hex of either case, extensions ignored, trailers read and dropped, the next message's bytes left")
    func decodes() throws {
        let text = "4;name=value\r\nWiki\r\n5 ; x ; y=\"q\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
            + "1a\r\n" + String(repeating: "z", count: 26) + "\r\n0;last\r\nExpires: never\r\nX-Trailer: t\r\n\r\n"
        let bytes = Array((text + "NEXT").utf8)
        let expected = Array(("Wikipedia in\r\n\r\nchunks." + String(repeating: "z", count: 26)).utf8)
        let whole = try decodeChunked(bytes) { $0 }
        #expect(whole.body == expected)
        #expect(whole.consumed == text.utf8.count)
        var decoder = HTTPChunkedDecoder()
        var body: [UInt8] = []
        #expect(try decoder.decode(bytes, appendingTo: &body) == text.utf8.count)
        #expect(decoder.isComplete)
        #expect(try decoder.decode(Array("more".utf8), appendingTo: &body) == 0, "nothing is taken after the end")
    }

    @Test("split at every byte, and byte by byte, the body and the bytes taken are the same")
    func everySplit() throws {
        let text = "3\r\nabc\r\n10;e=\"x\"\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n"
        let bytes = Array(text.utf8)
        let expected = Array("abc0123456789abcdef".utf8)
        for cut in 1..<bytes.count {
            var sizes = [cut, bytes.count]
            let result = try decodeChunked(bytes) { _ in sizes.removeFirst() }
            #expect(result.body == expected, "cut at \(cut)")
            #expect(result.consumed == bytes.count, "cut at \(cut)")
        }
        #expect(try decodeChunked(bytes) { _ in 1 }.body == expected)
    }

    static let cutShortBodies: [(String, String)] = [
        ("", "the input ended inside a chunk-size line"),
        ("5", "the input ended inside a chunk-size line"),
        ("5\r\nhel", "the input ended inside a chunk, 2 bytes short"),
        ("5\r\nhello", "the input ended before the CRLF after a chunk"),
        ("5\r\nhello\r", "the input ended before the CRLF after a chunk"),
        ("5\r\nhello\r\n", "the input ended inside a chunk-size line"),
        ("0\r\nX: y\r\n", "the input ended inside the trailer section"),
    ]

    @Test("a body cut short is refused at its end with where it was cut, as HTTPResponseParser says it", arguments: cutShortBodies)
    func cutShort(text: String, message: String) {
        #expect(throws: HTTPParseError(.badRequest, message)) { try decodeChunked(Array(text.utf8)) { $0 } }
        if case .failure(let error) = wholeResult(Array((chunkedHead + text).utf8), limits: ResponseLimits()) {
            #expect(error.message == message)
        } else {
            Issue.record("HTTPResponseParser accepted \(text.debugDescription)")
        }
    }

    @Test("the chunk-size line and trailer limits, before the line ends; an error sticks")
    func limits() throws {
        let atLimit = "1;" + String(repeating: "e", count: 62)
        #expect(try decodeChunked(Array((atLimit + "\r\nx\r\n0\r\n\r\n").utf8)) { _ in 1 }.body == [UInt8(ascii: "x")])
        var decoder = HTTPChunkedDecoder()
        var body: [UInt8] = []
        let tooLong = HTTPParseError(.badRequest, "a chunk-size line is longer than 64 bytes")
        #expect(throws: tooLong) { try decoder.decode(Array((atLimit + "e").utf8), appendingTo: &body) }
        #expect(throws: tooLong) { try decoder.decode(Array("\r\n".utf8), appendingTo: &body) }
        #expect(throws: tooLong) { try decoder.finish() }
        // A megabyte without a line feed is refused after looking at the first few bytes of it.
        var flood = HTTPChunkedDecoder()
        #expect(throws: tooLong) { try flood.decode([UInt8](repeating: UInt8(ascii: "1"), count: 1 << 20), appendingTo: &body) }

        let limits = ResponseLimits(headerBlock: 32, headerFields: 3)
        let filler = "X-F: " + String(repeating: "v", count: 32 - 7) + "\r\n"
        #expect(try decodeChunked(Array(("0\r\n" + filler + "\r\n").utf8), limits: limits) { _ in 1 }.body == [])
        #expect(throws: HTTPParseError(.headerTooLarge, "the trailer section is larger than 32 bytes")) {
            try decodeChunked(Array(("0\r\n" + filler + "X" + String(repeating: "y", count: 1 << 16)).utf8), limits: limits) { $0 }
        }
        #expect(throws: HTTPParseError(.headerTooLarge, "the response has more than 3 trailer fields")) {
            try decodeChunked(Array("0\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n".utf8), limits: limits) { $0 }
        }
    }

    @Test("decoding time is linear in the input however it is split: 8× the input takes less than 24× the time")
    func linear() throws {
        func body(chunks: Int) -> [UInt8] {
            var text = ""
            for index in 0..<chunks { text += index % 2 == 0 ? "7;e=1\r\nabcdefg\r\n" : "400\r\n" + String(repeating: "d", count: 1024) + "\r\n" }
            return Array((text + "0\r\n\r\n").utf8)
        }
        let small = body(chunks: 500)
        let large = body(chunks: 4000)
        let clock = ContinuousClock()
        var best = (small: Duration.seconds(3600), large: Duration.seconds(3600))
        for _ in 0..<5 {
            best.small = min(best.small, clock.measure { _ = try? decodeChunked(small) { _ in 7 } })
            best.large = min(best.large, clock.measure { _ = try? decodeChunked(large) { _ in 7 } })
        }
        #expect(best.large < best.small * 24, "\(large.count) bytes took \(best.large), \(small.count) took \(best.small)")
    }
}

// MARK: - HTTPResponseStreamParser

@Suite struct HTTPResponseStreamParserTests {
    @Test("the head as soon as it is complete, then the body piece by piece, then the end")
    func streams() throws {
        var parser = HTTPResponseStreamParser()
        let first = try parser.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n".utf8))
        #expect(first == HTTPResponseStreamParser.Output(head: nil, body: [], isComplete: false, consumed: first.consumed))
        let second = try parser.parse(Array("\r\n5\r\nhel".utf8))
        #expect(second.head?.status == 200)
        #expect(second.head?.header("x-a") == "1")
        #expect(second.body == Array("hel".utf8))
        #expect(second.consumed == 8)
        let third = try parser.parse(Array("lo\r\n".utf8))
        #expect(third.head == nil)
        #expect(third.body == Array("lo".utf8))
        #expect(!third.isComplete)
        let last = try parser.parse(Array("0\r\n\r\nHTTP/1.1 200 OK\r\n".utf8))
        #expect(last.isComplete)
        #expect(last.consumed == 5, "the next response's bytes are not taken")
        #expect(try parser.parse(Array("x".utf8)) == HTTPResponseStreamParser.Output(head: nil, body: [], isComplete: true, consumed: 0))
    }

    static let samples: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}NEXT",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
        "HTTP/1.0 200 OK\r\nServer: s\r\n\r\nuntil the end\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nTrailer: Grpc-Trailer-Content-Type\r\n\r\n6c\r\n"
            + #"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#
            + "\r\n0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n",
    ]

    /// Limits whose body limit HTTPResponseParser will not reach, since the stream parser has none.
    private static let limits = ResponseLimits(statusLine: 128, headerBlock: 256, headerFields: 8, body: .max, chunkSizeLine: 16)

    @Test("it reads what HTTPResponseParser reads, and refuses what it refuses with the same error, at every split", arguments: samples)
    func sameAsParser(text: String) {
        let bytes = Array(text.utf8)
        let whole = wholeResult(bytes, limits: Self.limits)
        #expect(whole != .incomplete)
        #expect(streamedResult(bytes, limits: Self.limits) { $0 } == whole)
        for cut in 0...bytes.count {
            var sizes = [cut, bytes.count]
            #expect(streamedResult(bytes, limits: Self.limits) { _ in sizes.removeFirst() } == whole, "cut at \(cut)")
        }
        #expect(streamedResult(bytes, limits: Self.limits) { _ in 1 } == whole)
    }

    @Test("2,000 seeded mutations never trap and agree with HTTPResponseParser however they are split")
    func mutations() {
        var random = SplitMix64(seed: 0x57E4_0017)
        var mismatches = 0
        for _ in 0..<2000 {
            let input = mutatedResponse(Self.samples, &random)
            let whole = wholeResult(input, limits: Self.limits)
            let split = streamedResult(input, limits: Self.limits) { left in random.below(left + 1) }
            if split != whole {
                mismatches += 1
                if mismatches <= 5 { Issue.record("\(String(decoding: input, as: UTF8.self).debugDescription): \(split) ≠ \(whole)") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("a response to HEAD has no body; a failure sticks")
    func headAndFailure() throws {
        var head = HTTPResponseStreamParser(requestWasHead: true)
        let output = try head.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".utf8))
        #expect(output.isComplete && output.head?.status == 200 && output.body == [])
        var parser = HTTPResponseStreamParser()
        let failure = HTTPParseError(.versionNotSupported, "HTTP/3.0 is not supported; only HTTP/1.1 and HTTP/1.0 are")
        #expect(throws: failure) { try parser.parse(Array("HTTP/3.0 200 OK\r\n\r\n".utf8)) }
        #expect(throws: failure) { try parser.parse(Array("HTTP/1.1 200 OK\r\n\r\n".utf8), atEndOfInput: true) }
    }

    @Test("a stream longer than HTTPResponseParser's body limit is handed over piece by piece, never held")
    func unboundedStream() throws {
        var parser = HTTPResponseStreamParser(limits: ResponseLimits(body: 1024))
        _ = try parser.parse(Array(chunkedHead.utf8))
        let chunk = Array(("400\r\n" + String(repeating: "e", count: 1024) + "\r\n").utf8)
        var total = 0
        for _ in 0..<100 {
            let output = try parser.parse(chunk)
            #expect(output.body.count == 1024)
            total += output.body.count
        }
        #expect(total == 100 * 1024)
    }
}
