// MARK: - HTTPResponse

/// A response to write: status, header fields in order, and body.
///
/// ``serialized(includeBody:)`` frames it: it always writes its own `Content-Length` (so callers never do),
/// and it writes only well-formed header fields, so that no value from a caller can split the response.
public struct HTTPResponse: Sendable, Hashable {
    /// The status.
    public var status: HTTPStatus
    /// The header fields, written in this order. `Content-Length` and `Transfer-Encoding` fields here are
    /// ignored (the body frames itself), and so is any field that is not ``HTTPHeader/isWellFormed``.
    public var headers: [HTTPHeader]
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: HTTPStatus, headers: [HTTPHeader] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a JSON body: `Content-Type: application/json`, then `headers`.
    ///
    /// - Parameters:
    ///   - status: The status.
    ///   - body: The JSON text as UTF-8.
    ///   - headers: More header fields as (name, value) pairs, e.g. `("X-Hostess-Index", "42")`.
    /// - Returns: The response.
    public static func json(_ status: HTTPStatus, body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(
            status: status,
            headers: [HTTPHeader(name: "Content-Type", value: "application/json")]
                + headers.map { HTTPHeader(name: $0.0, value: $0.1) },
            body: body)
    }

    /// The first value of the field named `name` (compared case-insensitively), or nil.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    // MARK: Serialization

    /// The response as bytes for the wire.
    ///
    /// `HTTP/1.1 CODE REASON CRLF`, each well-formed header field except `Content-Length` and
    /// `Transfer-Encoding`, `Content-Length: <body.count>`, an empty line, then the body. For a HEAD request
    /// pass `includeBody: false`: the `Content-Length` still states the body's length (RFC 9110 §9.3.2), but no
    /// body follows. A status that forbids content (1xx, 204, 304) gets neither `Content-Length` nor body.
    /// A code outside `100...999` is written as 500; control characters in the reason phrase are dropped.
    ///
    /// - Parameter includeBody: Whether to write the body (false for HEAD).
    /// - Returns: The bytes to send.
    public func serialized(includeBody: Bool = true) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128 + headers.count * 48 + (includeBody ? body.count : 0))
        let code = (100...999).contains(status.code) ? status.code : 500
        output.append(contentsOf: "HTTP/1.1 \(code) ".utf8)
        output.append(contentsOf: status.reason.utf8.filter(\.isFieldValueCharacter))
        output.append(contentsOf: [.cr, .lf])
        for header in headers where header.isWellFormed {
            let name = header.name.lowercased()
            if name == "content-length" || name == "transfer-encoding" { continue }
            output.append(contentsOf: header.name.utf8)
            output.append(contentsOf: ": ".utf8)
            output.append(contentsOf: header.value.utf8)
            output.append(contentsOf: [.cr, .lf])
        }
        let forbidsContent = HTTPStatus(code, status.reason).forbidsContent
        if !forbidsContent {
            output.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        output.append(contentsOf: [.cr, .lf])
        if includeBody && !forbidsContent { output.append(contentsOf: body) }
        return output
    }
}
