// hostess-probe: the Probe of the design's Executor/Probe/Beacon trio (docs/probing.md).
//
// Its instructions come only from the environment, exactly the design's: TARGET_IPS, PORT_RANGE_START,
// PORT_RANGE_END, PROBE_HASH, EXPECTED_RESPONSE_HASH, PASSPHRASE (and HOSTESS_SOCKET, where it registers
// itself while it runs). It connects to every address × port of the matrix without blocking, at most a
// thousand at once, sends its hash, and counts a pair as working only when the answer is the expected hash
// (else `auth_failed`); latency is connect plus authentication. On its first working connection it then
// reports PROBE_RESULTS and PROBE_COMPLETE, bound to that connection by MACs over the beacon's nonce, and
// waits for an authenticated TERMINATE. It prints a PROBE_SUMMARY line (the report, and whether it was
// terminated) on standard output. Exit status: 0 terminated by the beacon, 1 no working connection or no
// valid TERMINATE, 2 bad instructions.

import Glibc
import HostessClient
import HostessModel
import HostessProbing
import HostessSystem

// MARK: - Settings

/// Connections in flight at once, at most.
let maximumInFlight = 1024
/// Nanoseconds a connect may take, and then the beacon's answer.
let connectTimeout: UInt64 = 2_000_000_000
let answerTimeout: UInt64 = 2_000_000_000
/// Nanoseconds the beacon has to answer the report with TERMINATE.
let terminateTimeout: UInt64 = 10_000_000_000

func fail(_ message: String, status: Int32) -> Never {
    FileHandleWriter.standardError("hostess-probe: \(message)\n")
    exit(status)
}

// MARK: - One test

/// One address:port under test.
struct Attempt {
    enum Phase { case connecting(PendingConnection), answering(Int32) }
    var ip: String
    var port: UInt16
    var phase: Phase
    var startedAt: UInt64
    var deadline: UInt64
    var buffer: [UInt8] = []
}

// MARK: - Scan

/// The matrix, scanned with bounded concurrency over one epoll set.
final class Scan {
    let instructions: ProbeInstructions
    let epoll: Epoll
    let inFlightLimit: Int
    private var attempts: [Int: Attempt] = [:]
    private var freeSlots: [Int] = []
    private var nextSlot = 0
    private var targetIndex = 0
    private var nextPort: Int
    private(set) var results: [ProbeReport.Success] = []
    private(set) var failures: [ProbeReport.Failure: Int] = [:]
    private(set) var authFailed: [String] = []
    /// The first working connection, kept for the report: its descriptor, nonce and address.
    private(set) var reportConnection: (fd: Int32, nonce: String, endpoint: String)?

    init(instructions: ProbeInstructions, epoll: Epoll, inFlightLimit: Int) {
        self.instructions = instructions
        self.epoll = epoll
        self.inFlightLimit = inFlightLimit
        nextPort = Int(instructions.ports.lowerBound)
    }

    /// Runs every test of the matrix.
    func run() {
        fill()
        while !attempts.isEmpty {
            let events = (try? epoll.wait(maximum: 512, timeoutMilliseconds: 20)) ?? []
            let now = SystemClock.monotonicNanoseconds()
            for event in events { advance(Int(event.token), now: now) }
            for (slot, attempt) in attempts where attempt.deadline <= now { expire(slot, attempt) }
            fill()
        }
    }

    // MARK: Starting

    private func nextPair() -> (String, UInt16)? {
        while targetIndex < instructions.targets.count {
            if nextPort <= Int(instructions.ports.upperBound) {
                defer { nextPort += 1 }
                return (instructions.targets[targetIndex], UInt16(nextPort))
            }
            targetIndex += 1
            nextPort = Int(instructions.ports.lowerBound)
        }
        return nil
    }

    private func fill() {
        while attempts.count < inFlightLimit, let (ip, port) = nextPair() { start(ip, port) }
    }

    private func start(_ ip: String, _ port: UInt16) {
        let now = SystemClock.monotonicNanoseconds()
        let address: InternetSocketAddress
        do { address = try InternetSocketAddress(parsing: ProbeAddress.endpoint(ip, port)) } catch { return count(.error) }
        let pending: PendingConnection
        do { pending = try PendingConnection.start(to: address, deadline: now &+ connectTimeout) } catch {
            return count(Self.failure(error))
        }
        let slot = freeSlots.popLast() ?? { nextSlot += 1; return nextSlot - 1 }()
        do { try epoll.add(pending.fd, events: .writable, token: UInt64(slot)) } catch {
            pending.abandon()
            freeSlots.append(slot)
            return count(.error)
        }
        attempts[slot] = Attempt(ip: ip, port: port, phase: .connecting(pending), startedAt: now, deadline: now &+ connectTimeout)
    }

