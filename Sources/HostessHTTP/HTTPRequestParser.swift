// MARK: - HTTPRequestParser

/// An incremental, strict HTTP/1.1 request parser (RFC 9112) for bytes as they arrive on a connection.
///
/// Call ``parse(_:from:)`` with everything received and not yet consumed each time more bytes arrive. It
/// answers ``ParseResult/incomplete`` until a whole request (request line, header fields, `Content-Length`
/// bytes of body) is there, then ``ParseResult/request(_:consumed:)``, which says how many bytes the request
/// took so that the next one (pipelined in the same buffer) starts right after it. A limit is enforced as soon
/// as it is exceeded, before the line or block that exceeds it is finished, so a client cannot make the server
/// buffer more than the limits allow.
///
/// What it refuses, with the status to answer (see ``HTTPParseError/Code``):
/// - a request line that is not exactly `METHOD SP request-target SP HTTP/x.y CRLF`, a method that is not a
///   token, a target that is not origin-form (`/...`) or `*` for `OPTIONS`: 400; a version other than 1.0 and
///   1.1: 505; a request line over ``Limits/requestLine`` bytes: 414;
/// - a line ending in a bare LF or holding a bare CR, obs-fold, white space before a field's colon, a field
///   name that is not a token, a control character (HTAB aside) or invalid UTF-8 in a field value: 400;
/// - a header block over ``Limits/headerBlock`` bytes or ``Limits/headerFields`` fields: 431;
/// - no `Host` in an HTTP/1.1 request, or more than one `Host`: 400;
/// - `Transfer-Encoding` with `Content-Length`, more than one `Content-Length`, or one that is not a
///   non-empty decimal number that fits in an `Int`: 400; `Transfer-Encoding` alone: 411; a `Content-Length`
///   over ``Limits/body``: 413, as soon as the header block ends.
///
/// Empty lines before the request line are skipped (RFC 9112 §2.2). No input makes it trap.
public struct HTTPRequestParser: Sendable {
    // MARK: Limits

    /// The sizes a request may have. The defaults are the ones hostessd enforces.
    public struct Limits: Sendable, Hashable {
        /// Bytes in the request line, CRLF excluded (414 beyond). Also the most bytes of empty lines skipped
        /// before it (400 beyond).
        public var requestLine: Int
        /// Bytes in the header field lines, each with its CRLF, the empty line that ends them excluded (431 beyond).
        public var headerBlock: Int
        /// Header field lines (431 beyond).
        public var headerFields: Int
        /// Bytes of body, as announced by `Content-Length` (413 beyond).
        public var body: Int

        /// Creates limits; every argument defaults to hostessd's limit.
        public init(requestLine: Int = 8192, headerBlock: Int = 16384, headerFields: Int = 100, body: Int = 1 << 20) {
            self.requestLine = requestLine
            self.headerBlock = headerBlock
            self.headerFields = headerFields
            self.body = body
        }
    }

    // MARK: Results

    /// What ``parse(_:from:)`` found.
    public enum ParseResult: Sendable, Hashable {
        /// The request is not complete yet and no limit is exceeded: call again when more bytes arrive.
        case incomplete
        /// A complete request, which took the first `consumed` bytes from `start`.
        case request(HTTPRequest, consumed: Int)
        /// The bytes are not an acceptable request: answer with the error's status and close the connection.
        case failure(HTTPParseError)
    }

    // MARK: State

    /// The limits this parser enforces.
    public let limits: Limits

    private enum Phase: Sendable {
        case leadingEmptyLines
        case requestLine
        case headerFields
        case body(length: Int)
    }

    private var phase = Phase.leadingEmptyLines
    /// Its cursor: bytes from `start` that belong to lines already read (and skipped empty lines).
    private var lines = HTTPLineReader()
    private var method = ""
    private var target = ""
    private var version = HTTPVersion.http1_1
    private var head: HTTPFieldBlock
    private var failure: HTTPParseError?

    /// Creates a parser.
    public init(limits: Limits = Limits()) {
        self.limits = limits
        head = HTTPFieldBlock(.requestHeaders, byteLimit: limits.headerBlock, fieldLimit: limits.headerFields)
    }

