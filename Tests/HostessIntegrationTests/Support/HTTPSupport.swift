import Foundation
import Glibc
import HostessModel
import HostessSystem

// MARK: - HTTPReply

/// One HTTP response as a test client saw it: status, header fields in order, body.
struct HTTPReply: CustomStringConvertible, Sendable {
    var status: Int
    var reason: String
    /// The header fields in order, names as sent.
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    /// The value of the first field named `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Every value of the fields named `name` (case-insensitive).
    func headers(named name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON, or nil.
    var json: JSONValue? { try? JSONParser.parse(body) }

    /// The `error.code` of an error body.
    var errorCode: String? { json?.objectValue?["error"]?.objectValue?["code"]?.stringValue }

    /// The `error.message` of an error body.
    var errorMessage: String? { json?.objectValue?["error"]?.objectValue?["message"]?.stringValue }

    /// `X-Hostess-Index` as a number.
    var index: UInt64? { header("X-Hostess-Index").flatMap { UInt64($0) } }

    var description: String {
        "HTTP \(status) \(reason)\n" + headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n") + "\n\n" + text
    }

    /// Parses a whole response at the start of `bytes`: nil when it is not complete yet. `head` says the
    /// request was HEAD (no body follows, whatever `Content-Length` says).
    static func parse(_ bytes: [UInt8], head: Bool = false) -> (reply: HTTPReply, consumed: Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(separator) }) else {
            return nil
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        let status = statusParts.count >= 2 ? Int(statusParts[1]) ?? -1 : -1
        let reason = statusParts.count >= 3 ? String(statusParts[2]) : ""
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var reply = HTTPReply(status: status, reason: reason, headers: headers, body: [])
        let bodyStart = end + 4
        let noBody = head || (100..<200).contains(status) || status == 204 || status == 304
        let length = noBody ? 0 : Int(reply.header("Content-Length") ?? "0") ?? 0
        guard bytes.count - bodyStart >= length else { return nil }
        reply.body = Array(bytes[bodyStart..<(bodyStart + length)])
        return (reply, bodyStart + length)
    }
}

// MARK: - Keys

/// The signing keys every HTTP test daemon knows.
enum TestKeys {
    struct Key {
        var id: String
        var secret: String
        var owners: [String]
    }

    /// Acts as owner `alice`.
    static let alice = Key(id: "alice-key", secret: "alice-secret-0123456789", owners: ["alice"])
    /// Acts as `alice` and `bob`.
    static let ops = Key(id: "ops-key", secret: "ops-secret-0123456789abcdef", owners: ["alice", "bob"])
    /// No owner list: acts as the owner named like the key.
    static let carol = Key(id: "carol", secret: "carol-secret-0123456789ab", owners: ["carol"])

    /// The `--secrets` file.
    static let file = """
        # HTTP signing keys for the integration tests: KEY_ID SECRET [OWNER,OWNER...]
        \(alice.id) \(alice.secret) alice

        \(ops.id)\t\(ops.secret) alice,bob
        \(carol.id) \(carol.secret)

        """
}

// MARK: - HTTPDaemon

/// A real hostessd serving HTTP on a loopback port the kernel chose, with the test keys; the address is read
/// from the socket protocol's `status` (`result.http`).
final class HTTPDaemon: @unchecked Sendable {
    let daemon: DaemonProcess
    let scratch: ScratchDirectory
    let secretsPath: String
    /// `127.0.0.1:PORT` or `[::1]:PORT`.
    let address: String
    let port: Int

    var url: String { "http://\(address)" }

    /// Starts hostessd with `--http listen --secrets FILE` and `arguments`.
    init(listen: String = "127.0.0.1:0", _ arguments: [String] = [], secrets: String = TestKeys.file) throws {
        scratch = try ScratchDirectory()
        secretsPath = try Self.writePrivate(scratch, "secrets", secrets)
        daemon = try DaemonProcess(["--http", listen, "--secrets", secretsPath] + arguments, scratch: scratch)
        let status = try daemon.client().request("status")
        guard let http = status.result?["http"]?.stringValue else {
            throw TestFailure("status has no result.http: \(status)\nlog:\n\(daemon.log)")
        }
        guard let colon = http.lastIndex(of: ":"), let port = Int(http[http.index(after: colon)...]), port > 0 else {
            throw TestFailure("status reports http '\(http)', not HOST:PORT with a real port")
        }
        address = http
        self.port = port
    }

