import HostessHTTP
import HostessTestSupport
import Testing

// MARK: - Helpers

private typealias ResponseResult = HTTPResponseParser.ParseResult
private typealias ResponseLimits = HTTPResponseParser.Limits

/// The result of a fresh parser reading all of `bytes` at once, the input ending there.
private func parseResponse(
    _ bytes: [UInt8], limits: ResponseLimits = ResponseLimits(), head: Bool = false, atEnd: Bool = true
) -> ResponseResult {
    var parser = HTTPResponseParser(limits: limits, requestWasHead: head)
    return parser.parse(bytes, atEndOfInput: atEnd)
}

private func parseResponse(
    _ text: String, limits: ResponseLimits = ResponseLimits(), head: Bool = false, atEnd: Bool = true
) -> ResponseResult {
    parseResponse(Array(text.utf8), limits: limits, head: head, atEnd: atEnd)
}

/// The result of a fresh parser given `bytes` in pieces of the sizes `cuts` draws, the last call ending the input.
private func parseInPieces(
    _ bytes: [UInt8], limits: ResponseLimits = ResponseLimits(), cuts: (Int) -> Int
) -> ResponseResult {
    var parser = HTTPResponseParser(limits: limits)
    var received: [UInt8] = []
    var offset = 0
    while offset < bytes.count {
        let size = min(max(1, cuts(bytes.count - offset)), bytes.count - offset)
        received.append(contentsOf: bytes[offset..<(offset + size)])
        offset += size
        let result = parser.parse(received)
        if result != .incomplete { return result }
    }
    return parser.parse(received, atEndOfInput: true)
}

extension HTTPResponseParser.ParseResult {
    fileprivate var failure: HTTPParseError? {
        if case .failure(let error) = self { return error }
        return nil
    }

    fileprivate var response: HTTPClientResponse? {
        if case .response(let response, _) = self { return response }
        return nil
    }

    fileprivate var consumed: Int? {
        if case .response(_, let consumed) = self { return consumed }
        return nil
    }
}

// MARK: - Framing

