import Glibc
import HostessLoop
import HostessModel
import HostessProbing
import HostessSystem

// MARK: - Executor

/// The Executor of the design's Executor/Probe/Beacon trio (docs/probing.md), inside hostessd: it makes a
/// run's secrets, spawns `hostess-beacon` on this machine's addresses, then one `hostess-probe` per window
/// the beacon covers (or asks a peer to run it, phase 3), waits for both on the loop (pipes and pidfds,
/// never blocking), kills what overruns its deadline, reaps everything, and merges what the beacon heard
/// into one report. One run at a time.
final class Executor {
    /// What one run comes to: the merged report, or why there is none.
    typealias Completion = (Result<JSONObject, HostessError>) -> Void

    /// Where `hostess-beacon` and `hostess-probe` are.
    let binaries: String
    /// The socket the beacon and probe register on (nil with `--stdio`).
    let socketPath: String?
    /// Seconds one window may take, beacon and probe together.
    let windowTimeout: Double
    private unowned let loop: Loop
    private var current: ProbeRun?

    /// An executor spawning the programs in `binaries`.
    init(binaries: String, socketPath: String?, windowTimeout: Double, loop: Loop) {
        self.binaries = binaries
        self.socketPath = socketPath
        self.windowTimeout = windowTimeout
        self.loop = loop
    }

    /// Starts a run over `targets` × `ports`; `started` runs once it is under way, `completion` once it
    /// ends, both on the loop. With `remote`, each window's probe is asked of a peer (phase 3) instead of
    /// spawned here.
    func run(
        targets: [String], ports: PortRange, remote: ProbeRun.RemoteProbe? = nil, started: @escaping () -> Void = {},
        completion: @escaping Completion
    ) {
        guard current == nil else {
            return completion(.failure(HostessError(.conflict, "a probe is already running; one runs at a time", field: "command")))
        }
        do {
            let run = try ProbeRun(executor: self, targets: targets, ports: ports, remote: remote, loop: loop) { [weak self] result in
                self?.current = nil
                completion(result)
            }
            current = run
            started()
        } catch {
            completion(.failure(error))
        }
    }

    /// Stops the runs under way (hostessd is stopping): their children are killed and reaped.
    func stop() {
        current?.abort("hostessd is stopping")
        guest?.abort("hostessd is stopping")
    }

    // MARK: Probing for a peer

    private var guest: GuestProbe?

    /// Runs one probe for a peer's beacon (phase 3: the peer asked with `POST /probe`); `completion` gets
    /// the probe's `PROBE_SUMMARY`. One at a time, beside this Hostess's own run.
    func probe(for instructions: ProbeInstructions, completion: @escaping Completion) {
        guard guest == nil else {
            return completion(.failure(HostessError(.conflict, "a probe for another Hostess is running; one runs at a time", field: "targets")))
        }
        do {
            guest = try GuestProbe(executor: self, instructions: instructions, loop: loop) { [weak self] result in
                self?.guest = nil
                completion(result)
            }
        } catch {
            completion(.failure(error))
        }
    }

    /// Starts `hostess-probe` with `instructions` and watches it; `onLine` for each line it prints.
    func spawnProbe(_ instructions: ProbeInstructions, onLine: @escaping (ArraySlice<UInt8>) -> Void, onExit: @escaping () -> Void) throws(HostessError) -> (ChildProcess, [ChildIO]) {
        var environment = instructions.environment
        if let socketPath { environment["HOSTESS_SOCKET"] = socketPath }
        do {
            let child = try ChildProcess(path: binaries + "/hostess-probe", environment: environment)
            do { return (child, try ChildIO.watch(child, loop: loop, lineLimit: ProbeReport.maximumBytes + 4096, onLine: onLine, onExit: onExit)) } catch {
                child.kill()
                throw error
            }
        } catch {
            throw HostessError(.unavailable, "cannot start \(binaries)/hostess-probe: \(error)")
        }
    }
}

// MARK: - GuestProbe

/// A probe this Hostess runs for a peer's beacon: the probe alone, its summary the answer.
final class GuestProbe: LoopHandler {
    private var child: ChildProcess?
    private var handlers: [ChildIO] = []
    private var summary: JSONObject?
    private var timer: Loop.Timer?
    private let seconds: Double
    private unowned let loop: Loop
    private var completion: Executor.Completion?

    init(executor: Executor, instructions: ProbeInstructions, loop: Loop, completion: @escaping Executor.Completion) throws(HostessError) {
        self.loop = loop
        seconds = executor.windowTimeout
        self.completion = completion
        (child, handlers) = try executor.spawnProbe(instructions, onLine: { [unowned self] line in
            if case .object(let object)? = try? JSONParser.parse(line), object["type"] == "PROBE_SUMMARY" { summary = object }
        }) { [unowned self] in exited() }
        timer = loop.schedule(at: loop.now &+ UInt64(seconds * 1e9), for: self)
    }

