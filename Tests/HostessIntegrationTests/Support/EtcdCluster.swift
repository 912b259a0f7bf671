import Foundation
import Glibc
import HostessModel
import HostessSystem

// MARK: - EtcdCluster

/// A private etcd cluster on loopback (`/usr/bin/etcd`, Debian's etcd-server 3.4) of one or three members
/// `m0`, `m1`, …: each member's client and peer ports drawn at random from ``ports`` and checked free, the data
/// directories and logs in one temporary directory, no environment but `PATH=/usr/bin:/bin` (no `ETCD_*`
/// variable of the machine's may change what the test starts). Members can be stopped, killed and started again
/// on the same ports and data; ``stopAll()`` (or deinit) ends them and removes the directory.
final class EtcdCluster: @unchecked Sendable {
    static let executable = "/usr/bin/etcd"
    /// Where the ports are drawn from: above 20000, below the kernel's ephemeral range (32768 on), and clear of the
    /// fixed ranges the probing tests fill at the same time (20000–23999 and 30000–33999). HostessDirectoryTests'
    /// EtcdServer draws from the same range, which is why every port is checked free and a failed start retried.
    static let ports = 24000..<30000

    struct Member {
        let name: String
        let clientPort: Int
        let peerPort: Int
        /// `127.0.0.1:PORT`, as the Hostesses are given it and report it (`status.directory.endpoint`).
        var endpoint: String { "127.0.0.1:\(clientPort)" }
        var clientURL: String { "http://127.0.0.1:\(clientPort)" }
        var peerURL: String { "http://127.0.0.1:\(peerPort)" }
    }

    private(set) var members: [Member] = []
    /// The temporary directory with every member's data directory and log.
    let directory: String
    private var processes: [Process?] = []
    private let token = "hostess-fleet-" + UUID().uuidString.lowercased()
    private let lock = NSLock()

    /// `etcd://127.0.0.1:A,127.0.0.1:B,…`, the `--directory` of every member in order.
    var endpoints: String { "etcd://" + members.map(\.endpoint).joined(separator: ",") }

