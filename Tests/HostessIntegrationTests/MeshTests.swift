import Foundation
import Glibc
import HostessModel
import Testing

// MARK: - A mesh of Hostesses

/// Hostesses in the namespaces of one ``NamespaceLab``, each announcing on its `eth0` with short intervals.
final class Mesh: @unchecked Sendable {
    let lab: NamespaceLab
    private(set) var daemons: [DaemonProcess?]

    /// `count` machines, each running hostessd with `--announce` and `extra` flags, except those `deferred`
    /// (started later with ``start(_:interval:extra:)`` and ``set(_:_:)``).
    init(count: Int = 3, interval: String = "0.5", extra: [String] = [], deferred: Set<Int> = []) throws {
        lab = try NamespaceLab(count: count)
        daemons = []
        for machine in 0..<count { daemons.append(deferred.contains(machine) ? nil : try start(machine, interval: interval, extra: extra)) }
    }

    /// Starts (again) hostessd on `machine`.
    func start(_ machine: Int, interval: String = "0.5", extra: [String] = []) throws -> DaemonProcess {
        try DaemonProcess(
            ["--http", "\(lab.address(of: machine)):8080", "--announce", "--announce-interval", interval] + extra, namespace: lab.name(of: machine))
    }

    /// Replaces machine `machine`'s daemon (nil: none runs there).
    func set(_ machine: Int, _ daemon: DaemonProcess?) { daemons[machine] = daemon }

    /// The daemon of `machine`.
    func daemon(_ machine: Int) throws -> DaemonProcess {
        guard let daemon = daemons[machine] else { throw TestFailure("no hostessd runs on machine \(machine)") }
        return daemon
    }

    /// The peers `machine` lists, by hostessId.
    func peers(of machine: Int) throws -> [String: JSONObject] {
        let reply = try daemon(machine).client().request("listPeers")
        guard case .array(let items)? = reply.result?["peers"] else { throw TestFailure("listPeers: \(reply)") }
        var peers: [String: JSONObject] = [:]
        for item in items { if let peer = item.objectValue, let id = peer["hostessId"]?.stringValue { peers[id] = peer } }
        return peers
    }

    /// `machine`'s hostessId.
    func hostessID(of machine: Int) throws -> String {
        guard let id = try daemon(machine).client().request("status").result?["instanceId"]?.stringValue else { throw TestFailure("no instanceId") }
        return id
    }

    /// Polls `condition` every 50 ms for at most `seconds`; returns the seconds it took, or nil.
    func within(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try condition() { return Date().timeIntervalSince(start) }
            usleep(50_000)
        }
        return try condition() ? Date().timeIntervalSince(start) : nil
    }

    /// A `/metrics` sample of `machine`'s hostessd, fetched from another machine.
    func metric(_ machine: Int, _ name: String) throws -> Double? {
        let other = (machine + 1) % lab.namespaces.count
        let reply = try lab.run(other, "curl", ["-sS", "--noproxy", "*", "--max-time", "5", "http://\(lab.address(of: machine)):8080/metrics"], timeout: 10)
        for line in reply.stdout.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// `machine`'s `/metrics`, for failure messages.
    func metricsText(_ machine: Int) -> String {
        let other = (machine + 1) % lab.namespaces.count
        let url = "http://\(lab.address(of: machine)):8080/metrics"
        return (try? lab.run(other, "curl", ["-sS", "--noproxy", "*", "--max-time", "5", url], timeout: 10).stdout) ?? "(no metrics)"
    }

    /// What `machine` lists, for failure messages.
    func snapshot(_ machine: Int) -> String {
        let peers = (try? peers(of: machine)).map { "\($0)" } ?? "(no answer)"
        return "machine \(machine) peers: \(peers)\nlog:\n\((try? daemon(machine).log) ?? "")"
    }

    deinit { lab.close() }
}

/// Registers a GPU renderer on `daemon` over its socket.
func registerRenderer(on daemon: DaemonProcess, capabilities: [String] = ["gpu", "h264"]) throws -> String {
    let id = "m.local:gpu-renderer:0x0002:root:no:none:\(UUID().uuidString.lowercased())"
    let entry: JSONObject = [
        "id": .string(id), "capabilities": .array(capabilities.map(JSONValue.string)),
        "terminals": ["input": ["direction": "input", "multiplexing": "none"]],
    ]
    let reply = try daemon.client().request("register", ["entry": .object(entry)])
    guard reply.errorCode == nil else { throw TestFailure("register: \(reply)") }
    return id
}

// MARK: - Discovery

