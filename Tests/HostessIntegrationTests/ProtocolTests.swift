import Foundation
import Glibc
import HostessModel
import Testing

/// The guest book's rules, exercised against the real hostessd over its Unix socket.
@Suite("hostessd protocol")
struct ProtocolTests {
    @Test("register, getServer, query, markInUse and a refused second markInUse on a none terminal")
    func registerQueryAndMark() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let id = Fixture.id()
        let registered = try client.request("register", ["entry": Fixture.entry(id: id)])
        let entry = try #require(registered.result?["entry"]?.objectValue, "\(registered)")
        #expect(entry["id"] == .string(id))
        #expect(entry["class"] == "0x0001")
        #expect(entry["authentication"] == ["required": "no", "mechanism": "none"])
        #expect(entry["metadata"] == ["version": "1.0.0", "nested": ["list": [1, 2.5, "x", nil, true]]])
        #expect(registered.result?["created"] == true)
        #expect(registered.revision == 1)

        let found = try client.request("query", ["filter": ["class": "0x0001", "capabilities": ["pty", "vt100"], "availableTerminals": 2]])
        #expect(found.result?["entries"] == .array([.object(entry)]))
        let none = try client.request("query", ["filter": ["capabilities": ["pty", "gpu"]]])
        #expect(none.result?["entries"] == .array([]))

        let marked = try client.request("markInUse", ["serverId": .string(id), "terminal": "stdin", "connectomeId": "conn-1"])
        let stdin = marked.result?["entry"]?.objectValue?["terminals"]?.objectValue?["stdin"]?.objectValue
        #expect(stdin?["inUse"] == true)
        #expect(stdin?["connectedTo"] == ["conn-1"])
        #expect(marked.revision == 2)

        let refused = try client.request("markInUse", ["serverId": .string(id), "terminal": "stdin", "connectomeId": "conn-2"])
        #expect(refused.errorCode == "conflict")
        #expect(refused.revision == 2)

