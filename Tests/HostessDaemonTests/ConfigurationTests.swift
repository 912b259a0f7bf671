import Foundation
import HostessModel
import Testing

@testable import HostessDaemon

// MARK: - Fixtures

/// An environment that names the socket, so that defaults do not depend on who runs the tests.
private let environment = ["HOSTESS_SOCKET": "/tmp/hostess-unit/hostess.sock"]

/// Writes `text` to a fresh file and returns its path.
private func configFile(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "hostess-config-\(UUID().uuidString).json"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The error parsing `arguments` gives; nil when it parses.
private func parseError(_ arguments: [String], environment given: [String: String] = environment) -> ConfigurationError? {
    do {
        _ = try Configuration.parse(arguments: arguments, environment: given)
        return nil
    } catch {
        return error
    }
}

// MARK: - Flags

@Suite("hostessd configuration: flags")
struct ConfigurationFlagTests {
    @Test("the defaults")
    func defaults() throws {
        let configuration = try Configuration.parse(arguments: [], environment: environment)
        #expect(configuration.socketPath == "/tmp/hostess-unit/hostess.sock")
        #expect(configuration.reservationsPath == "/tmp/hostess-unit/hostess.sock.reservations")
        #expect(configuration.ttl == 15)
        #expect(configuration.heartbeatInterval == 5)
        #expect(configuration.maxConnections == 4096)
        #expect(configuration.maxConnectionsPerUID == 256)
        #expect(configuration.maxWatchesPerConnection == 64)
        #expect(configuration.maxWatchesPerUID == 1024)
        #expect(configuration.reservationPolicy == .standard)
        #expect(configuration.reservationPolicy.priorityLimit == 100)
        #expect(configuration.sharedMemoryName == (getuid() == 0 ? "/hostess-registry" : "/hostess-registry-\(getuid())"))
        #expect(configuration.httpAddress == nil)
    }

    @Test("--stdio publishes a region only when one is named: --shm, HOSTESS_SHM or the config file's shm")
    func stdioRegion() throws {
        #expect(try Configuration.parse(arguments: ["--stdio"], environment: environment).sharedMemoryName == nil)
        #expect(try Configuration.parse(arguments: ["--stdio", "--shm", "/pipe"], environment: environment).sharedMemoryName == "/pipe")
        #expect(
            try Configuration.parse(arguments: ["--stdio"], environment: environment.merging(["HOSTESS_SHM": "/env"]) { $1 }).sharedMemoryName
                == "/env")
        let file = try configFile(#"{"shm": "/file"}"#)
        defer { unlink(file) }
        #expect(try Configuration.parse(arguments: ["--stdio", "--config", file], environment: environment).sharedMemoryName == "/file")
        // Without --stdio the default name stays.
        #expect(try Configuration.parse(arguments: [], environment: environment).sharedMemoryName != nil)
    }

    @Test("flags, with and without '='")
    func flags() throws {
        let configuration = try Configuration.parse(
            arguments: [
                "--max-connections-per-uid", "8", "--max-watches-per-connection=3", "--max-watches-per-uid", "30",
                "--reservation-priority-limit", "-5", "--max-reservations-per-holder", "2", "--max-reserved-servers-per-holder=9",
                "--reservation-default-duration", "1.5", "--reservation-max-duration", "60", "--ttl", "9", "--max-connections", "100",
                "--socket", "/tmp/hostess-unit/other.sock", "--no-shm", "--http", "127.0.0.1:0", "--http-auth-reads",
            ], environment: environment)
        #expect(configuration.maxConnectionsPerUID == 8)
        #expect(configuration.maxWatchesPerConnection == 3)
        #expect(configuration.maxWatchesPerUID == 30)
        #expect(configuration.reservationPolicy.priorityLimit == -5)
        #expect(configuration.reservationPolicy.maximumActivePerHolder == 2)
        #expect(configuration.reservationPolicy.maximumServersPerHolder == 9)
        #expect(configuration.reservationPolicy.defaultDuration == 1500)
        #expect(configuration.reservationPolicy.maximumDuration == 60_000)
        #expect(configuration.ttl == 9)
        #expect(configuration.heartbeatInterval == 3)
        #expect(configuration.maxConnections == 100)
        #expect(configuration.socketPath == "/tmp/hostess-unit/other.sock")
        #expect(configuration.sharedMemoryName == nil)
        #expect(configuration.httpAddress == "127.0.0.1:0")
        #expect(configuration.httpAuthenticateReads)
    }

    @Test("usage errors name the flag")
    func usage() {
        #expect(parseError(["--help"]) == .help)
        #expect(parseError(["--version"]) == .version)
        #expect(parseError(["--bogus"]) == .usage("unknown argument '--bogus'"))
        #expect(parseError(["--ttl"]) == .usage("--ttl needs a value"))
        #expect(
            parseError(["--max-connections-per-uid", "0"])
                == .usage("--max-connections-per-uid: expected a whole number from 1 to 1000000, found '0'"))
        #expect(
            parseError(["--max-watches-per-connection", "many"])
                == .usage("--max-watches-per-connection: expected a whole number from 1 to 1000000, found 'many'"))
        #expect(
            parseError(["--reservation-priority-limit", "2000000"])
                == .usage("--reservation-priority-limit: expected a whole number from -1000000 to 1000000, found '2000000'"))
        #expect(
            parseError(["--socket", "@abstract"]) == .usage("--socket: abstract socket names (@…) are not supported; give a file system path"))
        #expect(
            parseError(["--ttl", "3", "--heartbeat-interval", "3"])
                == .usage("the heartbeat interval (3.0 s) must be shorter than the TTL (3.0 s)"))
        #expect(
            parseError(["--capacity", "1000000", "--entry-bytes", "8192"])
                == .usage("--capacity 1000000 × --entry-bytes 8192 is 8192000000 bytes of payload, past the region's 4 GiB (4294967295 bytes); lower one of them"))
        #expect(parseError(["--capacity", "1000000", "--entry-bytes", "4096"]) == nil)
    }
}