    private func exited() {
        child?.reap()
        guard let summary else { return finish(.failure(HostessError(.unavailable, "hostess-probe ended (\(child?.status.map { "\($0)" } ?? "?")) without a summary"))) }
        finish(.success(summary))
    }

    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event else { return }
        timer = nil
        abort("the probe did not finish within \(seconds) s; killed it")
    }

    /// Kills the probe and answers with `reason`.
    func abort(_ reason: String) { finish(.failure(HostessError(.timeout, reason))) }

    private func finish(_ result: Result<JSONObject, HostessError>) {
        guard let completion else { return }
        self.completion = nil
        if let timer { loop.cancel(timer) }
        for handler in handlers { handler.stop() }
        handlers = []
        if let child, child.reap() == nil { child.kill() }
        child = nil
        completion(result)
    }
}

// MARK: - ProbeRun

/// One run: the beacon for its whole life, a probe per window, a deadline per window.
final class ProbeRun: LoopHandler {
    /// Asks a peer to run the probe of one window toward this machine's beacon; the completion gets the
    /// probe's `PROBE_SUMMARY`, or why there is none.
    typealias RemoteProbe = (ProbeInstructions, @escaping (Result<JSONObject, HostessError>) -> Void) -> Void

    /// One window's outcome.
    struct Window {
        var ports: PortRange
        var bound = 0
        var skipped = 0
        var failed = 0
        var report: ProbeReport?
        var summary: JSONObject?
        var probe: String?
        var seconds = 0.0
    }

    let targets: [String]
    let ports: PortRange
    let passphrase = ProbeSecrets.random(bytes: 24)
    let probeHash = ProbeSecrets.random(bytes: 32)
    private unowned let executor: Executor
    private unowned let loop: Loop
    private let remote: RemoteProbe?
    private var remoteUnderWay = false
    private let startedAt: UInt64
    private var beacon: ChildProcess?
    private var beaconHandlers: [ChildIO] = []
    private var probe: ChildProcess?
    private var probeHandlers: [ChildIO] = []
    private var windows: [Window] = []
    /// Windows the beacon announced and whose probe has not started (one runs at a time).
    private var waiting: [Window] = []
    private var windowStartedAt: UInt64 = 0
    private var timer: Loop.Timer?
    private var descriptorLimit: Int64 = 0
    private var beaconDone = false
    private var completion: Executor.Completion?

    init(executor: Executor, targets: [String], ports: PortRange, remote: RemoteProbe?, loop: Loop, completion: @escaping Executor.Completion) throws(HostessError) {
        self.executor = executor
        self.targets = targets
        self.ports = ports
        self.remote = remote
        self.loop = loop
        self.completion = completion
        startedAt = loop.now
        var environment = BeaconConfiguration(addresses: targets, ports: ports, probeHash: probeHash, passphrase: passphrase).environment
        if let socket = executor.socketPath { environment["HOSTESS_SOCKET"] = socket }
        let child: ChildProcess
        do { child = try ChildProcess(path: executor.binaries + "/hostess-beacon", environment: environment) } catch {
            throw HostessError(.unavailable, "cannot start \(executor.binaries)/hostess-beacon: \(error)")
        }
        beacon = child
        do {
            beaconHandlers = try ChildIO.watch(child, loop: loop, lineLimit: ProbeReport.maximumBytes + 4096, onLine: { [unowned self] in beaconSaid($0) }) {
                [unowned self] in beaconExited()
            }
        } catch {
            throw HostessError(.unavailable, "cannot watch hostess-beacon: \(error)")
        }
        timer = loop.schedule(at: loop.now &+ deadline, for: self)
    }

    private var deadline: UInt64 { UInt64(executor.windowTimeout * 1e9) }

    // MARK: The beacon

    private func beaconSaid(_ line: ArraySlice<UInt8>) {
        guard case .object(let object)? = try? JSONParser.parse(line), case .string(let type)? = object["type"] else { return }
        switch type {
        case "BEACON_READY":
            guard case .array(let pair)? = object["window"], pair.count == 2, case .int(let low) = pair[0], case .int(let high) = pair[1],
                (1...65535).contains(low), (low...65535).contains(high)
            else { return abort("hostess-beacon announced a malformed window") }
            var window = Window(ports: PortRange(lowerBound: UInt16(low), upperBound: UInt16(high)))
            if case .int(let value)? = object["bound"] { window.bound = Int(value) }
            if case .int(let value)? = object["skipped"] { window.skipped = Int(value) }
            if case .int(let value)? = object["failed"] { window.failed = Int(value) }
            if case .int(let value)? = object["descriptorLimit"] { descriptorLimit = value }
            waiting.append(window)
            startNextProbe()
        case "BEACON_RESULTS":
            var members = object
            members["type"] = nil
            members["window"] = nil
            guard let report = try? ProbeReport(members), let index = windows.indices.last else { return }
            windows[index].report = report
        case "BEACON_DONE":
            beaconDone = true
        default: break
        }
    }

