import Foundation
import Glibc
import HostessDirectory
import HostessHTTP
import HostessSystem

// MARK: - EtcdServer

/// A private etcd (`/usr/bin/etcd`) on loopback: free ports in ``ports`` chosen here, its data in a temporary
/// directory, stopped and removed by ``stop()``.
final class EtcdServer: @unchecked Sendable {
    static let executable = "/usr/bin/etcd"
    /// Where its ports are drawn from: above 20000, below the kernel's ephemeral range (32768 on), and clear of the
    /// fixed ranges the probing tests fill at the same time (20000–23999 and 30000–33999).
    static let ports = 24000..<30000

    let clientPort: Int
    let directory: URL
    private let process: Process

    /// `127.0.0.1:PORT`, the `Host` of requests.
    var host: String { "127.0.0.1:\(clientPort)" }

    /// Starts etcd and waits until it answers `/health`, trying other ports if the ones chosen were taken in
    /// the meantime.
    /// - Parameter arguments: More arguments for etcd.
    init(_ arguments: [String] = []) throws {
        var random = SystemRandomNumberGenerator()
        var failures: [String] = []
        for _ in 0..<5 {
            let client = Self.freePort(&random)
            let peer = Self.freePort(&random)
            guard client != peer else { continue }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostess-etcd-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.executable)
            let clientURL = "http://127.0.0.1:\(client)"
            let peerURL = "http://127.0.0.1:\(peer)"
            process.arguments = [
                "--name", "default", "--data-dir", directory.appendingPathComponent("data").path,
                "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
                "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
                "--initial-cluster", "default=\(peerURL)",
            ] + arguments
            // No ETCD_* variable of the machine's may change what the test starts.
            process.environment = ["PATH": "/usr/bin:/bin"]
            let log = directory.appendingPathComponent("log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try? handle.close()
            if Self.waitUntilHealthy(port: client, process: process) {
                clientPort = client
                self.directory = directory
                self.process = process
                return
            }
            Self.stop(process)
            failures.append((try? String(contentsOf: log, encoding: .utf8).suffix(2000).description) ?? "no log")
            try? FileManager.default.removeItem(at: directory)
        }
        throw TestFailure("etcd did not start on loopback:\n" + failures.joined(separator: "\n---\n"))
    }

    /// Stops etcd (SIGTERM, then SIGKILL after 5 s) and removes its directory.
    func stop() {
        Self.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<50 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// A port of ``ports`` nothing listens on now.
    private static func freePort(_ random: inout SystemRandomNumberGenerator) -> Int {
        for _ in 0..<100 {
            let port = Int.random(in: ports, using: &random)
            guard let address = try? InternetSocketAddress(parsing: "127.0.0.1:\(port)"),
                let fd = try? Syscall.tcpListener(address)
            else { continue }
            Syscall.close(fd)
            return port
        }
        return Int.random(in: ports, using: &random)
    }

    /// Whether etcd answers `GET /health` with `"health":"true"` within 20 s.
    private static func waitUntilHealthy(port: Int, process: Process) -> Bool {
        for _ in 0..<200 {
            guard process.isRunning else { return false }
            if let reply = try? LoopbackHTTP.exchange(port: port, bytes: HTTPClientRequest.serialized(method: "GET", target: "/health", host: "127.0.0.1"), timeout: 1),
                reply.status == 200, String(decoding: reply.body, as: UTF8.self).contains(#""health":"true""#)
            {
                return true
            }
            usleep(100_000)
        }
        return false
    }

    // MARK: Requests

    /// The reply to `request`, over a fresh connection.
    func send(_ request: EtcdRequest, token: String? = nil) throws -> HTTPClientResponse {
        try LoopbackHTTP.exchange(port: clientPort, bytes: request.serialized(host: host, token: token, headers: [HTTPHeader(name: "Connection", value: "close")]))
    }

    /// A request the directory does not make (compaction, user administration), as the gateway takes it.
    func post(_ target: String, _ body: String, token: String? = nil) throws -> HTTPClientResponse {
        try send(EtcdRequest(target: target, body: Array(body.utf8)), token: token)
    }
}

// MARK: - LoopbackHTTP

/// Blocking HTTP/1.1 over loopback TCP, for tests: every wait bounded by a deadline.
enum LoopbackHTTP {
    /// Sends `bytes` to `127.0.0.1:port` and reads one response with HTTPResponseParser.
    static func exchange(port: Int, bytes: [UInt8], timeout: Double = 10) throws -> HTTPClientResponse {
        let connection = try Connection(port: port)
        try connection.send(bytes)
        var parser = HTTPResponseParser()
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let piece = try connection.receive(until: deadline)
            received += piece ?? []
            switch parser.parse(received, atEndOfInput: piece == nil) {
            case .incomplete: continue
            case .response(let response, _): return response
            case .failure(let error): throw TestFailure("not an HTTP response: \(error)")
            }
        }
    }

    /// A TCP connection to a loopback port.
    final class Connection {
        private let fd: Int32

        init(port: Int) throws {
            fd = try Syscall.tcpConnect(try InternetSocketAddress(parsing: "127.0.0.1:\(port)"))
        }

        deinit { Syscall.close(fd) }

        func send(_ bytes: [UInt8]) throws { try Syscall.writeAll(fd, bytes, socket: true) }

        /// The bytes that arrive next; nil at the end of the stream.
        /// - Throws: when nothing arrives before `deadline`.
        func receive(until deadline: Date) throws -> [UInt8]? {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw TestFailure("nothing arrived in time") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(remaining * 1000) + 1) > 0 else { throw TestFailure("nothing arrived in time") }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = Glibc.read(fd, &buffer, buffer.count)
            guard count > 0 else { return nil }
            return Array(buffer[..<count])
        }
    }
}

// MARK: - EtcdWatchStream

/// A watch over its own connection: the response's head and chunked body read by HTTPResponseStreamParser as
/// they arrive, the body by EtcdWatchDecoder.
final class EtcdWatchStream {
    private let connection: LoopbackHTTP.Connection
    private var parser = HTTPResponseStreamParser()
    private var decoder = EtcdWatchDecoder()
    /// The response's head, once it has arrived.
    private(set) var head: HTTPClientResponse?

    init(_ etcd: EtcdServer, _ request: EtcdRequest, token: String? = nil) throws {
        connection = try LoopbackHTTP.Connection(port: etcd.clientPort)
        try connection.send(request.serialized(host: etcd.host, token: token))
    }

    /// The next watch response, waiting at most `timeout` seconds.
    func next(timeout: Double = 10) throws -> EtcdWatchResponse {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let response = try decoder.next() { return response }
            let piece = try connection.receive(until: deadline)
            let output = try parser.parse(piece ?? [], atEndOfInput: piece == nil)
            if let arrived = output.head {
                guard arrived.status == 200 else { throw TestFailure("the watch was answered \(arrived.status)") }
                head = arrived
            }
            decoder.append(output.body)
            if output.isComplete {
                if let response = try decoder.next() { return response }
                try decoder.finish()
                throw TestFailure("the watch stream ended")
            }
        }
    }

    /// The next response that carries events, skipping progress notifications, within `timeout` seconds.
    func nextEvents(timeout: Double = 10) throws -> EtcdWatchResponse {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let response = try next(timeout: deadline.timeIntervalSinceNow)
            if !response.events.isEmpty || response.canceled { return response }
        }
    }
}