@Suite("The mesh: announcements between Hostesses in network namespaces", .serialized, .enabled(if: NamespaceLab.available.0, Comment(rawValue: NamespaceLab.available.1)))
struct MeshDiscoveryTests {
    @Test("three Hostesses find each other both ways within 3 s, with endpoints, states and summaries")
    func discovery() throws {
        let mesh = try Mesh()
        let ids = try (0..<3).map(mesh.hostessID(of:))
        let took = try mesh.within(3) { try (0..<3).allSatisfy { machine in try mesh.peers(of: machine).count == 2 } }
        #expect(took != nil, "\(mesh.snapshot(0))\n\(mesh.snapshot(1))")
        let seen = try mesh.peers(of: 0)
        #expect(Set(seen.keys) == [ids[1], ids[2]])
        #expect(seen[ids[1]]?["endpoint"]?.stringValue == "http://\(mesh.lab.address(of: 1)):8080")
        #expect(seen[ids[1]]?["state"] == "live")
        #expect(seen[ids[1]]?["addresses"].map { value in if case .array(let items) = value { items.contains(.string(mesh.lab.address(of: 1))) } else { false } } == true)
        print("mesh: discovery of 3 Hostesses took \(took.map { String(format: "%.2f", $0) } ?? "-") s")

        // The same over HTTP and the CLI.
        let http = try mesh.lab.run(1, "curl", ["-sS", "--noproxy", "*", "--max-time", "5", "http://\(mesh.lab.address(of: 0)):8080/peers"], timeout: 10)
        #expect(http.status == 0 && http.stdout.contains(ids[2]), "\(http)")
        let cli = try CLI.hostess(["--json", "peers"], socket: try mesh.daemon(0).socketPath)
        #expect(cli.status == 0 && cli.stdout.contains(ids[1]) && cli.stdout.contains("\"state\":\"live\""), "\(cli)")
        let table = try CLI.hostess(["peers"], socket: try mesh.daemon(0).socketPath)
        #expect(table.stdout.contains("2 peers") && table.stdout.contains("live"), "\(table)")
    }