@Suite struct HTTPResponseParserTests {
    @Test("a Content-Length body, then a pipelined response after it")
    func contentLength() throws {
        let first = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        let second = "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nabc"
        let bytes = Array((first + second).utf8)
        var parser = HTTPResponseParser()
        let one = parser.parse(bytes)
        let response = try #require(one.response)
        #expect(response.status == 201)
        #expect(response.reason == "Created")
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.headers.first == HTTPHeader(name: "content-type", value: "application/json"))
        #expect(response.body == Array("{}".utf8))
        #expect(one.consumed == first.utf8.count)
        let two = parser.parse(bytes, from: first.utf8.count)
        #expect(two.response == HTTPClientResponse(status: 404, reason: "Not Found", headers: [HTTPHeader(name: "content-length", value: "3")], body: Array("abc".utf8)))
        #expect(two.consumed == second.utf8.count)
    }

    @Test("a chunked body: hex sizes in either case, extensions ignored, trailers read and dropped")
    func chunked() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nX-A: 1\r\n\r\n"
            + "4;name=value\r\nWiki\r\n5 ; x ; y=\"q\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
            + "1a\r\n" + String(repeating: "z", count: 26) + "\r\n0;last\r\nExpires: never\r\nX-Trailer: t\r\n\r\nNEXT"
        let result = parseResponse(text, atEnd: false)
        let response = try #require(result.response)
        #expect(response.body == Array(("Wikipedia in\r\n\r\nchunks." + String(repeating: "z", count: 26)).utf8))
        #expect(response.headers == [HTTPHeader(name: "transfer-encoding", value: "Chunked"), HTTPHeader(name: "x-a", value: "1")])
        #expect(response.header("expires") == nil)
        #expect(result.consumed == text.utf8.count - 4)
    }

    @Test("a chunked body with no chunks and no trailers is empty")
    func emptyChunked() {
        let result = parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", atEnd: false)
        #expect(result.response?.body == [])
    }

    @Test("without Content-Length or Transfer-Encoding the body runs to the end of the input")
    func untilEnd() {
        let bytes = Array("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nabc\r\ndef".utf8)
        var parser = HTTPResponseParser()
        #expect(parser.parse(bytes) == .incomplete)
        let result = parser.parse(bytes, atEndOfInput: true)
        #expect(result.response?.body == Array("abc\r\ndef".utf8))
        #expect(result.consumed == bytes.count)
        #expect(parseResponse("HTTP/1.1 200 OK\r\n\r\n").response?.body == [])
    }

    @Test("1xx, 204 and 304 have no body whatever their header fields say", arguments: [100, 103, 204, 304])
    func noBodyStatuses(status: Int) {
        let head = "HTTP/1.1 \(status) Whatever\r\nContent-Length: 5\r\n\r\n"
        let result = parseResponse(head + "HTTP/1.1 200 OK\r\n", atEnd: false)
        #expect(result.response == HTTPClientResponse(status: status, reason: "Whatever", headers: [HTTPHeader(name: "content-length", value: "5")]))
        #expect(result.consumed == head.utf8.count)
        let chunked = "HTTP/1.1 \(status) \r\nTransfer-Encoding: chunked\r\n\r\n"
        #expect(parseResponse(chunked, atEnd: false).consumed == chunked.utf8.count)
    }

    @Test("an interim 100 response, then the final one in the same buffer")
    func interimThenFinal() throws {
        let interim = "HTTP/1.1 100 Continue\r\n\r\n"
        let bytes = Array((interim + "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx").utf8)
        var parser = HTTPResponseParser()
        #expect(parser.parse(bytes).response?.status == 100)
        #expect(parser.parse(bytes, from: interim.utf8.count).response?.body == [UInt8(ascii: "x")])
    }

    @Test("a response to HEAD has no body, even with Content-Length or chunked")
    func head() {
        for framing in ["Content-Length: 10", "Transfer-Encoding: chunked", "X: y"] {
            let text = "HTTP/1.1 200 OK\r\n\(framing)\r\n\r\n"
            let result = parseResponse(text, head: true, atEnd: false)
            #expect(result.response?.body == [], "\(framing)")
            #expect(result.consumed == text.utf8.count)
        }
        // The body limit does not apply to a Content-Length no body follows.
        #expect(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n", head: true, atEnd: false).response != nil)
    }

    @Test("HTTP/1.0, an empty reason and obs-text in the reason are accepted")
    func statusLines() {
        #expect(parseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").response?.reason == "OK")
        #expect(parseResponse("HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n").response?.reason == "")
        #expect(parseResponse("HTTP/1.1 200 Très bien\tvraiment\r\nContent-Length: 0\r\n\r\n").response?.reason == "Très bien\tvraiment")
        #expect(parseResponse("HTTP/1.1 599 x\r\nContent-Length: 0\r\n\r\n").response?.status == 599)
    }

    // MARK: Refusals

    static let refused: [(String, String, HTTPParseError.Code, String)] = [
        // Status line
        ("no version", "200 OK\r\n\r\n", .badRequest, "the HTTP version '200' is malformed"),
        ("lower-case http", "http/1.1 200 OK\r\n\r\n", .badRequest, "the HTTP version 'http/1.1' is malformed"),
        ("HTTP/2", "HTTP/2.0 200 OK\r\n\r\n", .versionNotSupported, "HTTP/2.0 is not supported"),
        ("HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\n", .versionNotSupported, "HTTP/0.9 is not supported"),
        ("no space", "HTTP/1.1\r\n\r\n", .badRequest, "is not 'HTTP/1.1 CODE reason'"),
        ("no reason space", "HTTP/1.1 200\r\n\r\n", .badRequest, "with single spaces"),
        ("two spaces", "HTTP/1.1  200 OK\r\n\r\n", .badRequest, "the status code ' 200 OK' is not three digits"),
        ("two digits", "HTTP/1.1 20 OK\r\n\r\n", .badRequest, "is not three digits"),
        ("four digits", "HTTP/1.1 2000 OK\r\n\r\n", .badRequest, "with single spaces"),
        ("letters", "HTTP/1.1 2x0 OK\r\n\r\n", .badRequest, "the status code '2x0 OK' is not three digits"),
        ("code 099", "HTTP/1.1 099 Low\r\n\r\n", .badRequest, "the status code 99 is outside 100...599"),
        ("code 600", "HTTP/1.1 600 High\r\n\r\n", .badRequest, "the status code 600 is outside 100...599"),
        ("bare LF status line", "HTTP/1.1 200 OK\n\r\n", .badRequest, "the status line does not end with CRLF"),
        ("control in reason", "HTTP/1.1 200 O\u{1B}K\r\n\r\n", .badRequest, "the reason phrase contains a control character (\\x1B)"),
        ("CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n", .badRequest, "the reason phrase contains a control character (\\x0D)"),
        // Header fields, as for requests
        ("bare LF field", "HTTP/1.1 200 OK\r\nX: y\n\r\n", .badRequest, "a header line does not end with CRLF"),
        ("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", .badRequest, "obs-fold"),
        ("no colon", "HTTP/1.1 200 OK\r\nXY\r\n\r\n", .badRequest, "the header line 'XY' has no ':'"),
        ("space before colon", "HTTP/1.1 200 OK\r\nX : y\r\n\r\n", .badRequest, "white space between the field name 'X' and ':'"),
        ("name not a token", "HTTP/1.1 200 OK\r\nX(y): z\r\n\r\n", .badRequest, "the field name 'X(y)' is not a token"),
        ("NUL in value", "HTTP/1.1 200 OK\r\nX: a\u{0}b\r\n\r\n", .badRequest, "the value of the header 'x' contains NUL"),
        ("bare LF ending the head", "HTTP/1.1 200 OK\r\nX: y\r\n\n", .badRequest, "a header line does not end with CRLF"),
        // Framing
        ("both framings", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest, "both Content-Length and Transfer-Encoding"),
        ("two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", .badRequest, "more than one Content-Length"),
        ("Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx", .badRequest, "the Content-Length '1, 1' is not a decimal number"),
        ("negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", .badRequest, "is not a decimal number"),
        ("empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", .badRequest, "the Content-Length is empty"),
        ("huge Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", .badRequest, "too large to represent"),
        ("gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .badRequest, "the transfer coding 'gzip' is not supported"),
        ("gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .badRequest, "'gzip, chunked' is not supported"),
        ("chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest, "'chunked, chunked' is not supported"),
        // Chunks
        ("no chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", .badRequest, "the chunk size '' is not a hexadecimal number"),
        ("chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", .badRequest, "the chunk size 'xyz' is not a hexadecimal number"),
        ("signed chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", .badRequest, "is not a hexadecimal number"),
        ("junk after size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", .badRequest, "the chunk-size line '5 x' has more than a size and extensions"),
        ("control in extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\u{7F}\r\nhello\r\n0\r\n\r\n", .badRequest, "a chunk extension contains a control character (\\x7F)"),
        ("bare LF size line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", .badRequest, "a chunk-size line does not end with CRLF"),
        ("huge chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\n", .badRequest, "the chunk size 'FFFFFFFFFFFFFFFFF' is too large to represent"),
        ("data too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n", .badRequest, "a chunk's data is not followed by CRLF"),
        ("data bare LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", .badRequest, "a chunk's data is not followed by CRLF"),
        ("data CR then junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rx0\r\n\r\n", .badRequest, "a chunk's data is not followed by CRLF"),
        ("bad trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX : y\r\n\r\n", .badRequest, "white space between the field name 'X' and ':'"),
        // Cut short
        ("empty input", "", .badRequest, "the input ended before a status line"),
        ("cut in the status line", "HTTP/1.1 20", .badRequest, "the input ended inside the status line"),
        ("cut in the head", "HTTP/1.1 200 OK\r\nX: y\r\n", .badRequest, "the input ended inside the header block"),
        ("short body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", .badRequest, "the input ended after 3 of 5 body bytes"),
        ("cut in a size line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5", .badRequest, "the input ended inside a chunk-size line"),
        ("cut in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", .badRequest, "the input ended inside a chunk, 2 bytes short"),
        ("cut after a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r", .badRequest, "the input ended before the CRLF after a chunk"),
        ("no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", .badRequest, "the input ended inside a chunk-size line"),
        ("cut in the trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", .badRequest, "the input ended inside the trailer section"),
    ]

    @Test("malformed responses are refused with the right code and a message naming the fault", arguments: refused)
    func refuses(name: String, text: String, code: HTTPParseError.Code, fragment: String) throws {
        let error = try #require(parseResponse(text).failure, "\(name)")
        #expect(error.code == code, "\(name)")
        #expect(error.message.contains(fragment), "\(name): \(error.message)")
    }

    @Test("after a failure the parser answers it again until reset")
    func failureSticks() {
        var parser = HTTPResponseParser()
        let bad = Array("HTTP/3.0 200 OK\r\n\r\n".utf8)
        let failure = parser.parse(bad)
        #expect(failure.failure?.code == .versionNotSupported)
        let good = Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)
        #expect(parser.parse(good) == failure)
        parser.reset()
        #expect(parser.parse(good).response?.status == 204)
    }

    // MARK: Limits

    @Test("the status line limit: at it accepted, one byte over refused before its CRLF arrives")
    func statusLineLimit() {
        let limits = ResponseLimits(statusLine: 64)
        let atLimit = "HTTP/1.1 200 " + String(repeating: "r", count: 64 - 13)
        #expect(parseResponse(atLimit + "\r\nContent-Length: 0\r\n\r\n", limits: limits).response != nil)
        let error = parseResponse(atLimit + "r", limits: limits, atEnd: false).failure
        #expect(error == HTTPParseError(.headerTooLarge, "the status line is longer than 64 bytes"))
        #expect(parseResponse(atLimit + "r\r\n\r\n", limits: limits).failure?.code == .headerTooLarge)
    }

    @Test("the header block and field count limits, for headers and for trailers")
    func headerLimits() {
        let limits = ResponseLimits(headerBlock: 32, headerFields: 3)
        let filler = "X-F: " + String(repeating: "v", count: 32 - 7) + "\r\n"  // exactly 32 bytes
        #expect(parseResponse("HTTP/1.1 200 OK\r\n" + filler + "\r\n", limits: limits).response != nil)
        #expect(
            parseResponse("HTTP/1.1 200 OK\r\n" + filler + "X", limits: limits, atEnd: false).failure
                == HTTPParseError(.headerTooLarge, "the header block is larger than 32 bytes"))
        #expect(
            parseResponse("HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", limits: limits).failure
                == HTTPParseError(.headerTooLarge, "the response has more than 3 header fields"))
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
        #expect(parseResponse(chunked + filler + "\r\n", limits: limits).response != nil)
        #expect(
            parseResponse(chunked + filler + "X", limits: limits, atEnd: false).failure
                == HTTPParseError(.headerTooLarge, "the trailer section is larger than 32 bytes"))
        #expect(
            parseResponse(chunked + "a: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", limits: limits).failure
                == HTTPParseError(.headerTooLarge, "the response has more than 3 trailer fields"))
    }

    @Test("the body limit, for Content-Length, chunked and until-end bodies, as soon as it is exceeded")
    func bodyLimit() {
        let limits = ResponseLimits(body: 10)
        #expect(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", limits: limits).response != nil)
        #expect(
            parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", limits: limits, atEnd: false).failure
                == HTTPParseError(.tooLarge, "the body of 11 bytes is larger than the limit of 10 bytes"))
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n"
        #expect(parseResponse(chunked + "4\r\n6789\r\n0\r\n\r\n", limits: limits).response?.body.count == 10)
        #expect(
            parseResponse(chunked + "5\r\n", limits: limits, atEnd: false).failure
                == HTTPParseError(.tooLarge, "the body is larger than the limit of 10 bytes"))
        let untilEnd = "HTTP/1.1 200 OK\r\n\r\n"
        #expect(parseResponse(untilEnd + "0123456789", limits: limits).response?.body.count == 10)
        #expect(parseResponse(untilEnd + "0123456789X", limits: limits, atEnd: false).failure?.code == .tooLarge)
    }

    @Test("the chunk-size line limit, before its CRLF arrives")
    func chunkSizeLineLimit() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        let atLimit = "1;" + String(repeating: "e", count: 62)
        #expect(parseResponse(chunked + atLimit + "\r\nx\r\n0\r\n\r\n").response?.body == [UInt8(ascii: "x")])
        #expect(
            parseResponse(chunked + atLimit + "e", atEnd: false).failure
                == HTTPParseError(.badRequest, "a chunk-size line is longer than 64 bytes"))
        #expect(parseResponse(chunked + atLimit + "e\r\n").failure?.message == "a chunk-size line is longer than 64 bytes")
    }

    // MARK: Chunkings

    /// Responses, good and bad, whose result must not depend on how their bytes arrive.
    static let samples: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;a=b\r\nWiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n",
        "HTTP/1.0 200 OK\r\nServer: s\r\n\r\nuntil the end\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
    ]

    @Test("bytes arriving one at a time give the same result as all at once", arguments: samples)
    func byteByByte(text: String) {
        let bytes = Array(text.utf8)
        #expect(parseInPieces(bytes) { _ in 1 } == parseResponse(bytes))
    }

    @Test("random chunkings give the same result as all at once (seeded)", arguments: samples)
    func randomChunkings(text: String) {
        let bytes = Array(text.utf8)
        let whole = parseResponse(bytes)
        var random = SplitMix64(seed: 0x5EED_0013)
        for round in 0..<200 {
            let result = parseInPieces(bytes) { left in random.below(left + 1) }
            #expect(result == whole, "round \(round)")
        }
    }

    @Test("the caller may compact its buffer between calls")
    func compaction() {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        let bytes = Array(text.utf8)
        var parser = HTTPResponseParser()
        #expect(parser.parse(Array(bytes[..<30])) == .incomplete)
        // The same unconsumed bytes at another offset, with more after them.
        #expect(parser.parse(Array("JUNK".utf8) + bytes, from: 4).response?.body == Array("hello".utf8))
    }

    // MARK: Fuzzing

    @Test("2,000 seeded mutations never trap and answer consistently however they are split")
    func mutations() {
        var random = SplitMix64(seed: 0xF022_0013)
        let limits = ResponseLimits(statusLine: 128, headerBlock: 256, headerFields: 8, body: 512, chunkSizeLine: 16)
        var mismatches = 0
        for _ in 0..<2000 {
            let input = mutatedResponse(Self.samples, &random)
            let whole = parseResponse(input, limits: limits)
            switch whole {
            case .incomplete: Issue.record("incomplete at the end of the input: \(input)")
            case .response(_, let consumed):
                #expect((0...input.count).contains(consumed))
            case .failure(let error):
                if error.message.isEmpty || !error.message.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) {
                    Issue.record("unsafe message \(error.message.debugDescription)")
                }
            }
            let split = parseInPieces(input, limits: limits) { left in random.below(left + 1) }
            if split != whole {
                mismatches += 1
                if mismatches <= 5 { Issue.record("a split changed the result for \(input)") }
            }
        }
        #expect(mismatches == 0)
    }

    // MARK: Linearity

    /// A chunked response of `chunks` small chunks after `fields` header fields.
    private static func bigResponse(chunks: Int, fields: Int) -> [UInt8] {
        var text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
        for index in 0..<fields { text += "X-\(index): value\r\n" }
        text += "\r\n"
        for _ in 0..<chunks { text += "7;e=1\r\nabcdefg\r\n" }
        text += "0\r\n\r\n"
        return Array(text.utf8)
    }

    /// The fastest of five parses of each input, given in pieces of 5 bytes, taken in turn so that a busy
    /// moment of the machine slows both alike rather than one.
    private static func times(_ inputs: [UInt8]..., limits: ResponseLimits) -> [Duration] {
        let clock = ContinuousClock()
        var best = inputs.map { _ in Duration.seconds(3600) }
        for _ in 0..<5 {
            for (index, bytes) in inputs.enumerated() {
                let elapsed = clock.measure {
                    #expect(parseInPieces(bytes, limits: limits) { _ in 5 }.response != nil)
                }
                best[index] = min(best[index], elapsed)
            }
        }
        return best
    }

    @Test("parsing time is linear in the input however it is chunked: 8× the input takes less than 24× the time (quadratic work would take 64×)")
    func linear() {
        let limits = ResponseLimits(headerBlock: 1 << 20, headerFields: 100_000, body: 64 << 20)
        let small = Self.bigResponse(chunks: 2000, fields: 250)
        let large = Self.bigResponse(chunks: 16000, fields: 2000)
        let best = Self.times(small, large, limits: limits)
        #expect(best[1] < best[0] * 24, "\(best[0]) for \(small.count) bytes, \(best[1]) for \(large.count) bytes")
    }
}

