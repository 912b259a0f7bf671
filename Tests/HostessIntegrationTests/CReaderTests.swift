import CHostessReader
import Foundation
import Glibc
import HostessModel
import HostessRegion
import HostessSystem
import HostessTestSupport
import Testing

// MARK: - The C reader, called from Swift

/// A status code of the C library, named for messages.
private func describe(_ status: Int32) -> String { "\(status) (\(String(cString: hostess_reader_strerror(status))))" }

/// The C library's codes as Swift integers (C enums import as structs).
private enum Status {
    static let ok = HOSTESS_OK.rawValue
    static let notFound = HOSTESS_NOT_FOUND.rawValue
    static let timedOut = HOSTESS_TIMED_OUT.rawValue
    static let closed = HOSTESS_CLOSED.rawValue
    static let invalidArgument = HOSTESS_E_INVALID_ARGUMENT.rawValue
    static let invalidName = HOSTESS_E_INVALID_NAME.rawValue
    static let system = HOSTESS_E_SYSTEM.rawValue
    static let notRegularFile = HOSTESS_E_NOT_REGULAR_FILE.rawValue
    static let untrustedOwner = HOSTESS_E_UNTRUSTED_OWNER.rawValue
    static let writableByOthers = HOSTESS_E_WRITABLE_BY_OTHERS.rawValue
    static let tooSmall = HOSTESS_E_TOO_SMALL.rawValue
    static let badMagic = HOSTESS_E_BAD_MAGIC.rawValue
    static let notReady = HOSTESS_E_NOT_READY.rawValue
    static let unsupportedVersion = HOSTESS_E_UNSUPPORTED_VERSION.rawValue
    static let fingerprintMismatch = HOSTESS_E_FINGERPRINT_MISMATCH.rawValue
    static let inconsistentHeader = HOSTESS_E_INCONSISTENT_HEADER.rawValue
    static let bufferTooSmall = HOSTESS_E_BUFFER_TOO_SMALL.rawValue
    static let busy = HOSTESS_E_BUSY.rawValue
    static let corrupt = HOSTESS_E_CORRUPT.rawValue
    static let truncated = HOSTESS_E_TRUNCATED.rawValue
    static let noMemory = HOSTESS_E_NO_MEMORY.rawValue
    /// Every code the header defines.
    static let all = [
        ok, notFound, timedOut, closed, invalidArgument, invalidName, system, notRegularFile, untrustedOwner, writableByOthers, tooSmall,
        badMagic, notReady, unsupportedVersion, fingerprintMismatch, inconsistentHeader, bufferTooSmall, busy, corrupt, truncated, noMemory,
    ]
}

/// What one C lookup answered.
private enum CLookup: Equatable, CustomStringConvertible {
    /// The payload (heartbeat folded in), the record's serial and the entry's `lastHeartbeat`.
    case found(payload: [UInt8], serial: UInt64, lastHeartbeat: Int64)
    case notFound
    /// Any other status.
    case failed(Int32)

    var description: String {
        switch self {
        case .found(let payload, let serial, _): "found serial \(serial): \(String(decoding: payload, as: UTF8.self))"
        case .notFound: "not found"
        case .failed(let status): "failed \(describe(status))"
        }
    }
}

/// Collects what a C query delivers to its callback.
private final class Collector {
    var payloads: [[UInt8]] = []
    var infos: [hostess_entry_info] = []
}

/// The C reader (`CHostessReader`) of one region, closed when released.
private final class CReader: @unchecked Sendable {
    /// The library's handle; the library makes concurrent calls on it safe.
    let handle: OpaquePointer

    /// Why hostess_reader_open refused the region.
    struct OpenFailure: Error, CustomStringConvertible {
        var status: Int32
        var description: String { "hostess_reader_open: \(describe(status))" }
    }

    /// Opens `name`, trusting `trustedOwners` besides root and the caller.
    init(name: String, trustedOwners: [UInt32] = []) throws(OpenFailure) {
        var reader: OpaquePointer?
        var failure = hostess_open_failure()
        let status = trustedOwners.withUnsafeBufferPointer { hostess_reader_open(name, $0.baseAddress, $0.count, &reader, &failure) }
        guard status == Status.ok, let reader else { throw OpenFailure(status: status) }
        handle = reader
    }

    deinit { hostess_reader_close(handle) }

    /// Looks `id` up into a buffer of `bufferSize` bytes, growing it once when the library asks for more.
    func lookup(_ id: String, bufferSize: Int = Int(HOSTESS_PAYLOAD_BUFFER_BYTES)) -> CLookup {
        var info = hostess_entry_info()
        var status = call(id, bufferSize: bufferSize, info: &info)
        if status.status == Status.bufferTooSmall { status = call(id, bufferSize: info.needed, info: &info) }
        switch status.status {
        case Status.ok: return .found(payload: status.payload, serial: info.serial, lastHeartbeat: info.last_heartbeat)
        case Status.notFound: return .notFound
        default: return .failed(status.status)
        }
    }

    /// One hostess_reader_lookup call.
    private func call(_ id: String, bufferSize: Int, info: inout hostess_entry_info) -> (status: Int32, payload: [UInt8]) {
        var buffer = [CChar](repeating: 0, count: max(bufferSize, 1))
        var text = id
        let status = text.withUTF8 { bytes in
            buffer.withUnsafeMutableBufferPointer { out in
                hostess_reader_lookup(
                    handle, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, bytes.count, out.baseAddress,
                    out.count, &info)
            }
        }
        guard status == Status.ok, info.length < buffer.count, buffer[info.length] == 0 else { return (status, []) }
        return (status, buffer[..<info.length].map { UInt8(bitPattern: $0) })
    }

    /// Calls `body` with `filter` as the C library's filter (strings valid during the call).
    static func withFilter<R>(_ filter: ServerFilter, _ body: (UnsafePointer<hostess_filter>) -> R) -> R {
        let names = filter.capabilities.map { strdup($0) }
        let fqdn = filter.fqdn.map { strdup($0) }
        let servername = filter.servername.map { strdup($0) }
        let owner = filter.owner.map { strdup($0) }
        defer {
            for name in names { free(name) }
            for part in [fqdn, servername, owner] { free(part ?? nil) }
        }
        let constant = names.map { $0.map { UnsafePointer($0) } }
        return constant.withUnsafeBufferPointer { list in
            var c = hostess_filter()
            if let code = filter.classCode {
                c.has_class = 1
                c.class_code = code.value
            }
            c.capabilities = list.baseAddress
            c.capability_count = list.count
            c.min_available_terminals = UInt32(clamping: filter.availableTerminals ?? 0)
            c.unreserved = filter.unreserved ? 1 : 0
            c.fqdn = (fqdn ?? nil).map { UnsafePointer($0) }
            c.servername = (servername ?? nil).map { UnsafePointer($0) }
            c.owner = (owner ?? nil).map { UnsafePointer($0) }
            return body(&c)
        }
    }

    /// The payloads (and fields) `hostess_reader_query` delivers for `filter`, or its failure status.
    func query(_ filter: ServerFilter) -> (status: Int32, payloads: [[UInt8]], infos: [hostess_entry_info]) {
        let collector = Collector()
        var count = 0
        let status = withExtendedLifetime(collector) {
            Self.withFilter(filter) { cFilter in
                hostess_reader_query(
                    handle, cFilter,
                    { context, payload, length, info in
                        guard let context, let payload, let info else { return 1 }
                        let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
                        collector.payloads.append(Array(UnsafeRawBufferPointer(start: payload, count: length)))
                        collector.infos.append(info.pointee)
                        return 0
                    }, Unmanaged.passUnretained(collector).toOpaque(), &count)
            }
        }
        guard status == Status.ok, count == collector.payloads.count else { return (status == Status.ok ? -999 : status, [], []) }
        return (status, collector.payloads, collector.infos)
    }

    /// `hostess_reader_count` for `filter`, or nil with an issue recorded when it fails.
    func count(_ filter: ServerFilter) -> Int? {
        var count = 0
        let status = Self.withFilter(filter) { hostess_reader_count(handle, $0, &count) }
        guard status == Status.ok else {
            Issue.record("hostess_reader_count: \(describe(status))")
            return nil
        }
        return count
    }