    /// Forgets the request in progress, and a failure, so that the next ``parse(_:from:)`` starts a new request.
    public mutating func reset() {
        self = HTTPRequestParser(limits: limits)
    }

    // MARK: Parsing

    /// Reads the next request from `buffer[start...]`.
    ///
    /// Between calls that answer ``ParseResult/incomplete``, pass the same unconsumed bytes again (from any
    /// `start`), extended by what arrived since: the parser remembers how far it has read, so that bytes
    /// trickling in one at a time cost linear, not quadratic, time. If fewer bytes are passed than before, it
    /// starts over. After ``ParseResult/request(_:consumed:)`` it is ready for the next request; after
    /// ``ParseResult/failure(_:)`` it answers the same failure until ``reset()``.
    ///
    /// - Parameters:
    ///   - buffer: The bytes received on the connection.
    ///   - start: Where the unconsumed bytes begin; clamped to `0...buffer.count`.
    /// - Returns: A complete request and the bytes it took, a failure, or `incomplete`.
    public mutating func parse(_ buffer: [UInt8], from start: Int = 0) -> ParseResult {
        if let failure { return .failure(failure) }
        let start = min(max(start, 0), buffer.count)
        if buffer.count - start < lines.seen { reset() }
        while true {
            let lineStart = start + lines.cursor
            switch phase {
            case .leadingEmptyLines:
                guard lineStart < buffer.count else { return .incomplete }
                if buffer[lineStart] == .cr {
                    guard lineStart + 1 < buffer.count else { return .incomplete }
                    if buffer[lineStart + 1] == .lf {
                        lines.cursor += 2
                        if lines.cursor > limits.requestLine {
                            return fail(
                                .badRequest,
                                "more than \(limits.requestLine) bytes of empty lines before the request line")
                        }
                        continue
                    }
                }
                phase = .requestLine

            case .requestLine:
                switch lines.next(in: buffer, start: start) {
                case .partial(let bytes):
                    if HTTPLineReader.contentLength(of: bytes) > limits.requestLine { return fail(requestLineTooLong) }
                    return .incomplete
                case .complete(let line):
                    if let error = readRequestLine(line) { return fail(error) }
                    phase = .headerFields
                }

            case .headerFields:
                switch head.read(buffer, start: start, lines: &lines) {
                case .incomplete: return .incomplete
                case .failure(let error): return fail(error)
                case .complete:
                    switch finishHead() {
                    case .success(let length): phase = .body(length: length)
                    case .failure(let error): return fail(error)
                    }
                }

            case .body(let length):
                guard buffer.count - lineStart >= length else { return .incomplete }
                let request = HTTPRequest(
                    method: method, target: target, version: version, headers: head.fields,
                    body: Array(buffer[lineStart..<(lineStart + length)]))
                let consumed = lines.cursor + length
                reset()
                return .request(request, consumed: consumed)
            }
        }
    }

    // MARK: Failures

    private var requestLineTooLong: HTTPParseError {
        HTTPParseError(.uriTooLong, "the request line is longer than \(limits.requestLine) bytes")
    }

    private mutating func fail(_ error: HTTPParseError) -> ParseResult {
        failure = error
        return .failure(error)
    }

    private mutating func fail(_ code: HTTPParseError.Code, _ message: String) -> ParseResult {
        fail(HTTPParseError(code, message))
    }

    // MARK: Request line

