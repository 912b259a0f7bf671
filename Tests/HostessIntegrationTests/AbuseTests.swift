import Foundation
import Glibc
import HostessModel
import HostessSystem
import Testing

// MARK: - Heartbeaters

/// Keeps entries alive the way servers do: every `interval` seconds one heartbeat per entry, written in one
/// burst per connection and answered before the next burst. Runs on its own thread until stopped.
final class Heartbeater: @unchecked Sendable {
    private let clients: [(client: RawClient, ids: [String])]
    private let interval: Double
    private let lock = NSLock()
    private var running = true
    private var thread: Thread?
    /// Heartbeats refused (an evicted entry answers not_found), and the first refusal.
    private(set) var refusals = 0
    private(set) var firstRefusal: String?

    init(socketPath: String, ids: [String], connections: Int, interval: Double) throws {
        let size = (ids.count + connections - 1) / connections
        clients = try stride(from: 0, to: ids.count, by: size).map { start in
            (try RawClient(path: socketPath), Array(ids[start..<min(ids.count, start + size)]))
        }
        self.interval = interval
    }

    func start() {
        let thread = Thread { [self] in
            while lock.withLock({ running }) {
                let began = Date()
                for (client, ids) in clients {
                    let lines = ids.map { #"{"command":"heartbeat","serverId":"\#($0)"}"# }.joined(separator: "\n") + "\n"
                    try? client.send(bytes: Array(lines.utf8))
                }
                for (client, ids) in clients {
                    for _ in ids {
                        guard let line = client.readLine(timeout: 30) else { break }
                        if line.contains("\"error\"") {
                            lock.withLock {
                                refusals += 1
                                firstRefusal = firstRefusal ?? line
                            }
                        }
                    }
                }
                let left = interval - Date().timeIntervalSince(began)
                if left > 0 { usleep(UInt32(left * 1e6)) }
            }
        }
        self.thread = thread
        thread.start()
    }

    func stop() {
        lock.withLock { running = false }
        while thread?.isFinished == false { usleep(10_000) }
    }
}

/// Registers `count` entries on one connection, pipelined; returns their ids.
func registerMany(_ daemon: DaemonProcess, count: Int, owner: String = "root") throws -> [String] {
    let ids = (0..<count).map { _ in Fixture.id(owner: owner) }
    let client = try daemon.client()
    let lines = ids.map { id in
        JSONValue.object(["command": "register", "entry": Fixture.entry(id: id)]).jsonText
    }.joined(separator: "\n") + "\n"
    try client.send(bytes: Array(lines.utf8))
    for _ in ids {
        let reply = try client.readReply(timeout: 30)
        guard reply.result != nil else { throw TestFailure("register refused: \(reply)") }
    }
    return ids
}

/// An integer member of `status`.
func statusNumber(_ daemon: DaemonProcess, _ key: String) throws -> Int64? {
    guard case .int(let value)? = try daemon.client().request("status").result?[key] else { return nil }
    return value
}

// MARK: - Quadratic input

@Suite("one user cannot freeze hostessd with input")
struct HostileInputTests {
    /// The attack that froze hostessd for 16.7 s and evicted every entry: one object of 85,000 keys.
    static let keys85k = "{" + (0..<85_000).map { "\"k\($0)\":0" }.joined(separator: ",") + "}"

    @Test("an 85,000-key line over the socket is refused at once, and other clients are answered meanwhile")
    func keysOverSocket() throws {
        let daemon = try DaemonProcess()
        let attacker = try daemon.client()
        let bystander = try daemon.client()
        let started = Date()
        try attacker.send(Self.keys85k)
        let reply = try attacker.readReply(timeout: 10)
        let elapsed = Date().timeIntervalSince(started)
        #expect(reply.errorCode == "parse_error")
        #expect(reply.errorMessage?.contains("more than \(JSONParser.maximumMembers) members") == true)
        // A debug build answered in about 20 ms; the quadratic parse took 16.7 s (release).
        #expect(elapsed < 1, "answered after \(elapsed) s")
        #expect(try bystander.request("status").result != nil)
    }

