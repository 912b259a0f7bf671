// MARK: - HostessError

/// An error a client can cause, as it travels on the wire: a stable code, a sentence a person can act on,
/// and the request field it concerns when there is one.
public struct HostessError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable, machine-readable kind of error.
    public enum Code: String, Sendable, CaseIterable {
        /// The line is not JSON.
        case parseError = "parse_error"
        /// The JSON is not a valid request: a missing field, a wrong type, a value out of range.
        case badRequest = "bad_request"
        /// The command is not one hostessd knows.
        case unknownCommand = "unknown_command"
        /// A server name (id) is malformed; the message names the name field.
        case invalidName = "invalid_name"
        /// No entry or terminal with that name.
        case notFound = "not_found"
        /// The request contradicts the current state, e.g. a second connection on a `none` terminal.
        case conflict
        /// The caller's kernel-reported identity (or, over HTTP, its signing key) may not do this.
        case forbidden
        /// An HTTP request lacks a valid signature: missing, malformed, unknown key, stale, replayed or wrong.
        case unauthorized
        /// An HTTP path exists but not with this method (the response's `Allow` lists those it takes).
        case methodNotAllowed = "method_not_allowed"
        /// An HTTP body is not declared `application/json`.
        case unsupportedMediaType = "unsupported_media_type"
        /// The request is larger than a documented limit.
        case tooLarge = "too_large"
        /// The daemon is at a configured capacity (connections).
        case capacity
        /// The client was too slow (sent nothing, left a line unfinished, did not read its replies) or sat idle.
        case timeout
        /// The daemon is shutting down or cannot serve now.
        case unavailable
        /// The client could not reach the daemon or lost its connection (client-side only).
        case disconnected
        /// A bug in hostessd; never caused by input.
        case `internal`
    }

    /// The kind of error.
    public var code: Code
    /// What went wrong and, where it helps, what to do.
    public var message: String
    /// The request field concerned, as a dotted path (`entry.terminals.stdin.direction`), if any.
    public var field: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// The same error with its field placed under `path` (`capabilities[1]` under `entry` is
    /// `entry.capabilities[1]`).
    public func under(_ path: String) -> HostessError {
        guard !path.isEmpty else { return self }
        var moved = self
        moved.field = field.map { "\(path).\($0)" } ?? path
        return moved
    }

    public var description: String {
        if let field { return "\(code.rawValue): \(field): \(message)" }
        return "\(code.rawValue): \(message)"
    }
}

// MARK: - Wire form

extension HostessError {
    /// The `error` object of a response.
    public var json: JSONValue {
        var object: JSONObject = ["code": .string(code.rawValue), "message": .string(message)]
        if let field { object["field"] = .string(field) }
        return .object(object)
    }

    /// Reads the `error` object of a response; unknown codes read as `internal`.
    public init?(json: JSONValue) {
        guard let object = json.objectValue, let message = object["message"]?.stringValue else { return nil }
        self.init(
            Code(rawValue: object["code"]?.stringValue ?? "") ?? .internal, message,
            field: object["field"]?.stringValue)
    }
}