    /// Starts `count` members and waits until each answers `GET /health` with `"health":"true"` (a leader is
    /// elected), choosing other ports and starting again when that fails (a port taken in the meantime).
    /// - Throws: when `/usr/bin/etcd` is missing (the tests then fail: they never skip) or the cluster does not
    ///   start in 4 attempts, with the members' logs.
    init(members count: Int = 1) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw TestFailure(
                "\(Self.executable) is missing: the fleet directory tests need a real etcd; install Debian's etcd-server (3.4), as .ci/run does (apt-get install etcd-server)")
        }
        precondition((1...5).contains(count))
        var template = Array("/tmp/hostess-etcd-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
        directory = String(cString: made)
        var failures: [String] = []
        for attempt in 1...4 {
            members = []
            var taken = Set<Int>()
            for index in 0..<count {
                let client = PortPicker.freePort(in: Self.ports, avoiding: taken)
                taken.insert(client)
                let peer = PortPicker.freePort(in: Self.ports, avoiding: taken)
                taken.insert(peer)
                members.append(Member(name: "m\(index)", clientPort: client, peerPort: peer))
            }
            processes = Array(repeating: nil, count: count)
            var failed: String?
            for index in 0..<count {
                do { try launch(index) } catch {
                    failed = "m\(index) did not launch: \(error)"
                    break
                }
            }
            if failed == nil {
                for index in 0..<count where !waitUntilHealthy(index, timeout: 20) {
                    failed = "m\(index) (\(members[index].endpoint)) did not become healthy within 20 s"
                    break
                }
            }
            guard let failed else { return }
            failures.append("attempt \(attempt): \(failed)\n" + logsTail(lines: 15))
            for index in 0..<count { kill(index) }
            for member in members { try? FileManager.default.removeItem(atPath: dataDirectory(member)) }
            for member in members { PortPicker.release([member.clientPort, member.peerPort]) }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw TestFailure("etcd (\(count) members) did not start on loopback:\n" + failures.joined(separator: "\n---\n"))
    }

    deinit { stopAll() }

    private func dataDirectory(_ member: Member) -> String { directory + "/" + member.name + ".etcd" }
    private func logPath(_ index: Int) -> String { directory + "/" + members[index].name + ".log" }

    /// Starts member `index`'s process (its data directory kept: a restart rejoins with it).
    private func launch(_ index: Int) throws {
        let member = members[index]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = [
            "--name", member.name, "--data-dir", dataDirectory(member),
            "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
            "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
            "--initial-cluster", members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ","),
            "--initial-cluster-state", "new", "--initial-cluster-token", token,
        ]
        process.environment = ["PATH": "/usr/bin:/bin"]
        let log = logPath(index)
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        handle.write(Data("==== hostess test: starting \(member.name) at \(Date())\n".utf8))
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? handle.close()
        lock.withLock { processes[index] = process }
    }

    private func process(_ index: Int) -> Process? { lock.withLock { processes[index] } }

    /// Whether member `index` runs.
    func isRunning(_ index: Int) -> Bool { process(index)?.isRunning ?? false }

    /// The member whose endpoint is `endpoint` (`127.0.0.1:PORT`).
    func member(at endpoint: String) -> Int? { members.firstIndex { $0.endpoint == endpoint } }

    /// Starts member `index` again on the same ports and data directory and waits until it is healthy.
    func start(_ index: Int, timeout: Double = 20) throws {
        guard !isRunning(index) else { return }
        try launch(index)
        guard waitUntilHealthy(index, timeout: timeout) else {
            throw TestFailure("etcd \(members[index].name) (\(members[index].endpoint)) did not become healthy within \(timeout) s after a restart:\n\(logTail(index, lines: 30))")
        }
    }

    /// Stops member `index` cleanly (SIGTERM), SIGKILL after 10 s; returns once it has exited.
    func stop(_ index: Int) {
        guard let process = process(index), process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Kills member `index` (SIGKILL) and waits for its exit.
    func kill(_ index: Int) {
        guard let process = process(index), process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Kills every member still running and removes the directory (data and logs).
    func stopAll() {
        for index in members.indices { kill(index) }
        PortPicker.release(members.flatMap { [$0.clientPort, $0.peerPort] })
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Health

    /// Whether member `index` answers `GET /health` with `"health":"true"` now.
    func isHealthy(_ index: Int) -> Bool {
        guard let outcome = try? curl(index, "/health", timeout: 1) else { return false }
        return outcome.status == 0 && outcome.stdout.contains(#""health":"true""#)
    }

    private func waitUntilHealthy(_ index: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard isRunning(index) else { return false }
            if isHealthy(index) { return true }
            usleep(100_000)
        }
        return false
    }

    // MARK: Reading etcd

    /// The keys under `prefix` (keys only), read from the first running member (or `member`): what is in etcd
    /// now, for assertions.
    func keys(prefix: String, member: Int? = nil) throws -> [String] {
        let body: JSONValue = [
            "key": .string(Self.base64(prefix)), "range_end": .string(Self.base64(Self.rangeEnd(prefix))), "keys_only": true,
        ]
        let reply = try post("/v3/kv/range", body, member: member)
        guard let kvs = reply["kvs"]?.elements else { return [] }
        return try kvs.map { item in
            guard let encoded = item.objectValue?["key"]?.stringValue, let data = Data(base64Encoded: encoded) else {
                throw TestFailure("etcd's range reply has a key that is not base64: \(JSONValue.object(reply).jsonText)")
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// The ids of the leases etcd holds now.
    func leases(member: Int? = nil) throws -> [Int64] {
        let reply = try post("/v3/lease/leases", [:], member: member)
        return (reply["leases"]?.elements ?? []).compactMap { item -> Int64? in
            switch item.objectValue?["ID"] {
            case .string(let text)?: Int64(text)
            case .int(let value)?: value
            default: nil
            }
        }
    }

    /// A POST to etcd's JSON gateway on a running member; the reply as an object.
    func post(_ path: String, _ body: JSONValue, member: Int? = nil) throws -> JSONObject {
        guard let index = member ?? members.indices.first(where: isRunning) else { throw TestFailure("no etcd member runs") }
        let outcome = try curl(index, path, body: body.jsonText, timeout: 5)
        guard outcome.status == 0, let reply = (try? JSONParser.parse(outcome.stdout))?.objectValue else {
            throw TestFailure("etcd \(members[index].name) POST \(path) \(body.jsonText): \(outcome)")
        }
        if reply["error"] != nil || reply["code"] != nil, reply["header"] == nil {
            throw TestFailure("etcd \(members[index].name) POST \(path) refused: \(outcome.stdout)")
        }
        return reply
    }

    private func curl(_ index: Int, _ path: String, body: String? = nil, timeout: Double) throws -> CLI.Outcome {
        var arguments = ["-sS", "--noproxy", "*", "--max-time", String(timeout)]
        if let body { arguments += ["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body] }
        arguments.append(members[index].clientURL + path)
        return try CLI.run("/usr/bin/curl", arguments, timeout: timeout + 5)
    }

    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    /// The end of the range of every key that starts with `prefix`: `prefix` with its last byte raised by one.
    static func rangeEnd(_ prefix: String) -> String {
        var bytes = Array(prefix.utf8)
        precondition(!bytes.isEmpty && bytes.last! < 0x7F)
        bytes[bytes.count - 1] += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Logs

    /// The last `lines` lines of member `index`'s log.
    func logTail(_ index: Int, lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath(index), encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Every member's log tail, for failure messages.
    func logsTail(lines: Int = 10) -> String {
        members.indices.map { "etcd \(members[$0].name) (\(members[$0].endpoint), \(isRunning($0) ? "running" : "not running")):\n\(logTail($0, lines: lines))" }
            .joined(separator: "\n")
    }
}

// MARK: - PortPicker

/// Loopback TCP ports nothing listens on, never the same one twice while it is held by a test of this process.
enum PortPicker {
    private nonisolated(unsafe) static var held = Set<Int>()
    private static let lock = NSLock()

    /// A port of `range` that a listener can bind on 127.0.0.1 now, not held and not in `avoiding`; held until
    /// ``release(_:)``.
    static func freePort(in range: Range<Int>, avoiding: Set<Int> = []) -> Int {
        lock.lock()
        defer { lock.unlock() }
        for _ in 0..<200 {
            let port = Int.random(in: range)
            guard !held.contains(port), !avoiding.contains(port), isFree(port) else { continue }
            held.insert(port)
            return port
        }
        let port = Int.random(in: range)
        held.insert(port)
        return port
    }

    /// Gives `ports` back.
    static func release(_ ports: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        held.subtract(ports)
    }

    /// Whether a listener can bind 127.0.0.1:`port`.
    static func isFree(_ port: Int) -> Bool {
        guard let address = try? InternetSocketAddress(parsing: "127.0.0.1:\(port)"), let fd = try? Syscall.tcpListener(address) else { return false }
        Syscall.close(fd)
        return true
    }
}
