import Foundation
import Glibc
import HostessModel
import HostessRegion
import Testing

// MARK: - Changing the peers' guest books through the local Hostess

/// Machine 0 (A) holds keys B (1) and C (2) gave it; B and C list that key in their `--secrets`.
final class KeyedMesh: @unchecked Sendable {
    static let secret = "peer-secret-0123456789abcdef"

    let mesh: Mesh
    let scratch: ScratchDirectory
    /// The hostessIds of A, B and C.
    let ids: [String]

    /// Starts B and C (with `peerFlags[machine]` too), then A with a `--peer-keys` file naming them by hostessId.
    init(peerFlags: [Int: [String]] = [:], interval: String = "0.5") throws {
        scratch = try ScratchDirectory()
        let secrets = try scratch.write("secrets", "hostess-a \(Self.secret) root\n")
        chmod(secrets, 0o600)
        mesh = try Mesh(count: 3, interval: interval, extra: ["--remote-timeout", "2"], deferred: [0, 1, 2])
        for machine in [1, 2] {
            mesh.set(machine, try mesh.start(machine, interval: interval, extra: ["--secrets", secrets, "--remote-timeout", "2"] + (peerFlags[machine] ?? [])))
        }
        let b = try mesh.hostessID(of: 1)
        let c = try mesh.hostessID(of: 2)
        let keys = try scratch.write("peer-keys", "# peer key-id secret\n\(b) hostess-a \(Self.secret)\n\(c) hostess-a \(Self.secret)\n")
        chmod(keys, 0o600)
        mesh.set(0, try mesh.start(0, interval: interval, extra: ["--peer-keys", keys, "--remote-timeout", "2"]))
        ids = [try mesh.hostessID(of: 0), b, c]
    }

    /// Waits until A lists B and C live with `servers` servers each.
    func waitForPeers(servers: Int) throws {
        let seen = try mesh.within(6) {
            let peers = try mesh.peers(of: 0)
            return peers.count == 2 && peers.values.allSatisfy { $0["state"] == "live" && $0["serverCount"] == .int(Int64(servers)) }
        }
        guard seen != nil else { throw TestFailure("A does not list B and C with \(servers) servers each:\n\(mesh.snapshot(0))") }
    }

    /// `machine`'s reservations.
    func reservations(on machine: Int) throws -> [JSONObject] {
        let reply = try mesh.daemon(machine).client().request("listReservations")
        guard case .array(let items)? = reply.result?["reservations"] else { throw TestFailure("listReservations: \(reply)") }
        return items.compactMap(\.objectValue)
    }

    /// `machine`'s active reservations.
    func active(on machine: Int) throws -> [JSONObject] { try reservations(on: machine).filter { $0["status"] == "active" } }

    /// Whether `machine`'s region shows `id` held.
    func regionHolds(_ id: String, on machine: Int) throws -> Bool {
        let reader = try RegionReader(name: try mesh.daemon(machine).sharedMemoryName)
        return try reader.withEntry(id: id) { $0?.isReserved } ?? false
    }
}

@Suite("Remote reservations and forwarded terminal changes", .serialized, .enabled(if: NamespaceLab.available.0, Comment(rawValue: NamespaceLab.available.1)))
struct MeshReservationTests {
    static let gpu: JSONValue = ["class": "0x0002", "capabilities": ["gpu"]]

