import Foundation
import Glibc
import HostessClient
import HostessModel
import Synchronization
import Testing

/// Registrations outlive a hostessd restart: `hostess register --keep-alive` and the client library's
/// heartbeats reconnect with backoff and register the same entry again, or give up saying so (issue 10,
/// item 8).
@Suite("reconnecting registrations")
struct ReconnectTests {
    /// A `hostess register --keep-alive` process, its standard error going to a file.
    final class KeepAlive: @unchecked Sendable {
        let process = Process()
        let id: String
        private let errorPath: String

        init(daemon: DaemonProcess, _ arguments: [String] = []) throws {
            errorPath = daemon.scratch.path + "/keep-alive-\(UUID().uuidString).err"
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            process.executableURL = URL(fileURLWithPath: Binaries.path("hostess"))
            process.arguments =
                ["--socket", daemon.socketPath, "register", "--name", "held", "--class", "0x0004", "--owner", "root", "--keep-alive"] + arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle(forWritingAtPath: errorPath)
            try process.run()
            id = String(decoding: out.fileHandleForReading.availableDataLine(), as: UTF8.self)
        }

        /// What it wrote to standard error so far.
        var standardError: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

        /// Waits up to `timeout` seconds for it to exit; its status, or nil while it runs.
        func exitStatus(within timeout: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            guard !process.isRunning else { return nil }
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    /// Seconds until `condition` holds, polling every 10 ms for at most `timeout` seconds; nil if it never did.
    static func seconds(until condition: () throws -> Bool, timeout: Double) rethrows -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if try condition() { return Date().timeIntervalSince(start) }
            usleep(10_000)
        }
        return nil
    }

    /// The same for async tests: sleeps without holding one of the few cooperative threads the client's
    /// heartbeat loop needs.
    static func seconds(until condition: () throws -> Bool, timeout: Double) async rethrows -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < timeout {
            if try condition() { return Date().timeIntervalSince(start) }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return nil
    }

    /// How often `text` occurs in `string`.
    static func count(_ text: String, in string: String) -> Int { string.components(separatedBy: text).count - 1 }

    @Test("register --keep-alive registers its entry again with a hostessd started after SIGKILL", arguments: [true, false])
    func keepAliveAfterRestart(adopting: Bool) throws {
        let daemon = try DaemonProcess(["--ttl", "1"])
        let held = try KeepAlive(daemon: daemon)
        #expect(held.id.contains(":held:0x0004:root:"), "\(held.standardError)")
        #expect(daemon.stop(signal: SIGKILL) != nil)
        // The same socket; the same region name (its entries adopted) or a fresh region (an empty guest book).
        let successor = try DaemonProcess(
            ["--ttl", "1", "--socket", daemon.socketPath] + (adopting ? ["--shm", daemon.sharedMemoryName] : []), scratch: daemon.scratch)
        let logged = adopting ? "updated \(held.id) by uid 0" : "registered \(held.id) by uid 0"
        let returned = Self.seconds(until: { successor.log.contains(logged) }, timeout: 10)
        #expect(returned != nil && returned ?? 10 < 6, "registered again \(returned ?? -1) s after the restart:\n\(successor.log)")
        // It heartbeats the new daemon: still there after three TTLs.
        usleep(3_000_000)
        #expect(try successor.client().request("getServer", ["serverId": .string(held.id)]).errorCode == nil, "\(successor.log)")
        let messages = held.standardError
        #expect(Self.count("lost hostessd", in: messages) == 1, "one line per outage: \(messages)")
        #expect(Self.count("is back", in: messages) == 1, "one line when restored: \(messages)")
        kill(held.process.processIdentifier, SIGTERM)
        #expect(held.exitStatus(within: 5) == 0, "\(held.standardError)")
        #expect(try successor.client().request("getServer", ["serverId": .string(held.id)]).errorCode == "not_found")
    }

    @Test("register --keep-alive exits 1 after --give-up-after when no hostessd comes back")
    func keepAliveGivesUp() throws {
        let daemon = try DaemonProcess(["--ttl", "1"])
        let held = try KeepAlive(daemon: daemon, ["--give-up-after", "2"])
        let killed = Date()
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let status = held.exitStatus(within: 15)
        let elapsed = Date().timeIntervalSince(killed)
        #expect(status == 1, "\(held.standardError)")
        #expect(elapsed >= 2 && elapsed < 6, "exited \(elapsed) s after the daemon died")
        #expect(held.standardError.contains("gave up"), "\(held.standardError)")
        #expect(held.standardError.contains(daemon.socketPath), "\(held.standardError)")
    }

