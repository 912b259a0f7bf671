import HostessModel
import HostessSystem

// MARK: - MeshConfiguration

/// How hostessd takes part in the information mesh: LLDP-style announcements over UDP multicast to the
/// Hostesses on the same links (off unless `--announce`), and static peers polled over HTTP (`--peer`).
public struct MeshConfiguration: Sendable, Equatable {
    /// A Hostess named with `--peer`: polled for its announcement (`GET /announcement`) on the schedule
    /// announcements are sent on, for networks without multicast.
    public struct StaticPeer: Sendable, Equatable {
        /// The URL as given: `http://HOST:PORT`.
        public var url: String
        /// `HOST:PORT`, the Host header.
        public var authority: String
        /// The address, resolved once at start.
        public var address: String
    }

    /// The IPv4 group announcements go to: organization-local scope (RFC 2365), `72.83` for "HS".
    public static let ipv4Group = "239.255.72.83"
    /// The IPv6 group: link-local scope.
    public static let ipv6Group = "ff02::4853"

    /// Whether to announce and listen.
    public var announce = false
    /// Static peers (`--peer`).
    public var peers: [StaticPeer] = []
    /// Interfaces to announce on; empty: every up, multicast-capable, non-loopback interface.
    public var interfaces: [String] = []
    /// The UDP port of the groups.
    public var port: UInt16 = 4853
    /// Seconds between announcements.
    public var interval: Double = 30
    /// Announcements a peer may miss before it counts as gone: the packets' ttl is interval × this.
    public var holdMultiplier = 4
    /// Seconds a query with scope `remote` or `all` waits for the peers' answers.
    public var remoteTimeout: Double = 2
    /// Seconds a stale peer stays listed before it is forgotten.
    public var retention: Double = 600
    /// The mesh key file (`KEY_ID SECRET` per line, the `--secrets` rules), or nil: unsigned announcements.
    public var secretPath: String?
    /// The keys read from ``secretPath``: the first signs hostessd's announcements, every one is accepted.
    var keys = HTTPKeys()
    /// The file of keys peers gave this Hostess (`PEER KEY_ID SECRET` per line), or nil: no peer's guest
    /// book is changed from here (no forwarded terminal changes, no remote reservations).
    public var peerKeysPath: String?
    /// The keys read from ``peerKeysPath``.
    var peerKeys = PeerKeys()

    /// The mesh flags that take a value.
    static let valuedFlags: Set<String> = [
        "--announce-interface", "--announce-port", "--announce-interval", "--announce-hold", "--peer-retention", "--mesh-secret-file",
        "--peer", "--remote-timeout", "--peer-keys",
    ]

    /// Whether hostessd takes part in the mesh at all (announcing, or polling static peers).
    public var isEnabled: Bool { announce || !peers.isEmpty }

    /// The usage lines of the mesh flags.
    static let usage = """
          --announce               announce this Hostess and listen for others (UDP multicast \(ipv4Group) and
                                   \(ipv6Group), TTL 1); needs --http, which the announcements advertise
          --announce-interface IF  announce on IF (repeatable; default every up, multicast-capable,
                                   non-loopback interface)
          --announce-port PORT     the announcements' UDP port (default 4853)
          --announce-interval S    seconds between announcements (default 30; a few come 1 s apart at start
                                   and one soon after the summary changes)
          --announce-hold N        announcements a peer may miss before it is stale (default 4: ttl 120 s)
          --peer-retention S       seconds a stale peer stays listed (default 600)
          --remote-timeout S       seconds a query with scope remote or all waits for peers (default 2)
          --peer URL               also poll the Hostess at http://HOST:PORT for its announcement (repeatable;
                                   for networks without multicast); needs --http
          --mesh-secret-file FILE  sign announcements with the first key of FILE (`KEY_ID SECRET` per line,
                                   the --secrets rules) and drop every packet not signed by one of its keys
          --peer-keys FILE         keys peers gave this Hostess (`PEER KEY_ID SECRET` per line, PEER a host
                                   name or hostessId, the --secrets rules): terminal changes of their entries
                                   are forwarded to them, and reserve with allowRemote holds servers there
        """