    @Test("a remote reservation holds servers on B and C all or nothing; the peers see it held by A's key; cancel frees both")
    func reserveOnTwoPeers() throws {
        let keyed = try KeyedMesh()
        let mesh = keyed.mesh
        let onB = try registerRenderer(on: try mesh.daemon(1))
        let onC = try registerRenderer(on: try mesh.daemon(2))
        try keyed.waitForPeers(servers: 1)
        let a = try mesh.daemon(0).client()

        // Without allowRemote A has nothing to give.
        let plain = try a.request("reserve", ["reservation": ["serverFilter": Self.gpu, "count": 2]])
        #expect(plain.errorCode == "conflict", "\(plain)")

        // More than B and C have together: refused, nothing held anywhere.
        let tooMany = try a.request("reserve", ["reservation": ["serverFilter": Self.gpu, "count": 3, "allowRemote": true]])
        #expect(tooMany.errorCode == "conflict" && tooMany.errorMessage?.contains("nothing was reserved") == true, "\(tooMany)")
        #expect(try keyed.active(on: 1).isEmpty && keyed.active(on: 2).isEmpty)

        let started = Date()
        let reply = try a.request("reserve", ["reservation": ["serverFilter": Self.gpu, "count": 2, "duration": 60_000, "allowRemote": true]])
        let seconds = Date().timeIntervalSince(started)
        let reservation = try #require(reply.result?["reservation"]?.objectValue, "\(reply)")
        guard case .array(let parts)? = reservation["remote"] else { throw TestFailure("no remote parts: \(reservation)") }
        let held = Dictionary(uniqueKeysWithValues: parts.compactMap(\.objectValue).map { part in
            (part["hostess"]?.objectValue?["hostessId"]?.stringValue ?? "?", part)
        })
        #expect(Set(held.keys) == [keyed.ids[1], keyed.ids[2]], "\(reservation)")
        #expect(held.values.allSatisfy { $0["state"] == "held" }, "\(reservation)")
        #expect(held[keyed.ids[1]]?["serverIds"] == [.string(onB)] && held[keyed.ids[2]]?["serverIds"] == [.string(onC)], "\(reservation)")
        #expect(reservation["count"] == 2 && reservation["status"] == "active" && reservation["serverIds"] == [], "\(reservation)")
        print("mesh: remote reservation of 2 servers on 2 peers \(String(format: "%.1f", seconds * 1000)) ms")

        // The peers: an ordinary reservation held by A's key, for Hostess@A, and the region shows it held.
        for (machine, server) in [(1, onB), (2, onC)] {
            let peerSide = try keyed.active(on: machine)
            #expect(peerSide.count == 1, "\(peerSide)")
            let theirs = try #require(peerSide.first)
            #expect(theirs["holder"] == ["key": "hostess-a"], "\(theirs)")
            #expect(theirs["requestedBy"]?.stringValue?.hasPrefix("Hostess@") == true && theirs["remoteFqdn"] != nil, "\(theirs)")
            #expect(theirs["connectionInfo"]?.objectValue?["endpoint"] == .string("http://\(mesh.lab.address(of: 0)):8080"), "\(theirs)")
            #expect(try keyed.regionHolds(server, on: machine), "\(server) is not held in machine \(machine)'s region")
        }

        // The CLI shows which Hostess holds which server.
        let id = try #require(reservation["id"]?.stringValue)
        let shown = try CLI.hostess(["reservations", id], socket: try mesh.daemon(0).socketPath)
        #expect(shown.status == 0 && shown.stdout.contains(onB) && shown.stdout.contains(onC) && shown.stdout.contains("held"), "\(shown)")

        // Cancel on A frees both.
        let cancel = try a.request("cancelReservation", ["reservationId": .string(id)])
        #expect(cancel.errorCode == nil, "\(cancel)")
        let freed = try mesh.within(3) { try keyed.active(on: 1).isEmpty && keyed.active(on: 2).isEmpty }
        #expect(freed != nil, "the peers still hold: \((try? keyed.active(on: 1)).map { "\($0)" } ?? "?") \((try? keyed.active(on: 2)).map { "\($0)" } ?? "?")")
        #expect(try !keyed.regionHolds(onB, on: 1) && !keyed.regionHolds(onC, on: 2))
        let after = try a.request("getReservation", ["reservationId": .string(id)])
        let partsAfter = after.result?["reservation"]?.objectValue?["remote"]?.items ?? []
        let confirmed = try mesh.within(3) {
            let parts = try a.request("getReservation", ["reservationId": .string(id)]).result?["reservation"]?.objectValue?["remote"]?.items ?? []
            return parts.count == 2 && parts.allSatisfy { $0.objectValue?["reason"] == "cancelled at the peer" }
        }
        #expect(confirmed != nil && partsAfter.allSatisfy { $0.objectValue?["state"] == "released" }, "\(after)")
    }

    @Test("when a later part is refused, the parts already granted are cancelled")
    func allOrNothing() throws {
        // C lets a key hold servers for 10 s at most; A asks for a minute.
        let keyed = try KeyedMesh(peerFlags: [2: ["--reservation-max-duration", "10"]])
        let mesh = keyed.mesh
        _ = try registerRenderer(on: try mesh.daemon(1))
        _ = try registerRenderer(on: try mesh.daemon(2))
        try keyed.waitForPeers(servers: 1)
        let reply = try mesh.daemon(0).client().request(
            "reserve", ["reservation": ["serverFilter": Self.gpu, "count": 2, "duration": 60_000, "allowRemote": true]])
        #expect(reply.errorCode == "conflict" && reply.errorMessage?.contains("were cancelled") == true, "\(reply)")
        let released = try mesh.within(3) { try keyed.active(on: 1).isEmpty }
        #expect(released != nil, "B still holds \((try? keyed.active(on: 1)).map { "\($0)" } ?? "?")")
        #expect(try keyed.reservations(on: 1).contains { $0["status"] == "cancelled" }, "B never granted its part: \((try? keyed.reservations(on: 1)).map { "\($0)" } ?? "?")")
        #expect(try keyed.active(on: 0).isEmpty && keyed.active(on: 2).isEmpty)
    }

