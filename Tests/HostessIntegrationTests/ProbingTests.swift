import Foundation
import Glibc
import HostessModel
import HostessProbing
import Testing

// MARK: - A beacon and a probe, run by hand

/// `hostess-beacon` started directly with its environment, its standard input held open (its end stops the
/// beacon), its output lines collected.
final class BeaconProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let lock = NSLock()
    private var buffer = Data()

    init(_ configuration: BeaconConfiguration) throws {
        process.executableURL = URL(fileURLWithPath: Binaries.path("hostess-beacon"))
        process.environment = configuration.environment
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            lock.withLock { buffer.append(data) }
        }
        try process.run()
    }

    /// The JSON lines printed so far.
    var lines: [JSONObject] {
        let text = lock.withLock { String(decoding: buffer, as: UTF8.self) }
        return text.split(separator: "\n").compactMap { (try? JSONParser.parse(Array($0.utf8)))?.objectValue }
    }

    /// Waits until a line of `type` was printed; returns it.
    func waitFor(_ type: String, seconds: Double = 10) throws -> JSONObject {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = lines.first(where: { $0["type"]?.stringValue == type }) { return line }
            usleep(20_000)
        }
        throw TestFailure("hostess-beacon printed no \(type) within \(seconds) s: \(lines)")
    }

    deinit {
        try? input.fileHandleForWriting.close()
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Runs `hostess-probe` with `instructions`; its exit status and PROBE_SUMMARY.
func runProbe(_ instructions: ProbeInstructions, passphrase: String? = nil) throws -> (status: Int32, summary: JSONObject) {
    var environment = instructions.environment
    if let passphrase { environment["PASSPHRASE"] = passphrase }
    let outcome = try CLI.run(Binaries.path("hostess-probe"), [], environment: environment, timeout: 60)
    guard let line = outcome.stdout.split(separator: "\n").last, let summary = (try? JSONParser.parse(Array(line.utf8)))?.objectValue else {
        throw TestFailure("hostess-probe printed no summary: \(outcome)")
    }
    return (outcome.status, summary)
}

/// A listener that is not a beacon (Support/probe_impostor.py), on `port` of 127.0.0.1 for `seconds`.
final class Impostor: @unchecked Sendable {
    let process = Process()
    init(port: UInt16, mode: String, seconds: Double = 30) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Support/probe_impostor.py").path
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, "127.0.0.1", String(port), mode, String(seconds)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // "ready" once it listens.
        let ready = output.fileHandleForReading.availableData
        guard String(decoding: ready, as: UTF8.self).hasPrefix("ready") else { throw TestFailure("the impostor on \(port) did not start") }
    }
    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

/// Fresh secrets and instructions for `ports` of 127.0.0.1.
func probeSetup(_ ports: PortRange, address: String = "127.0.0.1") -> (BeaconConfiguration, ProbeInstructions) {
    let passphrase = ProbeSecrets.random(bytes: 24)
    let hash = ProbeSecrets.random(bytes: 32)
    let beacon = BeaconConfiguration(addresses: [address], ports: ports, probeHash: hash, passphrase: passphrase)
    let probe = ProbeInstructions(
        targets: [address], ports: ports, probeHash: hash, expectedResponseHash: ProbeSecrets.responseHash(probeHash: hash, passphrase: passphrase),
        passphrase: passphrase)
    return (beacon, probe)
}

// MARK: - Beacon and probe

@Suite("The probe and the beacon, over loopback", .serialized)
struct ProbeBeaconTests {
    @Test("with the passphrase: every free port works, with latency; the beacon reports what the probe found and terminates it")
    func works() throws {
        let (configuration, instructions) = probeSetup(PortRange(lowerBound: 31200, upperBound: 31299))
        let beacon = try BeaconProcess(configuration)
        let ready = try beacon.waitFor("BEACON_READY")
        #expect(ready["bound"] == 100 && ready["windows"] == 1, "\(ready)")
        let (status, summary) = try runProbe(instructions)
        #expect(status == 0 && summary["terminated"] == true, "\(summary)")
        #expect(summary["testedMatrix"]?.objectValue?["successfulTests"] == 100, "\(summary)")
        let results = try beacon.waitFor("BEACON_RESULTS")
        guard case .array(let found)? = results["results"] else { throw TestFailure("\(results)") }
        #expect(found.count == 100)
        #expect(found.allSatisfy { ($0.objectValue?["latency"]).map { if case .double(let ms) = $0 { ms >= 0 } else { $0 == .int(0) } } ?? false })
        _ = try beacon.waitFor("BEACON_DONE")
    }

    @Test("a window covers at most half of the kernel's ephemeral range, so that clients keep ports to connect from")
    func ephemeralHalf() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        try #require(bounds.count == 2)
        let half = (bounds[1] - bounds[0] + 1) / 2
        let ports = PortRange(lowerBound: UInt16(bounds[0]), upperBound: UInt16(min(65535, bounds[0] + half)))
        let (configuration, _) = probeSetup(ports)
        let beacon = try BeaconProcess(configuration)
        let ready = try beacon.waitFor("BEACON_READY")
        #expect((ready["windows"]?.intValue ?? 0) >= 2, "\(half + 1) ports overlapping the ephemeral range: \(ready)")
        #expect(Int(ready["bound"]?.intValue ?? .max) + Int(ready["skipped"]?.intValue ?? 0) <= half, "\(ready)")
    }

    @Test("a wrong passphrase: every pair is auth_failed and the probe exits 1")
    func wrongPassphrase() throws {
        let (configuration, instructions) = probeSetup(PortRange(lowerBound: 31300, upperBound: 31319))
        let beacon = try BeaconProcess(configuration)
        _ = try beacon.waitFor("BEACON_READY")
        var wrong = instructions
        wrong.expectedResponseHash = ProbeSecrets.responseHash(probeHash: instructions.probeHash, passphrase: "another-passphrase-entirely")
        let (status, summary) = try runProbe(wrong)
        #expect(status == 1 && summary["terminated"] == false, "\(summary)")
        #expect(summary["failures"]?.objectValue?["auth_failed"] == 20 && summary["results"] == [], "\(summary)")
        #expect(!beacon.lines.contains { $0["type"] == "BEACON_RESULTS" }, "nothing was reported to the beacon")
    }

    @Test("impostors on ports of the range (garbage, a wrong hash, a spoofed TERMINATE, silence) are auth_failed there; the rest work and the probe ends normally")
    func impostors() throws {
        let ports = PortRange(lowerBound: 31400, upperBound: 31449)
        let impostors = try [(31410, "garbage"), (31420, "wronghash"), (31430, "terminate"), (31440, "silent")].map { try Impostor(port: UInt16($0.0), mode: $0.1) }
        let (configuration, instructions) = probeSetup(ports)
        let beacon = try BeaconProcess(configuration)
        let ready = try beacon.waitFor("BEACON_READY")
        #expect(ready["bound"] == 46 && ready["skipped"] == 4, "the beacon skips the ports in use: \(ready)")
        let (status, summary) = try runProbe(instructions)
        #expect(status == 0 && summary["terminated"] == true, "\(summary)")
        #expect(summary["testedMatrix"]?.objectValue?["successfulTests"] == 46, "\(summary)")
        #expect(summary["authFailed"] == ["127.0.0.1:31410", "127.0.0.1:31420", "127.0.0.1:31430", "127.0.0.1:31440"] || {
            guard case .array(let named)? = summary["authFailed"] else { return false }
            return Set(named.compactMap(\.stringValue)) == ["127.0.0.1:31410", "127.0.0.1:31420", "127.0.0.1:31430", "127.0.0.1:31440"]
        }(), "\(summary)")
        _ = impostors
    }

    @Test(
        "the beacon refuses what is not the probe: a report before the hash, another hash, a report with a forged MAC, one replayed from another connection, a forged PROBE_COMPLETE"
    )
    func beaconRefusals() throws {
        let ports = PortRange(lowerBound: 31500, upperBound: 31509)
        let (configuration, instructions) = probeSetup(ports)
        let beacon = try BeaconProcess(configuration)
        _ = try beacon.waitFor("BEACON_READY")
        let report = ProbeReport(results: [ProbeReport.Success(ip: "127.0.0.1", port: 31500, latency: 1)], ips: ["127.0.0.1"], ports: ports, totalTests: 10)
        let forged = String(decoding: ProbeMessage.report(report, passphrase: "not-the-passphrase-at-all", nonce: "00"), as: UTF8.self)
        let script = """
            import socket, json, sys
            def drain(s):
                data = b""
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk: break
                        data += chunk
                except Exception: pass
                return data.decode()
            def talk(lines):
                s = socket.create_connection(("127.0.0.1", 31500), timeout=5)
                for line in lines: s.sendall(line.encode())
                return drain(s)
            print(repr(talk([\(String(reflecting: forged))])))
            print(repr(talk([json.dumps({"type": "PROBE", "hash": "ab" * 32}) + "\\n"])))
            answer = talk([json.dumps({"type": "PROBE", "hash": "\(instructions.probeHash)"}) + "\\n", \(String(reflecting: forged))])
            print(repr(answer))
            # A true report of another connection (its nonce), then a true report with a forged PROBE_COMPLETE.
            import hashlib, hmac
            def report(nonce):
                body = b'{"type":"PROBE_RESULTS","results":[],"testedMatrix":{"ips":["127.0.0.1"],"portRange":[31500,31500],"totalTests":1,"successfulTests":0}'
                mac = hmac.new(b"\(configuration.passphrase)", nonce.encode() + b"\\n" + body, hashlib.sha256).hexdigest()
                return (body + b',"mac":"' + mac.encode() + b'"}\\n').decode()
            hello = json.dumps({"type": "PROBE", "hash": "\(instructions.probeHash)"}) + "\\n"
            def greeted():
                s = socket.create_connection(("127.0.0.1", 31500), timeout=5)
                s.sendall(hello.encode())
                line = b""
                while not line.endswith(b"\\n"):
                    byte = s.recv(1)
                    if not byte: raise SystemExit("the beacon closed before its BEACON line")
                    line += byte
                return s, json.loads(line)["nonce"]
            s, first = greeted()
            s.close()
            print(repr(talk([hello, report(first)])))
            s, nonce = greeted()
            s.sendall((report(nonce) + json.dumps({"type": "PROBE_COMPLETE", "mac": "cd" * 32}) + "\\n").encode())
            print(repr(drain(s)))
            """
        let outcome = try CLI.run("/usr/bin/python3", ["-c", script], timeout: 20)
        let answers = outcome.stdout.split(separator: "\n")
        #expect(answers.count == 5, "\(outcome)")
        #expect(answers.first == "''" && answers.dropFirst().first == "''", "closed without an answer: \(outcome)")
        #expect(answers.dropFirst(2).first?.contains("BEACON") == true && answers.dropFirst(2).first?.contains("TERMINATE") == false, "answered the hash, refused the forged report: \(outcome)")
        #expect(answers.dropFirst(3).first?.contains("BEACON") == true && answers.dropFirst(3).first?.contains("TERMINATE") == false, "refused the replayed report: \(outcome)")
        #expect(answers.last == "''", "refused the forged PROBE_COMPLETE: \(outcome)")
        #expect(!beacon.lines.contains { $0["type"]?.stringValue == "BEACON_RESULTS" }, "no forged report is taken: \(beacon.lines)")
        // The real probe still works, and its report is the one taken; the beacon counted the refusals.
        let (status, summary) = try runProbe(instructions)
        #expect(status == 0)
        let taken = try beacon.waitFor("BEACON_RESULTS")
        func workingPorts(_ report: JSONObject) -> [Int64] {
            guard case .array(let results)? = report["results"] else { return [] }
            return results.compactMap { $0.objectValue?["port"]?.intValue }.sorted()
        }
        #expect(workingPorts(taken) == workingPorts(summary) && workingPorts(summary).count == 10, "\(taken)")
        let done = try beacon.waitFor("BEACON_DONE")
        #expect((done["refused"]?.intValue ?? 0) >= 5, "\(done)")
    }
}

