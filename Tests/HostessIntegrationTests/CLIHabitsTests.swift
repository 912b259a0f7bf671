import Foundation
import Glibc
import HostessModel
import Testing

// The CLI as people who use kubectl, docker, etcdctl and systemctl type it (issue 16): global options
// anywhere, help and version, "did you mean", short and prefix ids, local times, a readable status, and
// reservations that say how long they last. Every test runs the real `hostess` against a real `hostessd`.

// MARK: - Helpers

/// Two entries whose UUIDs share their first four hex digits, on a daemon of their own.
private struct TwoEntries {
    static let uuidA = "2f0c8a1b-5e2d-4c1a-9f3e-7b6d5a4c3b2a"
    static let uuidB = "2f0c9d00-1111-4222-8333-944455556666"

    let daemon: DaemonProcess
    let a: String
    let b: String

    init(_ arguments: [String] = []) throws {
        daemon = try DaemonProcess(arguments)
        a = try Self.register(daemon, fqdn: "a.local", uuid: Self.uuidA)
        b = try Self.register(daemon, fqdn: "b.local", uuid: Self.uuidB)
    }

    /// Registers a `gpu-renderer` with an `input` terminal and returns its id.
    static func register(_ daemon: DaemonProcess, fqdn: String, uuid: String) throws -> String {
        let outcome = try CLI.hostess(
            ["register", "--name", "gpu-renderer", "--class", "0x0002", "--owner", "root", "--fqdn", fqdn, "--uuid", uuid, "--terminal", "input:input:none"],
            socket: daemon.socketPath)
        guard outcome.status == 0 else { throw TestFailure("register: \(outcome)") }
        return outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `hostess ARGUMENTS --socket SOCKET`.
    func hostess(_ arguments: [String], environment: [String: String] = [:]) throws -> CLI.Outcome {
        try CLI.run(Binaries.path("hostess"), arguments + ["--socket", daemon.socketPath], environment: environment)
    }

    /// The entry `id` as `--json get` prints it.
    func entry(_ id: String) throws -> JSONObject {
        let outcome = try hostess(["get", id, "--json"])
        return try #require(try JSONParser.parse(outcome.stdout).objectValue, "\(outcome)")
    }
}

/// `milliseconds` as `strftime` writes `format` in a zone `offset` seconds east of UTC, computed here with
/// Foundation rather than the C library `hostess` uses.
private func formatted(_ milliseconds: Int64, _ format: String, offset: Int) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(secondsFromGMT: offset)
    formatter.dateFormat = format
    return formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
}

/// The integer member `key` of `object`.
private func milliseconds(_ object: JSONObject, _ key: String) throws -> Int64 {
    guard case .int(let value)? = object[key] else { throw TestFailure("\(key) is not an integer in \(object)") }
    return value
}

/// The line of `text` that starts with `prefix`, without it.
private func line(_ text: String, startingWith prefix: String) -> String? {
    text.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
}

@Suite("hostess CLI habits")
struct CLIHabitsTests {
    // MARK: Global options anywhere

    @Test(
        "global options before or after the command print the same",
        arguments: [
            ["--json", "list"], ["list", "--json"], ["list", "--via", "socket", "--json"], ["list", "--json", "--via=socket"],
            ["--via", "shm", "list", "--json"],
        ])
    func globalOptionsAnywhere(arguments: [String]) throws {
        let entries = try TwoEntries()
        let outcome = try entries.hostess(arguments)
        #expect(outcome.status == 0, "\(outcome)")
        let ids = try JSONParser.parse(outcome.stdout).elements?.compactMap { $0.objectValue?["id"]?.stringValue }
        #expect(ids == [entries.a, entries.b], "\(outcome)")
    }

