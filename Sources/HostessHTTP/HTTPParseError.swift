// MARK: - HTTPParseError

/// Why bytes from a client are not a request hostessd accepts (or bytes from a server not a response a client
/// accepts, see ``HTTPResponseParser``): a stable code, the status to answer with, and a sentence naming what
/// was wrong.
///
/// After any of these the server answers and closes the connection: the parser cannot tell where the next
/// request would begin. A client just closes the connection.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable, machine-readable kind of error, as the `code` of an error body.
    public enum Code: String, Sendable, CaseIterable {
        /// The request line or a header field is malformed, `Host` is missing or repeated, or the body's
        /// framing is contradictory (400). For a response: a malformed status line, header field, chunk or
        /// framing, or input that ends before the response does.
        case badRequest = "bad_request"
        /// The request line is longer than ``HTTPRequestParser/Limits/requestLine`` (414).
        case uriTooLong = "uri_too_long"
        /// The header block is larger than ``HTTPRequestParser/Limits/headerBlock`` or has more than
        /// ``HTTPRequestParser/Limits/headerFields`` fields (431). For a response: the status line, header
        /// block or trailer section exceeds its ``HTTPResponseParser/Limits``.
        case headerTooLarge = "header_too_large"
        /// The `Content-Length` is larger than ``HTTPRequestParser/Limits/body`` (413). For a response: the
        /// body is larger than ``HTTPResponseParser/Limits/body``.
        case tooLarge = "too_large"
        /// The request uses `Transfer-Encoding` instead of `Content-Length` (411).
        case lengthRequired = "length_required"
        /// The request line (or a response's status line) names an HTTP version other than 1.0 and 1.1 (505).
        case versionNotSupported = "version_not_supported"

        /// The status a response to this error carries.
        public var status: HTTPStatus {
            switch self {
            case .badRequest: .badRequest
            case .uriTooLong: .uriTooLong
            case .headerTooLarge: .requestHeaderFieldsTooLarge
            case .tooLarge: .contentTooLarge
            case .lengthRequired: .lengthRequired
            case .versionNotSupported: .httpVersionNotSupported
            }
        }
    }

    /// The kind of error.
    public var code: Code
    /// What was wrong, e.g. `the Content-Length '12a' is not a decimal number`.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The status a response to this error carries.
    public var status: HTTPStatus { code.status }

    public var description: String { "\(status.code) \(code.rawValue): \(message)" }
}