    @Test("the same object as an unsigned POST /query is refused at once")
    func keysOverHTTP() throws {
        let http = try HTTPDaemon()
        let connection = try http.tcp()
        let body = Self.keys85k
        let started = Date()
        try connection.send("POST /query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let response = try #require(connection.readResponse(timeout: 10))
        let elapsed = Date().timeIntervalSince(started)
        #expect(response.status == 400)
        #expect(response.text.contains("more than \(JSONParser.maximumMembers) members"))
        #expect(elapsed < 1, "answered after \(elapsed) s")
    }

    /// Lines of about 1 MiB built to make a decoder do more than linear work (named, so that test output
    /// shows the name, not the megabyte).
    enum HostileLine: String, CaseIterable, Sendable {
        case array, escapes, number, nesting, filterCapabilities

        var text: String {
            switch self {
            case .array: "[" + Array(repeating: "0", count: 500_000).joined(separator: ",") + "]"
            case .escapes: "\"" + String(repeating: "\\u00e9", count: 170_000) + "\""
            case .number: "1" + String(repeating: "7", count: 1_000_000)
            case .nesting: String(repeating: "[", count: 1_000_000)
            case .filterCapabilities:
                #"{"command":"query","filter":{"capabilities":["# + Array(repeating: "\"pty\"", count: 150_000).joined(separator: ",") + "]}}"
            }
        }
    }

    @Test("worst-case 1 MiB lines of every shape are answered in bounded time", arguments: HostileLine.allCases)
    func worstCaseLines(_ shape: HostileLine) throws {
        let daemon = try DaemonProcess()
        _ = try registerMany(daemon, count: 200)
        let client = try daemon.client()
        let started = Date()
        try client.send(shape.text)
        let reply = try client.readReply(timeout: 10)
        let elapsed = Date().timeIntervalSince(started)
        #expect(reply.errorCode != nil, "\(shape): \(reply)")
        #expect(elapsed < 2, "\(shape) answered after \(elapsed) s")
    }
}

// MARK: - A stalled loop

@Suite("a stalled hostessd does not evict live servers")
struct StallTests {
    @Test("1,000 heartbeating entries survive SIGSTOP for 2 × TTL; one that stopped is still evicted within a TTL")
    func sigstop() throws {
        let ttl = 2.0
        let daemon = try DaemonProcess(["--ttl", "\(ttl)", "--heartbeat-interval", "0.5"])
        let ids = try registerMany(daemon, count: 1000)
        let heartbeater = try Heartbeater(socketPath: daemon.socketPath, ids: ids, connections: 4, interval: 0.5)
        heartbeater.start()
        defer { heartbeater.stop() }
        sleep(1)
        let silent = Fixture.id(servername: "silent")
        #expect(try daemon.client().request("register", ["entry": Fixture.entry(id: silent)]).result != nil)

        kill(daemon.pid, SIGSTOP)
        usleep(UInt32(2 * ttl * 1e6))
        kill(daemon.pid, SIGCONT)
        let resumed = Date()

        // The silent entry goes within a TTL (and a housekeeping tick) of the loop running again.
        var silentGone: Double?
        while Date().timeIntervalSince(resumed) < ttl + 2 {
            let reply = try daemon.client().request("getServer", ["serverId": .string(silent)])
            if reply.errorCode == "not_found" {
                silentGone = Date().timeIntervalSince(resumed)
                break
            }
            usleep(50_000)
        }
        let gone = try #require(silentGone, "the silent entry was not evicted within \(ttl + 2) s of SIGCONT")
        // Within a TTL of the loop running again, plus a housekeeping tick and this poll's own delay.
        #expect(gone <= ttl + 1)
        sleep(1)
        #expect(try statusNumber(daemon, "evictions") == 1)
        #expect(try statusNumber(daemon, "entries") == 1000)
        #expect(heartbeater.refusals == 0, "\(heartbeater.firstRefusal ?? "")")
        #expect(daemon.log.contains("the loop did not run for"))
    }
}

// MARK: - Another user's raw connections

/// Raw connections from another user: `python3` (standard library only) run as `nobody` through setpriv.
/// Each connection sends `lines` (a newline-separated burst) once, then a blank line every `blankEvery`
/// seconds; the script reads for `hold` seconds and prints, per connection, how many replies carried which
/// error code, the first error message, and after how many seconds the daemon closed it (or null).
enum OtherUser {
    static let script = #"""
        import json, socket, sys, time, selectors
        path, count, lines, hold, blank_every = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
        sel = selectors.DefaultSelector()
        conns = []
        start = time.monotonic()
        for i in range(count):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            if lines:
                s.sendall((lines + "\n").encode())
            s.setblocking(False)
            c = {"sock": s, "buf": b"", "codes": {}, "ok": 0, "message": None, "closedAfter": None, "nextBlank": time.monotonic() + blank_every}
            conns.append(c)
            sel.register(s, selectors.EVENT_READ, c)
        while time.monotonic() - start < hold:
            for key, _ in sel.select(timeout=0.05):
                c = key.data
                try:
                    data = c["sock"].recv(1 << 16)
                except (ConnectionResetError, BlockingIOError):
                    data = b"" if c["closedAfter"] is None else None
                if data is None:
                    continue
                if not data:
                    c["closedAfter"] = round(time.monotonic() - start, 3)
                    sel.unregister(c["sock"])
                    continue
                c["buf"] += data
                while b"\n" in c["buf"]:
                    line, c["buf"] = c["buf"].split(b"\n", 1)
                    reply = json.loads(line)
                    error = reply.get("error")
                    if error:
                        c["codes"][error["code"]] = c["codes"].get(error["code"], 0) + 1
                        c["message"] = c["message"] or error["message"]
                    else:
                        c["ok"] += 1
            now = time.monotonic()
            for c in conns:
                if blank_every > 0 and c["closedAfter"] is None and now >= c["nextBlank"]:
                    try:
                        c["sock"].sendall(b"\n")
                    except OSError:
                        pass
                    c["nextBlank"] = now + blank_every
        print(json.dumps([{k: c[k] for k in ("codes", "ok", "message", "closedAfter")} for c in conns]))
        """#

    /// What one connection saw.
    struct Seen {
        var codes: [String: Int]
        var ok: Int
        var message: String?
        var closedAfter: Double?
    }

    /// Runs the script as nobody against `daemon`.
    static func connect(
        _ daemon: DaemonProcess, count: Int, lines: [String] = [], hold: Double, blankEvery: Double = 0
    ) throws -> [Seen] {
        let outcome = try CLI.run(
            "/usr/bin/python3", ["-c", script, daemon.socketPath, "\(count)", lines.joined(separator: "\n"), "\(hold)", "\(blankEvery)"],
            asNobody: true, timeout: hold + 30)
        guard outcome.status == 0, case .array(let items) = try JSONParser.parse(outcome.stdout) else {
            throw TestFailure("the script failed: \(outcome)")
        }
        return items.compactMap(\.objectValue).map { item in
            var codes: [String: Int] = [:]
            for member in item["codes"]?.objectValue ?? [:] {
                if case .int(let count) = member.value { codes[member.key] = Int(count) }
            }
            var closedAfter: Double?
            switch item["closedAfter"] {
            case .double(let value)?: closedAfter = value
            case .int(let value)?: closedAfter = Double(value)
            default: closedAfter = nil
            }
            var ok = 0
            if case .int(let value)? = item["ok"] { ok = Int(value) }
            return Seen(codes: codes, ok: ok, message: item["message"]?.stringValue, closedAfter: closedAfter)
        }
    }
}

// MARK: - Connections

@Suite("one user cannot take every connection")
struct ConnectionSlotTests {
    @Test("a uid gets at most --max-connections-per-uid; root's status still answers")
    func perUIDLimit() throws {
        let daemon = try DaemonProcess(["--max-connections", "50", "--max-connections-per-uid", "20"])
        let seen = try OtherUser.connect(daemon, count: 30, hold: 2)
        let refused = seen.filter { $0.codes["capacity"] == 1 }
        #expect(refused.count == 10)
        #expect(refused.first?.message?.contains("uid 65534 already has 20 connections open") == true, "\(refused.first?.message ?? "")")
        #expect(refused.allSatisfy { $0.closedAfter != nil })
        let status = try CLI.hostess(["status"], socket: daemon.socketPath)
        #expect(status.status == 0, "\(status)")
    }

    @Test("a daemon full of another user's connections still answers root")
    func fullDaemonAnswersRoot() throws {
        let daemon = try DaemonProcess(["--max-connections", "10", "--max-connections-per-uid", "100"])
        let holder = Thread {
            _ = try? OtherUser.connect(daemon, count: 10, hold: 4)
        }
        holder.start()
        // Wait until the ten slots are taken.
        var open = 0
        for _ in 0..<100 where open < 10 {
            usleep(50_000)
            open = try Self.openConnections(daemon)
        }
        #expect(open >= 10)
        let status = try CLI.hostess(["status"], socket: daemon.socketPath)
        #expect(status.status == 0, "root is refused by a full daemon: \(status)")
        let seen = try OtherUser.connect(daemon, count: 1, hold: 0.5)
        #expect(seen.first?.codes["capacity"] == 1, "the eleventh non-root connection is refused")
        while !holder.isFinished { usleep(20_000) }
    }

    /// The client connections hostessd holds: its socket descriptors in /proc, less the listener.
    static func openConnections(_ daemon: DaemonProcess) throws -> Int {
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemon.pid)/fd")
        let sockets = descriptors.filter { name in
            ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(daemon.pid)/fd/\(name)")) ?? "").hasPrefix("socket:")
        }
        return sockets.count - 1
    }

    @Test("blank lines are not activity: a client that sends only blank lines is closed after --client-timeout")
    func blankLines() throws {
        let daemon = try DaemonProcess(["--client-timeout", "1"])
        let seen = try OtherUser.connect(daemon, count: 5, hold: 4, blankEvery: 0.2)
        for connection in seen {
            let closed = try #require(connection.closedAfter, "a blank-line sender was kept open")
            #expect(closed < 2.5, "closed after \(closed) s")
            #expect(connection.codes["timeout"] == 1)
        }
    }
}

// MARK: - Watches

@Suite("one user cannot park unbounded watches")
struct WatchLimitTests {
    static func watches(_ count: Int) -> [String] {
        (0..<count).map { #"{"id":\#($0),"command":"watch","timeout":30}"# }
    }

    @Test("a connection parks at most --max-watches-per-connection; the rest are refused at once")
    func perConnection() throws {
        let daemon = try DaemonProcess(["--max-watches-per-connection", "64"])
        let client = try daemon.client()
        try client.send(Self.watches(100).joined(separator: "\n"))
        for _ in 0..<36 {
            let reply = try client.readReply()
            #expect(reply.errorCode == "capacity")
            #expect(reply.errorMessage?.contains("--max-watches-per-connection") == true)
        }
        #expect(try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())]).result != nil)
        for _ in 0..<64 {
            let reply = try client.readReply()
            #expect(reply.result?["changed"] == true)
        }
    }

    @Test("one uid parks at most --max-watches-per-uid over all its connections; root is not limited")
    func perUID() throws {
        let daemon = try DaemonProcess(["--max-watches-per-connection", "64", "--max-watches-per-uid", "100"])
        let register = Thread {
            usleep(1_500_000)
            _ = try? daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())])
        }
        register.start()
        let seen = try OtherUser.connect(daemon, count: 2, lines: Self.watches(64), hold: 3)
        #expect(seen.map(\.ok).reduce(0, +) == 100, "\(seen.map(\.ok))")
        #expect(seen.map { $0.codes["capacity"] ?? 0 }.reduce(0, +) == 28)
        #expect(seen.compactMap(\.message).contains { $0.contains("uid 65534 has 100 watches waiting") })
        // Root, over two connections, parks all 128.
        let clients = try (0..<2).map { _ in try daemon.client() }
        for client in clients { try client.send(Self.watches(64).joined(separator: "\n")) }
        usleep(300_000)
        #expect(try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())]).result != nil)
        for client in clients {
            for _ in 0..<64 { #expect(try client.readReply().result?["changed"] == true) }
        }
    }

    @Test("a flood of pipelined watches then one change: memory stays bounded and the change is answered at once")
    func flood() throws {
        let daemon = try DaemonProcess()
        let flooders = try (0..<6).map { _ in try daemon.client() }
        let burst = Array((Self.watches(20_000).joined(separator: "\n") + "\n").utf8)
        let senders = flooders.map { client in Thread { try? client.send(bytes: burst) } }
        for sender in senders { sender.start() }
        // The flooders read nothing back for now; refusals pile up to the high-water mark and stop there.
        usleep(2_000_000)
        let rssBefore = try Self.residentMegabytes(daemon)
        let started = Date()
        #expect(try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())], timeout: 10).result != nil)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 2, "the register took \(elapsed) s")
        let rssAfter = try Self.residentMegabytes(daemon)
        #expect(rssAfter < 200, "RSS \(rssBefore) MB before the change, \(rssAfter) MB after")
        for client in flooders { client.close() }
    }

    static func residentMegabytes(_ daemon: DaemonProcess) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { throw TestFailure("no VmRSS in /proc/\(daemon.pid)/status") }
        return kilobytes / 1024
    }
}