    @Test("a session reservation's peers are freed when its connection closes; a stale peer turns its part lost")
    func sessionEndAndStalePeer() throws {
        let keyed = try KeyedMesh()
        let mesh = keyed.mesh
        _ = try registerRenderer(on: try mesh.daemon(1))
        _ = try registerRenderer(on: try mesh.daemon(2))
        try keyed.waitForPeers(servers: 1)

        do {
            let session = try mesh.daemon(0).client()
            let reply = try session.request("reserve", ["reservation": ["serverFilter": Self.gpu, "count": 2, "session": true, "allowRemote": true]])
            #expect(reply.result?["reservation"]?.objectValue?["status"] == "active", "\(reply)")
            #expect(try keyed.active(on: 1).count == 1 && keyed.active(on: 2).count == 1)
        }
        let ended = try mesh.within(3) { try keyed.active(on: 1).isEmpty && keyed.active(on: 2).isEmpty }
        #expect(ended != nil, "the peers still hold after the session closed: \((try? keyed.active(on: 1)).map { "\($0)" } ?? "?") \((try? keyed.active(on: 2)).map { "\($0)" } ?? "?")")

        let reply = try mesh.daemon(0).client().request("reserve", ["reservation": ["serverFilter": Self.gpu, "count": 2, "duration": 60_000, "allowRemote": true]])
        let id = try #require(reply.result?["reservation"]?.objectValue?["id"]?.stringValue, "\(reply)")
        kill(try mesh.daemon(2).pid, SIGKILL)
        let lost = try mesh.within(5) {
            let parts = try mesh.daemon(0).client().request("getReservation", ["reservationId": .string(id)]).result?["reservation"]?.objectValue?["remote"]?.items ?? []
            let states = Dictionary(uniqueKeysWithValues: parts.compactMap(\.objectValue).map { ($0["hostess"]?.objectValue?["hostessId"]?.stringValue ?? "?", $0["state"]?.stringValue ?? "?") })
            return states == [keyed.ids[1]: "held", keyed.ids[2]: "lost"]
        }
        #expect(lost != nil, "\(mesh.snapshot(0))")
        #expect(try keyed.active(on: 0).count == 1, "the reservation stays active with B's part")
    }

    @Test("markInUse and markAvailable of B's entry through A land on B, answered with B's result")
    func forwardedTerminalChanges() throws {
        let keyed = try KeyedMesh(interval: "30")
        let mesh = keyed.mesh
        let onB = try registerRenderer(on: try mesh.daemon(1))
        #expect(try mesh.within(6) { try mesh.peers(of: 0).count == 2 } != nil, "\(mesh.snapshot(0))")
        let a = try mesh.daemon(0).client()

        // Before a query across the mesh, A does not know where the entry lives.
        let unknown = try a.request("markInUse", ["serverId": .string(onB), "terminal": "input", "connectomeId": "c1"])
        #expect(unknown.errorCode == "not_found" && unknown.errorMessage?.contains("query with scope") == true, "\(unknown)")

        let found = try #require(try a.request("query", ["filter": ["class": "0x0002", "scope": "remote"]]).result, "query")
        #expect(MeshQueryTests.places(found)[onB] == keyed.ids[1], "\(found)")
        let forwardStarted = Date()
        let marked = try a.request("markInUse", ["serverId": .string(onB), "terminal": "input", "connectomeId": "c1"])
        let forwardSeconds = Date().timeIntervalSince(forwardStarted)
        let entry = try #require(marked.result?["entry"]?.objectValue, "\(marked)")
        #expect(entry["hostess"]?.objectValue?["hostessId"] == .string(keyed.ids[1]), "\(entry)")
        #expect(entry["terminals"]?.objectValue?["input"]?.objectValue?["connectedTo"] == ["c1"], "\(entry)")
        let onBNow = try mesh.daemon(1).client().request("getServer", ["serverId": .string(onB)])
        #expect(onBNow.result?["entry"]?.objectValue?["terminals"]?.objectValue?["input"]?.objectValue?["inUse"] == true, "\(onBNow)")

        // B's refusal comes back as B's: the terminal has multiplexing none.
        let second = try a.request("markInUse", ["serverId": .string(onB), "terminal": "input", "connectomeId": "c2"])
        #expect(second.errorCode == "conflict" && second.errorMessage?.contains("multiplexing none") == true, "\(second)")

        let b = try mesh.daemon(1).client()
        let directStarted = Date()
        _ = try b.request("markAvailable", ["serverId": .string(onB), "terminal": "input", "connectomeId": "none"])
        let directSeconds = Date().timeIntervalSince(directStarted)
        print("mesh: markInUse forwarded through A \(String(format: "%.2f", forwardSeconds * 1000)) ms, a terminal change on B's own socket \(String(format: "%.2f", directSeconds * 1000)) ms")
        let cleared = try a.request("markAvailable", ["serverId": .string(onB), "terminal": "input"])
        #expect(cleared.result?["entry"]?.objectValue?["terminals"]?.objectValue?["input"]?.objectValue?["connectedTo"] == [], "\(cleared)")
        let cli = try CLI.hostess(["mark-in-use", onB, "input", "c3"], socket: try mesh.daemon(0).socketPath)
        #expect(cli.status == 0, "\(cli)")
        let viaCLI = try mesh.daemon(1).client().request("getServer", ["serverId": .string(onB)])
        #expect(viaCLI.result?["entry"]?.objectValue?["terminals"]?.objectValue?["input"]?.objectValue?["connectedTo"] == ["c3"], "\(viaCLI)")
    }
}