extension JSONValue {
    /// The integer, if this is one.
    var intValue: Int64? {
        guard case .int(let value) = self else { return nil }
        return value
    }
}

// MARK: - The Executor in hostessd

@Suite("hostess probe: the Executor in hostessd", .serialized)
struct ExecutorTests {
    @Test("a run over loopback caches the working paths as connection methods and lists them; loopback ones are not announced")
    func probeAndCache() throws {
        let daemon = try DaemonProcess(["--http", "127.0.0.1:0", "--peer", "http://127.0.0.1:9/", "--announce-interval", "0.3"])
        let http = try StaticPeerTests.httpAddress(of: daemon)
        let port = String(http.split(separator: ":").last ?? "")
        let reply = try daemon.client().request("probe", ["targets": ["127.0.0.1"], "ports": "31600-31799"], timeout: 60)
        let report = try #require(reply.result, "\(reply)")
        #expect(report["testedMatrix"]?.objectValue?["totalTests"] == 200 && report["testedMatrix"]?.objectValue?["successfulTests"] == 200, "\(report)")
        #expect(report["killed"] == .null && report["windows"]?.items?.count == 1, "\(report)")
        let method = try #require(report["connectionMethods"]?.items?.first?.objectValue, "\(report)")
        #expect(method["type"] == "http" && method["endpoint"] == .string("http://127.0.0.1:\(port)"), "\(method)")

        let listed = try daemon.client().request("listConnectionMethods")
        let own = listed.result?["hosts"]?.items?.first?.objectValue
        #expect(own?["local"] == true && own?["methods"]?.items?.first?.objectValue?["fresh"] == true, "\(listed)")
        let viaHTTP = try CLI.run("/usr/bin/curl", ["-sS", "--noproxy", "*", "--max-time", "5", "http://\(http)/connection-methods"])
        #expect(viaHTTP.stdout.contains("http://127.0.0.1:\(port)") && viaHTTP.stdout.contains("\"fresh\":true"), "\(viaHTTP)")
        // A loopback method means the peer itself to a peer: it is listed here, never announced (the
        // namespace tests see non-loopback methods announced).
        let served = try CLI.run("/usr/bin/curl", ["-sS", "--noproxy", "*", "--max-time", "5", "http://\(http)/announcement"])
        #expect(served.stdout.contains("\"connectionMethods\":[]"), "\(served)")
        let cli = try CLI.hostess(["connection-methods"], socket: daemon.socketPath)
        #expect(cli.status == 0 && cli.stdout.contains("(this Hostess)") && cli.stdout.contains("fresh"), "\(cli)")
        let table = try CLI.hostess(["probe", "--targets", "127.0.0.1", "--ports", "31800-31809"], socket: daemon.socketPath)
        #expect(table.status == 0 && table.stdout.contains("10 of 10 tests worked"), "\(table)")
    }

