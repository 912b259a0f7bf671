import Foundation
import Glibc
import HostessModel
import Testing

// MARK: - A fleet of Hostesses on one etcd

/// One hostessd of a ``Fleet``: its HTTP port on 127.0.0.1 and its hostessId.
final class FleetHostess: @unchecked Sendable {
    let daemon: DaemonProcess
    let port: Int
    let id: String

    init(daemon: DaemonProcess, port: Int, id: String) {
        self.daemon = daemon
        self.port = port
        self.id = id
    }

    /// `127.0.0.1:PORT`, its `--http`.
    var http: String { "127.0.0.1:\(port)" }
    /// What its peers list as its `endpoint`.
    var endpoint: String { "http://127.0.0.1:\(port)" }
}

/// Hostesses on loopback that find each other through a private etcd only (`--directory`, no `--announce`:
/// multicast off), each with its own socket, region and HTTP port.
final class Fleet: @unchecked Sendable {
    /// Where the Hostesses' HTTP ports are drawn from: clear of the probing tests' 20000–23999 and 30000–33999,
    /// of etcd's 24000–29999 and of the ephemeral range (32768 on).
    static let httpPorts = 14000..<20000

    let etcd: EtcdCluster
    let interval: String
    let hold: String
    let extra: [String]
    /// The Hostesses by index; nil once stopped or killed (``gone`` keeps them for their logs).
    private(set) var hostesses: [FleetHostess?] = []
    private(set) var gone: [FleetHostess] = []

    init(_ etcd: EtcdCluster, interval: String = "0.5", hold: String = "4", extra: [String] = []) {
        self.etcd = etcd
        self.interval = interval
        self.hold = hold
        self.extra = extra
    }

    deinit { PortPicker.release((hostesses.compactMap { $0 } + gone).map(\.port)) }

    /// Starts another hostessd with `--directory` (the cluster's endpoints unless given) and returns its index;
    /// another port is tried when the one chosen was taken in the meantime.
    @discardableResult
    func start(directory: String? = nil) throws -> Int {
        var failures: [String] = []
        for _ in 0..<5 {
            let port = PortPicker.freePort(in: Self.httpPorts)
            let arguments = [
                "--http", "127.0.0.1:\(port)", "--directory", directory ?? etcd.endpoints, "--announce-interval", interval, "--announce-hold", hold,
            ] + extra
            do {
                let daemon = try DaemonProcess(arguments)
                let status = try daemon.client().request("status")
                guard let id = status.result?["instanceId"]?.stringValue else {
                    throw TestFailure("status has no result.instanceId: \(status)\nlog:\n\(daemon.log)")
                }
                hostesses.append(FleetHostess(daemon: daemon, port: port, id: id))
                return hostesses.count - 1
            } catch {
                PortPicker.release([port])
                failures.append("hostessd \(arguments.joined(separator: " ")): \(error)")
            }
        }
        throw TestFailure("hostessd with --directory did not start:\n" + failures.joined(separator: "\n---\n"))
    }

    /// The indices of the Hostesses still running.
    var running: [Int] { hostesses.indices.filter { hostesses[$0] != nil } }

    func hostess(_ index: Int) throws -> FleetHostess {
        guard hostesses.indices.contains(index), let hostess = hostesses[index] else { throw TestFailure("no Hostess \(index) runs") }
        return hostess
    }

    /// Stops Hostess `index` with `signal` and waits for its exit; returns its exit status (nil: still running
    /// after 10 s).
    @discardableResult
    func stop(_ index: Int, signal: Int32 = SIGTERM) throws -> Int32? {
        let hostess = try hostess(index)
        let status = hostess.daemon.stop(signal: signal)
        hostesses[index] = nil
        gone.append(hostess)
        return status
    }

    // MARK: Asking a Hostess

    /// `listPeers`' `result.peers`, in order, duplicates kept.
    func peerList(_ index: Int) throws -> [JSONObject] {
        let reply = try hostess(index).daemon.client().request("listPeers")
        guard case .array(let items)? = reply.result?["peers"] else { throw TestFailure("listPeers of Hostess \(index): \(reply)") }
        return items.compactMap(\.objectValue)
    }

