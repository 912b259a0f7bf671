import HostessModel

// MARK: - SourceLocation

/// A place in a source file: 1-based line, and 1-based column counted in UTF-8 bytes (as compilers print
/// them, and as editors read `file:line:column:` diagnostics).
public struct SourceLocation: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The line, from 1.
    public var line: Int
    /// The column in UTF-8 bytes, from 1.
    public var column: Int

    /// A location.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The first byte of a file.
    public static let start = SourceLocation(line: 1, column: 1)

    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    public var description: String { "\(line):\(column)" }
}

// MARK: - SourceError

/// Why a source file is not a document: where, and what was wrong there.
public struct SourceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file, as it was named when read.
    public var file: String
    /// Where reading stopped.
    public var location: SourceLocation
    /// What was wrong there, for a person.
    public var message: String

    /// An error at `location` of `file`.
    public init(file: String, location: SourceLocation, message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    /// `file:line:column: error: message`, the form compilers print and editors read.
    public var description: String { "\(file):\(location.line):\(location.column): error: \(message)" }
}

// MARK: - SourceDocument

/// A JSON or YAML file read into a ``JSONValue``, with the place of every value in it, so that a rule that
/// fails on a decoded field can name the line and column the field came from.
///
/// Locations are keyed by field path in the form ``JSONReader`` and ``HostessError/field`` use: members
/// joined with `.` and array elements as `[N]` (`connections[0].source.server`); the root is `""`. A
/// value's location is where the value starts (for a mapping member in YAML, the first character of the
/// value; for an empty value, the key).
public struct SourceDocument: Sendable {
    /// The file, as it was named when read.
    public let file: String
    /// The document.
    public let value: JSONValue
    /// Where each value starts, by field path.
    public let locations: [String: SourceLocation]

    /// A document from its parts.
    public init(file: String, value: JSONValue, locations: [String: SourceLocation]) {
        self.file = file
        self.value = value
        self.locations = locations
    }

    /// Where the value at `path` starts; for a path the document does not have (a missing member), the
    /// nearest enclosing value's location.
    public func location(of path: String?) -> SourceLocation {
        guard var path else { return locations[""] ?? .start }
        while true {
            if let location = locations[path] { return location }
            guard let cut = Self.parent(of: path) else { return locations[""] ?? .start }
            path = cut
        }
    }

    /// The field path that encloses `path` (`a.b[2]` → `a.b` → `a` → `""`), or nil at the root.
    static func parent(of path: String) -> String? {
        guard !path.isEmpty else { return nil }
        var cut = path.endIndex
        while cut > path.startIndex {
            let before = path.index(before: cut)
            if path[before] == "." {
                return String(path[..<before])
            }
            if path[before] == "[" {
                return String(path[..<before])
            }
            cut = before
        }
        return ""
    }
}

// MARK: - Reading

extension SourceDocument {
    /// The largest file ``yaml(_:file:)`` and ``json(_:file:)`` read: 1 MiB, far more than a wiring or a
    /// manifest needs, and a bound on the work a hostile file can cause.
    public static let maximumBytes = 1 << 20

    /// The refusal of a file larger than ``maximumBytes``.
    static func tooLarge(_ count: Int, file: String) -> SourceError {
        SourceError(file: file, location: .start, message: "the file is \(count) bytes; at most \(maximumBytes) (1 MiB) are read")
    }

    /// The path of member `key` of the value at `parent`.
    static func path(_ parent: String, member key: String) -> String { parent.isEmpty ? key : parent + "." + key }

    /// The path of element `index` of the array at `parent`.
    static func path(_ parent: String, element index: Int) -> String { parent + "[\(index)]" }

    /// The line and column of byte `offset` of `bytes`, counting line 1's columns from byte `start` (after a
    /// byte order mark).
    static func location(ofByte offset: Int, in bytes: [UInt8], from start: Int = 0) -> SourceLocation {
        var line = 1
        var lineStart = start
        for index in start..<max(start, min(offset, bytes.count)) where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        return SourceLocation(line: line, column: max(offset, lineStart) - lineStart + 1)
    }
}
