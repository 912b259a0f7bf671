import HostessHTTP
import HostessLoop
import Testing

@testable import HostessDaemon

// MARK: - Helpers

/// What ``HTTPServerFraming/next(in:inputEnded:)`` gave, comparable.
enum HTTPOutcome: Equatable, CustomStringConvertible {
    case request(HTTPRequest)
    case incomplete(sendContinue: Bool)
    case truncated
    case failure(HTTPParseError)

    init(_ next: HTTPServerFraming.Next) {
        switch next {
        case .request(let request): self = .request(request)
        case .incomplete(let sendContinue): self = .incomplete(sendContinue: sendContinue)
        case .truncated: self = .truncated
        case .failure(let error): self = .failure(error)
        }
    }

    var request: HTTPRequest? {
        guard case .request(let request) = self else { return nil }
        return request
    }

    var status: Int? {
        guard case .failure(let error) = self else { return nil }
        return error.status.code
    }

    var description: String {
        switch self {
        case .request(let request): "request(\(request.method) \(request.target) \(request.version))"
        case .incomplete(let sendContinue): "incomplete(sendContinue: \(sendContinue))"
        case .truncated: "truncated"
        case .failure(let error): "failure(\(error))"
        }
    }
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A framing and its input, fed by hand.
struct HTTPPeer {
    var framing = HTTPServerFraming()
    var input = InputBuffer()

    init(_ text: String = "") { input.append(contentsOf: bytes(text)) }

    mutating func next(inputEnded: Bool = false) -> HTTPOutcome {
        HTTPOutcome(framing.next(in: &input, inputEnded: inputEnded))
    }

    mutating func append(_ text: String) { input.append(contentsOf: bytes(text)) }

    /// The response bytes framed for this connection, as text.
    func framed(_ response: HTTPResponse = HTTPResponse(status: .ok, body: bytes("{}")), head: Bool = false) -> String {
        var output: [UInt8] = []
        framing.frame(response, head: head, into: &output)
        return String(decoding: output, as: UTF8.self)
    }
}

/// The request a whole buffer holding `text` parses to (a fresh framing).
func wholeRequest(_ text: String) -> HTTPRequest? {
    var peer = HTTPPeer(text)
    return peer.next().request
}

/// Feeds `chunks` as a session does (take requests until incomplete, compact after each read), then ends the
/// input. Returns the requests and how many times `100 Continue` was asked for; stops at anything else.
func framedRequests(_ chunks: [ArraySlice<UInt8>]) -> (requests: [HTTPRequest], continues: Int, last: HTTPOutcome?) {
    var framing = HTTPServerFraming()
    var input = InputBuffer()
    var requests: [HTTPRequest] = []
    var continues = 0
    for chunk in chunks {
        input.append(contentsOf: chunk)
        while true {
            let outcome = HTTPOutcome(framing.next(in: &input, inputEnded: false))
            switch outcome {
            case .request(let request):
                requests.append(request)
                continue
            case .incomplete(let sendContinue):
                if sendContinue { continues += 1 }
            default:
                return (requests, continues, outcome)
            }
            break
        }
        input.compact()
    }
    let last = HTTPOutcome(framing.next(in: &input, inputEnded: true))
    return (requests, continues, last == .incomplete(sendContinue: false) ? nil : last)
}

let simpleGet = "GET /health HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n"
let postHead = "POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
let postBody = #"{"id":"abcd"}"#
let expectHead =
    "POST /reserve HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"
let expectBody = "0123456789"

// MARK: - Requests

@Suite("HTTPServerFraming takes requests out of bytes")
struct HTTPServerFramingRequestTests {
    @Test("a simple GET")
    func simpleGET() throws {
        var peer = HTTPPeer(simpleGet)
        let request = try #require(peer.next().request)
        #expect(request.method == "GET")
        #expect(request.target == "/health")
        #expect(request.version == .http1_1)
        #expect(request.header("host") == "localhost:8080")
        #expect(request.headers.map(\.name) == ["host", "accept"])
        #expect(request.body.isEmpty)
        #expect(peer.input.isEmpty)
        #expect(!peer.framing.closesAfterResponse)
        #expect(peer.next() == .incomplete(sendContinue: false))
        #expect(peer.next(inputEnded: true) == .incomplete(sendContinue: false))
        // HTTP/1.1 keeps the connection by default: the response says nothing about it.
        #expect(!peer.framed().contains("Connection"))
    }

