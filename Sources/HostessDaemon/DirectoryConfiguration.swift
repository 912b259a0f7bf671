import HostessModel
import HostessSystem

// MARK: - DirectoryConfiguration

/// Where hostessd finds the Hostesses beyond its links: a fleet directory on etcd (`--directory`), spoken
/// over etcd's v3 JSON gateway. Each Hostess puts its announcement under `PREFIX/peers/<hostessId>` with a
/// lease and watches the prefix; what it reads feeds the same peer table as multicast (docs/mesh.md, "Fleet").
public struct DirectoryConfiguration: Sendable, Equatable {
    /// One etcd member, as given and as resolved once at start.
    public struct Endpoint: Sendable, Equatable {
        /// `HOST:PORT`, the Host header.
        public var authority: String
        /// The address it resolved to.
        public var address: String
    }

    /// The etcd members, tried in turn; empty: no directory.
    public var endpoints: [Endpoint] = []
    /// The keys' prefix: starts and ends with `/`.
    public var prefix = "/hostess/"
    /// A file whose first line is `USER PASSWORD` for etcd's authentication, or nil: none. The `--secrets`
    /// rules apply (a regular file readable by its owner only).
    public var authPath: String?
    /// The user read from ``authPath``.
    var user: String?
    /// The password read from ``authPath``.
    var password: String?

    /// The longest prefix accepted.
    static let maximumPrefixBytes = 256

    /// The directory flags that take a value.
    static let valuedFlags: Set<String> = ["--directory", "--directory-prefix", "--directory-auth"]

    /// Whether hostessd uses a directory.
    public var isEnabled: Bool { !endpoints.isEmpty }

    /// The usage lines of the directory flags.
    static let usage = """
          --directory etcd://HOST:PORT[,HOST:PORT…]  also find Hostesses through this etcd cluster (v3 JSON
                                   gateway; members tried in turn); needs --http, which the entries advertise
          --directory-prefix P     the keys' prefix in etcd (default /hostess/)
          --directory-auth FILE    authenticate to etcd as the user and password of FILE's first line
                                   (`USER PASSWORD`, the --secrets rules)
        """

    /// Applies one directory flag; false when `flag` is not one.
    mutating func apply(_ flag: String, _ text: String) throws(ConfigurationError) -> Bool {
        switch flag {
        case "--directory": endpoints = try Self.endpoints(text)
        case "--directory-prefix":
            guard text.hasPrefix("/"), text.hasSuffix("/"), text.utf8.count >= 2, text.utf8.count <= Self.maximumPrefixBytes,
                text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
            else {
                throw .usage("--directory-prefix: expected /NAME/ (printable ASCII, no spaces, at most \(Self.maximumPrefixBytes) bytes), found '\(text)'")
            }
            prefix = text
        case "--directory-auth": authPath = text
        default: return false
        }
        return true
    }

    /// Applies a config file's `directory` object: `{"endpoints": "etcd://HOST:PORT[,HOST:PORT…]", "prefix":
    /// "/hostess/", "authFile": "PATH"}`, each member checked as its flag is, the errors naming the member.
    mutating func apply(file reader: JSONReader) throws(HostessError) {
        try reader.rejectUnknownKeys(allowed: ["endpoints", "prefix", "authFile"])
        for (key, flag) in [("endpoints", "--directory"), ("prefix", "--directory-prefix"), ("authFile", "--directory-auth")] where reader.has(key) {
            let text = try reader.requireString(key)
            do { _ = try apply(flag, text) } catch { throw error.member(reader.fieldPath(key), of: flag) }
        }
    }

    /// Checks the directory options together and reads the credentials.
    mutating func finish(httpAddress: String?) throws(ConfigurationError) {
        guard isEnabled else {
            if authPath != nil || prefix != "/hostess/" { throw .usage("--directory-prefix and --directory-auth need --directory") }
            return
        }
        guard httpAddress != nil else {
            throw .usage("--directory: the directory's entries advertise this Hostess's HTTP endpoint; give --http HOST:PORT too")
        }
        if let path = authPath { (user, password) = try Self.credentials(path) }
    }

    /// Reads `etcd://HOST:PORT[,HOST:PORT…]` and resolves each member (once, at start).
    private static func endpoints(_ text: String) throws(ConfigurationError) -> [Endpoint] {
        for scheme in ["https://", "etcds://", "unixs://"] where text.hasPrefix(scheme) {
            throw .usage(
                "--directory: TLS to etcd is not built in; run a local TLS proxy to the cluster and give its plain address (docs/mesh.md, \"Fleet\"), found '\(text)'")
        }
        let scheme = "etcd://"
        guard text.hasPrefix(scheme) else { throw .usage("--directory: expected etcd://HOST:PORT[,HOST:PORT…], found '\(text)'") }
        let list = text.dropFirst(scheme.count).split(separator: ",", omittingEmptySubsequences: false)
        guard !list.isEmpty, list.count <= 16 else { throw .usage("--directory: expected 1 to 16 members, found '\(text)'") }
        var endpoints: [Endpoint] = []
        for member in list {
            var authority = member
            if authority.hasSuffix("/") { authority = authority.dropLast() }
            guard !authority.isEmpty, !authority.contains("/"), authority.utf8.count <= 256, authority.contains(":") else {
                throw .usage("--directory: expected HOST:PORT for each member, found '\(member)' in '\(text)'")
            }
            do {
                let address = try InternetSocketAddress(parsing: String(authority))
                endpoints.append(Endpoint(authority: String(authority), address: address.description))
            } catch {
                throw .usage("--directory \(member): \(error.call)")
            }
        }
        return endpoints
    }

    /// The first line of the credentials file that is not a comment: `USER PASSWORD` (the `--secrets` rules).
    private static func credentials(_ path: String) throws(ConfigurationError) -> (user: String, password: String) {
        guard let first = try SecretFile.lines(path, flag: "--directory-auth").first else {
            throw .usage("--directory-auth \(path): no 'USER PASSWORD' line in it")
        }
        guard first.fields.count == 2 else {
            throw .usage("--directory-auth \(path): line \(first.number): expected 'USER PASSWORD', found \(first.fields.count) fields")
        }
        return (String(first.fields[0]), String(first.fields[1]))
    }
}