    /// The header's revision.
    var revision: UInt64 { hostess_reader_revision(handle) }

    /// The revision of the copy readers use now, or nil when the read was busy.
    var stableRevision: UInt64? {
        var revision: UInt64 = 0
        return hostess_reader_stable_revision(handle, &revision) == Status.ok ? revision : nil
    }

    /// FUTEX_WAIT for a revision past `after`: the status and the revision seen last.
    func wait(after: UInt64, milliseconds: Int64) -> (status: Int32, revision: UInt64) {
        var revision: UInt64 = 0
        let status = hostess_reader_wait(handle, after, milliseconds, &revision)
        return (status, revision)
    }

    /// What the kernel and the header say about the writer.
    var liveness: hostess_liveness { hostess_reader_liveness(handle) }
    /// Whether the region is alive and its writer's heartbeat fresh.
    var isLive: Bool { hostess_reader_is_live(handle) != 0 }
}

/// The C library's liveness for the Swift reader's.
private func cLiveness(_ liveness: RegionReader.Liveness) -> hostess_liveness {
    switch liveness {
    case .alive: HOSTESS_LIVENESS_ALIVE
    case .closed: HOSTESS_LIVENESS_CLOSED
    case .writerGone: HOSTESS_LIVENESS_WRITER_GONE
    case .replaced: HOSTESS_LIVENESS_REPLACED
    }
}

/// The id with its UUID (the seventh field) in upper case: a spelling the socket's getServer also accepts.
private func upperCaseUUID(_ id: String) -> String {
    guard let uuid = try? ServerName(parsing: id).uuid, let range = id.range(of: uuid) else { return id }
    return id.replacingCharacters(in: range, with: uuid.uppercased())
}

/// Compares the C reader's answer for `id` with the Swift reader's (`RegionReader.getServer`): the same entry,
/// byte for byte what the Swift reader gives for it (its `json`), or both without one.
private func expectSameLookup(
    _ c: CReader, _ swift: RegionReader, _ id: String, _ context: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let expected = try swift.getServer(id)
    let got = c.lookup(id)
    switch (expected, got) {
    case (nil, .notFound): break
    case (let entry?, .found(let payload, let serial, let heartbeat)):
        #expect(payload == entry.json.jsonBytes, "\(context): \(id): C gave \(got), Swift \(entry.json.jsonText)", sourceLocation: sourceLocation)
        #expect(serial == entry.serial && heartbeat == entry.lastHeartbeat, "\(context): \(id)", sourceLocation: sourceLocation)
    default:
        Issue.record("\(context): \(id): C gave \(got), Swift \(expected.map(\.json.jsonText) ?? "nil")", sourceLocation: sourceLocation)
    }
}

/// Compares the C reader's query and count for `filter` with the Swift reader's.
private func expectSameQuery(
    _ c: CReader, _ swift: RegionReader, _ filter: ServerFilter, _ context: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let expected = try swift.query(filter).map(\.json.jsonBytes)
    let got = c.query(filter)
    #expect(got.status == Status.ok, "\(context): \(filter): \(describe(got.status))", sourceLocation: sourceLocation)
    #expect(
        got.payloads == expected,
        "\(context): \(filter): C gave \(got.payloads.map { String(decoding: $0, as: UTF8.self) }), Swift \(expected.map { String(decoding: $0, as: UTF8.self) })",
        sourceLocation: sourceLocation)
    #expect(c.count(filter) == (try swift.count(filter)), "\(context): \(filter)", sourceLocation: sourceLocation)
}

// MARK: - The sanitized driver

/// `CReaderDriver/driver.c` and the library, compiled once per test process with AddressSanitizer and
/// UndefinedBehaviorSanitizer into the build directory, and run against one region at a time.
private enum SanitizedDriver {
    /// The repository's root.
    static let root = DocumentedReaderTests.root
    /// The library's directory.
    static let library = root + "/Sources/CHostessReader"
    /// The driver's source.
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/CReaderDriver/driver.c"
    /// The sanitizer flags: any report is fatal.
    static let sanitizers = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    /// The sanitizers' run-time options: leaks are reported too, and any report exits non-zero.
    static let environment = ["ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0", "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"]

    /// The toolchain's clang: the one beside swift, else the first `clang` on PATH.
    static func clang() -> String? {
        var candidates = ["/opt/swift/usr/bin/clang"]
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        candidates += path.split(separator: ":").map { $0 + "/clang" }
        return candidates.first { access($0, X_OK) == 0 }
    }

    /// The driver's path, or why it could not be built. A missing compiler or sanitizer run-time is a failure
    /// of the test, never a reason to skip it.
    static let built: Result<String, TestFailure> = {
        do { return .success(try build()) } catch let failure as TestFailure { return .failure(failure) } catch {
            return .failure(TestFailure("\(error)"))
        }
    }()

    private static func build() throws -> String {
        guard let clang = clang() else { throw TestFailure("no clang found (looked beside swift and on PATH): the sanitized C reader tests need it") }
        let scratch = try ScratchDirectory()
        // First, that the sanitizer run-time is there and catches a one-byte heap overflow.
        let probe = try scratch.write(
            "probe.c",
            "#include <stdlib.h>\nint main(int argc, char **argv) { (void)argv; char *p = malloc(8); p[7 + argc] = 1; int r = p[0]; free(p); return r & 0; }\n")
        let probeBinary = scratch.path + "/probe"
        let compiled = try CLI.run(clang, sanitizers + ["-g", probe, "-o", probeBinary], timeout: 120)
        guard compiled.status == 0 else { throw TestFailure("\(clang) cannot build with \(sanitizers.joined(separator: " ")):\n\(compiled)") }
        let caught = try CLI.run(probeBinary, [], environment: environment)
        guard caught.status != 0, caught.stderr.contains("AddressSanitizer: heap-buffer-overflow") else {
            throw TestFailure("AddressSanitizer did not catch a heap overflow: \(caught)")
        }
        // Then the driver, with the library's own warnings as errors.
        let output = Binaries.directory + "/hostess-reader-driver-asan"
        let temporary = output + ".\(getpid()).tmp"
        let driver = try CLI.run(
            clang,
            ["-std=c11", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic"] + sanitizers + [
                "-I", library + "/include", library + "/hostess_reader.c", source, "-o", temporary,
            ], timeout: 300)
        guard driver.status == 0 else { throw TestFailure("building the sanitized driver failed:\n\(driver)") }
        guard rename(temporary, output) == 0 else { throw SystemError("rename \(temporary)", errno: errno) }
        return output
    }

    /// What the driver printed: its `open` line and one line per command.
    struct Output {
        var open: [String]
        var lines: [String]
    }

    /// Runs the driver on `name` with `commands` and requires a clean exit with no sanitizer report.
    static func run(_ name: String, trusted: [UInt32], commands: [String]) throws -> Output {
        let driver = try built.get()
        let outcome = try CLI.run(
            driver, trusted.flatMap { ["--trust", String($0)] } + [name], environment: environment,
            stdin: commands.joined(separator: "\n") + "\n", timeout: 120)
        for report in ["AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"] where outcome.stderr.contains(report) {
            throw TestFailure("the sanitizers reported on \(name):\n\(outcome.stderr)")
        }
        guard outcome.status == 0 else { throw TestFailure("the driver failed on \(name): \(outcome)") }
        let lines = outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        guard let first = lines.first, first.hasPrefix("open ") else { throw TestFailure("no open line: \(outcome)") }
        return Output(open: first.split(separator: " ").map(String.init), lines: Array(lines.dropFirst()))
    }
}

/// Bytes from lower-case hex.
private func unhex(_ text: Substring) -> [UInt8]? {
    guard text != "-" else { return [] }
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    for index in stride(from: 0, to: digits.count, by: 2) {
        guard let high = digits[index].hexValue, let low = digits[index + 1].hexValue else { return nil }
        bytes.append(high << 4 | low)
    }
    return bytes
}