    @Test("a POST's Content-Length bytes are its body; the bytes after it are the next request")
    func post() throws {
        var peer = HTTPPeer(postHead)
        #expect(peer.next() == .incomplete(sendContinue: false))
        peer.append(String(postBody.prefix(5)))
        #expect(peer.next() == .incomplete(sendContinue: false))
        peer.append(String(postBody.dropFirst(5)) + "GET /")
        let request = try #require(peer.next().request)
        #expect(request.method == "POST")
        #expect(request.header("content-length") == "13")
        #expect(request.body == bytes(postBody))
        #expect(Array(peer.input.unconsumed) == bytes("GET /"))
        #expect(peer.next() == .incomplete(sendContinue: false))
    }

    @Test("pipelined requests in one read come out in order")
    func pipelined() throws {
        let stream =
            simpleGet + postHead + postBody + "HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n" + "\r\n"
            + "DELETE /servers/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n" + "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"
        var peer = HTTPPeer(stream)
        var seen: [String] = []
        while case .request(let request) = peer.next() { seen.append("\(request.method) \(request.target)") }
        #expect(seen == ["GET /health", "POST /register", "HEAD /metrics", "DELETE /servers/x", "OPTIONS *"])
        #expect(peer.input.isEmpty)
        #expect(!peer.framing.closesAfterResponse)
    }

    static let splitRequests: [String] = [
        simpleGet, postHead + postBody, "\r\n" + simpleGet,
        "GET / HTTP/1.0\r\n\r\n", "PUT /x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nX-Empty:\r\n\r\nZ",
    ]

    @Test("a request split at every byte position is the same request", arguments: splitRequests)
    func everySplit(_ text: String) throws {
        let whole = try #require(wholeRequest(text))
        let all = bytes(text)
        for split in 0..<all.count {
            var peer = HTTPPeer()
            peer.input.append(contentsOf: all[..<split])
            #expect(peer.next() == .incomplete(sendContinue: false), "split at \(split)")
            peer.input.compact()
            peer.input.append(contentsOf: all[split...])
            #expect(peer.next() == .request(whole), "split at \(split)")
            #expect(peer.input.isEmpty, "split at \(split)")
        }
    }

