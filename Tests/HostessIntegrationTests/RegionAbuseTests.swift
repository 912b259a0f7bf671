import Foundation
import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import Testing

/// Issue 10: one local user must not be able to stop the Hostess through its shared-memory region, and readers
/// survive what the region's owner does to it. Each test first mounts the attack, as user `nobody` (through
/// setpriv) wherever the attack needs no privilege.
@Suite("shared-memory region under attack")
struct RegionAbuseTests {
    static let python = "/usr/bin/python3"
    static let pythonReader = DocumentedReaderTests.root + "/docs/examples/shm_reader.py"

    /// A fresh region name and its path under /dev/shm.
    static func freshName() -> (name: String, path: String) {
        let name = "/hostess-test-" + UUID().uuidString.lowercased()
        return (name, SharedMemory.directory + name)
    }

    /// Runs `code` with python3 as user nobody and requires it to succeed.
    static func asNobody(_ code: String) throws {
        let outcome = try CLI.run(python, ["-c", code], asNobody: true)
        try #require(outcome.status == 0, "\(outcome)")
    }

    /// Runs `executable`, requiring it to finish in under 2 s (the attack made readers block forever).
    static func runFast(_ executable: String, _ arguments: [String]) throws -> CLI.Outcome {
        let start = ContinuousClock.now
        let outcome = try CLI.run(executable, arguments, timeout: 10)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed < .seconds(2), "\(executable) \(arguments) took \(elapsed)")
        return outcome
    }

    // MARK: A FIFO under the region name

    @Test("a FIFO another user made at the region name: shmdump, hostess --via shm and the Python reader fail at once")
    func fifoAtRegionName() throws {
        let (name, path) = Self.freshName()
        defer { unlink(path) }
        try Self.asNobody("import os; os.mkfifo('\(path)', 0o666)")
        let scratch = try ScratchDirectory()

        let dumped = try Self.runFast(Binaries.path("shmdump"), ["--shm", name])
        #expect(dumped.status == 1, "\(dumped)")
        #expect(dumped.stderr.contains("is a FIFO"), "\(dumped)")
        #expect(dumped.stderr.contains("uid 65534 (nobody)"), "\(dumped)")

        let listed = try Self.runFast(
            Binaries.path("hostess"), ["--socket", scratch.path + "/absent.sock", "--via", "shm", "--shm", name, "list"])
        #expect(listed.status == 1, "\(listed)")
        #expect(listed.stderr.contains("is a FIFO"), "\(listed)")

        let read = try Self.runFast(Self.python, [Self.pythonReader, "--shm", name, "list"])
        #expect(read.status == 2, "\(read)")
        #expect(read.stderr.contains("is a FIFO"), "\(read)")
        #expect(read.stderr.contains("uid 65534"), "\(read)")

        // Root reads it as any other user would: the region's readers open it with O_NONBLOCK, whoever they are.
        let asNobody = try Self.runFast(
            "/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", Self.python, Self.pythonReader, "--shm", name, "list"])
        #expect(asNobody.status == 2, "\(asNobody)")
    }

    // MARK: Something planted at the region name

    /// What a test plants under the region name, as which user.
    enum Plant: String, CaseIterable, CustomTestStringConvertible {
        case fifo, directory, socket, symbolicLink, otherUsersFile
        var testDescription: String { rawValue }

        /// Python code that makes it at `path` (run as nobody).
        func code(_ path: String) -> String {
            switch self {
            case .fifo: "import os; os.mkfifo('\(path)', 0o666)"
            case .directory: "import os; os.mkdir('\(path)', 0o777)"
            case .socket: "import socket; socket.socket(socket.AF_UNIX).bind('\(path)')"
            case .symbolicLink: "import os; os.symlink('/dev/null', '\(path)')"
            case .otherUsersFile: "import os; fd = os.open('\(path)', os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644); os.write(fd, b'x' * 8192)"
            }
        }

        /// How hostessd's refusal must name the type.
        var typeName: String {
            switch self {
            case .fifo: "is a FIFO"
            case .directory: "is a directory"
            case .socket: "is a Unix socket"
            case .symbolicLink: "is a symbolic link"
            case .otherUsersFile: "is a regular file"
            }
        }
    }

    @Test("hostessd refuses a name another user planted, saying what it is, whose it is and what to do", arguments: Plant.allCases)
    func plantedAtRegionName(plant: Plant) throws {
        let (name, path) = Self.freshName()
        defer {
            rmdir(path)
            unlink(path)
        }
        try Self.asNobody(plant.code(path))
        let scratch = try ScratchDirectory()
        let start = ContinuousClock.now
        let started = try CLI.run(Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--shm", name], timeout: 10)
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(started.status == 1, "\(started)")
        #expect(started.stderr.contains(path), "\(started)")
        #expect(started.stderr.contains(plant.typeName), "\(started)")
        #expect(started.stderr.contains("belongs to uid 65534 (nobody)"), "\(started)")
        #expect(started.stderr.contains("rm \(plant == .directory ? "-r " : "")\(path)"), "\(started)")
        #expect(started.stderr.contains("as nobody or root"), "\(started)")
        #expect(started.stderr.contains("choose another --shm"), "\(started)")
        // What was planted is left alone.
        var info = stat()
        #expect(lstat(path, &info) == 0 && info.st_uid == 65534)
    }

    // MARK: A region truncated under its readers

    @Test("shmdump --watch reports a region truncated under it and stops, instead of dying of SIGBUS", arguments: [0, 4096, 65536])
    func truncatedUnderWatch(size: Int) throws {
        let daemon = try DaemonProcess()
        _ = try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())])
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let path = SharedMemory.directory + daemon.sharedMemoryName
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: Binaries.path("shmdump"))
        watcher.arguments = ["--shm", daemon.sharedMemoryName, "--watch"]
        let output = Pipe()
        let errors = Pipe()
        watcher.standardOutput = output
        watcher.standardError = errors
        try watcher.run()
        defer { if watcher.isRunning { kill(watcher.processIdentifier, SIGKILL) } }
        usleep(500_000)
        try #require(watcher.isRunning)
        // The region's owner (root) shrinks it; hostessd is dead, so only the watcher maps it.
        try #require(truncate(path, off_t(size)) == 0)
        let deadline = Date().addingTimeInterval(5)
        while watcher.isRunning && Date() < deadline { usleep(10_000) }
        try #require(!watcher.isRunning, "shmdump --watch still runs 5 s after the truncation")
        #expect(watcher.terminationReason == .exit, "shmdump died of signal \(watcher.terminationStatus)")
        #expect(watcher.terminationStatus == 1)
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message.contains("shrank to \(size) bytes"), "\(message)")
        #expect(String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("region:"))
    }

    // MARK: The name during an adopting restart

    /// What a thread opening a name over and over saw.
    final class Poll: @unchecked Sendable {
        let lock = NSLock()
        var opens = 0
        var missing = 0
        var inodes = Set<UInt64>()
        var stop = false
    }

    @Test("during a kill -9 and adopting restart the region name is never absent: a poller sees the old region, then the new")
    func adoptingRestartKeepsTheName() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let ids = (0..<20).map { _ in Fixture.id() }
        for id in ids { _ = try client.request("register", ["entry": Fixture.entry(id: id)]) }
        let old = try RegionReader(name: daemon.sharedMemoryName)
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let path = SharedMemory.directory + daemon.sharedMemoryName
        var before = stat()
        try #require(stat(path, &before) == 0)
        let oldInode = UInt64(before.st_ino)

        // Two threads of their own (the shared pool may be busy with other tests) open the name as fast as they
        // can, from before the successor starts until it serves and they have seen its region.
        let poll = Poll()
        let finished = DispatchSemaphore(value: 0)
        let threads = (0..<2).map { _ in
            Thread {
                defer { finished.signal() }
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline {
                    let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                    var info = stat()
                    let failure = fd < 0 ? errno : 0
                    if fd >= 0 {
                        fstat(fd, &info)
                        close(fd)
                    }
                    poll.lock.lock()
                    poll.opens += 1
                    if failure == ENOENT { poll.missing += 1 }
                    if fd >= 0 { poll.inodes.insert(UInt64(info.st_ino)) }
                    let stop = poll.stop
                    poll.lock.unlock()
                    if stop { break }
                }
            }
        }
        for thread in threads { thread.start() }
        func polled() -> (opens: Int, inodes: Int) {
            poll.lock.lock()
            defer { poll.lock.unlock() }
            return (poll.opens, poll.inodes.count)
        }
        while polled().opens < 100 { usleep(1_000) }
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName], scratch: daemon.scratch, socketName: "successor.sock")
        defer { successor.stop() }
        let settle = Date().addingTimeInterval(5)
        while polled().inodes < 2 && Date() < settle { usleep(1_000) }
        poll.lock.lock()
        poll.stop = true
        poll.lock.unlock()
        for _ in threads { finished.wait() }

        #expect(successor.log.contains("adopted \(ids.count) entries"), "\(successor.log)")
        #expect(poll.missing == 0, "\(poll.missing) of \(poll.opens) opens found no region under the name")
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(poll.inodes == [oldInode, UInt64(info.st_ino)], "the old region's inode \(oldInode), then the new one's")
        #expect(old.liveness() == .closed, "the old region is marked closed once replaced")
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(Set(try reader.listAll().map(\.id)) == Set(ids))
        #expect(try reader.check() == [])
        // No temporary region is left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: SharedMemory.directory).filter { $0.hasPrefix(".hostess-new-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("two hostessd adopting the same dead region at once: one adopts it, the other refuses")
    func concurrentSuccessors() throws {
        let daemon = try DaemonProcess()
        let ids = (0..<5).map { _ in Fixture.id() }
        for id in ids { _ = try daemon.client().request("register", ["entry": Fixture.entry(id: id)]) }
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let successors = (0..<2).map { number in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Binaries.path("hostessd"))
            process.arguments = ["--socket", daemon.scratch.path + "/successor-\(number).sock", "--shm", daemon.sharedMemoryName]
            process.standardError = Pipe()
            return process
        }
        for process in successors { try process.run() }
        defer { for process in successors where process.isRunning { kill(process.processIdentifier, SIGTERM) } }
        let deadline = Date().addingTimeInterval(10)
        while successors.allSatisfy(\.isRunning) && Date() < deadline { usleep(10_000) }
        usleep(500_000)
        let running = successors.filter(\.isRunning)
        try #require(running.count == 1, "exactly one successor keeps running")
        let refused = try #require(successors.first { !$0.isRunning })
        #expect(refused.terminationStatus == 1)
        let message = String(decoding: (refused.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data(), as: UTF8.self)
        #expect(message.contains("is published by a running hostessd"), "\(message)")
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(Set(try reader.listAll().map(\.id)) == Set(ids))
        #expect(reader.liveness() == .alive)
    }

    // MARK: Capability names

    /// A Python client that, on the socket in argv[1], registers argv[2] entries owned by the user running it,
    /// each with argv[3] capability names never used before (prefix argv[4]), unregistering each at once when
    /// argv[5] is "churn". Prints one JSON line: the error of every refused registration.
    static let capabilityClient = """
        import json, os, pwd, socket, sys, uuid
        path, count, width, prefix, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(path)
        stream = connection.makefile("rwb")
        def call(number, command, **arguments):
            stream.write(json.dumps(dict(id=number, command=command, **arguments)).encode() + b"\\n")
            stream.flush()
            return json.loads(stream.readline())
        errors = []
        for entry in range(count):
            server = f"localhost:caps:0x0001:{pwd.getpwuid(os.getuid()).pw_name}:no:none:{uuid.uuid4()}"
            names = [f"{prefix}{entry}-{name}" for name in range(width)]
            reply = call(2 * entry, "register", entry={"id": server, "capabilities": names})
            if "error" in reply:
                errors.append(reply["error"])
            elif mode == "churn":
                call(2 * entry + 1, "unregister", serverId=server)
        print(json.dumps(errors))
        """

    /// Runs ``capabilityClient`` and returns the errors it got.
    static func registerFreshNames(
        _ daemon: DaemonProcess, entries: Int, width: Int, prefix: String, churn: Bool, asNobody: Bool
    ) throws -> [JSONValue] {
        let outcome = try CLI.run(
            python, ["-c", capabilityClient, daemon.socketPath, "\(entries)", "\(width)", prefix, churn ? "churn" : "keep"], asNobody: asNobody,
            timeout: 60)
        try #require(outcome.status == 0, "\(outcome)")
        guard case .array(let errors) = try JSONParser.parse(outcome.stdout) else { throw TestFailure("\(outcome)") }
        return errors
    }

    @Test("nobody registering and unregistering 57 entries with 32 fresh capability names each does not lock root out")
    func capabilityTableExhaustion() throws {
        let daemon = try DaemonProcess()
        let refused = try Self.registerFreshNames(daemon, entries: 57, width: 32, prefix: "attack", churn: true, asNobody: true)
        #expect(refused.isEmpty, "\(refused.count) registrations refused; first: \(String(describing: refused.first))")
        let client = try daemon.client()
        let id = Fixture.id()
        let reply = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: ["root-fresh-name"])])
        #expect(reply.errorCode == nil, "\(reply)")
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(try reader.query(ServerFilter(capabilities: ["root-fresh-name"])).map(\.id) == [id])
        #expect(try reader.check() == [])
    }

    @Test("one uid's entries may carry at most 256 distinct capability names; the refusal names the field and the limit; root is exempt")
    func capabilitiesPerUID() throws {
        let daemon = try DaemonProcess()
        // 8 × 32 = 256 names: accepted; a ninth entry with 32 more is refused.
        let refused = try Self.registerFreshNames(daemon, entries: 9, width: 32, prefix: "many", churn: false, asNobody: true)
        try #require(refused.count == 1, "\(refused)")
        let error = try #require(refused[0].objectValue)
        #expect(error["code"] == "capacity")
        #expect(error["field"] == "capabilities")
        let message = error["message"]?.stringValue ?? ""
        #expect(message.contains("uid 65534"), "\(message)")
        #expect(message.contains("at most 256"), "\(message)")
        #expect(message.contains("--max-capabilities-per-uid"), "\(message)")
        // Root is exempt: 9 × 32 fresh names go in.
        #expect(try Self.registerFreshNames(daemon, entries: 9, width: 32, prefix: "root", churn: false, asNobody: false).isEmpty)

        // The limit is configurable.
        let strict = try DaemonProcess(["--max-capabilities-per-uid", "40"])
        let strictRefused = try Self.registerFreshNames(strict, entries: 2, width: 32, prefix: "few", churn: false, asNobody: true)
        try #require(strictRefused.count == 1, "\(strictRefused)")
        #expect(strictRefused[0].objectValue?["message"]?.stringValue?.contains("at most 40") == true, "\(strictRefused)")
        let scratch = try ScratchDirectory()
        let config = try scratch.write("hostessd.json", #"{"maxCapabilitiesPerUid": 33}"#)
        let configured = try DaemonProcess(["--config", config], scratch: scratch)
        let configuredRefused = try Self.registerFreshNames(configured, entries: 2, width: 32, prefix: "cfg", churn: false, asNobody: true)
        try #require(configuredRefused.count == 1, "\(configuredRefused)")
        #expect(configuredRefused[0].objectValue?["message"]?.stringValue?.contains("at most 33") == true, "\(configuredRefused)")
    }

    @Test("a reader that cached a capability name whose table index is reused for another name matches no wrong entry")
    func reusedCapabilityIndex() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let first = Fixture.id(servername: "first")
        // "alpha" is the region's first name: table index 0. The reader resolves (and caches) it.
        #expect(try client.request("register", ["entry": Fixture.entry(id: first, capabilities: ["alpha"])]).errorCode == nil)
        #expect(try reader.query(ServerFilter(capabilities: ["alpha"])).map(\.id) == [first])
        #expect(try client.request("unregister", ["serverId": .string(first)]).errorCode == nil)
        // Every other table index gets a name, each used once and dropped again.
        let table = RegionLayout.capabilityCapacity
        let refused = try Self.registerFreshNames(daemon, entries: (table - 1) / 32, width: 32, prefix: "fill", churn: true, asNobody: false)
        #expect(refused.isEmpty, "\(refused)")
        let rest = (0..<((table - 1) % 32)).map { "rest-\($0)" }
        let filler = Fixture.id(servername: "filler")
        #expect(try client.request("register", ["entry": Fixture.entry(id: filler, capabilities: rest)]).errorCode == nil)
        #expect(try client.request("unregister", ["serverId": .string(filler)]).errorCode == nil)
        // The table is full: "beta" takes the lowest free index, alpha's.
        let second = Fixture.id(servername: "second")
        #expect(try client.request("register", ["entry": Fixture.entry(id: second, capabilities: ["beta"])]).errorCode == nil)
        let path = SharedMemory.directory + daemon.sharedMemoryName
        let handle = try #require(FileHandle(forReadingAtPath: path))
        try handle.seek(toOffset: UInt64(reader.layout.capabilityTableOffset))
        let slot = [UInt8](try handle.read(upToCount: 6) ?? Data())
        #expect(slot == [4, 0] + Array("beta".utf8), "index 0 now names beta")
        #expect(reader.header().capabilityGeneration > 0)

        // The stale name matches nothing; the new one matches its entry; both agree with the socket.
        for (name, expected) in [("alpha", [String]()), ("beta", [second])] {
            let filter = ServerFilter(capabilities: [name])
            #expect(try reader.query(filter).map(\.id) == expected, "\(name)")
            #expect(try reader.count(filter) == expected.count, "\(name)")
            #expect(try RegionReader(name: daemon.sharedMemoryName).query(filter).map(\.id) == expected, "\(name), fresh reader")
            let viaSocket = try client.request("query", ["filter": filter.json]).result?["entries"]
            #expect(viaSocket == .array(try reader.query(filter).map(\.json)), "\(name)")
        }
        #expect(try reader.check() == [])
        // The Python reader from docs/ agrees with the socket.
        let listed = try CLI.run(Self.python, [Self.pythonReader, "--shm", daemon.sharedMemoryName, "list"])
        #expect(listed.status == 0, "\(listed)")
        let lines = try listed.stdout.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
        #expect(.array(lines) == (try client.request("listAll").result?["entries"]))
    }

    @Test("readers querying by capability while the writer keeps reusing table indexes never get an entry without that capability")
    func concurrentIndexReuse() throws {
        let daemon = try DaemonProcess()
        // Write every table index once, so that each new name from now on reuses one.
        let table = RegionLayout.capabilityCapacity
        #expect(try Self.registerFreshNames(daemon, entries: table / 32, width: 32, prefix: "fill", churn: true, asNobody: false).isEmpty)
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let before = reader.header().capabilityGeneration
        let stop = Date().addingTimeInterval(2)
        // The writer: each round registers two entries with one fresh name each (two reused indexes), then
        // unregisters them, so that the indexes come free again.
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            /// The writer's round: its names are `w<round>-0` and `w<round>-1`.
            var round = 0
            var queries = 0
            var wrong: [String] = []
        }
        let tally = Tally()
        let finished = DispatchSemaphore(value: 0)
        let writer = Thread {
            defer { finished.signal() }
            guard let client = try? daemon.client() else { return }
            var round = 0
            while Date() < stop {
                let ids = (0..<2).map { _ in Fixture.id(servername: "reuse") }
                for (position, id) in ids.enumerated() {
                    _ = try? client.request("register", ["entry": Fixture.entry(id: id, capabilities: ["w\(round)-\(position)"])])
                }
                for id in ids { _ = try? client.request("unregister", ["serverId": .string(id)]) }
                round += 1
                tally.lock.lock()
                tally.round = round
                tally.lock.unlock()
            }
        }
        writer.start()
        let readers = (0..<2).map { number in
            Thread {
                defer { finished.signal() }
                var local = 0
                var wrong: [String] = []
                var back = 0
                while Date() < stop {
                    // Names of the last few rounds: resolved (and cached) while they live, then their indexes
                    // are reused for the names of later rounds.
                    tally.lock.lock()
                    let round = tally.round
                    tally.lock.unlock()
                    let name = "w\(max(0, round - back))-\(number)"
                    back = (back + 1) % 4
                    guard let found = try? reader.query(ServerFilter(capabilities: [name])) else { continue }
                    local += 1
                    for entry in found where !entry.capabilities.contains(name) {
                        wrong.append("\(name) matched an entry with \(entry.capabilities)")
                    }
                }
                tally.lock.lock()
                tally.queries += local
                tally.wrong += wrong
                tally.lock.unlock()
            }
        }
        for thread in readers { thread.start() }
        for _ in 0..<3 { finished.wait() }
        #expect(tally.wrong.isEmpty, "\(tally.wrong.count) wrong answers in \(tally.queries) queries: \(tally.wrong.prefix(3))")
        #expect(tally.queries > 100)
        #expect(reader.header().capabilityGeneration > before + 10, "the writer reused indexes")
        #expect(try reader.check() == [])
    }
}
