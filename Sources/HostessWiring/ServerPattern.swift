import HostessModel

// MARK: - ServerPattern

/// Which servers a wiring endpoint means: globs over the fields of a server's name, and an optional ordinal.
///
/// Two spellings:
/// - **Fields**, separated by `:` as in the id itself: `fqdn:servername:class:owner:authentication:auth_mechanism:uuid`.
///   One to seven field globs; fields left out match anything (`*:gpu-renderer` is every GPU renderer).
/// - **The design's dotted shorthand** `*.SERVERNAME.*`: any fqdn, that servername glob, anything else.
///
/// A glob's `*` matches any run of characters within its field and `?` one character; everything else is
/// literal. Classes compare without regard to case (`0X0002` is `0x0002`). A trailing `:N` (decimal, 1 to
/// ``maximumOrdinal``) is the ordinal: the Nth of the servers the globs match, in registration order. A
/// pattern without one means its first server.
public struct ServerPattern: Hashable, Sendable, CustomStringConvertible {
    /// The most a pattern's ordinal may be.
    public static let maximumOrdinal = 1024
    /// The longest pattern, in bytes.
    public static let maximumBytes = 512

    /// The pattern as written.
    public let text: String
    /// One glob per leading name field (1 to 7).
    public let fields: [String]
    /// The ordinal, 1-based; 1 when none was written.
    public let ordinal: Int
    /// Whether an ordinal was written.
    public let hasOrdinal: Bool

    /// Parses a pattern.
    /// - Throws: a message saying what is wrong, for a diagnostic at the pattern's place.
    public init(parsing text: String) throws(PatternError) {
        guard !text.isEmpty else { throw PatternError("a server pattern is empty; write one such as '*.gpu-renderer.*'") }
        guard text.utf8.count <= Self.maximumBytes else {
            throw PatternError("a server pattern is at most \(Self.maximumBytes) bytes")
        }
        guard text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw PatternError("a server pattern is printable ASCII without spaces; found '\(text)'")
        }
        var body = Substring(text)
        var ordinal = 1
        var hasOrdinal = false
        if let colon = body.lastIndex(of: ":") {
            let digits = body[body.index(after: colon)...]
            if !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                guard digits.count <= 5, let value = Int(digits), (1...Self.maximumOrdinal).contains(value) else {
                    throw PatternError("the ordinal ':\(digits)' is not from 1 to \(Self.maximumOrdinal)")
                }
                ordinal = value
                hasOrdinal = true
                body = body[..<colon]
            }
        }
        let fields: [String]
        if body.contains(":") {
            fields = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count <= 7 else {
                throw PatternError(
                    "a server pattern has at most 7 fields (fqdn:servername:class:owner:authentication:auth_mechanism:uuid); found \(fields.count)")
            }
            if let empty = fields.firstIndex(where: \.isEmpty) {
                throw PatternError("field \(empty + 1) (\(Self.fieldNames[empty])) of the pattern is empty; write '*' to match anything")
            }
        } else if body.hasPrefix("*."), body.hasSuffix(".*"), body.count > 4 {
            fields = ["*", String(body.dropFirst(2).dropLast(2))]
        } else if !body.contains(".") {
            fields = ["*", String(body)]
        } else {
            throw PatternError(
                "'\(body)' is neither the dotted form '*.SERVERNAME.*' nor fields separated by ':' (fqdn:servername:class:…)")
        }
        self.text = text
        self.fields = fields
        self.ordinal = ordinal
        self.hasOrdinal = hasOrdinal
    }

    /// The names of a server name's fields, in order.
    static let fieldNames = ["fqdn", "servername", "class", "owner", "authentication", "auth_mechanism", "uuid"]

    /// The pattern without its ordinal: every ordinal of one group counts the same servers.
    public var group: String { fields.joined(separator: ":") }

    public var description: String { text }

    // MARK: Matching

    /// Whether a running server's name matches the globs (the ordinal is the caller's to apply).
    public func matches(_ name: ServerName) -> Bool {
        let values = [
            name.fqdn, name.servername, name.classCode.description, name.owner, name.authentication.rawValue, name.authMechanism,
            name.uuid,
        ]
        return zip(fields, values).enumerated().allSatisfy { index, pair in
            index == 2 ? Self.glob(pair.0.lowercased(), matches: pair.1) : Self.glob(pair.0, matches: pair.1)
        }
    }

    /// Whether a manifest can be a server the globs match: the fqdn and uuid are chosen at run time, so only the
    /// other fields are compared.
    public func matches(_ manifest: ServerManifest) -> Bool {
        let values: [String?] = [
            nil, manifest.name, manifest.classCode.description, manifest.owner, manifest.authentication.rawValue, manifest.authMechanism, nil,
        ]
        return zip(fields, values).enumerated().allSatisfy { index, pair in
            guard let value = pair.1 else { return true }
            return index == 2 ? Self.glob(pair.0.lowercased(), matches: value) : Self.glob(pair.0, matches: value)
        }
    }

    /// Matches `text` against `glob` (`*` any run, `?` one byte): the classic one-star backtracking walk, at
    /// most length(glob) × length(text) steps, on fields of at most a few hundred bytes.
    static func glob(_ glob: String, matches text: String) -> Bool {
        let pattern = Array(glob.utf8)
        let subject = Array(text.utf8)
        var p = 0
        var s = 0
        var star: Int?
        var resume = 0
        while s < subject.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = p
                p += 1
                resume = s
            } else if p < pattern.count, pattern[p] == UInt8(ascii: "?") || pattern[p] == subject[s] {
                p += 1
                s += 1
            } else if let star {
                p = star + 1
                resume += 1
                s = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}

// MARK: - PatternError

/// Why a server pattern could not be read.
public struct PatternError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong, for a person.
    public var message: String

    /// An error with its message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
