import Glibc
import HostessSystem

// MARK: - Options

/// The command line: `hostess-bench [--quick] [--json] [--entries N,…] [--only GROUP,…] [--redis-socket PATH]`, or
/// `hostess-bench --idle-connections N [--quick] [--json] [--entries N] [--hostessd PATH]`.
struct Options {
    /// A subset that runs in under a minute.
    var quick = false
    /// One JSON object per row instead of a Markdown table.
    var json = false
    /// `--only GROUP,…`: the row groups to run (lookup, query, under-writes, two-readers, write, cost), for
    /// profiling one of them; nil runs them all.
    var only: Set<String>?
    /// Guest book sizes to measure.
    var entries = [1_000, 10_000, 100_000]
    /// A running redis-server's Unix socket, for the Redis rows; absent, they are skipped.
    var redisSocket: String?
    /// Why the Redis rows are skipped, when the caller knows (Scripts/bench.sh passes it on).
    var redisSkipReason = "no --redis-socket given (Scripts/bench.sh starts redis-server)"
    /// `--lookups N SHM ID`: only look `ID` up N times in region SHM and exit (for counting allocations
    /// and instructions under valgrind: the zero-copy path must make no allocation). With `--query` as the
    /// ID, runs the benchmark's query N times instead.
    var probe: (count: Int, name: String, id: String)?
    /// `--spin-reader SHM SECONDS`: only look entries up in region SHM for that long (the second reader
    /// process of the two-readers row).
    var spinReader: (name: String, seconds: Double)?
    /// `--idle-connections N`: only run the idle-load benchmark (socket lookups by a busy client with no
    /// other connection, then with N idle connections held open; IdleLoad.swift) and exit.
    var idleConnections: Int?
    /// Entries registered for the idle-load run: the first `--entries` size when given, else 1,000.
    var idleEntries = 1_000
    /// `--hostessd PATH`: the hostessd binary the idle-load run starts (default: the one beside hostess-bench),
    /// so that one bench build can measure two daemon builds.
    var hostessd: String?

    /// The row groups `--only` names.
    static let groups: Set<String> = ["lookup", "query", "under-writes", "two-readers", "write", "cost"]

    /// Whether this run measures the row group `group`.
    func runs(_ group: String) -> Bool { only?.contains(group) ?? true }

    init(_ arguments: [String]) {
        var index = 0
        var entriesGiven = false
        func value(_ name: String) -> String {
            index += 1
            guard index < arguments.count else { usage("\(name) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--quick": quick = true
            case "--json": json = true
            case "--entries":
                let sizes = value("--entries").split(separator: ",").compactMap { Int($0) }
                guard !sizes.isEmpty, sizes.allSatisfy({ (100...1_000_000).contains($0) }) else {
                    usage("--entries takes sizes from 100 to 1000000, like 1000,10000")
                }
                entries = sizes
                entriesGiven = true
            case "--only":
                let groups = Set(value("--only").split(separator: ",").map(String.init))
                guard !groups.isEmpty, groups.isSubset(of: Self.groups) else {
                    usage("--only takes groups from \(Self.groups.sorted().joined(separator: ",")), like query,cost")
                }
                only = groups
            case "--redis-socket": redisSocket = value("--redis-socket")
            case "--redis-skip": redisSkipReason = value("--redis-skip")
            case "--lookups":
                guard index + 3 < arguments.count, let count = Int(arguments[index + 1]) else { usage("--lookups N SHM ID") }
                probe = (count, arguments[index + 2], arguments[index + 3])
                index += 3
            case "--spin-reader":
                guard index + 2 < arguments.count, let seconds = Double(arguments[index + 2]) else { usage("--spin-reader SHM SECONDS") }
                spinReader = (arguments[index + 1], seconds)
                index += 2
            case "--idle-connections":
                guard let count = Int(value("--idle-connections")), (1...100_000).contains(count) else {
                    usage("--idle-connections takes a count from 1 to 100000")
                }
                idleConnections = count
            case "--hostessd": hostessd = value("--hostessd")
            case "-h", "--help":
                print("usage: hostess-bench [--quick] [--json] [--entries N[,N…]] [--only GROUP,…] [--redis-socket PATH]")
                print("       hostess-bench --idle-connections N [--quick] [--json] [--entries N] [--hostessd PATH]")
                exit(0)
            default: usage("unknown argument '\(arguments[index])'")
            }
            index += 1
        }
        if entriesGiven, let first = entries.first { idleEntries = first }
        if quick && !entriesGiven { entries = [1_000, 10_000] }
    }
}

func usage(_ message: String) -> Never {
    FileHandleWriter.standardError("hostess-bench: \(message)\n")
    exit(2)
}
