import Glibc
import HostessModel
import HostessRegion
import HostessSystem

// MARK: - Configuration

/// How hostessd runs: embedded defaults, overridden by a config file, then by the environment, then by flags.
public struct Configuration: Sendable, Equatable {
    /// The Unix socket path.
    public var socketPath: String
    /// Serve the protocol on stdin/stdout instead of the socket.
    public var stdio = false
    /// Seconds an entry lives without a heartbeat.
    public var ttl: Double = 15
    /// Seconds between the heartbeats clients are told to send.
    public var heartbeatInterval: Double = 5
    /// Seconds a client has to send its first line, to finish a started line, and to read a stalled reply.
    public var clientTimeout: Double = 10
    /// Seconds a connection may sit idle (no request, no pending watch) before it is closed.
    public var idleTimeout: Double = 600
    /// Connections served at once; more are refused with a `capacity` error. Root and hostessd's own user
    /// have ``reservedConnections`` more, so that a full daemon still answers its operator.
    public var maxConnections = 4096
    /// Connections one uid may hold at once (root and hostessd's user are not limited).
    public var maxConnectionsPerUID = 256
    /// Watches one connection may have waiting at once.
    public var maxWatchesPerConnection = 64
    /// Watches one uid's connections may have waiting together (root is not limited).
    public var maxWatchesPerUID = 1024
    /// The limits on reservations (quotas, durations, who may use high priorities).
    public var reservationPolicy = ReservationPolicy.standard
    /// Extra owner names per uid, from the config file's `owners`.
    public var ownerNames: [UInt32: Set<String>] = [:]
    /// The shared-memory region's name, or nil to publish none.
    public var sharedMemoryName: String?
    /// Whether the region was named (or refused) explicitly: `--shm`, `--no-shm`, `$HOSTESS_SHM` or the config
    /// file's `shm`. `--stdio` publishes a region only then.
    var regionNamed = false
    /// Entries the guest book (and its region) holds.
    public var capacity = 4096
    /// Payload bytes per entry the region's arena is sized for, on average.
    public var entryBytes = 4096
    /// `HOST:PORT` to serve the HTTP interface on, or nil (the default) for none.
    public var httpAddress: String?
    /// The file of HTTP signing keys (`KEY_ID SECRET [OWNER,…]` per line), or nil: then every signed
    /// request is refused.
    public var secretsPath: String?
    /// The keys read from ``secretsPath`` when the configuration was parsed.
    var httpKeys = HTTPKeys()
    /// Whether HTTP reads need a signature too.
    public var httpAuthenticateReads = false
    /// HTTP connections served at once; more are answered 503 and closed.
    public var httpMaxConnections = 1024
    /// Seconds an HTTP client has to send a request's headers and body (then 408).
    public var httpRequestTimeout: Double = 10
    /// Where reservations are saved for a successor that adopts the region; by default next to the socket.
    public var reservationsPath: String?
    /// Seconds ended reservations are kept for inspection.
    public var reservationRetention: Double = 600
    /// Distinct capability names the entries one uid registered may carry at once (root is not limited).
    public var maxCapabilitiesPerUID = GuestBook.Capacity.defaultCapabilitiesPerUID
    /// Announcements to, and peers from, the other Hostesses on the same links.
    public var mesh = MeshConfiguration()
    /// The fleet directory on etcd, beyond the links.
    public var directory = DirectoryConfiguration()
    /// Connection probing: the beacon and probe programs, their deadline, the cache's freshness.
    public var probing = ProbingConfiguration()

    /// The embedded defaults.
    public init(environment: [String: String]) {
        socketPath = DefaultPaths.socket(environment: environment)
        sharedMemoryName = DefaultPaths.sharedMemoryName(environment: environment)
        regionNamed = environment["HOSTESS_SHM"].map { !$0.isEmpty } ?? false
    }

