// shmdump: inspect and check a Hostess shared-memory region.

import Glibc
import HostessModel
import HostessRegion
import HostessSystem

let usage = """
    usage: shmdump [--shm NAME] [--json] [--check] [--watch] [--class 0xNNNN] [--capability C]... [--owner-uid UID] [ID]

    Prints a region's header (version, revision, sequence, instance, writer liveness, capacity and usage),
    then every entry, or the one ID, or those of --class / --capability; a table, or --json.
      --shm NAME       the region (env HOSTESS_SHM; default /hostess-registry as root, /hostess-registry-UID otherwise)
      --check          walk the whole region (offsets, index, counts, payloads) and exit 1 naming each problem
      --watch          print again after every change, until interrupted
      --owner-uid UID  also trust a region owned by UID (root and your own uid are always trusted)
    Exit status: 0 done (and sound, with --check), 1 failed or unsound, 2 usage error.
    """

func fail(_ message: String, _ status: Int32) -> Never {
    FileHandleWriter.standardError("shmdump: \(message)\n")
    exit(status)
}

FileHandleWriter.lineBufferStandardOutput()
// --watch runs until SIGINT or SIGTERM, whatever mask the parent left blocked.
Syscall.unblock([SIGINT, SIGTERM])
var name = DefaultPaths.sharedMemoryName(environment: EnvironmentVariables.current)
var json = false
var check = false
var watch = false
var filter = ServerFilter()
var trusted: Set<UInt32> = []
var id: String?
var arguments = Array(CommandLine.arguments.dropFirst())
while !arguments.isEmpty {
    let argument = arguments.removeFirst()
    func value() -> String {
        guard !arguments.isEmpty else { fail("\(argument) needs a value\n\(usage)", 2) }
        return arguments.removeFirst()
    }
    switch argument {
    case "-h", "--help":
        print(usage)
        exit(0)
    case "--json": json = true
    case "--check": check = true
    case "--watch": watch = true
    case "--shm": name = value()
    case "--class":
        let text = value()
        do { filter.classCode = try ClassCode(parsing: text) } catch { fail("--class: \(error.message)", 2) }
    case "--capability": filter.capabilities.append(value())
    case "--owner-uid":
        let text = value()
        guard let uid = UInt32(text) else { fail("--owner-uid: expected a uid, found '\(text)'", 2) }
        trusted.insert(uid)
    default:
        guard !argument.hasPrefix("-"), id == nil else { fail("unexpected argument '\(argument)'\n\(usage)", 2) }
        id = argument
    }
}

func describe(_ liveness: RegionReader.Liveness) -> String {
    switch liveness {
    case .alive: "alive"
    case .closed: "closed"
    case .writerGone: "gone (no process holds the region's write lock)"
    case .replaced: "replaced (the name now refers to a newer region)"
    }
}

@MainActor
func dump(_ reader: RegionReader) throws(RegionError) -> Int32 {
    let header = reader.header()
    let liveness = reader.liveness()
    var problems: [String] = []
    if check { problems = try reader.check() }
    let capabilitiesInUse = try reader.capabilitiesInUse()
    let entries: [GuestBookEntry]
    if let id {
        entries = try reader.getServer(id).map { [$0] } ?? []
    } else {
        entries = try reader.query(filter)
    }
    if json {
        var object: JSONObject = [
            "name": .string(reader.name),
            "version": .string("\(header.versionMajor).\(header.versionMinor)"),
            "fingerprint": .string(String(header.fingerprint, radix: 16)),
            "revision": .int(Int64(clamping: header.revision)), "sequence": .int(Int64(clamping: header.sequence)),
            "publications": .int(Int64(header.publications)), "instance": .string(header.instanceID),
            "writerPid": .int(Int64(header.writerPID)), "writer": .string(describe(liveness)),
            "writerHeartbeatAge": .double(header.writerHeartbeatAge), "closed": .bool(header.closed),
            "capacity": .int(Int64(header.capacity)), "entries": .int(Int64(header.count)),
            "regionBytes": .int(Int64(header.regionSize)), "arenaBytes": .int(Int64(header.arenaBytes)),
            "capabilities": .int(Int64(header.capabilityCount)), "capabilitiesInUse": .int(Int64(capabilitiesInUse)),
            "capabilityGeneration": .int(Int64(clamping: header.capabilityGeneration)),
            "list": .array(entries.map(\.json)),
        ]
        if check { object["problems"] = .array(problems.map(JSONValue.string)) }
        print(JSONValue.object(object).jsonText)
    } else {
        print("""
            region:        \(reader.name)
            layout:        \(header.versionMajor).\(header.versionMinor), fingerprint \(String(header.fingerprint, radix: 16))
            revision:      \(header.revision)   sequence: \(header.sequence)   publications: \(header.publications)
            instance:      \(header.instanceID)   writer pid \(header.writerPID): \(describe(liveness)), heartbeat \(format(header.writerHeartbeatAge)) s ago
            capacity:      \(header.count) of \(header.capacity) entries; \(header.regionSize) bytes
            capabilities:  \(capabilitiesInUse) in use; \(header.capabilityCount) of \(RegionLayout.capabilityCapacity) table entries written, \(header.capabilityGeneration) renamed
            """)
        let rows = entries.map { entry in
            [entry.id, entry.name.classCode.description, "\(entry.availableTerminalCount)/\(entry.terminals.count)",
             entry.capabilities.joined(separator: ",")]
        }
        var widths = [2, 5, 4, 12]
        for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.offset == cells.count - 1 ? $0.element : $0.element + String(repeating: " ", count: widths[$0.offset] - $0.element.count + 2) }.joined()
        }
        print(line(["ID", "CLASS", "FREE", "CAPABILITIES"]))
        for row in rows { print(line(row)) }
        if check { print(problems.isEmpty ? "check: sound" : problems.map { "problem: \($0)" }.joined(separator: "\n")) }
    }
    if id != nil && entries.isEmpty { FileHandleWriter.standardError("shmdump: no entry \(id ?? "")\n") }
    return problems.isEmpty && !(id != nil && entries.isEmpty) ? 0 : 1
}

func format(_ seconds: Double) -> String { String((seconds * 1000).rounded() / 1000) }

var reader: RegionReader
do { reader = try RegionReader(name: name, trustedOwners: trusted) } catch { fail("\(error)", 1) }
var status: Int32 = 0
repeat {
    // A region truncated under the mapping would fault (SIGBUS) on the next load: report it and stop instead.
    do {
        try reader.checkNotTruncated()
        status = try dump(reader)
    } catch { fail("\(error)", 1) }
    guard watch else { break }
    let seen = reader.revision
    do { while try reader.waitForRevision(after: seen, timeout: 1) == seen && !reader.isClosed {} } catch { fail("\(error)", 1) }
    if reader.isClosed || reader.liveness() == .replaced {
        do { reader = try RegionReader(name: name, trustedOwners: trusted) } catch {
            FileHandleWriter.standardError("shmdump: \(error); waiting for the region to come back\n")
            usleep(500_000)
        }
    }
    print("")
} while true
exit(status)