extension UInt8 {
    /// The value of a hex digit, or nil.
    fileprivate var hexValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

// MARK: - Corrupt regions

/// A region (or a name) made for one corrupt-region case, and what to ask the readers.
struct CReaderPreparedRegion {
    var name: String
    /// The ids the region's entries have (empty for a region that is refused at open).
    var ids: [String]
    var cleanup: () -> Void
}

/// One case of CorruptRegionTests: how to make the damaged region, and what the C reader may answer differently.
struct CReaderRegionCase: CustomTestStringConvertible, Sendable {
    var testDescription: String
    /// Random damage (fuzzing): a payload one reader's checks refuse may pass the other's, so answers are
    /// compared as JSON and either reader may call a payload corrupt.
    var fuzz = false
    /// Uids the readers trust.
    var trusted: [UInt32] = []
    /// The open status and failing field the C reader gives by design where the Swift reader opens the region.
    var refusedByDesign: (status: Int32, field: String)? = nil
    /// Makes the region.
    var make: @Sendable () throws -> CReaderPreparedRegion

    /// A copy of the sound region of CorruptRegionTests with `damage` applied, written under /dev/shm.
    static func bytes(
        _ description: String, fuzz: Bool = false, mode: mode_t = 0o644, refusedByDesign: (status: Int32, field: String)? = nil,
        _ damage: @escaping @Sendable (inout [UInt8], [GuestBookEntry]) throws -> Void
    ) -> CReaderRegionCase {
        CReaderRegionCase(testDescription: description, fuzz: fuzz, refusedByDesign: refusedByDesign) {
            var (bytes, entries) = try RegionCopies.sound()
            try damage(&bytes, entries)
            let file = try RegionCopies.File(bytes, mode: mode)
            return CReaderPreparedRegion(name: file.name, ids: entries.map(\.id), cleanup: { file.remove() })
        }
    }

    /// Damage applied to both copies.
    static func bothCopies(_ damage: DataDamage) -> @Sendable (inout [UInt8], [GuestBookEntry]) throws -> Void {
        { bytes, entries in
            let layout = RegionCopies.layout
            guard let first = entries.first?.id else { throw TestFailure("the sound region has no entries") }
            for copy in [layout.copy0Offset, layout.copy1Offset] {
                damage.apply(to: &bytes, copy: copy, layout: layout, liveSlots: liveSlots(bytes, copy: copy, layout: layout), firstID: first)
            }
        }
    }