    /// The peers Hostess `index` lists, by hostessId.
    func peers(_ index: Int) throws -> [String: JSONObject] {
        var peers: [String: JSONObject] = [:]
        for peer in try peerList(index) { if let id = peer["hostessId"]?.stringValue { peers[id] = peer } }
        return peers
    }

    /// `status`' result.
    func status(_ index: Int) throws -> JSONObject {
        let reply = try hostess(index).daemon.client().request("status")
        guard let result = reply.result else { throw TestFailure("status of Hostess \(index): \(reply)") }
        return result
    }

    /// `status`' `result.directory`.
    func directory(_ index: Int) throws -> JSONObject {
        let status = try status(index)
        guard let directory = status["directory"]?.objectValue else {
            throw TestFailure("status of Hostess \(index) has no object result.directory: \(JSONValue.object(status).jsonText)")
        }
        return directory
    }

    /// `result.directory.state` (nil: none).
    func directoryState(_ index: Int) -> String? { (try? directory(index))?["state"]?.stringValue }

    /// One HTTP request over a fresh connection to Hostess `index`, and the seconds it took.
    func http(_ index: Int, _ method: String, _ target: String, timeout: Double = 5) throws -> (reply: HTTPReply, elapsed: Double) {
        let started = Date()
        let client = try TCPClient(address: try hostess(index).http)
        try client.send("\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        guard let reply = client.readResponse(timeout: timeout) else {
            throw TestFailure("\(method) \(target) on Hostess \(index): no response within \(timeout) s")
        }
        return (reply, Date().timeIntervalSince(started))
    }

    /// `GET /health`'s `directory` object.
    func healthDirectory(_ index: Int) throws -> JSONObject {
        let (reply, _) = try http(index, "GET", "/health")
        guard reply.status == 200, let directory = reply.json?.objectValue?["directory"]?.objectValue else {
            throw TestFailure("GET /health of Hostess \(index) has no object \"directory\": \(reply)")
        }
        return directory
    }

    /// `GET /metrics`' body.
    func metricsText(_ index: Int) -> String { (try? http(index, "GET", "/metrics").reply.text) ?? "(no metrics)" }

    /// The value of the `/metrics` sample `sample` (a name with its labels, e.g. `x{state="connected"}`).
    func metric(_ index: Int, _ sample: String) -> Double? { Self.sample(sample, in: metricsText(index)) }

