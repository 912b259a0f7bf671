import HostessModel

// MARK: - ProbingConfiguration

/// How hostessd runs connection probes (docs/probing.md): where the beacon and probe programs are, how
/// long one window may take, and how long a tested connection method stays fresh.
public struct ProbingConfiguration: Sendable, Equatable {
    /// The directory holding `hostess-beacon` and `hostess-probe`; nil: hostessd's own directory.
    public var binaries: String?
    /// Seconds one window of a run may take before the beacon and probe are killed.
    public var windowTimeout: Double = 120
    /// Seconds a tested connection method stays fresh.
    public var cacheTTL: Double = 300

    /// The flags that take a value.
    static let valuedFlags: Set<String> = ["--probe-binaries", "--probe-timeout", "--probe-cache-ttl"]

    /// The usage lines of the probing flags.
    static let usage = """
          --probe-binaries DIR     where hostess-beacon and hostess-probe are (default: hostessd's directory)
          --probe-timeout S        seconds one window of a probe run may take before it is killed (default 120)
          --probe-cache-ttl S      seconds a tested connection method stays fresh (default 300)
        """

    /// Applies one probing flag; false when `flag` is not one.
    mutating func apply(_ flag: String, _ text: String) throws(ConfigurationError) -> Bool {
        switch flag {
        case "--probe-binaries":
            guard !text.isEmpty else { throw .usage("--probe-binaries: expected a directory") }
            binaries = text
        case "--probe-timeout":
            guard let value = Double(text), value.isFinite, value >= 0.1, value <= 3600 else {
                throw .usage("--probe-timeout: expected seconds from 0.1 to 3600, found '\(text)'")
            }
            windowTimeout = value
        case "--probe-cache-ttl":
            guard let value = Double(text), value.isFinite, value >= 1, value <= 86_400 else {
                throw .usage("--probe-cache-ttl: expected seconds from 1 to 86400, found '\(text)'")
            }
            cacheTTL = value
        default: return false
        }
        return true
    }
}
