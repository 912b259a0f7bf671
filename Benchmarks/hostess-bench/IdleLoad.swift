import Foundation
import Glibc
import HostessModel
import HostessSystem
import Synchronization

// The idle-load run, `hostess-bench --idle-connections N` (Scripts/idle-load.sh): the target "the loop serves
// 10,000 idle connections (`--max-connections 10000`) plus a busy client with p99 socket lookup under 2× the
// idle-loop figure", measured black-box against a release hostessd:
//
// 1. Start hostessd on a private socket with no shared-memory region, `--max-connections N`, and client and
//    idle timeouts longer than the run; register 1,000 entries (`--entries`) over the socket.
// 2. One busy client times `getServer` round trips (the lookup-by-id socket row's request and parsing) with no
//    other connection open: the idle-loop figure.
// 3. Open N more connections; each sends one `status` and reads its reply (so each was accepted, not refused at
//    the limit, and no longer counts as a client that sent nothing), then stays silent.
// 4. Time the busy client again with the N connections held; then check that none of them was closed or written
//    to meanwhile, and that hostessd holds a descriptor for each. Close them.
// 5. Steps 2–4 are `idleLoadRounds` rounds, the two timings alternating; each row pools its rounds' samples.
//
// In the first round, with no client busy, it also reads how much CPU hostessd uses over ``idleLoadQuietSeconds``
// with and without the idle connections: the cost of any periodic pass over its connections, whatever the
// lookups show.
//
// The whole run is bounded: at most `idleLoadTimeLimit` seconds, after which hostessd is killed and the run
// fails. Exit status 0 when every step worked (whether or not the target is met: the table says), 1 otherwise.

// MARK: - Settings

/// The longest an idle-load run may take, start to end, in seconds.
let idleLoadTimeLimit: Double = 120

/// How long one socket call of the run (connect, send, receive) may block before it counts as failed, in seconds.
let idleLoadSocketTimeout = 10

/// Idle connections opened per wave: connect and send `status` on each, then read the replies. Well under the
/// daemon's listen backlog (1024), so a connect never waits for the backlog to drain.
let idleLoadWave = 256

/// Rounds of the two timings (no idle connections, then N held), alternated; each row pools its rounds.
let idleLoadRounds = 4

/// How long hostessd's CPU use is sampled while no client is busy, in seconds.
let idleLoadQuietSeconds: Double = 2

/// Why an idle-load run failed.
struct IdleLoadFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Run

/// Runs the idle-load benchmark with `connections` idle connections, prints its table (or JSON rows), and
/// returns the exit status.
func idleLoad(connections: Int, options: Options) -> Int32 {
    let watchdog = Watchdog(seconds: idleLoadTimeLimit)
    defer { watchdog.cancel() }
    let started = SystemClock.monotonicNanoseconds()
    let daemon: IdleLoadDaemon
    do {
        let limit = try raiseOpenFileLimit(atLeast: connections + 256)
        progress("open-file limit \(limit)")
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let executable = options.hostessd ?? URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostessd").path
        daemon = try IdleLoadDaemon(executable: executable, connections: connections, capacity: options.idleEntries)
    } catch {
        FileHandleWriter.standardError("hostess-bench: idle-load failed: \(error)\n")
        return 1
    }
    watchdog.watch(daemon)
    defer { daemon.stop() }
    do {
        let report = try idleLoadRun(daemon, connections: connections, options: options)
        let seconds = Double(SystemClock.monotonicNanoseconds() - started) / 1e9
        print(options.json ? report.json : report.markdown(seconds: seconds))
        return 0
    } catch {
        FileHandleWriter.standardError("hostess-bench: idle-load failed: \(error)\n")
        FileHandleWriter.standardError("hostess-bench: hostessd's log ends with:\n\(daemon.logTail(lines: 20))\n")
        return 1
    }
}

