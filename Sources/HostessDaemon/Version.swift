// MARK: - Version

/// The Hostess release, reported by `hostessd --version`, `status` and the CLI.
public let hostessVersion = "0.1.0"
