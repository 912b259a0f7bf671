import HostessHTTP
import Testing

// MARK: - Parsing helpers

typealias ParseResult = HTTPRequestParser.ParseResult
typealias Limits = HTTPRequestParser.Limits

/// The result of a fresh parser reading all of `bytes` at once.
func parse(_ bytes: [UInt8], limits: Limits = Limits()) -> ParseResult {
    var parser = HTTPRequestParser(limits: limits)
    return parser.parse(bytes, from: 0)
}

/// The result of a fresh parser reading all of `text` at once.
func parse(_ text: String, limits: Limits = Limits()) -> ParseResult {
    parse(Array(text.utf8), limits: limits)
}

/// The request `text` parses to, or nil (recorded as an issue) when it does not parse to one taking all of it.
func parsedRequest(_ text: String, limits: Limits = Limits(), sourceLocation: SourceLocation = #_sourceLocation)
    -> HTTPRequest?
{
    let bytes = Array(text.utf8)
    switch parse(bytes, limits: limits) {
    case .request(let request, let consumed):
        #expect(consumed == bytes.count, sourceLocation: sourceLocation)
        return request
    case let other:
        Issue.record("expected a request, got \(other)", sourceLocation: sourceLocation)
        return nil
    }
}

extension ParseResult {
    /// The failure, if this is one.
    var failure: HTTPParseError? {
        if case .failure(let error) = self { return error }
        return nil
    }

    /// The request, if this is one.
    var request: HTTPRequest? {
        if case .request(let request, _) = self { return request }
        return nil
    }

    /// Whether more bytes are needed.
    var isIncomplete: Bool {
        if case .incomplete = self { return true }
        return false
    }
}

/// A request line of exactly `length` bytes (CRLF excluded): `GET /aaa... HTTP/1.1`.
func requestLine(length: Int) -> String {
    let fixed = "GET / HTTP/1.1".utf8.count
    return "GET /" + String(repeating: "a", count: max(0, length - fixed)) + " HTTP/1.1"
}

/// Header field lines (each with CRLF) totalling exactly `bytes` bytes, starting with `Host: h`.
/// `bytes` must be at least 9 + 10 (the Host line and one minimal filler line).
func headerBlock(bytes: Int) -> String {
    let host = "Host: h\r\n"
    let fillerFixed = "X-Fill: \r\n".utf8.count
    let valueLength = bytes - host.utf8.count - fillerFixed
    return host + "X-Fill: " + String(repeating: "v", count: max(0, valueLength)) + "\r\n"
}