/// Steps 1–5 against a started daemon.
private func idleLoadRun(_ daemon: IdleLoadDaemon, connections: Int, options: Options) throws -> IdleLoadReport {
    let samples = options.quick ? 5_000 : 20_000
    let warmup = options.quick ? 500 : 1_000
    // 1. Entries, registered the way the fixture of the other rows registers them.
    let registrations = workload(options.idleEntries)
    let ids = registrations.map { $0.name.description }
    let registerLines = registrations.enumerated().map { index, registration in
        JSONValue.object(["id": .int(Int64(index)), "command": "register", "entry": registration.json]).jsonBytes + [0x0A]
    }
    let client = try LineClient(path: daemon.socketPath)
    defer { client.close() }
    setSocketTimeouts(client.fd, seconds: idleLoadSocketTimeout)
    var registered = 0
    for start in stride(from: 0, to: registerLines.count, by: 500) {
        let batch = registerLines[start..<min(start + 500, registerLines.count)]
        client.send(Array(batch.joined()))
        for _ in batch {
            if case .object(let reply)? = try? JSONParser.parse(client.receive()), reply["result"] != nil { registered += 1 }
        }
    }
    guard registered == ids.count else { throw IdleLoadFailure("registered \(registered) of \(ids.count) entries") }
    progress("hostessd pid \(daemon.pid) serves \(registered) entries; --max-connections \(daemon.maxConnections)")

    // 2. The busy client alone. Ids are looked up in a shuffled order, as in the lookup-by-id rows.
    var order = Array(0..<ids.count)
    var generator = SplitMix64(seed: 7)
    order.shuffle(using: &generator)
    let requests = ids.map(getServerLine)
    func lookups(_ label: String, samples: Int) throws -> Measurement {
        var failures = 0
        var row = measure("idle-load", "socket", entries: ids.count, samples: samples, batch: 1, warmup: warmup, seconds: 20) { call in
            // After a failure the rest of the calls return at once: the run fails either way.
            guard failures == 0 else { return }
            if socketLookup(client, requests[order[call % order.count]])?["result"] == nil { failures += 1 }
        }
        guard failures == 0 else { throw IdleLoadFailure("\(label): \(failures) lookups got no result (connection failed or error reply)") }
        row.note = label
        return row
    }
    let descriptorsAlone = daemon.openDescriptors
    let idle = IdleConnections()
    defer { idle.closeAll() }
    var alone: Measurement?
    var loaded: Measurement?
    var quietAlone: Double?
    var quietHeld: Double?
    var openSeconds = 0.0
    var descriptorsHeld = 0
    var residentHeld = 0
    // Rounds alternate the two conditions, so that a burst of noise on the machine (another VM, a timer) lands
    // on both rather than on whichever was being timed; each row pools its rounds' samples.
    let perRound = samples / idleLoadRounds
    for round in 1...idleLoadRounds {
        progress("round \(round) of \(idleLoadRounds): timing \(perRound) lookups with no idle connections")
        alone = try lookups("socket lookup, no idle connections", samples: perRound).merged(into: alone)
        if round == 1 { quietAlone = daemon.cpuUse(seconds: idleLoadQuietSeconds) }

        progress("round \(round) of \(idleLoadRounds): opening \(connections) idle connections")
        let opening = SystemClock.monotonicNanoseconds()
        try idle.open(connections, path: daemon.socketPath)
        openSeconds = max(openSeconds, Double(SystemClock.monotonicNanoseconds() - opening) / 1e9)
        descriptorsHeld = daemon.openDescriptors
        guard descriptorsHeld < 0 || descriptorsHeld - descriptorsAlone >= connections else {
            throw IdleLoadFailure("hostessd holds \(descriptorsHeld) descriptors, \(descriptorsAlone) before the \(connections) idle connections")
        }
        if round == 1 { quietHeld = daemon.cpuUse(seconds: idleLoadQuietSeconds) }
        let disturbedBefore = idle.disturbed()
        guard disturbedBefore == 0 else { throw IdleLoadFailure("\(disturbedBefore) idle connections were closed or written to before the measurement") }

        progress("round \(round) of \(idleLoadRounds): timing \(perRound) lookups with \(connections) idle connections held")
        loaded = try lookups("socket lookup, \(grouped(connections)) idle connections", samples: perRound).merged(into: loaded)
        let disturbedAfter = idle.disturbed()
        guard disturbedAfter == 0 else { throw IdleLoadFailure("\(disturbedAfter) idle connections were closed or written to during the measurement") }
        residentHeld = max(residentHeld, daemon.residentBytes)

        idle.closeAll()
        let closing = SystemClock.monotonicNanoseconds()
        while daemon.openDescriptors > descriptorsAlone && SystemClock.monotonicNanoseconds() - closing < 10_000_000_000 { usleep(10_000) }
    }
    guard let alone, let loaded else { throw IdleLoadFailure("no round ran") }

    return IdleLoadReport(
        connections: connections, entries: ids.count, executable: daemon.executable, maxConnections: daemon.maxConnections,
        openSeconds: openSeconds, quietAlone: quietAlone, quietHeld: quietHeld, descriptorsAlone: descriptorsAlone, descriptorsHeld: descriptorsHeld, residentHeld: residentHeld,
        rows: [(alone, 0), (loaded, connections)])
}

