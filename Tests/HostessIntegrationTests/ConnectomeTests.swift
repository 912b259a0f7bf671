import Foundation
import Glibc
import HostessModel
import Testing

// Connectomes and reservations of exact servers against the real hostessd: over the socket, HTTP (curl), the
// CLI, and as user nobody.

// MARK: - Helpers

private enum C {
    /// Registers a PTY (`stdin`, `stdout`) and a renderer (the same terminals) owned by root; returns their ids.
    static func servers(on client: RawClient) throws -> (pty: String, renderer: String) {
        let pty = Fixture.id(servername: "pty")
        let renderer = Fixture.id(servername: "renderer", classCode: "0x0002")
        for id in [pty, renderer] {
            let reply = try client.request("register", ["entry": Fixture.entry(id: id)])
            guard reply.errorCode == nil else { throw TestFailure("register: \(reply)") }
        }
        return (pty, renderer)
    }

    /// The connectome `id`: link `l-1` from the PTY's stdout to the renderer's stdin.
    static func connectome(_ id: String, pty: String, renderer: String) -> JSONValue {
        [
            "id": .string(id), "source": "wiring.yaml",
            "links": [
                [
                    "id": "l-1", "mode": "direct", "sources": [["serverId": .string(pty), "terminal": "stdout"]],
                    "targets": [["serverId": .string(renderer), "terminal": "stdin"]],
                ]
            ],
        ]
    }

    /// Marks both endpoints of `l-1` in use.
    static func mark(_ client: RawClient, pty: String, renderer: String) throws {
        for (id, terminal) in [(pty, "stdout"), (renderer, "stdin")] {
            let reply = try client.request("markInUse", ["serverId": .string(id), "terminal": .string(terminal), "connectomeId": "l-1"])
            guard reply.errorCode == nil else { throw TestFailure("markInUse: \(reply)") }
        }
    }

    /// The `result` of a request that must succeed.
    static func result(_ client: RawClient, _ command: String, _ parameters: JSONObject = [:]) throws -> JSONObject {
        let reply = try client.request(command, parameters)
        guard let result = reply.result else { throw TestFailure("\(command): \(reply)") }
        return result
    }
}

// MARK: - Tests

@Suite("connectomes and exact reservations against the real hostessd", .serialized)
struct ConnectomeIntegrationTests {
    @Test("record over the socket, read back over the socket, HTTP and the CLI; degraded once a server leaves")
    func recordAndRead() throws {
        let http = try HTTPDaemon()
        let client = try http.socketClient()
        let (pty, renderer) = try C.servers(on: client)
        try C.mark(client, pty: pty, renderer: renderer)
        let before = try #require(try client.request("status").revision)

        let recorded = try C.result(client, "recordConnectome", ["connectome": C.connectome("wiring-1", pty: pty, renderer: renderer)])
        #expect(recorded["created"] == true)
        let record = try #require(recorded["connectome"]?.objectValue)
        #expect(record["state"] == "active")
        #expect(record["problems"] == [])
        #expect(record["createdBy"] == ["uid": 0])
        #expect(record["source"] == "wiring.yaml")
        let watched = try C.result(client, "watch", ["sinceRevision": .int(before), "timeout": 0])
        #expect(watched["changes"] == [["revision": .int(before + 1), "kind": "connectome", "id": "wiring-1"]])

        let again = try C.result(client, "recordConnectome", ["connectome": C.connectome("wiring-1", pty: pty, renderer: renderer)])
        #expect(again["created"] == false)
        let conflict = try client.request("recordConnectome", ["connectome": C.connectome("wiring-1", pty: renderer, renderer: pty)])
        #expect(conflict.errorCode == "conflict", "\(conflict)")
        let missing = try client.request("recordConnectome", ["connectome": C.connectome("wiring-2", pty: Fixture.id(), renderer: renderer)])
        #expect(missing.errorCode == "not_found" && missing.errorField == "connectome.links[0].sources[0].serverId", "\(missing)")

        #expect(try C.result(client, "getConnectome", ["connectomeId": "wiring-1"])["connectome"]?.objectValue == record)
        #expect(try C.result(client, "listConnectomes")["connectomes"] == [.object(record)])

        // HTTP reads are open and unsigned.
        let list = try Curl.request("GET", http.url + "/connectomes").reply
        #expect(list.status == 200, "\(list)")
        #expect(list.json == ["connectomes": [.object(record)]], "\(list)")
        let one = try Curl.request("GET", http.url + "/connectomes/wiring-1").reply
        #expect(one.status == 200 && one.json == ["connectome": .object(record)], "\(one)")
        let unknown = try Curl.request("GET", http.url + "/connectomes/nope").reply
        #expect(unknown.status == 404 && unknown.json?.objectValue?["error"]?.objectValue?["code"] == "not_found", "\(unknown)")
        let post = try Curl.request("POST", http.url + "/connectomes", headers: ["Content-Type: application/json"], body: "{}").reply
        #expect(post.status == 405 && post.header("Allow") == "GET, HEAD", "\(post)")

        // The CLI: a table row per endpoint pair and a count line; --json prints the array.
        let table = try CLI.hostess(["connectomes", "--wide"], socket: http.daemon.socketPath)
        #expect(table.status == 0, "\(table)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("CONNECTOME") == true && lines.first?.contains("STATE") == true, "\(table)")
        #expect(lines.contains { $0.contains("wiring-1") && $0.contains("\(pty).stdout") && $0.contains("\(renderer).stdin") && $0.hasSuffix("active") }, "\(table)")
        #expect(lines.last == "1 connectome, 1 link", "\(table)")
        let json = try CLI.hostess(["connectomes", "--json"], socket: http.daemon.socketPath)
        #expect(try JSONParser.parse(json.stdout) == [.object(record)], "\(json)")
        let shown = try CLI.hostess(["connectome", "wiring-1"], socket: http.daemon.socketPath)
        #expect(shown.status == 0 && shown.stdout.contains("state:         active"), "\(shown)")
        let absent = try CLI.hostess(["connectome", "nope"], socket: http.daemon.socketPath)
        #expect(absent.status == 1 && absent.stderr.contains("not_found"), "\(absent)")
        let usage = try CLI.hostess(["connectome"], socket: http.daemon.socketPath)
        #expect(usage.status == 2, "\(usage)")

        // The renderer leaves: the connectome is degraded from then on, and says why.
        #expect(try client.request("unregister", ["serverId": .string(renderer)]).errorCode == nil)
        let degraded = try #require(try C.result(client, "getConnectome", ["connectomeId": "wiring-1"])["connectome"]?.objectValue)
        #expect(degraded["state"] == "degraded")
        #expect(degraded["problems"] == [["linkId": "l-1", "serverId": .string(renderer), "terminal": "stdin", "reason": "server_gone"]])
        let after = try CLI.hostess(["connectomes"], socket: http.daemon.socketPath)
        #expect(after.stdout.contains("degraded (to server_gone)"), "\(after)")
    }