    @Test("--give-up-after needs --keep-alive and a number of seconds", arguments: [
        ["--give-up-after", "5"], ["--keep-alive", "--give-up-after", "0"], ["--keep-alive", "--give-up-after", "soon"],
    ])
    func giveUpAfterUsage(arguments: [String]) throws {
        let scratch = try ScratchDirectory()
        let outcome = try CLI.hostess(
            ["register", "--name", "x", "--class", "0x0001", "--owner", "root"] + arguments, socket: scratch.path + "/none.sock")
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stderr.contains("--give-up-after"), "\(outcome)")
    }

    static let manifest = ServerManifest(name: "lib-server", classCode: ClassCode(0x0005), owner: "root", capabilities: ["pty"])

    @Test("HostessClient reconnects after a restart and registers plain and session-bound entries again, saying so once")
    func libraryAfterRestart() async throws {
        let daemon = try DaemonProcess(["--ttl", "1"])
        let events = Mutex<[HostessClient.ConnectionEvent]>([])
        let client = try HostessClient(
            socketPath: daemon.socketPath, reconnect: HostessClient.ReconnectPolicy(initialDelay: 0.05, maximumDelay: 0.5),
            events: { event in events.withLock { $0.append(event) } })
        let plain = try await client.register(manifest: Self.manifest, fqdn: "localhost")
        let bound = try await client.register(manifest: Self.manifest, fqdn: "localhost", session: true)

        #expect(daemon.stop(signal: SIGKILL) != nil)
        let successor = try DaemonProcess(
            ["--ttl", "1", "--socket", daemon.socketPath, "--shm", daemon.sharedMemoryName], scratch: daemon.scratch)
        let restored = await Self.seconds(
            until: { events.withLock { $0.contains { if case .restored = $0 { true } else { false } } } }, timeout: 10)
        #expect(restored != nil && restored ?? 10 < 6, "restored \(restored ?? -1) s after the restart")
        try await Task.sleep(nanoseconds: 3_000_000_000)  // three TTLs: only heartbeats to the new daemon keep the entries

        let raw = try successor.client()
        #expect(try raw.request("getServer", ["serverId": .string(plain.id)]).errorCode == nil)
        let boundEntry = try raw.request("getServer", ["serverId": .string(bound.id)]).result?["entry"]?.objectValue
        #expect(boundEntry?["session"] == true, "bound to the new connection again")
        let seen = events.withLock { $0 }
        #expect(seen.count == 2, "\(seen)")
        if case .lost(let path, _)? = seen.first { #expect(path == daemon.socketPath) } else { Issue.record("first event: \(seen)") }
        if case .restored(_, _, let ids)? = seen.last { #expect(Set(ids) == [plain.id, bound.id]) } else { Issue.record("last event: \(seen)") }
        #expect(try await client.getServer(plain.id).id == plain.id, "the client's own requests use the new connection")

        client.close()
        let ended = try await Self.seconds(until: { try raw.request("getServer", ["serverId": .string(bound.id)]).errorCode == "not_found" }, timeout: 5)
        #expect(ended != nil, "the session-bound entry ends with the new connection")
    }

    @Test("HostessClient gives up after giveUpAfter seconds without hostessd, and says so once")
    func libraryGivesUp() async throws {
        let daemon = try DaemonProcess(["--ttl", "1"])
        let events = Mutex<[HostessClient.ConnectionEvent]>([])
        let client = try HostessClient(
            socketPath: daemon.socketPath, reconnect: HostessClient.ReconnectPolicy(initialDelay: 0.05, maximumDelay: 0.5, giveUpAfter: 1),
            events: { event in events.withLock { $0.append(event) } })
        let entry = try await client.register(manifest: Self.manifest, fqdn: "localhost")
        let killed = Date()
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let gaveUp = await Self.seconds(until: { events.withLock { $0.contains { if case .gaveUp = $0 { true } else { false } } } }, timeout: 10)
        let after = gaveUp.map { _ in Date().timeIntervalSince(killed) }
        #expect(after != nil && after ?? 0 >= 1, "gave up \(after ?? -1) s after SIGKILL")
        let seen = events.withLock { $0 }
        #expect(seen.count == 2, "\(seen)")
        // The client's own count of the outage, taken when it gave up: this test's polling task may be served
        // late when other suites keep the cooperative threads busy, the client's timer is not.
        if case .gaveUp(_, let outage, _, let ids)? = seen.last {
            #expect(ids == [entry.id])
            #expect(outage >= 1 && outage < 3, "gave up after an outage of \(outage) s")
        } else {
            Issue.record("last event: \(seen)")
        }
        client.close()
    }
}
