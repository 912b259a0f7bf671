import Foundation
import Glibc
import HostessModel
import HostessTestSupport
import Testing

/// Bad input from one client gets a clear error or a closed connection, and changes nothing for anyone else.
@Suite("hostessd bad input")
struct BadInputTests {
    /// A bad line, the error code it must get, and the field the error must name (if any).
    struct Case: CustomStringConvertible, Sendable {
        let line: String
        let code: String
        let field: String?
        var description: String { line }
    }

    static let validID = "localhost:pty-server:0x0001:root:no:none:550e8400-e29b-41d4-a716-446655440000"

    static let cases: [Case] = [
        Case(line: "not json", code: "parse_error", field: nil),
        Case(line: #"{"id":1,"command":"register""#, code: "parse_error", field: nil),
        Case(line: #"{"id":1,"id":2,"command":"status"}"#, code: "parse_error", field: nil),
        Case(line: "[1,2,3]", code: "bad_request", field: nil),
        Case(line: String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), code: "parse_error", field: nil),
        Case(line: #"{"id":1}"#, code: "bad_request", field: "command"),
        Case(line: #"{"id":1,"command":42}"#, code: "bad_request", field: "command"),
        Case(line: #"{"id":[1],"command":"status"}"#, code: "bad_request", field: "id"),
        Case(line: #"{"id":1,"command":"fly"}"#, code: "unknown_command", field: "command"),
        Case(line: #"{"id":1,"command":"status","extra":1}"#, code: "bad_request", field: "extra"),
        Case(line: #"{"id":1,"command":"register"}"#, code: "bad_request", field: "entry"),
        Case(line: #"{"id":1,"command":"register","entry":"x"}"#, code: "bad_request", field: "entry"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"nohost"}}"#, code: "invalid_name", field: "entry.id"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"bad_host!:pty:0x0001:root:no:none:550e8400-e29b-41d4-a716-446655440000"}}"#, code: "invalid_name", field: "entry.id"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"localhost:pty:0x01:root:no:none:550e8400-e29b-41d4-a716-446655440000"}}"#, code: "invalid_name", field: "entry.id"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"localhost:pty:0x0001:root:maybe:none:550e8400-e29b-41d4-a716-446655440000"}}"#, code: "invalid_name", field: "entry.id"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"localhost:pty:0x0001:root:no:none:550e8400"}}"#, code: "invalid_name", field: "entry.id"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","terminals":{"in":{"direction":"sideways"}}}}"#, code: "bad_request", field: "entry.terminals.in.direction"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","terminals":{"in":{"direction":"input","multiplexing":"all"}}}}"#, code: "bad_request", field: "entry.terminals.in.multiplexing"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","capabilities":["ok",7]}}"#, code: "bad_request", field: "entry.capabilities[1]"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","capabilities":["a","a"]}}"#, code: "bad_request", field: "entry.capabilities[1]"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","metadata":[]}}"#, code: "bad_request", field: "entry.metadata"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","owner":"alice"}}"#, code: "bad_request", field: "entry.owner"),
        Case(line: #"{"id":1,"command":"register","entry":{"id":"\#(validID)","metadata":{"blob":"\#(String(repeating: "x", count: 3000))"}}}"#, code: "too_large", field: "entry.metadata"),
        Case(line: #"{"id":1,"command":"register","session":"yes","entry":{"id":"\#(validID)"}}"#, code: "bad_request", field: "session"),
        Case(line: #"{"id":1,"command":"query","filter":{"availableTerminals":-1}}"#, code: "bad_request", field: "filter.availableTerminals"),
        Case(line: #"{"id":1,"command":"query","filter":{"class":"gpu"}}"#, code: "bad_request", field: "filter.class"),
        Case(line: #"{"id":1,"command":"query","filter":{"colour":"red"}}"#, code: "bad_request", field: "filter.colour"),
        Case(line: #"{"id":1,"command":"getServer","serverId":"nope"}"#, code: "invalid_name", field: "serverId"),
        Case(line: #"{"id":1,"command":"getServer","serverId":"\#(validID)"}"#, code: "not_found", field: "serverId"),
        Case(line: #"{"id":1,"command":"markInUse","serverId":"\#(validID)","terminal":"stdin"}"#, code: "bad_request", field: "connectomeId"),
        Case(line: #"{"id":1,"command":"watch","timeout":1e9}"#, code: "bad_request", field: "timeout"),
        Case(line: #"{"id":1,"command":"watch","sinceRevision":-4}"#, code: "bad_request", field: "sinceRevision"),
    ]

    @Test("each bad line gets an error naming the field, and the guest book is unchanged", arguments: cases)
    func badLine(_ badCase: Case) throws {
        let daemon = try DaemonProcess()
        let bystander = try daemon.client()
        let id = Fixture.id()
        _ = try bystander.request("register", ["entry": Fixture.entry(id: id)])
        let before = try bystander.request("listAll").result

        let client = try daemon.client()
        try client.send(badCase.line)
        let reply = try client.readReply()
        #expect(reply.errorCode == badCase.code, "\(reply)")
        if let field = badCase.field { #expect(reply.errorField == field, "\(reply)") }
        #expect(!(reply.errorMessage ?? "").isEmpty)
        #expect(reply.revision == 1, "nothing changed")
        // The connection is still usable after a bad line, and nothing else changed.
        #expect(try client.request("status").errorCode == nil)
        #expect(try bystander.request("listAll").result == before)
    }

    @Test("a line over 1 MiB gets too_large and the connection is closed; others are unaffected")
    func oversizedLine() throws {
        let daemon = try DaemonProcess()
        let bystander = try daemon.client()
        let id = Fixture.id()
        _ = try bystander.request("register", ["entry": Fixture.entry(id: id)])
        let client = try daemon.client()
        try? client.send(bytes: [UInt8](repeating: UInt8(ascii: "a"), count: (1 << 20) + 4096))
        let reply = try client.readReply()
        #expect(reply.errorCode == "too_large")
        #expect(client.isClosedByPeer(within: 2))
        #expect(try bystander.request("getServer", ["serverId": .string(id)]).errorCode == nil)
    }

    @Test("a client that connects and never sends is closed after the client timeout")
    func silentClient() throws {
        let daemon = try DaemonProcess(["--client-timeout", "0.5"])
        let client = try daemon.client()
        let notice = try client.readReply(timeout: 3)
        #expect(notice.errorMessage?.contains("sent no request") == true, "\(notice)")
        #expect(client.isClosedByPeer(within: 2))
        #expect(try daemon.client().request("status").errorCode == nil)
    }

    @Test("a client that starts a line and never finishes it is closed after the client timeout")
    func partialLine() throws {
        let daemon = try DaemonProcess(["--client-timeout", "0.5"])
        let client = try daemon.client()
        #expect(try client.request("status").errorCode == nil)
        try client.send(bytes: Array(#"{"id":2,"command":"sta"#.utf8))
        #expect(client.isClosedByPeer(within: 3))
        #expect(daemon.log.contains("did not finish a request line"))
    }

    @Test("a client that never reads its replies is paused, then dropped; other clients are served meanwhile")
    func neverReads() throws {
        let daemon = try DaemonProcess(["--client-timeout", "1"])
        let setup = try daemon.client()
        for _ in 0..<100 { _ = try setup.request("register", ["entry": Fixture.entry(id: Fixture.id())]) }
        let greedy = try daemon.client()
        let request = Array(#"{"id":1,"command":"listAll"}"#.utf8) + [0x0A]
        let flood = Array((0..<2000).map { _ in request }.joined())
        // Writing may block once the daemon stops reading this client; send from another thread.
        let sender = Thread { try? greedy.send(bytes: flood) }
        sender.start()
        usleep(300_000)
        let other = try daemon.client()
        let started = Date()
        #expect(try other.request("status").errorCode == nil)
        #expect(Date().timeIntervalSince(started) < 2)
        let deadline = Date().addingTimeInterval(5)
        while !daemon.log.contains("did not read its replies") && Date() < deadline { usleep(50_000) }
        #expect(daemon.log.contains("did not read its replies"))
        greedy.close()
        #expect(try other.request("listAll").errorCode == nil)
    }

    @Test("random garbage lines never crash the daemon", arguments: [1, 2, 3, 4])
    func garbage(seed: UInt64) throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        var generator = SplitMix64(seed: seed &* 0x9E37_79B9_7F4A_7C15)
        func next() -> UInt64 { generator.next() }
        let alphabet = Array(#"{}[]":,0123456789.-eE truefalsnul\u"#.utf8) + [0xC3, 0xFF, 0x00]
        for _ in 0..<200 {
            let length = Int(next() % 200)
            var line = (0..<length).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
            line.removeAll { $0 == 0x0A }
            // Blank lines get no reply by design; skip them.
            if line.allSatisfy({ $0 == 0x20 }) { continue }
            try client.send(bytes: line + [0x0A])
            let reply = try client.readReply()
            #expect(reply["error"] != nil || reply["result"] != nil)
        }
        #expect(try daemon.client().request("status").errorCode == nil)
    }
}
