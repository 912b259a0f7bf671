// hostess-beacon: the Beacon of the design's Executor/Probe/Beacon trio (docs/probing.md).
//
// Started by hostessd's Executor with its instructions in the environment only (BEACON_ADDRESSES,
// PORT_RANGE_START, PORT_RANGE_END, PROBE_HASH, PASSPHRASE, optionally BEACON_WINDOW_PORTS and
// HOSTESS_SOCKET). It listens on every free port of the range on every address, skipping ports in use;
// when its descriptor limit (raised to the hard limit first) cannot hold the whole range it covers it in
// windows, one after the other, and says so. It answers each probe connection that sends the right hash
// with sha256(probeHash + passphrase) and a nonce, takes the probe's report (bound to that connection by its
// MAC), answers PROBE_COMPLETE with an authenticated TERMINATE, and prints what it learned to standard
// output, one JSON line per event, for the Executor:
//
//   {"type":"BEACON_READY","window":[A,B],"windows":N,"bound":N,"skipped":N,"failed":N,"descriptorLimit":N}
//   {"type":"BEACON_RESULTS","window":[A,B],"results":[…],"testedMatrix":{…},"failures":{…},"authFailed":[…]}
//   {"type":"BEACON_DONE","refused":N}
//
// A line `NEXT` on standard input gives up the current window (its probe failed); end of input stops the
// beacon. It registers itself in the guest book (session-bound) while it runs. Exit status: 0 done, 1
// failed, 2 bad instructions.

import Glibc
import HostessClient
import HostessLoop
import HostessModel
import HostessProbing
import HostessSystem

// MARK: - Output

/// Writes one JSON line to standard output (the Executor's pipe).
func emit(_ object: JSONObject) {
    let bytes = JSONValue.object(object).jsonBytes + [0x0A]
    try? Syscall.writeAll(1, bytes, socket: false)
}

func fail(_ message: String, status: Int32) -> Never {
    FileHandleWriter.standardError("hostess-beacon: \(message)\n")
    exit(status)
}

// MARK: - Beacon

/// Listens on one window of the range at a time and serves the probe's connections.
final class Beacon {
    /// Accepted connections open at once, within the descriptors kept free; more are closed at once (a probe
    /// keeps at most 1,024 in flight).
    static let maximumSessions = 1100
    /// Descriptors kept free beside the listeners: accepted connections, pipes, the guest-book socket.
    static let reservedDescriptors = 1200

    let configuration: BeaconConfiguration
    let loop: Loop
    let windowPorts: Int
    let descriptorLimit: UInt64
    private(set) var listeners: [Int32: (token: UInt64, handler: ListenerHandler)] = [:]
    var sessions = 0
    var refused = 0
    private var windowStart: Int
    /// The window being served.
    private(set) var window = PortRange(lowerBound: 1, upperBound: 1)
    private var reported = false

    init(configuration: BeaconConfiguration, loop: Loop) {
        self.configuration = configuration
        self.loop = loop
        descriptorLimit = Syscall.raiseDescriptorLimit()
        let affordable = max(1, (Int(clamping: descriptorLimit) - Self.reservedDescriptors) / configuration.addresses.count)
        var ports = min(configuration.ports.count, configuration.windowPorts ?? affordable, affordable)
        // Every port bound here is one the kernel cannot pick for an outgoing connection from these addresses:
        // a window overlapping the ephemeral range covers at most half of it, so that this machine's clients
        // (the probe among them) always keep ports to connect from.
        if let ephemeral = Self.ephemeralPorts(), ephemeral.overlaps(Int(configuration.ports.lowerBound)...Int(configuration.ports.upperBound)) {
            ports = min(ports, max(1, ephemeral.count / 2))
        }
        windowPorts = ports
        windowStart = Int(configuration.ports.lowerBound)
    }

