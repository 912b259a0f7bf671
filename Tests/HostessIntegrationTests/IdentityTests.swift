import Foundation
import Glibc
import HostessModel
import Testing

/// Identity comes from the kernel (SO_PEERCRED), not from what a client claims. The client runs as `nobody`
/// through setpriv, a real second user.
@Suite("hostessd identity and ownership")
struct IdentityTests {
    static func register(as owner: String, daemon: DaemonProcess, asNobody: Bool) throws -> CLI.Outcome {
        try CLI.hostess(
            ["register", "--name", "worker", "--class", "0x0042", "--owner", owner, "--fqdn", "localhost",
             "--terminal", "in:input:none"],
            socket: daemon.socketPath, asNobody: asNobody, scratch: daemon.scratch)
    }

    @Test("the daemon sees nobody's real uid")
    func peerCredentials() throws {
        let daemon = try DaemonProcess()
        let status = try CLI.hostess(["--json", "status"], socket: daemon.socketPath, asNobody: true, scratch: daemon.scratch)
        #expect(status.status == 0, "\(status)")
        let object = try #require(try JSONParser.parse(status.stdout).objectValue)
        #expect(object["caller"] == ["uid": 65534, "ownerNames": ["nobody"]])
    }

    @Test("a non-root client may register only as its own user")
    func registerOwnName() throws {
        let daemon = try DaemonProcess()
        let refused = try Self.register(as: "root", daemon: daemon, asNobody: true)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("forbidden"))
        let allowed = try Self.register(as: "nobody", daemon: daemon, asNobody: true)
        #expect(allowed.status == 0, "\(allowed)")
        let list = try daemon.client().request("listAll")
        guard case .array(let entries)? = list.result?["entries"] else { throw TestFailure("\(list)") }
        #expect(entries.count == 1)
        #expect(entries.first?.objectValue?["owner"] == "nobody")
    }

    @Test("only the owner or root may change or remove an entry")
    func onlyOwnerChanges() throws {
        let daemon = try DaemonProcess()
        let rootEntry = try Self.register(as: "root", daemon: daemon, asNobody: false).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let nobodyEntry = try Self.register(as: "nobody", daemon: daemon, asNobody: true).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for arguments in [["unregister", rootEntry], ["heartbeat", rootEntry], ["mark-in-use", rootEntry, "in", "c1"], ["mark-available", rootEntry, "in"]] {
            let outcome = try CLI.hostess(arguments, socket: daemon.socketPath, asNobody: true, scratch: daemon.scratch)
            #expect(outcome.status == 1, "\(arguments): \(outcome)")
            #expect(outcome.stderr.contains("forbidden"), "\(arguments): \(outcome)")
        }
        // Re-registering root's id as nobody is refused too: the id names root as owner.
        let client = try daemon.client()
        #expect(try client.request("getServer", ["serverId": .string(rootEntry)]).errorCode == nil)
        let marked = try CLI.hostess(["mark-in-use", nobodyEntry, "in", "c1"], socket: daemon.socketPath, asNobody: true, scratch: daemon.scratch)
        #expect(marked.status == 0, "\(marked)")
        let removed = try CLI.hostess(["unregister", nobodyEntry], socket: daemon.socketPath)
        #expect(removed.status == 0, "root may remove anyone's entry: \(removed)")
        #expect(try client.request("getServer", ["serverId": .string(rootEntry)]).errorCode == nil, "root's entry is untouched")
    }

    @Test("owner names the operator maps to a uid in the config file")
    func configuredOwnerNames() throws {
        let scratch = try ScratchDirectory()
        let config = try scratch.write("hostessd.json", #"{"owners": {"nobody": ["system", "container-xyz"]}}"#)
        let daemon = try DaemonProcess(["--config", config], scratch: scratch)
        #expect(try Self.register(as: "system", daemon: daemon, asNobody: true).status == 0)
        #expect(try Self.register(as: "container-xyz", daemon: daemon, asNobody: true).status == 0)
        #expect(try Self.register(as: "alice", daemon: daemon, asNobody: true).status == 1)
    }

    @Test("a config file with an unknown key or a bad value stops the daemon with a message naming it", arguments: [
        (#"{"ttl": "long"}"#, "ttl"),
        (#"{"colour": 1}"#, "colour"),
        (#"{"owners": {"no-such-user-xyz": ["a"]}}"#, "no-such-user-xyz"),
        ("{not json", "invalid JSON"),
    ])
    func badConfig(text: String, mentions: String) throws {
        let scratch = try ScratchDirectory()
        let config = try scratch.write("bad.json", text)
        let outcome = try CLI.run(Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--config", config], timeout: 10)
        #expect(outcome.status == 2, "\(outcome)")
        #expect(outcome.stderr.contains(mentions), "\(outcome)")
    }
}