    /// Applies one mesh flag; false when `flag` is not one.
    mutating func apply(_ flag: String, _ text: String) throws(ConfigurationError) -> Bool {
        switch flag {
        case "--announce": announce = true
        case "--announce-interface":
            guard !text.isEmpty, text.utf8.count < 16 else { throw .usage("--announce-interface: expected an interface name (see `ip link`), found '\(text)'") }
            interfaces.append(text)
        case "--announce-port":
            guard let value = UInt16(text), value > 0 else { throw .usage("--announce-port: expected a port from 1 to 65535, found '\(text)'") }
            port = value
        case "--announce-interval":
            guard let value = Double(text), value.isFinite, value >= 0.1, value <= 3600 else {
                throw .usage("--announce-interval: expected seconds from 0.1 to 3600, found '\(text)'")
            }
            interval = value
        case "--announce-hold":
            guard let value = Int(text), (1...100).contains(value) else { throw .usage("--announce-hold: expected a whole number from 1 to 100, found '\(text)'") }
            holdMultiplier = value
        case "--peer-retention":
            guard let value = Double(text), value.isFinite, value >= 0, value <= 86_400 else {
                throw .usage("--peer-retention: expected seconds from 0 to 86400, found '\(text)'")
            }
            retention = value
        case "--mesh-secret-file": secretPath = text
        case "--peer-keys": peerKeysPath = text
        case "--remote-timeout":
            guard let value = Double(text), value.isFinite, value >= 0.01, value <= 60 else {
                throw .usage("--remote-timeout: expected seconds from 0.01 to 60, found '\(text)'")
            }
            remoteTimeout = value
        case "--peer": peers.append(try Self.staticPeer(text))
        default: return false
        }
        return true
    }

    /// The config file's `mesh` object and the flag each member stands for.
    static let fileKeys: [(key: String, flag: String)] = [
        ("announce", "--announce"), ("interfaces", "--announce-interface"), ("port", "--announce-port"), ("interval", "--announce-interval"),
        ("hold", "--announce-hold"), ("peerRetention", "--peer-retention"), ("remoteTimeout", "--remote-timeout"),
        ("secretFile", "--mesh-secret-file"), ("peerKeys", "--peer-keys"), ("peers", "--peer"),
    ]

    /// Applies a config file's `mesh` object: `{"announce": true, "interfaces": ["eth0"], "port", "interval",
    /// "hold", "peerRetention", "remoteTimeout", "secretFile", "peerKeys", "peers": ["http://HOST:PORT"]}`,
    /// each member checked as its flag is, the errors naming the member.
    mutating func apply(file reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: Set(Self.fileKeys.map(\.key)))
        for (key, flag) in Self.fileKeys where reader.has(key) {
            var texts: [String] = []
            switch key {
            case "announce":
                guard try reader.bool(key) == true else { continue }
                texts = [""]
            case "interfaces", "peers": texts = try reader.strings(key) ?? []
            case "secretFile", "peerKeys": texts = [try reader.requireString(key)]
            default:
                guard let number = try reader.number(key, in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude) else { continue }
                texts = [number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)]
            }
            for text in texts {
                do { _ = try apply(flag, text) } catch { throw error.member(reader.fieldPath(key), of: flag) }
            }
        }
    }

    /// Checks the mesh options together and reads the key file.
    mutating func finish(httpAddress: String?) throws(ConfigurationError) {
        guard isEnabled else {
            if !interfaces.isEmpty || secretPath != nil || peerKeysPath != nil {
                throw .usage("--announce-interface, --mesh-secret-file and --peer-keys need --announce or --peer")
            }
            return
        }
        if !announce && !interfaces.isEmpty { throw .usage("--announce-interface needs --announce") }
        guard httpAddress != nil else {
            throw .usage("\(announce ? "--announce" : "--peer"): announcements advertise this Hostess's HTTP endpoint; give --http HOST:PORT too")
        }
        guard Double(holdMultiplier) * interval <= 86_400 else {
            throw .usage("--announce-interval × --announce-hold is the announcements' ttl, at most 86400 s")
        }
        if let path = secretPath {
            keys = try HTTPKeys(path: path, flag: "--mesh-secret-file")
            guard keys.firstID != nil else { throw .usage("--mesh-secret-file \(path): no key in it") }
        }
        if let path = peerKeysPath { peerKeys = try PeerKeys(path: path) }
    }

    /// Reads `--peer http://HOST:PORT` and resolves it (once, at start).
    private static func staticPeer(_ text: String) throws(ConfigurationError) -> StaticPeer {
        let prefix = "http://"
        var authority = Substring(text)
        guard authority.hasPrefix(prefix) else { throw .usage("--peer: expected http://HOST:PORT, found '\(text)'") }
        authority = authority.dropFirst(prefix.count)
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        guard !authority.isEmpty, !authority.contains("/"), authority.utf8.count <= 256, authority.contains(":") else {
            throw .usage("--peer: expected http://HOST:PORT with no path, found '\(text)'")
        }
        do {
            let address = try InternetSocketAddress(parsing: String(authority))
            return StaticPeer(url: text, authority: String(authority), address: address.description)
        } catch {
            throw .usage("--peer \(text): \(error.call)")
        }
    }
}
