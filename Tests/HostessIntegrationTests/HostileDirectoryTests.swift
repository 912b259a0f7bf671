import Foundation
import Glibc
import HostessModel
import Testing

// MARK: - A hostile etcd

/// Support/fake_etcd.py on loopback: a stand-in for etcd's gateway that answers garbage, nothing, a watch
/// response too large, or a directory whose entries lie; stopped at the end.
final class FakeEtcd: @unchecked Sendable {
    let process = Process()
    let port: Int

    init(_ mode: String, _ arguments: [String] = [], scratch: ScratchDirectory) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/fake_etcd.py").path
        let portFile = scratch.path + "/fake-etcd-\(UUID().uuidString).port"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, portFile, mode] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = Int(text) {
                self.port = port
                return
            }
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        throw TestFailure("fake_etcd.py \(mode) did not start within 10 s")
    }

    deinit {
        // SIGKILL: a child started from a test's thread inherits its blocked signals, SIGTERM among them.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

// MARK: - Tests

/// Whatever an etcd member sends, hostessd keeps serving everything local at once, says in `status` what is
/// wrong with the directory, and takes nothing from it that the mesh's checks refuse.
@Suite("a hostile or broken etcd", .serialized)
struct HostileDirectoryTests {
    /// The directory's part of `status`.
    static func directory(_ daemon: HTTPDaemon) throws -> JSONObject {
        guard let directory = try daemon.socketClient().request("status").result?["directory"]?.objectValue else {
            throw TestFailure("status has no directory:\n\(daemon.daemon.log)")
        }
        return directory
    }

    /// Polls `condition` every 50 ms for at most `seconds`.
    static func within(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    /// Local requests answer at once while the directory fails: `status` over the socket and `/health`.
    static func expectServing(_ daemon: HTTPDaemon, rounds: Int = 20) throws {
        for _ in 0..<rounds {
            let started = Date()
            #expect(try daemon.socketClient().request("status").result != nil)
            #expect(daemon.isHealthy())
            #expect(Date().timeIntervalSince(started) < 0.5, "a local request waited on the directory")
            usleep(50_000)
        }
    }

    @Test(
        "garbage, silence, or a watch response over the limit: unreachable, with the reason, and local requests never wait",
        arguments: [
            ("garbage", "not an acceptable HTTP response"), ("silent", "no complete response in time"), ("hugewatch", "larger than the limit"),
        ])
    func broken(mode: String, reason: String) throws {
        let scratch = try ScratchDirectory()
        let etcd = try FakeEtcd(mode, scratch: scratch)
        let daemon = try HTTPDaemon(["--directory", "etcd://127.0.0.1:\(etcd.port)", "--announce-interval", "1"])
        try Self.expectServing(daemon)
        let failed = try Self.within(10) {
            let directory = try Self.directory(daemon)
            return directory["state"] == "unreachable" && (directory["error"]?.stringValue ?? "").contains(reason)
        }
        let seen = (try? Self.directory(daemon)).map { "\($0)" } ?? "(no status)"
        #expect(failed, "status: \(seen)\nlog:\n\(daemon.daemon.log)")
        try Self.expectServing(daemon, rounds: 5)
        // A line for the change of state, none for the retries (a watch that fails right after connecting
        // logs its first two failures, then nothing until a connection holds).
        let lines = daemon.daemon.log.split(separator: "\n").filter { $0.contains("directory: etcd unreachable") }
        #expect(lines.count == (mode == "hugewatch" ? 2 : 1), "\(daemon.daemon.log)")
        let metrics = try PlainHTTP.get(daemon, "/metrics")
        let prefix = "hostess_directory_requests_total{result=\"failed\"} "
        let failures = metrics.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count)) } ?? 0
        #expect(failures >= (mode == "silent" ? 1 : 3), "it kept retrying: \(metrics)")
        #expect(daemon.daemon.stop() == 0)
    }

    @Test("an entry under another Hostess's key is dropped as misfiled; a true one is taken")
    func misfiled() throws {
        let scratch = try ScratchDirectory()
        let liar = "00000000-0000-4000-8000-00000000000a"
        let victim = "00000000-0000-4000-8000-00000000000b"
        let honest = "00000000-0000-4000-8000-00000000000c"
        let etcd = try FakeEtcd("entries", ["[[\"\(victim)\",\"\(liar)\"],[\"\(honest)\",\"\(honest)\"]]"], scratch: scratch)
        let daemon = try HTTPDaemon(["--directory", "etcd://127.0.0.1:\(etcd.port)", "--announce-interval", "1"])
        func peers() throws -> [String] {
            guard case .array(let items)? = try daemon.socketClient().request("listPeers").result?["peers"] else { return [] }
            return items.compactMap { $0.objectValue?["hostessId"]?.stringValue }
        }
        let listed = try Self.within(10) { try peers() == [honest] }
        #expect(listed, "peers: \((try? peers()) ?? [])\n\(daemon.daemon.log)")
        #expect(try Self.directory(daemon)["state"] == "connected")
        let metrics = try PlainHTTP.get(daemon, "/metrics")
        #expect(metrics.contains("hostess_mesh_packets_dropped_total{reason=\"misfiled\"} 1"), "\(metrics)")
        #expect(metrics.contains("hostess_directory_state{state=\"connected\"} 1"))
        #expect(daemon.daemon.stop() == 0)
        #expect(daemon.daemon.log.contains("directory: revoked lease"), "\(daemon.daemon.log)")
    }
}

/// A GET over a fresh connection, its body as text.
enum PlainHTTP {
    static func get(_ daemon: HTTPDaemon, _ target: String) throws -> String {
        let client = try daemon.tcp()
        try client.send("GET \(target) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        guard let reply = client.readResponse(timeout: 5) else { throw TestFailure("no reply to GET \(target)") }
        return String(decoding: reply.body, as: UTF8.self)
    }
}
