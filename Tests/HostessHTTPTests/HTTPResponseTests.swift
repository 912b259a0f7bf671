import HostessHTTP
import Testing

@Suite struct HTTPResponseTests {
    private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    private func occurrences(of needle: String, in bytes: [UInt8]) -> Int {
        let needle = Array(needle.utf8)
        guard bytes.count >= needle.count else { return 0 }
        return (0...(bytes.count - needle.count)).filter { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }.count
    }

    @Test("a JSON response: status line, Content-Type, caller headers in order, Content-Length, body")
    func jsonResponse() {
        let body = Array(#"{"status":"ok"}"#.utf8)
        let response = HTTPResponse.json(.ok, body: body, headers: [("X-Hostess-Index", "42"), ("Connection", "close")])
        #expect(response.header("content-type") == "application/json")
        #expect(
            text(response.serialized(includeBody: true))
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Hostess-Index: 42\r\nConnection: close\r\n"
                + "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}")
    }

    @Test("HEAD: the same head with the body's Content-Length, and no body")
    func headKeepsContentLength() {
        let response = HTTPResponse.json(.notFound, body: Array(#"{"error":{}}"#.utf8))
        let full = response.serialized(includeBody: true)
        let head = response.serialized(includeBody: false)
        #expect(text(head) == "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n")
        #expect(full == head + response.body)
    }

    @Test("an empty body has Content-Length: 0")
    func emptyBody() {
        let response = HTTPResponse(status: .created)
        #expect(text(response.serialized()) == "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("Content-Length and Transfer-Encoding from callers are ignored: the body frames itself")
    func callerFramingIgnored() {
        let response = HTTPResponse(
            status: .ok,
            headers: [
                HTTPHeader(name: "content-length", value: "999"), HTTPHeader(name: "Transfer-Encoding", value: "chunked"),
                HTTPHeader(name: "X-Kept", value: "yes"),
            ],
            body: Array("abc".utf8))
        #expect(text(response.serialized()) == "HTTP/1.1 200 OK\r\nX-Kept: yes\r\nContent-Length: 3\r\n\r\nabc")
    }

    @Test("statuses without content get neither Content-Length nor body", arguments: [HTTPStatus.noContent, .notModified, HTTPStatus(100, "Continue")])
    func noContentStatuses(status: HTTPStatus) {
        let response = HTTPResponse(status: status, headers: [HTTPHeader(name: "ETag", value: "\"1\"")], body: Array("x".utf8))
        #expect(text(response.serialized()) == "HTTP/1.1 \(status.code) \(status.reason)\r\nETag: \"1\"\r\n\r\n")
    }

    static let injections: [(String, String)] = [
        ("X-Evil", "a\r\nSet-Cookie: owned=1"),
        ("X-Evil", "a\nSet-Cookie: owned=1"),
        ("X-Evil", "a\rSet-Cookie: owned=1"),
        ("X-Evil", "a\u{0}b"),
        ("X-Evil", "a\u{7F}b"),
        ("X-Evil\r\nSet-Cookie", "owned=1"),
        ("X-Evil: x\r\nSet-Cookie", "owned=1"),
        ("X Evil", "v"),
        ("", "v"),
        ("Set-Cookie:", "owned=1"),
    ]

    @Test("a header that could split the response is dropped", arguments: injections)
    func headerInjectionRefused(name: String, value: String) {
        let response = HTTPResponse.json(.ok, body: Array("{}".utf8), headers: [(name, value), ("X-Good", "1")])
        let wire = text(response.serialized())
        #expect(!wire.contains("Set-Cookie"))
        #expect(!wire.contains("owned"))
        #expect(!wire.contains("X-Evil"))
        #expect(wire == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Good: 1\r\nContent-Length: 2\r\n\r\n{}")
        #expect(!HTTPHeader(name: name, value: value).isWellFormed)
    }

    @Test("header values may hold HTAB, spaces and UTF-8")
    func wellFormedValues() {
        #expect(HTTPHeader(name: "WWW-Authenticate", value: "Hostess-HMAC-SHA256").isWellFormed)
        #expect(HTTPHeader(name: "X-Note", value: "a\tb c é").isWellFormed)
        #expect(HTTPHeader(name: "X-Empty", value: "").isWellFormed)
    }

    @Test("a reason phrase cannot split the status line; a code out of range is written as 500")
    func statusLineSanitized() {
        let evil = HTTPResponse(status: HTTPStatus(418, "Teapot\r\nSet-Cookie: owned=1"))
        #expect(text(evil.serialized()) == "HTTP/1.1 418 TeapotSet-Cookie: owned=1\r\nContent-Length: 0\r\n\r\n")
        let outOfRange = HTTPResponse(status: HTTPStatus(42, "Odd"))
        #expect(text(outOfRange.serialized()) == "HTTP/1.1 500 Odd\r\nContent-Length: 0\r\n\r\n")
    }

    @Test("a serialized response has exactly one header block end and one Content-Length")
    func framing() {
        let body = Array("HTTP/1.1 200 OK\r\n\r\n".utf8)
        let response = HTTPResponse.json(.ok, body: body, headers: [("X-A", "1")])
        let wire = response.serialized()
        let head = Array(wire.dropLast(body.count))
        #expect(occurrences(of: "\r\n\r\n", in: head) == 1)
        #expect(occurrences(of: "Content-Length:", in: head) == 1)
        #expect(Array(wire.suffix(body.count)) == body)
    }
}