        for connectome in ["a", "b", "c"] {
            let fanout = try client.request("markInUse", ["serverId": .string(id), "terminal": "stdout", "connectomeId": .string(connectome)])
            #expect(fanout.errorCode == nil)
        }
        let busy = try client.request("query", ["filter": ["availableTerminals": 1]])
        #expect(busy.result?["entries"] == .array([]))
        let freed = try client.request("markAvailable", ["serverId": .string(id), "terminal": "stdin"])
        #expect(freed.result?["entry"]?.objectValue?["terminals"]?.objectValue?["stdin"]?.objectValue?["inUse"] == false)
        let uuidStart = id.index(id.endIndex, offsetBy: -36)
        let upper = String(id[..<uuidStart]) + id[uuidStart...].uppercased()
        let got = try client.request("getServer", ["serverId": .string(upper)])
        #expect(got.result?["entry"]?.objectValue?["id"] == .string(id), "an upper-case UUID names the same entry")
    }

    @Test("re-registering by the owner updates the entry and keeps registeredAt, serial and connections")
    func reRegisterUpdates() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let id = Fixture.id()
        let first = try #require(try client.request("register", ["entry": Fixture.entry(id: id)]).result?["entry"]?.objectValue)
        _ = try client.request("markInUse", ["serverId": .string(id), "terminal": "stdin", "connectomeId": "c1"])
        usleep(5_000)
        let second = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: ["pty", "ansi"])])
        let updated = try #require(second.result?["entry"]?.objectValue)
        #expect(second.result?["created"] == false)
        #expect(updated["registeredAt"] == first["registeredAt"])
        #expect(updated["serial"] == first["serial"])
        #expect(updated["capabilities"] == ["pty", "ansi"])
        #expect(updated["terminals"]?.objectValue?["stdin"]?.objectValue?["connectedTo"] == ["c1"])
        let all = try client.request("listAll")
        guard case .array(let entries)? = all.result?["entries"] else { throw TestFailure("\(all)") }
        #expect(entries.count == 1)
    }

    @Test("pipelined requests on one connection are answered in order")
    func pipelining() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        var batch = ""
        for number in 1...500 { batch += "{\"id\":\(number),\"command\":\"status\"}\n" }
        try client.send(bytes: Array(batch.utf8))
        for number in 1...500 {
            let reply = try client.readReply()
            #expect(reply["id"] == .int(Int64(number)))
        }
    }

    @Test("watch wakes on the next change, reports it, and times out with changed: false")
    func watch() throws {
        let daemon = try DaemonProcess()
        let watcher = try daemon.client()
        let writer = try daemon.client()
        try watcher.send(#"{"id":"w1","command":"watch","sinceRevision":0,"timeout":20}"#)
        #expect(watcher.readLine(timeout: 0.3) == nil, "nothing changed yet: the watch waits")
        let id = Fixture.id()
        let started = Date()
        _ = try writer.request("register", ["entry": Fixture.entry(id: id)])
        let woke = try watcher.readReply(timeout: 2)
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(woke["id"] == "w1")
        #expect(woke.result?["changed"] == true)
        #expect(woke.result?["changes"] == .array([["revision": 1, "kind": "registered", "id": .string(id)]]))

        let quiet = try watcher.request("watch", ["sinceRevision": 1, "timeout": 0.3])
        #expect(quiet.result?["changed"] == false)
        #expect(quiet.result?["changes"] == .array([]))
    }

    @Test("a watch does not hold up other requests on its connection")
    func watchDoesNotBlock() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        try client.send(#"{"id":1,"command":"watch","timeout":30}"#)
        try client.send(#"{"id":2,"command":"status"}"#)
        let status = try client.readReply(timeout: 2)
        #expect(status["id"] == 2)
    }

    @Test("a session-bound entry ends when its connection closes")
    func sessionBound() throws {
        let daemon = try DaemonProcess()
        let observer = try daemon.client()
        let id = Fixture.id()
        do {
            let owner = try daemon.client()
            let reply = try owner.request("register", ["entry": Fixture.entry(id: id), "session": true])
            #expect(reply.result?["entry"]?.objectValue?["session"] == true)
            #expect(try observer.request("getServer", ["serverId": .string(id)]).errorCode == nil)
            owner.close()
        }
        let deadline = Date().addingTimeInterval(2)
        var gone = false
        while !gone && Date() < deadline {
            gone = try observer.request("getServer", ["serverId": .string(id)]).errorCode == "not_found"
            if !gone { usleep(10_000) }
        }
        #expect(gone)
        #expect(daemon.log.contains("session ended: removed \(id)"))
    }

    @Test("an entry without heartbeats is evicted within TTL + 1 s; heartbeats keep one alive")
    func liveness() throws {
        let daemon = try DaemonProcess(["--ttl", "1"])
        let client = try daemon.client()
        let silent = Fixture.id()
        let beating = Fixture.id()
        let registered = try client.request("register", ["entry": Fixture.entry(id: silent)])
        #expect(registered.result?["ttl"] == 1.0)
        _ = try client.request("register", ["entry": Fixture.entry(id: beating)])
        let start = Date()
        var evictedAfter: Double?
        while Date().timeIntervalSince(start) < 3 {
            _ = try client.request("heartbeat", ["serverId": .string(beating)])
            if evictedAfter == nil, try client.request("getServer", ["serverId": .string(silent)]).errorCode == "not_found" {
                evictedAfter = Date().timeIntervalSince(start)
            }
            usleep(100_000)
        }
        let after = try #require(evictedAfter, "the silent entry was never evicted")
        #expect(after >= 0.9 && after <= 2.0, "evicted after \(after) s; TTL is 1 s")
        #expect(try client.request("getServer", ["serverId": .string(beating)]).errorCode == nil)
        let status = try #require(try client.request("status").result)
        #expect(status["evictions"] == 1)
        #expect(daemon.log.contains("evicted \(silent)"))
    }

    @Test("heartbeats do not bump the revision")
    func heartbeatRevision() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let id = Fixture.id()
        _ = try client.request("register", ["entry": Fixture.entry(id: id)])
        let beat = try client.request("heartbeat", ["serverId": .string(id)])
        #expect(beat.revision == 1)
        #expect(beat.result?["serverId"] == .string(id))
    }
}