    /// The usage text.
    public static let usage = """
        usage: hostessd [options]

        Runs the Hostess service registry daemon.

        options:
          --socket PATH            Unix socket to serve (env HOSTESS_SOCKET; default /run/hostess/hostess.sock
                                   as root, else $XDG_RUNTIME_DIR/hostess/hostess.sock, else
                                   /tmp/hostess-UID/hostess.sock)
          --stdio                  serve the protocol on stdin/stdout instead of a socket; exit at end of input
                                   (publishes no region unless --shm or HOSTESS_SHM names one)
          --ttl SECONDS            evict an entry not heartbeated for this long (default 3 heartbeat intervals, 15)
          --heartbeat-interval S   heartbeat interval clients are told to use (default TTL/3, 5)
          --client-timeout S       seconds to send a first line, finish a line, or read a reply (default 10)
          --idle-timeout S         close a connection idle this long with no watch pending (default 600)
          --max-connections N      connections served at once (default 4096); root and hostessd's user
                                   may use 16 more
          --max-connections-per-uid N  connections one uid may hold (default 256; root and hostessd's user
                                   are not limited)
          --max-watches-per-connection N  watches one connection may have waiting (default 64)
          --max-watches-per-uid N  watches one uid may have waiting in all (default 1024; root not limited)
          --shm NAME               shared-memory region to publish the guest book in (env HOSTESS_SHM;
                                   default /hostess-registry for root, /hostess-registry-UID for others)
          --no-shm                 publish no region (clients use the socket only)
          --capacity N             entries the guest book and its region hold (default 4096); more
                                   registrations are refused with a `capacity` error
          --entry-bytes N          average bytes of an entry's JSON the region is sized for (default 4096)
          --http HOST:PORT         serve the HTTP interface there (off unless given), e.g. 127.0.0.1:8080,
                                   0.0.0.0:8080, [::1]:8080; port 0 picks a free port (logged)
          --secrets FILE           HTTP signing keys, one `KEY_ID SECRET [OWNER,OWNER…]` per line; refused if
                                   group or others can read it. Without it every HTTP write is refused
          --http-auth-reads        HTTP reads need a signature too
          --http-max-connections N HTTP connections served at once (default 1024); more get 503
          --http-request-timeout S seconds a client has to send a request's headers and body (default 10; 408)
          --reservations-file PATH where reservations are saved for a restart (default SOCKET.reservations;
                                   none with --stdio unless given)
          --reservation-retention S  seconds ended reservations stay listed (default 600)
          --reservation-default-duration S  duration of a reservation that names none (default 3600)
          --reservation-max-duration S  longest duration anyone but root may reserve for (default 86400)
          --reservation-priority-limit N  highest priority anyone may use (default 100); above it only root
                                   and the config file's reservationPrivileged
          --max-reservations-per-holder N  active reservations per uid or key (default 256; root not limited)
          --max-reserved-servers-per-holder N  servers one uid or key may hold in all (default 1024)
          --max-capabilities-per-uid N  distinct capability names one user's entries may carry at once
                                   (default 256; root is not limited)
        \(MeshConfiguration.usage)
        \(DirectoryConfiguration.usage)
        \(ProbingConfiguration.usage)
          --config FILE            JSON config file (env HOSTESS_CONFIG); flags override it
          --version                print the version
          -h, --help               show this help

        Signals: SIGTERM or SIGINT stop accepting, finish requests in flight, remove the socket, exit 0.
        """

