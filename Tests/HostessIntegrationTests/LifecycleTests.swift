import Foundation
import Glibc
import HostessModel
import HostessSystem
import Testing

/// Starting, stopping, systemd readiness, one daemon per socket, stdio mode and many connections.
@Suite("hostessd lifecycle")
struct LifecycleTests {
    @Test("SIGTERM answers requests in flight, removes the socket and exits 0")
    func gracefulStop() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        var batch = ""
        for number in 1...200 { batch += "{\"id\":\(number),\"command\":\"status\"}\n" }
        try client.send(bytes: Array(batch.utf8))
        usleep(50_000)
        #expect(daemon.stop(signal: SIGTERM) == 0)
        var answered = 0
        while let _ = client.readLine(timeout: 1) { answered += 1 }
        #expect(answered == 200)
        #expect(!FileManager.default.fileExists(atPath: daemon.socketPath))
        #expect(daemon.log.contains("listening on \(daemon.socketPath)"))
        #expect(daemon.log.contains("received SIGTERM"))
    }

    @Test("SIGINT stops it too")
    func interrupt() throws {
        let daemon = try DaemonProcess()
        #expect(daemon.stop(signal: SIGINT) == 0)
    }

    @Test("with NOTIFY_SOCKET set, hostessd tells systemd READY=1")
    func systemdReady() throws {
        let scratch = try ScratchDirectory()
        let notifyPath = scratch.path + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in notifyPath.utf8.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let daemon = try DaemonProcess(environment: ["NOTIFY_SOCKET": notifyPath], scratch: scratch)
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 5000) == 1)
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(fd, &buffer, buffer.count, 0)
        let message = String(decoding: buffer[..<max(0, count)], as: UTF8.self)
        #expect(message.split(separator: "\n").contains("READY=1"), "\(message)")
        _ = daemon
    }

    @Test("a second hostessd on the same socket refuses to start while the first lives")
    func secondDaemonRefused() throws {
        let first = try DaemonProcess()
        let outcome = try CLI.run(Binaries.path("hostessd"), ["--socket", first.socketPath, "--no-shm"], timeout: 10)
        #expect(outcome.status == 1, "\(outcome)")
        #expect(outcome.stderr.contains("another hostessd (pid \(first.pid))"), "\(outcome)")
        #expect(try first.client().request("status").errorCode == nil, "the first daemon still serves")
    }

    @Test("a stale socket left by a killed hostessd is taken over")
    func staleSocketTakeover() throws {
        let scratch = try ScratchDirectory()
        let first = try DaemonProcess(scratch: scratch)
        #expect(first.stop(signal: SIGKILL) != nil)
        #expect(FileManager.default.fileExists(atPath: first.socketPath), "SIGKILL leaves the socket file behind")
        let second = try DaemonProcess(scratch: scratch)
        #expect(try second.client().request("status").errorCode == nil)
    }

    @Test("--stdio serves the same protocol on stdin/stdout and exits 0 at end of input")
    func stdio() throws {
        let id = Fixture.id()
        let requests = [
            JSONValue.object(["id": 1, "command": "register", "entry": Fixture.entry(id: id)]).jsonText,
            #"{"id":2,"command":"markInUse","serverId":"\#(id)","terminal":"stdin","connectomeId":"c1"}"#,
            #"{"id":3,"command":"markInUse","serverId":"\#(id)","terminal":"stdin","connectomeId":"c2"}"#,
            "garbage",
            #"{"id":4,"command":"listAll"}"#,
        ]
        let outcome = try CLI.run(Binaries.path("hostessd"), ["--stdio", "--no-shm"], stdin: requests.joined(separator: "\n") + "\n", timeout: 20)
        #expect(outcome.status == 0, "\(outcome)")
        let replies = outcome.stdout.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)).objectValue }
        #expect(replies.count == 5, "\(outcome)")
        guard replies.count == 5 else { return }
        #expect(replies[0].result?["created"] == true)
        #expect(replies[1].errorCode == nil)
        #expect(replies[2].errorCode == "conflict")
        #expect(replies[3].errorCode == "parse_error")
        #expect(replies[4]["id"] == 4)
    }

    @Test("at least 1000 connections are served at once")
    func thousandConnections() throws {
        Syscall.raiseDescriptorLimit()
        let daemon = try DaemonProcess()
        var clients: [RawClient] = []
        for _ in 0..<1000 { clients.append(try daemon.client()) }
        for (index, client) in clients.enumerated() { try client.send(#"{"id":\#(index),"command":"status"}"#) }
        var answered = 0
        for (index, client) in clients.enumerated() {
            if let reply = try? client.readReply(), reply["id"] == .int(Int64(index)) { answered += 1 }
        }
        #expect(answered == 1000)
    }

    @Test("past --max-connections and the 16 slots kept for root a client is refused with a capacity error")
    func connectionCap() throws {
        let daemon = try DaemonProcess(["--max-connections", "2"])
        usleep(200_000)  // let the daemon see the start-up probe connection close
        let served = try (0..<(2 + 16)).map { _ in try daemon.client() }
        for client in served { #expect(try client.request("status").errorCode == nil) }
        let refused = try daemon.client()
        #expect(try refused.readReply().errorCode == "capacity")
        #expect(refused.isClosedByPeer(within: 2))
    }

    @Test("bad flags exit 2 with a message; --help and --version exit 0", arguments: [
        (["--ttl", "0"], 2), (["--ttl", "soon"], 2), (["--bogus"], 2), (["--socket"], 2),
        (["--max-connections", "0"], 2), (["--socket", "/tmp/" + String(repeating: "x", count: 200)], 2),
        (["--help"], 0), (["--version"], 0),
    ] as [([String], Int32)])
    func flags(arguments: [String], status: Int32) throws {
        let outcome = try CLI.run(Binaries.path("hostessd"), arguments, timeout: 10)
        #expect(outcome.status == status, "\(outcome)")
        if status == 2 { #expect(!outcome.stderr.isEmpty) }
    }
}