    @Test("a change of the summary reaches the peers within 2 s, and watch wakes for it")
    func summaryChange() throws {
        let mesh = try Mesh(interval: "30")
        let ids = try (0..<3).map(mesh.hostessID(of:))
        _ = try mesh.within(4) { try mesh.peers(of: 1).count == 2 }
        let before = try mesh.daemon(1).client().request("status").result?["revision"]
        // A blocking read of machine 1's peers, from machine 2: it answers when the peer changes.
        let index = before.flatMap { value -> Int64? in if case .int(let number) = value { number } else { nil } } ?? 0
        let blocked = Pipe()
        let curl = try mesh.lab.spawn(
            2, executable: "/usr/bin/curl",
            arguments: ["-sS", "--noproxy", "*", "--max-time", "10", "http://\(mesh.lab.address(of: 1)):8080/peers?index=\(index)&wait=8s"],
            stdout: blocked.fileHandleForWriting)
        usleep(200_000)
        _ = try registerRenderer(on: try mesh.daemon(0))
        let took = try mesh.within(2) {
            guard case .array(let summary)? = try mesh.peers(of: 1)[ids[0]]?["capabilities"] else { return false }
            return summary.contains { $0.objectValue?["class"] == "0x0002" }
        }
        #expect(took != nil, "\(mesh.snapshot(1))")
        print("mesh: a summary change reached a peer in \(took.map { String(format: "%.2f", $0) } ?? "-") s (interval 30 s)")
        let waitedAt = Date()
        #expect(NamespaceLab.wait(curl, timeout: 10) == 0)
        try blocked.fileHandleForWriting.close()
        let answer = String(decoding: blocked.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(answer.contains(ids[0]) && answer.contains("0x0002"), "GET /peers?index=…: \(answer)")
        #expect(Date().timeIntervalSince(waitedAt) < 5)
        let watched = try mesh.daemon(1).client().request("watch", ["sinceRevision": before ?? 0, "timeout": 0])
        guard case .array(let changes)? = watched.result?["changes"] else { throw TestFailure("\(watched)") }
        #expect(changes.contains { $0.objectValue?["kind"] == "peer_changed" && $0.objectValue?["id"]?.stringValue == ids[0] }, "\(changes)")
    }

    @Test("a summary too large for a datagram is announced by digest, and peers fetch it with POST /capabilities")
    func truncatedSummary() throws {
        let mesh = try Mesh(count: 2, interval: "30")
        let ids = try (0..<2).map(mesh.hostessID(of:))
        _ = try mesh.within(4) { try mesh.peers(of: 1).count == 1 }
        // 70 classes: more than the 64 one announcement carries.
        for index in 0..<70 {
            let id = "m.local:server-\(index):0x\(String(format: "%04x", 0x100 + index)):root:no:none:\(UUID().uuidString.lowercased())"
            let reply = try mesh.daemon(0).client().request("register", ["entry": ["id": .string(id), "capabilities": [.string("c\(index)")]]])
            try #require(reply.errorCode == nil, "\(reply)")
        }
        let took = try mesh.within(4) {
            guard let peer = try mesh.peers(of: 1)[ids[0]], peer["summaryTruncated"] == true, case .array(let summary)? = peer["capabilities"] else { return false }
            return summary.count == 70
        }
        #expect(took != nil, "\(mesh.snapshot(1))")
        print("mesh: a truncated summary (70 classes) was fetched by the peer \(took.map { String(format: "%.2f", $0) } ?? "-") s after the registrations")
    }

    @Test("a goodbye removes the peer at once; kill -9 leaves it stale after its ttl")
    func goodbyeAndStale() throws {
        let mesh = try Mesh(extra: ["--announce-hold", "3"])
        let ids = try (0..<3).map(mesh.hostessID(of:))
        _ = try mesh.within(3) { try mesh.peers(of: 0).count == 2 }
        // Machine 1 stops cleanly: its goodbye removes it.
        #expect(try mesh.daemon(1).stop() == 0)
        mesh.set(1, nil)
        let gone = try mesh.within(1) { try mesh.peers(of: 0)[ids[1]] == nil }
        #expect(gone != nil, "\(mesh.snapshot(0))")
        // Machine 2 is killed: no goodbye, so it is live until its ttl (3 × 0.5 s rounds up to 2 s), then stale.
        kill(try mesh.daemon(2).pid, SIGKILL)
        #expect(try mesh.peers(of: 0)[ids[2]]?["state"] == "live")
        let stale = try mesh.within(4) { try mesh.peers(of: 0)[ids[2]]?["state"] == "stale" }
        #expect(stale != nil, "\(mesh.snapshot(0))")
        print("mesh: a killed peer went stale \(stale.map { String(format: "%.2f", $0) } ?? "-") s after kill -9 (ttl 2 s)")
    }
}

// MARK: - Hostile packets

/// Runs Support/mesh_packets.py inside `machine`'s namespace.
func meshPackets(_ mesh: Mesh, on machine: Int, _ arguments: [String], timeout: Double = 30) throws -> CLI.Outcome {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/mesh_packets.py").path
    return try mesh.lab.run(machine, "/usr/bin/python3", [script] + arguments, timeout: timeout)
}

@Suite("The mesh refuses what it must", .serialized, .enabled(if: NamespaceLab.available.0, Comment(rawValue: NamespaceLab.available.1)))
struct MeshHostilePacketTests {
    static let secret = "mesh-secret-0123456789abcdef"

    /// A mesh whose Hostesses share the key `k1`.
    func signedMesh(count: Int) throws -> (Mesh, ScratchDirectory) {
        let scratch = try ScratchDirectory()
        let file = try scratch.write("mesh.secret", "k1 \(Self.secret)\n")
        chmod(file, 0o600)
        return (try Mesh(count: count, extra: ["--mesh-secret-file", file]), scratch)
    }

    @Test("with a mesh key: signed peers are found; unsigned, forged, stale and replayed packets are dropped and counted")
    func signedMesh() throws {
        let (mesh, _) = try signedMesh(count: 3)
        let ids = try (0..<3).map(mesh.hostessID(of:))
        #expect(try mesh.within(3) { try mesh.peers(of: 0).count == 2 } != nil, "\(mesh.snapshot(0))")

        // A real packet of machine 1, captured on machine 2, to replay later.
        let captured = try meshPackets(mesh, on: 2, ["capture", "4853", "5"])
        let packet = captured.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(captured.status == 0 && !packet.isEmpty, "\(captured)")

        for kind in ["unsigned", "forged", "stale"] {
            let sent = try meshPackets(mesh, on: 2, ["craft", "4853", kind, "k1", Self.secret])
            #expect(sent.status == 0, "\(sent)")
        }
        // Sent again after the sender moved on, the captured packet is older than what came since.
        usleep(1_200_000)
        #expect(try meshPackets(mesh, on: 2, ["send", "4853", packet]).status == 0)
        let counted = try mesh.within(3) {
            try ["unsigned", "bad_signature", "stale", "replayed"].allSatisfy { reason in
                (try mesh.metric(0, "hostess_mesh_packets_dropped_total{reason=\"\(reason)\"}") ?? 0) >= 1
            }
        }
        #expect(counted != nil, "\(mesh.metricsText(0))")
        // A good packet with the key is accepted; none of the refused ones made a peer.
        let good = try meshPackets(mesh, on: 2, ["craft", "4853", "good", "k1", Self.secret])
        let crafted = good.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try mesh.within(2) { try mesh.peers(of: 0)[crafted] != nil } != nil, "\(mesh.snapshot(0))")
        #expect(Set(try mesh.peers(of: 0).keys) == [ids[1], ids[2], crafted])
    }