    @Test("the Executor, the beacon and the probe are in the guest book while a run lasts; a run that overruns its deadline is killed, reported as killed, and leaves no process behind")
    func killedAtDeadline() throws {
        let silent = try Impostor(port: 31900, mode: "silent")
        let daemon = try DaemonProcess(["--probe-timeout", "2"])
        // While a run lasts (the silent listener holds it up), the Executor, the beacon and the probe are in the guest book.
        let running = Process()
        running.executableURL = URL(fileURLWithPath: Binaries.path("hostess"))
        running.arguments = ["--socket", daemon.socketPath, "probe", "--targets", "127.0.0.1", "--ports", "31900-31902"]
        running.standardOutput = FileHandle.nullDevice
        try running.run()
        var names = Set<String>()
        let seenAll = Date().addingTimeInterval(5)
        while Date() < seenAll && names.count < 3 {
            let entries = try daemon.client().request("query", ["filter": ["class": "0x00fe"]]).result?["entries"]?.items ?? []
            names.formUnion(entries.compactMap { $0.objectValue?["servername"]?.stringValue })
            usleep(20_000)
        }
        running.waitUntilExit()
        #expect(names == ["hostess-executor", "hostess-beacon", "hostess-probe"], "\(names)")
        let reply = try daemon.client().request("probe", ["targets": ["127.0.0.1"], "ports": "31900-31900"], timeout: 30)
        let report = try #require(reply.result, "\(reply)")
        #expect(report["killed"]?.stringValue?.contains("did not finish within 2.0 s") == true, "\(report)")
        #expect(report["windows"]?.items?.first?.objectValue?["probe"] == "killed", "\(report)")
        let left = try CLI.run("/usr/bin/pgrep", ["-P", String(daemon.process.processIdentifier)])
        #expect(left.stdout.isEmpty, "hostessd's children still running: \(left.stdout)")
        #expect(try daemon.client().request("status").result != nil, "hostessd answers after the kill")
        _ = silent
    }

