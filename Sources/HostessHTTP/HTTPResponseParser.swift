// MARK: - HTTPClientResponse

/// A complete response as ``HTTPResponseParser`` reads it off the wire: status line, header fields and body.
public struct HTTPClientResponse: Sendable, Hashable {
    /// The status code, `100...599`.
    public var status: Int
    /// The reason phrase, possibly empty.
    public var reason: String
    /// The header fields in order, names lower-cased, values without surrounding optional white space.
    /// Trailer fields of a chunked body are not among them.
    public var headers: [HTTPHeader]
    /// The body, its transfer coding removed.
    public var body: [UInt8]

    /// Creates a response, e.g. to compare a parsed one with in tests.
    public init(status: Int, reason: String, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
    }

    /// The value of the first field named `name` (compared case-insensitively), or nil.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}

// MARK: - HTTPResponseParser

/// An incremental, strict HTTP/1.1 response parser (RFC 9112) for bytes as they arrive from a server.
///
/// Call ``parse(_:from:atEndOfInput:)`` with everything received and not yet consumed each time more bytes
/// arrive, and once more with `atEndOfInput: true` when the server closes the connection. It answers
/// ``ParseResult/incomplete`` until a whole response is there, then ``ParseResult/response(_:consumed:)``.
/// The body is framed as RFC 9112 §6.3 says: none for a response to HEAD (``init(limits:requestWasHead:)``)
/// or with status 1xx, 204 or 304; else `Transfer-Encoding: chunked` (chunk extensions ignored, trailer
/// fields read and dropped); else `Content-Length`; else everything up to the end of the input. A limit is
/// enforced as soon as it is exceeded, so a server cannot make the client buffer more than the limits allow.
///
/// What it refuses (see ``HTTPParseError/Code``):
/// - a status line that is not exactly `HTTP/x.y SP 3DIGIT SP reason CRLF`, a code outside `100...599`, a
///   control character or invalid UTF-8 in the reason: `badRequest`; a version other than 1.0 and 1.1:
///   `versionNotSupported`; a status line over ``Limits/statusLine`` bytes: `headerTooLarge`;
/// - header and trailer field lines as ``HTTPRequestParser`` refuses them: `badRequest`; a header block or
///   trailer section over ``Limits/headerBlock`` bytes or ``Limits/headerFields`` fields: `headerTooLarge`;
/// - `Transfer-Encoding` with `Content-Length`, a transfer coding other than `chunked`, more than one
///   `Content-Length` or one that is not a decimal number that fits in an `Int`: `badRequest`;
/// - a chunk size that is not hexadecimal or does not fit in an `Int`, a chunk-size line over
///   ``Limits/chunkSizeLine`` bytes or with something other than extensions after the size, chunk data not
///   followed by CRLF: `badRequest`;
/// - a body over ``Limits/body`` bytes: `tooLarge`;
/// - input that ends before the response is complete: `badRequest`.
///
/// No input makes it trap.
public struct HTTPResponseParser: Sendable {
    // MARK: Limits

    /// The sizes a response may have.
    public struct Limits: Sendable, Hashable {
        /// Bytes in the status line, CRLF excluded.
        public var statusLine: Int
        /// Bytes in the header field lines, each with its CRLF, the empty line that ends them excluded; the
        /// same for the trailer section of a chunked body.
        public var headerBlock: Int
        /// Header field lines; the same for trailer field lines.
        public var headerFields: Int
        /// Bytes of body, after removing the chunked coding.
        public var body: Int
        /// Bytes in a chunk-size line (size and extensions), CRLF excluded.
        public var chunkSizeLine: Int

        /// Creates limits; the defaults are 8 KiB, 16 KiB, 100 fields, 4 MiB and 64 bytes.
        public init(
            statusLine: Int = 8192, headerBlock: Int = 16384, headerFields: Int = 100, body: Int = 4 << 20,
            chunkSizeLine: Int = 64
        ) {
            self.statusLine = statusLine
            self.headerBlock = headerBlock
            self.headerFields = headerFields
            self.body = body
            self.chunkSizeLine = chunkSizeLine
        }
    }

