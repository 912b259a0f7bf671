import Foundation
import Testing

/// docs/hostessd.service is shipped as it is, and docs/operations.md §7 describes it: the unit must load,
/// and what the doc says of it (the user, the writable paths, where state survives) must be what it says.
@Suite("the shipped systemd unit")
struct SystemdUnitTests {
    static let root = DocumentedReaderTests.root

    /// The unit's `Key=Value` lines (comments and sections left out), every value of a repeated key kept.
    static func settings() throws -> [String: [String]] {
        let text = try String(contentsOfFile: root + "/docs/hostessd.service", encoding: .utf8)
        var settings: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        return settings
    }

    @Test("systemd-analyze verify loads the unit (its ExecStart pointed at the built hostessd) without a complaint")
    func verifies() throws {
        let scratch = try ScratchDirectory()
        let text = try String(contentsOfFile: Self.root + "/docs/hostessd.service", encoding: .utf8)
        #expect(text.contains("ExecStart=/usr/local/bin/hostessd --config /etc/hostess/hostessd.json"))
        let unit = try scratch.write(
            "hostessd.service", text.replacingOccurrences(of: "/usr/local/bin/hostessd", with: Binaries.path("hostessd")))
        let outcome = try CLI.run("/usr/bin/systemd-analyze", ["verify", unit], timeout: 30)
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.stdout.isEmpty && outcome.stderr.isEmpty, "\(outcome)")
    }

    @Test("operations.md §7 describes the unit as it is: root without DynamicUser, its writable paths, state kept in StateDirectory")
    func matchesOperations() throws {
        let settings = try Self.settings()
        let operations = try String(contentsOfFile: Self.root + "/docs/operations.md", encoding: .utf8)
        #expect(settings["DynamicUser"] == nil && settings["User"] == nil, "runs as root")
        #expect(operations.contains("**Runs as root, no `DynamicUser`.**"))
        #expect(settings["RemoveIPC"] == ["no"], "a crashed instance's region survives for its successor")
        #expect(settings["RuntimeDirectory"] == ["hostess"] && settings["StateDirectory"] == ["hostess"])
        // The writable paths the doc names are the unit's: ReadWritePaths plus the runtime and state directories.
        let writable = Set((settings["ReadWritePaths"] ?? []).flatMap { $0.split(separator: " ").map(String.init) })
            .union(["/run/hostess", "/var/lib/hostess"])
        #expect(operations.contains("The writable paths are `/run/hostess`,\n  `/dev/shm` (the region"), "operations.md names them")
        #expect(writable == ["/run/hostess", "/dev/shm", "/var/lib/hostess"], "\(writable)")
        #expect(settings["RestrictAddressFamilies"] == ["AF_UNIX"])
        #expect(operations.contains("`--http`, `--peer` and `--directory` need\n  `AF_INET AF_INET6`"))
        // The example config keeps the reservations where they survive a restart.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.root + "/docs/hostessd.example.json")))
        let reservations = (config as? [String: Any])?["reservationsFile"] as? String
        #expect(reservations?.hasPrefix("/var/lib/hostess/") == true, "\(String(describing: reservations))")
        #expect((config as? [String: Any])?["socket"] as? String == "/run/hostess/hostess.sock")
    }

    @Test("hostessd starts with the example config file, its paths moved into a scratch directory by flags")
    func exampleConfigStarts() throws {
        let scratch = try ScratchDirectory()
        // Flags override the file: the socket, region and reservations go where this test may write.
        let daemon = try DaemonProcess(["--config", Self.root + "/docs/hostessd.example.json", "--reservations-file", scratch.path + "/r"])
        let status = try daemon.client().request("status")
        #expect(status.errorCode == nil, "\(status)")
        #expect(status.result?["ttl"] == .double(15), "\(status)")
    }
}
