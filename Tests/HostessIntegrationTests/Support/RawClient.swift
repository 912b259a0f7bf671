import Foundation
import Glibc
import HostessModel
import HostessSystem

// MARK: - RawClient

/// A protocol client that speaks raw lines over a real Unix socket, so tests can send anything, including
/// what no well-behaved client would.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID: Int64 = 1

    init(path: String) throws {
        // Assigned only once connected: a throwing init of a fully initialized class still runs deinit,
        // which would close the descriptor a second time.
        let socket = try Syscall.unixStreamSocket(nonBlocking: false)
        do { try Syscall.connect(socket, to: try UnixSocketAddress(path: path)) } catch {
            Syscall.close(socket)
            throw error
        }
        fd = socket
    }

    deinit { Syscall.close(fd) }

    /// Shuts the connection down in both directions.
    func close() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    /// Stops sending; the daemon sees end of input.
    func finishSending() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// Sends raw bytes.
    func send(bytes: [UInt8]) throws { try Syscall.writeAll(fd, bytes, socket: true) }

    /// Sends one line (a newline is added).
    func send(_ line: String) throws { try send(bytes: Array((line + "\n").utf8)) }

    /// Reads one line, waiting up to `timeout` seconds; nil at end of stream or on timeout.
    func readLine(timeout: Double = 5) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(remaining * 1000) + 1) > 0 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = Glibc.read(fd, &chunk, chunk.count)
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// Whether the daemon closed the connection within `timeout` seconds (lines before the close are skipped).
    func isClosedByPeer(within timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while deadline.timeIntervalSinceNow > 0 {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(deadline.timeIntervalSinceNow * 1000) + 1) > 0 else { return false }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count <= 0 { return true }
        }
        return false
    }

    /// Reads one reply line as JSON.
    func readReply(timeout: Double = 5) throws -> JSONObject {
        guard let line = readLine(timeout: timeout) else { throw TestFailure("no reply within \(timeout) s") }
        guard let object = try JSONParser.parse(line).objectValue else { throw TestFailure("reply is not an object: \(line)") }
        return object
    }

    /// Sends a command with parameters and returns its reply.
    func request(_ command: String, _ parameters: JSONObject = [:], timeout: Double = 5) throws -> JSONObject {
        var request: JSONObject = ["id": .int(nextID), "command": .string(command)]
        nextID += 1
        for member in parameters { request[member.key] = member.value }
        try send(JSONValue.object(request).jsonText)
        return try readReply(timeout: timeout)
    }
}

// MARK: - Reply helpers

extension JSONObject {
    /// The `result` object of a reply, or nil for an error reply.
    var result: JSONObject? { self["result"]?.objectValue }
    /// The error code of an error reply.
    var errorCode: String? { self["error"]?.objectValue?["code"]?.stringValue }
    /// The error field of an error reply.
    var errorField: String? { self["error"]?.objectValue?["field"]?.stringValue }
    /// The error message of an error reply.
    var errorMessage: String? { self["error"]?.objectValue?["message"]?.stringValue }
    /// The reply's revision.
    var revision: Int64? {
        if case .int(let value)? = self["revision"] { return value }
        return nil
    }
}

// MARK: - Fixtures

enum Fixture {
    /// A fresh canonical id for a server owned by `owner`.
    static func id(servername: String = "pty-server", classCode: String = "0x0001", owner: String = "root", fqdn: String = "localhost") -> String {
        "\(fqdn):\(servername):\(classCode):\(owner):no:none:\(UUID().uuidString.lowercased())"
    }

    /// A register request's `entry` with two terminals: `stdin` (none) and `stdout` (fanout).
    static func entry(id: String, capabilities: [String] = ["pty", "vt100"]) -> JSONValue {
        [
            "id": .string(id),
            "terminals": [
                "stdin": ["direction": "input", "multiplexing": "none", "protocol": "raw-bytes"],
                "stdout": ["direction": "output", "multiplexing": "fanout"],
            ],
            "capabilities": .array(capabilities.map(JSONValue.string)),
            "metadata": ["version": "1.0.0", "nested": ["list": [1, 2.5, "x", nil, true]]],
        ]
    }
}