// MARK: - HTTPClientRequest

@Suite struct HTTPClientRequestTests {
    @Test("a request the server's parser reads back: Host, the extra fields, Content-Length, the body")
    func roundTrip() throws {
        let bytes = HTTPClientRequest.serialized(
            method: "POST", target: "/servers/a%3Ab?x=1", host: "127.0.0.1:8080",
            headers: [HTTPHeader(name: "Connection", value: "close"), HTTPHeader(name: "Content-Type", value: "application/json")],
            body: Array("{}".utf8))
        #expect(
            String(decoding: bytes, as: UTF8.self)
                == "POST /servers/a%3Ab?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        let request = try #require(parse(bytes).request)
        #expect(request.method == "POST")
        #expect(request.target == "/servers/a%3Ab?x=1")
        #expect(request.header("host") == "127.0.0.1:8080")
        #expect(request.body == Array("{}".utf8))
    }

    @Test("nothing a caller passes splits the request; its own framing fields are left out")
    func noSplitting() throws {
        let bytes = HTTPClientRequest.serialized(
            method: "GET\r\nX: y", target: "/a b\r\nc", host: "h\r\nInjected: 1",
            headers: [
                HTTPHeader(name: "Host", value: "other"), HTTPHeader(name: "content-length", value: "99"),
                HTTPHeader(name: "Transfer-Encoding", value: "chunked"), HTTPHeader(name: "X-Bad", value: "a\r\nb: c"),
                HTTPHeader(name: "Bad Name", value: "v"), HTTPHeader(name: "X-Good", value: "v"),
            ])
        #expect(
            String(decoding: bytes, as: UTF8.self)
                == "GETXy /abc HTTP/1.1\r\nHost: hInjected: 1\r\nX-Good: v\r\nContent-Length: 0\r\n\r\n")
    }
}