    @Test("10,000 random and truncated datagrams and a 64 KiB one leave the daemon healthy and its peers unchanged")
    func flood() throws {
        let (mesh, _) = try signedMesh(count: 2)
        let ids = try (0..<2).map(mesh.hostessID(of:))
        #expect(try mesh.within(3) { try mesh.peers(of: 0).count == 1 } != nil, "\(mesh.snapshot(0))")
        let renderer = try registerRenderer(on: try mesh.daemon(0))
        let flooded = try meshPackets(mesh, on: 1, ["flood", "4853", "10000", "7"], timeout: 60)
        #expect(flooded.status == 0, "\(flooded)")
        let dropped = try mesh.within(5) {
            let total = try ["malformed", "too_large", "unsigned", "bad_signature", "unknown_key"].reduce(0.0) { sum, reason in
                sum + (try mesh.metric(0, "hostess_mesh_packets_dropped_total{reason=\"\(reason)\"}") ?? 0)
            }
            return total >= 9_000
        }
        #expect(dropped != nil, "\(mesh.metricsText(0))")
        #expect(Set(try mesh.peers(of: 0).keys) == [ids[1]])
        #expect(try mesh.daemon(0).client().request("getServer", ["serverId": .string(renderer)]).errorCode == nil)
        #expect(try mesh.metric(0, "hostess_mesh_packets_dropped_total{reason=\"too_large\"}") ?? 0 >= 1)
    }
}

// MARK: - Static peers over loopback

@Suite("The mesh without multicast: static --peer over loopback HTTP")
struct StaticPeerTests {
    /// The `HOST:PORT` hostessd reports serving HTTP on.
    static func httpAddress(of daemon: DaemonProcess) throws -> String {
        guard let address = try daemon.client().request("status").result?["http"]?.stringValue else { throw TestFailure("no http in status") }
        return address
    }

    @Test("a Hostess polls its --peer for GET /announcement: it is listed live with its summary, then stale once it stops")
    func polled() throws {
        let a = try DaemonProcess(["--http", "127.0.0.1:0", "--peer", "http://127.0.0.1:9/", "--announce-interval", "0.3", "--announce-hold", "2"])
        let aAddress = try Self.httpAddress(of: a)
        _ = try registerRenderer(on: a)
        let b = try DaemonProcess(["--http", "127.0.0.1:0", "--peer", "http://\(aAddress)", "--announce-interval", "0.3", "--announce-hold", "2"])
        let aID = try #require(try a.client().request("status").result?["instanceId"]?.stringValue)

        // GET /announcement is the datagram a multicast announcement carries.
        let served = try CLI.run("/usr/bin/curl", ["-sS", "--noproxy", "*", "--max-time", "5", "http://\(aAddress)/announcement"])
        #expect(served.status == 0 && served.stdout.contains("\"type\":\"HOSTESS_ANNOUNCEMENT\"") && served.stdout.contains(aID), "\(served)")

        let deadline = Date().addingTimeInterval(3)
        var peer: JSONObject?
        while Date() < deadline {
            let reply = try b.client().request("listPeers")
            if case .array(let peers)? = reply.result?["peers"] { peer = peers.compactMap(\.objectValue).first { $0["hostessId"]?.stringValue == aID } }
            // a's served announcement follows its guest book within a second (the change-triggered send).
            if peer?["serverCount"] == 1 { break }
            usleep(50_000)
        }
        let found = try #require(peer, "b never listed a:\n\(b.log)")
        #expect(found["state"] == "live")
        #expect(found["endpoint"]?.stringValue == "http://\(aAddress)")
        #expect(found["serverCount"] == 1)
        // The unreachable peer (port 9) is logged once, not every interval.
        usleep(1_000_000)
        #expect(a.log.components(separatedBy: "static peer http://127.0.0.1:9/").count == 2, "\(a.log)")

        // a stops: after its ttl (2 × 0.3 s → 1 s) b shows it stale, not live.
        #expect(a.stop() == 0)
        let staleBy = Date().addingTimeInterval(4)
        var state: JSONValue?
        while Date() < staleBy {
            if case .array(let peers)? = try b.client().request("listPeers").result?["peers"] {
                state = peers.compactMap(\.objectValue).first { $0["hostessId"]?.stringValue == aID }?["state"]
            }
            if state == "stale" { break }
            usleep(50_000)
        }
        #expect(state == "stale")
    }
}

