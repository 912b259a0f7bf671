// MARK: - HTTPVersion

/// The protocol version of a request line: `HTTP/major.minor`.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// The major version.
    public var major: Int
    /// The minor version.
    public var minor: Int

    /// Creates a version.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0: no keep-alive unless the request asks for it, `Host` optional.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1: keep-alive unless the request says `Connection: close`, exactly one `Host`.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    public var description: String { "HTTP/\(major).\(minor)" }
}

// MARK: - HTTPRequest

/// A complete request as ``HTTPRequestParser`` reads it off the wire: request line, header fields and body.
///
/// Nothing here is decoded: ``target``, ``path`` and ``query`` are the bytes the client sent (the request
/// target is checked to be visible ASCII), so that a signature over the target can be checked exactly.
/// ``pathSegments()`` and ``queryItems()`` percent-decode them.
public struct HTTPRequest: Sendable, Hashable {
    /// The method, case-sensitive (`GET`, not `get`; RFC 9110 §9.1).
    public var method: String
    /// The request target exactly as sent: `/servers/a%3Ab?x=1`, or `*` for `OPTIONS *`.
    public var target: String
    /// The protocol version, 1.0 or 1.1.
    public var version: HTTPVersion
    /// The header fields in order, names lower-cased, values without surrounding optional white space.
    public var headers: [HTTPHeader]
    /// The body: exactly `Content-Length` bytes, empty when the request has no `Content-Length`.
    public var body: [UInt8]

    /// Creates a request, e.g. to drive a router in tests.
    ///
    /// - Parameters:
    ///   - method: The method.
    ///   - target: The raw request target (path, then `?` and the query if any).
    ///   - version: The protocol version.
    ///   - headers: The header fields; names are matched case-insensitively by ``header(_:)``.
    ///   - body: The body.
    public init(
        method: String, target: String, version: HTTPVersion = .http1_1, headers: [HTTPHeader] = [], body: [UInt8] = []
    ) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The raw path: the target up to the first `?` (the whole target when there is none).
    public var path: String {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target }
        return String(target[..<mark])
    }

    /// The raw query: the target after the first `?`, or nil when there is no `?` (`/x?` has the empty query).
    public var query: String? {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return String(target[target.index(after: mark)...])
    }

    /// The value of the first field named `name` (compared case-insensitively), or nil.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// The values of every field named `name` (compared case-insensitively), in order.
    public func headers(named name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    /// The comma-separated options of every `Connection` field, lower-cased (`close`, `keep-alive`, ...).
    public var connectionOptions: [String] {
        headers(named: "connection").flatMap { value in
            value.split(separator: ",").map { option in
                String(option.trimmingOptionalWhitespace()).lowercased()
            }
        }.filter { !$0.isEmpty }
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3): for HTTP/1.1 unless the request
    /// says `Connection: close`; for HTTP/1.0 only when it says `Connection: keep-alive` (and not `close`).
    public var keepAlive: Bool {
        let options = connectionOptions
        if options.contains("close") { return false }
        if version == .http1_1 { return true }
        return options.contains("keep-alive")
    }

    /// The percent-decoded segments of ``path``; see ``PercentDecoding/pathSegments(_:)``.
    public func pathSegments() throws(PercentDecodingError) -> [String] {
        try PercentDecoding.pathSegments(path)
    }

    /// The percent-decoded items of ``query`` (none when there is no query); see ``PercentDecoding/queryItems(_:)``.
    public func queryItems() throws(PercentDecodingError) -> [(name: String, value: String)] {
        guard let query else { return [] }
        return try PercentDecoding.queryItems(query)
    }
}

// MARK: - Helpers

extension StringProtocol {
    /// The text without leading and trailing SP and HTAB (HTTP's optional white space).
    public func trimmingOptionalWhitespace() -> SubSequence {
        var start = startIndex
        var end = endIndex
        while start < end, self[start] == " " || self[start] == "\t" { start = index(after: start) }
        while end > start {
            let last = index(before: end)
            guard self[last] == " " || self[last] == "\t" else { break }
            end = last
        }
        return self[start..<end]
    }
}
