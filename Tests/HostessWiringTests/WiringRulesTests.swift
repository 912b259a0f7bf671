import Foundation
import HostessModel
import Testing

@testable import HostessWiring

// MARK: - Fixtures

/// The repository's docs/examples directory.
let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("docs/examples").path

/// The three example manifests, as files.
func exampleManifestFiles() throws -> [(file: String, bytes: [UInt8])] {
    try ["pty-server", "gpu-renderer", "mp4-encoder"].map { role in
        let path = "\(examples)/manifests/\(role).manifest.json"
        return (path, [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
    }
}

/// Checks a wiring text (`w.yaml`) against the example manifests.
func check(_ yaml: String) throws -> [WiringDiagnostic] {
    WiringCheck(manifests: try exampleManifestFiles(), wirings: [("w.yaml", Array(yaml.utf8))]).diagnostics
}

/// A wiring of one connection, for the rule tables.
func oneConnection(_ body: String) -> String {
    """
    connections:
      - \(body.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n    "))
    validation:
      required_servers:
        - class: '0x0002'
          count: 2
    """
}

// MARK: - Patterns

@Suite("Server patterns")
struct ServerPatternTests {
    @Test("spellings and ordinals", arguments: [
        ("*.gpu-renderer.*:2", ["*", "gpu-renderer"], 2, true),
        ("*.gpu-renderer.*", ["*", "gpu-renderer"], 1, false),
        ("gpu-renderer", ["*", "gpu-renderer"], 1, false),
        ("*:gpu-*:0x0002", ["*", "gpu-*", "0x0002"], 1, false),
        ("m.local:gpu:0x0002:alice:no:none:*:3", ["m.local", "gpu", "0x0002", "alice", "no", "none", "*"], 3, true),
        ("*.render.v2.*", ["*", "render.v2"], 1, false),
    ])
    func spellings(text: String, fields: [String], ordinal: Int, written: Bool) throws {
        let pattern = try ServerPattern(parsing: text)
        #expect(pattern.fields == fields)
        #expect(pattern.ordinal == ordinal)
        #expect(pattern.hasOrdinal == written)
    }

    @Test("refusals say what is wrong", arguments: [
        ("", "empty"),
        ("a.b", "neither the dotted form"),
        ("*.x.*:0", "ordinal ':0' is not from 1 to 1024"),
        ("*.x.*:99999", "ordinal ':99999'"),
        ("a:b:c:d:e:f:g:h", "at most 7 fields"),
        ("*::x", "field 2 (servername) of the pattern is empty"),
        ("gpu renderer", "printable ASCII without spaces"),
    ])
    func refusals(text: String, message: String) {
        #expect(throws: PatternError.self) { try ServerPattern(parsing: text) }
        do { _ = try ServerPattern(parsing: text) } catch { #expect(error.message.contains(message), "\(error)") }
    }

    @Test("globs match whole fields, classes without regard to case", arguments: [
        ("*.gpu-renderer.*", true), ("gpu-*", true), ("*:gpu-renderer:0X0002", true), ("*:gpu-renderer:0x0003", false),
        ("*:*:*:alice", true), ("*:*:*:ali", false), ("*:g?u-renderer", true), ("machine-?.local:*", true), ("*.pty-server.*", false),
    ])
    func matching(text: String, matches: Bool) throws {
        let name = try ServerName(parsing: "machine-a.local:gpu-renderer:0x0002:alice:no:none:6ba7b810-9dad-11d1-80b4-00c04fd430c8")
        #expect(try ServerPattern(parsing: text).matches(name) == matches)
    }

    @Test("a glob of many stars against a long field stays bounded")
    func pathologicalGlob() {
        let glob = String(repeating: "*a", count: 100) + "b"
        let text = String(repeating: "a", count: 400)
        #expect(ServerPattern.glob(glob, matches: text) == false)
    }
}

// MARK: - Rules

@Suite("Wiring rules")
struct WiringRulesTests {
    @Test("the design's example is valid against its manifests, in YAML and in JSON, and both name one connectome")
    func example() throws {
        let yaml = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(examples)/wiring.yaml")))
        let json = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(examples)/wiring.json")))
        let check = WiringCheck(manifests: try exampleManifestFiles(), wirings: [("wiring.yaml", yaml), ("wiring.json", json)])
        #expect(check.diagnostics.isEmpty, "\(check.diagnostics)")
        #expect(check.manifests.count == 3)
        try #require(check.wirings.count == 2)
        #expect(check.wirings[0].wiring.connections.count == 2)
        #expect(check.wirings[0].document.value == check.wirings[1].document.value)
        #expect(WiringPlan.connectomeID(of: check.wirings[0].document) == WiringPlan.connectomeID(of: check.wirings[1].document))
    }

    @Test("each broken rule is reported at its place", arguments: [
        (
            "source:\n  server: '*.gpu-render.*'\n  terminal: output\ntarget:\n  server: '*.mp4-encoder.*'\n  terminal: input", "3:15", .pattern,
            "'*.gpu-render.*' matches no manifest"
        ),
        (
            "source:\n  server: '*.pty-server.*'\n  terminal: stdio\ntarget:\n  server: '*.gpu-renderer.*'\n  terminal: input", "4:17", .terminal,
            "has no terminal 'stdio' (it has: stdin, stdout, stderr)"
        ),
        (
            "source:\n  server: '*.pty-server.*'\n  terminal: stdin\ntarget:\n  server: '*.gpu-renderer.*'\n  terminal: input", "4:17",
            .direction, "terminal stdin of pty-server (0x0001"
        ),
        (
            "source:\n  server: '*.mp4-encoder.*'\n  terminal: output\ntarget:\n  server: '*.gpu-renderer.*'\n  terminal: output", "7:17",
            .direction, "a target must be input or bidirectional"
        ),
        (
            "source:\n  servers: ['x']\n  terminal: output\ntarget:\n  server: 'y'\n  terminal: input", "3:16", .syntax,
            "flow collections are not supported"
        ),
        (
            "source:\n  servers:\n    - '*.gpu-renderer.*:1'\n    - '*.gpu-renderer.*:2'\n  terminal: output\ntarget:\n  server: '*.mp4-encoder.*'\n  terminal: input",
            "9:17", .multiplexing, "receives on 2 connections, which needs fanin or mode: merge"
        ),
        (
            "source:\n  server: '*.gpu-renderer.*'\n  terminal: input\ntargets:\n  - server: '*.mp4-encoder.*'\n    terminal: input", "4:17",
            .direction, "a source must be output or bidirectional"
        ),
        (
            "source:\n  server: '*.gpu-renderer.*'\n  terminal: output\ntarget:\n  server: '*.mp4-encoder.*'\n  terminal: input\n  mode: merge",
            "6:15", .multiplexing, "mode merge combines several sources"
        ),
        (
            "source:\n  server: '*.pty-server.*'\n  terminal: stdout\ntarget:\n  server: '*.gpu-renderer.*:3'\n  terminal: input", "6:15", .ordinal,
            "ordinal 3 of '*.gpu-renderer.*:3' is beyond the 2 servers of class 0x0002"
        ),
        (
            "source:\n  server: '*.pty-server.*:2'\n  terminal: stdout\ntarget:\n  server: '*.gpu-renderer.*'\n  terminal: input", "3:15", .ordinal,
            "needs a required_servers entry for class 0x0001 with count 2 or more"
        ),
        (
            "source:\n  server: '*.pty-server.*'\n  terminal: stdout\n  extra: 1\ntarget:\n  server: '*.gpu-renderer.*'\n  terminal: input", "5:14",
            .schema, "unknown member 'extra'; a source takes server, servers, terminal"
        ),
    ] as [(String, String, WiringDiagnostic.Rule, String)])
    func rules(body: String, place: String, rule: WiringDiagnostic.Rule, message: String) throws {
        let diagnostics = try check(oneConnection(body))
        #expect(diagnostics.contains { "\($0.location)" == place && $0.rule == rule && $0.message.contains(message) }, "\(diagnostics)")
    }

    @Test("`none` takes one connection in all: a second connection into it is refused at its place")
    func noneTakesOne() throws {
        let diagnostics = try check(
            """
            connections:
              - source:
                  server: '*.pty-server.*'
                  terminal: stdout
                target:
                  server: '*.gpu-renderer.*'
                  terminal: input
              - source:
                  server: '*.pty-server.*'
                  terminal: stderr
                target:
                  server: '*.gpu-renderer.*'
                  terminal: input
            """)
        #expect(diagnostics.map(\.rule) == [.multiplexing], "\(diagnostics)")
        #expect(diagnostics.first.map { "\($0.location)" } == "13:17")
        #expect(diagnostics.first?.message.contains("receives on 2 connections (with the one at line 7)") == true, "\(diagnostics)")
    }

    @Test("every broken rule is reported, not only the first, in file order")
    func allReported() throws {
        let diagnostics = try check(
            """
            connections:
              - source:
                  server: '*.nothing.*'
                  terminal: output
                target:
                  server: '*.mp4-encoder.*'
                  terminal: nope
              - source:
                  server: '*.pty-server.*'
            validation:
              required_servers:
                - class: '0x0009'
                  count: 1
            """)
        #expect(diagnostics.map(\.rule) == [.pattern, .terminal, .schema, .required], "\(diagnostics)")
        #expect(diagnostics.map { "\($0.location)" } == ["3:15", "7:17", "9:7", "12:14"])
        #expect(diagnostics.allSatisfy { $0.description.hasPrefix("w.yaml:") && $0.description.contains(": error: ") })
    }

    @Test("bad manifests are reported at their place, and a servername defined twice")
    func badManifests() {
        let good = Array(#"{"name":"a","class":"0x0001","owner":"system"}"#.utf8)
        let badClass = Array("{\n  \"name\": \"b\",\n  \"class\": \"0x1\",\n  \"owner\": \"system\"\n}".utf8)
        let check = WiringCheck(manifests: [("a.manifest.json", good), ("b.manifest.json", badClass), ("c.manifest.json", good)], wirings: [])
        #expect(check.manifests.count == 1)
        #expect(check.diagnostics.map(\.description) == [
            "b.manifest.json:3:12: error: hexcode: expected 0x followed by 4 hex digits, e.g. 0x0001; found '0x1' [manifest]",
            "c.manifest.json:1:9: error: a second manifest named 'a' (the first is a.manifest.json); servernames must be unique [manifest]",
        ])
    }
}

// MARK: - Plans

@Suite("Wiring plans against running servers")
struct WiringPlanTests {
    /// A running server of the example roles.
    func entry(_ role: String, serial: UInt64, reservedBy: String? = nil) throws -> GuestBookEntry {
        let manifests = try exampleManifestFiles().map { file in try ServerManifest(json: try JSONParser.parse(file.bytes)) }
        let manifest = try #require(manifests.first { $0.name == role })
        let uuid = String(format: "00000000-0000-0000-0000-%012d", serial)
        let registration = try manifest.registration(fqdn: "localhost", uuid: uuid)
        var entry = GuestBookEntry(
            name: registration.name, terminals: registration.terminals, capabilities: registration.capabilities, metadata: registration.metadata,
            registeredAt: 0, lastHeartbeat: 0, serial: serial, session: true)
        entry.reservedBy = reservedBy
        return entry
    }

    func example() throws -> (SourceDocument, Wiring) {
        let document = try SourceDocument.yaml([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(examples)/wiring.yaml"))), file: "wiring.yaml")
        return (document, try #require(Wiring.decode(document).wiring))
    }

    @Test("ordinals count in registration order, skipping servers another reservation holds")
    func plan() throws {
        let (document, wiring) = try example()
        let entries = [
            try entry("gpu-renderer", serial: 4), try entry("pty-server", serial: 1), try entry("gpu-renderer", serial: 2, reservedBy: "other"),
            try entry("gpu-renderer", serial: 3), try entry("mp4-encoder", serial: 5),
        ]
        let plan = try WiringPlan.make(wiring, in: document, entries: entries, connectomeID: "w")
        #expect(plan.links.map(\.id) == ["w.1", "w.2", "w.3"])
        #expect(plan.links.map(\.mode) == [.fanout, .fanout, .merge])
        let renderers = plan.links[2].sources.map(\.serverID.uuid)
        #expect(renderers == ["00000000-0000-0000-0000-000000000003", "00000000-0000-0000-0000-000000000004"])
        #expect(plan.serverIDs.count == 4)
        #expect(plan.marks.count == 2 * 2 + 3)
    }

    @Test("too few free servers: every shortage is named, nothing is planned")
    func shortage() throws {
        let (document, wiring) = try example()
        let entries = [try entry("pty-server", serial: 1), try entry("gpu-renderer", serial: 2), try entry("gpu-renderer", serial: 3, reservedBy: "x")]
        #expect(throws: WiringRejection.self) { try WiringPlan.make(wiring, in: document, entries: entries, connectomeID: "w") }
        do { _ = try WiringPlan.make(wiring, in: document, entries: entries, connectomeID: "w") } catch {
            // The second renderer is missing where both connections name it; the encoder is missing.
            #expect(error.diagnostics.map(\.rule) == [.pattern, .pattern, .pattern, .required, .required], "\(error)")
            #expect(error.diagnostics.map { "\($0.location)" } == ["12:17", "19:11", "22:15", "32:14", "34:14"])
            #expect(error.diagnostics[3].message == "required_servers asks for 2 of class 0x0002; 2 run, 1 of them not held by another reservation")
        }
    }
}
