import Foundation
import Glibc
import HostessClient
import HostessModel
import HostessSystem
import Synchronization
import Testing

// MARK: - ScriptedDaemon

/// A stand-in for hostessd on a Unix socket: each request line is answered with the lines `answer` returns for it
/// (none: no answer yet), so a client meets replies hostessd never writes. With `closing`, the connection is closed
/// after the first answer. It serves one connection, which the test must open.
final class ScriptedDaemon: @unchecked Sendable {
    let scratch: ScratchDirectory
    let socketPath: String

    init(closing: Bool = false, answer: @escaping @Sendable (_ request: JSONObject, _ id: Int64) -> [String]) throws {
        scratch = try ScratchDirectory()
        socketPath = scratch.path + "/scripted.sock"
        let listener = try Syscall.unixStreamSocket(nonBlocking: false)
        do {
            try Syscall.bind(listener, to: try UnixSocketAddress(path: socketPath))
            try Syscall.listen(listener, backlog: 4)
        } catch {
            Syscall.close(listener)
            throw error
        }
        // The thread owns the listener: this object may go before the connection is accepted.
        Thread {
            let accepted = try? Syscall.accept(listener)
            Syscall.close(listener)
            guard let connection = accepted ?? nil else { return }
            defer { Syscall.close(connection) }
            // Accepted connections are non-blocking (they are made for the event loop); this thread blocks.
            guard (try? Syscall.setNonBlocking(connection, false)) != nil else { return }
            var buffer: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = Glibc.read(connection, &chunk, chunk.count)
                guard count > 0 else { return }
                buffer += chunk[..<count]
                while let newline = buffer.firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    guard let request = try? JSONParser.parse(line).objectValue, case .int(let id)? = request["id"] else { continue }
                    for reply in answer(request, id) { try? Syscall.writeAll(connection, Array((reply + "\n").utf8), socket: true) }
                    if closing { return }
                }
            }
        }.start()
    }
}

// MARK: - Fixtures

/// An entry with every kind of member, and its JSON text (which the fast path reads).
private func fixture() throws -> (entry: GuestBookEntry, text: String) {
    var entry = GuestBookEntry(
        name: try ServerName(parsing: "host.example:pty-server:0x0001:alice:no:none:123e4567-e89b-12d3-a456-426614174000"),
        terminals: [try Terminal(name: "t", direction: .input, multiplexing: .none, connectedTo: ["c-1"])], capabilities: ["pty", "é"],
        metadata: ["text": "quote \" and 😀", "nested": ["list": [1, 2.5, nil]]], registeredAt: 1, lastHeartbeat: 2, serial: 3, session: true)
    entry.reservedBy = "r-1"
    return (entry, entry.json.jsonText)
}

// MARK: - HostessClient against scripted replies

