import Foundation
import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import Synchronization

// MARK: - Setup

/// Keeps results alive so the optimizer cannot drop the measured work.
nonisolated(unsafe) var sink: UInt64 = 0

/// An atomic counter shared with a thread.
final class Counter: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int) { value = Atomic(initial) }
}

/// One guest book size: a daemon holding the entries, the same entries in process, and a reader.
final class Fixture: @unchecked Sendable {
    let count: Int
    let daemon: BenchDaemon
    let registrations: [Registration]
    let ids: [String]
    let idBytes: [[UInt8]]
    /// Lookup order: the ids shuffled, so caches see no pattern.
    let order: [Int]
    let entries: [String: GuestBookEntry]
    /// The floor: the same entries behind references, so a lookup is a hash, a key compare and a load, with
    /// no copy of the entry.
    let table: [String: EntryBox]
    let reader: RegionReader
    /// Register requests, one line each.
    let registerLines: [[UInt8]]

    init(count: Int) throws {
        self.count = count
        daemon = try BenchDaemon(capacity: count)
        registrations = workload(count)
        ids = registrations.map { $0.name.description }
        idBytes = ids.map { Array($0.utf8) }
        var shuffled = Array(0..<ids.count)
        var generator = SplitMix64(seed: 7)
        shuffled.shuffle(using: &generator)
        order = shuffled
        var book = GuestBook(ttlNanoseconds: 3_600_000_000_000)
        let now = Timestamp(wallMilliseconds: SystemClock.wallMilliseconds(), monotonicNanoseconds: SystemClock.monotonicNanoseconds())
        var entries: [String: GuestBookEntry] = [:]
        for registration in registrations {
            if let entry = try? book.register(registration, by: .daemon, session: nil, now: now).entry { entries[entry.id] = entry }
        }
        self.entries = entries
        table = entries.mapValues(EntryBox.init)
        registerLines = registrations.enumerated().map { index, registration in
            JSONValue.object(["id": .int(Int64(index)), "command": "register", "entry": registration.json]).jsonBytes + [0x0A]
        }
        let client = try LineClient(path: daemon.socketPath)
        defer { client.close() }
        for start in stride(from: 0, to: registerLines.count, by: 500) {
            client.pipelined(Array(registerLines[start..<min(start + 500, registerLines.count)]))
        }
        reader = try RegionReader(name: daemon.sharedMemoryName)
    }

    /// One zero-copy shared-memory lookup, by position in the shuffled order.
    @inline(__always)
    func shmLookup(_ call: Int) {
        idBytes[order[call % order.count]].withUnsafeBytes { raw in
            sink &+= (try? reader.withEntry(id: raw) { $0?.serial ?? 0 }) ?? 0
        }
    }
}

/// An entry held by reference, for the in-process floor.
final class EntryBox {
    /// The entry.
    let entry: GuestBookEntry
    init(_ entry: GuestBookEntry) { self.entry = entry }
}

/// Samples per row: fewer in quick mode and for the slow (socket, Redis) paths.
func samples(_ quick: Bool, slow: Bool = false) -> Int {
    switch (quick, slow) {
    case (true, true): 1_000
    case (true, false): 2_000
    case (false, true): 10_000
    case (false, false): 20_000
    }
}

// MARK: - 1. Lookup by id

func lookupRows(_ fixture: Fixture, options: Options) throws -> [Measurement] {
    let count = fixture.count
    var rows: [Measurement] = []
    rows.append(
        measure("lookup-by-id", "in-process", entries: count, samples: samples(options.quick), batch: 64) { call in
            sink &+= fixture.table[fixture.ids[fixture.order[call % fixture.order.count]]]?.entry.serial ?? 0
        })
    rows.append(measure("lookup-by-id", "shm", entries: count, samples: samples(options.quick), batch: 64, fixture.shmLookup))
    let client = try LineClient(path: fixture.daemon.socketPath)
    defer { client.close() }
    let requests = fixture.ids.map(getServerLine)
    rows.append(
        measure("lookup-by-id", "socket", entries: count, samples: samples(options.quick, slow: true), batch: 1, warmup: 500) { call in
            socketLookup(client, requests[fixture.order[call % fixture.order.count]])
        })
    rows.append(try redisRow(fixture, options: options))
    return rows
}