    @Test("with few descriptors the beacon covers the range in windows, one probe each, and every port is tested")
    func windows() throws {
        let daemon = try DaemonProcess()
        // The beacon inherits hostessd's limit: 1400 descriptors leave 200 ports per window.
        let limited = try CLI.run("/usr/bin/prlimit", ["--pid", String(daemon.process.processIdentifier), "--nofile=1400:1400"])
        #expect(limited.status == 0, "\(limited)")
        let reply = try daemon.client().request("probe", ["targets": ["127.0.0.1"], "ports": "22000-22999"], timeout: 120)
        let report = try #require(reply.result, "\(reply)")
        #expect(report["windows"]?.items?.count == 5, "\(report["windows"] ?? .null)")
        #expect(report["testedMatrix"]?.objectValue?["successfulTests"] == 1000 && report["testedMatrix"]?.objectValue?["totalTests"] == 1000, "\(report["testedMatrix"] ?? .null)")
        #expect(report["descriptorLimit"] == 1400)
    }

    @Test("the cache expires: after --probe-cache-ttl a method is listed stale and no longer announced")
    func cacheExpires() throws {
        let daemon = try DaemonProcess(["--http", "127.0.0.1:0", "--peer", "http://127.0.0.1:9/", "--announce-interval", "0.3", "--probe-cache-ttl", "1"])
        let http = try StaticPeerTests.httpAddress(of: daemon)
        _ = try daemon.client().request("probe", ["targets": ["127.0.0.1", "127.0.0.2"], "ports": "23100-23104"], timeout: 60)
        let fresh = try daemon.client().request("listConnectionMethods")
        #expect(fresh.result?["hosts"]?.items?.first?.objectValue?["methods"]?.items?.first?.objectValue?["fresh"] == true, "\(fresh)")
        usleep(1_500_000)
        let listed = try daemon.client().request("listConnectionMethods")
        let methods = listed.result?["hosts"]?.items?.first?.objectValue?["methods"]?.items ?? []
        #expect(methods.count == 2 && methods.allSatisfy { $0.objectValue?["fresh"] == false }, "\(listed)")
        let served = try CLI.run("/usr/bin/curl", ["-sS", "--noproxy", "*", "--max-time", "5", "http://\(http)/announcement"])
        #expect(served.stdout.contains("\"connectionMethods\":[]"), "\(served)")
    }

