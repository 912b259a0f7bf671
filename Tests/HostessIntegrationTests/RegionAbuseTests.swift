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
        let threads = (0..<2).map { _ in
            Thread {
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
        while threads.contains(where: \.isExecuting) { usleep(1_000) }

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
}