    @Test(
        "a pipelined stream fed in any chunks gives the same requests",
        arguments: [
            Chunking.byteByByte, .random(seed: 11, largest: 5), .random(seed: 12, largest: 40), .random(seed: 13, largest: 300), .whole,
        ])
    func chunkedPipeline(_ chunking: Chunking) {
        let texts = [simpleGet, postHead + postBody, expectHead + expectBody, "\r\n" + simpleGet, expectHead + expectBody]
        let expected = texts.compactMap(wholeRequest)
        #expect(expected.count == texts.count)
        let (requests, continues, last) = framedRequests(chunking.chunks(bytes(texts.joined())))
        #expect(requests == expected)
        #expect(last == nil)
        // One 100 Continue at most per request that asks for it, and one for each when it trickles in.
        #expect(continues <= 2)
        if case .byteByByte = chunking { #expect(continues == 2) }
    }

    // MARK: 100-continue

    @Test("Expect: 100-continue asks for 100 Continue once, when the header block completes")
    func expectContinue() throws {
        // ("\r\n" is one Character: cut the bytes.)
        var peer = HTTPPeer()
        peer.input.append(contentsOf: bytes(expectHead).dropLast(2))
        #expect(peer.next() == .incomplete(sendContinue: false))
        peer.append("\r\n")
        #expect(peer.next() == .incomplete(sendContinue: true))
        // Not again: not on a call without new bytes, nor on body bytes.
        #expect(peer.next() == .incomplete(sendContinue: false))
        peer.append("0123")
        #expect(peer.next() == .incomplete(sendContinue: false))
        peer.append("4567")
        #expect(peer.next() == .incomplete(sendContinue: false))
        peer.append("89")
        let request = try #require(peer.next().request)
        #expect(request.body == bytes(expectBody))
        #expect(request.header("expect") == "100-continue")
        // The next request asks afresh.
        peer.append(expectHead)
        #expect(peer.next() == .incomplete(sendContinue: true))
        peer.append(expectBody)
        #expect(peer.next().request?.body == bytes(expectBody))
        #expect(HTTPServerFraming.continueLine == bytes("HTTP/1.1 100 Continue\r\n\r\n"))
    }

    @Test("100 Continue is asked for whichever read completes the header block")
    func expectContinueAnySplit() {
        let head = bytes(expectHead)
        for split in 1..<head.count {
            var peer = HTTPPeer()
            peer.input.append(contentsOf: head[..<split])
            #expect(peer.next() == .incomplete(sendContinue: false), "split at \(split)")
            peer.input.append(contentsOf: head[split...])
            #expect(peer.next() == .incomplete(sendContinue: true), "split at \(split)")
            peer.append(expectBody)
            #expect(peer.next().request?.body == bytes(expectBody), "split at \(split)")
        }
        // Byte by byte: exactly once, at the last byte of the header block.
        var peer = HTTPPeer()
        var asked: [Int] = []
        for (offset, byte) in bytes(expectHead + expectBody).dropLast().enumerated() {
            peer.input.append(contentsOf: [byte])
            if case .incomplete(sendContinue: true) = peer.next() { asked.append(offset + 1) }
        }
        #expect(asked == [head.count])
    }

    @Test("a read that completes the header block and some of the body still asks; one with the whole body does not")
    func expectContinueWithBody() {
        var partial = HTTPPeer(expectHead + "012")
        #expect(partial.next() == .incomplete(sendContinue: true))
        var whole = HTTPPeer(expectHead + expectBody)
        #expect(whole.next().request?.body == bytes(expectBody))
    }

    @Test(
        "Expect: 100-continue is ignored in HTTP/1.0, and a refused body is refused, not continued",
        arguments: [
            ("POST /reserve HTTP/1.0\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", nil),
            ("POST /reserve HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", nil),
            ("POST /reserve HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\nExpect: 100-continue\r\n\r\n", 413),
            ("POST /reserve HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", 411),
        ] as [(String, Int?)])
    func noContinue(_ head: String, _ status: Int?) {
        var peer = HTTPPeer(head)
        if let status {
            #expect(peer.next().status == status)
        } else {
            #expect(peer.next() == .incomplete(sendContinue: false))
            peer.append("abc")
            #expect(peer.next().request?.body == bytes("abc"))
        }
    }

    @Test("empty lines before an Expect request (skipped by the parser) do not hide its expectation", arguments: [1, 2, 3])
    func expectContinueAfterEmptyLines(_ emptyLines: Int) throws {
        // Bug: decideContinue searches, and hands expectsContinue(head:), the unconsumed bytes from their start,
        // empty lines included. One leading CRLF makes the "request line" empty, so the version check fails;
        // two make CRLF CRLF look like the end of the header block. Either way 100 Continue is never asked for.
        var peer = HTTPPeer(String(repeating: "\r\n", count: emptyLines) + expectHead)
        #expect(peer.next() == .incomplete(sendContinue: true))
        peer.append(expectBody)
        let request = try #require(peer.next().request)
        #expect(request.header("expect") == "100-continue")
        #expect(request.body == bytes(expectBody))
    }

    @Test(
        "expectsContinue(head:) reads the version and the Expect field",
        arguments: [
            ("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue", true),
            ("POST / HTTP/1.1\r\nExpect: 100-continue\r\nHost: a", true),
            ("POST / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue", true),
            ("POST / HTTP/1.1\r\nHost: a\r\nEXPECT:100-CONTINUE", true),
            ("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue \r\nContent-Length: 1", true),
            ("POST / HTTP/1.0\r\nHost: a\r\nExpect: 100-continue", false),
            ("POST / HTTP/1.1\r\nHost: a", false),
            ("POST / HTTP/1.1", false),
            ("", false),
            ("POST / HTTP/1.1\r\nX-Expect: 100-continue", false),
            ("POST / HTTP/1.1\r\nX-Note: Expect: 100-continue", false),
            ("POST / HTTP/1.1\r\nExpect: 200-ok", false),
            ("POST /expect:100-continue HTTP/1.1\r\nHost: a", false),
        ])
    func expectsContinue(_ head: String, _ expected: Bool) {
        #expect(HTTPServerFraming.expectsContinue(head: bytes(head)[...]) == expected)
    }

    @Test(
        "expectsContinue(head:) allows optional white space around the value (RFC 9110 §5.6.3)",
        arguments: ["Expect:  100-continue", "Expect:\t100-continue", "Expect: \t100-continue"])
    func expectsContinueWhitespace(_ field: String) {
        // Bug: only "expect: 100-continue" and "expect:100-continue" are matched.
        #expect(HTTPServerFraming.expectsContinue(head: bytes("POST / HTTP/1.1\r\nHost: a\r\n" + field)[...]))
    }

    @Test("expectsContinue(head:) works on a slice that does not start at index 0")
    func expectsContinueSlice() {
        let buffer = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n")
        let start = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n").count
        #expect(HTTPServerFraming.expectsContinue(head: buffer[start..<(buffer.count - 4)]))
        #expect(!HTTPServerFraming.expectsContinue(head: buffer[0..<(start - 4)]))
    }

    // MARK: Truncation and failures

    @Test(
        "input ending in the middle of a request is truncated, and the connection closes",
        arguments: [
            "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r",
            postHead, postHead + "{\"id\"", "\r\n", expectHead,
        ])
    func truncated(_ text: String) {
        var peer = HTTPPeer(text)
        #expect(peer.next() == (text == expectHead ? .incomplete(sendContinue: true) : .incomplete(sendContinue: false)))
        #expect(!peer.framing.closesAfterResponse)
        #expect(peer.next(inputEnded: true) == .truncated)
        #expect(peer.framing.closesAfterResponse)
    }

    @Test("a complete request before the end of the input is taken; the truncated rest is not")
    func truncatedAfterRequest() {
        var peer = HTTPPeer(simpleGet + "GET /b")
        #expect(peer.next(inputEnded: true).request?.target == "/health")
        #expect(!peer.framing.closesAfterResponse)
        #expect(peer.next(inputEnded: true) == .truncated)
        #expect(peer.framing.closesAfterResponse)
    }

    @Test(
        "a request the parser refuses fails with its status; the input is consumed and the connection closes",
        arguments: [
            ("GET\r\n\r\n", 400), ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400), ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\nHost: a\n\n", 400), ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400), ("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505), ("GET / HTTP/1.1\r\n\r\n", 400), ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n", 414),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400),
        ])
    func failure(_ text: String, _ status: Int) {
        var peer = HTTPPeer(text + "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(peer.next().status == status)
        #expect(peer.input.isEmpty)
        #expect(peer.framing.closesAfterResponse)
        #expect(peer.framed(HTTPResponse(status: HTTPStatus(status, "Refused"))).contains("\r\nConnection: close\r\n"))
        #expect(peer.next() == .incomplete(sendContinue: false))
    }

    @Test("a refused request after good pipelined ones comes after them")
    func failureAfterRequests() {
        var peer = HTTPPeer(simpleGet + simpleGet + "BAD\r\n\r\n" + simpleGet)
        #expect(peer.next().request?.target == "/health")
        #expect(peer.next().request?.target == "/health")
        #expect(!peer.framing.closesAfterResponse)
        #expect(peer.next().status == 400)
        #expect(peer.input.isEmpty)
        #expect(peer.framing.closesAfterResponse)
    }

    @Test("a header block over the limit fails with 431, complete or still arriving")
    func oversizeHeaderBlock() {
        let limit = HTTPRequestParser.Limits().headerBlock
        let field = "X-Pad: " + String(repeating: "p", count: 1000) + "\r\n"
        let fields = String(repeating: field, count: limit / field.utf8.count + 1)
        // Complete.
        var complete = HTTPPeer("GET / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n")
        #expect(complete.next().status == 431)
        #expect(complete.input.isEmpty)
        #expect(complete.framing.closesAfterResponse)
        // Arriving in 512-byte reads: refused before the block ends.
        var arriving = HTTPPeer()
        let stream = bytes("GET / HTTP/1.1\r\nHost: a\r\n" + fields + fields)
        var outcome = HTTPOutcome.incomplete(sendContinue: false)
        var fed = 0
        while outcome == .incomplete(sendContinue: false) && fed < stream.count {
            let end = min(stream.count, fed + 512)
            arriving.input.append(contentsOf: stream[fed..<end])
            fed = end
            outcome = arriving.next()
        }
        #expect(outcome.status == 431)
        #expect(fed <= limit + 2048)
        // Too many fields.
        var many = HTTPPeer("GET / HTTP/1.1\r\nHost: a\r\n" + String(repeating: "X-A: b\r\n", count: 100) + "\r\n")
        #expect(many.next().status == 431)
    }

    @Test("a header block at the limit is taken")
    func headerBlockAtLimit() {
        let limit = HTTPRequestParser.Limits().headerBlock
        let host = "Host: a\r\n"
        let padding = limit - host.utf8.count - "X-Pad: \r\n".utf8.count
        var peer = HTTPPeer("GET / HTTP/1.1\r\n" + host + "X-Pad: " + String(repeating: "p", count: padding) + "\r\n\r\n")
        #expect(peer.next().request?.header("x-pad")?.count == padding)
    }

    @Test("the input limit holds the largest request the parser accepts")
    func inputLimit() {
        let limits = HTTPRequestParser.Limits()
        let largest = limits.requestLine + 2 + limits.requestLine + 2 + limits.headerBlock + 2 + limits.body
        #expect(HTTPServerFraming.inputLimit >= largest)
    }
}

// MARK: - Responses

@Suite("HTTPServerFraming frames responses for the connection")
struct HTTPServerFramingResponseTests {
    @Test("Connection: close in the request closes after the response, which says so", arguments: ["HTTP/1.1", "HTTP/1.0"])
    func connectionClose(_ version: String) throws {
        var peer = HTTPPeer("GET / \(version)\r\nHost: a\r\nConnection: close\r\n\r\n")
        let request = try #require(peer.next().request)
        #expect(!request.keepAlive)
        #expect(peer.framing.closesAfterResponse)
        let framed = peer.framed()
        #expect(framed.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(framed.contains("\r\nConnection: close\r\n"))
        #expect(!framed.contains("keep-alive"))
        #expect(framed.hasSuffix("\r\n\r\n{}"))
    }

