import HostessHTTP
import Testing

@Suite struct HTTPParserTests {
    // MARK: Accepting

    @Test("a full GET: request line, ordered lower-cased headers with trimmed values, no body")
    func fullGet() throws {
        let text =
            "GET /servers/a%3Ab?class=0x0001&capability=gpu HTTP/1.1\r\n"
            + "Host: localhost:8080\r\n"
            + "User-Agent:\tcurl/8.5.0  \r\n"
            + "Accept: */*\r\n"
            + "X-Multi: one\r\n"
            + "x-multi:   two\r\n"
            + "X-Empty:\r\n"
            + "\r\n"
        let request = try #require(parsedRequest(text))
        #expect(request.method == "GET")
        #expect(request.target == "/servers/a%3Ab?class=0x0001&capability=gpu")
        #expect(request.path == "/servers/a%3Ab")
        #expect(request.query == "class=0x0001&capability=gpu")
        #expect(request.version == .http1_1)
        #expect(
            request.headers == [
                HTTPHeader(name: "host", value: "localhost:8080"),
                HTTPHeader(name: "user-agent", value: "curl/8.5.0"),
                HTTPHeader(name: "accept", value: "*/*"),
                HTTPHeader(name: "x-multi", value: "one"),
                HTTPHeader(name: "x-multi", value: "two"),
                HTTPHeader(name: "x-empty", value: ""),
            ])
        #expect(request.header("HOST") == "localhost:8080")
        #expect(request.header("x-multi") == "one")
        #expect(request.headers(named: "X-Multi") == ["one", "two"])
        #expect(request.header("content-length") == nil)
        #expect(request.headers(named: "missing") == [])
        #expect(request.body == [])
        #expect(request.keepAlive)
    }

    @Test("a POST with a Content-Length body")
    func postWithBody() throws {
        let body = #"{"id":"a:b","terminals":{}}"#
        let text =
            "POST /register HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        let request = try #require(parsedRequest(text))
        #expect(request.method == "POST")
        #expect(request.path == "/register")
        #expect(request.query == nil)
        #expect(request.body == Array(body.utf8))
    }

    @Test("a body is taken exactly: bytes after Content-Length are left for the next request")
    func bodyLengthIsExact() throws {
        let text = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcdef"
        guard case .request(let request, let consumed) = parse(text) else {
            Issue.record("expected a request")
            return
        }
        #expect(request.body == Array("abc".utf8))
        #expect(consumed == text.utf8.count - 3)
    }

    @Test("Content-Length with leading zeros, and zero, are decimal numbers", arguments: [("0", 0), ("000", 0), ("007", 7)])
    func contentLengthForms(value: String, length: Int) throws {
        let body = String(repeating: "b", count: length)
        let request = try #require(parsedRequest("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: \(value)\r\n\r\n\(body)"))
        #expect(request.body.count == length)
    }

    @Test("empty lines before the request line are skipped and counted as consumed")
    func leadingEmptyLines() throws {
        let text = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
        let request = try #require(parsedRequest(text))
        #expect(request.target == "/")
        #expect(request.path == "/")
    }

    @Test("the query is raw, empty after a bare '?', nil without one", arguments: [
        ("/x", "/x", nil), ("/x?", "/x", ""), ("/x?a=1?b", "/x", "a=1?b"), ("/?%20+", "/", "%20+"),
    ] as [(String, String, String?)])
    func pathAndQuery(target: String, path: String, query: String?) throws {
        let request = try #require(parsedRequest("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.target == target)
        #expect(request.path == path)
        #expect(request.query == query)
    }

    @Test("OPTIONS * is the only asterisk-form target")
    func asteriskForm() throws {
        let request = try #require(parsedRequest("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.target == "*")
        #expect(parse("GET * HTTP/1.1\r\nHost: h\r\n\r\n").failure?.code == .badRequest)
    }

    @Test("methods are case-sensitive tokens, passed through as sent", arguments: ["GET", "get", "PATCH", "M-SEARCH", "X!#$%&'*+.^_`|~9"])
    func methodTokens(method: String) throws {
        let request = try #require(parsedRequest("\(method) / HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.method == method)
    }

    @Test("header values may hold HTAB, inner spaces and UTF-8")
    func fieldValueCharacters() throws {
        let request = try #require(parsedRequest("GET / HTTP/1.1\r\nHost: h\r\nX-Note: a\tb  c é ✓\r\n\r\n"))
        #expect(request.header("x-note") == "a\tb  c é ✓")
    }

    @Test("Host values a client may send", arguments: ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "", "xn--bcher-kva.example"])
    func hostValues(host: String) throws {
        let request = try #require(parsedRequest("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n"))
        #expect(request.header("host") == host)
    }

    @Test("HTTP/1.0 needs no Host")
    func http10WithoutHost() throws {
        let request = try #require(parsedRequest("GET /health HTTP/1.0\r\n\r\n"))
        #expect(request.version == .http1_0)
        #expect(!request.keepAlive)
    }

    // MARK: Keep-alive

    @Test("keep-alive: HTTP/1.1 unless close, HTTP/1.0 only with keep-alive", arguments: [
        ("1.1", [], true),
        ("1.1", ["close"], false),
        ("1.1", ["Close"], false),
        ("1.1", ["keep-alive"], true),
        ("1.1", ["Upgrade, CLOSE"], false),
        ("1.1", ["keep-alive", "close"], false),
        ("1.0", [], false),
        ("1.0", ["keep-alive"], true),
        ("1.0", ["Keep-Alive"], true),
        ("1.0", [" foo ,keep-alive "], true),
        ("1.0", ["close"], false),
        ("1.0", ["keep-alive, close"], false),
    ] as [(String, [String], Bool)])
    func keepAlive(version: String, connection: [String], expected: Bool) throws {
        let fields = connection.map { "Connection: \($0)\r\n" }.joined()
        let request = try #require(parsedRequest("GET / HTTP/\(version)\r\nHost: h\r\n\(fields)\r\n"))
        #expect(request.keepAlive == expected)
    }

    // MARK: Refusing

    static let refused: [(String, HTTPParseError.Code, String)] = [
        // Request line
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "single spaces"),
        ("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", .badRequest, "single spaces"),
        ("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "single spaces"),
        (" GET / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "single spaces"),
        ("GET /HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "is not 'METHOD"),
        ("GET\r\nHost: h\r\n\r\n", .badRequest, "is not 'METHOD"),
        ("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "is not 'METHOD"),
        ("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "the method 'G(T' is not a token"),
        ("GE\u{0}T / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "the method 'GE\\x00T' is not a token"),
        ("GÉT / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "is not a token"),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", .versionNotSupported, "HTTP/2.0 is not supported"),
        ("GET / HTTP/0.9\r\nHost: h\r\n\r\n", .versionNotSupported, "HTTP/0.9 is not supported"),
        ("GET / HTTP/1.2\r\nHost: h\r\n\r\n", .versionNotSupported, "HTTP/1.2 is not supported"),
        ("GET / http/1.1\r\nHost: h\r\n\r\n", .badRequest, "the HTTP version 'http/1.1' is malformed"),
        ("GET / HTTP/1.10\r\nHost: h\r\n\r\n", .badRequest, "is malformed"),
        ("GET / HTTP/11\r\nHost: h\r\n\r\n", .badRequest, "is malformed"),
        ("GET / HTTP/1.x\r\nHost: h\r\n\r\n", .badRequest, "is malformed"),
        ("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", .badRequest, "is malformed"),
        ("GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "does not start with '/'"),
        ("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "does not start with '/'"),
        ("GET x HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "does not start with '/'"),
        ("GET * HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "only allowed with OPTIONS"),
        ("GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "fragment"),
        ("GET /\u{7F} HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "control or non-ASCII"),
        ("GET /é HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "control or non-ASCII"),
        ("GET /\u{0} HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "control or non-ASCII"),
        ("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "control or non-ASCII"),
        ("GET / HTTP/1.1\nHost: h\r\n\r\n", .badRequest, "request line does not end with CRLF"),
        ("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "request line does not end with CRLF"),
        ("\r\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", .badRequest, "is not 'METHOD"),
        // Header lines
        ("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", .badRequest, "header line does not end with CRLF"),
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", .badRequest, "header line does not end with CRLF"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", .badRequest, "obs-fold"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", .badRequest, "obs-fold"),
        ("GET / HTTP/1.1\r\n Host: h\r\n\r\n", .badRequest, "obs-fold"),
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", .badRequest, "white space between the field name 'Host' and ':'"),
        ("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", .badRequest, "white space between the field name"),
        ("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", .badRequest, "the field name 'Bad Name' is not a token"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX(y): x\r\n\r\n", .badRequest, "is not a token"),
        ("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", .badRequest, "has no ':'"),
        ("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", .badRequest, "empty field name"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1}b\r\n\r\n", .badRequest, "the value of the header 'x' contains a control character (\\x01)"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{0}b\r\n\r\n", .badRequest, "the value of the header 'x' contains NUL"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", .badRequest, "contains a control character (\\x0D)"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{7F}\r\n\r\n", .badRequest, "contains a control character (\\x7F)"),
        ("GET / HTTP/1.1\r\nHost: h\r\nX\u{0}: a\r\n\r\n", .badRequest, "is not a token"),
        // Host
        ("GET / HTTP/1.1\r\n\r\n", .badRequest, "an HTTP/1.1 request must have a Host header"),
        ("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", .badRequest, "must have a Host header"),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .badRequest, "more than one Host header"),
        ("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", .badRequest, "more than one Host header"),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", .badRequest, "the Host 'a b' is not a valid host[:port]"),
        ("GET / HTTP/1.1\r\nHost: user@h\r\n\r\n", .badRequest, "is not a valid host"),
        ("GET / HTTP/1.1\r\nHost: h/x\r\n\r\n", .badRequest, "is not a valid host"),
        // Body framing
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", .badRequest, "more than one Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", .badRequest, "more than one Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nx", .badRequest, "the Content-Length '1, 1' is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .badRequest, "both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", .badRequest, "both Content-Length and Transfer-Encoding"),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", .lengthRequired, "request bodies must use Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", .lengthRequired, "request bodies must use Content-Length"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .lengthRequired, "request bodies must use Content-Length"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", .badRequest, "the Content-Length '-1' is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\nx", .badRequest, "is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 12a\r\n\r\n", .badRequest, "the Content-Length '12a' is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", .badRequest, "is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", .badRequest, "is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ١\r\n\r\n", .badRequest, "is not a decimal number"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", .badRequest, "the Content-Length is empty"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", .badRequest, "'99999999999999999999999' is too large to represent"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775808\r\n\r\n", .badRequest, "too large to represent"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n", .tooLarge, "the body of 9223372036854775807 bytes is larger than the limit of 1048576 bytes"),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n", .tooLarge, "larger than the limit"),
    ]

    @Test("malformed requests are refused with the right code and a message naming the fault", arguments: refused)
    func refuses(text: String, code: HTTPParseError.Code, fragment: String) throws {
        let error = try #require(parse(text).failure)
        #expect(error.code == code)
        #expect(error.status == code.status)
        #expect(error.message.contains(fragment), "\(error.message)")
    }

    @Test("a header value that is not UTF-8 is refused")
    func invalidUTF8Value() throws {
        var bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nX: a".utf8)
        bytes += [0xFF, 0xFE]
        bytes += Array("\r\n\r\n".utf8)
        let error = try #require(parse(bytes).failure)
        #expect(error.code == .badRequest)
        #expect(error.message == "the value of the header 'x' is not valid UTF-8")
    }

    @Test("an error message never carries control characters or invalid UTF-8 from the request")
    func messagesAreSafe() throws {
        var bytes = Array("G".utf8) + [0x00, 0x0D, 0xFF, 0x1B] + Array(" / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)
        let error = try #require(parse(bytes).failure)
        #expect(error.message == "the method 'G\\x00\\x0D\\xFF\\x1B' is not a token")
        bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: ".utf8) + Array(repeating: 0x41, count: 200)
            + Array("\r\n\r\n".utf8)
        let long = try #require(parse(bytes).failure)
        #expect(long.message.contains("AAA...'"))
        #expect(long.message.utf8.count < 150)
    }

    @Test("error codes map to the documented statuses and wire codes", arguments: [
        (HTTPParseError.Code.badRequest, 400, "bad_request"),
        (.uriTooLong, 414, "uri_too_long"),
        (.headerTooLarge, 431, "header_too_large"),
        (.tooLarge, 413, "too_large"),
        (.lengthRequired, 411, "length_required"),
        (.versionNotSupported, 505, "version_not_supported"),
    ])
    func errorCodes(code: HTTPParseError.Code, status: Int, wire: String) {
        #expect(code.status.code == status)
        #expect(code.rawValue == wire)
        #expect(HTTPParseError(code, "m").description == "\(status) \(wire): m")
    }

    @Test("the status constants carry their codes", arguments: [
        (HTTPStatus.ok, 200), (.created, 201), (.noContent, 204), (.notModified, 304), (.badRequest, 400),
        (.unauthorized, 401), (.forbidden, 403), (.notFound, 404), (.methodNotAllowed, 405), (.requestTimeout, 408),
        (.conflict, 409), (.lengthRequired, 411), (.contentTooLarge, 413), (.uriTooLong, 414),
        (.unsupportedMediaType, 415), (.requestHeaderFieldsTooLarge, 431), (.internalServerError, 500),
        (.serviceUnavailable, 503), (.httpVersionNotSupported, 505), (.insufficientStorage, 507),
    ])
    func statusConstants(status: HTTPStatus, code: Int) {
        #expect(status.code == code)
        #expect(!status.reason.isEmpty)
    }
}
