// MARK: - HTTPResponseStreamParser

/// A strict HTTP/1.1 response parser that hands the body over as it arrives, for a response that streams:
/// the head (status line and header fields) as soon as it is complete, then each piece of the body, its
/// transfer coding removed.
///
/// The head is read and judged by ``HTTPResponseParser``, with the same limits and errors; the body is framed
/// as that parser frames it (RFC 9112 §6.3): none for a response to HEAD or with status 1xx, 204 or 304; else
/// chunked, decoded by ``HTTPChunkedDecoder``; else `Content-Length` bytes; else everything up to the end of
/// the input. Interim 1xx responses are read and skipped. Unlike ``HTTPResponseParser`` it does not keep the
/// body, so ``HTTPResponseParser/Limits/body`` does not apply: the consumer of the body bounds what it holds.
///
/// Give ``parse(_:atEndOfInput:)`` each piece of the response once, in order, as it arrives. Time is linear in
/// the input however it is split. After a failure it throws the same error again. No input makes it trap.
public struct HTTPResponseStreamParser: Sendable {
    // MARK: Output

    /// What one call to ``parse(_:atEndOfInput:)`` read.
    public struct Output: Sendable, Hashable {
        /// The status line and header fields (its body empty), in the output of the call that completes them
        /// and only there.
        public var head: HTTPClientResponse?
        /// The body bytes that arrived in this call, transfer coding removed.
        public var body: [UInt8]
        /// Whether the response is complete: no body byte follows those in ``body``.
        public var isComplete: Bool
        /// How many of the bytes given belong to this response: all of them, unless it completed before their end
        /// (what follows is the next response's).
        public var consumed: Int

        /// Creates an output, e.g. to compare a parser's with in tests.
        public init(head: HTTPClientResponse?, body: [UInt8], isComplete: Bool, consumed: Int) {
            self.head = head
            self.body = body
            self.isComplete = isComplete
            self.consumed = consumed
        }
    }

    // MARK: State

    private enum Phase: Sendable, Hashable {
        /// The head so far is in `received`, read by `headParser`.
        case head
        /// The body is decoded by `chunkedDecoder`.
        case chunked
        /// `remaining` of `length` bytes of body.
        case fixed(remaining: Int, length: Int)
        case untilEnd
        case complete
    }

    /// The limits on the status line, the header block and the chunked coding (the body limit is not used).
    public let limits: HTTPResponseParser.Limits
    /// Whether the request was HEAD, so that the response has no body whatever its header fields say.
    public let requestWasHead: Bool
    private var phase = Phase.head
    /// Reads the head alone: a parser told the request was HEAD stops after the header fields, framing checked.
    private var headParser: HTTPResponseParser
    /// The bytes of the head received so far (and any that followed it in the same call).
    private var received: [UInt8] = []
    private var chunkedDecoder: HTTPChunkedDecoder
    private var failure: HTTPParseError?

    /// Creates a parser for one response.
    ///
    /// - Parameters:
    ///   - limits: The limits to enforce.
    ///   - requestWasHead: Whether the response answers a HEAD request (so it has no body).
    public init(limits: HTTPResponseParser.Limits = HTTPResponseParser.Limits(), requestWasHead: Bool = false) {
        self.limits = limits
        self.requestWasHead = requestWasHead
        headParser = HTTPResponseParser(limits: limits, requestWasHead: true)
        chunkedDecoder = HTTPChunkedDecoder(limits: limits)
    }

    // MARK: Parsing

    /// Reads the next piece of the response.
    ///
    /// - Parameters:
    ///   - bytes: The bytes that arrived after those of the previous call.
    ///   - atEndOfInput: Whether the server has closed the connection, so that nothing follows `bytes`: this
    ///     completes a body read up to the end of the input, and makes a response cut short a failure.
    /// - Returns: The head when it completes, the body bytes, whether the response is complete and how many
    ///   bytes it took. Once the response is complete, every call returns an empty complete output.
    /// - Throws: ``HTTPParseError`` as ``HTTPResponseParser`` refuses a response; the same error on every later
    ///   call.
    public mutating func parse(_ bytes: some Collection<UInt8>, atEndOfInput: Bool = false) throws(HTTPParseError) -> Output {
        if let failure { throw failure }
        do {
            return try read(Array(bytes)[...], atEndOfInput: atEndOfInput)
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func read(_ bytes: ArraySlice<UInt8>, atEndOfInput: Bool) throws(HTTPParseError) -> Output {
        var output = Output(head: nil, body: [], isComplete: false, consumed: 0)
        var rest = bytes
        while true {
            switch phase {
            case .head:
                let before = received.count
                received.append(contentsOf: rest)
                switch headParser.parse(received, atEndOfInput: atEndOfInput) {
                case .incomplete:
                    output.consumed = bytes.count
                    return output
                case .failure(let error):
                    throw error
                case .response(let head, let consumed):
                    // The head took `consumed - before` of this call's bytes; what follows it is body.
                    let taken = consumed - before
                    output.consumed += taken
                    rest = rest.dropFirst(taken)
                    received = []
                    if HTTPStatus(head.status, head.reason).isInformational { continue }
                    output.head = head
                    phase = try framing(of: head)
                }

            case .chunked:
                let taken = try chunkedDecoder.decode(rest, appendingTo: &output.body)
                output.consumed += taken
                rest = rest.dropFirst(taken)
                if chunkedDecoder.isComplete {
                    phase = .complete
                    continue
                }
                if atEndOfInput { try chunkedDecoder.finish() }
                return output

            case .fixed(let remaining, let length):
                let taken = min(remaining, rest.count)
                output.body.append(contentsOf: rest.prefix(taken))
                output.consumed += taken
                rest = rest.dropFirst(taken)
                if taken == remaining {
                    phase = .complete
                    continue
                }
                phase = .fixed(remaining: remaining - taken, length: length)
                if atEndOfInput {
                    throw HTTPParseError(.badRequest, "the input ended after \(length - remaining + taken) of \(length) body bytes")
                }
                return output

            case .untilEnd:
                output.body.append(contentsOf: rest)
                output.consumed += rest.count
                if atEndOfInput { phase = .complete }
                output.isComplete = atEndOfInput
                return output

            case .complete:
                output.isComplete = true
                return output
            }
        }
    }

    /// How the body of a response with this head is framed (RFC 9112 §6.3); the head parser has checked the
    /// framing fields already.
    private func framing(of head: HTTPClientResponse) throws(HTTPParseError) -> Phase {
        if requestWasHead || HTTPStatus(head.status, head.reason).forbidsContent { return .complete }
        if head.header("transfer-encoding") != nil { return .chunked }
        guard let text = head.header("content-length") else { return .untilEnd }
        switch HTTPSyntax.contentLength(text) {
        case .success(let length): return length == 0 ? .complete : .fixed(remaining: length, length: length)
        case .failure(let error): throw error
        }
    }
}