    private func beaconExited() {
        let status = beacon?.reap()
        if !beaconDone { return abort("hostess-beacon stopped before the range was done (\(status.map { "\($0)" } ?? "?"))") }
        if probe == nil && !remoteUnderWay && waiting.isEmpty { finish() }
    }

    // MARK: The probe

    private func startNextProbe() {
        guard probe == nil, !remoteUnderWay, !waiting.isEmpty else { return }
        let window = waiting.removeFirst()
        windows.append(window)
        windowStartedAt = loop.now
        if let timer { _ = loop.reschedule(timer, to: loop.now &+ deadline) }
        let instructions = ProbeInstructions(
            targets: targets, ports: window.ports, probeHash: probeHash,
            expectedResponseHash: ProbeSecrets.responseHash(probeHash: probeHash, passphrase: passphrase), passphrase: passphrase)
        if let remote {
            remoteUnderWay = true
            remote(instructions) { [weak self] result in self?.remoteProbeEnded(result) }
            return
        }
        do {
            (probe, probeHandlers) = try executor.spawnProbe(instructions, onLine: { [unowned self] line in
                if case .object(let summary)? = try? JSONParser.parse(line), summary["type"] == "PROBE_SUMMARY", let index = windows.indices.last {
                    windows[index].summary = summary
                }
            }) { [unowned self] in probeExited() }
        } catch {
            abort(error.message)
        }
    }

    private func remoteProbeEnded(_ result: Result<JSONObject, HostessError>) {
        guard remoteUnderWay else { return }
        remoteUnderWay = false
        switch result {
        case .success(let summary):
            if let index = windows.indices.last { windows[index].summary = summary }
            windowEnded(probe: summary["terminated"] == true ? "exit 0 (on the peer)" : "exit 1 (on the peer)")
        case .failure(let error):
            windowEnded(probe: "the peer did not run it: \(error.message)")
        }
    }

    private func probeExited() {
        guard let child = probe else { return }
        // The beacon printed its results before the probe could have its TERMINATE: read them first.
        beaconHandlers.first?.readAvailable()
        let status = child.reap()
        for handler in probeHandlers { handler.stop() }
        probeHandlers = []
        probe = nil
        windowEnded(probe: status.map { "\($0)" } ?? "?")
    }

    /// The window's probe is done: when the beacon did not report it (no working connection), it gives the
    /// window up; then the next window's probe starts, or the run ends.
    private func windowEnded(probe outcome: String) {
        guard let index = windows.indices.last else { return }
        windows[index].probe = outcome
        windows[index].seconds = (Double(loop.now &- windowStartedAt) / 1e6).rounded() / 1000
        if windows[index].report == nil, let beacon, beacon.input >= 0 {
            _ = try? Syscall.write(beacon.input, from: Array("NEXT\n".utf8), count: 5, socket: false)
        }
        if waiting.isEmpty && beaconDone { return finish() }
        startNextProbe()
    }

    // MARK: Deadline

    func handle(_ event: LoopEvent, on loop: Loop) {
        guard case .deadline = event else { return }
        timer = nil
        abort("the probe of ports \(windows.last?.ports.description ?? ports.description) did not finish within \(executor.windowTimeout) s; killed it and the beacon")
    }

    /// Ends the run now: children killed and reaped, the windows so far in the answer with `killed`.
    func abort(_ reason: String) {
        guard completion != nil else { return }
        if let index = windows.indices.last, windows[index].probe == nil { windows[index].probe = "killed" }
        finish(killed: reason)
    }

    // MARK: Finishing

    private func finish(killed: String? = nil) {
        guard let completion else { return }
        self.completion = nil
        if let timer { loop.cancel(timer) }
        timer = nil
        for handler in beaconHandlers + probeHandlers { handler.stop() }
        beaconHandlers = []
        probeHandlers = []
        for child in [probe, beacon].compactMap({ $0 }) where child.reap() == nil { child.kill() }
        probe = nil
        beacon = nil
        if let killed { Log.warning("probe run: \(killed)") }
        completion(.success(merged(killed: killed)))
    }

