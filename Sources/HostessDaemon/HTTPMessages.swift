import HostessHTTP
import HostessModel

// MARK: - HTTPRouter: messages

extension HTTPRouter {
    // MARK: Request parts

    /// The decoded query items.
    static func queryItems(_ request: HTTPRequest) throws(HostessError) -> [(name: String, value: String)] {
        do { return try request.queryItems() } catch {
            throw HostessError(.badRequest, "bad percent-encoding in the query string: \(error)", field: "query")
        }
    }

    /// Refuses query parameters other than `known`, naming the first one.
    static func rejectUnknownParameters(_ items: [(name: String, value: String)], known: Set<String>) throws(HostessError) {
        if let unknown = items.first(where: { !known.contains($0.name) }) {
            throw HostessError(
                .badRequest, "unknown query parameter; known: \(known.sorted().joined(separator: ", "))", field: unknown.name)
        }
    }

    /// The body as a JSON object: `application/json` required when there is a body; an empty body is `{}`
    /// unless `required`.
    static func bodyObject(_ request: HTTPRequest, required: Bool) throws(HostessError) -> JSONReader {
        guard !request.body.isEmpty else {
            if required { throw HostessError(.badRequest, "this endpoint needs a JSON object as its body", field: "body") }
            return JSONReader(JSONObject())
        }
        try requireJSONContentType(request)
        let value: JSONValue
        do { value = try JSONParser.parse(request.body) } catch {
            throw HostessError(.parseError, "the body is not JSON: \(error.description)", field: "body")
        }
        guard case .object(let object) = value else {
            throw HostessError(.badRequest, "expected a JSON object, found \(value.typeName)", field: "body")
        }
        return JSONReader(object)
    }

    /// Refuses a body on endpoints that take none.
    static func requireEmptyBody(_ request: HTTPRequest) throws(HostessError) {
        guard request.body.isEmpty else { throw HostessError(.badRequest, "this endpoint takes no body", field: "body") }
    }

    /// Refuses a body that is not declared `application/json` (parameters such as `charset=utf-8` allowed).
    static func requireJSONContentType(_ request: HTTPRequest) throws(HostessError) {
        let type = request.header("content-type")?.split(separator: ";").first.map {
            $0.trimmingOptionalWhitespace().lowercased()
        }
        guard type == "application/json" else {
            throw HostessError(
                .unsupportedMediaType, "send the body as Content-Type: application/json (found \(request.header("content-type") ?? "none"))",
                field: "Content-Type")
        }
    }

    // MARK: Responses

    /// A JSON response carrying the revision it reflects in `X-Hostess-Index`.
    static func json(_ status: HTTPStatus, _ value: JSONValue, book: GuestBook) -> HTTPResponse {
        var response = HTTPResponse.json(status, body: value.jsonBytes)
        response.headers.append(HTTPHeader(name: "X-Hostess-Index", value: String(book.revision)))
        return response
    }

    /// An error response: `{"error": {"code", "message", "field"?}}` with the status the code maps to.
    static func failure(_ error: HostessError, book: GuestBook?) -> HTTPResponse {
        var response = HTTPResponse.json(status(for: error.code), body: JSONValue.object(["error": error.json]).jsonBytes)
        if error.code == .unauthorized {
            response.headers.append(HTTPHeader(name: "WWW-Authenticate", value: RequestSignature.scheme))
        }
        if let book { response.headers.append(HTTPHeader(name: "X-Hostess-Index", value: String(book.revision))) }
        return response
    }

    /// The HTTP status for an error code.
    static func status(for code: HostessError.Code) -> HTTPStatus {
        switch code {
        case .parseError, .badRequest, .invalidName, .unknownCommand: .badRequest
        case .notFound: .notFound
        case .conflict: .conflict
        case .forbidden: .forbidden
        case .unauthorized: .unauthorized
        case .tooLarge: .contentTooLarge
        case .capacity: .insufficientStorage
        case .timeout: .requestTimeout
        case .unavailable, .disconnected: .serviceUnavailable
        case .methodNotAllowed: .methodNotAllowed
        case .unsupportedMediaType: .unsupportedMediaType
        case .internal: .internalServerError
        }
    }
}