    /// Writes `text` to `name` in `scratch` with mode 0600 and returns the path.
    static func writePrivate(_ scratch: ScratchDirectory, _ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = try scratch.write(name, text)
        guard chmod(path, mode) == 0 else { throw SystemError("chmod \(path)", errno: errno) }
        return path
    }

    /// A new socket-protocol client (to cross-check what HTTP did).
    func socketClient() throws -> RawClient { try daemon.client() }

    /// A new raw TCP connection to the HTTP interface.
    func tcp() throws -> TCPClient { try TCPClient(address: address) }

    /// `GET /health` over a fresh connection, for "the daemon still serves" checks.
    func isHealthy(timeout: Double = 5) -> Bool {
        guard let client = try? tcp() else { return false }
        guard (try? client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")) != nil else { return false }
        return client.readResponse(timeout: timeout)?.status == 200
    }

    /// The entry `id` as the socket protocol sees it, or nil when the book has none.
    func socketEntry(_ id: String) throws -> JSONObject? {
        let reply = try socketClient().request("getServer", ["serverId": .string(id)])
        if reply.errorCode == "not_found" { return nil }
        guard let entry = reply.result?["entry"]?.objectValue else { throw TestFailure("getServer: \(reply)") }
        return entry
    }

    /// Registers `entry` over the socket (as root) and returns the stored entry.
    @discardableResult
    func socketRegister(_ entry: JSONValue) throws -> JSONObject {
        let reply = try socketClient().request("register", ["entry": entry])
        guard let stored = reply.result?["entry"]?.objectValue else { throw TestFailure("register: \(reply)") }
        return stored
    }
}

// MARK: - TCPClient

/// A raw TCP client for the HTTP interface: sends any bytes, reads responses (with deadlines) and notices
/// when the daemon closes the connection.
final class TCPClient: @unchecked Sendable {
    let fd: Int32
    /// Received bytes not yet returned as a response.
    private(set) var buffer: [UInt8] = []
    /// Whether the daemon closed (or reset) the connection.
    private(set) var endOfStream = false

    init(address: String) throws {
        fd = try Syscall.tcpConnect(try InternetSocketAddress(parsing: address))
    }

    deinit { Syscall.close(fd) }

    func send(_ text: String) throws { try send(bytes: Array(text.utf8)) }

    func send(bytes: [UInt8]) throws { try Syscall.writeAll(fd, bytes, socket: true) }

    /// Stops sending: the daemon sees the end of input.
    func finishSending() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Resets the connection (SO_LINGER 0), as a crashed client would.
    func abort() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Reads once, waiting until `deadline`; false on timeout or at the end of the stream.
    private func fill(until deadline: Date) -> Bool {
        guard !endOfStream else { return false }
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(remaining * 1000) + 1) > 0 else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = Glibc.read(fd, &chunk, chunk.count)
        guard count > 0 else {
            endOfStream = true
            return false
        }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    /// The next whole response, waiting up to `timeout` seconds; nil if none came.
    func readResponse(timeout: Double = 5, head: Bool = false) -> HTTPReply? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let (reply, consumed) = HTTPReply.parse(buffer, head: head) {
                buffer.removeFirst(consumed)
                return reply
            }
            guard fill(until: deadline) else { return nil }
        }
    }

    /// Whether the daemon closes the connection within `timeout` seconds; bytes sent before the close stay
    /// in ``buffer``.
    func isClosedByPeer(within timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !endOfStream && deadline.timeIntervalSinceNow > 0 { _ = fill(until: deadline) }
        return endOfStream
    }

    /// Whether anything arrives within `timeout` seconds (without consuming it).
    func receivesSomething(within timeout: Double) -> Bool {
        let before = buffer.count
        _ = fill(until: Date().addingTimeInterval(timeout))
        return buffer.count > before || endOfStream
    }
}

