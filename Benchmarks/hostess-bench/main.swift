// hostess-bench: lookups and queries in process, through shared memory, over the socket and in Redis, under
// write load, with the write path and the costs, in one run on this machine.
//
// Build in release and run through Scripts/bench.sh (which also starts Redis), or directly:
//   swift build -c release --product hostess-bench --product hostessd
//   .build/release/hostess-bench [--quick] [--json] [--entries 1000,10000,100000] [--redis-socket PATH]
// The idle-load run (socket lookups while N idle connections are held open) is separate; Scripts/idle-load.sh:
//   .build/release/hostess-bench --idle-connections 10000 [--quick] [--json] [--entries 1000] [--hostessd PATH]

import Glibc
import HostessModel
import HostessRegion
import HostessSystem

Syscall.ignoreBrokenPipes()
let options = Options(Array(CommandLine.arguments.dropFirst()))

if let probe = options.probe {
    do {
        let reader = try RegionReader(name: probe.name)
        let id = Array(probe.id.utf8)
        var found: UInt64 = 0
        if probe.id == "--query" {
            for _ in 0..<probe.count { found &+= UInt64((try? reader.count(benchmarkFilter)) ?? 0) }
        } else {
            id.withUnsafeBytes { raw in
                for _ in 0..<probe.count { found &+= (try? reader.withEntry(id: raw) { $0?.serial ?? 0 }) ?? 0 }
            }
        }
        print("\(probe.count) lookups, serial sum \(found)")
        exit(0)
    } catch {
        usage("\(error)")
    }
}
if let spin = options.spinReader {
    do { try spinReader(name: spin.name, seconds: spin.seconds) } catch { usage("\(error)") }
    exit(0)
}
if let connections = options.idleConnections {
    exit(idleLoad(connections: connections, options: options))
}

var rows: [Measurement] = []
@MainActor
func emit(_ new: [Measurement]) {
    rows += new
    if options.json {
        for row in new {
            var object = row.json.objectValue ?? [:]
            object["ratio_to_floor"] = ratioToFloor(row, in: rows).map { JSONValue.double(($0 * 100).rounded() / 100) } ?? .null
            print(JSONValue.object(object).jsonText)
        }
    }
}
do {
    for size in options.entries {
        FileHandleWriter.standardError("hostess-bench: \(size) entries\n")
        let fixture = try Fixture(count: size)
        if options.runs("lookup") { emit(try lookupRows(fixture, options: options)) }
        if options.runs("query") { emit(try queryRows(fixture, options: options)) }
        if size == 10_000 || options.entries.count == 1 {
            if options.runs("under-writes") { emit(try underWritesRows(fixture, options: options)) }
            if options.runs("two-readers") { emit(try twoReaderRows(fixture, options: options)) }
        }
        if (!options.quick || size == options.entries.first) && options.runs("write") { emit(try writeRows(fixture, options: options)) }
        if options.runs("cost") { emit(try costRows(fixture, options: options)) }
    }
} catch {
    usage("\(error)")
}
if !options.json { print(markdown(rows)) }
