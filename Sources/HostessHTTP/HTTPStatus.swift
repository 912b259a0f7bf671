// MARK: - HTTPStatus

/// A response status: the three-digit code and the reason phrase written after it on the status line.
///
/// The reason phrase is informational (RFC 9112 §4); clients act on the code. The constants below are the
/// statuses hostessd sends.
public struct HTTPStatus: Sendable, Hashable, CustomStringConvertible {
    /// The status code, `100...999` on the wire.
    public var code: Int
    /// The reason phrase, e.g. `Not Found`.
    public var reason: String

    /// Creates a status.
    ///
    /// - Parameters:
    ///   - code: The status code. A code outside `100...999` is written as 500
    ///     (see ``HTTPResponse/serialized(includeBody:)``).
    ///   - reason: The reason phrase. Control characters in it are dropped when the response is written.
    public init(_ code: Int, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code) \(reason)" }

    /// Whether the status is informational (1xx).
    public var isInformational: Bool { (100...199).contains(code) }

    /// Whether a response with this status never has content (RFC 9110 §6.4.1: 1xx, 204 and 304), so that it
    /// carries neither a body nor a `Content-Length`.
    public var forbidsContent: Bool { isInformational || code == 204 || code == 304 }
}

// MARK: - Statuses hostessd sends

extension HTTPStatus {
    /// 200: the request succeeded.
    public static let ok = HTTPStatus(200, "OK")
    /// 201: a new entry was registered.
    public static let created = HTTPStatus(201, "Created")
    /// 204: success without content.
    public static let noContent = HTTPStatus(204, "No Content")
    /// 304: the cached representation is still current.
    public static let notModified = HTTPStatus(304, "Not Modified")
    /// 400: the request is malformed.
    public static let badRequest = HTTPStatus(400, "Bad Request")
    /// 401: the request is not signed, or its signature is refused.
    public static let unauthorized = HTTPStatus(401, "Unauthorized")
    /// 403: the caller may not do this.
    public static let forbidden = HTTPStatus(403, "Forbidden")
    /// 404: no such resource or entry.
    public static let notFound = HTTPStatus(404, "Not Found")
    /// 405: the path exists but not with this method (send `Allow`).
    public static let methodNotAllowed = HTTPStatus(405, "Method Not Allowed")
    /// 408: the request did not arrive in time.
    public static let requestTimeout = HTTPStatus(408, "Request Timeout")
    /// 409: the request contradicts the current state.
    public static let conflict = HTTPStatus(409, "Conflict")
    /// 411: a request body was not framed by `Content-Length`.
    public static let lengthRequired = HTTPStatus(411, "Length Required")
    /// 413: the request body is larger than the limit (RFC 9110 calls it "Content Too Large").
    public static let contentTooLarge = HTTPStatus(413, "Content Too Large")
    /// 414: the request line is longer than the limit.
    public static let uriTooLong = HTTPStatus(414, "URI Too Long")
    /// 415: the request body is not of a media type the endpoint accepts.
    public static let unsupportedMediaType = HTTPStatus(415, "Unsupported Media Type")
    /// 431: the header block is larger than the limit or has too many fields.
    public static let requestHeaderFieldsTooLarge = HTTPStatus(431, "Request Header Fields Too Large")
    /// 500: a bug in hostessd; never caused by input.
    public static let internalServerError = HTTPStatus(500, "Internal Server Error")
    /// 503: hostessd cannot serve now (shutting down, too many connections).
    public static let serviceUnavailable = HTTPStatus(503, "Service Unavailable")
    /// 505: the request's HTTP version is neither 1.0 nor 1.1.
    public static let httpVersionNotSupported = HTTPStatus(505, "HTTP Version Not Supported")
    /// 507: the guest book is at capacity.
    public static let insufficientStorage = HTTPStatus(507, "Insufficient Storage")
}