    /// Every case: each region CorruptRegionTests refuses or reads, and what RegionAbuseTests plants.
    static let all: [CReaderRegionCase] = {
        typealias H = RegionLayout.Header
        let layout = RegionCopies.layout
        var cases: [CReaderRegionCase] = [bytes("sound copy") { _, _ in }]
        // Opening.
        for seed in [1, 2, 3] as [UInt64] {
            cases.append(
                CReaderRegionCase(testDescription: "random bytes \(seed)") {
                    var generator = SplitMix64(seed: seed)
                    var bytes = (0..<RegionCopies.layout.regionSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
                    if bytes.little(UInt64.self, at: 0) == RegionLayout.magic { bytes[0] ^= 1 }
                    let file = try RegionCopies.File(bytes)
                    return CReaderPreparedRegion(name: file.name, ids: [], cleanup: { file.remove() })
                })
        }
        for size in [0, 1, 100, RegionLayout.headerSize - 1] {
            cases.append(bytes("\(size) bytes") { bytes, _ in bytes = Array(bytes.prefix(size)) })
        }
        cases.append(bytes("truncated to half") { bytes, _ in bytes = Array(bytes.prefix(bytes.count / 2)) })
        cases.append(bytes("one byte short") { bytes, _ in bytes.removeLast() })
        for byte in [0, 3, 7] { cases.append(bytes("magic byte \(byte)") { bytes, _ in bytes[H.magic + byte] ^= 0x20 }) }
        cases.append(bytes("version 0") { bytes, _ in bytes.setLittle(UInt32(0), at: H.version) })
        for (major, minor) in [(1, 0), (2, 0), (2, 1), (4, 0), (0, 1), (0xFFFF, 0xFFFF)] as [(UInt32, UInt32)] {
            cases.append(bytes("version \(major).\(minor)") { bytes, _ in bytes.setLittle(major << 16 | minor, at: H.version) })
        }
        cases.append(bytes("newer minor version") { bytes, _ in bytes.setLittle(RegionLayout.versionMajor << 16 | 7, at: H.version) })
        for bit in [0, 1, 63] {
            cases.append(bytes("fingerprint bit \(bit)") { bytes, _ in bytes.setLittle(RegionLayout.fingerprint ^ (1 << UInt64(bit)), at: H.fingerprint) })
        }
        for change in CorruptRegionTests.headerChanges {
            cases.append(
                bytes("header \(change.field)") { bytes, _ in
                    let value = change.value(layout)
                    if change.width == 4 { bytes.setLittle(UInt32(truncatingIfNeeded: value), at: change.offset) } else { bytes.setLittle(value, at: change.offset) }
                })
        }
        for delta in [-1, 1] {
            cases.append(bytes("capacity off by \(delta)") { bytes, _ in bytes.setLittle(UInt32(RegionCopies.capacity + delta), at: H.capacity) })
        }
        for mode in [0o666, 0o664, 0o646, 0o622] as [mode_t] {
            cases.append(bytes("mode \(String(mode, radix: 8))", mode: mode) { _, _ in })
        }
        for trusted in [[], [1000, 4242], [65534]] as [[UInt32]] {
            var owned = CReaderRegionCase(testDescription: "owned by 65534, trusting \(trusted)") {
                let (bytes, entries) = try RegionCopies.sound()
                let file = try RegionCopies.File(bytes)
                guard chown(file.path, 65534, 65534) == 0 else { throw SystemError("chown \(file.path)", errno: errno) }
                return CReaderPreparedRegion(name: file.name, ids: entries.map(\.id), cleanup: { file.remove() })
            }
            owned.trusted = trusted
            cases.append(owned)
        }
        cases.append(
            CReaderRegionCase(testDescription: "symbolic link to a sound region") {
                let (bytes, _) = try RegionCopies.sound()
                let file = try RegionCopies.File(bytes)
                let link = "/hostess-test-link-" + UUID().uuidString.lowercased()
                guard symlink(file.path, SharedMemory.directory + link) == 0 else { throw SystemError("symlink", errno: errno) }
                return CReaderPreparedRegion(name: link, ids: [], cleanup: { unlink(SharedMemory.directory + link); file.remove() })
            })
        cases.append(
            CReaderRegionCase(testDescription: "a directory") {
                let directory = "/hostess-test-dir-" + UUID().uuidString.lowercased()
                guard mkdir(SharedMemory.directory + directory, 0o755) == 0 else { throw SystemError("mkdir", errno: errno) }
                return CReaderPreparedRegion(name: directory, ids: [], cleanup: { rmdir(SharedMemory.directory + directory) })
            })
        cases.append(
            CReaderRegionCase(testDescription: "a missing name") {
                CReaderPreparedRegion(name: "/hostess-test-missing-" + UUID().uuidString.lowercased(), ids: [], cleanup: {})
            })
        for name in ["", "/", "no-slash", "/a/b", "/..", "/."] {
            cases.append(CReaderRegionCase(testDescription: "name '\(name)'") { CReaderPreparedRegion(name: name, ids: [], cleanup: {}) })
        }
        for plant in RegionAbuseTests.Plant.allCases {
            cases.append(
                CReaderRegionCase(testDescription: "\(plant) planted by nobody") {
                    let (name, path) = RegionAbuseTests.freshName()
                    try RegionAbuseTests.asNobody(plant.code(path))
                    return CReaderPreparedRegion(name: name, ids: [], cleanup: { rmdir(path); unlink(path) })
                })
        }
        // Damage behind a sound header.
        for damage in DataDamage.allCases { cases.append(bytes("both copies: \(damage)", bothCopies(damage))) }
        cases.append(
            bytes("the idle copy: indexSlotPastCapacity") { bytes, entries in
                let idle = bytes.little(UInt64.self, at: H.sequence) & 1 == 0 ? layout.copy1Offset : layout.copy0Offset
                DataDamage.indexSlotPastCapacity.apply(
                    to: &bytes, copy: idle, layout: layout, liveSlots: liveSlots(bytes, copy: idle, layout: layout), firstID: entries.first?.id ?? "")
            })
        // The Swift reader clamps a capability count past the table; the C reader refuses it at open.
        cases.append(
            bytes("capability table", refusedByDesign: (Status.inconsistentHeader, "capabilityCount")) { bytes, _ in
                bytes.setLittle(UInt32.max, at: H.capabilityCount)
                for index in 0..<4 { bytes.setLittle(UInt16.max, at: layout.capabilityTableOffset + index * RegionLayout.capabilitySize) }
            })
        cases.append(
            bytes("capability names damaged, count sound") { bytes, _ in
                for index in 0..<4 { bytes.setLittle(UInt16.max, at: layout.capabilityTableOffset + index * RegionLayout.capabilitySize) }
            })
        cases.append(
            bytes("garbled payload") { bytes, entries in
                let copy = bytes.little(UInt64.self, at: H.sequence) & 1 == 0 ? layout.copy0Offset : layout.copy1Offset
                let target = entries[4]
                guard
                    let slot = liveSlots(bytes, copy: copy, layout: layout).first(where: { slot in
                        bytes.little(UInt64.self, at: copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize) == target.serial
                    })
                else { throw TestFailure("no slot holds serial \(target.serial)") }
                let record = copy + layout.recordsOffsetInCopy + slot * RegionLayout.recordSize
                let payload = Int(bytes.little(UInt32.self, at: record + RegionLayout.Record.payloadOffset))
                bytes[copy + layout.arenaOffsetInCopy + payload] = UInt8(ascii: "#")
            })
        cases.append(
            bytes("arena use past any integer") { bytes, _ in
                for copy in [layout.copy0Offset, layout.copy1Offset] { bytes.setLittle(UInt64.max, at: copy + RegionLayout.CopyHeader.arenaUsed) }
            })
        // Fuzz.
        for seed in 1...12 as ClosedRange<UInt64> {
            cases.append(
                bytes("64 random bytes flipped after the header, seed \(seed)", fuzz: true) { bytes, _ in
                    var generator = SplitMix64(seed: seed)
                    for _ in 0..<64 {
                        let offset = Int.random(in: RegionLayout.headerSize..<bytes.count, using: &generator)
                        bytes[offset] ^= UInt8.random(in: 1...255, using: &generator)
                    }
                })
            cases.append(
                bytes("64 random bytes flipped in the parts in use, seed \(seed)", fuzz: true) { bytes, _ in
                    let used = [layout.copy0Offset, layout.copy1Offset].map { copy in
                        (copy, layout.arenaOffsetInCopy + Int(bytes.little(UInt64.self, at: copy + RegionLayout.CopyHeader.arenaUsed)))
                    }
                    var generator = SplitMix64(seed: seed)
                    for _ in 0..<64 {
                        let (copy, length) = used[Int.random(in: 0...1, using: &generator)]
                        bytes[copy + Int.random(in: 0..<length, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
                    }
                })
        }
        return cases
    }()
}

/// The filters the corrupt-region cases query, as driver criteria and as Swift filters (CorruptRegionTests' and a
/// few more).
private let corruptFilters: [(criteria: String, filter: ServerFilter)] = [
    ("", ServerFilter()),
    ("class=0x0002", ServerFilter(classCode: ClassCode(2))),
    ("class=0x0001 fqdn=localhost", ServerFilter(fqdn: "localhost", classCode: ClassCode(1))),
    ("cap=gpu", ServerFilter(capabilities: ["gpu"])),
    ("cap=pty cap=vt100 avail=1", ServerFilter(capabilities: ["pty", "vt100"], availableTerminals: 1)),
    ("cap=never-interned", ServerFilter(capabilities: ["never-interned"])),
    ("fqdn=localhost servername=server-7 owner=root", ServerFilter(fqdn: "localhost", servername: "server-7", owner: "root")),
    ("servername=server-1", ServerFilter(servername: "server-1")),
    ("unreserved avail=2", ServerFilter(availableTerminals: 2, unreserved: true)),
]

/// Checks the driver's `open` line against the Swift reader's verdict on the same name; nil when they agree.
private func openMismatch(_ open: [String], swift: RegionError?, byDesign: (status: Int32, field: String)?) -> String? {
    guard open.count == 9, let status = Int32(open[1]), let error = Int32(open[3]), let owner = UInt32(open[4]), let mode = UInt32(open[5], radix: 8),
        let size = Int(open[6]), let needed = Int(open[7]), let version = UInt32(open[8])
    else { return "malformed open line \(open)" }
    let field = open[2]
    let said = "C said \(describe(status)) field \(field) errno \(error) owner \(owner) mode \(String(mode, radix: 8)) size \(size) needed \(needed)"
    if let byDesign {
        return status == byDesign.status && field == byDesign.field ? nil : "\(said), expected \(describe(byDesign.status)) on \(byDesign.field)"
    }
    let agrees: Bool
    switch swift {
    case nil: agrees = status == Status.ok
    case .system(let system)?:
        agrees = system.errno == EINVAL ? status == Status.invalidName : status == Status.system && error == system.errno
    case .notRegularFile(_, _, let swiftOwner, _)?: agrees = status == Status.notRegularFile && owner == swiftOwner
    case .untrustedOwner(_, let swiftOwner)?: agrees = status == Status.untrustedOwner && owner == swiftOwner
    case .writableByOthers(_, let swiftMode)?: agrees = status == Status.writableByOthers && mode == swiftMode
    case .tooSmall(_, let swiftSize, let swiftNeeded)?: agrees = status == Status.tooSmall && size == swiftSize && needed == swiftNeeded
    case .badMagic?: agrees = status == Status.badMagic
    case .notReady?: agrees = status == Status.notReady
    case .unsupportedVersion(_, let major, let minor)?: agrees = status == Status.unsupportedVersion && version == major << 16 | minor
    case .fingerprintMismatch?: agrees = status == Status.fingerprintMismatch
    case .inconsistentHeader(_, let swiftField)?: agrees = status == Status.inconsistentHeader && swiftField.hasPrefix(field)
    case let other?: return "\(said); the Swift reader gave an unexpected \(other)"
    }
    return agrees ? nil : "\(said), Swift: \(swift.map { "\($0)" } ?? "opened")"
}

/// Whether `payload` keeps what the C reader promises of every payload it hands out: an object whose first member is
/// `"id"` (spelling `id`, when given, as the writer's JSON does) and that ends with its closing brace.
private func keepsCPromise(_ payload: [UInt8], id: String?) -> Bool {
    let prefix = Array(#"{"id":"#.utf8) + (id.map { JSONValue.string($0).jsonBytes } ?? [UInt8(ascii: "\"")])
    return payload.count > prefix.count && payload.starts(with: prefix) && payload.last == UInt8(ascii: "}")
}

/// Whether `payload` parses as a JSON object whose `id` is `id` (or, with nil, has any string id).
private func isEntryJSON(_ payload: [UInt8], id: String?) -> Bool {
    guard let object = try? JSONParser.parse(payload).objectValue, let found = object["id"]?.stringValue else { return false }
    return id == nil || found == id
}

// MARK: - Tests

/// The C reader library (`Sources/CHostessReader`, issue 16) against the Swift reader on real regions: what
/// hostessd publishes under random workloads and write storms, every corrupt region of CorruptRegionTests (in a
/// driver built with AddressSanitizer and UndefinedBehaviorSanitizer), waits, liveness, and a plain C11 build.
@Suite("C reader library")
struct CReaderTests {
    // MARK: Random workloads

    /// An fqdn long enough to put an id past the record's 128 inline bytes.
    static let longFQDN = "node-0042.rack-0017.east.datacenter.arena-id.long-hostnames.example.internal"

    @Test(
        "lookups, queries and counts of the C reader equal the Swift reader's over random workloads, long ids and heartbeats included",
        arguments: [1, 2, 3] as [UInt64])
    func randomWorkloads(seed: UInt64) throws {
        // A small arena, so re-registrations compact it and move payloads and long ids.
        let daemon = try DaemonProcess(["--capacity", "96", "--entry-bytes", "2048"])
        let client = try daemon.client()
        let swift = try RegionReader(name: daemon.sharedMemoryName)
        let c = try CReader(name: daemon.sharedMemoryName)
        var generator = SplitMix64(seed: seed)
        var live: [String] = []
        var gone: [String] = []
        // 0x0102 shares 0x0002's class bucket (class % 256): a chain walk must skip the other class.
        let classes = ["0x0001", "0x0002", "0x0003", "0x0102"]
        let capabilityPool = ["gpu", "h264", "pty", "vt100", "cuda", "x11"]
        let fqdns = ["localhost", "machine-a.local", Self.longFQDN, "[fe80::1]"]
        var registered = 0
        for step in 0..<300 {
            switch live.isEmpty ? 0 : generator.below(12) {
            case 0...3:
                var id = Fixture.id(servername: "srv-\(generator.below(3))", classCode: generator.pick(classes), fqdn: generator.pick(fqdns))
                // Extensions take some ids up to ~500 bytes; one carries a quote and a backslash the payload escapes.
                if generator.chance(30) {
                    id += ":" + (0..<(1 + generator.below(7))).map { "ext-\($0)-" + String(repeating: "x", count: 40) }.joined(separator: ":")
                }
                if generator.chance(10) { id += #":q"uo\te"# }
                guard id.utf8.count <= RegionLayout.maximumIDBytes else { continue }
                let capabilities = capabilityPool.filter { _ in generator.chance(40) }
                let reply = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: capabilities)])
                if reply.errorCode == nil {
                    live.append(id)
                    registered += 1
                } else {
                    #expect(reply.errorCode == "capacity", "\(reply)")
                }
            case 4:
                let id = live.remove(at: generator.below(live.count))
                _ = try client.request("unregister", ["serverId": .string(id)])
                gone.append(id)
            case 5...6:
                _ = try client.request(
                    "markInUse",
                    ["serverId": .string(generator.pick(live)), "terminal": generator.chance(50) ? "stdin" : "stdout",
                     "connectomeId": .string("c\(generator.below(4))")])
            case 7:
                _ = try client.request("markAvailable", ["serverId": .string(generator.pick(live)), "terminal": "stdin"])
            case 8:
                // A heartbeat updates the slot, not the payload: the C reader must fold it in as the Swift one does.
                usleep(2000)
                _ = try client.request("heartbeat", ["serverId": .string(generator.pick(live))])
            case 9:
                _ = try client.request(
                    "reserve",
                    ["reservation": ["serverFilter": ["class": .string(generator.pick(classes))], "count": 1, "duration": 60000]])
            default:
                let id = generator.pick(live)
                _ = try client.request("register", ["entry": Fixture.entry(id: id, capabilities: [generator.pick(capabilityPool)])])
            }
            guard step % 25 == 24 else { continue }
            let context = "seed \(seed) step \(step)"
            let lookups: [String] = live + Array(gone.suffix(10)) + live.prefix(3).map(upperCaseUUID) + [Fixture.id(), "not-a-name", ""]
            for id in lookups {
                try expectSameLookup(c, swift, id, context)
            }
            var filters = [
                ServerFilter(), ServerFilter(classCode: ClassCode(2)), ServerFilter(classCode: ClassCode(0x102)), ServerFilter(capabilities: ["pty"]),
                ServerFilter(capabilities: ["never-interned"]), ServerFilter(fqdn: Self.longFQDN), ServerFilter(unreserved: true),
                ServerFilter(availableTerminals: 2),
            ]
            for _ in 0..<6 {
                var filter = ServerFilter()
                if generator.chance(50) { filter.classCode = try ClassCode(parsing: generator.pick(classes)) }
                if generator.chance(50) { filter.capabilities = capabilityPool.filter { _ in generator.chance(30) } }
                if generator.chance(30) { filter.availableTerminals = generator.below(3) }
                if generator.chance(25) { filter.fqdn = generator.pick(fqdns) }
                if generator.chance(25) { filter.servername = "srv-1" }
                if generator.chance(20) { filter.owner = generator.chance(50) ? "root" : "nobody" }
                if generator.chance(20) { filter.unreserved = true }
                filters.append(filter)
            }
            for filter in filters { try expectSameQuery(c, swift, filter, context) }
            #expect(c.revision == swift.revision, "\(context)")
            #expect(c.stableRevision == (try swift.stableRevision()), "\(context)")
        }
        #expect(registered > 40, "the workload registered too few entries (\(registered)) to mean much")
        // The whole book also equals the socket's answer, and the convenience queries their filters.
        let all = c.query(ServerFilter())
        #expect((try client.request("listAll")).result?["entries"] == .array(try all.payloads.map { try JSONParser.parse($0) }))
        var count = 0
        #expect(hostess_reader_query_class(c.handle, 2, nil, nil, &count) == Status.ok)
        #expect(count == (try swift.count(ServerFilter(classCode: ClassCode(2)))))
        #expect(hostess_reader_query_capability(c.handle, "pty", nil, nil, &count) == Status.ok)
        #expect(count == (try swift.count(ServerFilter(capabilities: ["pty"]))))
        #expect(try swift.check() == [])
    }

    // MARK: Write storm

    /// Tallies what the storm's reader threads saw.
    final class StormTally: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var lookups = 0
        private(set) var queries = 0
        private(set) var busy = 0
        private(set) var problems: [String] = []

        func add(lookups: Int, queries: Int, busy: Int, problems: [String]) {
            lock.withLock {
                self.lookups += lookups
                self.queries += queries
                self.busy += busy
                if self.problems.count < 20 { self.problems += problems.prefix(20 - self.problems.count) }
            }
        }
    }

    /// An entry whose payload size and capabilities change with `n`.
    static func stormEntry(id: String, n: Int) -> JSONValue {
        guard case .object(var object) = Fixture.entry(id: id, capabilities: n % 2 == 0 ? ["pty"] : ["pty", "gpu", "cuda"]) else { return .null }
        object["metadata"] = ["n": .int(Int64(n)), "pad": .string(String(repeating: "x", count: n % 300))]
        return .object(object)
    }

    @Test("during a write storm, C lookups and queries from several threads give only whole entries, and retries stay bounded")
    func writeStorm() throws {
        let daemon = try DaemonProcess(["--capacity", "128", "--entry-bytes", "2048"])
        let setup = try daemon.client()
        let ids = (0..<48).map { index in
            Fixture.id(servername: "storm-\(index)", classCode: index % 3 == 0 ? "0x0002" : "0x0001", fqdn: index % 4 == 0 ? Self.longFQDN : "localhost")
        }
        for id in ids { #expect(try setup.request("register", ["entry": Self.stormEntry(id: id, n: 0)]).errorCode == nil) }
        let reader = try CReader(name: daemon.sharedMemoryName)
        let before = hostess_reader_retries(reader.handle)
        let deadline = Date().addingTimeInterval(3)
        let tally = StormTally()
        let done = DispatchGroup()
        nonisolated(unsafe) var changes = 0
        // The writer: re-registrations that change every entry's payload size and capabilities, bounded in count and time.
        done.enter()
        let writer = Thread {
            defer { done.leave() }
            guard let client = try? daemon.client() else { return }
            var n = 0
            while n < 20_000 && Date() < deadline {
                n += 1
                guard (try? client.request("register", ["entry": Self.stormEntry(id: ids[n % ids.count], n: n)])) != nil else { return }
                changes = n
            }
        }
        writer.start()
        // Readers: lookups of every id, and now and then a whole query, through one shared C reader.
        for thread in 0..<2 {
            done.enter()
            let worker = Thread {
                defer { done.leave() }
                var generator = SplitMix64(seed: UInt64(thread + 1))
                var lookups = 0, queries = 0, busy = 0
                var problems: [String] = []
                var iteration = 0
                while iteration < 2_000_000 && Date() < deadline {
                    iteration += 1
                    let id = ids[generator.below(ids.count)]
                    switch reader.lookup(id, bufferSize: 4096) {
                    case .found(let payload, let serial, _):
                        guard let object = try? JSONParser.parse(payload).objectValue, object["id"]?.stringValue == id,
                            object["serial"] == .int(Int64(serial))
                        else {
                            problems.append("torn or foreign payload for \(id): \(String(decoding: payload, as: UTF8.self))")
                            continue
                        }
                    case .failed(let status) where status == Status.busy: busy += 1
                    case let other: problems.append("\(id): \(other)")
                    }
                    lookups += 1
                    if iteration % 200 == 0 {
                        let answer = reader.query(ServerFilter(classCode: ClassCode(1)))
                        if answer.status == Status.busy {
                            busy += 1
                        } else if answer.status != Status.ok {
                            problems.append("query: \(describe(answer.status))")
                        } else {
                            let serials = answer.infos.map(\.serial)
                            if answer.payloads.count != 32 || serials != serials.sorted() || Set(serials).count != serials.count
                                || !answer.payloads.allSatisfy({ isEntryJSON($0, id: nil) })
                            {
                                problems.append("query gave \(answer.payloads.count) entries, serials \(serials)")
                            }
                        }
                        queries += 1
                    }
                }
                tally.add(lookups: lookups, queries: queries, busy: busy, problems: problems)
            }
            worker.start()
        }
        #expect(done.wait(timeout: .now() + 30) == .success, "the storm did not end")
        let retries = hostess_reader_retries(reader.handle) - before
        #expect(tally.problems.isEmpty, "\(tally.problems)")
        #expect(changes > 100, "the writer made only \(changes) changes")
        #expect(tally.lookups > 1000, "only \(tally.lookups) lookups")
        #expect(tally.busy == 0, "\(tally.busy) answers were busy")
        // Each retry is a publication overlapping a read; they stay well under one per read.
        #expect(retries < UInt64(tally.lookups + tally.queries), "\(retries) retries for \(tally.lookups) lookups and \(tally.queries) queries")
        // At rest, the C reader agrees with the Swift reader again.
        let swift = try RegionReader(name: daemon.sharedMemoryName)
        for id in ids { try expectSameLookup(reader, swift, id, "after the storm") }
        try expectSameQuery(reader, swift, ServerFilter(), "after the storm")
    }

    // MARK: Corrupt regions

    @Test("every corrupt region of CorruptRegionTests: the C reader, under ASan and UBSan, refuses it at open as the Swift reader does or answers as it does", arguments: CReaderRegionCase.all)
    func corruptRegion(_ corruptCase: CReaderRegionCase) throws {
        let prepared = try corruptCase.make()
        defer { prepared.cleanup() }
        let context = corruptCase.testDescription
        var swiftError: RegionError?
        var swift: RegionReader?
        do { swift = try RegionReader(name: prepared.name, trustedOwners: Set(corruptCase.trusted)) } catch { swiftError = error }

        let first = prepared.ids.first ?? Fixture.id()
        let unknown = Fixture.id()
        let lookups = prepared.ids + [unknown, unknown.uppercased(), "not-a-name", "", upperCaseUUID(first)] + prepared.ids.dropFirst().prefix(1).map(upperCaseUUID)
        var commands = lookups.map { "get " + $0 } + ["small " + first]
        for (criteria, _) in corruptFilters { commands += ["query " + criteria, "count " + criteria] }
        commands += ["revision", "liveness", "wait 50"]
        let output = try SanitizedDriver.run(prepared.name, trusted: corruptCase.trusted, commands: commands)

        if let mismatch = openMismatch(output.open, swift: swiftError, byDesign: corruptCase.refusedByDesign) {
            Issue.record("\(context): \(mismatch)")
            return
        }
        guard let swift, corruptCase.refusedByDesign == nil, output.open[1] == "0" else {
            #expect(output.lines.isEmpty, "\(context): a refused region answered \(output.lines)")
            return
        }
        try #require(output.lines.count == commands.count, "\(context): \(output.lines.count) answers to \(commands.count) commands")
        let fuzz = corruptCase.fuzz
        var getStatus: [String: Int32] = [:]
        for (command, line) in zip(commands, output.lines) {
            let words = line.split(separator: " ", omittingEmptySubsequences: false)
            let note = "\(context): '\(command)' → '\(line.prefix(300))'"
            switch words.first {
            case "get":
                let id = String(command.dropFirst(4))
                guard words.count == 7, let status = Int32(words[1]), let payload = unhex(words[3]), let slot = Int(words[5]) else {
                    Issue.record("\(note): malformed")
                    continue
                }
                getStatus[id] = status
                let canonical = (try? ServerName(parsing: id).description) ?? id
                switch Result(catching: { () throws(RegionError) in try swift.getServer(id) }) {
                case .success(nil):
                    #expect(status == Status.notFound, "\(note): Swift found nothing")
                case .success(let entry?) where entry.id != id && entry.id != canonical:
                    // The Swift reader passes on whatever payload the record names; the C reader checks its id.
                    #expect(status == Status.corrupt, "\(note): Swift gave the entry of \(entry.id)")
                case .success(let entry?):
                    if fuzz {
                        // Random flips can leave a payload one reader accepts and the other not, or one the Swift reader
                        // decodes into another entry (its name parts come from the id); the C reader's own promise holds.
                        #expect(status == Status.corrupt || (status == Status.ok && keepsCPromise(payload, id: canonical)), "\(note): Swift gave \(entry.json.jsonText)")
                    } else {
                        #expect(status == Status.ok && payload == entry.json.jsonBytes, "\(note): Swift gave \(entry.json.jsonText)")
                    }
                case .failure(.corruptPayload(_, let swiftSlot, _)):
                    if fuzz {
                        #expect(status == Status.corrupt || (status == Status.ok && keepsCPromise(payload, id: canonical)), "\(note)")
                    } else {
                        #expect(status == Status.corrupt && slot == swiftSlot, "\(note): Swift said slot \(swiftSlot) is corrupt")
                    }
                case .failure(let error):
                    Issue.record("\(note): the Swift reader failed: \(error)")
                }
            case "small":
                guard words.count == 4, let status = Int32(words[1]), let needed = Int(words[2]), let again = Int32(words[3]) else {
                    Issue.record("\(note): malformed")
                    continue
                }
                switch getStatus[String(command.dropFirst(6))] {
                case Status.ok?: #expect(status == Status.bufferTooSmall && needed > 1 && again == Status.ok, "\(note)")
                case Status.corrupt?: #expect((status == Status.corrupt || status == Status.bufferTooSmall) && again == Status.corrupt, "\(note)")
                case let other: #expect(other.map { $0 == status } == true, "\(note): its lookup said \(other.map(describe) ?? "nothing")")
                }
            case "query":
                guard words.count == 4, let status = Int32(words[1]), let filter = corruptFilters.first(where: { "query " + $0.criteria == command })?.filter
                else {
                    Issue.record("\(note): malformed")
                    continue
                }
                let payloads = words[3] == "-" ? [] : words[3].split(separator: ",").compactMap(unhex)
                switch Result(catching: { () throws(RegionError) in try swift.query(filter) }) {
                case .success(let entries):
                    if fuzz {
                        #expect(
                            status == Status.corrupt
                                || (status == Status.ok && payloads.count == entries.count && payloads.allSatisfy { keepsCPromise($0, id: nil) }),
                            "\(note): Swift gave \(entries.count) entries")
                    } else {
                        #expect(status == Status.ok && payloads == entries.map(\.json.jsonBytes), "\(note): Swift gave \(entries.map(\.json.jsonText))")
                    }
                case .failure(.corruptPayload):
                    #expect(status == Status.corrupt || (fuzz && status == Status.ok && payloads.allSatisfy { keepsCPromise($0, id: nil) }), "\(note)")
                case .failure(let error):
                    Issue.record("\(note): the Swift reader failed: \(error)")
                }
            case "count":
                let filter = corruptFilters.first { "count " + $0.criteria == command }?.filter ?? ServerFilter()
                let expected = try swift.count(filter)
                #expect(words.count == 4 && words[1] == "0" && Int(words[2]) == expected, "\(note)")
            case "revision":
                let stable = try swift.stableRevision()
                #expect(words.count == 4 && UInt64(words[1]) == swift.revision && words[2] == "0" && UInt64(words[3]) == stable, "\(note)")
            case "liveness":
                #expect(words.count == 4 && UInt32(words[1]) == cLiveness(swift.liveness()).rawValue && words[2] == "0", "\(note)")
            case "wait":
                let expected = swift.isClosed ? Status.closed : Status.timedOut
                #expect(words.count == 4 && Int32(words[1]) == expected && UInt64(words[2]) == swift.revision, "\(note)")
            default:
                Issue.record("\(note): unexpected answer")
            }
        }
    }

    // MARK: Waiting and liveness

    @Test("a C wait returns promptly after a change, times out when nothing changes, and wakes with CLOSED when hostessd stops")
    func waits() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let reader = try CReader(name: daemon.sharedMemoryName)
        let start = reader.revision

        // Nothing changes: the full timeout passes, and a zero timeout only looks.
        let clock = ContinuousClock()
        let began = clock.now
        let idle = reader.wait(after: start, milliseconds: 300)
        let waited = clock.now - began
        #expect(idle.status == Status.timedOut && idle.revision == start, "\(describe(idle.status))")
        #expect(waited >= .milliseconds(290) && waited < .seconds(3), "\(waited)")
        #expect(reader.wait(after: start, milliseconds: 0).status == Status.timedOut)

        // A change while a thread waits wakes it at once.
        nonisolated(unsafe) var woke: (status: Int32, revision: UInt64)?
        nonisolated(unsafe) var wokeAfter = Duration.zero
        let done = DispatchSemaphore(value: 0)
        let changeBegan = clock.now
        Thread {
            woke = reader.wait(after: start, milliseconds: 10_000)
            wokeAfter = clock.now - changeBegan
            done.signal()
        }.start()
        usleep(100_000)
        #expect(try client.request("register", ["entry": Fixture.entry(id: Fixture.id())]).errorCode == nil)
        #expect(done.wait(timeout: .now() + 5) == .success, "the waiter did not wake")
        #expect(woke?.status == Status.ok && (woke?.revision ?? 0) > start, "\(String(describing: woke))")
        #expect(wokeAfter < .seconds(2), "woke after \(wokeAfter)")
        #expect(reader.wait(after: start, milliseconds: 0).status == Status.ok, "the revision passed: a wait returns at once")
        #expect(reader.revision == (try RegionReader(name: daemon.sharedMemoryName).revision))

        // A clean stop wakes a waiter with CLOSED, and the region says so.
        let current = reader.revision
        woke = nil
        let closeBegan = clock.now
        Thread {
            woke = reader.wait(after: current, milliseconds: 10_000)
            wokeAfter = clock.now - closeBegan
            done.signal()
        }.start()
        usleep(100_000)
        #expect(daemon.stop() != nil)
        #expect(done.wait(timeout: .now() + 5) == .success, "the waiter did not wake at close")
        #expect(woke?.status == Status.closed, "\(String(describing: woke))")
        #expect(wokeAfter < .seconds(3), "woke after \(wokeAfter)")
        #expect(reader.liveness == HOSTESS_LIVENESS_CLOSED)
        #expect(hostess_reader_is_closed(reader.handle) != 0)
        #expect(!reader.isLive)
    }