// MARK: - Mesh flags

@Suite("hostessd configuration: the mesh flags")
struct MeshConfigurationTests {
    @Test("off by default; the flags set what they name")
    func flags() throws {
        #expect(try Configuration.parse(arguments: [], environment: environment).mesh == MeshConfiguration())
        let configuration = try Configuration.parse(
            arguments: [
                "--http", "127.0.0.1:0", "--announce", "--announce-interface", "eth0", "--announce-interface=eth1", "--announce-port", "5000",
                "--announce-interval", "2.5", "--announce-hold", "3", "--peer-retention", "0",
            ], environment: environment)
        let mesh = configuration.mesh
        #expect(mesh.announce && mesh.interfaces == ["eth0", "eth1"] && mesh.port == 5000)
        #expect(mesh.interval == 2.5 && mesh.holdMultiplier == 3 && mesh.retention == 0 && mesh.secretPath == nil)
    }

    @Test("refusals name the flag and say why", arguments: [
        (["--announce"], "--announce: announcements advertise this Hostess's HTTP endpoint; give --http HOST:PORT too"),
        (["--announce-interface", "eth0"], "--announce-interface, --mesh-secret-file and --peer-keys need --announce or --peer"),
        (["--http", "127.0.0.1:0", "--peer", "http://127.0.0.1:8080", "--announce-interface", "eth0"], "--announce-interface needs --announce"),
        (["--peer", "http://127.0.0.1:8080"], "--peer: announcements advertise this Hostess's HTTP endpoint; give --http HOST:PORT too"),
        (["--peer", "ftp://x:1"], "--peer: expected http://HOST:PORT, found 'ftp://x:1'"),
        (["--peer", "http://127.0.0.1:8080/servers"], "--peer: expected http://HOST:PORT with no path, found 'http://127.0.0.1:8080/servers'"),
        (["--http", "127.0.0.1:0", "--announce", "--announce-port", "0"], "--announce-port: expected a port from 1 to 65535, found '0'"),
        (["--http", "127.0.0.1:0", "--announce", "--announce-interval", "0.01"], "--announce-interval: expected seconds from 0.1 to 3600, found '0.01'"),
        (["--http", "127.0.0.1:0", "--announce", "--announce-hold", "0"], "--announce-hold: expected a whole number from 1 to 100, found '0'"),
        (
            ["--http", "127.0.0.1:0", "--announce", "--announce-interval", "3600", "--announce-hold", "100"],
            "--announce-interval × --announce-hold is the announcements' ttl, at most 86400 s"
        ),
        (["--http", "127.0.0.1:0", "--announce", "--announce-interface", ""], "--announce-interface: expected an interface name (see `ip link`), found ''"),
    ])
    func refusals(arguments: [String], message: String) {
        #expect(parseError(arguments) == .usage(message))
    }

    @Test("the mesh key file has the --secrets rules, named by its own flag")
    func keyFile() throws {
        let path = try configFile("k1 0123456789abcdef0123\n")
        chmod(path, 0o644)
        let error = parseError(["--http", "127.0.0.1:0", "--announce", "--mesh-secret-file", path])
        #expect(error == .usage("--mesh-secret-file \(path): group or others have access to it (mode 644); run chmod 600 \(path)"))
        chmod(path, 0o600)
        let configuration = try Configuration.parse(arguments: ["--http", "127.0.0.1:0", "--announce", "--mesh-secret-file", path], environment: environment)
        #expect(configuration.mesh.keys.firstID == "k1")
    }

