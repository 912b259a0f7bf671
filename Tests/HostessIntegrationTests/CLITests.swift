import Foundation
import Glibc
import HostessModel
import Testing

/// The `hostess` CLI and the example server, as a user runs them.
@Suite("hostess CLI")
struct CLITests {
    @Test("the README walkthrough: register two terminals, query, mark in use, second markInUse refused")
    func walkthrough() throws {
        let daemon = try DaemonProcess()
        let registered = try CLI.hostess(
            ["register", "--name", "gpu-renderer", "--class", "0x0002", "--owner", "root", "--fqdn", "machine-a.local",
             "--capability", "gpu", "--capability", "h264", "--terminal", "input:input:none",
             "--terminal", "output:output:fanout:h264", "--metadata", "version=1.0"],
            socket: daemon.socketPath)
        #expect(registered.status == 0, "\(registered)")
        let id = registered.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("machine-a.local:gpu-renderer:0x0002:root:no:none:"))

        let query = try CLI.hostess(["query", "--class", "0x0002", "--capability", "gpu", "--available-terminals", "2"], socket: daemon.socketPath)
        #expect(query.status == 0)
        #expect(query.stdout.contains(CLI.shortID(id)), "the table shows the short id: \(query)")
        #expect(query.stdout.contains("1 entry"))