    @Test("liveness: alive and fresh, stale while hostessd is stopped, writer gone after SIGKILL, replaced and truncated copies")
    func liveness() throws {
        let daemon = try DaemonProcess()
        let reader = try CReader(name: daemon.sharedMemoryName)
        let swift = try RegionReader(name: daemon.sharedMemoryName)
        #expect(reader.liveness == HOSTESS_LIVENESS_ALIVE)
        #expect(reader.isLive)
        #expect(hostess_reader_writer_heartbeat_age_ns(reader.handle) < 1_000_000_000)
        var info = hostess_region_info()
        #expect(hostess_reader_region_info(reader.handle, &info) == Status.ok)
        #expect(Int32(bitPattern: info.writer_pid) == daemon.pid && Int(info.capacity) == swift.layout.capacity)
        #expect(withUnsafeBytes(of: info.instance_id) { Array($0) } == swift.instanceID)
        #expect(hostess_reader_max_payload_bytes(reader.handle) == swift.layout.arenaBytes + Int(HOSTESS_HEARTBEAT_SPLICE_BYTES) + 1)

        // Stopped: the lock is still held, but the heartbeat goes stale.
        kill(daemon.pid, SIGSTOP)
        usleep(1_300_000)
        #expect(reader.liveness == HOSTESS_LIVENESS_ALIVE)
        #expect(!reader.isLive, "a stopped writer's heartbeat is stale")
        kill(daemon.pid, SIGCONT)
        var fresh = false
        for _ in 0..<40 where !fresh {
            usleep(50_000)
            fresh = reader.isLive
        }
        #expect(fresh, "the heartbeat did not resume")

        #expect(daemon.stop(signal: SIGKILL) != nil)
        #expect(reader.liveness == HOSTESS_LIVENESS_WRITER_GONE)
        #expect(reader.liveness == cLiveness(swift.liveness()))
        #expect(!reader.isLive)

        // A copy: no writer; replaced by another file under its name, then gone.
        let (bytes, _) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let copy = try CReader(name: file.name)
        #expect(copy.liveness == HOSTESS_LIVENESS_WRITER_GONE)
        let other = try RegionCopies.File(bytes)
        try #require(rename(other.path, file.path) == 0)
        #expect(copy.liveness == HOSTESS_LIVENESS_REPLACED)
        file.remove()
        #expect(copy.liveness == HOSTESS_LIVENESS_REPLACED)

        // Truncated under the reader: it stops instead of faulting.
        let victim = try RegionCopies.File(bytes)
        defer { victim.remove() }
        let truncatedReader = try CReader(name: victim.name)
        #expect(hostess_reader_check_size(truncatedReader.handle) == Status.ok)
        try #require(truncate(victim.path, 4096) == 0)
        #expect(hostess_reader_check_size(truncatedReader.handle) == Status.truncated)
        #expect(truncatedReader.wait(after: 0, milliseconds: 1000).status == Status.truncated)
    }