// MARK: - Queries across the mesh

@Suite("Queries across the mesh", .serialized, .enabled(if: NamespaceLab.available.0, Comment(rawValue: NamespaceLab.available.1)))
struct MeshQueryTests {
    /// The ids and Hostess ids of a query answer's entries.
    static func places(_ answer: JSONObject) -> [String: String] {
        guard case .array(let entries)? = answer["entries"] else { return [:] }
        var places: [String: String] = [:]
        for entry in entries.compactMap(\.objectValue) {
            let hostess = entry["hostess"]?.objectValue
            places[entry["id"]?.stringValue ?? "?"] = hostess?["local"] == true ? "local" : hostess?["hostessId"]?.stringValue ?? "?"
        }
        return places
    }

    @Test("A finds B's and C's servers (scope remote and all, socket and HTTP); a killed peer is reported as not answering")
    func across() throws {
        let mesh = try Mesh(interval: "30", extra: ["--remote-timeout", "1"])
        let ids = try (0..<3).map(mesh.hostessID(of:))
        #expect(try mesh.within(4) { try mesh.peers(of: 0).count == 2 } != nil, "\(mesh.snapshot(0))")
        let mine = try registerRenderer(on: try mesh.daemon(0))
        let onB = try registerRenderer(on: try mesh.daemon(1))
        let onC = try registerRenderer(on: try mesh.daemon(2))
        _ = try registerRenderer(on: try mesh.daemon(2), capabilities: ["cpu"])
        // The peers' summaries reach A within a second or so (change-triggered announcements).
        #expect(try mesh.within(4) { try mesh.peers(of: 0).values.allSatisfy { $0["serverCount"] != 0 } } != nil)

        let client = try mesh.daemon(0).client()
        let started = Date()
        let all = try #require(try client.request("query", ["filter": ["class": "0x0002", "capabilities": ["gpu"], "scope": "all"]]).result)
        let acrossSeconds = Date().timeIntervalSince(started)
        #expect(Self.places(all) == [mine: "local", onB: ids[1], onC: ids[2]], "\(all)")
        #expect(all["unanswered"] == [] && all["asked"] == 2, "\(all)")
        let localStarted = Date()
        _ = try client.request("query", ["filter": ["class": "0x0002", "capabilities": ["gpu"]]])
        let localSeconds = Date().timeIntervalSince(localStarted)
        print("mesh: query scope all over 2 peers \(String(format: "%.2f", acrossSeconds * 1000)) ms, local \(String(format: "%.2f", localSeconds * 1000)) ms")

        let remote = try #require(try client.request("query", ["filter": ["capabilities": ["cpu"], "scope": "remote"]]).result)
        #expect(Set(Self.places(remote).values) == [ids[2]], "only C has a cpu server, and only C is asked: \(remote)")
        #expect(remote["asked"] == 1, "\(remote)")

        // Over HTTP, from machine 1, and through the CLI.
        let http = try mesh.lab.run(
            1, "curl",
            ["-sS", "--noproxy", "*", "--max-time", "5", "-X", "POST", "-H", "Content-Type: application/json", "-d", #"{"class":"0x0002","scope":"remote"}"#,
             "http://\(mesh.lab.address(of: 0)):8080/query"], timeout: 10)
        #expect(http.status == 0 && http.stdout.contains(onB) && http.stdout.contains(onC) && !http.stdout.contains(mine), "\(http)")
        let cli = try CLI.hostess(["query", "--scope", "all", "--class", "0x0002"], socket: try mesh.daemon(0).socketPath)
        #expect(cli.status == 0 && cli.stdout.contains("(this Hostess)") && cli.stdout.contains("2 peers asked, 0 did not answer"), "\(cli)")

        // C dies without a goodbye: it stays live until its ttl, and a query says it did not answer.
        kill(try mesh.daemon(2).pid, SIGKILL)
        usleep(200_000)
        let after = try #require(try client.request("query", ["filter": ["class": "0x0002", "scope": "remote"]]).result)
        #expect(Set(Self.places(after).values) == [ids[1]], "\(after)")
        guard case .array(let missing)? = after["unanswered"] else { throw TestFailure("\(after)") }
        #expect(missing.count == 1 && missing.first?.objectValue?["hostessId"]?.stringValue == ids[2], "\(after)")
    }
}