// MARK: - curl

/// Runs `curl -s -i` (or `-I` for HEAD) and parses what it printed.
enum Curl {
    /// The response to `method url`, with extra `-H` headers and a `--data-binary` body.
    static func request(
        _ method: String, _ url: String, headers: [String] = [], body: String? = nil, extra: [String] = [], timeout: Double = 10
    ) throws -> (reply: HTTPReply, elapsed: Double) {
        var arguments = ["-s", "-g", "--path-as-is", "--max-time", String(timeout)]
        // No `Expect: 100-continue` unless the test asks for one itself.
        if !headers.contains(where: { $0.lowercased().hasPrefix("expect:") }) { arguments += ["-H", "Expect:"] }
        if method == "HEAD" {
            arguments.append("-I")
        } else {
            arguments.append("-i")
            if method != "GET" || body != nil { arguments += ["-X", method] }
        }
        for header in headers { arguments += ["-H", header] }
        if let body { arguments += ["--data-binary", body] }
        arguments += extra
        arguments.append(url)
        let started = Date()
        let outcome = try CLI.run("/usr/bin/env", ["curl"] + arguments, timeout: timeout + 5)
        let elapsed = Date().timeIntervalSince(started)
        guard outcome.status == 0 else { throw TestFailure("curl \(arguments) failed: \(outcome)") }
        var bytes = Array(outcome.stdout.utf8)
        // Skip interim 1xx responses.
        while let (reply, consumed) = HTTPReply.parse(bytes, head: true), (100..<200).contains(reply.status) {
            bytes.removeFirst(consumed)
        }
        guard let (head, consumed) = HTTPReply.parse(bytes, head: true) else {
            throw TestFailure("curl printed no HTTP response: \(outcome)")
        }
        var reply = head
        reply.body = Array(bytes[consumed...])
        return (reply, elapsed)
    }
}

// MARK: - Python http.client

/// Runs Support/http_client.py: requests through Python's `http.client`, signed in Python with `hmac` and
/// `hashlib`, independent of hostess's own signing code.
enum PythonHTTP {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("http_client.py").path

    /// How to sign a request (the sign* fields sign something else than what is sent).
    struct Signing {
        var key: TestKeys.Key
        var ts: Int64?
        var tsOffset: Int64 = 0
        var nonce: String?
        var signSecret: String?
        var signTarget: String?
        var signBody: String?

        var json: JSONValue {
            var object: JSONObject = ["keyId": .string(key.id), "secret": .string(key.secret), "tsOffset": .int(tsOffset)]
            if let ts { object["ts"] = .int(ts) }
            if let nonce { object["nonce"] = .string(nonce) }
            if let signSecret { object["signSecret"] = .string(signSecret) }
            if let signTarget { object["signTarget"] = .string(signTarget) }
            if let signBody { object["signBody"] = .string(signBody) }
            return .object(object)
        }
    }

    struct Request {
        var method: String
        var target: String
        var headers: [(String, String)] = []
        var body: String?
        var sign: Signing?
        var newConnection = false
        /// Seconds Python waits before sending it.
        var delay = 0.0

        /// A JSON body with `Content-Type: application/json`.
        static func json(_ method: String, _ target: String, _ body: JSONValue?, sign: Signing? = nil) -> Request {
            Request(
                method: method, target: target, headers: body == nil ? [] : [("Content-Type", "application/json")], body: body?.jsonText,
                sign: sign)
        }

        var json: JSONValue {
            var object: JSONObject = [
                "method": .string(method), "target": .string(target),
                "headers": .array(headers.map { [.string($0.0), .string($0.1)] }), "newConnection": .bool(newConnection),
                "delay": .double(delay),
            ]
            if let body { object["body"] = .string(body) }
            if let sign { object["sign"] = sign.json }
            return .object(object)
        }
    }

    /// What one request got.
    struct Result: CustomStringConvertible {
        var reply: HTTPReply?
        var error: String?
        var elapsed: Double
        var localPort: Int?
        var authorization: String?
        var description: String { reply.map { "\($0)" } ?? "error: \(error ?? "?")" }
    }