/// The `getServer` request line the socket lookup rows send for `id`.
func getServerLine(_ id: String) -> [UInt8] {
    Array(#"{"id":1,"command":"getServer","serverId":"\#(id)"}"#.utf8) + [0x0A]
}

/// One socket lookup, as the lookup-by-id and idle-load rows time it: a `getServer` round trip with the reply
/// parsed. Returns the parsed reply, or nil when it was not a JSON object (the connection failed).
@discardableResult
func socketLookup(_ client: LineClient, _ request: [UInt8]) -> JSONObject? {
    let reply = client.roundTrip(request)
    guard case .object(let object)? = try? JSONParser.parse(reply) else { return nil }
    sink &+= UInt64(object.count)
    return object
}

/// Redis GET of the entry stored as its JSON, over Redis's Unix socket, reply parsed as JSON.
func redisRow(_ fixture: Fixture, options: Options) throws -> Measurement {
    guard let path = options.redisSocket, let redis = try? RedisClient(path: path) else {
        return Measurement.skipped("lookup-by-id", "redis", entries: fixture.count, reason: options.redisSkipReason)
    }
    for (id, entry) in fixture.entries { redis.set("hostess:\(fixture.count):\(id)", entry.json.jsonBytes) }
    let keys = fixture.ids.map { Array("hostess:\(fixture.count):\($0)".utf8) }
    return measure("lookup-by-id", "redis", entries: fixture.count, samples: samples(options.quick, slow: true), batch: 1, warmup: 500) { call in
        let value = redis.get(keys[fixture.order[call % fixture.order.count]])
        if case .object(let object)? = try? JSONParser.parse(value) { sink &+= UInt64(object.count) }
    }
}

// MARK: - 2. Filtered query

func queryRows(_ fixture: Fixture, options: Options) throws -> [Measurement] {
    let count = fixture.count
    let all = Array(fixture.entries.values)
    var rows: [Measurement] = []
    let matches = all.filter(benchmarkFilter.matches).count
    let note = "\(matches) matches (\(format3(Double(matches) / Double(count) * 100))%)"
    var floor = measure("query", "in-process", entries: count, samples: samples(options.quick, slow: true), batch: 1) { _ in
        sink &+= UInt64(all.reduce(0) { $0 + (benchmarkFilter.matches($1) ? 1 : 0) })
    }
    floor.note = note
    rows.append(floor)
    var shm = measure("query", "shm", entries: count, samples: samples(options.quick, slow: true), batch: 1) { _ in
        sink &+= UInt64((try? fixture.reader.count(benchmarkFilter)) ?? 0)
    }
    shm.note = note + "; zero-copy scan counting matches"
    rows.append(shm)
    let client = try LineClient(path: fixture.daemon.socketPath)
    defer { client.close() }
    let request = JSONValue.object(["id": 1, "command": "query", "filter": benchmarkFilter.json]).jsonBytes + [0x0A]
    var socket = measure("query", "socket", entries: count, samples: options.quick ? 200 : 2_000, batch: 1, warmup: 50) { _ in
        let reply = client.roundTrip(request)
        if let decoded = EntryReply(line: reply), case .entries(let entries) = decoded.payload { sink &+= UInt64(entries.count) }
    }
    socket.note = note + "; reply decoded into entries as HostessClient.query does (EntryReply)"
    rows.append(socket)
    var unparsed = measure("query", "socket", entries: count, samples: options.quick ? 200 : 2_000, batch: 1, warmup: 50) { _ in
        sink &+= UInt64(client.roundTrip(request).count)
    }
    unparsed.note = note + "; reply received, not parsed (hostessd's part)"
    rows.append(unparsed)
    return rows
}

// MARK: - 3. Lookup under writes

/// A thread that toggles terminals over the socket at a given rate (0: as fast as hostessd takes them).
final class Writer: @unchecked Sendable {
    private let thread: Thread
    private let running = Counter(1)
    let changes = Counter(0)

    init(socket: String, ids: [String], perSecond: Int) throws {
        let client = try LineClient(path: socket)
        let running = running
        let changes = changes
        thread = Thread {
            defer { client.close() }
            var index = 0
            let started = SystemClock.monotonicNanoseconds()
            while running.value.load(ordering: .relaxed) == 1 {
                var batch: [[UInt8]] = []
                for _ in 0..<16 {
                    let id = ids[index % ids.count]
                    let command = (index / ids.count) % 2 == 0 ? "markInUse" : "markAvailable"
                    batch.append(Array(#"{"id":1,"command":"\#(command)","serverId":"\#(id)","terminal":"output","connectomeId":"bench"}"#.utf8) + [0x0A])
                    index += 1
                }
                client.pipelined(batch)
                let done = changes.value.add(16, ordering: .relaxed).newValue
                if perSecond > 0 {
                    let due = started + UInt64(Double(done) / Double(perSecond) * 1e9)
                    let now = SystemClock.monotonicNanoseconds()
                    if due > now { usleep(UInt32(min((due - now) / 1_000, 1_000_000))) }
                }
            }
        }
        thread.start()
    }

    func stop() {
        running.value.store(0, ordering: .relaxed)
        while thread.isExecuting { usleep(1_000) }
    }
}

func underWritesRows(_ fixture: Fixture, options: Options) throws -> [Measurement] {
    var rows: [Measurement] = []
    let rates = options.quick ? [0, 10_000] : [0, 1_000, 10_000, -1]
    for rate in rates {
        let writer = rate == 0 ? nil : try Writer(socket: fixture.daemon.socketPath, ids: fixture.ids, perSecond: max(rate, 0))
        usleep(rate == 0 ? 0 : 100_000)
        let changesBefore = writer?.changes.value.load(ordering: .relaxed) ?? 0
        let retriesBefore = fixture.reader.retries
        let started = SystemClock.monotonicNanoseconds()
        var row = measure("lookup-under-writes", "shm", entries: fixture.count, samples: samples(options.quick), batch: 64, fixture.shmLookup)
        let seconds = Double(SystemClock.monotonicNanoseconds() - started) / 1e9
        let changes = (writer?.changes.value.load(ordering: .relaxed) ?? 0) - changesBefore
        writer?.stop()
        let lookups = Double((row.samples.count + 100) * 64)
        let retries = Double(fixture.reader.retries - retriesBefore)
        row.variant = "shm"
        row.note = "writer \(rate < 0 ? "max" : String(rate)) → \(Int(Double(changes) / seconds)) changes/s; retries \(format3(retries / lookups * 100))% of lookups"
        rows.append(row)
    }
    return rows
}

// MARK: - 4. Two readers

func twoReaderRows(_ fixture: Fixture, options: Options) throws -> [Measurement] {
    var rows: [Measurement] = []
    // Threads: a second thread looks up at full speed while this one measures.
    let running = Counter(1)
    let reader = fixture.reader
    let ids = fixture.idBytes
    let other = Thread {
        var index = 0
        var local: UInt64 = 0
        while running.value.load(ordering: .relaxed) == 1 {
            ids[index % ids.count].withUnsafeBytes { raw in local &+= (try? reader.withEntry(id: raw) { $0?.serial ?? 0 }) ?? 0 }
            index &+= 7
        }
        if local == 1 { print("") }
    }
    other.start()
    var threads = measure("two-readers", "shm", entries: fixture.count, samples: samples(options.quick), batch: 64, fixture.shmLookup)
    running.value.store(0, ordering: .relaxed)
    while other.isExecuting { usleep(1_000) }
    threads.note = "threads: this one measured while a second looks up at full speed"
    rows.append(threads)
    // Processes: a second hostess-bench process spins on lookups while this one measures.
    let process = Process()
    process.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
    process.arguments = ["--spin-reader", fixture.daemon.sharedMemoryName, options.quick ? "3" : "6"]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    usleep(200_000)
    var processes = measure("two-readers", "shm", entries: fixture.count, samples: samples(options.quick), batch: 64, fixture.shmLookup)
    process.terminate()
    process.waitUntilExit()
    processes.note = "processes: this one measured while another process looks up at full speed"
    rows.append(processes)
    return rows
}

/// The second reader process: looks up every entry in turn for `seconds`.
func spinReader(name: String, seconds: Double) throws {
    let reader = try RegionReader(name: name)
    let ids = try reader.listAll().map { Array($0.id.utf8) }
    guard !ids.isEmpty else { return }
    let deadline = SystemClock.monotonicNanoseconds() + UInt64(seconds * 1e9)
    var index = 0
    while SystemClock.monotonicNanoseconds() < deadline {
        for _ in 0..<1024 {
            ids[index % ids.count].withUnsafeBytes { raw in sink &+= (try? reader.withEntry(id: raw) { $0?.serial ?? 0 }) ?? 0 }
            index &+= 1
        }
    }
}

// MARK: - 5. Write path

func writeRows(_ fixture: Fixture, options: Options) throws -> [Measurement] {
    var rows: [Measurement] = []
    let count = fixture.count
    for connections in [1, 16] {
        for command in ["register", "heartbeat", "markInUse"] {
            let perConnection = (options.quick ? 400 : 2_000) / connections
            let lines: @Sendable (Int) -> [UInt8] = { index in
                let id = fixture.ids[index % fixture.ids.count]
                switch command {
                case "register": return fixture.registerLines[index % fixture.registerLines.count]
                case "heartbeat": return Array(#"{"id":1,"command":"heartbeat","serverId":"\#(id)"}"#.utf8) + [0x0A]
                default:
                    return Array(#"{"id":1,"command":"markInUse","serverId":"\#(id)","terminal":"output","connectomeId":"w\#(index % 8)"}"#.utf8) + [0x0A]
                }
            }
            let clients = try (0..<connections).map { _ in try LineClient(path: fixture.daemon.socketPath) }
            let results = Mutex<[Double]>([])
            let group = DispatchGroup()
            let started = SystemClock.monotonicNanoseconds()
            for (number, client) in clients.enumerated() {
                DispatchQueue.global().async(group: group) {
                    var timings: [Double] = []
                    timings.reserveCapacity(perConnection)
                    for call in 0..<perConnection {
                        let line = lines(number * perConnection + call)
                        let before = SystemClock.monotonicNanoseconds()
                        _ = client.roundTrip(line)
                        timings.append(Double(SystemClock.monotonicNanoseconds() - before))
                    }
                    results.withLock { $0 += timings }
                }
            }
            group.wait()
            let elapsed = Double(SystemClock.monotonicNanoseconds() - started) / 1e9
            for client in clients { client.close() }
            let timings = results.withLock { $0 }.sorted()
            rows.append(
                Measurement(
                    benchmark: "write", variant: "socket", entries: count, samples: timings,
                    opsPerSecond: Double(timings.count) / elapsed, note: "\(command), \(connections) connection\(connections == 1 ? "" : "s")"))
        }
    }
    // Publication delay: a markInUse is sent, and a reader spins on the region until its revision moves.
    let client = try LineClient(path: fixture.daemon.socketPath)
    defer { client.close() }
    var delays: [Double] = []
    for call in 0..<(options.quick ? 500 : 2_000) {
        // Alternate in use / available on the same terminal, so every request is a change.
        let id = fixture.ids[call % fixture.ids.count]
        let command = (call / fixture.ids.count) % 2 == 0 ? "markInUse" : "markAvailable"
        let before = fixture.reader.revision
        let line = Array(#"{"id":1,"command":"\#(command)","serverId":"\#(id)","terminal":"input","connectomeId":"delay"}"#.utf8) + [0x0A]
        let sent = SystemClock.monotonicNanoseconds()
        client.send(line)
        while fixture.reader.revision == before && SystemClock.monotonicNanoseconds() - sent < 1_000_000_000 {}
        delays.append(Double(SystemClock.monotonicNanoseconds() - sent))
        _ = client.receive()
    }
    rows.append(
        Measurement(
            benchmark: "write", variant: "shm", entries: count, samples: delays.sorted(), opsPerSecond: 0,
            note: "publication delay: request sent → change visible in the region"))
    return rows
}

// MARK: - 6. Cost

func costRows(_ fixture: Fixture, options: Options) throws -> [Measurement] {
    let layout = fixture.reader.layout
    var attach: [Double] = []
    for _ in 0..<(options.quick ? 200 : 1_000) {
        let before = SystemClock.monotonicNanoseconds()
        let reader = try RegionReader(name: fixture.daemon.sharedMemoryName)
        attach.append(Double(SystemClock.monotonicNanoseconds() - before))
        sink &+= reader.revision
    }
    let payload = fixture.entries.values.reduce(0) { $0 + GuestBook.payloadSize(of: $1) } / max(1, fixture.count)
    let memory = fixture.daemon.memory
    func mebibytes(_ bytes: Int) -> String { "\((Double(bytes) / 1_048_576 * 10).rounded() / 10) MiB" }
    let fixed = RegionLayout.summarySize + RegionLayout.recordSize + layout.indexSlots * RegionLayout.indexSlotSize / layout.capacity + 8
    return [
        Measurement(
            benchmark: "cost", variant: "shm", entries: fixture.count, samples: attach.sorted(), opsPerSecond: 0,
            note: "attach: open + checks + map"),
        Measurement.value(
            "cost", "shm", entries: fixture.count, value: Double(layout.regionSize) / Double(fixture.count), unit: "bytes/entry",
            note: "region size / entries (virtual; per copy \(fixed) fixed + \(payload) payload bytes used per entry)"),
        Measurement.value(
            "cost", "socket", entries: fixture.count, value: Double(memory.resident), unit: "bytes",
            note: "hostessd resident memory (VmRSS): \(mebibytes(memory.anonymous)) heap (RssAnon), "
                + "\(mebibytes(memory.shared)) region pages written (RssShmem), \(mebibytes(memory.file)) code (RssFile)"),
    ]
}
