import Foundation
import Glibc
import HostessClient
import HostessModel
import HostessRegion
import HostessTestSupport
import Testing

/// The shared-memory guest book, read by the real reader from the region the real hostessd publishes.
@Suite("shared-memory guest book")
struct RegionTests {
    static func entries(_ reply: JSONObject) -> JSONValue? { reply.result?["entries"] }

    @Test("reads from shared memory equal the socket's answers over random workloads", arguments: [1, 2, 3] as [UInt64])
    func equivalence(seed: UInt64) throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        var generator = SplitMix64(seed: seed)
        var ids: [String] = []
        let classes = ["0x0001", "0x0002", "0x0003"]
        let capabilityPool = ["gpu", "h264", "pty", "vt100", "cuda"]
        for step in 0..<300 {
            switch ids.isEmpty ? 0 : generator.below(10) {
            case 0...3:
                let id = Fixture.id(
                    servername: "srv-\(generator.below(3))", classCode: classes[generator.below(3)],
                    fqdn: ["localhost", "machine-a.local"][generator.below(2)])
                let capabilities = capabilityPool.filter { _ in generator.below(2) == 0 }
                let reply = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: capabilities)])
                #expect(reply.errorCode == nil, "\(reply)")
                ids.append(id)
            case 4:
                let id = ids.remove(at: generator.below(ids.count))
                _ = try client.request("unregister", ["serverId": .string(id)])
            case 5...6:
                _ = try client.request(
                    "markInUse",
                    ["serverId": .string(ids[generator.below(ids.count)]), "terminal": generator.below(2) == 0 ? "stdin" : "stdout",
                     "connectomeId": .string("c\(generator.below(4))")])
            case 7:
                _ = try client.request("markAvailable", ["serverId": .string(ids[generator.below(ids.count)]), "terminal": "stdin"])
            default:
                let id = ids[generator.below(ids.count)]
                _ = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: [capabilityPool[generator.below(5)]])])
            }
            guard step % 25 == 24 else { continue }
            // Whole book, a few queries, a few lookups: byte-for-byte the same JSON.
            let all = try reader.listAll().map(\.json)
            #expect(Self.entries(try client.request("listAll")) == .array(all))
            for _ in 0..<5 {
                var filter = ServerFilter()
                if generator.below(2) == 0 { filter.classCode = try ClassCode(parsing: classes[generator.below(3)]) }
                if generator.below(2) == 0 { filter.capabilities = [capabilityPool[generator.below(5)]] }
                if generator.below(3) == 0 { filter.availableTerminals = generator.below(3) }
                if generator.below(4) == 0 { filter.fqdn = "machine-a.local" }
                if generator.below(4) == 0 { filter.servername = "srv-1" }
                let viaSocket = Self.entries(try client.request("query", ["filter": filter.json]))
                #expect(viaSocket == .array(try reader.query(filter).map(\.json)), "\(filter)")
                #expect(try reader.count(filter) == (try reader.query(filter).count))
            }
            for id in ids.prefix(5) {
                let viaSocket = try client.request("getServer", ["serverId": .string(id)]).result?["entry"]
                #expect(viaSocket == (try reader.getServer(id))?.json)
            }
            #expect(reader.revision == UInt64(try client.request("status").revision ?? -1))
        }
        #expect(try reader.check() == [])
    }

    @Test("ids too long for the record are registered over the socket and found through the region, also after compaction")
    func longIDs() throws {
        // A small arena (4 × 1024 bytes, for the payloads and the long ids), so re-registering the entries again and again compacts it and
        // moves the arena ids with their payloads.
        let daemon = try DaemonProcess(["--capacity", "4", "--entry-bytes", "1024"])
        let client = try daemon.client()
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let uuid = { UUID().uuidString.lowercased() }
        let long = "node-0042.rack-0017.east.datacenter.example.internal"
        let ids = [
            Fixture.id(),
            Fixture.id(servername: "long-servername-for-an-arena-id", fqdn: long),
            "\(long):pty-server:0x0001:root:no:none:\(uuid()):" + (0..<8).map { "extension-\($0)-" + String(repeating: "x", count: 36) }.joined(separator: ":"),
        ]
        #expect(ids[0].utf8.count <= RegionLayout.maximumInlineIDBytes)
        #expect(ids[1].utf8.count > RegionLayout.maximumInlineIDBytes)
        #expect(ids[2].utf8.count > 400 && ids[2].utf8.count <= RegionLayout.maximumIDBytes, "\(ids[2].utf8.count)")
        for round in 0..<20 {
            for id in ids {
                let reply = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: round % 2 == 0 ? ["pty"] : ["pty", "gpu"])])
                #expect(reply.errorCode == nil, "\(reply)")
            }
            for id in ids {
                let viaSocket = try client.request("getServer", ["serverId": .string(id)]).result?["entry"]
                let entry = try #require(try reader.getServer(id), "round \(round): \(id)")
                #expect(entry.json == viaSocket)
                #expect(try reader.withEntry(id: id) { view in view.map { String(decoding: $0.id, as: UTF8.self) } } == id)
                #expect(try reader.withEntry(id: id) { view in view.map { String(decoding: $0.fqdn, as: UTF8.self) } } == entry.name.fqdn)
            }
        }
        #expect(try reader.query(ServerFilter(fqdn: long)).count == 2)
        #expect(try reader.check() == [])
        _ = try client.request("unregister", ["serverId": .string(ids[1])])
        #expect(try reader.getServer(ids[1]) == nil)
        #expect(try reader.getServer(ids[2])?.id == ids[2])
        #expect(try reader.check() == [])
    }

    @Test("read-your-writes: a change is in the region when its reply arrives")
    func readYourWrites() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        for _ in 0..<100 {
            let id = Fixture.id()
            let reply = try client.request("register", ["entry": Fixture.entry(id: id)])
            let serial = try #require(try GuestBookEntry(json: reply.result?["entry"] ?? .null)).serial
            #expect(try reader.getServer(id)?.serial == serial)
            _ = try client.request("markInUse", ["serverId": .string(id), "terminal": "stdin", "connectomeId": "c"])
            #expect(try reader.withEntry(id: id) { $0?.availableTerminals } == 1)
            _ = try client.request("unregister", ["serverId": .string(id)])
            #expect(try reader.getServer(id) == nil)
        }
    }

    @Test("torture: the writer changes entries at full speed while reader threads and reader processes see no inconsistency")
    func torture() throws {
        let daemon = try DaemonProcess()
        let setup = try daemon.client()
        let ids = (0..<64).map { _ in Fixture.id() }
        for id in ids { _ = try setup.request("register", ["entry": Self.tortureEntry(id: id, n: 0)]) }
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let stop = Date().addingTimeInterval(3)
        nonisolated(unsafe) var inconsistencies = 0
        nonisolated(unsafe) var reads = 0
        let lock = NSLock()
        // The writer: pipelined re-registrations that change metadata and capabilities together.
        let writer = Thread {
            guard let client = try? daemon.client() else { return }
            var n: Int64 = 1
            while Date() < stop {
                var batch: [UInt8] = []
                for id in ids {
                    batch += JSONValue.object(["id": .int(n), "command": "register", "entry": Self.tortureEntry(id: id, n: n)]).jsonBytes + [0x0A]
                    n += 1
                }
                try? client.send(bytes: batch)
                for _ in ids { _ = client.readLine(timeout: 5) }
            }
        }
        writer.start()
        let group = DispatchGroup()
        for thread in 0..<2 {
            DispatchQueue.global().async(group: group) {
                var bad = 0
                var count = 0
                var index = thread
                while Date() < stop {
                    index = (index + 7) % ids.count
                    // Zero-copy path: the record's fields and the payload must agree within one read.
                    let consistent = (try? reader.withEntry(id: ids[index]) { view -> Bool in
                        guard let view else { return false }
                        guard let json = try? JSONParser.parse(view.payload), let entry = try? GuestBookEntry(json: json) else { return false }
                        let capabilities = (0..<view.capabilityCount).map { String(decoding: view.capability(at: $0), as: UTF8.self) }
                        return entry.serial == view.serial && entry.capabilities == capabilities && Self.isConsistent(entry)
                    }) ?? false
                    if !consistent { bad += 1 }
                    if count % 50 == 0, let all = try? reader.listAll() {
                        if all.count != ids.count || !all.allSatisfy(Self.isConsistent) { bad += 1 }
                    }
                    count += 1
                }
                lock.lock()
                inconsistencies += bad
                reads += count
                lock.unlock()
            }
        }
        // Separate reader processes walk the whole region while it changes.
        var processChecks = 0
        while Date() < stop.addingTimeInterval(-0.5) {
            let outcome = try CLI.run(Binaries.path("shmdump"), ["--shm", daemon.sharedMemoryName, "--check", "--json"], timeout: 10)
            #expect(outcome.status == 0, "\(outcome)")
            processChecks += 1
        }
        group.wait()
        while writer.isExecuting { usleep(10_000) }
        #expect(inconsistencies == 0, "\(inconsistencies) inconsistent reads of \(reads)")
        #expect(reads > 1000)
        #expect(processChecks > 0)
        #expect(try reader.check() == [])
    }

    /// An entry whose metadata and capabilities are tied to `n`, so a torn read shows.
    static func tortureEntry(id: String, n: Int64) -> JSONValue {
        [
            "id": .string(id),
            "terminals": ["stdin": ["direction": "input", "multiplexing": "none"]],
            "capabilities": .array((0..<(1 + Int(n % 4))).map { JSONValue.string("cap\(n % 7)-\($0)") }),
            "metadata": ["n": .int(n), "check": .int(n &* 7919), "pad": .string(String(repeating: "x", count: Int(n % 50)))],
        ]
    }

    static func isConsistent(_ entry: GuestBookEntry) -> Bool {
        guard case .int(let n)? = entry.metadata["n"], case .int(let check)? = entry.metadata["check"] else { return false }
        let expected = (0..<(1 + Int(n % 4))).map { "cap\(n % 7)-\($0)" }
        return check == n &* 7919 && entry.capabilities == expected && entry.metadata["pad"] == .string(String(repeating: "x", count: Int(n % 50)))
    }

    @Test("a writer killed between the halves of a publication leaves readers correct, without spinning", arguments: [
        ("after-first-half", false), ("mid-second-half", true),
    ])
    func crashMidPublication(point: String, newStateVisible: Bool) throws {
        // Publications 1-5 register five entries; the sixth (a sixth entry) is where hostessd dies.
        let daemon = try DaemonProcess(environment: ["HOSTESS_FAILPOINT": "\(point):6"])
        let client = try daemon.client()
        var ids: [String] = []
        for _ in 0..<5 {
            let id = Fixture.id()
            ids.append(id)
            _ = try client.request("register", ["entry": Fixture.entry(id: id)])
        }
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let last = Fixture.id()
        try client.send(JSONValue.object(["id": 99, "command": "register", "entry": Fixture.entry(id: last)]).jsonText)
        #expect(client.isClosedByPeer(within: 5), "hostessd died at the failpoint")
        #expect(daemon.stop(signal: SIGKILL, timeout: 5) != nil)
        let started = Date()
        let all = try reader.listAll()
        #expect(Date().timeIntervalSince(started) < 0.5, "a dead writer never makes a reader wait")
        #expect(all.map(\.id) == ids + (newStateVisible ? [last] : []))
        #expect(try reader.check() == [])
        #expect(reader.liveness() == .writerGone)

        // A new hostessd adopts the region: every entry readers could see is kept.
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName], scratch: daemon.scratch, socketName: "successor.sock")
        defer { successor.stop() }
        let listed = try successor.client().request("listAll")
        guard case .array(let entries)? = Self.entries(listed) else { throw TestFailure("\(listed)") }
        #expect(entries.compactMap { $0.objectValue?["id"]?.stringValue } == all.map(\.id))
        #expect(successor.log.contains("adopted \(all.count) entries"))
        #expect(reader.liveness() == .closed || reader.liveness() == .replaced, "the old region is finished; readers reopen")
        let reopened = try RegionReader(name: daemon.sharedMemoryName)
        #expect(reopened.instanceID != reader.instanceID)
        #expect(try reopened.listAll().map(\.id) == all.map(\.id))
    }

    @Test("a change is acknowledged only once it is published: a writer killed before the publication never answered it, and its successor does not have it")
    func acknowledgedAfterPublication() throws {
        // Publication 1 registers the first entry; hostessd dies at the start of the second, the second entry's.
        let daemon = try DaemonProcess(environment: ["HOSTESS_FAILPOINT": "before-publication:2"])
        let client = try daemon.client()
        let first = Fixture.id()
        #expect(try client.request("register", ["entry": Fixture.entry(id: first)])["result"] != nil)
        let second = Fixture.id()
        try client.send(JSONValue.object(["id": 2, "command": "register", "entry": Fixture.entry(id: second)]).jsonText)
        // No reply: the line that would have acknowledged it was held until after the publication.
        #expect(client.readLine(timeout: 5) == nil, "an unpublished change was acknowledged")
        #expect(daemon.stop(signal: SIGKILL, timeout: 5) != nil)
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName, "--socket", daemon.socketPath], scratch: daemon.scratch)
        defer { successor.stop() }
        guard case .array(let entries)? = Self.entries(try successor.client().request("listAll")) else { throw TestFailure("no list") }
        #expect(entries.compactMap { $0.objectValue?["id"]?.stringValue } == [first])
    }

    @Test("a successor killed while it adopts the region leaves the saved reservations to the next one (found by Scripts/crash-storm.sh)")
    func reservationsSurviveAKilledSuccessor() throws {
        let daemon = try DaemonProcess()
        let id = Fixture.id()
        let client = try daemon.client()
        _ = try client.request("register", ["entry": Fixture.entry(id: id)])
        let reply = try client.request(
            "reserve", ["reservation": ["serverFilter": ["serverIds": [.string(id)]], "count": 1, "duration": 3_600_000]])
        let reservation = try #require(reply.result?["reservation"]?.objectValue?["id"]?.stringValue, "\(reply)")
        #expect(daemon.stop(signal: SIGKILL) != nil)
        // B dies in its first publication, the adopted entries', before it restored the reservations.
        let killed = Process()
        killed.executableURL = URL(fileURLWithPath: Binaries.path("hostessd"))
        killed.arguments = ["--socket", daemon.socketPath, "--shm", daemon.sharedMemoryName]
        var environment = ProcessInfo.processInfo.environment
        environment["HOSTESS_FAILPOINT"] = "after-first-half:1"
        killed.environment = environment
        killed.standardError = FileHandle.nullDevice
        try killed.run()
        killed.waitUntilExit()
        #expect(killed.terminationReason == .uncaughtSignal && killed.terminationStatus == SIGKILL)
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName, "--socket", daemon.socketPath], scratch: daemon.scratch)
        defer { successor.stop() }
        // B's temporary region, which it never put in place, is gone with it.
        #expect(successor.log.contains("removed /.hostess-new-"), "\(successor.log)")
        let restored = try successor.client().request("getReservation", ["reservationId": .string(reservation)])
        #expect(restored.result?["reservation"]?.objectValue?["status"] == "active", "\(restored)\n\(successor.log)")
        #expect(try successor.client().request("getServer", ["serverId": .string(id)]).result != nil)
    }

    @Test("hostessd killed with SIGKILL and started again keeps every entry, with its serial and terminals")
    func restartAdoption() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        for number in 0..<50 {
            let id = Fixture.id()
            _ = try client.request("register", ["entry": Fixture.entry(id: id)])
            if number % 3 == 0 { _ = try client.request("markInUse", ["serverId": .string(id), "terminal": "stdout", "connectomeId": .string("k\(number)")]) }
        }
        guard case .array(let before)? = Self.entries(try client.request("listAll")) else { throw TestFailure("no list") }
        #expect(daemon.stop(signal: SIGKILL) != nil)
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName, "--socket", daemon.socketPath], scratch: daemon.scratch)
        defer { successor.stop() }
        guard case .array(let after)? = Self.entries(try successor.client().request("listAll")) else { throw TestFailure("no list") }
        #expect(after.count == 50)
        #expect(after == before)
        let registered = try successor.client().request("register", ["entry": Fixture.entry(id: Fixture.id())])
        let serials = before.compactMap { if case .int(let v)? = $0.objectValue?["serial"] { v } else { nil } }
        if case .int(let serial)? = registered.result?["entry"]?.objectValue?["serial"] {
            #expect(serial > serials.max() ?? 0, "serials are never reused")
        }
    }

    @Test("readers tell a live writer, a dead one and a closed region apart")
    func liveness() throws {
        let daemon = try DaemonProcess()
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(reader.liveness() == .alive)
        #expect(reader.writerHeartbeatAge < 2)
        #expect(daemon.stop(signal: SIGTERM) == 0)
        #expect(reader.liveness() == .closed)
        #expect(reader.isClosed)
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm" + daemon.sharedMemoryName), "clean shutdown removes the region")
    }

    @Test("waitForRevision sleeps on the futex until a change is published, and times out otherwise")
    func futexWatch() throws {
        let daemon = try DaemonProcess()
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        let start = reader.revision
        let quietStart = Date()
        #expect(try reader.waitForRevision(after: start, timeout: 0.3) == start)
        #expect(Date().timeIntervalSince(quietStart) >= 0.25)
        // The waiter's results are read after the semaphore, which orders them (Thread.isExecuting does not:
        // ThreadSanitizer reported polling it as a data race on woke and wokeAt).
        nonisolated(unsafe) var woke: UInt64 = 0
        nonisolated(unsafe) var wokeAt = Date.distantFuture
        let done = DispatchSemaphore(value: 0)
        let waiter = Thread {
            woke = (try? reader.waitForRevision(after: start, timeout: 10)) ?? 0
            wokeAt = Date()
            done.signal()
        }
        waiter.start()
        usleep(200_000)
        let sent = Date()
        _ = try daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())])
        try #require(done.wait(timeout: .now() + 5) == .success, "the waiter did not wake within 5 s")
        #expect(woke > start)
        #expect(wokeAt.timeIntervalSince(sent) < 1.0)
    }

    @Test("a full guest book refuses registrations with a capacity error and changes nothing")
    func capacity() throws {
        let daemon = try DaemonProcess(["--capacity", "3"])
        let client = try daemon.client()
        for _ in 0..<3 { #expect(try client.request("register", ["entry": Fixture.entry(id: Fixture.id())]).errorCode == nil) }
        let refused = try client.request("register", ["entry": Fixture.entry(id: Fixture.id())])
        #expect(refused.errorCode == "capacity", "\(refused)")
        #expect(refused.revision == 3)
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(try reader.listAll().count == 3)
        #expect(reader.header().capacity == 3)
    }

    @Test("hostess get, list and query read the region; --via socket gives the same answer")
    func cliVia() throws {
        let daemon = try DaemonProcess()
        let id = Fixture.id()
        _ = try daemon.client().request("register", ["entry": Fixture.entry(id: id)])
        for arguments in [["get", id], ["list"], ["query", "--capability", "pty"]] {
            let viaShm = try CLI.hostess(["--json", "--via", "shm", "--shm", daemon.sharedMemoryName] + arguments, socket: daemon.socketPath)
            let viaSocket = try CLI.hostess(["--json", "--via", "socket"] + arguments, socket: daemon.socketPath)
            let viaDefault = try CLI.hostess(["--json"] + arguments, socket: daemon.socketPath)
            #expect(viaShm.status == 0, "\(viaShm)")
            #expect(viaShm.stdout == viaSocket.stdout)
            #expect(viaDefault.stdout == viaSocket.stdout)
        }
        let missing = try CLI.hostess(["--via", "shm", "--shm", "/hostess-test-absent", "list"], socket: daemon.socketPath)
        #expect(missing.status == 1)
    }

    @Test("SharedGuestBook reopens the region when a new hostessd replaces the old one")
    func reopen() throws {
        let daemon = try DaemonProcess()
        let book = try SharedGuestBook(name: daemon.sharedMemoryName)
        let first = Fixture.id()
        _ = try daemon.client().request("register", ["entry": Fixture.entry(id: first)])
        #expect(try book.getServer(first) != nil)
        #expect(daemon.stop() == 0)
        #expect(book.liveness() == .closed)
        let successor = try DaemonProcess(["--shm", daemon.sharedMemoryName], scratch: daemon.scratch, socketName: "next.sock")
        defer { successor.stop() }
        let second = Fixture.id()
        _ = try successor.client().request("register", ["entry": Fixture.entry(id: second)])
        #expect(try book.getServer(second) != nil)
        #expect(try book.getServer(first) == nil, "a clean stop ends the old guest book")
        #expect(book.liveness() == .alive)
    }

    @Test("a region under the name that fails the checks is moved aside, and a fresh one is published")
    func badRegionMovedAside() throws {
        let name = "/hostess-test-" + UUID().uuidString.lowercased()
        let path = "/dev/shm" + name
        #expect(FileManager.default.createFile(atPath: path, contents: Data(repeating: 0xAB, count: 8192), attributes: [.posixPermissions: 0o644]))
        defer {
            if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm") {
                for file in leftovers where file.hasPrefix(String(name.dropFirst()) + ".bad-") { unlink("/dev/shm/" + file) }
            }
        }
        let daemon = try DaemonProcess(["--shm", name])
        #expect(daemon.log.contains("is not trusted"), "\(daemon.log)")
        #expect(daemon.log.contains("moved it aside to \(name).bad-"))
        let reader = try RegionReader(name: name)
        #expect(try reader.check() == [])
        let aside = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { $0.hasPrefix(String(name.dropFirst()) + ".bad-") }
        #expect(aside.count == 1)
        daemon.stop()
        unlink(path)
    }

    @Test("a region of another layout version under the name is not adopted: it is moved aside, saying why")
    func otherVersionMovedAside() throws {
        // A sound region in every other respect, as a hostessd of layout 2 would have left it after a crash.
        var bytes = try RegionCopies.sound().bytes
        withUnsafeBytes(of: (UInt32(2) << 16).littleEndian) { bytes.replaceSubrange(RegionLayout.Header.version..<RegionLayout.Header.version + 4, with: $0) }
        let old = try RegionCopies.File(bytes, mode: 0o644, prefix: "hostess-test-")
        defer {
            old.remove()
            if let leftovers = try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm") {
                for file in leftovers where file.hasPrefix(String(old.name.dropFirst()) + ".bad-") { unlink("/dev/shm/" + file) }
            }
        }
        let daemon = try DaemonProcess(["--shm", old.name])
        defer { daemon.stop() }
        #expect(daemon.log.contains("has layout version 2.0 and this reader reads only \(RegionLayout.versionMajor).x"), "\(daemon.log)")
        #expect(daemon.log.contains("moved it aside to \(old.name).bad-"), "\(daemon.log)")
        #expect(!daemon.log.contains("adopted"), "\(daemon.log)")
        let reader = try RegionReader(name: old.name)
        #expect(reader.header().versionMajor == RegionLayout.versionMajor)
        #expect(try reader.listAll() == [])
        #expect(try reader.check() == [])
    }

    @Test("an arena its 32-bit offsets cannot reach is refused as a usage error at start-up, naming the flags to lower")
    func arenaPastOffsets() throws {
        let scratch = try ScratchDirectory()
        let shm = "/hostess-test-" + UUID().uuidString.lowercased()
        defer { unlink("/dev/shm" + shm) }
        // 1,000,000 × 8192 bytes is over 4 GiB.
        let outcome = try CLI.run(
            Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--shm", shm, "--capacity", "1000000", "--entry-bytes", "8192"],
            timeout: 10)
        #expect(outcome.status == 2, "\(outcome)")
        #expect(
            outcome.stderr.contains("--capacity 1000000 × --entry-bytes 8192 is 8192000000 bytes of payload, past the region's 4 GiB"),
            "\(outcome)")
        #expect(!FileManager.default.fileExists(atPath: "/dev/shm" + shm), "nothing is left under the name")
    }

    @Test("shmdump --watch prints again after each change")
    func shmdumpWatch() throws {
        let daemon = try DaemonProcess()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Binaries.path("shmdump"))
        process.arguments = ["--shm", daemon.sharedMemoryName, "--watch"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(300_000)
        let id = Fixture.id()
        _ = try daemon.client().request("register", ["entry": Fixture.entry(id: id)])
        usleep(500_000)
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal, "SIGTERM stops shmdump --watch")
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.components(separatedBy: "region:").count - 1 >= 2, "\(text)")
        #expect(text.contains(id))
    }

    @Test("a batch whose changes only fit together never writes past the arena")
    func arenaBatchOrder() throws {
        // Payloads of 2 × 1024 bytes at most, in an arena of 2 × 1024. A is big
        // and B small; then one pipelined batch re-registers B as it is, shrinks A and grows B. Each step fits
        // the budget, but B's new payload fits only once A's old one is gone, whatever order the batch is
        // applied in.
        let daemon = try DaemonProcess(["--capacity", "2", "--entry-bytes", "1024"])
        let client = try daemon.client()
        let a = Fixture.id()
        let b = Fixture.id()
        func entry(_ id: String, pad: Int) -> JSONValue {
            ["id": .string(id), "metadata": ["pad": .string(String(repeating: "p", count: pad))]]
        }
        #expect(try client.request("register", ["entry": entry(a, pad: 900)]).errorCode == nil)
        #expect(try client.request("register", ["entry": entry(b, pad: 10)]).errorCode == nil)
        var batch: [UInt8] = []
        for (number, request) in [entry(b, pad: 10), entry(a, pad: 10), entry(b, pad: 900)].enumerated() {
            batch += JSONValue.object(["id": .int(Int64(number)), "command": "register", "entry": request]).jsonBytes + [0x0A]
        }
        try client.send(bytes: batch)
        for _ in 0..<3 { #expect(try client.readReply().errorCode == nil) }
        let reader = try RegionReader(name: daemon.sharedMemoryName)
        #expect(try reader.check() == [])
        #expect(Self.entries(try client.request("listAll")) == .array(try reader.listAll().map(\.json)))
        #expect(try client.request("status").errorCode == nil, "hostessd is alive")
    }

    @Test("a class chain that loops is walked a bounded number of steps, and check() names it")
    func loopingClassChain() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        for _ in 0..<4 { _ = try client.request("register", ["entry": Fixture.entry(id: Fixture.id())]) }
        let name = "/hostess-test-" + UUID().uuidString.lowercased()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "/dev/shm" + daemon.sharedMemoryName))
        let layout = try RegionReader(name: daemon.sharedMemoryName).layout
        // Every slot's link points back to the chain's first slot: an endless chain, in both copies.
        for copy in [layout.copy0Offset, layout.copy1Offset] {
            for slot in 0..<layout.capacity {
                let offset = copy + layout.classLinksOffsetInCopy + slot * 4
                bytes.replaceSubrange(offset..<offset + 4, with: [1, 0, 0, 0])
            }
        }
        #expect(FileManager.default.createFile(atPath: "/dev/shm" + name, contents: bytes, attributes: [.posixPermissions: 0o644]))
        defer { unlink("/dev/shm" + name) }
        let reader = try RegionReader(name: name)
        let started = Date()
        _ = try reader.count(ServerFilter(classCode: ClassCode(1)))
        _ = try? reader.query(ServerFilter(classCode: ClassCode(1)))
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(try reader.check().contains { $0.contains("class chain") })
    }
}