    // MARK: Results

    /// What ``parse(_:from:atEndOfInput:)`` found.
    public enum ParseResult: Sendable, Hashable {
        /// The response is not complete yet and no limit is exceeded: call again when more bytes arrive.
        case incomplete
        /// A complete response, which took the first `consumed` bytes from `start`.
        case response(HTTPClientResponse, consumed: Int)
        /// The bytes are not an acceptable response: close the connection.
        case failure(HTTPParseError)
    }

    // MARK: State

    /// The limits this parser enforces.
    public let limits: Limits
    /// Whether the request was HEAD, so that the response has no body whatever its header fields say.
    public let requestWasHead: Bool

    private enum Phase: Sendable {
        case statusLine
        case headerFields
        /// `length` bytes of body (none for a response without content).
        case fixedBody(length: Int)
        /// The body up to the end of the input.
        case untilEnd
        case chunkSize
        case chunkData(remaining: Int)
        /// The CRLF after a chunk's data.
        case chunkEnd
        case trailers
    }

    private var phase = Phase.statusLine
    /// Its cursor: bytes from `start` already read (lines, and body bytes copied into `body`).
    private var lines = HTTPLineReader()
    private var status = 0
    private var reason = ""
    private var head: HTTPFieldBlock
    private var trailers: HTTPFieldBlock
    /// The chunked body decoded so far.
    private var body: [UInt8] = []
    private var failure: HTTPParseError?

    /// Creates a parser.
    ///
    /// - Parameters:
    ///   - limits: The limits to enforce.
    ///   - requestWasHead: Whether the response answers a HEAD request (so it has no body).
    public init(limits: Limits = Limits(), requestWasHead: Bool = false) {
        self.limits = limits
        self.requestWasHead = requestWasHead
        head = HTTPFieldBlock(.responseHeaders, byteLimit: limits.headerBlock, fieldLimit: limits.headerFields)
        trailers = HTTPFieldBlock(.trailers, byteLimit: limits.headerBlock, fieldLimit: limits.headerFields)
    }

    /// Forgets the response in progress, and a failure, so that the next call starts a new response.
    public mutating func reset() {
        self = HTTPResponseParser(limits: limits, requestWasHead: requestWasHead)
    }

    // MARK: Parsing