    /// Every window's findings as one report (the design's `PROBE_RESULTS` members), plus the windows.
    private func merged(killed: String?) -> JSONObject {
        var results: [ProbeReport.Success] = []
        var failures: [ProbeReport.Failure: Int] = [:]
        var authFailed: [String] = []
        var total = 0
        var windowList: [JSONValue] = []
        for window in windows {
            let report = window.report ?? window.summary.flatMap { summary in
                var members = summary
                for key in ["type", "terminated", "reportedTo", "seconds"] { members[key] = nil }
                return try? ProbeReport(members)
            }
            if let report {
                // The beacon heard the results; a summary alone (the probe found nothing working) adds its failures.
                if window.report != nil { results += report.results }
                for (reason, count) in report.failures { failures[reason, default: 0] += count }
                authFailed += report.authFailed.prefix(ProbeReport.maximumNamedFailures - authFailed.count)
                total += report.totalTests
            }
            windowList.append([
                "window": [.int(Int64(window.ports.lowerBound)), .int(Int64(window.ports.upperBound))], "bound": .int(Int64(window.bound)),
                "skipped": .int(Int64(window.skipped)), "failed": .int(Int64(window.failed)), "reported": .bool(window.report != nil),
                "probe": window.probe.map(JSONValue.string) ?? .null, "seconds": .double(window.seconds),
            ])
        }
        let report = ProbeReport(results: results, ips: targets, ports: ports, totalTests: total, failures: failures, authFailed: authFailed)
        var object = report.members
        object["windows"] = .array(windowList)
        object["descriptorLimit"] = .int(descriptorLimit)
        object["seconds"] = .double((Double(loop.now &- startedAt) / 1e6).rounded() / 1000)
        object["killed"] = killed.map(JSONValue.string) ?? .null
        return object
    }
}

// MARK: - ChildIO

/// Watches a child on the loop: its standard output, line by line, and its exit (its pidfd).
final class ChildIO: LoopHandler {
    private enum Role { case output, exit }
    private let role: Role
    private let fd: Int32
    private unowned let loop: Loop
    private var token: UInt64 = 0
    private var lines: ProbeLines
    private var buffer: [UInt8] = []
    private var onLine: ((ArraySlice<UInt8>) -> Void)?
    private var onExit: (() -> Void)?
    private var stopped = false
    /// For the exit watcher: the output watcher, read to its end before the exit is reported.
    private var output: ChildIO?

    private init(role: Role, fd: Int32, loop: Loop, lineLimit: Int) {
        self.role = role
        self.fd = fd
        self.loop = loop
        lines = ProbeLines(limit: lineLimit)
    }

    /// Starts watching `child`: `onLine` for each line it prints, `onExit` once when it exits.
    static func watch(
        _ child: ChildProcess, loop: Loop, lineLimit: Int, onLine: @escaping (ArraySlice<UInt8>) -> Void, onExit: @escaping () -> Void
    ) throws(SystemError) -> [ChildIO] {
        let output = ChildIO(role: .output, fd: child.output, loop: loop, lineLimit: lineLimit)
        output.onLine = onLine
        output.token = try loop.register(child.output, events: .readable, handler: output)
        let exit = ChildIO(role: .exit, fd: child.pidfd, loop: loop, lineLimit: 0)
        exit.onExit = onExit
        exit.output = output
        do { exit.token = try loop.register(child.pidfd, events: .readable, handler: exit) } catch {
            output.stop()
            throw error
        }
        return [output, exit]
    }

    /// Stops watching (the descriptors stay the child's to close).
    func stop() {
        guard !stopped else { return }
        stopped = true
        loop.unregister(fd, token: token, watched: true)
        onLine = nil
        onExit = nil
    }

    func handle(_ event: LoopEvent, on loop: Loop) {
        guard !stopped else { return }
        switch role {
        case .exit:
            // Read what the child printed before it went (its end of the pipe is closed: this ends), then
            // report the exit.
            let exit = onExit
            stop()
            output?.read(rounds: .max)
            output = nil
            exit?()
        case .output:
            read(rounds: 16)
        }
    }

    /// Reads what the pipe holds now, handing each line on.
    func readAvailable() { read(rounds: .max) }

    /// Reads what the pipe holds, at most `rounds` times 64 KiB, handing each line on.
    private func read(rounds: Int) {
        guard !stopped else { return }
        var chunk = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<rounds {
                let read = chunk.withUnsafeMutableBytes { buffer in
                    Result { () throws(SystemError) in try Syscall.read(fd, into: buffer.baseAddress!, count: buffer.count) }
                }
                guard case .success(let available) = read, let count = available else { break }
                guard count > 0 else {
                    stop()
                    return
                }
                buffer += chunk[..<count]
                drain()
                if stopped { return }
        }
    }

    private func drain() {
        var start = 0
        while true {
            switch lines.next(in: buffer[start...]) {
            case .line(let line, let consumed):
                onLine?(line)
                start += consumed
                if stopped { return }
            case .incomplete:
                buffer.removeFirst(start)
                return
            case .tooLong:
                buffer.removeAll()
                return
            }
        }
    }
}
