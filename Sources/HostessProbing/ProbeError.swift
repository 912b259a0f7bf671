// MARK: - ProbeError

/// Why instructions, a message or a report is refused: which field, and why, in words a person can act on.
public struct ProbeError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The environment variable, message member or report field at fault.
    public var field: String
    /// What is wrong with it.
    public var reason: String

    /// An error about `field`.
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