    @Test("only root and hostessd's user may run a probe")
    func onlyRoot() throws {
        let scratch = try ScratchDirectory()
        let daemon = try DaemonProcess(scratch: scratch)
        let outcome = try CLI.hostess(["probe", "--ports", "33000-33001"], socket: daemon.socketPath, asNobody: true, scratch: scratch)
        #expect(outcome.status != 0 && outcome.stderr.contains("may not run a probe"), "\(outcome)")
    }
}

// MARK: - Phase 3: a peer probes this machine

@Suite("hostess probe --from PEER: phase 3 between namespaces", .serialized, .enabled(if: NamespaceLab.available.0, Comment(rawValue: NamespaceLab.available.1)))
struct RemoteProbeTests {
    /// Runs `nft` with `arguments` in `machine`'s namespace.
    static func nft(_ mesh: Mesh, _ machine: Int, _ arguments: [String]) throws {
        let nft = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") ? "/usr/sbin/nft" : "/sbin/nft"
        let outcome = try mesh.lab.run(machine, nft, arguments)
        guard outcome.status == 0 else { throw TestFailure("nft \(arguments): \(outcome)") }
    }

    @Test("B's probe tests A's beacon at A's address facing B; with nftables dropping half the range on A, those ports show unreachable")
    func fromPeer() throws {
        let keyed = try KeyedMesh(interval: "30")
        let mesh = keyed.mesh
        #expect(try mesh.within(6) { try mesh.peers(of: 0).count == 2 } != nil, "\(mesh.snapshot(0))")
        let a = try mesh.daemon(0).client()
        let reply = try a.request("probe", ["from": .string(keyed.ids[1]), "ports": "30000-30099"], timeout: 60)
        let report = try #require(reply.result, "\(reply)")
        #expect(report["testedMatrix"]?.objectValue?["ips"] == [.string(mesh.lab.address(of: 0))], "the address of A that faces B: \(report)")
        #expect(report["testedMatrix"]?.objectValue?["successfulTests"] == 100, "\(report)")
        #expect(report["windows"]?.items?.first?.objectValue?["probe"] == "exit 0 (on the peer)", "\(report)")
        #expect(report["connectionMethods"]?.items?.first?.objectValue?["endpoint"] == .string("http://\(mesh.lab.address(of: 0)):8080"), "\(report)")

        // A firewall on A drops half of the range: B's probe finds only the other half.
        try Self.nft(mesh, 0, ["add", "table", "inet", "hostess_probe_test"])
        try Self.nft(mesh, 0, ["add", "chain", "inet", "hostess_probe_test", "input", "{ type filter hook input priority 0 ; }"])
        try Self.nft(mesh, 0, ["add", "rule", "inet", "hostess_probe_test", "input", "tcp", "dport", "30050-30099", "drop"])
        let firewalled = try #require(try a.request("probe", ["from": .string(keyed.ids[1]), "ports": "30000-30099"], timeout: 60).result)
        #expect(firewalled["testedMatrix"]?.objectValue?["successfulTests"] == 50, "\(firewalled)")
        #expect(firewalled["failures"]?.objectValue?["timeout"] == 50, "\(firewalled)")
        let ports = Set((firewalled["results"]?.items ?? []).compactMap { $0.objectValue?["port"]?.intValue })
        #expect(ports == Set(30000...30049), "the reachable half: \(ports.sorted())")
    }