    @Test("HTTP/1.0 with Connection: keep-alive stays open, and the response says keep-alive")
    func http10KeepAlive() throws {
        var peer = HTTPPeer("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        let request = try #require(peer.next().request)
        #expect(request.version == .http1_0)
        #expect(!peer.framing.closesAfterResponse)
        let framed = peer.framed()
        #expect(framed.contains("\r\nConnection: keep-alive\r\n"))
        #expect(!framed.contains("close"))
        // A following HTTP/1.1 request is kept without saying so.
        peer.append(simpleGet)
        #expect(peer.next().request != nil)
        #expect(!peer.framed().contains("Connection"))
    }

    @Test("HTTP/1.0 without keep-alive closes after the response, which says so")
    func http10Closes() throws {
        var peer = HTTPPeer("GET / HTTP/1.0\r\nHost: a\r\n\r\n" + simpleGet)
        #expect(peer.next().request?.version == .http1_0)
        #expect(peer.framing.closesAfterResponse)
        #expect(peer.framed().contains("\r\nConnection: close\r\n"))
        #expect(!peer.framed().contains("keep-alive"))
    }

    @Test("a Connection header in the response is kept, not doubled")
    func responseConnectionHeader() {
        var peer = HTTPPeer("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        _ = peer.next()
        let framed = peer.framed(HTTPResponse(status: .ok, headers: [HTTPHeader(name: "connection", value: "close")]))
        #expect(framed.split(separator: "\r\n").filter { $0.lowercased().hasPrefix("connection:") }.count == 1)
    }

    @Test("closeAfterResponse() closes a kept connection after the response")
    func closeAfterResponse() {
        var peer = HTTPPeer(simpleGet)
        _ = peer.next()
        #expect(!peer.framed().contains("Connection"))
        peer.framing.closeAfterResponse()
        #expect(peer.framing.closesAfterResponse)
        #expect(peer.framed(HTTPResponse(status: .requestTimeout)).contains("\r\nConnection: close\r\n"))
    }

    @Test("a response to HEAD has the Content-Length of its body and no body")
    func head() throws {
        var peer = HTTPPeer("HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(peer.next().request?.method == "HEAD")
        let response = HTTPResponse(status: .ok, headers: [HTTPHeader(name: "Content-Type", value: "text/plain")], body: bytes("hello"))
        #expect(peer.framed(response, head: true) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n")
        #expect(peer.framed(response, head: false) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
    }

    @Test("frame() appends to what is already written")
    func appends() {
        let peer = HTTPPeer()
        var output = HTTPServerFraming.continueLine
        peer.framing.frame(HTTPResponse(status: .noContent), head: false, into: &output)
        #expect(String(decoding: output, as: UTF8.self) == "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    }
}
