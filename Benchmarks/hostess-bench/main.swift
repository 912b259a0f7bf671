// hostess-bench: lookups in process against lookups through hostessd, in one run, on this machine.
//
// Build in release and run through Scripts/bench.sh, or directly:
//   swift build -c release && .build/release/hostess-bench [--quick] [--json] [--entries 1000,10000]

import Foundation
import Glibc
import Synchronization
import HostessModel
import HostessRegion
import HostessSystem

// MARK: - Options

struct Options {
    var quick = false
    var json = false
    var entries = [1_000, 10_000]
    /// `--lookups N SHM ID`: only look `ID` up N times in region SHM and exit (for counting allocations
    /// under valgrind: the zero-copy path must make none).
    var probe: (count: Int, name: String, id: String)?

    init(_ arguments: [String]) {
        var index = 0
        while index < arguments.count {
            switch arguments[index] {
            case "--quick": quick = true
            case "--json": json = true
            case "--entries":
                index += 1
                let sizes = index < arguments.count ? arguments[index].split(separator: ",").compactMap { Int($0) } : []
                guard !sizes.isEmpty, sizes.allSatisfy({ (1...1_000_000).contains($0) }) else {
                    usage("--entries takes sizes like 1000,10000")
                }
                entries = sizes
            case "--lookups":
                guard index + 3 < arguments.count, let count = Int(arguments[index + 1]) else { usage("--lookups N SHM ID") }
                probe = (count, arguments[index + 2], arguments[index + 3])
                index += 3
            case "-h", "--help":
                print("usage: hostess-bench [--quick] [--json] [--entries N[,N…]]")
                exit(0)
            default: usage("unknown argument '\(arguments[index])'")
            }
            index += 1
        }
    }
}

func usage(_ message: String) -> Never {
    FileHandleWriter.standardError("hostess-bench: \(message)\n")
    exit(2)
}

// MARK: - Workload

