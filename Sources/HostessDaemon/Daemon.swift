import Glibc
import HostessLoop
import HostessModel
import HostessSystem

// MARK: - Daemon

/// hostessd: one thread, one loop, one owner of the guest book.
///
/// The ``Loop`` hands each event to the channel or timer that owns it; the line protocol's ``LineServer``
/// (Unix socket or stdio) and the ``HTTPServer`` decode requests into ``Command``s that the ``Registry``
/// runs. Every request is handled to completion on the loop, in the order it arrived on its connection, so
/// the guest book needs no lock and every change has its own revision. Slow clients cost buffer space, never
/// time: reads and writes are non-blocking, and a client that stops reading is paused, then dropped.
public final class Daemon {
    private let configuration: Configuration
    private let environment: [String: String]
    private let loop: Loop
    private let registry: Registry
    private let lines: LineServer
    private var http: HTTPServer?
    private var announcer: Announcer?
    /// A random id for this run of hostessd (`/health`, `status`).
    private let instanceID = Syscall.randomUUID()
    private let startedAt = SystemClock.monotonicNanoseconds()
    private let version: String

    /// Sets up the loop: signals, the socket or stdio, the region, HTTP. Nothing is served until ``run()``.
    public init(configuration: Configuration, environment: [String: String], version: String) throws(DaemonError) {
        self.configuration = configuration
        self.environment = environment
        self.version = version
        Syscall.ignoreBrokenPipes()
        let limit = Syscall.raiseDescriptorLimit()
        do { loop = try Loop() } catch { throw .system(error) }
        registry = Registry(configuration: configuration, loop: loop)
        registry.service.statusFacts = [
            "version": .string(version), "pid": .int(Int64(getpid())),
            "socket": configuration.stdio ? .null : .string(configuration.socketPath),
            "shm": configuration.sharedMemoryName.map(JSONValue.string) ?? .null,
            "instanceId": .string(instanceID),
        ]
        registry.service.fqdn = Syscall.hostName().flatMap { ServerName.isValidFQDN($0) ? $0 : nil } ?? "localhost"
        registry.service.connectionMethods = ConnectionMethodCache(ttl: Int64(configuration.probing.cacheTTL * 1000))
        registry.executor = Executor(
            binaries: configuration.probing.binaries ?? Self.ownDirectory, socketPath: configuration.stdio ? nil : configuration.socketPath,
            windowTimeout: configuration.probing.windowTimeout, loop: loop)
        lines = try LineServer(configuration: configuration, registry: registry, loop: loop)
        do {
            try loop.handleSignals([SIGTERM, SIGINT, SIGHUP]) { [unowned loop] signal in Self.received(signal, loop: loop) }
            loop.onStall = { gap in
                Log.warning(
                    "the loop did not run for \(Double(gap / 1_000_000) / 1000) s (stopped, or a request took that long); heartbeat and client deadlines moved by as much"
                )
            }
            if !configuration.stdio && limit < UInt64(configuration.maxConnections) + 64 {
                Log.warning("open-file limit is \(limit); fewer than --max-connections \(configuration.maxConnections) clients can connect")
            }
            try registry.open(environment: environment)
            if let address = configuration.httpAddress {
                let server = try HTTPServer(configuration: configuration, address: address, registry: registry, loop: loop) { [unowned self] in facts }
                http = server
                registry.service.statusFacts["http"] = .string(server.boundAddress)
                if configuration.mesh.isEnabled || configuration.directory.isEnabled {
                    let bound: InternetSocketAddress
                    do { bound = try InternetSocketAddress(parsing: server.boundAddress) } catch { throw DaemonError.system(error) }
                    announcer = try Announcer(
                        configuration: configuration.mesh, directory: configuration.directory, httpAddress: bound, hostessID: instanceID, registry: registry,
                        loop: loop)
                    registry.mesh = announcer
                }
            }
            // The region replaces a predecessor's only now that everything else started: a failure before this
            // leaves the old region (and its entries) for the next start.
            try registry.installRegion()
            // Clients get in only now: the region, when there is one, already holds the guest book.
            try lines.startListening()
        } catch let error as DaemonError {
            http?.shutDown()
            lines.stopListening()
            registry.close()
            throw error
        } catch {
            lines.stopListening()
            registry.close()
            throw .listen("\(error)")
        }
    }

    /// What the HTTP interface reports beyond the guest book.
    private var facts: HTTPRouter.Facts {
        HTTPRouter.Facts(
            instanceID: instanceID, version: version, startedAt: startedAt, unixConnections: lines.connectionCount,
            httpConnections: http?.connectionCount ?? 0, publications: registry.publications,
            announcements: announcer.map { ($0.counters.sent, $0.counters.sendFailures) }, connectPaths: announcer?.connector.counts)
    }

    // MARK: Running

    /// Serves until SIGTERM or SIGINT (or, with `--stdio`, the end of standard input).
    /// - Returns: the process exit status.
    public func run() -> Int32 {
        if let listener = lines.listener {
            Log.info(
                "listening on \(listener.path) (ttl \(configuration.ttl) s, heartbeat interval \(configuration.heartbeatInterval) s, max \(configuration.maxConnections) connections)"
            )
        } else {
            Log.info("serving on stdin/stdout (ttl \(configuration.ttl) s)")
        }
        if let http {
            Log.info("serving HTTP on \(http.boundAddress) (max \(configuration.httpMaxConnections) connections, request timeout \(configuration.httpRequestTimeout) s)")
            if configuration.secretsPath == nil { Log.warning("no --secrets file: every HTTP write will be refused (401)") }
        }
        SystemdNotifier.notify("READY=1\nSTATUS=serving", environment: environment)
        var status: Int32 = 0
        do {
            try loop.run {
                registry.endTurn()
                announcer?.afterTurn()
            }
        } catch {
            Log.error("\(error); stopping")
            status = 1
        }
        shutDown()
        return status
    }

    private static func received(_ signal: Int32, loop: Loop) {
        switch signal {
        case SIGTERM, SIGINT:
            Log.info("received \(signal == SIGTERM ? "SIGTERM" : "SIGINT"); shutting down")
            loop.stop()
        default:
            Log.info("received signal \(signal); ignored (hostessd has no configuration to reload)")
        }
    }

    /// The directory of hostessd's own executable, where `swift build` puts hostess-beacon and hostess-probe too.
    private static var ownDirectory: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return "." }
        let path = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
    }

    // MARK: Shutting down

    private func shutDown() {
        registry.executor?.stop()
        if let announcer {
            announcer.stop()
            self.announcer = nil
            Log.info("said goodbye to the mesh")
        }
        if let http {
            http.shutDown()
            self.http = nil
            Log.info("stopped serving HTTP")
        }
        lines.stopListening()
        registry.close()
        lines.shutDown()
        Log.info("stopped (revision \(registry.service.book.revision), \(registry.service.book.count) entries)")
    }
}

// MARK: - DaemonError

/// Why hostessd could not start.
public enum DaemonError: Error, CustomStringConvertible {
    /// The socket could not be served.
    case listen(String)
    /// A syscall failed while setting up.
    case system(SystemError)

    public var description: String {
        switch self {
        case .listen(let message): message
        case .system(let error): "\(error)"
        }
    }
}