extension Measurement {
    /// This measurement's samples pooled with `earlier`'s (nil: none yet); operations per second over both.
    func merged(into earlier: Measurement?) -> Measurement {
        guard let earlier else { return self }
        var pooled = earlier
        pooled.samples = (earlier.samples + samples).sorted()
        let seconds = Double(earlier.samples.count) / earlier.opsPerSecond + Double(samples.count) / opsPerSecond
        pooled.opsPerSecond = Double(pooled.samples.count) / seconds
        return pooled
    }
}

private func progress(_ text: String) { FileHandleWriter.standardError("hostess-bench: idle-load: \(text)\n") }

// MARK: - Report

/// What an idle-load run measured.
struct IdleLoadReport {
    var connections: Int
    var entries: Int
    var executable: String
    var maxConnections: Int
    /// Seconds to open every idle connection and read its `status` reply.
    var openSeconds: Double
    /// hostessd's CPU use while no client was busy, in CPU nanoseconds per second, without and with the idle
    /// connections (nil when /proc could not tell).
    var quietAlone: Double?
    var quietHeld: Double?
    /// hostessd's open descriptors before the idle connections and while they were held.
    var descriptorsAlone: Int
    var descriptorsHeld: Int
    /// hostessd's resident memory while they were held, in bytes.
    var residentHeld: Int
    /// The two timings (pooled over the rounds), each with the idle connections held meanwhile.
    var rows: [(measurement: Measurement, held: Int)]

    /// p99 with the idle connections held over p99 with none (the first timing): the target's figure.
    var ratio: Double { rows[1].measurement.percentile(0.99) / rows[0].measurement.percentile(0.99) }

    func markdown(seconds: Double) -> String {
        var lines = [
            "hostessd \(executable): \(entries) entries, --max-connections \(maxConnections); \(grouped(connections)) idle connections opened in "
                + "\(format3(openSeconds)) s, each answered its `status`; hostessd held \(descriptorsHeld) descriptors with them "
                + "(\(descriptorsAlone) without), \(residentHeld / 1_048_576) MiB resident; none was closed or written to while timed.",
            "",
            "| run | idle connections | p50 | p99 | p99.9 | max | lookups/s | samples | p99 × no idle |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        let base = rows[0].measurement.percentile(0.99)
        for (row, held) in rows {
            lines.append(
                "| \(row.note) | \(grouped(held)) | \(duration(row.percentile(0.5))) | \(duration(row.percentile(0.99))) | "
                    + "\(duration(row.percentile(0.999))) | \(duration(row.samples.last ?? .nan)) | \(Int(row.opsPerSecond)) | "
                    + "\(row.samples.count) | \(format3(row.percentile(0.99) / base))× |")
        }
        lines.append("")
        func share(_ value: Double?) -> String {
            guard let value else { return "-" }
            return "\(format3(value / 1e6)) ms/s (\(format3(value / 1e7))% of a core)"
        }
        lines.append(
            "hostessd CPU with no client busy, over \(format3(idleLoadQuietSeconds)) s: \(share(quietAlone)) with no idle connections, "
                + "\(share(quietHeld)) with \(grouped(connections)).")
        lines.append(
            "p99 with \(grouped(connections)) idle connections / p99 with none: \(format3(ratio))× "
                + "(target: under 2×: \(ratio < 2 ? "met" : "NOT met")); run took \(format3(seconds)) s")
        return lines.joined(separator: "\n")
    }

    /// One JSON object per timing, as the other rows print them, with `idle_connections` and `p99_ratio`.
    var json: String {
        let base = rows[0].measurement.percentile(0.99)
        return rows.map { row, held in
            var object = row.json.objectValue ?? [:]
            object["idle_connections"] = .int(Int64(held))
            object["p99_ratio"] = .double((row.percentile(0.99) / base * 1000).rounded() / 1000)
            object["max_connections"] = .int(Int64(maxConnections))
            object["open_seconds"] = .double((openSeconds * 1000).rounded() / 1000)
            object["daemon_descriptors"] = .int(Int64(held > 0 ? descriptorsHeld : descriptorsAlone))
            if let quiet = held > 0 ? quietHeld : quietAlone { object["daemon_quiet_cpu_ns_per_s"] = .double(quiet.rounded()) }
            return JSONValue.object(object).jsonText
        }.joined(separator: "\n")
    }
}

/// Nanoseconds with a unit, three significant digits, as the main table prints them.
func duration(_ nanoseconds: Double) -> String {
    if nanoseconds.isNaN { return "-" }
    if nanoseconds >= 1_000_000 { return format3(nanoseconds / 1_000_000) + " ms" }
    if nanoseconds >= 1_000 { return format3(nanoseconds / 1_000) + " µs" }
    return format3(nanoseconds) + " ns"
}

/// `10000` as `10,000`.
func grouped(_ value: Int) -> String {
    let digits = Array(String(value))
    var text = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
        text.append(digit)
    }
    return text
}