    @Test("the peer keys file: PEER KEY_ID SECRET per line, by host name or hostessId, the --secrets rules")
    func peerKeys() throws {
        let id = "0b154076-e076-4ceb-80e2-aca0d46c8eee"
        let path = try configFile("# peers\nmachine-b.local  hostess-a  0123456789abcdef0123\n\(id.uppercased()) hostess-a 0123456789abcdefXXXX\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        chmod(path, 0o600)
        let arguments = ["--http", "127.0.0.1:0", "--announce", "--peer-keys", path]
        let keys = try Configuration.parse(arguments: arguments, environment: environment).mesh.peerKeys
        #expect(keys.key(hostessID: "x", fqdn: "Machine-B.local")?.id == "hostess-a")
        #expect(keys.key(hostessID: id, fqdn: "machine-b.local")?.secret == Array("0123456789abcdefXXXX".utf8), "the hostessId's line wins")
        #expect(keys.key(hostessID: "x", fqdn: "machine-c.local") == nil)

        for (text, message) in [
            ("machine-b.local hostess-a\n", "line 1: expected PEER KEY_ID SECRET (PEER a host name or hostessId), found 2 fields"),
            ("machine_b hostess-a 0123456789abcdef0123\n", "line 1: 'machine_b' is neither a host name nor a hostessId (a UUID)"),
            ("machine-b.local hostess-a short\n", "line 1: key hostess-a: the secret must be at least 16 characters"),
            ("b hostess-a 0123456789abcdef0123\nb k2 0123456789abcdef0123\n", "line 2: peer b is listed twice"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            #expect(parseError(arguments) == .usage("--peer-keys \(path): \(message)"))
        }
        chmod(path, 0o640)
        #expect(parseError(arguments) == .usage("--peer-keys \(path): group or others have access to it (mode 640); run chmod 600 \(path)"))
        #expect(parseError(["--peer-keys", path]) == .usage("--announce-interface, --mesh-secret-file and --peer-keys need --announce or --peer"))
    }

    @Test("the config file's mesh object sets what the flags set, names a bad member, and list flags replace its lists")
    func configFileMesh() throws {
        let path = try configFile(
            """
            {"http": "127.0.0.1:0", "mesh": {"announce": true, "interfaces": ["eth0", "eth1"], "port": 5000, "interval": 2.5, "hold": 3,
             "peerRetention": 0, "remoteTimeout": 0.5, "peers": ["http://127.0.0.1:8081"]}}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let mesh = try Configuration.parse(arguments: ["--config", path], environment: environment).mesh
        #expect(mesh.announce && mesh.interfaces == ["eth0", "eth1"] && mesh.port == 5000 && mesh.interval == 2.5 && mesh.holdMultiplier == 3)
        #expect(mesh.retention == 0 && mesh.remoteTimeout == 0.5 && mesh.peers.map(\.url) == ["http://127.0.0.1:8081"])
        let overridden = try Configuration.parse(arguments: ["--config", path, "--peer", "http://127.0.0.1:8082", "--announce-port", "6000"], environment: environment).mesh
        #expect(overridden.peers.map(\.url) == ["http://127.0.0.1:8082"] && overridden.port == 6000 && overridden.interfaces == ["eth0", "eth1"])

        for (text, message) in [
            (#"{"mesh": {"port": 0}}"#, "mesh.port: expected a port from 1 to 65535, found '0'"),
            (#"{"mesh": {"interval": "fast"}}"#, "mesh.interval: expected a number, found string"),
            (#"{"mesh": {"peers": ["ftp://x:1"]}}"#, "mesh.peers: expected http://HOST:PORT, found 'ftp://x:1'"),
            (#"{"mesh": {"announces": true}}"#, "mesh.announces: unknown field"),
        ] {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let error = parseError(["--config", path])
            guard case .file(_, let found)? = error else {
                Issue.record("\(text): \(String(describing: error))")
                continue
            }
            #expect(found == message, "\(text)")
        }
    }
}

// MARK: - Config file

@Suite("hostessd configuration: the config file")
struct ConfigurationFileTests {
    @Test("keys set the limits, reservationPrivileged names uids and keys, flags override the file")
    func keys() throws {
        let path = try configFile(
            """
            {"maxConnectionsPerUid": 7, "maxWatchesPerConnection": 2, "maxWatchesPerUid": 20, "reservationPriorityLimit": 50,
             "reservationPrivileged": ["0", "1001", "key:peer-a"], "maxReservationsPerHolder": 4, "ttl": 6,
             "reservationDefaultDuration": 2, "owners": {"1000": ["system"]}, "shm": "/hostess-unit"}
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try Configuration.parse(arguments: ["--config", path, "--max-connections-per-uid", "9"], environment: environment)
        #expect(configuration.maxConnectionsPerUID == 9)
        #expect(configuration.maxWatchesPerConnection == 2)
        #expect(configuration.maxWatchesPerUID == 20)
        #expect(configuration.reservationPolicy.priorityLimit == 50)
        #expect(configuration.reservationPolicy.privilegedHolders == [.user(uid: 0), .user(uid: 1001), .key("peer-a")])
        #expect(configuration.reservationPolicy.maximumActivePerHolder == 4)
        #expect(configuration.reservationPolicy.defaultDuration == 2000)
        #expect(configuration.ttl == 6)
        #expect(configuration.heartbeatInterval == 2)
        #expect(configuration.ownerNames[1000] == ["system"])
        #expect(configuration.sharedMemoryName == "/hostess-unit")
    }

    @Test("HOSTESS_CONFIG names the file; the environment overrides it")
    func environmentFile() throws {
        let path = try configFile(#"{"socket": "/tmp/hostess-unit/file.sock", "maxWatchesPerConnection": 5}"#)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try Configuration.parse(arguments: [], environment: environment.merging(["HOSTESS_CONFIG": path]) { $1 })
        #expect(configuration.maxWatchesPerConnection == 5)
        #expect(configuration.socketPath == "/tmp/hostess-unit/hostess.sock")
        let unset = try Configuration.parse(arguments: [], environment: ["HOSTESS_CONFIG": path])
        #expect(unset.socketPath == "/tmp/hostess-unit/file.sock")
    }

    @Test("errors name the file and the key")
    func errors() throws {
        let cases: [(String, String)] = [
            (#"{"bogus": 1}"#, "bogus: unknown field"),
            (#"{"maxConnectionsPerUid": 0}"#, "maxConnectionsPerUid: 0 is outside 1...1000000"),
            (#"{"maxWatchesPerConnection": "many"}"#, "maxWatchesPerConnection: expected an integer, found string"),
            (#"{"reservationPriorityLimit": 1.5}"#, "reservationPriorityLimit: expected an integer, found number"),
            (
                #"{"reservationPrivileged": ["key:x", "no-such-user-hostess-unit"]}"#,
                "reservationPrivileged[1]: no user 'no-such-user-hostess-unit' on this machine (give a user name, a uid, or key:ID)"
            ),
            (#"{"reservationPrivileged": "root"}"#, "reservationPrivileged: expected an array of strings, found string"),
            ("[]", "document: expected a JSON object, found array"),
        ]
        for (text, message) in cases {
            let path = try configFile(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(parseError(["--config", path]) == .file(path, message), "\(text)")
        }
        #expect(parseError(["--config", "/nonexistent/hostess.json"])?.description.hasPrefix("config file /nonexistent/hostess.json: cannot read it") == true)
    }
}

@Suite("hostessd configuration: the fleet directory")
struct DirectoryConfigurationTests {
    @Test("--directory takes etcd:// members, resolved at start, with the prefix and credentials")
    func flags() throws {
        let keys = NSTemporaryDirectory() + "hostess-directory-\(UUID().uuidString)"
        try "# etcd\nhostess s3cret\n".write(toFile: keys, atomically: true, encoding: .utf8)
        chmod(keys, 0o600)
        defer { unlink(keys) }
        let configuration = try Configuration.parse(
            arguments: [
                "--http", "127.0.0.1:0", "--directory", "etcd://127.0.0.1:2379,[::1]:2380", "--directory-prefix", "/fleet/",
                "--directory-auth", keys,
            ], environment: environment)
        #expect(configuration.directory.endpoints.map(\.authority) == ["127.0.0.1:2379", "[::1]:2380"])
        #expect(configuration.directory.prefix == "/fleet/")
        #expect(configuration.directory.user == "hostess" && configuration.directory.password == "s3cret")
        #expect(try Configuration.parse(arguments: [], environment: environment).directory.isEnabled == false)
    }

    @Test(
        "bad directory flags are usage errors naming the flag",
        arguments: [
            (["--directory", "http://127.0.0.1:2379"], "--directory: expected etcd://HOST:PORT[,HOST:PORT…]"),
            (["--directory", "https://127.0.0.1:2379"], "TLS to etcd is not built in"),
            (["--directory", "etcd://127.0.0.1"], "--directory: expected HOST:PORT for each member"),
            (["--directory", "etcd://127.0.0.1:2379,"], "--directory: expected HOST:PORT for each member"),
            (["--directory", "etcd://127.0.0.1:2379"], "give --http HOST:PORT too"),
            (["--http", "127.0.0.1:0", "--directory", "etcd://127.0.0.1:2379", "--directory-prefix", "hostess"], "--directory-prefix: expected /NAME/"),
            (["--directory-prefix", "/x/"], "need --directory"),
        ] as [([String], String)])
    func refused(arguments: [String], message: String) {
        guard case .usage(let text)? = parseError(arguments) else {
            Issue.record("\(arguments) parsed")
            return
        }
        #expect(text.contains(message), "\(text)")
    }
}