    @Test("a peer runs a probe only for a signed request, and only toward the address the request came from")
    func peerRefuses() throws {
        let keyed = try KeyedMesh(interval: "30")
        let mesh = keyed.mesh
        let b = "\(mesh.lab.address(of: 1)):8080"
        let instructions = probeSetup(PortRange(lowerBound: 30000, upperBound: 30001), address: mesh.lab.address(of: 2)).1
        let body = String(decoding: JSONValue.object(instructions.json).jsonBytes, as: UTF8.self)
        let script = """
            import hashlib, hmac, http.client, os, sys, time
            body = sys.argv[1].encode()
            def ask(signed):
                headers = {"Content-Type": "application/json"}
                if signed:
                    ts, nonce = str(int(time.time())), os.urandom(16).hex()
                    text = "\\n".join(["POST", "/probe", ts, nonce, hashlib.sha256(body).hexdigest()])
                    sig = hmac.new(b"\(KeyedMesh.secret)", text.encode(), hashlib.sha256).hexdigest()
                    headers["Authorization"] = f"Hostess-HMAC-SHA256 keyId=hostess-a, ts={ts}, nonce={nonce}, sig={sig}"
                c = http.client.HTTPConnection("\(mesh.lab.address(of: 1))", 8080, timeout=10)
                c.request("POST", "/probe", body, headers)
                r = c.getresponse()
                print(r.status, r.read().decode())
            ask(False)
            ask(True)
            """
        let outcome = try mesh.lab.run(0, "/usr/bin/python3", ["-c", script, body], timeout: 30)
        let lines = outcome.stdout.split(separator: "\n")
        #expect(lines.first?.hasPrefix("401") == true, "unsigned: \(outcome)")
        #expect(lines.last?.hasPrefix("403") == true && lines.last?.contains("the address the request came from") == true, "another target: \(outcome) (\(b))")
    }
}