// MARK: - Daemon

/// A hostessd for the idle-load run: a private socket and no shared-memory region, room for the idle
/// connections, and timeouts longer than the run. Its log goes to a file, shown when the run fails.
final class IdleLoadDaemon {
    let process = Process()
    let executable: String
    let directory: String
    let socketPath: String
    let logPath: String
    /// The `--max-connections` it was started with.
    let maxConnections: Int

    init(executable: String, connections: Int, capacity: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw IdleLoadFailure("no hostessd at \(executable) (build it: swift build -c release --product hostessd)")
        }
        self.executable = executable
        var template = Array("/tmp/hostess-idle-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
        directory = String(cString: made)
        socketPath = directory + "/hostess.sock"
        logPath = directory + "/hostessd.log"
        // Root and hostessd's own user have 16 slots beyond --max-connections, which the busy client takes;
        // any other user needs one more slot for it, and a per-uid limit that lets it hold them all.
        let privileged = getuid() == 0 || geteuid() == 0
        maxConnections = privileged ? connections : connections + 1
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--socket", socketPath, "--no-shm", "--ttl", "3600", "--capacity", String(max(capacity, 1024)), "--entry-bytes", "2048",
            "--max-connections", String(maxConnections), "--max-connections-per-uid", String(maxConnections + 16),
            "--client-timeout", "60", "--idle-timeout", "600",
        ]
        guard FileManager.default.createFile(atPath: logPath, contents: nil), let log = FileHandle(forWritingAtPath: logPath) else {
            throw IdleLoadFailure("cannot create \(logPath)")
        }
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        for _ in 0..<500 {
            if let client = try? LineClient(path: socketPath) {
                client.close()
                return
            }
            guard process.isRunning else { break }
            usleep(10_000)
        }
        let tail = logTail(lines: 10)
        stop()
        throw IdleLoadFailure("hostessd did not start; its log ends with:\n\(tail)")
    }

    var pid: Int32 { process.processIdentifier }

    /// Descriptors hostessd has open (entries of /proc/PID/fd), or -1 when they cannot be counted.
    var openDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// hostessd's resident memory, in bytes (VmRSS).
    var residentBytes: Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }

    /// CPU time hostessd has used, in nanoseconds: /proc/PID/schedstat, else utime + stime from /proc/PID/stat
    /// (clock ticks, coarser); nil when neither can be read.
    var cpuNanoseconds: Double? {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/schedstat", encoding: .utf8),
            let first = text.split(separator: " ").first, let value = Double(first)
        {
            return value
        }
        // The fields after the command name, which is in parentheses and may contain spaces.
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of stat(5); `fields` starts at field 3 (state).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) * 1e9 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU nanoseconds hostessd uses per second of wall time, over `seconds` in which this process sleeps.
    func cpuUse(seconds: Double) -> Double? {
        let wallBefore = SystemClock.monotonicNanoseconds()
        guard let before = cpuNanoseconds else { return nil }
        usleep(UInt32(seconds * 1e6))
        guard let after = cpuNanoseconds else { return nil }
        return (after - before) / (Double(SystemClock.monotonicNanoseconds() - wallBefore) / 1e9)
    }

    /// The last lines of hostessd's log.
    func logTail(lines: Int) -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Stops hostessd (SIGTERM; SIGKILL if it has not exited 5 s later) and removes the directory. Idempotent.
    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = SystemClock.monotonicNanoseconds() + 5_000_000_000
            while process.isRunning && SystemClock.monotonicNanoseconds() < deadline { usleep(10_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: - Idle connections

/// Connections that each sent one `status`, read its reply, and then say nothing.
final class IdleConnections {
    private(set) var descriptors: [Int32] = []

    /// Opens `count` connections in waves of ``idleLoadWave``. Throws when one cannot connect, is refused
    /// (hostessd's `capacity` line), or does not answer.
    func open(_ count: Int, path: String) throws {
        let address = try UnixSocketAddress(path: path)
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var start = 0
        while start < count {
            let end = min(start + idleLoadWave, count)
            var wave: [Int32] = []
            for index in start..<end {
                let fd = try Syscall.unixStreamSocket(nonBlocking: false)
                setSocketTimeouts(fd, seconds: idleLoadSocketTimeout)
                do { try Syscall.connect(fd, to: address) } catch {
                    Syscall.close(fd)
                    throw IdleLoadFailure("idle connection \(index + 1) of \(count): \(error)")
                }
                descriptors.append(fd)
                wave.append(fd)
                do { try Syscall.writeAll(fd, Array(#"{"id":\#(index),"command":"status"}"#.utf8) + [0x0A], socket: true) } catch {
                    throw IdleLoadFailure("idle connection \(index + 1) of \(count): \(error)")
                }
            }
            for (offset, fd) in wave.enumerated() {
                reply.removeAll(keepingCapacity: true)
                while !reply.contains(0x0A) {
                    let got = chunk.withUnsafeMutableBytes { raw -> Int in
                        guard let base = raw.baseAddress else { return -1 }
                        return Glibc.read(fd, base, raw.count)
                    }
                    guard got > 0 else {
                        throw IdleLoadFailure(
                            "idle connection \(start + offset + 1) of \(count): \(got == 0 ? "closed by hostessd" : "no reply within \(idleLoadSocketTimeout) s") "
                                + "before answering its status")
                    }
                    reply.append(contentsOf: chunk[..<got])
                }
                guard case .object(let object)? = try? JSONParser.parse(reply.prefix(while: { $0 != 0x0A })), object["result"] != nil else {
                    throw IdleLoadFailure(
                        "idle connection \(start + offset + 1) of \(count) was refused: \(String(decoding: reply.prefix(300), as: UTF8.self))")
                }
            }
            start = end
        }
    }

    /// How many connections have something to read now: hostessd closed them or wrote to them (a timeout
    /// notice). Zero while they are held as intended.
    func disturbed() -> Int {
        var polled = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let ready = polled.withUnsafeMutableBufferPointer { buffer in poll(buffer.baseAddress, nfds_t(buffer.count), 0) }
        return ready < 0 ? descriptors.count : polled.filter { $0.revents != 0 }.count
    }

    /// Closes every connection. Idempotent.
    func closeAll() {
        for fd in descriptors { Syscall.close(fd) }
        descriptors.removeAll()
    }
}

// MARK: - Limits

/// Bounds blocking `connect`, `send` and `read` on `fd` (SO_SNDTIMEO also bounds a Unix `connect` that waits for
/// the listen backlog), so that a stuck daemon fails the run instead of hanging it.
func setSocketTimeouts(_ fd: Int32, seconds: Int) {
    var time = timeval(tv_sec: seconds, tv_usec: 0)
    let size = socklen_t(MemoryLayout<timeval>.size)
    _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, size)
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &time, size)
}

/// Raises this process's open-file limit to its hard limit, and the hard limit to `needed` when it is lower
/// (only root may); hostessd, started afterwards, inherits it. Returns the soft limit now in force.
func raiseOpenFileLimit(atLeast needed: Int) throws -> UInt64 {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { throw SystemError("getrlimit", errno: errno) }
    if limit.rlim_max < rlim_t(needed) { limit.rlim_max = rlim_t(needed) }
    limit.rlim_cur = limit.rlim_max
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
        let error = errno
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        guard limit.rlim_cur >= rlim_t(needed) else {
            throw IdleLoadFailure(
                "open-file limit \(limit.rlim_cur) (hard \(limit.rlim_max)) is below the \(needed) descriptors needed, and raising it failed: "
                    + "\(SystemError("setrlimit", errno: error)); run as root or raise `ulimit -Hn`")
        }
    }
    return UInt64(limit.rlim_cur)
}

/// Ends the process when the run passes its time limit, killing hostessd first, so that nothing the run
/// waits for can hang it.
final class Watchdog: Sendable {
    private let done = Counter(0)
    private let daemon = Mutex<(pid: Int32, directory: String)?>(nil)

    init(seconds: Double) {
        let deadline = SystemClock.monotonicNanoseconds() + UInt64(seconds * 1e9)
        Thread { [self] in
            while done.value.load(ordering: .relaxed) == 0 {
                if SystemClock.monotonicNanoseconds() > deadline {
                    FileHandleWriter.standardError("hostess-bench: idle-load failed: the run took more than \(Int(seconds)) s; stopping\n")
                    if let started = daemon.withLock({ $0 }) {
                        kill(started.pid, SIGKILL)
                        try? FileManager.default.removeItem(atPath: started.directory)
                    }
                    exit(1)
                }
                usleep(100_000)
            }
        }.start()
    }

    /// Kills `started` when the time runs out.
    func watch(_ started: IdleLoadDaemon) {
        let entry = (started.pid, started.directory)
        daemon.withLock { $0 = entry }
    }

    func cancel() { done.value.store(1, ordering: .relaxed) }
}