    /// The kernel's range of ports for outgoing connections (`/proc/sys/net/ipv4/ip_local_port_range`).
    static func ephemeralPorts() -> ClosedRange<Int>? {
        guard let file = try? FileContents.read("/proc/sys/net/ipv4/ip_local_port_range", limit: 64) else { return nil }
        let numbers = String(decoding: file, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        guard numbers.count == 2, numbers[0] >= 1, numbers[0] <= numbers[1], numbers[1] <= 65535 else { return nil }
        return numbers[0]...numbers[1]
    }

    /// Windows the range needs.
    var windows: Int { (configuration.ports.count + windowPorts - 1) / windowPorts }

    /// Binds the next window and announces it; false when the range is done.
    func openNextWindow() -> Bool {
        closeWindow()
        guard windowStart <= Int(configuration.ports.upperBound) else { return false }
        let windowEnd = min(Int(configuration.ports.upperBound), windowStart + windowPorts - 1)
        window = PortRange(lowerBound: UInt16(windowStart), upperBound: UInt16(windowEnd))
        reported = false
        var bound = 0
        var skipped = 0
        var failed = 0
        var firstFailure: String?
        for address in configuration.addresses {
            for port in windowStart...windowEnd {
                do throws(SystemError) {
                    let socketAddress = try InternetSocketAddress(parsing: ProbeAddress.endpoint(address, UInt16(port)))
                    let fd = try Syscall.tcpListener(socketAddress, backlog: 64)
                    let handler = ListenerHandler(beacon: self, fd: fd)
                    do { listeners[fd] = (try loop.register(fd, events: .readable, handler: handler), handler) } catch {
                        Syscall.close(fd)
                        throw error
                    }
                    bound += 1
                } catch {
                    if error.errno == EADDRINUSE {
                        skipped += 1
                    } else {
                        failed += 1
                        if firstFailure == nil { firstFailure = "\(ProbeAddress.endpoint(address, UInt16(port))): \(error)" }
                    }
                }
            }
        }
        if let firstFailure { FileHandleWriter.standardError("hostess-beacon: \(failed) ports could not be bound, first \(firstFailure)\n") }
        if windows > 1 {
            FileHandleWriter.standardError(
                "hostess-beacon: descriptor limit \(descriptorLimit): covering \(configuration.ports) in \(windows) windows of \(windowPorts) ports; now \(windowStart)-\(windowEnd)\n")
        }
        emit([
            "type": "BEACON_READY", "window": [.int(Int64(windowStart)), .int(Int64(windowEnd))], "windows": .int(Int64(windows)),
            "bound": .int(Int64(bound)), "skipped": .int(Int64(skipped)), "failed": .int(Int64(failed)),
            "descriptorLimit": .int(Int64(clamping: descriptorLimit)),
        ])
        windowStart = windowEnd + 1
        return true
    }

    /// Closes the current window's listeners (connections already accepted finish on their own).
    func closeWindow() {
        for (fd, listener) in listeners {
            loop.unregister(fd, token: listener.token, watched: true)
            Syscall.close(fd)
        }
        listeners.removeAll()
    }

    /// The probe reported and completed: say what it found, then go on.
    func reportArrived(_ report: ProbeReport) {
        guard !reported else { return }
        reported = true
        var object: JSONObject = ["type": "BEACON_RESULTS", "window": [.int(Int64(window.lowerBound)), .int(Int64(window.upperBound))]]
        for (key, value) in report.members { object[key] = value }
        emit(object)
        advance()
    }

    /// Moves to the next window, or finishes.
    func advance() {
        if !openNextWindow() {
            emit(["type": "BEACON_DONE", "refused": .int(Int64(refused))])
            loop.stop()
        }
    }

    // MARK: Accepting

    /// Accepts what waits on `fd`.
    func accept(on fd: Int32) {
        while true {
            let accepted: Int32?
            do { accepted = try Syscall.accept(fd) } catch { return }
            guard let connection = accepted else { return }
            guard sessions < Self.maximumSessions else {
                Syscall.close(connection)
                continue
            }
            let session = BeaconSession(beacon: self)
            do {
                _ = try StreamChannel(
                    label: "probe", inputFD: connection, outputFD: connection, isSocket: true, loop: loop,
                    timeouts: StreamDeadlines.Timeouts(request: 5_000_000_000, idle: nil, write: 5_000_000_000),
                    inputLimit: ProbeReport.maximumBytes + 65536, delegate: session)
                sessions += 1
            } catch {
                Syscall.close(connection)
            }
        }
    }
}

/// Every listener reports to the beacon; the listener itself only says which descriptor is ready.
final class ListenerHandler: LoopHandler {
    unowned let beacon: Beacon
    let fd: Int32
    init(beacon: Beacon, fd: Int32) {
        self.beacon = beacon
        self.fd = fd
    }
    func handle(_ event: LoopEvent, on loop: Loop) { beacon.accept(on: fd) }
}

// MARK: - A probe's connection

/// One connection: the probe's hash, the beacon's answer, then (on the probe's report connection) the
/// report and the completion. Anything else closes it.
final class BeaconSession: StreamChannelDelegate {
    unowned let beacon: Beacon
    private var lines = ProbeLines(limit: ProbeMessage.maximumLineBytes)
    private var nonce: String?
    private var report: ProbeReport?

    init(beacon: Beacon) { self.beacon = beacon }