    /// Reads the next response from `buffer[start...]`.
    ///
    /// Between calls that answer ``ParseResult/incomplete``, pass the same unconsumed bytes again (from any
    /// `start`), extended by what arrived since: the parser remembers how far it has read, so that however
    /// the bytes are split into calls, parsing costs time linear in their number. If fewer bytes are passed
    /// than before, it starts over. After ``ParseResult/response(_:consumed:)`` it is ready for the next
    /// response (an interim 1xx one is followed by another); after ``ParseResult/failure(_:)`` it answers the
    /// same failure until ``reset()``.
    ///
    /// - Parameters:
    ///   - buffer: The bytes received from the server.
    ///   - start: Where the unconsumed bytes begin; clamped to `0...buffer.count`.
    ///   - atEndOfInput: Whether the server has closed the connection, so that no byte follows `buffer`:
    ///     this completes a body read up to the end of the input, and makes a response cut short a failure.
    /// - Returns: A complete response and the bytes it took, a failure, or `incomplete`.
    public mutating func parse(_ buffer: [UInt8], from start: Int = 0, atEndOfInput: Bool = false) -> ParseResult {
        if let failure { return .failure(failure) }
        let start = min(max(start, 0), buffer.count)
        if buffer.count - start < lines.seen { reset() }
        /// `incomplete`, or at the end of the input the failure of a response cut short at `place`.
        func wait(_ place: String) -> ParseResult {
            guard atEndOfInput else { return .incomplete }
            return fail(.badRequest, "the input ended \(place)")
        }
        while true {
            let here = start + lines.cursor
            switch phase {
            case .statusLine:
                switch lines.next(in: buffer, start: start) {
                case .partial(let bytes):
                    if HTTPLineReader.contentLength(of: bytes) > limits.statusLine { return fail(statusLineTooLong) }
                    return wait(bytes.isEmpty ? "before a status line" : "inside the status line")
                case .complete(let line):
                    if let error = readStatusLine(line) { return fail(error) }
                    phase = .headerFields
                }

            case .headerFields:
                switch head.read(buffer, start: start, lines: &lines) {
                case .incomplete: return wait("inside the header block")
                case .failure(let error): return fail(error)
                case .complete:
                    switch framing() {
                    case .success(let next): phase = next
                    case .failure(let error): return fail(error)
                    }
                }

            case .fixedBody(let length):
                let available = buffer.count - here
                guard available >= length else { return wait("after \(available) of \(length) body bytes") }
                body = Array(buffer[here..<(here + length)])
                lines.cursor += length
                return complete()

            case .untilEnd:
                let available = buffer.count - here
                if available > limits.body { return fail(bodyTooLarge) }
                guard atEndOfInput else { return .incomplete }
                body = Array(buffer[here...])
                lines.cursor += available
                return complete()

            case .chunkSize:
                switch lines.next(in: buffer, start: start) {
                case .partial(let bytes):
                    if HTTPLineReader.contentLength(of: bytes) > limits.chunkSizeLine { return fail(chunkSizeLineTooLong) }
                    return wait("inside a chunk-size line")
                case .complete(let line):
                    switch readChunkSize(line) {
                    case .failure(let error): return fail(error)
                    case .success(0): phase = .trailers
                    case .success(let size): phase = .chunkData(remaining: size)
                    }
                }

            case .chunkData(let remaining):
                let available = min(remaining, buffer.count - here)
                body.append(contentsOf: buffer[here..<(here + available)])
                lines.cursor += available
                guard available == remaining else {
                    phase = .chunkData(remaining: remaining - available)
                    return wait("inside a chunk, \(remaining - available) bytes short")
                }
                phase = .chunkEnd

            case .chunkEnd:
                if here < buffer.count && buffer[here] != .cr { return fail(chunkNotEnded) }
                guard here + 1 < buffer.count else { return wait("before the CRLF after a chunk") }
                guard buffer[here + 1] == .lf else { return fail(chunkNotEnded) }
                lines.cursor += 2
                phase = .chunkSize

            case .trailers:
                switch trailers.read(buffer, start: start, lines: &lines) {
                case .incomplete: return wait("inside the trailer section")
                case .failure(let error): return fail(error)
                case .complete: return complete()
                }
            }
        }
    }

    /// The response read, and the parser reset for the next one.
    private mutating func complete() -> ParseResult {
        let response = HTTPClientResponse(status: status, reason: reason, headers: head.fields, body: body)
        let consumed = lines.cursor
        reset()
        return .response(response, consumed: consumed)
    }

    // MARK: Failures

    private var statusLineTooLong: HTTPParseError {
        HTTPParseError(.headerTooLarge, "the status line is longer than \(limits.statusLine) bytes")
    }

    private var chunkSizeLineTooLong: HTTPParseError { HTTPSyntax.chunkSizeLineTooLong(limit: limits.chunkSizeLine) }

    private var chunkNotEnded: HTTPParseError { HTTPSyntax.chunkNotEnded }

    private var bodyTooLarge: HTTPParseError {
        HTTPParseError(.tooLarge, "the body is larger than the limit of \(limits.body) bytes")
    }

    private mutating func fail(_ error: HTTPParseError) -> ParseResult {
        failure = error
        return .failure(error)
    }

    private mutating func fail(_ code: HTTPParseError.Code, _ message: String) -> ParseResult {
        fail(HTTPParseError(code, message))
    }

    // MARK: Status line