// MARK: - Optimized connection establishment

@Suite("Reaching a peer by its tested paths, in namespaces", .serialized, .enabled(if: NamespaceLab.available.0, Comment(rawValue: NamespaceLab.available.1)))
struct PeerPathTests {
    @Test("A tries B's announced methods by latency, falls back when the first is refused, and measures B again when all are")
    func fallback() throws {
        let mesh = try Mesh(count: 2, deferred: [0, 1])
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        let second = "10.213.\(mesh.lab.subnet).102"
        let added = try CLI.run(ip, ["-n", mesh.lab.name(of: 1), "addr", "add", second + "/24", "dev", "eth0"])
        #expect(added.status == 0, "\(added)")
        let first = mesh.lab.address(of: 1)
        mesh.set(1, try DaemonProcess(["--http", "0.0.0.0:8080", "--announce", "--announce-interval", "0.5"], namespace: mesh.lab.name(of: 1)))
        mesh.set(0, try mesh.start(0, extra: ["--remote-timeout", "2"]))
        _ = try registerRenderer(on: try mesh.daemon(1))
        // B learns its two paths, and announces them.
        let probed = try mesh.daemon(1).client().request("probe", ["targets": [.string(first), .string(second)], "ports": "30000-30009"], timeout: 60)
        #expect(probed.result?["connectionMethods"]?.items?.count == 2, "\(probed)")
        var methods: [String] = []
        _ = try mesh.within(6) {
            let peer = try mesh.peers(of: 0).values.first
            let listed = (peer?["connectionMethods"]?.items ?? []).compactMap(\.objectValue)
            methods = listed.sorted { ($0["latency"]?.doubleValue ?? 0) < ($1["latency"]?.doubleValue ?? 0) }.compactMap { $0["endpoint"]?.stringValue }
            return methods.count == 2
        }
        #expect(methods.count == 2, "\(mesh.snapshot(0))")
        guard methods.count == 2 else { return }
        func host(_ endpoint: String) -> String { String(endpoint.dropFirst("http://".count).prefix { $0 != ":" }) }
        let nft = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") ? "/usr/sbin/nft" : "/sbin/nft"
        func reject(_ address: String) throws {
            let rule = try mesh.lab.run(1, nft, ["add", "rule", "inet", "hostess_path_test", "input", "ip", "daddr", address, "tcp", "dport", "8080", "reject", "with", "tcp", "reset"])
            #expect(rule.status == 0, "\(rule)")
        }
        _ = try mesh.lab.run(1, nft, ["add", "table", "inet", "hostess_path_test"])
        _ = try mesh.lab.run(1, nft, ["add", "chain", "inet", "hostess_path_test", "input", "{ type filter hook input priority 0 ; }"])

        // The first path refused: the query goes by the second.
        try reject(host(methods[0]))
        let client = try mesh.daemon(0).client()
        let across = try #require(try client.request("query", ["filter": ["scope": "remote"]]).result)
        #expect(across["unanswered"] == [] && across["entries"]?.items?.count == 1, "\(across)\n\((try? mesh.daemon(0).log) ?? "")")
        let log = try mesh.daemon(0).log
        #expect(log.contains("by \(methods[1]) (announced) after 1 failed"), "\(log)")
        #expect((try mesh.metric(0, "hostess_connect_path_total{path=\"announced\",result=\"failed\"}") ?? 0) >= 1)

        // Every path refused: B does not answer, and A measures B's paths again, once.
        try reject(host(methods[1]))
        for _ in 0..<2 {
            let lost = try #require(try client.request("query", ["filter": ["scope": "remote"]]).result)
            #expect(lost["unanswered"]?.items?.count == 1, "\(lost)")
        }
        #expect(try mesh.within(3) { try mesh.daemon(0).log.contains("measured") } != nil)
        let after = try mesh.daemon(0).log
        #expect(after.components(separatedBy: "measured ").count == 2, "measured once per ttl: \(after)")
    }
}

extension JSONValue {
    /// The number, if this is one.
    var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .int(let value): Double(value)
        default: nil
        }
    }
}