        let marked = try CLI.hostess(["mark-in-use", id, "input", "connectome-100"], socket: daemon.socketPath)
        #expect(marked.status == 0, "\(marked)")
        let refused = try CLI.hostess(["mark-in-use", id, "input", "connectome-101"], socket: daemon.socketPath)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("conflict"), "\(refused)")

        let shown = try CLI.hostess(["get", id], socket: daemon.socketPath)
        #expect(shown.stdout.contains("connectome-100"))
        let json = try CLI.hostess(["--json", "get", id], socket: daemon.socketPath)
        let entry = try #require(try JSONParser.parse(json.stdout).objectValue)
        #expect(entry["terminals"]?.objectValue?["input"]?.objectValue?["connectedTo"] == ["connectome-100"])
        #expect(entry["metadata"] == ["version": "1.0"])
    }

    @Test("capabilities: per class, how many match, how many have a free terminal, and what they offer")
    func capabilities() throws {
        let daemon = try DaemonProcess()
        for (name, classCode, capabilities, terminal) in [
            ("gpu-a", "0x0002", ["gpu", "h264"], "input:input:none"), ("gpu-b", "0x0002", ["gpu", "cuda"], nil), ("pty", "0x0001", ["pty"], nil),
        ] {
            let registered = try CLI.hostess(
                ["register", "--name", name, "--class", classCode, "--owner", "root"] + capabilities.flatMap { ["--capability", $0] }
                    + (terminal.map { ["--terminal", $0] } ?? []),
                socket: daemon.socketPath)
            #expect(registered.status == 0, "\(registered)")
        }
        let json = try CLI.hostess(["--json", "capabilities", "--capability", "gpu"], socket: daemon.socketPath)
        #expect(json.status == 0, "\(json)")
        #expect(
            try JSONParser.parse(json.stdout)
                == [["class": "0x0002", "totalCount": 2, "availableCount": 1, "capabilities": ["cuda", "gpu", "h264"]]])
        let table = try CLI.hostess(["capabilities"], socket: daemon.socketPath)
        #expect(table.stdout.contains("0x0001") && table.stdout.contains("cuda,gpu,h264"), "\(table)")
    }

    @Test("register from a manifest file")
    func manifestFile() throws {
        let daemon = try DaemonProcess()
        let manifest = try daemon.scratch.write(
            "pty.json",
            """
            {"name": "pty-server", "class": "0x0001", "owner": "root",
             "authentication": {"required": "optional", "mechanism": "tls-cert"},
             "terminals": [{"name": "stdin", "direction": "input", "multiplexing": "none", "protocol": "raw-bytes"},
                           {"name": "stdout", "direction": "output", "multiplexing": "fanout", "metadata": {"rate": 60}}],
             "capabilities": ["pty", "vt100"], "metadata": {"version": "1.0.0"}}
            """)
        let outcome = try CLI.hostess(["--json", "register", "--manifest", manifest, "--fqdn", "[fe80::1]"], socket: daemon.socketPath)
        #expect(outcome.status == 0, "\(outcome)")
        let entry = try #require(try JSONParser.parse(outcome.stdout).objectValue)
        #expect(entry["fqdn"] == "[fe80::1]")
        #expect(entry["authentication"] == ["required": "optional", "mechanism": "tls-cert"])
        #expect(entry["terminals"]?.objectValue?["stdout"]?.objectValue?["metadata"] == ["rate": 60])
    }

    @Test("usage errors exit 2, refusals exit 1", arguments: [
        (["query", "--bogus"], 2),
        (["frobnicate"], 2),
        (["get"], 2),
        (["register", "--name", "x"], 2),
        (["register", "--name", "x", "--class", "7", "--owner", "root"], 2),
        (["register", "--name", "x", "--class", "0x0001", "--owner", "root", "--terminal", "a:up:none"], 2),
        (["query", "--available-terminals", "many"], 2),
        (["get", "localhost:x:0x0001:root:no:none:550e8400-e29b-41d4-a716-446655440000"], 1),
        (["get", "not-a-name"], 1),
        (["register", "--name", "Bad Name", "--class", "0x0001", "--owner", "root"], 1),
        (["list"], 0),
    ] as [([String], Int32)])
    func exitStatus(arguments: [String], status: Int32) throws {
        let daemon = try DaemonProcess()
        let outcome = try CLI.hostess(arguments, socket: daemon.socketPath)
        #expect(outcome.status == status, "\(outcome)")
        if status != 0 { #expect(outcome.stderr.hasPrefix("hostess: "), "\(outcome)") }
    }

    @Test("a missing daemon is a clear error with exit 1")
    func noDaemon() throws {
        let scratch = try ScratchDirectory()
        let outcome = try CLI.hostess(["list"], socket: scratch.path + "/none.sock")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("is hostessd running?"), "\(outcome)")
    }

    @Test("--help on every command", arguments: [
        "register", "unregister", "heartbeat", "get", "list", "query", "mark-in-use", "mark-available", "watch", "status",
        "capabilities", "reserve", "reservations", "cancel", "peers", "probe", "connection-methods", "connectomes", "connectome", "wiring",
        "help", "version",
    ])
    func help(command: String) throws {
        let outcome = try CLI.run(Binaries.path("hostess"), [command, "--help"])
        #expect(outcome.status == 0)
        #expect(outcome.stdout.hasPrefix("usage: hostess "), "\(outcome)")
        #expect(outcome.stdout.split(separator: "\n").first?.contains(" \(command)") == true, "\(outcome)")
    }

    @Test("watch prints changes as they happen")
    func watchCommand() throws {
        let daemon = try DaemonProcess()
        let writer = Thread {
            usleep(300_000)
            _ = try? CLI.hostess(["register", "--name", "late", "--class", "0x0003", "--owner", "root"], socket: daemon.socketPath)
        }
        writer.start()
        let outcome = try CLI.hostess(["watch", "--count", "1", "--timeout", "10"], socket: daemon.socketPath)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.contains("registered"), "\(outcome)")
        #expect(outcome.stdout.contains(":late:0x0003:root:"), "\(outcome)")
    }

    @Test("register --keep-alive heartbeats until SIGTERM, then unregisters")
    func keepAlive() throws {
        let daemon = try DaemonProcess(["--ttl", "1"])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostess"))
        process.arguments = ["--socket", daemon.socketPath, "register", "--name", "held", "--class", "0x0004", "--owner", "root", "--keep-alive"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let id = String(decoding: out.fileHandleForReading.availableDataLine(), as: UTF8.self)
        usleep(2_500_000)
        let client = try daemon.client()
        #expect(try client.request("getServer", ["serverId": .string(id)]).errorCode == nil, "still alive after 2.5 TTLs")
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try client.request("getServer", ["serverId": .string(id)]).errorCode == "not_found")
    }

    @Test("the example server registers its compiled-in manifest for as long as it runs")
    func exampleServer() throws {
        let daemon = try DaemonProcess()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostess-example-server"))
        process.arguments = ["--socket", daemon.socketPath]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let id = String(decoding: out.fileHandleForReading.availableDataLine(), as: UTF8.self)
        #expect(id.contains(":pty-server:0x0001:"))
        let client = try daemon.client()
        let entry = try #require(try client.request("getServer", ["serverId": .string(id)]).result?["entry"]?.objectValue)
        #expect(entry["capabilities"] == ["pty", "vt100", "ansi-parsing"])
        #expect(entry["session"] == true)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        let deadline = Date().addingTimeInterval(2)
        while try client.request("getServer", ["serverId": .string(id)]).errorCode == nil && Date() < deadline { usleep(20_000) }
        #expect(try client.request("getServer", ["serverId": .string(id)]).errorCode == "not_found")
    }
}

extension FileHandle {
    /// Reads up to the first newline (blocking), without it.
    func availableDataLine() -> [UInt8] {
        var line: [UInt8] = []
        while true {
            let byte = readData(ofLength: 1)
            guard let first = byte.first, first != 0x0A else { return line }
            line.append(first)
        }
    }
}