    // MARK: The library itself

    @Test("the library compiles with a plain cc -std=c11 -Wall -Wextra -Werror -pedantic -c, links with nothing but libc, and its header is C++-clean")
    func plainBuild() throws {
        let scratch = try ScratchDirectory()
        let library = SanitizedDriver.library
        let compilers = ["cc"] + (SanitizedDriver.clang().map { [$0] } ?? [])
        for compiler in compilers {
            let object = scratch.path + "/hostess_reader-\(compiler.split(separator: "/").last ?? "cc").o"
            // From the repository's root, exactly as docs/shm-layout.md says.
            let built = try CLI.run(
                "/bin/sh",
                ["-c", "cd '\(SanitizedDriver.root)' && \(compiler) -std=c11 -Wall -Wextra -Werror -pedantic -O2 -c Sources/CHostessReader/hostess_reader.c -I Sources/CHostessReader/include -o '\(object)'"])
            #expect(built.status == 0 && built.stderr.isEmpty, "\(compiler): \(built)")
            // A program that links the object and nothing else, checking the documented hash vectors (section 4.1).
            let main = try scratch.write(
                "main.c",
                """
                #include "hostess_reader.h"
                #include <string.h>
                int main(void) {
                    const char *id = "vm:x:0x0001:root:no:none:569f1b4e-f1db-4a2c-8fb8-8a6b1ee8b9ff";
                    if (hostess_id_hash("", 0) != 0xC7B02ABF6AD01E50ULL) return 1;
                    if (hostess_id_hash("a", 1) != 0x0A80448BC7548244ULL) return 2;
                    if (hostess_id_hash("abcdefgh", 8) != 0xC5E5ACE4578975CCULL) return 3;
                    if (hostess_id_hash("abcdefghi", 9) != 0xB38E123BCB32C80DULL) return 4;
                    if (hostess_id_hash(id, strlen(id)) != 0xA4F3F6507282A170ULL) return 5;
                    hostess_reader *reader = 0;
                    return hostess_reader_open("/hostess-test-no-such-region", 0, 0, &reader, 0) == HOSTESS_E_SYSTEM && reader == 0 ? 0 : 6;
                }
                """)
            let program = scratch.path + "/main"
            let linked = try CLI.run(compiler.hasPrefix("/") ? compiler : "/usr/bin/env", (compiler.hasPrefix("/") ? [] : [compiler]) + ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", library + "/include", main, object, "-o", program])
            #expect(linked.status == 0, "\(compiler): \(linked)")
            let ran = try CLI.run(program, [])
            #expect(ran.status == 0, "\(compiler): the documented hash vectors or a missing region's open failed: \(ran)")
        }
        let cpp = try scratch.write("header.cpp", "#include \"hostess_reader.h\"\nint main() { return hostess_reader_strerror(HOSTESS_OK)[0] == 'o' ? 0 : 1; }\n")
        let checked = try CLI.run("/usr/bin/env", ["c++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only", "-I", library + "/include", cpp])
        #expect(checked.status == 0, "\(checked)")
    }

    @Test("the usage example of docs/shm-layout.md section 5.2a builds with plain cc and prints what the socket answers")
    func documentedExample() throws {
        let document = try String(contentsOfFile: SanitizedDriver.root + "/docs/shm-layout.md", encoding: .utf8)
        guard let marker = document.range(of: "<!-- c-reader-example -->\n```c\n"),
            let end = document.range(of: "\n```\n", range: marker.upperBound..<document.endIndex)
        else {
            Issue.record("docs/shm-layout.md has no C example after <!-- c-reader-example -->")
            return
        }
        let scratch = try ScratchDirectory()
        let source = try scratch.write("example.c", String(document[marker.upperBound..<end.lowerBound]) + "\n")
        let program = scratch.path + "/example"
        let library = SanitizedDriver.library
        let built = try CLI.run(
            "/usr/bin/env",
            ["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", library + "/include", source, library + "/hostess_reader.c", "-o", program])
        try #require(built.status == 0, "\(built)")

        let daemon = try DaemonProcess()
        let client = try daemon.client()
        let ids = [
            Fixture.id(servername: "example-0"), Fixture.id(servername: "example-1", fqdn: Self.longFQDN),
            Fixture.id(servername: "example-2", classCode: "0x0002"), Fixture.id(servername: "example-3", classCode: "0x0001"),
        ]
        for id in ids { #expect(try client.request("register", ["entry": Fixture.entry(id: id)]).errorCode == nil) }
        let missing = Fixture.id(servername: "absent")
        let ran = try CLI.run(program, ids + [missing], environment: ["HOSTESS_SHM": daemon.sharedMemoryName])
        #expect(ran.status == 0, "\(ran)")
        let lines = ran.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == ids.count + 1 + 3 + 2, "\(ran)")
        for (index, id) in ids.enumerated() {
            let viaSocket = try client.request("getServer", ["serverId": .string(id)]).result?["entry"]
            #expect(try JSONParser.parse(lines[index]) == viaSocket, "\(id)")
        }
        #expect(lines[ids.count] == "\(missing): no entry has that id")
        // Class 0x0001 with pty: the three entries of that class, in serial order, then the count and the wait.
        let expected = try ids.filter { !$0.contains(":0x0002:") }.map { id -> String in
            let entry = try #require(client.request("getServer", ["serverId": .string(id)]).result?["entry"])
            return "\(entry.objectValue?["serial"].map { $0.jsonText } ?? "?") \(entry.jsonText)"
        }
        #expect(Array(lines[(ids.count + 1)..<(ids.count + 4)]) == expected)
        #expect(lines[ids.count + 4] == "3 entries of class 0x0001 with pty (ok)")
        #expect(lines[ids.count + 5].hasPrefix("wait: timed out: the revision did not change at revision 4"), "\(lines[ids.count + 5])")
        #expect(ran.stderr.isEmpty, "the writer is alive: \(ran.stderr)")
    }

    @Test("hostess_id_hash equals the writer's idHash for every length up to 600 bytes")
    func hashMatches() {
        var generator = SplitMix64(seed: 16)
        for length in 0...600 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let c = bytes.withUnsafeBytes { hostess_id_hash($0.baseAddress, $0.count) }
            #expect(c == bytes.withUnsafeBytes { idHash($0) }, "length \(length)")
        }
    }