    /// Reads `HTTP-version SP status-code SP reason-phrase CR` into the parser's state.
    private mutating func readStatusLine(_ line: ArraySlice<UInt8>) -> HTTPParseError? {
        if HTTPLineReader.contentLength(of: line) > limits.statusLine { return statusLineTooLong }
        guard line.last == .cr else { return HTTPParseError(.badRequest, "the status line does not end with CRLF") }
        let content = line.dropLast()
        guard let firstSpace = content.firstIndex(of: .space) else {
            return HTTPParseError(.badRequest, "the status line '\(describe(content))' is not 'HTTP/1.1 CODE reason'")
        }
        let versionBytes = content[..<firstSpace]
        switch HTTPSyntax.version(versionBytes) {
        case nil:
            return HTTPParseError(.badRequest, "the HTTP version '\(describe(versionBytes))' is malformed")
        case let read? where read == .http1_0 || read == .http1_1:
            break
        case let read?:
            return HTTPParseError(.versionNotSupported, "\(read) is not supported; only HTTP/1.1 and HTTP/1.0 are")
        }

        let rest = content[(firstSpace + 1)...]
        let codeBytes = rest.prefix(3)
        guard codeBytes.count == 3, let code = HTTPSyntax.number(codeBytes, radix: 10, value: HTTPSyntax.digitValue)
        else {
            return HTTPParseError(.badRequest, "the status code '\(describe(rest.prefix(8)))' is not three digits")
        }
        let afterCode = rest.dropFirst(3)
        guard afterCode.first == .space else {
            return HTTPParseError(
                .badRequest, "the status line '\(describe(content))' is not 'HTTP/1.1 CODE reason' with single spaces")
        }
        guard (100...599).contains(code) else {
            return HTTPParseError(.badRequest, "the status code \(code) is outside 100...599")
        }
        let reasonBytes = afterCode.dropFirst()
        if let bad = reasonBytes.first(where: { !$0.isFieldValueCharacter }) {
            return HTTPParseError(.badRequest, "the reason phrase contains a control character (\(describe([bad])))")
        }
        guard let text = String(validating: reasonBytes, as: UTF8.self) else {
            return HTTPParseError(.badRequest, "the reason phrase is not valid UTF-8")
        }
        status = code
        reason = text
        return nil
    }

    // MARK: Body framing

    /// How the body is framed (RFC 9112 §6.3), once every header field is read.
    private func framing() -> Result<Phase, HTTPParseError> {
        let transferEncodings = head.values("transfer-encoding")
        let contentLengths = head.values("content-length")
        if !transferEncodings.isEmpty && !contentLengths.isEmpty {
            return .failure(
                HTTPParseError(.badRequest, "a response must not carry both Content-Length and Transfer-Encoding"))
        }
        if contentLengths.count > 1 {
            return .failure(HTTPParseError(.badRequest, "the response has more than one Content-Length header"))
        }
        let codings = transferEncodings.flatMap { $0.split(separator: ",") }
            .map { $0.trimmingOptionalWhitespace().lowercased() }
            .filter { !$0.isEmpty }
        if !transferEncodings.isEmpty && codings != ["chunked"] {
            let named = transferEncodings.joined(separator: ", ")
            return .failure(
                HTTPParseError(
                    .badRequest, "the transfer coding '\(describe(named.utf8))' is not supported; only chunked is"))
        }
        var length: Int?
        if let text = contentLengths.first {
            switch HTTPSyntax.contentLength(text) {
            case .success(let read): length = read
            case .failure(let error): return .failure(error)
            }
        }

        if requestWasHead || HTTPStatus(status, reason).forbidsContent { return .success(.fixedBody(length: 0)) }
        if !transferEncodings.isEmpty { return .success(.chunkSize) }
        guard let length else { return .success(.untilEnd) }
        if length > limits.body {
            return .failure(
                HTTPParseError(
                    .tooLarge, "the body of \(length) bytes is larger than the limit of \(limits.body) bytes"))
        }
        return .success(.fixedBody(length: length))
    }

    /// Reads `chunk-size [chunk-ext] CR`: the size, the extensions ignored, within what is left of the body limit.
    private func readChunkSize(_ line: ArraySlice<UInt8>) -> Result<Int, HTTPParseError> {
        let size: Int
        switch HTTPSyntax.chunkSize(line, lineLimit: limits.chunkSizeLine) {
        case .success(let read): size = read
        case .failure(let error): return .failure(error)
        }
        if size > limits.body - body.count { return .failure(bodyTooLarge) }
        return .success(size)
    }
}
