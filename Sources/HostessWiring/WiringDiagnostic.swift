import HostessModel

// MARK: - WiringDiagnostic

/// One broken rule of a wiring or manifest file, at the place it concerns: printed as
/// `file:line:column: error: message [rule]`, the form compilers print and editors and `swift build` show.
public struct WiringDiagnostic: Error, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The rules a wiring keeps; each diagnostic names the one it breaks.
    public enum Rule: String, Sendable, CaseIterable {
        /// The file is not JSON or YAML of the supported subset.
        case syntax
        /// A member is missing, unknown or of the wrong type.
        case schema
        /// A manifest is not a valid server manifest.
        case manifest
        /// `required_servers` asks for a class no manifest defines, or more servers than run.
        case required
        /// A server pattern matches no manifest, or fewer running servers than the wiring needs.
        case pattern
        /// A terminal the wiring names does not exist on the server.
        case terminal
        /// A connection runs against a terminal's direction.
        case direction
        /// A terminal takes more connections than its multiplexing allows.
        case multiplexing
        /// An ordinal is beyond the count `required_servers` gives its class.
        case ordinal
    }

    /// The file.
    public var file: String
    /// The place in it.
    public var location: SourceLocation
    /// The rule broken.
    public var rule: Rule
    /// What is wrong and what to do, for a person.
    public var message: String

    /// A diagnostic at a place.
    public init(file: String, location: SourceLocation, rule: Rule, message: String) {
        self.file = file
        self.location = location
        self.rule = rule
        self.message = message
    }

    /// A diagnostic at the value with field path `path` of `document` (its nearest enclosing value when the
    /// document has no such value).
    public init(document: SourceDocument, path: String?, rule: Rule, message: String) {
        self.init(file: document.file, location: document.location(of: path), rule: rule, message: message)
    }

    /// A syntax error as a diagnostic.
    public init(_ error: SourceError) {
        self.init(file: error.file, location: error.location, rule: .syntax, message: error.message)
    }

    public var description: String { "\(file):\(location.line):\(location.column): error: \(message) [\(rule.rawValue)]" }

    public static func < (lhs: WiringDiagnostic, rhs: WiringDiagnostic) -> Bool {
        (lhs.file, lhs.location.line, lhs.location.column, lhs.message) < (rhs.file, rhs.location.line, rhs.location.column, rhs.message)
    }
}

// MARK: - WiringRejection

/// Every reason a wiring was refused, in file order.
public struct WiringRejection: Error, Hashable, Sendable, CustomStringConvertible {
    /// The broken rules.
    public var diagnostics: [WiringDiagnostic]

    /// A rejection for these diagnostics.
    public init(_ diagnostics: [WiringDiagnostic]) { self.diagnostics = diagnostics.sorted() }

    /// One diagnostic a line.
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}