    @Test("bad arguments are refused, every status has its own text, and a reader of bytes reads what the file reader reads")
    func arguments() throws {
        var reader: OpaquePointer?
        #expect(hostess_reader_open("/hostess-test-x", nil, 1, &reader, nil) == Status.invalidArgument)
        #expect(hostess_reader_open("/hostess-test-x", nil, 0, nil, nil) == Status.invalidArgument)
        #expect(hostess_reader_open_bytes(nil, 4096, &reader, nil) == Status.invalidArgument)
        #expect(hostess_reader_lookup(nil, "x", 1, nil, 0, nil) == Status.invalidArgument)
        #expect(hostess_reader_wait(nil, 0, 0, nil) == Status.invalidArgument)
        #expect(hostess_reader_liveness(nil) == HOSTESS_LIVENESS_UNKNOWN)
        hostess_reader_close(nil)
        let texts = Status.all.map { String(cString: hostess_reader_strerror($0)) }
        #expect(Set(texts).count == texts.count && !texts.contains("unknown status"), "\(texts)")
        #expect(String(cString: hostess_reader_strerror(12345)) == "unknown status")

        // The sound region, read from memory: misaligned bytes are refused, aligned ones read as the file.
        let (bytes, entries) = try RegionCopies.sound()
        let file = try RegionCopies.File(bytes)
        defer { file.remove() }
        let mapped = try CReader(name: file.name)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes.count + 8, alignment: 16)
        defer { memory.deallocate() }
        memory.copyMemory(from: bytes, byteCount: bytes.count)
        #expect(hostess_reader_open_bytes(memory + 1, bytes.count, &reader, nil) == Status.invalidArgument)
        var failure = hostess_open_failure()
        #expect(hostess_reader_open_bytes(memory, 100, &reader, &failure) == Status.tooSmall && failure.needed == 4096)
        try #require(hostess_reader_open_bytes(memory, bytes.count, &reader, nil) == Status.ok)
        let inMemory = try #require(reader)
        defer { hostess_reader_close(inMemory) }
        #expect(hostess_reader_liveness(inMemory) == HOSTESS_LIVENESS_UNKNOWN && hostess_reader_is_live(inMemory) == 0)
        var buffer = [CChar](repeating: 0, count: 65536)
        var info = hostess_entry_info()
        for entry in entries {
            #expect(hostess_reader_lookup(inMemory, entry.id, entry.id.utf8.count, &buffer, buffer.count, &info) == Status.ok)
            #expect(Array(buffer[..<info.length].map { UInt8(bitPattern: $0) }) == entry.json.jsonBytes)
            #expect(mapped.lookup(entry.id) == .found(payload: entry.json.jsonBytes, serial: entry.serial, lastHeartbeat: entry.lastHeartbeat))
        }
        // A caller's scratch too small for a query says so, with a size that suffices.
        var needed = 0, count = 0
        var small = [UInt8](repeating: 0, count: 256)
        #expect(hostess_reader_query_buffer(inMemory, nil, &small, small.count, nil, nil, &count, &needed) == Status.bufferTooSmall)
        var enough = [UInt8](repeating: 0, count: needed)
        #expect(hostess_reader_query_buffer(inMemory, nil, &enough, enough.count, nil, nil, &count, &needed) == Status.ok && count == entries.count)
        // A callback that stops early ends the query there.
        #expect(hostess_reader_query(inMemory, nil, { _, _, _, _ in 1 }, nil, &count) == Status.ok && count == 1)
    }
}