    static func sample(_ sample: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// Hostess `index`'s log, from the `offset`-th byte on.
    func log(_ index: Int, from offset: Int = 0) throws -> String {
        String(decoding: Array(try hostess(index).daemon.log.utf8).dropFirst(offset), as: UTF8.self)
    }

    /// The messages of the log lines (`TIME hostessd[PID] LEVEL: MESSAGE`) that start with `directory: `.
    static func directoryLines(_ log: String) -> [String] {
        log.split(separator: "\n").compactMap { line -> String? in
            var message = Substring(line)
            if let bracket = line.range(of: "]: ") ?? line.range(of: "] ") {
                message = line[bracket.upperBound...]
                if !message.hasPrefix("directory: "), let colon = message.range(of: ": ") { message = message[colon.upperBound...] }
            }
            return message.hasPrefix("directory: ") ? String(message) : nil
        }
    }

    // MARK: Expectations

    /// Whether Hostess `index` lists exactly the other running Hostesses, each once and live.
    func seesExactlyTheOthers(_ index: Int) throws -> Bool {
        let others = Set(try running.filter { $0 != index }.map { try hostess($0).id })
        let list = try peerList(index)
        let ids = list.compactMap { $0["hostessId"]?.stringValue }
        return ids.count == list.count && ids.count == others.count && Set(ids) == others && list.allSatisfy { $0["state"] == "live" }
    }

    /// Whether every running Hostess lists exactly the others.
    func allSeeExactlyTheOthers() throws -> Bool { try running.allSatisfy(seesExactlyTheOthers) }

    /// Whether every running Hostess's directory is `connected`.
    func allConnected() -> Bool { running.allSatisfy { directoryState($0) == "connected" } }

    /// The keys under `PREFIX/peers/` that running Hostesses would own.
    func expectedKeys(prefix: String = "/hostess/") throws -> Set<String> { Set(try running.map { prefix + "peers/" + (try hostess($0).id) }) }

    // MARK: Failure messages

    /// What Hostess `index` lists and reports, and its log's tail.
    func snapshot(_ index: Int, logLines: Int = 25) -> String {
        guard let hostess = hostesses.indices.contains(index) ? hostesses[index] : nil else { return "Hostess \(index): not running" }
        let peers = (try? peerList(index)).map { list in
            list.map { "\($0["hostessId"]?.stringValue ?? "?") \($0["state"]?.stringValue ?? "?") \($0["endpoint"]?.stringValue ?? "?")" }
                .joined(separator: "; ")
        } ?? "(no answer)"
        let directory = (try? directory(index)).map { JSONValue.object($0).jsonText } ?? "(no answer)"
        let tail = hostess.daemon.log.split(separator: "\n").suffix(logLines).joined(separator: "\n")
        return "Hostess \(index) \(hostess.id) on \(hostess.http)\n  listPeers: [\(peers)]\n  status.directory: \(directory)\n  log tail:\n\(tail)"
    }

    /// Every running Hostess's snapshot, etcd's keys and etcd's logs.
    func snapshot(logLines: Int = 12) -> String {
        let keys = (try? etcd.keys(prefix: "/")).map { "\($0)" } ?? "(etcd did not answer)"
        return running.map { snapshot($0, logLines: logLines) }.joined(separator: "\n") + "\netcd keys: \(keys)\n" + etcd.logsTail(lines: 6)
    }
}

/// Polls `condition` every 50 ms for at most `seconds`; the seconds it took until it held, or nil. Errors
/// thrown by `condition` count as "not yet".
fileprivate func within(_ seconds: Double, _ condition: () throws -> Bool) -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        if (try? condition()) == true { return Date().timeIntervalSince(start) }
        usleep(50_000)
    }
    return (try? condition()) == true ? Date().timeIntervalSince(start) : nil
}

/// `seconds` as `1.23 s`, or `-` for nil.
fileprivate func seconds(_ value: Double?) -> String { value.map { String(format: "%.2f s", $0) } ?? "-" }

extension JSONObject {
    /// The integer member `key`.
    fileprivate func integer(_ key: String) -> Int64? {
        switch self[key] {
        case .int(let value)?: value
        case .double(let value)? where value == value.rounded(): Int64(value)
        default: nil
        }
    }
}

// MARK: - Tests

@Suite("The fleet directory: Hostesses find each other through a real etcd, multicast off", .serialized)
struct FleetDirectoryTests {
    static let states = ["connecting", "connected", "unreachable", "refused"]

    /// Checks a connected directory object (`status.directory` or `/health`'s) of a Hostess on `etcd` member
    /// `endpoint` that knows `peers` others, with the lease's `ttl`.
    func expectConnected(_ directory: JSONObject, endpoint: String, peers: Int64, ttl: Int64, since earliest: Date, _ context: @autoclosure () -> String) {
        #expect(directory["state"] == "connected", "\(context())")
        #expect(directory["endpoint"]?.stringValue == endpoint, "\(context())")
        #expect(directory["error"] == nil, "no error when connected: \(context())")
        #expect(directory.integer("peers") == peers, "\(context())")
        #expect((directory.integer("revision") ?? 0) > 0, "\(context())")
        #expect((directory.integer("lease") ?? 0) != 0, "\(context())")
        #expect(directory.integer("ttl") == ttl, "\(context())")
        let since = Double(directory.integer("since") ?? 0) / 1000
        #expect(since >= earliest.timeIntervalSince1970 - 1 && since <= Date().timeIntervalSince1970 + 1, "since is wall ms of the last change: \(context())")
    }