    /// Parses the command line over the environment and an optional config file.
    /// - Throws: ``ConfigurationError`` naming the flag or field that is wrong.
    public static func parse(arguments: [String], environment: [String: String]) throws(ConfigurationError) -> Configuration {
        var configuration = Configuration(environment: environment)
        var flags: [(String, String?)] = []
        var configPath = environment["HOSTESS_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        var index = 0
        let valued = Set<String>([
            "--socket", "--ttl", "--heartbeat-interval", "--client-timeout", "--idle-timeout", "--max-connections", "--config",
            "--shm", "--capacity", "--entry-bytes", "--http", "--secrets", "--http-max-connections", "--http-request-timeout",
            "--reservations-file", "--reservation-retention", "--max-connections-per-uid", "--max-watches-per-connection",
            "--max-watches-per-uid", "--reservation-default-duration", "--reservation-max-duration", "--reservation-priority-limit",
            "--max-reservations-per-holder", "--max-reserved-servers-per-holder", "--max-capabilities-per-uid",
        ]).union(MeshConfiguration.valuedFlags).union(DirectoryConfiguration.valuedFlags).union(ProbingConfiguration.valuedFlags)
        while index < arguments.count {
            var argument = arguments[index]
            var value: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                value = String(argument[argument.index(after: equals)...])
                argument = String(argument[..<equals])
            }
            switch argument {
            case "-h", "--help": throw .help
            case "--version": throw .version
            case "--stdio", "--no-shm", "--http-auth-reads", "--announce": flags.append((argument, nil))
            case _ where valued.contains(argument):
                if value == nil {
                    index += 1
                    guard index < arguments.count else { throw .usage("\(argument) needs a value") }
                    value = arguments[index]
                }
                if argument == "--config" { configPath = value } else { flags.append((argument, value)) }
            default: throw .usage("unknown argument '\(argument)'")
            }
            index += 1
        }
        var ttlGiven = false
        var intervalGiven = false
        if let configPath {
            try ConfigurationFile(path: configPath).apply(to: &configuration, ttlGiven: &ttlGiven, intervalGiven: &intervalGiven)
            // The environment overrides the file.
            if let path = environment["HOSTESS_SOCKET"], !path.isEmpty { configuration.socketPath = path }
            if let name = environment["HOSTESS_SHM"], !name.isEmpty { configuration.sharedMemoryName = name }
        }
        // A list flag given on the command line replaces the file's list rather than adding to it.
        if flags.contains(where: { $0.0 == "--peer" }) { configuration.mesh.peers = [] }
        if flags.contains(where: { $0.0 == "--announce-interface" }) { configuration.mesh.interfaces = [] }
        for (flag, value) in flags {
            let text = value ?? ""
            switch flag {
            case "--stdio": configuration.stdio = true
            case "--no-shm":
                configuration.sharedMemoryName = nil
                configuration.regionNamed = true
            case "--shm":
                configuration.sharedMemoryName = text
                configuration.regionNamed = true
            case "--capacity": configuration.capacity = try count(text, flag, in: 1...1_000_000)
            case "--entry-bytes": configuration.entryBytes = try count(text, flag, in: 1024...65536)
            case "--socket": configuration.socketPath = text
            case "--http": configuration.httpAddress = text
            case "--secrets": configuration.secretsPath = text
            case "--http-auth-reads": configuration.httpAuthenticateReads = true
            case "--http-max-connections": configuration.httpMaxConnections = try count(text, flag, in: 1...1_000_000)
            case "--http-request-timeout": configuration.httpRequestTimeout = try seconds(text, flag)
            case "--reservations-file": configuration.reservationsPath = text
            case "--reservation-retention": configuration.reservationRetention = try seconds(text, flag)
            case "--max-capabilities-per-uid": configuration.maxCapabilitiesPerUID = try count(text, flag, in: 1...1_000_000)
            case "--ttl":
                configuration.ttl = try seconds(text, flag)
                ttlGiven = true
            case "--heartbeat-interval":
                configuration.heartbeatInterval = try seconds(text, flag)
                intervalGiven = true
            case "--client-timeout": configuration.clientTimeout = try seconds(text, flag)
            case "--idle-timeout": configuration.idleTimeout = try seconds(text, flag)
            case "--max-connections": configuration.maxConnections = try count(text, flag, in: 1...1_000_000)
            case "--max-connections-per-uid": configuration.maxConnectionsPerUID = try count(text, flag, in: 1...1_000_000)
            case "--max-watches-per-connection": configuration.maxWatchesPerConnection = try count(text, flag, in: 1...1_000_000)
            case "--max-watches-per-uid": configuration.maxWatchesPerUID = try count(text, flag, in: 1...1_000_000)
            case "--reservation-default-duration":
                configuration.reservationPolicy.defaultDuration = try milliseconds(text, flag)
            case "--reservation-max-duration": configuration.reservationPolicy.maximumDuration = try milliseconds(text, flag)
            case "--reservation-priority-limit":
                configuration.reservationPolicy.priorityLimit = try count(text, flag, in: ReservationRequest.priorities)
            case "--max-reservations-per-holder":
                configuration.reservationPolicy.maximumActivePerHolder = try count(text, flag, in: 1...GuestBook.maximumReservations)
            case "--max-reserved-servers-per-holder":
                configuration.reservationPolicy.maximumServersPerHolder = try count(text, flag, in: 1...1_000_000)
            default:
                if try !configuration.mesh.apply(flag, text), try !configuration.directory.apply(flag, text) {
                    _ = try configuration.probing.apply(flag, text)
                }
            }
        }
        if ttlGiven && !intervalGiven { configuration.heartbeatInterval = configuration.ttl / 3 }
        if intervalGiven && !ttlGiven { configuration.ttl = configuration.heartbeatInterval * 3 }
        guard configuration.heartbeatInterval < configuration.ttl else {
            throw .usage("the heartbeat interval (\(configuration.heartbeatInterval) s) must be shorter than the TTL (\(configuration.ttl) s)")
        }
        // The region addresses its payload area with 32-bit offsets: past 4 GiB the writer could not say where an entry is.
        let arena = configuration.capacity * configuration.entryBytes
        guard arena <= RegionLayout.maximumArenaBytes else {
            throw .usage(
                "--capacity \(configuration.capacity) × --entry-bytes \(configuration.entryBytes) is \(arena) bytes of payload, past the region's 4 GiB (\(RegionLayout.maximumArenaBytes) bytes); lower one of them")
        }
        if let name = configuration.sharedMemoryName, (try? SharedMemory.path(of: name)) == nil {
            throw .usage("--shm or HOSTESS_SHM: expected /NAME with no other '/', found '\(name)'")
        }
        guard !configuration.socketPath.isEmpty else { throw .usage("--socket: the socket path is empty") }
        guard !configuration.socketPath.hasPrefix("@") else {
            throw .usage("--socket: abstract socket names (@…) are not supported; give a file system path")
        }
        if !configuration.socketPath.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buffer, buffer.count) != nil else { throw .usage("--socket: cannot resolve a relative path") }
            let directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            configuration.socketPath = (directory == "/" ? "" : directory) + "/" + configuration.socketPath
        }
        do { _ = try UnixSocketAddress(path: configuration.socketPath) } catch {
            throw .usage("--socket: \(error.call)")
        }
        if let address = configuration.httpAddress {
            do { _ = try InternetSocketAddress(parsing: address, passive: true) } catch {
                throw .usage("--http: \(error.call)")
            }
        }
        if let path = configuration.secretsPath { configuration.httpKeys = try HTTPKeys(path: path) }
        try configuration.mesh.finish(httpAddress: configuration.httpAddress)
        try configuration.directory.finish(httpAddress: configuration.httpAddress)
        if configuration.reservationsPath == nil && !configuration.stdio { configuration.reservationsPath = configuration.socketPath + ".reservations" }
        // One connection on a pipe publishes no region unless asked to: the default name is the socket daemon's.
        if configuration.stdio && !configuration.regionNamed { configuration.sharedMemoryName = nil }
        if configuration.reservationsPath?.isEmpty == true { throw .usage("--reservations-file: the path is empty") }
        return configuration
    }

    private static func count(_ text: String, _ what: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = Int(text), range.contains(value) else {
            throw .usage("\(what): expected a whole number from \(range.lowerBound) to \(range.upperBound), found '\(text)'")
        }
        return value
    }

    /// Seconds given on the command line as whole milliseconds, up to the longest reservation (30 days).
    private static func milliseconds(_ text: String, _ what: String) throws(ConfigurationError) -> Int64 {
        let limit = ReservationRequest.maximumDuration / 1000
        guard let value = Double(text), value.isFinite, value >= 0.001, value <= Double(limit) else {
            throw .usage("\(what): expected seconds from 0.001 to \(limit), found '\(text)'")
        }
        return Int64(value * 1000)
    }

    private static func seconds(_ text: String, _ what: String) throws(ConfigurationError) -> Double {
        guard let value = Double(text), value.isFinite, value > 0, value <= 86_400 else {
            throw .usage("\(what): expected seconds greater than 0 and at most 86400, found '\(text)'")
        }
        return value
    }
}

// MARK: - ConfigurationError

/// Why hostessd cannot start with the given command line or config file.
public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    /// `--help` was asked for.
    case help
    /// `--version` was asked for.
    case version
    /// A flag is unknown, lacks its value, or has a bad one.
    case usage(String)
    /// The config file cannot be read or is wrong.
    case file(String, String)

    public var description: String {
        switch self {
        case .help: Configuration.usage
        case .version: "hostessd \(hostessVersion)"
        case .usage(let message): message
        case .file(let path, let message): "config file \(path): \(message)"
        }
    }

    /// The error a config file's member `field` gets when the value `flag` would have had is refused: the
    /// flag's message without its name, since the field names it.
    func member(_ field: String, of flag: String) -> HostessError {
        guard case .usage(let message) = self else { return HostessError(.badRequest, "\(self)", field: field) }
        return HostessError(.badRequest, message.hasPrefix(flag + ": ") ? String(message.dropFirst(flag.count + 2)) : message, field: field)
    }
}