extension JSONValue {
    /// The elements of an array, or nil.
    var items: [JSONValue]? {
        guard case .array(let elements) = self else { return nil }
        return elements
    }
}

@Suite("Remote reservations and forwarded terminal changes without multicast: static --peer over loopback")
struct StaticPeerReservationTests {
    @Test("A reserves B's server and marks its terminal through its own socket, B polled as a --peer")
    func overLoopback() throws {
        let scratch = try ScratchDirectory()
        let secrets = try scratch.write("secrets", "hostess-a \(KeyedMesh.secret) root\n")
        chmod(secrets, 0o600)
        // B serves its announcement (its own --peer is a closed port) and accepts A's key.
        let b = try DaemonProcess(["--http", "127.0.0.1:0", "--peer", "http://127.0.0.1:9/", "--announce-interval", "0.3", "--secrets", secrets])
        let bAddress = try StaticPeerTests.httpAddress(of: b)
        let bID = try #require(try b.client().request("status").result?["instanceId"]?.stringValue)
        let keys = try scratch.write("peer-keys", "\(bID) hostess-a \(KeyedMesh.secret)\n")
        chmod(keys, 0o600)
        let a = try DaemonProcess(["--http", "127.0.0.1:0", "--peer", "http://\(bAddress)", "--announce-interval", "0.3", "--peer-keys", keys])
        let onB = try registerRenderer(on: b)
        let deadline = Date().addingTimeInterval(4)
        while Date() < deadline {
            if case .array(let peers)? = try a.client().request("listPeers").result?["peers"], peers.first?.objectValue?["serverCount"] == 1 { break }
            usleep(50_000)
        }

        let client = try a.client()
        let reply = try client.request("reserve", ["reservation": ["serverFilter": MeshReservationTests.gpu, "count": 1, "allowRemote": true, "duration": 30_000]])
        let reservation = try #require(reply.result?["reservation"]?.objectValue, "\(reply)\n\(a.log)")
        #expect(reservation["remote"]?.items?.first?.objectValue?["serverIds"] == [.string(onB)], "\(reservation)")
        let held = try b.client().request("getServer", ["serverId": .string(onB)])
        let holder = held.result?["entry"]?.objectValue?["reservedBy"]
        #expect(holder != nil && holder != .null, "\(held)")
        let cancelled = try client.request("cancelReservation", ["reservationId": reservation["id"] ?? .null])
        #expect(cancelled.errorCode == nil, "\(cancelled)")
        let freedBy = Date().addingTimeInterval(3)
        var free = false
        while Date() < freedBy && !free {
            let entry = try b.client().request("getServer", ["serverId": .string(onB)]).result?["entry"]?.objectValue
            free = entry?["reservedBy"] == nil || entry?["reservedBy"] == .null
            if !free { usleep(50_000) }
        }
        #expect(free, "B still holds \(onB)")

        _ = try client.request("query", ["filter": ["scope": "remote"]])
        let marked = try client.request("markInUse", ["serverId": .string(onB), "terminal": "input", "connectomeId": "loop"])
        #expect(marked.result?["entry"]?.objectValue?["hostess"]?.objectValue?["hostessId"] == .string(bID), "\(marked)")
        let onBNow = try b.client().request("getServer", ["serverId": .string(onB)])
        #expect(onBNow.result?["entry"]?.objectValue?["terminals"]?.objectValue?["input"]?.objectValue?["connectedTo"] == ["loop"], "\(onBNow)")
    }
}