    func channelRead(_ channel: StreamChannel, received: Int) {
        while !channel.isClosed {
            switch lines.next(in: channel.input.unconsumed) {
            case .incomplete:
                if channel.inputClosed { channel.close(reason: nil) }
                return
            case .tooLong:
                return refuse(channel)
            case .line(let line, let consumed):
                let bytes = Array(line)
                channel.input.consume(consumed)
                handle(bytes, on: channel)
            }
        }
    }

    private func handle(_ line: [UInt8], on channel: StreamChannel) {
        let passphrase = beacon.configuration.passphrase
        guard let nonce else {
            guard case .probe(let hash)? = try? ProbeMessage(line: line), ProbeSecrets.equal(hash, beacon.configuration.probeHash) else {
                return refuse(channel)
            }
            let fresh = ProbeSecrets.random(bytes: ProbeSecrets.nonceDigits / 2)
            self.nonce = fresh
            channel.enqueue { $0 += ProbeMessage.line(.beacon(hash: ProbeSecrets.responseHash(probeHash: hash, passphrase: passphrase), nonce: fresh)) }
            // From here the connection may carry the report: the probe sends it at the end of its scan.
            channel.deadlines.requestStartedAt = nil
            channel.deadlines.isWaiting = true
            lines.limit = ProbeReport.maximumBytes
            return
        }
        switch try? ProbeMessage(line: line) {
        case .results(let found, let mac)?:
            guard report == nil, let covered = ProbeMessage.reportCovers(line),
                ProbeSecrets.verify(mac: mac, passphrase: passphrase, nonce: nonce, covered)
            else { return refuse(channel) }
            report = found
        case .complete(let mac)?:
            guard let report, ProbeSecrets.equal(mac, ProbeMessage.completeMAC(passphrase: passphrase, nonce: nonce)) else { return refuse(channel) }
            channel.enqueue {
                $0 += ProbeMessage.line(
                    .terminate(hash: ProbeSecrets.terminateHash(passphrase: passphrase), mac: ProbeMessage.terminateMAC(passphrase: passphrase, nonce: nonce)))
            }
            channel.closesWhenFlushed = true
            beacon.reportArrived(report)
        default:
            refuse(channel)
        }
    }

    private func refuse(_ channel: StreamChannel) {
        beacon.refused += 1
        channel.close(reason: "not the probe protocol")
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) { channel.close(reason: "timed out") }

    func channelClosed(_ channel: StreamChannel, reason: String?) { beacon.sessions -= 1 }
}

// MARK: - Standard input

/// `NEXT` gives up the current window; end of input stops the beacon.
final class Control: LoopHandler {
    unowned let beacon: Beacon
    private var buffer: [UInt8] = []
    init(beacon: Beacon) { self.beacon = beacon }

    func handle(_ event: LoopEvent, on loop: Loop) {
        var chunk = [UInt8](repeating: 0, count: 256)
        let read = chunk.withUnsafeMutableBytes { buffer in
            Result { () throws(SystemError) in try Syscall.read(0, into: buffer.baseAddress!, count: buffer.count) }
        }
        if case .success(nil) = read { return }
        guard case .success(let available?) = read, available > 0 else {
            // End of input (or a broken pipe): the Executor is gone.
            beacon.closeWindow()
            loop.stop()
            return
        }
        let count = available
        buffer += chunk[..<count]
        while let newline = buffer.firstIndex(of: 0x0A) {
            let line = String(decoding: buffer[..<newline], as: UTF8.self)
            buffer.removeSubrange(...newline)
            if line == "NEXT" { beacon.advance() }
        }
        if buffer.count > 256 { buffer.removeAll() }
    }
}

// MARK: - Main

FileHandleWriter.lineBufferStandardOutput()
Syscall.ignoreBrokenPipes()
let environment = EnvironmentVariables.current
let configuration: BeaconConfiguration
do { configuration = try BeaconConfiguration(environment: environment) } catch {
    fail("bad instructions: \(error) (see docs/probing.md)", status: 2)
}
// Registering is best effort: without a hostessd at HOSTESS_SOCKET (or the default) the run goes on.
let client = await HostessClient.signIn(
    name: "hostess-beacon", classCode: ClassCode(0x00FE), capabilities: ["probe-beacon"],
    metadata: ["ports": .string(configuration.ports.description), "addresses": .array(configuration.addresses.map(JSONValue.string))], environment: environment)
let loop: Loop
do { loop = try Loop() } catch { fail("\(error)", status: 1) }
let beacon = Beacon(configuration: configuration, loop: loop)
let control = Control(beacon: beacon)
do { _ = try loop.register(0, events: .readable, handler: control) } catch { fail("cannot watch standard input: \(error)", status: 1) }
guard beacon.openNextWindow() else { fail("the range is empty", status: 2) }
do { try loop.run {} } catch { fail("\(error)", status: 1) }
client?.close()
exit(0)
