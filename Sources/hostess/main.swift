// hostess: the command-line client of hostessd.

import Glibc
import HostessModel
import HostessSystem

let general = """
    usage: hostess [--socket PATH] [--shm NAME] [--via shm|socket] [--json] COMMAND [ARGUMENTS]
           hostess --http http://HOST:PORT [--key-id K --secret-file FILE] [--json] COMMAND [ARGUMENTS]

    Talks to hostessd over its Unix socket (--socket, else $HOSTESS_SOCKET, else the default path).
    --http talks to a (remote) hostessd's HTTP interface instead, signing requests with the key K whose
    secret is the first line of FILE (readable by its owner only); writes need a key.
    get, list and query read the daemon's shared-memory region instead (--shm, else $HOSTESS_SHM, else
    the name the daemon reports) while its writer lives; --via shm reads only the region, --via socket
    only the socket. A lookup the region misses is confirmed over the socket.
    --json prints the wire form for scripts instead of tables.

    commands:
    \(commands.map { "  " + $0.name.padding(16) + $0.summary }.joined(separator: "\n"))

    Run 'hostess COMMAND --help' for a command's options.
    Exit status: 0 done, 1 refused or failed, 2 usage error.
    """

extension String {
    fileprivate func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}

func fail(_ message: String, status: Int32) -> Never {
    FileHandleWriter.standardError("hostess: \(message)\n")
    exit(status)
}

// Line-buffered even into a pipe or file: `register --keep-alive` prints the id and then keeps running.
FileHandleWriter.lineBufferStandardOutput()
// `watch` runs until SIGINT or SIGTERM, whatever mask the parent left blocked.
Syscall.unblock([SIGINT, SIGTERM])

// Global options come before the command.
var rest = Array(CommandLine.arguments.dropFirst())
var socketPath: String?
var json = false
var via: Context.Via?
var sharedMemoryName: String?
var httpURL: String?
var keyID: String?
var secretFile: String?
while let first = rest.first, first.hasPrefix("-") {
    rest.removeFirst()
    switch first {
    case "-h", "--help":
        print(general)
        exit(0)
    case "--version":
        print("hostess 0.1.0")
        exit(0)
    case "--json": json = true
    case "--via":
        guard let text = rest.first, let value = Context.Via(rawValue: text) else { fail("--via takes shm or socket", status: 2) }
        via = value
        rest.removeFirst()
    case "--shm":
        guard let name = rest.first else { fail("--shm needs a name", status: 2) }
        sharedMemoryName = name
        rest.removeFirst()
    case "--socket":
        guard let path = rest.first else { fail("--socket needs a path", status: 2) }
        socketPath = path
        rest.removeFirst()
    case "--http", "--key-id", "--secret-file":
        guard let value = rest.first else { fail("\(first) needs a value", status: 2) }
        rest.removeFirst()
        switch first {
        case "--http": httpURL = value
        case "--key-id": keyID = value
        default: secretFile = value
        }
    default:
        if first.hasPrefix("--socket=") {
            socketPath = String(first.dropFirst("--socket=".count))
        } else {
            fail("unknown option '\(first)'\n\(general)", status: 2)
        }
    }
}
guard let name = rest.first else { fail("no command given\n\(general)", status: 2) }
guard let command = commands.first(where: { $0.name == name }) else {
    fail("unknown command '\(name)'; commands: \(commands.map(\.name).joined(separator: ", "))", status: 2)
}
let commandArguments = Array(rest.dropFirst())
if commandArguments.contains("--help") || commandArguments.contains("-h") {
    print(command.usage)
    exit(0)
}
// Catch SIGINT/SIGTERM so that `register --keep-alive` can unregister on them.
var signals: Int32?
if (name == "register" && commandArguments.contains("--keep-alive")) || (name == "reserve" && commandArguments.contains("--session")) {
    signals = try? SignalWaiter.catching([SIGINT, SIGTERM])
}
do {
    let arguments = try Arguments(commandArguments, valued: command.valued, flags: command.flags)
    let remote = try remoteHostess(url: httpURL, keyID: keyID, secretFile: secretFile)
    try await command.run(
        arguments, Context(socketPath: socketPath, json: json, via: via, sharedMemoryName: sharedMemoryName, signals: signals, remote: remote))
    exit(0)
} catch let error as UsageError {
    fail("\(name): \(error.message)\n\(command.usage)", status: 2)
} catch let error as HostessError {
    fail(error.description, status: 1)
} catch {
    fail("\(error)", status: 1)
}