    @Test("two Hostesses find each other through etcd; status, /health, /metrics and the log say connected")
    func twoFindEachOther() throws {
        let etcd = try EtcdCluster()
        let fleet = Fleet(etcd)
        let started = Date()
        try fleet.start()
        try fleet.start()
        let found = within(5) { try fleet.allSeeExactlyTheOthers() }
        try #require(found != nil, "two Hostesses did not find each other within 5 s:\n\(fleet.snapshot())")
        print("fleet: two Hostesses found each other through etcd \(seconds(found)) after the second started")

        let a = try fleet.hostess(0)
        let b = try fleet.hostess(1)
        for (index, other) in [(0, b), (1, a)] {
            let peer = try fleet.peers(index)[other.id]
            #expect(peer?["endpoint"]?.stringValue == other.endpoint, "\(fleet.snapshot(index))")
            #expect(peer?["state"] == "live", "\(fleet.snapshot(index))")
            #expect(peer?["fqdn"]?.stringValue?.isEmpty == false, "\(fleet.snapshot(index))")
        }

        let member = etcd.members[0].endpoint
        for index in 0..<2 {
            // `peers` counts the others' keys as last read: give the watch a moment to bring the later one in.
            _ = within(3) { try fleet.directory(index).integer("peers") == 1 }
            let directory = try fleet.directory(index)
            expectConnected(directory, endpoint: member, peers: 1, ttl: 2, since: started, fleet.snapshot(index))
            let health = try fleet.healthDirectory(index)
            expectConnected(health, endpoint: member, peers: 1, ttl: 2, since: started, "GET /health: \(JSONValue.object(health).jsonText)\n\(fleet.snapshot(index))")
            for key in ["state", "endpoint", "since", "lease", "ttl"] {
                #expect(health[key] == directory[key], "/health's directory.\(key) is status's: \(JSONValue.object(health).jsonText) vs \(JSONValue.object(directory).jsonText)")
            }
            // The other's re-puts (every 0.5 s) arrive as watch events.
            _ = within(3) { (fleet.metric(index, "hostess_directory_watch_events_total") ?? 0) >= 1 }
            let metrics = fleet.metricsText(index)
            for state in Self.states {
                #expect(Fleet.sample("hostess_directory_state{state=\"\(state)\"}", in: metrics) == (state == "connected" ? 1 : 0), "Hostess \(index): \(metrics)")
            }
            #expect((Fleet.sample("hostess_directory_requests_total{result=\"ok\"}", in: metrics) ?? 0) >= 1, "Hostess \(index): \(metrics)")
            #expect(Fleet.sample("hostess_directory_requests_total{result=\"failed\"}", in: metrics) == 0, "Hostess \(index): \(metrics)")
            #expect((Fleet.sample("hostess_directory_watch_events_total", in: metrics) ?? 0) >= 1, "Hostess \(index): \(metrics)")
            #expect(Fleet.sample("hostess_directory_reconnects_total", in: metrics) == 0, "Hostess \(index): \(metrics)")

            let lines = Fleet.directoryLines(try fleet.log(index))
            let connected = lines.filter { $0.hasPrefix("directory: connected") }
            #expect(connected.count == 1 && connected.first?.contains(member) == true, "one 'directory: connected to etcd \(member)' line: \(lines)")
            #expect(!lines.contains { $0.contains("unreachable") }, "\(lines)")
        }
        let keys = try etcd.keys(prefix: "/hostess/")
        #expect(Set(keys) == (try fleet.expectedKeys()) && keys.count == 2, "etcd holds \(keys)")
    }

