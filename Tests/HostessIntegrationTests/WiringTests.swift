import Foundation
import Glibc
import HostessModel
import Testing

// MARK: - Helpers

/// The repository's root, for the files under docs/.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The example servers one scenario runs, stopped (SIGKILL) when it ends.
final class ExampleServers: @unchecked Sendable {
    private(set) var processes: [String: Process] = [:]

    /// Starts `hostess-example-server --role ROLE` against `socket`; returns the id it printed.
    func start(_ role: String, socket: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostess-example-server"))
        process.arguments = ["--role", role, "--socket", socket]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let id = String(decoding: out.fileHandleForReading.availableDataLine(), as: UTF8.self)
        guard id.contains(":\(role):") else { throw TestFailure("hostess-example-server --role \(role) printed '\(id)'") }
        processes[id] = process
        return id
    }

    /// Kills the server with id `id` and waits for it.
    func kill(_ id: String) {
        guard let process = processes.removeValue(forKey: id) else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        for process in processes.values where process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// One running scenario: hostessd, 1 pty-server, 2 gpu-renderers, 1 mp4-encoder.
struct WiringScenario {
    let daemon: DaemonProcess
    let servers = ExampleServers()
    let pty: String
    let renderers: [String]
    let encoder: String

    init() throws {
        daemon = try DaemonProcess()
        pty = try servers.start("pty-server", socket: daemon.socketPath)
        renderers = [try servers.start("gpu-renderer", socket: daemon.socketPath), try servers.start("gpu-renderer", socket: daemon.socketPath)]
        encoder = try servers.start("mp4-encoder", socket: daemon.socketPath)
    }

    /// `hostess ARGUMENTS` against this daemon (its region too).
    func hostess(_ arguments: [String]) throws -> CLI.Outcome {
        try CLI.hostess(["--shm", daemon.sharedMemoryName] + arguments, socket: daemon.socketPath)
    }

    /// A terminal's `connectedTo`, as the shared-memory region has it.
    func connectedTo(_ id: String, _ terminal: String) throws -> [String] {
        let outcome = try hostess(["--via", "shm", "--json", "get", id])
        guard outcome.status == 0 else { throw TestFailure("get \(id): \(outcome)") }
        let entry = try JSONParser.parse(outcome.stdout)
        guard case .array(let links)? = entry.objectValue?["terminals"]?.objectValue?[terminal]?.objectValue?["connectedTo"] else {
            throw TestFailure("no terminal \(terminal) in \(outcome.stdout)")
        }
        return links.compactMap(\.stringValue)
    }

    /// The recorded connectomes, as `hostess --json connectomes` prints them.
    func connectomes() throws -> [JSONObject] {
        let outcome = try hostess(["--json", "connectomes"])
        guard outcome.status == 0, case .array(let items) = try JSONParser.parse(outcome.stdout) else { throw TestFailure("connectomes: \(outcome)") }
        return items.compactMap(\.objectValue)
    }

    /// How many reservations are active.
    func activeReservations() throws -> Int {
        let reply = try daemon.client().request("listReservations", ["status": "active"])
        guard case .array(let items)? = reply.result?["reservations"] else { throw TestFailure("listReservations: \(reply)") }
        return items.count
    }

    /// Every terminal mark in the guest book.
    func allMarks() throws -> [String] {
        let reply = try daemon.client().request("listAll")
        guard case .array(let entries)? = reply.result?["entries"] else { throw TestFailure("listAll: \(reply)") }
        return entries.flatMap { entry -> [String] in
            (entry.objectValue?["terminals"]?.objectValue ?? JSONObject()).flatMap { member -> [String] in
                guard case .array(let links)? = member.value.objectValue?["connectedTo"] else { return [] }
                return links.compactMap(\.stringValue)
            }
        }
    }
}

let exampleWiring = repositoryRoot + "/docs/examples/wiring.yaml"
let exampleManifests = repositoryRoot + "/docs/examples/manifests"

// MARK: - The scenario

@Suite("Static wiring, end to end")
struct WiringTests {
    @Test("the design's wiring: validate, apply (fan-out and merge), the region and the connectome agree, apply again, release")
    func scenario() throws {
        let scenario = try WiringScenario()
        let validated = try scenario.hostess(["wiring", "validate", exampleWiring, "--manifests", exampleManifests])
        #expect(validated.status == 0, "\(validated)")
        #expect(validated.stdout.contains("valid (2 connections against 3 manifests)"))

        let applied = try scenario.hostess(["wiring", "apply", exampleWiring, "--reserve-for", "600"])
        try #require(applied.status == 0, "\(applied)")
        #expect(applied.stdout.contains("applied"))

        // The connectome: PTY stdout fans out to both renderers' input; their outputs merge into the encoder.
        let records = try scenario.connectomes()
        try #require(records.count == 1, "\(records)")
        let record = records[0]
        #expect(record["state"] == "active")
        guard case .array(let links)? = record["links"], let id = record["id"]?.stringValue else { throw TestFailure("\(record)") }
        #expect(id.hasPrefix("wiring-"))
        let shapes = links.compactMap(\.objectValue).map { link -> String in
            let ends = { (key: String) -> String in
                guard case .array(let items)? = link[key] else { return "?" }
                return items.compactMap { item -> String? in
                    guard let server = item.objectValue?["serverId"]?.stringValue, let terminal = item.objectValue?["terminal"]?.stringValue else { return nil }
                    return "\(server).\(terminal)"
                }.joined(separator: "+")
            }
            return "\(link["mode"]?.stringValue ?? "?"): \(ends("sources")) -> \(ends("targets"))"
        }
        #expect(
            shapes == [
                "fanout: \(scenario.pty).stdout -> \(scenario.renderers[0]).input",
                "fanout: \(scenario.pty).stdout -> \(scenario.renderers[1]).input",
                "merge: \(scenario.renderers[0]).output+\(scenario.renderers[1]).output -> \(scenario.encoder).input",
            ])

        // The terminals are in use in the region, with the links' connectome ids.
        #expect(try scenario.connectedTo(scenario.pty, "stdout") == ["\(id).1", "\(id).2"])
        #expect(try scenario.connectedTo(scenario.renderers[0], "input") == ["\(id).1"])
        #expect(try scenario.connectedTo(scenario.renderers[1], "input") == ["\(id).2"])
        #expect(try scenario.connectedTo(scenario.renderers[0], "output") == ["\(id).3"])
        #expect(try scenario.connectedTo(scenario.encoder, "input") == ["\(id).3"])
        #expect(try scenario.activeReservations() == 1)
        let listed = try scenario.hostess(["connectomes"])
        #expect(listed.status == 0 && listed.stdout.contains("\(id).3") && listed.stdout.contains("merge"), "\(listed)")

        // Again: the same connectome, no change at all.
        let revision = try scenario.daemon.client().request("status").result?["revision"]
        let again = try scenario.hostess(["wiring", "apply", exampleWiring])
        #expect(again.status == 0, "\(again)")
        #expect(again.stdout.contains("nothing changed"))
        #expect(try scenario.daemon.client().request("status").result?["revision"] == revision)
        #expect(try scenario.activeReservations() == 1)

        // Release frees everything.
        let released = try scenario.hostess(["wiring", "release", exampleWiring])
        #expect(released.status == 0, "\(released)")
        #expect(try scenario.allMarks().isEmpty)
        #expect(try scenario.activeReservations() == 0)
        #expect(try scenario.connectomes().isEmpty)
    }

    @Test("a wiring that needs 3 renderers when 2 run is refused, and nothing is left held")
    func tooFewServers() throws {
        let scenario = try WiringScenario()
        let text = try String(contentsOfFile: exampleWiring, encoding: .utf8)
            .replacingOccurrences(of: "    - class: '0x0002' # GPU renderer\n      count: 2", with: "    - class: '0x0002' # GPU renderer\n      count: 3")
            .replacingOccurrences(of: "      - server: '*.gpu-renderer.*:2' # Second GPU renderer", with: "      - server: '*.gpu-renderer.*:3' # Third GPU renderer")
        let file = try scenario.daemon.scratch.write("three.wiring.yaml", text)
        let validated = try scenario.hostess(["wiring", "validate", file, "--manifests", exampleManifests])
        #expect(validated.status == 0, "valid against the manifests: \(validated)")
        let applied = try scenario.hostess(["wiring", "apply", file])
        #expect(applied.status == 1, "\(applied)")
        #expect(applied.stderr.contains("\(file):32:14: error: required_servers asks for 3 of class 0x0002; 2 run"), "\(applied.stderr)")
        #expect(applied.stderr.contains("[pattern]"), "\(applied.stderr)")
        #expect(applied.stderr.contains("nothing was changed"))
        #expect(try scenario.allMarks().isEmpty)
        #expect(try scenario.activeReservations() == 0)
        #expect(try scenario.connectomes().isEmpty)
    }

    @Test("a failure after the reservation (a terminal someone else uses) undoes every mark and the reservation; release by connectome id")
    func rollback() throws {
        let scenario = try WiringScenario()
        // The encoder's input takes one connection, and another StateManager holds it already.
        let taken = try scenario.hostess(["mark-in-use", scenario.encoder, "input", "elsewhere-1"])
        try #require(taken.status == 0, "\(taken)")
        let applied = try scenario.hostess(["wiring", "apply", exampleWiring])
        #expect(applied.status == 1, "\(applied)")
        #expect(applied.stderr.contains("failed and was undone (6 marks removed, reservation cancelled)"), "\(applied.stderr)")
        #expect(try scenario.allMarks() == ["elsewhere-1"])
        #expect(try scenario.activeReservations() == 0)
        #expect(try scenario.connectomes().isEmpty)

        // Freed, it applies; released by its connectome id, everything is free again.
        _ = try scenario.hostess(["mark-available", scenario.encoder, "input"])
        let again = try scenario.hostess(["--json", "wiring", "apply", exampleWiring])
        try #require(again.status == 0, "\(again)")
        let id = try #require(try JSONParser.parse(again.stdout).objectValue?["id"]?.stringValue)
        let released = try scenario.hostess(["wiring", "release", id])
        #expect(released.status == 0 && released.stdout.contains("released \(id): 7 terminal marks removed"), "\(released)")
        #expect(try scenario.allMarks().isEmpty)
        #expect(try scenario.activeReservations() == 0)
        let missing = try scenario.hostess(["wiring", "release", id])
        #expect(missing.status == 1 && missing.stderr.contains("no connectome '\(id)' is recorded"), "\(missing)")
    }

    @Test("a renderer killed after apply leaves the connectome degraded, naming the server")
    func degraded() throws {
        let scenario = try WiringScenario()
        let applied = try scenario.hostess(["wiring", "apply", exampleWiring])
        try #require(applied.status == 0, "\(applied)")
        scenario.servers.kill(scenario.renderers[1])
        let deadline = Date().addingTimeInterval(5)
        var record = JSONObject()
        while Date() < deadline {
            record = try scenario.connectomes().first ?? JSONObject()
            if record["state"] == "degraded" { break }
            usleep(50_000)
        }
        #expect(record["state"] == "degraded", "\(record)")
        let problems = record["problems"].flatMap { value -> [JSONValue]? in
            if case .array(let items) = value { return items }
            return nil
        } ?? []
        #expect(problems.contains { $0.objectValue?["serverId"]?.stringValue == scenario.renderers[1] && $0.objectValue?["reason"] == "server_gone" })
        let again = try scenario.hostess(["wiring", "apply", exampleWiring])
        #expect(again.status == 1 && again.stderr.contains("degraded"), "\(again)")
        let released = try scenario.hostess(["wiring", "release", exampleWiring])
        #expect(released.status == 0, "\(released)")
        #expect(try scenario.allMarks().isEmpty)
        #expect(try scenario.activeReservations() == 0)
    }

    @Test("the example server's manifests are the docs' copies, byte for byte", arguments: ["pty-server", "gpu-renderer", "mp4-encoder"])
    func manifestCopies(role: String) throws {
        let source = try Data(contentsOf: URL(fileURLWithPath: "\(repositoryRoot)/Sources/hostess-example-server/\(role).manifest.json"))
        let copy = try Data(contentsOf: URL(fileURLWithPath: "\(exampleManifests)/\(role).manifest.json"))
        #expect(source == copy)
        let printed = try CLI.run(Binaries.path("hostess-example-server"), ["--role", role, "--print-manifest"])
        #expect(printed.status == 0)
        #expect(try JSONParser.parse(printed.stdout) == JSONParser.parse(String(decoding: copy, as: UTF8.self)))
    }
}
