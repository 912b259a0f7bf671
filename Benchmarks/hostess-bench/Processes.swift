import Foundation
import Glibc
import HostessRegion
import HostessSystem

// MARK: - Daemon

/// A hostessd started from the same build, on a private socket, stopped when the run ends.
final class BenchDaemon {
    let process = Process()
    let socketPath: String
    let sharedMemoryName: String
    let directory: String

    /// Starts hostessd sized for `capacity` entries.
    init(capacity: Int) throws {
        var template = Array("/tmp/hostess-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
        directory = String(cString: made)
        socketPath = directory + "/hostess.sock"
        sharedMemoryName = "/hostess-bench-\(getpid())-\(SystemClock.monotonicNanoseconds() % 1_000_000)"
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.executableURL = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostessd")
        process.arguments = ["--socket", socketPath, "--ttl", "3600", "--shm", sharedMemoryName, "--capacity", String(max(capacity, 1024)), "--entry-bytes", "2048",
            "--max-connections", "64"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<500 {
            if let client = try? LineClient(path: socketPath) {
                client.close()
                return
            }
            usleep(10_000)
        }
        throw SystemError("hostessd did not start", errno: ETIMEDOUT)
    }

    /// hostessd's resident memory, in bytes (VmRSS).
    var residentBytes: Int { memory.resident }

    /// hostessd's resident memory and its parts, in bytes, from `/proc/PID/status`: its own heap and stacks
    /// (RssAnon), the pages of the shared-memory region it has written (RssShmem), and mapped files (RssFile).
    var memory: (resident: Int, anonymous: Int, shared: Int, file: Int) {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8) else {
            return (0, 0, 0, 0)
        }
        func field(_ name: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }),
                let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
            else { return 0 }
            return kilobytes * 1024
        }
        return (field("VmRSS"), field("RssAnon"), field("RssShmem"), field("RssFile"))
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A blocking request/response client: the floor of what the socket path costs.
final class LineClient: @unchecked Sendable {
    let fd: Int32
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []

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

    func close() { Syscall.close(fd) }

    /// Sends `line` and returns the reply line's bytes.
    func roundTrip(_ line: [UInt8]) -> ArraySlice<UInt8> {
        try? Syscall.writeAll(fd, line, socket: true)
        return readLine()
    }

    /// Sends `line` without waiting for the reply.
    func send(_ line: [UInt8]) { try? Syscall.writeAll(fd, line, socket: true) }

    /// Reads one reply line.
    func receive() -> ArraySlice<UInt8> { readLine() }

    /// Reads exactly `count` bytes.
    func readBytes(_ count: Int) -> [UInt8] {
        while pending.count < count {
            let got = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.read(fd, base, raw.count)
            }
            guard got > 0 else { return [] }
            pending.append(contentsOf: chunk[..<got])
        }
        let bytes = Array(pending[..<count])
        pending.removeSubrange(..<count)
        return bytes
    }

    /// Sends many lines at once and reads as many replies.
    func pipelined(_ lines: [[UInt8]]) {
        try? Syscall.writeAll(fd, Array(lines.joined()), socket: true)
        for _ in lines { _ = readLine() }
    }

    private func readLine() -> ArraySlice<UInt8> {
        var scanned = 0
        while true {
            if let newline = pending[scanned...].firstIndex(of: 0x0A) {
                let line = pending[..<newline]
                pending.removeSubrange(...newline)
                return line
            }
            scanned = pending.count
            let count = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.read(fd, base, raw.count)
            }
            guard count > 0 else { return [] }
            pending.append(contentsOf: chunk[..<count])
        }
    }
}


// MARK: - Redis

/// The few RESP commands the Redis rows need, spoken over Redis's Unix socket.
final class RedisClient {
    private let connection: LineClient

    init(path: String) throws { connection = try LineClient(path: path) }

    deinit { connection.close() }

    /// `SET key value`.
    func set(_ key: String, _ value: [UInt8]) {
        _ = connection.roundTrip(Self.command(["SET", key].map { Array($0.utf8) } + [value]))
    }

    /// `GET key`, returning the bulk string's bytes.
    func get(_ key: [UInt8]) -> [UInt8] {
        let header = connection.roundTrip(Self.command([Array("GET".utf8), key]))
        guard header.first == UInt8(ascii: "$"), let length = Int(String(decoding: header.dropFirst().dropLast(), as: UTF8.self)),
            length >= 0
        else { return [] }
        return connection.readBytes(length + 2).dropLast(2)
    }

    static func command(_ parts: [[UInt8]]) -> [UInt8] {
        var bytes = Array("*\(parts.count)\r\n".utf8)
        for part in parts { bytes += Array("$\(part.count)\r\n".utf8) + part + [0x0D, 0x0A] }
        return bytes
    }
}
