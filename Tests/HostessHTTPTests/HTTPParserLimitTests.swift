import HostessHTTP
import Testing

@Suite struct HTTPParserLimitTests {
    /// hostessd's limits, and small ones that exercise the same paths with short inputs.
    static let limitSets: [Limits] = [
        Limits(),
        Limits(requestLine: 40, headerBlock: 64, headerFields: 3, body: 10),
    ]

    @Test("the default limits are the contract's")
    func defaults() {
        let limits = Limits()
        #expect(limits.requestLine == 8192)
        #expect(limits.headerBlock == 16384)
        #expect(limits.headerFields == 100)
        #expect(limits.body == 1_048_576)
    }

    // MARK: Request line

    @Test("a request line of exactly the limit is accepted; one byte more is 414", arguments: limitSets)
    func requestLineLimit(limits: Limits) throws {
        let exact = requestLine(length: limits.requestLine)
        #expect(exact.utf8.count == limits.requestLine)
        let accepted = try #require(parsedRequest(exact + "\r\nHost: h\r\n\r\n", limits: limits))
        #expect(accepted.target.utf8.count == limits.requestLine - "GET  HTTP/1.1".utf8.count)

        let over = requestLine(length: limits.requestLine + 1)
        let error = try #require(parse(over + "\r\nHost: h\r\n\r\n", limits: limits).failure)
        #expect(error.code == .uriTooLong)
        #expect(error.status == .uriTooLong)
        #expect(error.message == "the request line is longer than \(limits.requestLine) bytes")
    }

    @Test("414 comes as soon as the line is one byte over, before any CRLF", arguments: limitSets)
    func earlyURITooLong(limits: Limits) throws {
        let over = Array(requestLine(length: limits.requestLine + 1).utf8)
        #expect(parse(Array(over.dropLast()), limits: limits).isIncomplete)
        // The CR that may end the line does not count against it.
        #expect(parse(Array(over.dropLast()) + [0x0D], limits: limits).isIncomplete)
        #expect(parse(over, limits: limits).failure?.code == .uriTooLong)
        // Garbage without any line end is refused the same way.
        #expect(parse([UInt8](repeating: 0x41, count: limits.requestLine + 1), limits: limits).failure?.code == .uriTooLong)
    }

    @Test("empty lines before the request line are bounded", arguments: limitSets)
    func leadingEmptyLinesBound(limits: Limits) throws {
        let many = String(repeating: "\r\n", count: limits.requestLine / 2)
        #expect(parsedRequest(many + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", limits: limits) != nil)
        let error = try #require(parse(many + "\r\n", limits: limits).failure)
        #expect(error.code == .badRequest)
        #expect(error.message.contains("empty lines before the request line"))
    }

    // MARK: Header block

    @Test("a header block of exactly the limit is accepted; one byte more is 431", arguments: limitSets)
    func headerBlockLimit(limits: Limits) throws {
        let exact = headerBlock(bytes: limits.headerBlock)
        #expect(exact.utf8.count == limits.headerBlock)
        #expect(parsedRequest("GET / HTTP/1.1\r\n" + exact + "\r\n", limits: limits) != nil)

        let over = headerBlock(bytes: limits.headerBlock + 1)
        let error = try #require(parse("GET / HTTP/1.1\r\n" + over + "\r\n", limits: limits).failure)
        #expect(error.code == .headerTooLarge)
        #expect(error.status == .requestHeaderFieldsTooLarge)
        #expect(error.message == "the header block is larger than \(limits.headerBlock) bytes")
    }

    @Test("431 comes as soon as the block is over, before its line or the empty line ends", arguments: limitSets)
    func earlyHeaderTooLarge(limits: Limits) throws {
        let head = Array("GET / HTTP/1.1\r\n".utf8)
        // A block of exactly the limit, waiting for its empty line (or the CR of it): not yet an error.
        let exact = head + Array(headerBlock(bytes: limits.headerBlock).utf8)
        #expect(parse(exact, limits: limits).isIncomplete)
        #expect(parse(exact + [0x0D], limits: limits).isIncomplete)
        // Any other byte starts a line that cannot fit.
        #expect(parse(exact + [0x58], limits: limits).failure?.code == .headerTooLarge)
        // A last line without its LF: one byte short of the limit with CR is fine, the next byte is not.
        let unfinished = Array(headerBlock(bytes: limits.headerBlock).utf8.dropLast())
        #expect(parse(head + unfinished, limits: limits).isIncomplete)
        let tooLong = Array(headerBlock(bytes: limits.headerBlock + 1).utf8.dropLast())
        #expect(parse(head + tooLong, limits: limits).failure?.code == .headerTooLarge)
        // One endless header line.
        let endless = head + Array("X: ".utf8) + [UInt8](repeating: 0x76, count: limits.headerBlock)
        #expect(parse(endless, limits: limits).failure?.code == .headerTooLarge)
    }

    @Test("exactly the limit of header fields is accepted; one more is 431", arguments: limitSets)
    func headerFieldCount(limits: Limits) throws {
        let generous = Limits(requestLine: limits.requestLine, headerBlock: 1 << 20, headerFields: limits.headerFields, body: limits.body)
        let fields = (1..<limits.headerFields).map { "X-\($0): v\r\n" }.joined()
        let exact = "GET / HTTP/1.1\r\nHost: h\r\n" + fields
        let accepted = try #require(parsedRequest(exact + "\r\n", limits: generous))
        #expect(accepted.headers.count == limits.headerFields)

        // Refused when the extra field line ends, without waiting for the end of the block.
        let error = try #require(parse(exact + "X-Last: v\r\n", limits: generous).failure)
        #expect(error.code == .headerTooLarge)
        #expect(error.message == "the request has more than \(limits.headerFields) header fields")
    }

    // MARK: Body

    @Test("a body of exactly the limit is accepted; a Content-Length one byte over is 413 before any body", arguments: limitSets)
    func bodyLimit(limits: Limits) throws {
        let head = "POST /register HTTP/1.1\r\nHost: h\r\nContent-Length: "
        let body = String(repeating: "b", count: limits.body)
        let accepted = try #require(parsedRequest(head + "\(limits.body)\r\n\r\n" + body, limits: limits))
        #expect(accepted.body.count == limits.body)

        let error = try #require(parse(head + "\(limits.body + 1)\r\n\r\n", limits: limits).failure)
        #expect(error.code == .tooLarge)
        #expect(error.status == .contentTooLarge)
        #expect(error.message == "the body of \(limits.body + 1) bytes is larger than the limit of \(limits.body) bytes")
    }

    @Test("a body shorter than its Content-Length stays incomplete")
    func shortBody() {
        #expect(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n123456789").isIncomplete)
    }
}