@Suite("EntryDecoder in HostessClient: routing and falling back to the tree")
struct EntryDecoderClientTests {
    @Test("listAll, query, getServer, markInUse and markAvailable read replies straight from their bytes, or as a tree, to the same entries")
    func shapes() async throws {
        let (entry, entryText) = try fixture()
        let scripted = try ScriptedDaemon { request, id in
            switch request["command"]?.stringValue {
            case "listAll": [#"{"id":\#(id),"revision":3,"result":{"entries":[\#(entryText),\#(entryText)]}}"#]
            // Another member in the result: the fast path declines, the tree reads it.
            case "query": [#"{"result":{"entries":[\#(entryText)],"more":false},"revision":3,"id":\#(id)}"#]
            case "getServer": [#"{"id":\#(id),"revision":3,"result":{"entry":\#(entryText)}}"#]
            // An entry member the fast path does not know (the tree ignores it).
            case "markInUse": [#"{"id":\#(id),"revision":4,"result":{"entry":\#(entryText.dropLast()),"hostess":"local"}}}"#]
            case "markAvailable": [#" { "id" : \#(id) , "revision" : 5 , "result" : { "entry" : \#(entryText) } } "#]
            default: [#"{"id":\#(id),"revision":3,"result":{}}"#]
            }
        }
        let client = try HostessClient(socketPath: scripted.socketPath, events: { _ in })
        defer { client.close() }
        #expect(try await client.listAll() == [entry, entry])
        #expect(try await client.query(ServerFilter()) == [entry])
        #expect(try await client.getServer(entry.id) == entry)
        #expect(try await client.markInUse(entry.id, terminal: "t", connectomeID: "c-1") == entry)
        #expect(try await client.markAvailable(entry.id, terminal: "t") == entry)
        #expect(try await client.status() == [:])
    }

    /// A command answered with a reply the client must refuse, and the error it must throw.
    struct Refusal: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var command: String
        /// The reply's `result` or `error` member; `ENTRY` stands for the fixture's JSON text.
        var member: String
        var code: HostessError.Code
        var field: String?
    }

    static let refusals: [Refusal] = [
        Refusal(testDescription: "an error reply to listAll", command: "listAll", member: #""error":{"code":"not_found","message":"gone","field":"serverId"}"#, code: .notFound, field: "serverId"),
        Refusal(testDescription: "an error reply to getServer", command: "getServer", member: #""error":{"code":"forbidden","message":"no"}"#, code: .forbidden, field: nil),
        Refusal(testDescription: "an entry that does not read", command: "listAll", member: #""result":{"entries":[ENTRY-SIDEWAYS]}"#, code: .badRequest, field: "entry.terminals.t.direction"),
        Refusal(testDescription: "an entry with a bad name", command: "getServer", member: #""result":{"entry":{"id":"nonsense"}}"#, code: .invalidName, field: "name"),
        Refusal(testDescription: "entries where an entry was asked for", command: "getServer", member: #""result":{"entries":[ENTRY]}"#, code: .badRequest, field: "entry"),
        Refusal(testDescription: "an entry where entries were asked for", command: "listAll", member: #""result":{"entry":ENTRY}"#, code: .internal, field: nil),
        Refusal(testDescription: "a duplicate member", command: "query", member: #""result":{"entries":[ENTRY-SERIAL]}"#, code: .disconnected, field: nil),
    ]

    @Test("an error reply, an entry that does not read and a reply of the other shape fail as they fail read as a tree", arguments: refusals)
    func refusal(_ refusal: Refusal) async throws {
        let (entry, entryText) = try fixture()
        let member = refusal.member.replacing("ENTRY-SIDEWAYS", with: entryText.replacing(#""direction":"input""#, with: #""direction":"sideways""#))
            .replacing("ENTRY-SERIAL", with: entryText.dropLast() + #","serial":4}"#).replacing("ENTRY", with: entryText)
        // A line that is not JSON answers no request (it is dropped, as before); the request fails when the
        // connection closes after it.
        let scripted = try ScriptedDaemon(closing: refusal.code == .disconnected) { _, id in [#"{"id":\#(id),"revision":3,\#(member)}"#] }
        let client = try HostessClient(socketPath: scripted.socketPath, events: { _ in })
        defer { client.close() }
        let error = await #expect(throws: HostessError.self) {
            switch refusal.command {
            case "getServer": _ = try await client.getServer(entry.id)
            case "query": _ = try await client.query(ServerFilter())
            default: _ = try await client.listAll()
            }
        }
        #expect(error?.code == refusal.code, "\(String(describing: error))")
        #expect(error?.field == refusal.field, "\(String(describing: error))")
    }

    @Test("replies out of order reach their requests, those read straight from bytes and those read as trees")
    func outOfOrder() async throws {
        let (entry, entryText) = try fixture()
        let held = Mutex<[String]>([])
        let scripted = try ScriptedDaemon { request, id in
            switch request["command"]?.stringValue {
            case "listAll":
                held.withLock { $0.append(#"{"id":\#(id),"revision":9,"result":{"entries":[\#(entryText)]}}"#) }
                return []
            case "getServer":
                held.withLock { $0.append(#"{"id":\#(id),"revision":9,"result":{"entry":\#(entryText)}}"#) }
                return []
            default:
                // The status reply first, then the held ones, newest first.
                return [#"{"id":\#(id),"revision":9,"result":{"entries":7}}"#] + held.withLock { $0.reversed() }
            }
        }
        let client = try HostessClient(socketPath: scripted.socketPath, events: { _ in })
        defer { client.close() }
        async let list = client.listAll()
        try await Task.sleep(nanoseconds: 100_000_000)
        async let one = client.getServer(entry.id)
        try await Task.sleep(nanoseconds: 100_000_000)
        let status = try await client.status()
        #expect(status["entries"] == .int(7))
        #expect(try await list == [entry])
        #expect(try await one == entry)
    }
}

// MARK: - hostessd's own replies

@Suite("EntryDecoder against hostessd's replies")
struct EntryDecoderDaemonTests {
    @Test("hostessd's listAll, query and getServer replies are read straight from their bytes, to what the tree reads")
    func daemonReplies() async throws {
        // Nothing heartbeats these entries: they must outlive a slow run.
        let daemon = try DaemonProcess(["--ttl", "3600"])
        let raw = try daemon.client()
        var ids: [String] = []
        let metadata: [JSONValue] = [
            ["plain": 1], ["text": "é 日本語 😀 \"quoted\" back\\slash\nnewline \u{7F}"], ["deep": [["a": [["b": [nil, true, 1.5e-7]]]]]], [:],
        ]
        for (index, value) in metadata.enumerated() {
            let id = Fixture.id(servername: "decoder-\(index)", classCode: index % 2 == 0 ? "0x0001" : "0x0002")
            guard case .object(var object) = Fixture.entry(id: id, capabilities: ["c\(index)", "shared"]) else { return }
            object["metadata"] = value
            #expect(try raw.request("register", ["entry": .object(object)]).errorCode == nil)
            ids.append(id)
        }
        #expect(try raw.request("markInUse", ["serverId": .string(ids[1]), "terminal": "stdout", "connectomeId": "decoder-c1"]).errorCode == nil)

        let client = try HostessClient(socketPath: daemon.socketPath, events: { _ in })
        defer { client.close() }
        let filter = ServerFilter(classCode: ClassCode(1))
        let requests: [(String, JSONObject)] = [("listAll", [:]), ("query", ["filter": filter.json]), ("getServer", ["serverId": .string(ids[1])])]
        for (number, (command, parameters)) in requests.enumerated() {
            var request: JSONObject = ["id": .int(Int64(100 + number)), "command": .string(command)]
            for member in parameters { request[member.key] = member.value }
            try raw.send(JSONValue.object(request).jsonText)
            let line = Array(try #require(raw.readLine()).utf8)
            let reply = try #require(EntryReply(line: line), "hostessd's \(command) reply takes the fast path")
            #expect(reply.id == Int64(100 + number))
            let result = try #require(try JSONParser.parse(line).objectValue?["result"]?.objectValue)
            switch reply.payload {
            case .entries(let entries):
                guard case .array(let items)? = result["entries"] else {
                    Issue.record("\(command): no entries array")
                    continue
                }
                let tree = try items.map { try GuestBookEntry(json: $0) }
                #expect(entries == tree)
                #expect(entries.map(\.json.jsonBytes) == tree.map(\.json.jsonBytes))
                #expect(entries.count == (command == "listAll" ? 4 : 2))
                let fromClient = try await command == "listAll" ? client.listAll() : client.query(filter)
                #expect(fromClient == tree)
            case .entry(let entry):
                let tree = try GuestBookEntry(json: result["entry"] ?? .null)
                #expect(entry == tree)
                #expect(entry.terminal(named: "stdout")?.connectedTo == ["decoder-c1"])
                #expect(try await client.getServer(ids[1]) == tree)
            }
        }
        #expect(try await client.markAvailable(ids[1], terminal: "stdout").terminal(named: "stdout")?.connectedTo == [])
        #expect(try await client.markInUse(ids[1], terminal: "stdout", connectomeID: "decoder-c2").terminal(named: "stdout")?.connectedTo == ["decoder-c2"])
        #expect(daemon.stop() == 0)
    }
}
