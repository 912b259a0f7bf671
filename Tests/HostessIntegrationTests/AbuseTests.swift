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
    /// Heartbeats refused (an evicted entry answers not_found).
    private(set) var refusals = 0

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
                        if line.contains("\"error\"") { lock.withLock { refusals += 1 } }
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
        #expect(gone <= ttl + 0.5)
        sleep(1)
        #expect(try statusNumber(daemon, "evictions") == 1)
        #expect(try statusNumber(daemon, "entries") == 1000)
        #expect(heartbeater.refusals == 0)
        #expect(daemon.log.contains("the loop did not run for"))
    }
}