    @Test("ten Hostesses each list exactly the nine others, all live (and --directory-prefix is kept to)")
    func tenFindEachOther() throws {
        let etcd = try EtcdCluster()
        let prefix = "/fleet-ten/"
        let fleet = Fleet(etcd, extra: ["--directory-prefix", prefix])
        let first = Date()
        for _ in 0..<10 { try fleet.start() }
        let allStarted = Date()
        let found = within(15) { try fleet.allSeeExactlyTheOthers() }
        try #require(found != nil, "ten Hostesses did not find each other within 15 s:\n\(fleet.snapshot(logLines: 6))")
        let fromFirst = Date().timeIntervalSince(first)
        print(
            "fleet: ten Hostesses list each other \(seconds(found)) after the tenth started (starting the ten took \(seconds(allStarted.timeIntervalSince(first))), \(seconds(fromFirst)) from the first start)"
        )
        #expect(found.map { $0 <= 5 } == true, "discovery took \(seconds(found))")

        let connected = within(3) { fleet.running.allSatisfy { (try? fleet.directory($0).integer("peers")) == 9 } }
        #expect(connected != nil, "every status.directory.peers is 9:\n\(fleet.snapshot(logLines: 4))")
        #expect(fleet.allConnected(), "\(fleet.snapshot(logLines: 4))")
        let keys = try etcd.keys(prefix: prefix)
        #expect(Set(keys) == (try fleet.expectedKeys(prefix: prefix)) && keys.count == 10, "etcd holds \(keys)")
        #expect(try etcd.keys(prefix: "/hostess/").isEmpty, "nothing under the default prefix")
    }

    @Test("a stopped Hostess disappears at once (its lease revoked); a killed one after its TTL (its key expired)")
    func stoppedAndKilled() throws {
        let etcd = try EtcdCluster()
        let fleet = Fleet(etcd)
        for _ in 0..<3 { try fleet.start() }
        try #require(within(5) { try fleet.allSeeExactlyTheOthers() } != nil, "\(fleet.snapshot())")
        let stopped = try fleet.hostess(1)
        let killed = try fleet.hostess(2)
        let stoppedLease = try fleet.directory(1).integer("lease") ?? 0
        let ttl = Double(try fleet.directory(2).integer("ttl") ?? 0)
        let killedLease = try fleet.directory(2).integer("lease") ?? 0
        #expect(ttl == 2, "interval 0.5 × hold 4 rounds up to a 2 s lease")

        // SIGTERM: the lease is revoked, the key goes, the others drop it at once.
        #expect(try fleet.stop(1) == 0, "hostessd exits 0 on SIGTERM:\n\(stopped.daemon.log)")
        let gone = within(2) { try fleet.peers(0)[stopped.id] == nil && fleet.peers(2)[stopped.id] == nil }
        #expect(gone != nil, "a stopped Hostess is gone from the others within 2 s:\n\(fleet.snapshot())\nits log:\n\(stopped.daemon.log)")
        print("fleet: a stopped Hostess was gone from the others \(seconds(gone)) after its exit")
        #expect(!(try etcd.keys(prefix: "/hostess/")).contains("/hostess/peers/" + stopped.id), "its key is gone from etcd")
        let leases = try etcd.leases()
        #expect(stoppedLease != 0 && !leases.contains(stoppedLease), "its lease \(stoppedLease) is revoked; etcd holds \(leases)")

        // SIGKILL: no revoke; the key goes when etcd expires the lease, the peer with it.
        let killedAt = Date()
        try fleet.stop(2, signal: SIGKILL)
        var staleAfter: Double?
        let removed = within(ttl + 3) {
            let peer = try fleet.peers(0)[killed.id]
            if peer?["state"] == "stale", staleAfter == nil { staleAfter = Date().timeIntervalSince(killedAt) }
            return peer == nil
        }
        let removedAfter = Date().timeIntervalSince(killedAt)
        #expect(removed != nil, "a killed Hostess is gone within its TTL (\(ttl) s) + 3 s:\n\(fleet.snapshot())\netcd leases: \((try? etcd.leases()) ?? [])")
        print("fleet: a killed Hostess went stale \(seconds(staleAfter)) and was gone \(seconds(removed == nil ? nil : removedAfter)) after kill -9 (ttl \(ttl) s)")
        let keyGone = within(1) { !(try etcd.keys(prefix: "/hostess/")).contains("/hostess/peers/" + killed.id) }
        #expect(keyGone != nil, "its key expired from etcd: \((try? etcd.keys(prefix: "/hostess/")) ?? [])")
        let leasesAfter = try etcd.leases()
        #expect(killedLease != 0 && !leasesAfter.contains(killedLease), "its lease \(killedLease) expired; etcd holds \(leasesAfter)")
        #expect(try fleet.seesExactlyTheOthers(0), "\(fleet.snapshot(0))")
        #expect(Set(try etcd.keys(prefix: "/hostess/")) == [ "/hostess/peers/" + (try fleet.hostess(0).id)])
    }