    // MARK: Progress

    private func advance(_ slot: Int, now: UInt64) {
        guard var attempt = attempts[slot] else { return }
        switch attempt.phase {
        case .connecting(let pending):
            let fd: Int32
            do {
                guard let connected = try pending.finish(now: now) else { return }
                fd = connected
            } catch {
                return finish(slot, closing: nil, as: Self.failure(error))
            }
            let hello = ProbeMessage.line(.probe(hash: instructions.probeHash))
            guard (try? Syscall.write(fd, from: hello, count: hello.count, socket: true)) == hello.count,
                (try? epoll.modify(fd, events: .readable, token: UInt64(slot))) != nil
            else { return finish(slot, closing: fd, as: .error) }
            attempt.phase = .answering(fd)
            attempt.deadline = now &+ answerTimeout
            attempts[slot] = attempt
        case .answering(let fd):
            var chunk = [UInt8](repeating: 0, count: 512)
            let read = chunk.withUnsafeMutableBytes { buffer in
                Result { () throws(SystemError) in try Syscall.read(fd, into: buffer.baseAddress!, count: buffer.count) }
            }
            guard case .success(let available) = read else { return finish(slot, closing: fd, as: .authFailed) }
            guard let count = available else { return }
            guard count > 0 else { return finish(slot, closing: fd, as: .authFailed) }
            attempt.buffer += chunk[..<count]
            guard let newline = attempt.buffer.firstIndex(of: 0x0A) else {
                if attempt.buffer.count > ProbeMessage.maximumLineBytes { return finish(slot, closing: fd, as: .authFailed) }
                attempts[slot] = attempt
                return
            }
            guard case .beacon(let hash, let nonce)? = try? ProbeMessage(line: attempt.buffer[..<newline]),
                ProbeSecrets.equal(hash, instructions.expectedResponseHash)
            else { return finish(slot, closing: fd, as: .authFailed) }
            let latency = Double(now &- attempt.startedAt) / 1e6
            results.append(ProbeReport.Success(ip: attempt.ip, port: attempt.port, latency: (latency * 1000).rounded() / 1000))
            if reportConnection == nil {
                epoll.remove(fd)
                reportConnection = (fd, nonce, ProbeAddress.endpoint(attempt.ip, attempt.port))
                release(slot)
            } else {
                finish(slot, closing: fd, as: nil)
            }
        }
    }

    private func expire(_ slot: Int, _ attempt: Attempt) {
        switch attempt.phase {
        case .connecting(let pending):
            epoll.remove(pending.fd)
            pending.abandon()
            release(slot)
            count(.timeout)
        case .answering(let fd):
            // Something accepted and never answered: not a beacon.
            finish(slot, closing: fd, as: .authFailed)
        }
    }

    /// Ends an attempt: closes its descriptor (with a reset, so that tens of thousands of tests leave no
    /// TIME_WAIT behind) and counts its failure, if any.
    private func finish(_ slot: Int, closing fd: Int32?, as failure: ProbeReport.Failure?) {
        if let attempt = attempts[slot], failure == .authFailed, authFailed.count < ProbeReport.maximumNamedFailures {
            authFailed.append(ProbeAddress.endpoint(attempt.ip, attempt.port))
        }
        if let fd {
            epoll.remove(fd)
            var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            Syscall.close(fd)
        }
        release(slot)
        if let failure { count(failure) }
    }

    private func release(_ slot: Int) {
        attempts[slot] = nil
        freeSlots.append(slot)
    }

    private func count(_ failure: ProbeReport.Failure) { failures[failure, default: 0] += 1 }

    private static func failure(_ error: ConnectError) -> ProbeReport.Failure {
        switch error.reason {
        case .refused: return .refused
        case .timedOut: return .timeout
        case .failed(let system) where system.errno == EHOSTUNREACH || system.errno == ENETUNREACH: return .unreachable
        case .failed(let system) where system.errno == ETIMEDOUT: return .timeout
        case .failed: return .error
        }
    }

    /// What the scan found, as a report.
    var report: ProbeReport {
        ProbeReport(
            results: results, ips: instructions.targets, ports: instructions.ports, totalTests: instructions.totalTests, failures: failures,
            authFailed: authFailed)
    }
}