    /// Sends `requests` in order (one kept-alive connection unless a request asks for a new one).
    static func run(_ daemon: HTTPDaemon, _ requests: [Request], host: String = "127.0.0.1", timeout: Double = 10) throws -> [Result] {
        let spec: JSONValue = [
            "host": .string(host), "port": .int(Int64(daemon.port)), "timeout": .double(timeout),
            "requests": .array(requests.map(\.json)),
        ]
        let output = try invoke(spec, timeout: timeout * Double(max(requests.count, 1)) + 10)
        guard case .array(let items)? = output.objectValue?["results"], items.count == requests.count else {
            throw TestFailure("http_client.py answered \(output.jsonText)")
        }
        return items.map { item in
            let object = item.objectValue ?? [:]
            var result = Result(
                reply: nil, error: object["error"]?.stringValue, elapsed: object["elapsed"]?.number ?? -1,
                localPort: object["localPort"]?.number.map { Int($0) }, authorization: object["authorization"]?.stringValue)
            if let status = object["status"]?.number {
                var headers: [(name: String, value: String)] = []
                for pair in object["headers"]?.elements ?? [] {
                    let parts = pair.elements ?? []
                    if parts.count == 2, let name = parts[0].stringValue, let value = parts[1].stringValue { headers.append((name, value)) }
                }
                result.reply = HTTPReply(
                    status: Int(status), reason: object["reason"]?.stringValue ?? "", headers: headers,
                    body: Array((object["body"]?.stringValue ?? "").utf8))
            }
            return result
        }
    }

    /// Runs the script with `spec` on stdin and returns what it printed, as JSON.
    static func invoke(_ spec: JSONValue, timeout: Double = 30) throws -> JSONValue {
        let outcome = try CLI.run("/usr/bin/env", ["python3", script], stdin: spec.jsonText, timeout: timeout)
        guard outcome.status == 0 else { throw TestFailure("python3 http_client.py failed: \(outcome)") }
        do { return try JSONParser.parse(outcome.stdout) } catch {
            throw TestFailure("http_client.py printed no JSON: \(outcome)")
        }
    }

    /// The `Authorization` header Python computes for a request another client sends.
    static func authorization(_ method: String, _ target: String, body: String?, _ signing: Signing) throws -> String {
        var spec: JSONObject = ["mode": "sign", "method": .string(method), "target": .string(target), "sign": signing.json]
        if let body { spec["body"] = .string(body) }
        guard let header = try invoke(.object(spec)).objectValue?["authorization"]?.stringValue else {
            throw TestFailure("http_client.py did not sign \(method) \(target)")
        }
        return header
    }

    /// Why this machine cannot serve on `[::1]`, or nil when it can.
    static func ipv6LoopbackUnavailableReason() throws -> String? {
        let answer = try invoke(["mode": "probe-ipv6"])
        if answer.objectValue?["ok"] == .bool(true) { return nil }
        return answer.objectValue?["reason"]?.stringValue ?? "probe said \(answer.jsonText)"
    }
}

// MARK: - Helpers

/// Runs `body` on another thread; `wait` returns its result (or throws its error), waiting at most `timeout`.
final class Background<T>: @unchecked Sendable {
    private let group = DispatchGroup()
    private var result: Swift.Result<T, Error>?

    init(_ body: @escaping @Sendable () throws -> T) {
        group.enter()
        Thread.detachNewThread { [self] in
            result = Swift.Result { try body() }
            group.leave()
        }
    }

    func wait(timeout: Double) throws -> T {
        guard group.wait(timeout: .now() + timeout) == .success, let result else {
            throw TestFailure("the background work did not finish within \(timeout) s")
        }
        return try result.get()
    }
}

extension JSONValue {
    /// The items, when this is an array.
    var elements: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    /// The number, when this is one.
    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}

/// Seconds since the Unix epoch, as the signature's `ts`.
func unixSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }

/// A fresh random nonce of 32 hex digits.
func freshNonce() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
