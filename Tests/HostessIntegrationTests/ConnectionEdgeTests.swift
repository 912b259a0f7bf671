import Foundation
import Glibc
import HostessModel
import Testing

/// Edge cases of connections and start-up paths that once went wrong.
@Suite("hostessd connection edges")
struct ConnectionEdgeTests {
    /// CPU seconds (user + system) the process has used, from /proc.
    static func cpuSeconds(pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    @Test("a half-closed client with a pending watch costs no CPU, and still gets its answer")
    func halfClosedWatch() throws {
        let daemon = try DaemonProcess()
        let watcher = try daemon.client()
        try watcher.send(#"{"id":"w","command":"watch","sinceRevision":0,"timeout":30}"#)
        watcher.finishSending()
        let before = Self.cpuSeconds(pid: daemon.pid)
        usleep(1_000_000)
        let used = Self.cpuSeconds(pid: daemon.pid) - before
        #expect(used < 0.2, "hostessd used \(used) s of CPU in 1 s while idle")
        _ = try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())])
        let answer = try watcher.readReply(timeout: 2)
        #expect(answer["id"] == "w")
        #expect(answer.result?["changed"] == true)
        #expect(watcher.isClosedByPeer(within: 2), "with its input ended and its watch answered, the connection closes")
    }

    @Test("a client whose writes end mid-line but keep completing lines is not timed out")
    func steadyPartialWrites() throws {
        let daemon = try DaemonProcess(["--client-timeout", "0.5"])
        let client = try daemon.client()
        let line = #"{"id":1,"command":"status"}"# + "\n"
        let bytes = Array(line.utf8)
        let half = bytes.count / 2
        try client.send(bytes: Array(bytes[..<half]))
        for _ in 0..<15 {
            usleep(100_000)
            try client.send(bytes: Array(bytes[half...]) + Array(bytes[..<half]))
        }
        try client.send(bytes: Array(bytes[half...]))
        var replies = 0
        while client.readLine(timeout: 0.5) != nil { replies += 1 }
        #expect(replies == 16)
        #expect(!daemon.log.contains("did not finish a request line"), "\(daemon.log)")
    }

    @Test("an idle timeout shorter than a watch does not close the watcher after its answer")
    func idleTimeoutAndWatch() throws {
        let daemon = try DaemonProcess(["--idle-timeout", "0.5"])
        let client = try daemon.client()
        let quiet = try client.request("watch", ["timeout": 1.2], timeout: 3)
        #expect(quiet.result?["changed"] == false)
        #expect(try client.request("status").errorCode == nil)
    }

    @Test("an idle connection is closed after --idle-timeout with a timeout notice")
    func idleTimeout() throws {
        let daemon = try DaemonProcess(["--idle-timeout", "0.5"])
        let client = try daemon.client()
        #expect(try client.request("status").errorCode == nil)
        let notice = try client.readReply(timeout: 3)
        #expect(notice.errorCode == "timeout")
        #expect(client.isClosedByPeer(within: 2))
    }

    @Test("a file that is not a socket at the socket path is left alone and start-up fails")
    func notASocket() throws {
        let scratch = try ScratchDirectory()
        let path = try scratch.write("precious.txt", "keep me")
        let outcome = try CLI.run(Binaries.path("hostessd"), ["--socket", path], timeout: 10)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(outcome.stderr.contains("not a socket"), "\(outcome)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
    }

    @Test("a relative socket path is resolved against the working directory")
    func relativeSocketPath() throws {
        let scratch = try ScratchDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostessd"))
        process.arguments = ["--socket", "sub/relative.sock", "--no-shm"]
        process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        let path = scratch.path + "/sub/relative.sock"
        let deadline = Date().addingTimeInterval(5)
        while (try? RawClient(path: path)) == nil && Date() < deadline { usleep(20_000) }
        #expect(try RawClient(path: path).request("status").errorCode == nil)
    }

    @Test("HOSTESS_SOCKET overrides the config file's socket; --socket overrides both")
    func socketPrecedence() throws {
        let scratch = try ScratchDirectory()
        let config = try scratch.write("c.json", #"{"socket": "\#(scratch.path)/from-file.sock"}"#)
        let fromEnvironment = try DaemonProcess(
            ["--config", config, "--socket", scratch.path + "/from-flag.sock"], environment: ["HOSTESS_SOCKET": scratch.path + "/from-env.sock"],
            scratch: scratch, socketName: "from-flag.sock")
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/from-flag.sock"))
        fromEnvironment.stop()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostessd"))
        process.arguments = ["--config", config, "--no-shm"]
        process.environment = ["HOSTESS_SOCKET": scratch.path + "/from-env.sock"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(5)
        while (try? RawClient(path: scratch.path + "/from-env.sock")) == nil && Date() < deadline { usleep(20_000) }
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/from-env.sock"))
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/from-file.sock"))
    }
}