/// `count` registrations with distinct ids, 64 classes and capabilities drawn from a pool of 32.
func workload(_ count: Int) -> [Registration] {
    var generator = SplitMix64(seed: 42)
    return (0..<count).compactMap { index in
        let uuid = Fixtures.uuid(from: &generator)
        let capabilities = (0..<4).map { _ in "cap\(generator.next() % 32)" }
        guard
            let name = try? ServerName(
                fqdn: "bench.local", servername: "server-\(index % 97)", classCode: ClassCode(UInt16(index % 64)),
                owner: "root", authentication: .no, authMechanism: "none", uuid: uuid),
            let input = try? Terminal(name: "input", direction: .input, multiplexing: .none),
            let output = try? Terminal(name: "output", direction: .output, multiplexing: .fanout)
        else { return nil }
        return try? Registration(
            name: name, terminals: [input, output], capabilities: Array(Set(capabilities)).sorted(),
            metadata: ["index": .int(Int64(index))])
    }
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Fixtures {
    static func uuid(from generator: inout SplitMix64) -> String {
        let hex = Array("0123456789abcdef")
        var text = ""
        for position in 0..<32 {
            if [8, 12, 16, 20].contains(position) { text.append("-") }
            text.append(hex[Int(generator.next() % 16)])
        }
        return text
    }
}

// MARK: - Daemon

/// A hostessd started from the same build, on a private socket, stopped when the run ends.
final class BenchDaemon {
    let process = Process()
    let socketPath: String
    let sharedMemoryName: String
    let directory: String

    init() throws {
        var template = Array("/tmp/hostess-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
        directory = String(cString: made)
        socketPath = directory + "/hostess.sock"
        sharedMemoryName = "/hostess-bench-\(getpid())-\(SystemClock.monotonicNanoseconds() % 1_000_000)"
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.executableURL = URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("hostessd")
        process.arguments = ["--socket", socketPath, "--ttl", "3600", "--shm", sharedMemoryName, "--capacity", "200000"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<500 {
            if let client = try? LineClient(path: socketPath) {
                client.close()
                return
            }
            usleep(10_000)
        }
        throw SystemError("hostessd did not start", errno: ETIMEDOUT)
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A blocking request/response client: the floor of what the socket path costs.
final class LineClient: @unchecked Sendable {
    let fd: Int32
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []

    init(path: String) throws {
        // Assigned only once connected: a throwing init of a fully initialized class still runs deinit,
        // which would close the descriptor a second time.
        let socket = try Syscall.unixStreamSocket(nonBlocking: false)
        do { try Syscall.connect(socket, to: try UnixSocketAddress(path: path)) } catch {
            Syscall.close(socket)
            throw error
        }
        fd = socket
    }

    func close() { Syscall.close(fd) }

    /// Sends `line` and returns the reply line's bytes.
    func roundTrip(_ line: [UInt8]) -> ArraySlice<UInt8> {
        try? Syscall.writeAll(fd, line, socket: true)
        return readLine()
    }

    /// Sends many lines at once and reads as many replies.
    func pipelined(_ lines: [[UInt8]]) {
        try? Syscall.writeAll(fd, Array(lines.joined()), socket: true)
        for _ in lines { _ = readLine() }
    }

    private func readLine() -> ArraySlice<UInt8> {
        var scanned = 0
        while true {
            if let newline = pending[scanned...].firstIndex(of: 0x0A) {
                let line = pending[..<newline]
                pending.removeSubrange(...newline)
                return line
            }
            scanned = pending.count
            let count = chunk.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return Glibc.read(fd, base, raw.count)
            }
            guard count > 0 else { return [] }
            pending.append(contentsOf: chunk[..<count])
        }
    }
}

// MARK: - Rows

/// An atomic counter shared with a thread.
final class Counter: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int) { value = Atomic(initial) }
}

nonisolated(unsafe) var sink: UInt64 = 0

func lookupRows(entries count: Int, daemon: BenchDaemon, quick: Bool) throws -> [Measurement] {
    let registrations = workload(count)
    let ids = registrations.map { $0.name.description }
    var rows: [Measurement] = []

    // The floor: a Swift Dictionary of the same entries, in this process.
    var book = GuestBook(ttlNanoseconds: 3_600_000_000_000)
    let now = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: SystemClock.monotonicNanoseconds())
    var dictionary: [String: GuestBookEntry] = [:]
    for registration in registrations {
        if let entry = try? book.register(registration, by: .daemon, session: nil, now: now).entry { dictionary[entry.id] = entry }
    }
    var order = Array(0..<ids.count)
    var generator = SplitMix64(seed: 7)
    order.shuffle(using: &generator)
    rows.append(
        measure("lookup-by-id", "in-process", entries: count, samples: quick ? 2_000 : 20_000, batch: 64) { call in
            sink &+= dictionary[ids[order[call % order.count]]]?.serial ?? 0
        })

    // The socket: one connection, request/response, reply parsed as JSON.
    let client = try LineClient(path: daemon.socketPath)
    defer { client.close() }
    let registers = registrations.enumerated().map { index, registration in
        JSONValue.object(["id": .int(Int64(index)), "command": "register", "entry": registration.json]).jsonBytes + [0x0A]
    }
    for start in stride(from: 0, to: registers.count, by: 500) { client.pipelined(Array(registers[start..<min(start + 500, registers.count)])) }
    let requests = ids.map { id in Array(#"{"id":1,"command":"getServer","serverId":"\#(id)"}"#.utf8) + [0x0A] }
    rows.append(
        measure("lookup-by-id", "socket", entries: count, samples: quick ? 2_000 : 20_000, batch: 1, warmup: 500) { call in
            let reply = client.roundTrip(requests[order[call % order.count]])
            if case .object(let object)? = try? JSONParser.parse(reply) { sink &+= UInt64(object.count) }
        })
    // The shared-memory reader: zero-copy lookup of the entry's serial, no writer.
    let shmName = daemon.sharedMemoryName
    let reader = try RegionReader(name: shmName)
    let idBytes = ids.map { Array($0.utf8) }
    func shmLookup(_ call: Int) {
        idBytes[order[call % order.count]].withUnsafeBytes { raw in
            sink &+= (try? reader.withEntry(id: raw) { $0?.serial ?? 0 }) ?? 0
        }
    }
    rows.append(measure("lookup-by-id", "shm", entries: count, samples: quick ? 2_000 : 20_000, batch: 64, shmLookup))

    // Under a busy writer: another thread re-registers entries over the socket as fast as hostessd takes them.
    let writerClient = try LineClient(path: daemon.socketPath)
    defer { writerClient.close() }
    let running = Counter(1)
    let written = Counter(0)
    let writerThread = Thread {
        var index = 0
        while running.value.load(ordering: .relaxed) == 1 {
            let batch = (0..<32).map { offset in registers[(index &+ offset) % registers.count] }
            index &+= 32
            writerClient.pipelined(batch)
            written.value.add(32, ordering: .relaxed)
        }
    }
    let retriesBefore = reader.retries
    writerThread.start()
    usleep(100_000)
    let writesBefore = written.value.load(ordering: .relaxed)
    let busyStart = SystemClock.monotonicNanoseconds()
    var busy = measure("lookup-under-writes", "shm", entries: count, samples: quick ? 2_000 : 20_000, batch: 64, shmLookup)
    let busySeconds = Double(SystemClock.monotonicNanoseconds() - busyStart) / 1e9
    let writes = written.value.load(ordering: .relaxed) - writesBefore
    running.value.store(0, ordering: .relaxed)
    while writerThread.isExecuting { usleep(1_000) }
    let retries = reader.retries - retriesBefore
    let lookups = Double(busy.samples.count * 64 + 100 * 64)
    busy.note = "writer \(Int(Double(writes) / busySeconds)) changes/s; reader retried \(format3(Double(retries) / lookups * 100))% of lookups"
    rows.append(busy)
    return rows
}

// MARK: - Main

Syscall.ignoreBrokenPipes()
let options = Options(Array(CommandLine.arguments.dropFirst()))
if let probe = options.probe {
    do {
        let reader = try RegionReader(name: probe.name)
        let id = Array(probe.id.utf8)
        var found: UInt64 = 0
        id.withUnsafeBytes { raw in
            for _ in 0..<probe.count { found &+= (try? reader.withEntry(id: raw) { $0?.serial ?? 0 }) ?? 0 }
        }
        print("\(probe.count) lookups, serial sum \(found)")
        exit(0)
    } catch {
        usage("\(error)")
    }
}
var rows: [Measurement] = []
do {
    for size in options.entries {
        let daemon = try BenchDaemon()
        rows += try lookupRows(entries: size, daemon: daemon, quick: options.quick)
    }
} catch {
    usage("\(error)")
}
if options.json {
    for row in rows {
        var object = row.json.objectValue ?? [:]
        object["ratio_to_floor"] = ratioToFloor(row, in: rows).map(JSONValue.double) ?? .null
        print(JSONValue.object(object).jsonText)
    }
} else {
    print(markdown(rows))
}