    @Test("reserve with serverIds holds exactly those servers, all or none, over the socket and with hostess reserve --server")
    func reserveExactServers() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let (pty, renderer) = try C.servers(on: client)
        let gone = Fixture.id()
        let refused = try client.request(
            "reserve", ["reservation": ["count": 2, "serverFilter": ["serverIds": [.string(pty), .string(gone)]]]])
        #expect(refused.errorCode == "conflict", "\(refused)")
        #expect(try C.result(client, "listReservations")["reservations"] == [], "all or none: nothing held")

        let cli = try CLI.hostess(
            ["--json", "reserve", "--count", "2", "--server", renderer, "--server", pty.uppercased().replacingOccurrences(of: "LOCALHOST:PTY:", with: "localhost:pty:").replacingOccurrences(of: ":ROOT:NO:NONE:", with: ":root:no:none:")],
            socket: daemon.socketPath)
        #expect(cli.status == 0, "\(cli)")
        let reservation = try #require(try JSONParser.parse(cli.stdout).objectValue, "\(cli)")
        #expect(Set((reservation["serverIds"]?.elements ?? []).compactMap(\.stringValue)) == [pty, renderer])
        #expect(reservation["serverFilter"]?.objectValue?["serverIds"] == [.string(renderer), .string(pty)])

        let query = try CLI.hostess(["--json", "--via", "socket", "query", "--server", pty, "--unreserved"], socket: daemon.socketPath)
        #expect(try JSONParser.parse(query.stdout) == [], "\(query)")
        let region = try CLI.hostess(["--json", "--via", "shm", "query", "--server", pty, "--server", gone], socket: daemon.socketPath)
        #expect((try JSONParser.parse(region.stdout).elements ?? []).compactMap { $0.objectValue?["id"] } == [.string(pty)], "\(region)")
        // Not a whole id, and the start of none: refused as an unknown id is (the guest book decides, not the syntax).
        let bad = try CLI.hostess(["query", "--server", "nope"], socket: daemon.socketPath)
        #expect(bad.status == 1 && bad.stderr.contains("not_found"), "\(bad)")
    }

    @Test("user nobody cannot remove root's connectome; root can, and removing leaves the terminals marked")
    func removeRights() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let (pty, renderer) = try C.servers(on: client)
        try C.mark(client, pty: pty, renderer: renderer)
        _ = try C.result(client, "recordConnectome", ["connectome": C.connectome("wiring-root", pty: pty, renderer: renderer)])

        let script = """
            import json, socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sys.argv[1])
            s.sendall(json.dumps({"id": 1, "command": "removeConnectome", "connectomeId": "wiring-root"}).encode() + b"\\n")
            print(s.makefile("rb").readline().decode().strip())
            """
        let outcome = try CLI.run("/usr/bin/python3", ["-c", script, daemon.socketPath], asNobody: true)
        #expect(outcome.status == 0, "\(outcome)")
        let reply = try #require(try JSONParser.parse(outcome.stdout).objectValue, "\(outcome)")
        #expect(reply["error"]?.objectValue?["code"] == "forbidden", "\(outcome)")
        #expect(reply["error"]?.objectValue?["field"] == "connectomeId", "\(outcome)")
        #expect(try client.request("getConnectome", ["connectomeId": "wiring-root"]).errorCode == nil, "a refused remove changes nothing")

        let removed = try C.result(client, "removeConnectome", ["connectomeId": "wiring-root"])
        #expect(removed["connectome"]?.objectValue?["id"] == "wiring-root")
        #expect(try client.request("getConnectome", ["connectomeId": "wiring-root"]).errorCode == "not_found")
        let entry = try C.result(client, "getServer", ["serverId": .string(pty)])["entry"]
        #expect(entry?.objectValue?["terminals"]?.objectValue?["stdout"]?.objectValue?["connectedTo"] == ["l-1"])
    }
}