    @Test("--socket, --socket=PATH and the other global options work after the command")
    func globalOptionsAfterCommand() throws {
        let entries = try TwoEntries()
        let socket = entries.daemon.socketPath
        let hostess = Binaries.path("hostess")
        for arguments in [["status", "--socket", socket], ["status", "--socket=\(socket)"], ["--socket", socket, "status"]] {
            let outcome = try CLI.run(hostess, arguments)
            #expect(outcome.status == 0 && outcome.stdout.contains("socket:") && outcome.stdout.contains(socket), "\(arguments): \(outcome)")
        }
        let viaSocket = try CLI.run(hostess, ["get", entries.a, "--via", "socket", "--socket", socket, "--json"])
        #expect(try JSONParser.parse(viaSocket.stdout).objectValue?["id"] == .string(entries.a), "\(viaSocket)")
        let viaRegion = try CLI.run(hostess, ["get", entries.a, "--via=shm", "--shm", entries.daemon.sharedMemoryName, "--socket=\(socket)"])
        #expect(viaRegion.status == 0 && viaRegion.stdout.contains("id:             \(entries.a)"), "\(viaRegion)")
    }

    @Test("the word after a command's own valued option is its value, even when it looks like a global option")
    func valueLooksLikeGlobalOption() throws {
        let entries = try TwoEntries()
        let outcome = try entries.hostess(["query", "--owner", "--json"])
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.hasPrefix("ID ") && outcome.stdout.contains("0 entries"), "a table for owner '--json', not JSON: \(outcome)")
    }

    @Test(
        "a global option without its value, or with one it does not take, is a usage error",
        arguments: [["list", "--socket"], ["list", "--json=yes"], ["list", "--via", "disk"], ["--via"]])
    func globalOptionMistakes(arguments: [String]) throws {
        let outcome = try CLI.run(Binaries.path("hostess"), arguments)
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stderr.hasPrefix("hostess: "), "\(outcome)")
    }

    // MARK: help and version

    @Test("hostess help, help COMMAND, --help and -h", arguments: [["help"], ["--help"], ["-h"], ["help", "reserve"], ["reserve", "-h"]])
    func help(arguments: [String]) throws {
        let hostess = Binaries.path("hostess")
        let outcome = try CLI.run(hostess, arguments)
        #expect(outcome.status == 0, "\(outcome)")
        if arguments.contains("reserve") {
            #expect(outcome.stdout == (try CLI.run(hostess, ["reserve", "--help"])).stdout)
            #expect(outcome.stdout.hasPrefix("usage: hostess reserve "), "\(outcome)")
        } else {
            #expect(outcome.stdout.hasPrefix("usage: hostess COMMAND"), "\(outcome)")
            for word in ["global options", "--socket PATH", "--json", "version", "--wide", "Exit status"] {
                #expect(outcome.stdout.contains(word), "\(word): \(outcome)")
            }
        }
    }

    @Test("help of an unknown command suggests the nearest one and exits 2")
    func helpUnknownCommand() throws {
        let outcome = try CLI.run(Binaries.path("hostess"), ["help", "regster"])
        #expect(outcome.status == 2 && outcome.stderr.contains("did you mean 'register'?"), "\(outcome)")
    }

    @Test("--version prints the client's version without a daemon; version adds the daemon's")
    func version() throws {
        let hostess = Binaries.path("hostess")
        let scratch = try ScratchDirectory()
        for arguments in [["--version"], ["list", "--version"]] {
            let outcome = try CLI.run(hostess, arguments + ["--socket", scratch.path + "/none.sock"])
            #expect(outcome.status == 0 && outcome.stdout == "hostess 0.1.0\n", "\(outcome)")
        }
        let daemon = try DaemonProcess()
        let both = try CLI.run(hostess, ["version", "--socket", daemon.socketPath])
        #expect(both.status == 0, "\(both)")
        #expect(both.stdout == "hostess 0.1.0\nhostessd 0.1.0 at \(daemon.socketPath), pid \(daemon.pid)\n", "\(both)")
        let json = try CLI.run(hostess, ["version", "--json", "--socket", daemon.socketPath])
        #expect(try JSONParser.parse(json.stdout) == ["client": ["version": "0.1.0"], "server": ["version": "0.1.0"]], "\(json)")
        let alone = try CLI.run(hostess, ["version", "--socket", scratch.path + "/none.sock"])
        #expect(alone.status == 1 && alone.stdout == "hostess 0.1.0\n", "the client's line, then the failure: \(alone)")
        #expect(alone.stderr.contains(scratch.path + "/none.sock"), "\(alone)")
    }

    // MARK: Did you mean

    @Test(
        "a mistyped command, option or value gets the nearest names, exit 2",
        arguments: [
            (["lsit"], "did you mean 'list'?"),
            (["stauts"], "did you mean 'status'?"),
            (["reserv", "--count", "1"], "did you mean 'reserve'?"),
            (["list", "--jsno"], "did you mean '--json'?"),
            (["list", "--wdie"], "did you mean '--wide'?"),
            (["query", "--capabilty", "gpu"], "did you mean '--capability'?"),
            (["--sokcet", "/x", "list"], "did you mean '--socket'?"),
            (["reservations", "--status", "actve"], "did you mean 'active'?"),
            (["wiring", "aply", "file.yaml"], "did you mean 'apply'?"),
            (["frobnicate"], "commands: register, unregister"),
            (["--class", "0x0001", "query"], "a command's own options go after its name"),
        ] as [([String], String)])
    func didYouMean(arguments: [String], expected: String) throws {
        let daemon = try DaemonProcess()
        let outcome = try CLI.run(Binaries.path("hostess"), arguments + ["--socket", daemon.socketPath])
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stderr.hasPrefix("hostess: ") && outcome.stderr.contains(expected), "\(outcome)")
    }

    // MARK: Ids people type

    /// Every command taking a server id, with that id typed as `id`.
    static let idCommands: [(name: String, arguments: @Sendable (String) -> [String])] = [
        ("get", { ["get", $0] }),
        ("heartbeat", { ["heartbeat", $0] }),
        ("mark-in-use", { ["mark-in-use", $0, "input", "c1"] }),
        ("mark-available", { ["mark-available", $0, "input"] }),
        ("query --server", { ["query", "--server", $0] }),
        ("reserve --server", { ["reserve", "--count", "1", "--server", $0, "--duration", "60"] }),
        ("unregister", { ["unregister", $0] }),
    ]

    @Test("every command taking a server id takes a unique start of the id or of its UUID", arguments: idCommands.indices)
    func uniquePrefix(command: Int) throws {
        let (name, arguments) = Self.idCommands[command]
        for typed in ["2f0c8", "2F0C8A1B", "a.local:gpu", ShortIDsForm.of(TwoEntries.uuidA, fqdn: "a.local")] {
            let entries = try TwoEntries()
            let outcome = try entries.hostess(arguments(typed) + ["--json"])
            #expect(outcome.status == 0, "\(name) \(typed): \(outcome)")
            let printed = try JSONParser.parse(outcome.stdout)
            let named: [String] =
                switch name {
                case "query --server": printed.elements?.compactMap { $0.objectValue?["id"]?.stringValue } ?? []
                case "reserve --server": printed.objectValue?["serverIds"]?.elements?.compactMap(\.stringValue) ?? []
                case "unregister": [printed.objectValue?["unregistered"]?.stringValue ?? "?"]
                case "heartbeat": [printed.objectValue?["heartbeat"]?.stringValue ?? "?"]
                default: [printed.objectValue?["id"]?.stringValue ?? "?"]
                }
            #expect(named == [entries.a], "\(name) \(typed) acts on a: \(outcome)")
        }
    }

    @Test("an ambiguous start is refused with exit 1, listing the candidates, and changes nothing", arguments: idCommands.indices)
    func ambiguousPrefix(command: Int) throws {
        let (name, arguments) = Self.idCommands[command]
        let entries = try TwoEntries()
        let revision = try entries.daemon.client().request("status").result?["revision"]
        let outcome = try entries.hostess(arguments("2f0c"))
        #expect(outcome.status == 1, "\(name): \(outcome)")
        #expect(outcome.stderr.hasPrefix("hostess: '2f0c' is ambiguous: 2 entries' ids or UUIDs start with it:\n"), "\(name): \(outcome)")
        #expect(outcome.stderr.contains("  \(entries.a)\n") && outcome.stderr.contains("  \(entries.b)\n"), "\(name): \(outcome)")
        #expect(try entries.daemon.client().request("status").result?["revision"] == revision, "nothing changed")
    }

    @Test("a whole id is taken as it is: the daemon, not the prefix lookup, answers for an unknown one")
    func wholeIDWins() throws {
        let entries = try TwoEntries()
        let unknown = Fixture.id(fqdn: "a.local")
        let outcome = try entries.hostess(["get", unknown])
        #expect(outcome.status == 1 && outcome.stderr.contains("not_found") && !outcome.stderr.contains("starts with"), "\(outcome)")
        let upper = try entries.hostess(["get", "a.local:gpu-renderer:0x0002:root:no:none:" + TwoEntries.uuidA.uppercased(), "--json"])
        #expect(try JSONParser.parse(upper.stdout).objectValue?["id"] == .string(entries.a), "an upper-case UUID is the same id: \(upper)")
        let none = try entries.hostess(["get", "ffff"])
        #expect(none.status == 1 && none.stderr.contains("not_found: no entry's id or UUID starts with 'ffff'"), "\(none)")
    }

    @Test("reservation ids: a unique start works for cancel and reservations ID; a shared one is refused listing them")
    func reservationPrefix() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        // Seventeen reservations: two of them must share their first hex digit.
        var ids: [String] = []
        for number in 0..<17 {
            let id = Fixture.id(servername: "res-\(number)")
            #expect(try client.request("register", ["entry": Fixture.entry(id: id)]).errorCode == nil)
            let reply = try client.request("reserve", ["reservation": ["count": 1, "duration": 60_000, "serverFilter": ["serverIds": [.string(id)]]]])
            ids.append(try #require(reply.result?["reservation"]?.objectValue?["id"]?.stringValue, "\(reply)"))
        }
        let group = try #require(Dictionary(grouping: ids, by: { $0.prefix(1) }).first { $0.value.count > 1 })
        let ambiguous = try CLI.hostess(["cancel", String(group.key)], socket: daemon.socketPath)
        #expect(ambiguous.status == 1 && ambiguous.stderr.contains("'\(group.key)' is ambiguous"), "\(ambiguous)")
        for id in group.value { #expect(ambiguous.stderr.contains("  \(id)\n"), "\(ambiguous)") }

        let target = group.value[0]
        let shared = ids.filter { $0 != target }.map { zip($0, target).prefix(while: { $0 == $1 }).count }.max() ?? 0
        let unique = String(target.prefix(shared + 1))
        let shown = try CLI.hostess(["reservations", unique, "--json"], socket: daemon.socketPath)
        #expect(try JSONParser.parse(shown.stdout).objectValue?["id"] == .string(target), "\(shown)")
        let cancelled = try CLI.hostess(["cancel", unique], socket: daemon.socketPath)
        #expect(cancelled.status == 0 && cancelled.stdout.hasPrefix("cancelled reservation \(target) of uid 0: 1 server released"), "\(cancelled)")
        let missing = try CLI.hostess(["cancel", "zz"], socket: daemon.socketPath)
        #expect(missing.status == 1 && missing.stderr.contains("not_found"), "\(missing)")
    }

    // MARK: Short ids in tables

    @Test("tables cut ids after 8 hex digits of the UUID, more when two would look alike; --wide prints them whole")
    func shortIDs() throws {
        let entries = try TwoEntries()
        // A third entry whose UUID shares its first 8 digits with a's, under the same fqdn.
        let twin = try TwoEntries.register(entries.daemon, fqdn: "a.local", uuid: "2f0c8a1b-0000-4000-8000-000000000000")
        let table = try entries.hostess(["list"])
        let rows = table.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(
            rows.prefix(3) == [
                "a.local:gpu-renderer:0x0002:root:no:none:2f0c8a1b-5", "b.local:gpu-renderer:0x0002:root:no:none:2f0c9d00",
                "a.local:gpu-renderer:0x0002:root:no:none:2f0c8a1b-0",
            ], "\(table)")
        for (short, id) in zip(rows, [entries.a, entries.b, twin]) {
            #expect(id.hasPrefix(short), "a short id is a prefix of the id")
            #expect(try entries.entry(short)["id"] == .string(id), "what the table shows can be typed back: \(short)")
        }
        let wide = try entries.hostess(["list", "--wide"])
        for id in [entries.a, entries.b, twin] { #expect(wide.stdout.contains(id + "  "), "\(wide)") }
        let reserved = try entries.hostess(["reserve", "--count", "1", "--server", entries.b, "--duration", "60", "--json"])
        let reservation = try #require(try JSONParser.parse(reserved.stdout).objectValue?["id"]?.stringValue, "\(reserved)")
        let reservations = try entries.hostess(["reservations"])
        #expect(reservations.stdout.contains("\n\(reservation.prefix(8))  active"), "\(reservations)")
        #expect(reservations.stdout.contains(" b.local:gpu-renderer:0x0002:root:no:none:2f0c9d00\n"), "\(reservations)")
        let wideReservations = try entries.hostess(["reservations", "--wide"])
        #expect(wideReservations.stdout.contains(reservation) && wideReservations.stdout.contains(entries.b), "\(wideReservations)")
    }

    @Test("the README's query table is what hostess prints, but for the time")
    func readmeTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("ID ") && $0.contains("TERMINALS") }, "README has the query table")
        let daemon = try DaemonProcess()
        let registered = try CLI.hostess(
            ["register", "--name", "gpu-renderer", "--class", "0x0002", "--owner", "root", "--fqdn", "machine-a.local", "--capability", "gpu",
             "--capability", "h264", "--terminal", "input:input:none", "--terminal", "output:output:fanout:h264", "--uuid", TwoEntries.uuidA],
            socket: daemon.socketPath)
        #expect(registered.status == 0, "\(registered)")
        let printed = try CLI.hostess(["query", "--class", "0x0002", "--capability", "gpu", "--available-terminals", "1"], socket: daemon.socketPath)
        let output = printed.stdout.split(separator: "\n").map(String.init)
        try #require(output.count == 3, "\(printed)")
        // The time cell differs from run to run, and with it the width of its column: compare around it.
        func cells(_ line: String) -> String {
            line.replacing(/\d\d:\d\d:\d\d \((now|\d+ s ago)\)/, with: "TIME").replacing(/\ {2,}/, with: "  ")
        }
        #expect(cells(lines[header]) == cells(output[0]), "README:\n\(lines[header])\nhostess:\n\(output[0])")
        #expect(cells(lines[header + 1]) == cells(output[1]), "README:\n\(lines[header + 1])\nhostess:\n\(output[1])")
        #expect(lines[header + 2] == output[2])
    }

    // MARK: Times for people

    /// Zones by POSIX TZ value, with their offset east of UTC and abbreviation: none needs tzdata.
    static let zones: [(tz: String, offset: Int, abbreviation: String)] = [("UTC0", 0, "UTC"), ("XYZ-9", 9 * 3600, "XYZ"), ("ABC+5:30", -(5 * 3600 + 1800), "ABC")]

    @Test("get shows registeredAt and lastHeartbeat in local time (TZ) with how long ago; --json keeps milliseconds", arguments: zones.indices)
    func entryTimes(zone: Int) throws {
        let (tz, offset, abbreviation) = Self.zones[zone]
        let entries = try TwoEntries()
        let entry = try entries.entry(entries.a)
        let registeredAt = try milliseconds(entry, "registeredAt")
        let shown = try entries.hostess(["get", entries.a], environment: ["TZ": tz])
        #expect(shown.status == 0, "\(shown)")
        for (label, key) in [("registeredAt:   ", "registeredAt"), ("lastHeartbeat:  ", "lastHeartbeat")] {
            let expected = formatted(try milliseconds(entry, key), "yyyy-MM-dd HH:mm:ss", offset: offset) + " \(abbreviation) "
            let text = try #require(line(shown.stdout, startingWith: label), "\(shown)")
            #expect(text.hasPrefix(expected), "\(label)\(text), expected \(expected)")
            #expect(text.wholeMatch(of: /.* \((now|\d+ s ago)\)/) != nil, "\(text)")
        }
        // The table: today's time of day (or the date too, a moment after midnight), then how long ago.
        let table = try entries.hostess(["list"], environment: ["TZ": tz])
        #expect(table.stdout.contains(" \(formatted(registeredAt, "HH:mm:ss", offset: offset)) ("), "\(table)")
        #expect(table.stdout.contains("LAST HEARTBEAT"), "\(table)")
    }

    @Test("a reservation's createdAt and expiresAt are local with how far away; its duration has a unit", arguments: zones.indices)
    func reservationTimes(zone: Int) throws {
        let (tz, offset, abbreviation) = Self.zones[zone]
        let entries = try TwoEntries()
        let reserved = try entries.hostess(["reserve", "--count", "1", "--server", entries.a, "--duration", "30"], environment: ["TZ": tz])
        #expect(reserved.status == 0, "\(reserved)")
        let id = try #require(line(reserved.stdout, startingWith: "id:           "), "\(reserved)")
        let json = try entries.hostess(["reservations", id, "--json"])
        let reservation = try #require(try JSONParser.parse(json.stdout).objectValue, "\(json)")
        let createdAt = try milliseconds(reservation, "createdAt")
        let expiresAt = try milliseconds(reservation, "expiresAt")
        #expect(expiresAt == createdAt + 30_000 && reservation["duration"] == 30_000, "--json keeps milliseconds: \(reservation)")
        let expires = formatted(expiresAt, "yyyy-MM-dd HH:mm:ss", offset: offset) + " \(abbreviation)"
        #expect(line(reserved.stdout, startingWith: "createdAt:    ")?.hasPrefix(formatted(createdAt, "yyyy-MM-dd HH:mm:ss", offset: offset)) == true, "\(reserved)")
        #expect(line(reserved.stdout, startingWith: "duration:     ") == "30 s", "\(reserved)")
        let expiry = try #require(line(reserved.stdout, startingWith: "expiresAt:    "), "\(reserved)")
        #expect(expiry.wholeMatch(of: /(.*) \(in (2[6-9]|30) s\)/)?.1 == expires[...], "\(expiry), expected \(expires)")
        let table = try entries.hostess(["reservations"], environment: ["TZ": tz])
        #expect(table.stdout.contains(formatted(expiresAt, "HH:mm:ss", offset: offset) + " (in "), "\(table)")
    }

    // MARK: status

    @Test("status is a readable summary: one fact a line, durations with units, no JSON")
    func status() throws {
        let daemon = try DaemonProcess(["--ttl", "20"])
        let outcome = try CLI.hostess(["status"], socket: daemon.socketPath)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(!outcome.stdout.contains("{") && !outcome.stdout.contains("["), "no inline JSON: \(outcome)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        #expect(lines.allSatisfy { $0.wholeMatch(of: /[A-Za-z.\[\]0-9]+: +\S.*/) != nil }, "label: value lines: \(outcome)")
        #expect(lines.first?.hasPrefix("daemon: ") == true, "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "daemon:")?.trimmingCharacters(in: .whitespaces) == "hostessd 0.1.0, pid \(daemon.pid)", "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "ttl:")?.trimmingCharacters(in: .whitespaces).hasPrefix("20 s ") == true, "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "heartbeatInterval:")?.trimmingCharacters(in: .whitespaces).hasSuffix(" s") == true, "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "caller:")?.trimmingCharacters(in: .whitespaces) == "uid 0; may register as owner: root", "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "entries:")?.trimmingCharacters(in: .whitespaces) == "0 at revision 0", "a new daemon: \(outcome)")
        #expect(line(outcome.stdout, startingWith: "shm:")?.trimmingCharacters(in: .whitespaces) == daemon.sharedMemoryName, "\(outcome)")
        let json = try CLI.hostess(["status", "--json"], socket: daemon.socketPath)
        #expect(try JSONParser.parse(json.stdout).objectValue?["ttl"] == .double(20), "--json keeps the wire form: \(json)")
    }

    @Test("status over --http summarises GET /health, its uptime with a unit")
    func statusOverHTTP() throws {
        let http = try HTTPDaemon()
        let outcome = try CLI.run(Binaries.path("hostess"), ["status", "--http", http.url], timeout: 10)
        #expect(outcome.status == 0 && !outcome.stdout.contains("{"), "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "daemon:")?.trimmingCharacters(in: .whitespaces) == "hostessd 0.1.0, ok", "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "uptime:")?.wholeMatch(of: /\s+[\d.]+ (ms|s)/) != nil, "\(outcome)")
    }

    // MARK: Reservations say how long they last

    @Test("reserve without --duration says it gets hostessd's default, and until when")
    func defaultDuration() throws {
        let entries = try TwoEntries(["--reservation-default-duration", "120"])
        let outcome = try entries.hostess(["reserve", "--count", "1", "--class", "0x0002"], environment: ["TZ": "UTC0"])
        #expect(outcome.status == 0, "\(outcome)")
        let headline = outcome.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(headline.wholeMatch(of: /reserved 1 server for uid 0 until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(in (1|2) min\)/) != nil, "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "duration:     ") == "2 min (hostessd's default, as no --duration was given)", "\(outcome)")
        #expect(line(outcome.stdout, startingWith: "requestedBy:  ") == "uid 0", "requestedBy once, without the same holder again: \(outcome)")
        let help = try entries.hostess(["reserve", "--help"])
        #expect(help.stdout.contains("Without --duration") && help.stdout.contains("--reservation-default-duration"), "\(help)")
        #expect(!help.stdout.contains("lasts until 'hostess cancel"), "\(help)")
    }

    @Test("reserve and cancel print different, clear messages; requestedBy names the holder only when it differs")
    func reserveAndCancel() throws {
        let entries = try TwoEntries()
        let reserved = try entries.hostess(
            ["reserve", "--count", "2", "--class", "0x0002", "--duration", "90", "--requested-by", "StateManager"], environment: ["TZ": "UTC0"])
        #expect(reserved.status == 0, "\(reserved)")
        #expect(reserved.stdout.hasPrefix("reserved 2 servers for StateManager until "), "\(reserved)")
        #expect(line(reserved.stdout, startingWith: "requestedBy:  ") == "StateManager (made by uid 0)", "\(reserved)")
        #expect(line(reserved.stdout, startingWith: "duration:     ") == "1 min 30 s", "\(reserved)")
        let id = try #require(line(reserved.stdout, startingWith: "id:           "))
        let cancelled = try entries.hostess(["cancel", String(id.prefix(8))])
        #expect(cancelled.status == 0, "\(cancelled)")
        #expect(cancelled.stdout == "cancelled reservation \(id) of StateManager: 2 servers released\n", "\(cancelled)")
        let shown = try entries.hostess(["reservations", id], environment: ["TZ": "UTC0"])
        #expect(line(shown.stdout, startingWith: "status:       ")?.hasPrefix("cancelled") == true, "\(shown)")
        #expect(line(shown.stdout, startingWith: "endedAt:      ")?.hasSuffix("UTC (now)") == true, "\(shown)")
        let table = try entries.hostess(["reservations"])
        #expect(table.stdout.contains("\(id.prefix(8))  cancelled  0 "), "\(table)")
    }
}

/// The short form of an id a table prints, written out independently of the CLI's code.
private enum ShortIDsForm {
    /// `FQDN:gpu-renderer:0x0002:root:no:none:` and the UUID's first 8 digits.
    static func of(_ uuid: String, fqdn: String) -> String { "\(fqdn):gpu-renderer:0x0002:root:no:none:\(uuid.prefix(8))" }
}