    /// Reads `METHOD SP request-target SP HTTP-version CR` into the parser's state.
    private mutating func readRequestLine(_ line: ArraySlice<UInt8>) -> HTTPParseError? {
        if HTTPLineReader.contentLength(of: line) > limits.requestLine { return requestLineTooLong }
        guard line.last == .cr else { return HTTPParseError(.badRequest, "the request line does not end with CRLF") }
        let content = line.dropLast()
        guard let firstSpace = content.firstIndex(of: .space),
            let secondSpace = content[(firstSpace + 1)...].firstIndex(of: .space)
        else {
            return HTTPParseError(
                .badRequest, "the request line '\(describe(content))' is not 'METHOD request-target HTTP/1.1'")
        }
        let methodBytes = content[..<firstSpace]
        let targetBytes = content[(firstSpace + 1)..<secondSpace]
        let versionBytes = content[(secondSpace + 1)...]
        guard !methodBytes.isEmpty, !targetBytes.isEmpty, !versionBytes.isEmpty, !versionBytes.contains(.space) else {
            return HTTPParseError(
                .badRequest,
                "the request line '\(describe(content))' is not 'METHOD request-target HTTP/1.1' with single spaces")
        }

        guard methodBytes.allSatisfy(\.isTokenCharacter) else {
            return HTTPParseError(.badRequest, "the method '\(describe(methodBytes))' is not a token")
        }
        method = String(decoding: methodBytes, as: UTF8.self)

        switch HTTPSyntax.version(versionBytes) {
        case nil:
            return HTTPParseError(.badRequest, "the HTTP version '\(describe(versionBytes))' is malformed")
        case let read? where read == .http1_0 || read == .http1_1:
            version = read
        case let read?:
            return HTTPParseError(.versionNotSupported, "\(read) is not supported; use HTTP/1.1 or HTTP/1.0")
        }

        if let error = Self.checkTarget(targetBytes, method: method) { return error }
        target = String(decoding: targetBytes, as: UTF8.self)
        return nil
    }

    /// Origin-form (`/path?query`) for every method, asterisk-form (`*`) for OPTIONS; visible ASCII only, no fragment.
    private static func checkTarget(_ bytes: ArraySlice<UInt8>, method: String) -> HTTPParseError? {
        guard bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return HTTPParseError(
                .badRequest, "the request target '\(describe(bytes))' contains a control or non-ASCII character")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else {
            return HTTPParseError(.badRequest, "the request target '\(describe(bytes))' contains a fragment ('#')")
        }
        if bytes.first == UInt8(ascii: "/") { return nil }
        if bytes.elementsEqual("*".utf8) {
            guard method == "OPTIONS" else {
                return HTTPParseError(.badRequest, "the request target '*' is only allowed with OPTIONS")
            }
            return nil
        }
        return HTTPParseError(
            .badRequest,
            "the request target '\(describe(bytes))' does not start with '/'"
                + " (absolute-form and authority-form are not supported)"
        )
    }

    // MARK: End of the head

    /// Checks `Host` and the body's framing once every field is read; the body's length on success.
    private func finishHead() -> Result<Int, HTTPParseError> {
        let hosts = head.values("host")
        if hosts.count > 1 { return .failure(HTTPParseError(.badRequest, "the request has more than one Host header")) }
        if hosts.isEmpty && version == .http1_1 {
            return .failure(HTTPParseError(.badRequest, "an HTTP/1.1 request must have a Host header"))
        }
        if let host = hosts.first, !Self.isValidHost(host) {
            return .failure(HTTPParseError(.badRequest, "the Host '\(describe(host.utf8))' is not a valid host[:port]"))
        }

        let transferEncodings = head.values("transfer-encoding")
        let contentLengths = head.values("content-length")
        if !transferEncodings.isEmpty && !contentLengths.isEmpty {
            return .failure(
                HTTPParseError(.badRequest, "a request must not carry both Content-Length and Transfer-Encoding"))
        }
        if !transferEncodings.isEmpty {
            return .failure(HTTPParseError(.lengthRequired, "request bodies must use Content-Length"))
        }
        if contentLengths.count > 1 {
            return .failure(HTTPParseError(.badRequest, "the request has more than one Content-Length header"))
        }
        guard let text = contentLengths.first else { return .success(0) }
        let length: Int
        switch HTTPSyntax.contentLength(text) {
        case .success(let read): length = read
        case .failure(let error): return .failure(error)
        }
        if length > limits.body {
            return .failure(
                HTTPParseError(
                    .tooLarge, "the body of \(length) bytes is larger than the limit of \(limits.body) bytes"))
        }
        return .success(length)
    }

    /// A `Host` value of URI authority characters without userinfo (RFC 9110 §7.2): a name, an IPv4 address
    /// or a bracketed IPv6 literal, and an optional port. Empty is allowed.
    private static func isValidHost(_ host: String) -> Bool {
        host.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"),
                UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
                UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
                UInt8(ascii: "%"), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                return true
            default:
                return false
            }
        }
    }
}