    @Test("etcd stopped for 30 s: local requests stay fast, peers stay live; after its restart all reconnect, no duplicate or stale peer")
    func etcdOutage() throws {
        let etcd = try EtcdCluster()
        // Interval 1 s × hold 60: the peers' ttl (and the leases') outlasts the outage.
        let fleet = Fleet(etcd, interval: "1", hold: "60")
        for _ in 0..<3 { try fleet.start() }
        try #require(within(6) { try fleet.allSeeExactlyTheOthers() } != nil, "\(fleet.snapshot())")
        try #require(within(3) { fleet.allConnected() } != nil, "\(fleet.snapshot())")
        for index in fleet.running { #expect(try fleet.directory(index).integer("ttl") == 60, "\(fleet.snapshot(index))") }
        let logOffsets = try fleet.running.map { try Array(fleet.log($0).utf8).count }
        let failedBefore = fleet.running.map { fleet.metric($0, "hostess_directory_requests_total{result=\"failed\"}") ?? 0 }

        let outageStart = Date()
        etcd.stop(0)
        let unreachable = within(10) { fleet.running.allSatisfy { fleet.directoryState($0) == "unreachable" } }
        #expect(unreachable != nil, "every Hostess reports unreachable within 10 s of etcd's stop:\n\(fleet.snapshot())")
        print("fleet: all Hostesses reported the directory unreachable \(seconds(unreachable)) after etcd stopped")
        for index in fleet.running {
            let directory = try fleet.directory(index)
            #expect((directory["error"]?.stringValue ?? "").isEmpty == false, "an unreachable directory says why: \(JSONValue.object(directory).jsonText)")
            #expect(directory["endpoint"]?.stringValue == etcd.members[0].endpoint, "\(JSONValue.object(directory).jsonText)")
            let health = try fleet.healthDirectory(index)
            #expect(health["state"] == "unreachable", "GET /health: \(JSONValue.object(health).jsonText)")
            #expect(fleet.metric(index, "hostess_directory_state{state=\"unreachable\"}") == 1, "\(fleet.metricsText(index))")
            #expect(fleet.metric(index, "hostess_directory_state{state=\"connected\"}") == 0, "\(fleet.metricsText(index))")
        }

        // Until 30 s after the stop: rounds of socket and HTTP requests on every Hostess, each answered fast.
        var count = 0
        var slowest = 0.0
        var problems: [String] = []
        func timed(_ what: String, _ index: Int, _ body: () throws -> String?) {
            let started = Date()
            let problem: String?
            do { problem = try body() } catch { problem = "\(error)" }
            let elapsed = Date().timeIntervalSince(started)
            count += 1
            slowest = max(slowest, elapsed)
            if let problem { problems.append("Hostess \(index) \(what): \(problem)") }
            if elapsed >= 0.5 { problems.append("Hostess \(index) \(what) took \(seconds(elapsed))") }
        }
        while Date().timeIntervalSince(outageStart) < 29 {
            let round = Date()
            for index in fleet.running {
                let daemon = try fleet.hostess(index).daemon
                timed("register", index) {
                    let reply = try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())], timeout: 2)
                    return reply.result == nil ? "\(reply)" : nil
                }
                timed("query", index) {
                    let reply = try daemon.client().request("query", ["filter": ["class": "0x0001"]], timeout: 2)
                    return reply.result == nil ? "\(reply)" : nil
                }
                timed("listPeers", index) { try fleet.seesExactlyTheOthers(index) ? nil : "does not list the others, live: \(try fleet.peerList(index))" }
                timed("GET /servers", index) {
                    let reply = try fleet.http(index, "GET", "/servers", timeout: 2).reply
                    return reply.status == 200 ? nil : "\(reply)"
                }
                timed("GET /health", index) {
                    let reply = try fleet.http(index, "GET", "/health", timeout: 2).reply
                    return reply.status == 200 ? nil : "\(reply)"
                }
            }
            let spent = Date().timeIntervalSince(round)
            if spent < 1 { usleep(UInt32((1 - spent) * 1_000_000)) }
        }
        #expect(problems.isEmpty, "during the outage \(problems.count) of \(count) local requests failed or were slow:\n\(problems.prefix(20).joined(separator: "\n"))\n\(fleet.snapshot())")
        #expect(count >= 36, "a few dozen requests were made: \(count)")
        print("fleet: during the etcd outage \(count) local requests (socket and HTTP), the slowest \(String(format: "%.1f", slowest * 1000)) ms")
        for index in fleet.running { #expect(fleet.directoryState(index) == "unreachable", "\(fleet.snapshot(index))") }
        usleep(UInt32(max(0, 30 - Date().timeIntervalSince(outageStart)) * 1_000_000))
        let outageLogs = try fleet.running.map { try fleet.log($0, from: logOffsets[$0]) }
        print("fleet: Hostess 0's directory lines during the outage: \(Fleet.directoryLines(outageLogs[0]))")

        // etcd back: every Hostess reconnects (backoff capped at 5 s) and lists exactly the others again.
        let restartedAt = Date()
        try etcd.start(0)
        let back = within(10) { fleet.allConnected() }
        #expect(back != nil, "every Hostess is connected again within 10 s of etcd's restart:\n\(fleet.snapshot())")
        print("fleet: after a \(seconds(restartedAt.timeIntervalSince(outageStart))) outage all Hostesses were connected \(seconds(back)) after etcd was healthy again")
        let settled = within(5) { try fleet.allSeeExactlyTheOthers() }
        #expect(settled != nil, "after the restart every Hostess lists exactly the others, once each, live:\n\(fleet.snapshot())")
        for index in fleet.running {
            let list = try fleet.peerList(index)
            let ids = list.compactMap { $0["hostessId"]?.stringValue }
            #expect(ids.count == Set(ids).count, "no duplicate hostessId: \(ids)")
            #expect(!list.contains { $0["state"] == "stale" }, "no stale peer: \(list)")
        }
        let keys = within(3) { Set(try etcd.keys(prefix: "/hostess/")) == (try fleet.expectedKeys()) }
        #expect(keys != nil, "etcd holds one key per Hostess: \((try? etcd.keys(prefix: "/hostess/")) ?? [])")

        // The log: one line per change of state, not one per failed retry.
        for index in fleet.running {
            let lines = Fleet.directoryLines(outageLogs[index])
            let unreachableLines = lines.filter { $0.contains("unreachable") }
            #expect(unreachableLines.count == 1, "Hostess \(index) logs one 'unreachable' line for the outage, not one per retry: \(lines)")
            #expect(lines.count <= 3, "Hostess \(index) logs the changes of state during the outage only: \(lines)")
            let after = Fleet.directoryLines(try fleet.log(index, from: logOffsets[index] + Array(outageLogs[index].utf8).count))
            #expect(after.contains { $0.hasPrefix("directory: connected") }, "Hostess \(index) logs its reconnection: \(after)")
            #expect((fleet.metric(index, "hostess_directory_reconnects_total") ?? 0) >= 1, "\(fleet.metricsText(index))")
            #expect((fleet.metric(index, "hostess_directory_requests_total{result=\"failed\"}") ?? 0) > failedBefore[index], "failed requests are counted: \(fleet.metricsText(index))")
            #expect(fleet.metric(index, "hostess_directory_state{state=\"connected\"}") == 1, "\(fleet.metricsText(index))")
        }
    }

    @Test("a three-member etcd cluster with the member in use killed: the Hostesses move to another and keep working")
    func threeMemberCluster() throws {
        let etcd = try EtcdCluster(members: 3)
        let fleet = Fleet(etcd)
        for _ in 0..<3 { try fleet.start() }
        try #require(within(6) { try fleet.allSeeExactlyTheOthers() } != nil, "\(fleet.snapshot())")
        try #require(within(3) { fleet.allConnected() } != nil, "\(fleet.snapshot())")
        let used = try fleet.running.map { index -> Int in
            let endpoint = try fleet.directory(index)["endpoint"]?.stringValue ?? ""
            guard let member = etcd.member(at: endpoint) else { throw TestFailure("Hostess \(index) uses \(endpoint), not a member: \(fleet.snapshot(index))") }
            return member
        }
        let victim = used[0]
        let victimEndpoint = etcd.members[victim].endpoint
        let users = fleet.running.filter { used[$0] == victim }
        print("fleet: the Hostesses use etcd members \(used.map { etcd.members[$0].name }); killing \(etcd.members[victim].name)")

        let killedAt = Date()
        etcd.kill(victim)
        let moved = within(12) {
            fleet.running.allSatisfy { index in
                guard let directory = try? fleet.directory(index) else { return false }
                return directory["state"] == "connected" && directory["endpoint"]?.stringValue != victimEndpoint
            }
        }
        #expect(moved != nil, "every Hostess is connected to another member within 12 s of the kill:\n\(fleet.snapshot())")
        print("fleet: \(users.count) Hostesses on the killed member were connected to another \(seconds(moved)) after the kill")
        for index in users {
            #expect((fleet.metric(index, "hostess_directory_reconnects_total") ?? 0) >= 1, "\(fleet.metricsText(index))")
            #expect(Fleet.directoryLines(try fleet.log(index)).filter { $0.hasPrefix("directory: connected") }.count >= 2, "\(fleet.snapshot(index))")
        }
        print("fleet: Hostess 0's directory lines after the kill: \(Fleet.directoryLines(try fleet.log(0)))")
        #expect(within(3) { try fleet.allSeeExactlyTheOthers() } != nil, "the peers are kept across the move:\n\(fleet.snapshot())")

        // A Hostess started now (its list begins with the dead member) is seen by all, and sees all.
        let late = try fleet.start()
        let lateSeen = within(8) { try fleet.allSeeExactlyTheOthers() }
        #expect(lateSeen != nil, "a Hostess started after the kill is seen by all:\n\(fleet.snapshot())")
        print("fleet: a Hostess started after the kill was seen by all \(seconds(lateSeen)) after it started (\(seconds(Date().timeIntervalSince(killedAt))) after the kill)")
        let lateDirectory = try fleet.directory(late)
        #expect(lateDirectory["state"] == "connected" && lateDirectory["endpoint"]?.stringValue != victimEndpoint, "\(fleet.snapshot(late))")

        // A stopped one disappears from all.
        let stopped = try fleet.hostess(1)
        #expect(try fleet.stop(1) == 0)
        let gone = within(2) { try fleet.running.allSatisfy { try fleet.peers($0)[stopped.id] == nil } }
        #expect(gone != nil, "a stopped Hostess is gone from the others within 2 s:\n\(fleet.snapshot())\nits log:\n\(stopped.daemon.log)")
        let keys = within(2) { Set(try etcd.keys(prefix: "/hostess/")) == (try fleet.expectedKeys()) }
        #expect(keys != nil, "etcd holds the running Hostesses' keys: \((try? etcd.keys(prefix: "/hostess/")) ?? [])")
        #expect(within(3) { try fleet.allSeeExactlyTheOthers() } != nil, "\(fleet.snapshot())")
    }
}