// MARK: - Reporting

/// Sends the report and the completion on the kept connection and waits for the beacon's TERMINATE;
/// returns whether it came, authenticated.
func report(_ report: ProbeReport, on connection: (fd: Int32, nonce: String, endpoint: String), instructions: ProbeInstructions) -> Bool {
    let fd = connection.fd
    let bytes = ProbeMessage.report(report, passphrase: instructions.passphrase, nonce: connection.nonce)
        + ProbeMessage.line(.complete(mac: ProbeMessage.completeMAC(passphrase: instructions.passphrase, nonce: connection.nonce)))
    let deadline = SystemClock.monotonicNanoseconds() &+ terminateTimeout
    var written = 0
    var answer: [UInt8] = []
    while SystemClock.monotonicNanoseconds() < deadline {
        var poller = pollfd(fd: fd, events: Int16(written < bytes.count ? POLLOUT : POLLIN), revents: 0)
        guard poll(&poller, 1, 100) >= 0 || errno == EINTR else { return false }
        if written < bytes.count {
            guard poller.revents & Int16(POLLOUT) != 0 else { continue }
            let sent = bytes[written...].withUnsafeBytes { buffer in
                Result { () throws(SystemError) in try Syscall.write(fd, from: buffer.baseAddress!, count: buffer.count, socket: true) }
            }
            guard case .success(let count) = sent else { return false }
            written += count ?? 0
            continue
        }
        guard poller.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 else { continue }
        var chunk = [UInt8](repeating: 0, count: 512)
        let read = chunk.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try Syscall.read(fd, into: buffer.baseAddress!, count: buffer.count) }
        }
        guard case .success(let available) = read else { return false }
        guard let count = available else { continue }
        guard count > 0 else { return false }
        answer += chunk[..<count]
        guard answer.count <= ProbeMessage.maximumLineBytes else { return false }
        guard let newline = answer.firstIndex(of: 0x0A) else { continue }
        guard case .terminate(let hash, let mac)? = try? ProbeMessage(line: answer[..<newline]) else { return false }
        return ProbeSecrets.equal(hash, ProbeSecrets.terminateHash(passphrase: instructions.passphrase))
            && ProbeSecrets.equal(mac, ProbeMessage.terminateMAC(passphrase: instructions.passphrase, nonce: connection.nonce))
    }
    return false
}

// MARK: - Main

FileHandleWriter.lineBufferStandardOutput()
Syscall.ignoreBrokenPipes()
let environment = EnvironmentVariables.current
let instructions: ProbeInstructions
do { instructions = try ProbeInstructions(environment: environment) } catch {
    fail("bad instructions: \(error) (see docs/probing.md)", status: 2)
}
// Registering is best effort: without a hostessd at HOSTESS_SOCKET (or the default) the run goes on.
let client = await HostessClient.signIn(
    name: "hostess-probe", classCode: ClassCode(0x00FE), capabilities: ["probe"],
    metadata: ["targets": .array(instructions.targets.map(JSONValue.string)), "ports": .string(instructions.ports.description)], environment: environment)
let limit = Syscall.raiseDescriptorLimit()
let epoll: Epoll
do { epoll = try Epoll() } catch { fail("\(error)", status: 1) }
let started = SystemClock.monotonicNanoseconds()
let scan = Scan(instructions: instructions, epoll: epoll, inFlightLimit: max(1, min(maximumInFlight, Int(clamping: limit) - 64)))
scan.run()
let found = scan.report
var terminated = false
if let connection = scan.reportConnection { terminated = report(found, on: connection, instructions: instructions) }
var summary: JSONObject = ["type": "PROBE_SUMMARY"]
for (key, value) in found.members { summary[key] = value }
summary["terminated"] = .bool(terminated)
summary["reportedTo"] = scan.reportConnection.map { .string($0.endpoint) } ?? .null
summary["seconds"] = .double((Double(SystemClock.monotonicNanoseconds() &- started) / 1e6).rounded() / 1000)
try? Syscall.writeAll(1, JSONValue.object(summary).jsonBytes + [0x0A], socket: false)
client?.close()
if scan.reportConnection == nil { fail("no working connection in \(instructions.totalTests) tests", status: 1) }
if !terminated { fail("the beacon at \(scan.reportConnection?.endpoint ?? "?") did not answer the report with an authenticated TERMINATE", status: 1) }
exit(0)
