// hostess: the command-line client of hostessd.

import Glibc
import HostessModel
import HostessSystem

/// Prints `hostess: MESSAGE` to standard error and exits with `status`.
func fail(_ message: String, status: Int32) -> Never {
    FileHandleWriter.standardError("hostess: \(message)\n")
    exit(status)
}

// Line-buffered even into a pipe or file: `register --keep-alive` prints the id and then keeps running.
FileHandleWriter.lineBufferStandardOutput()
// `watch` runs until SIGINT or SIGTERM, whatever mask the parent left blocked.
Syscall.unblock([SIGINT, SIGTERM])
assert(Help.optionsAreDistinct(commands), "a command has an option named like a global option; rename it")

// Global options may come before or after the command.
let invocation: Invocation
do { invocation = try Invocation(Array(CommandLine.arguments.dropFirst()), commands: commands) } catch {
    fail("\(error.message)\nRun 'hostess help' for the commands and the global options.", status: 2)
}
if invocation.version {
    print("hostess \(Help.version)")
    exit(0)
}
guard let command = invocation.command else {
    if invocation.help {
        print(Help.general)
        exit(0)
    }
    fail("no command given\n\(Help.general)", status: 2)
}
if invocation.help {
    print(command.usage)
    exit(0)
}
let global = invocation.global
// Catch SIGINT/SIGTERM so that `register --keep-alive` can unregister on them.
var signals: Int32?
if (command.name == "register" && invocation.arguments.contains("--keep-alive")) || (command.name == "reserve" && invocation.arguments.contains("--session")) {
    signals = try? SignalWaiter.catching([SIGINT, SIGTERM])
}
do {
    let arguments = try Arguments(invocation.arguments, valued: command.valued, flags: command.flags)
    let remote = try remoteHostess(url: global.httpURL, keyID: global.keyID, secretFile: global.secretFile)
    try await command.run(
        arguments,
        Context(socketPath: global.socketPath, json: global.json, via: global.via, sharedMemoryName: global.sharedMemoryName, signals: signals, remote: remote))
    exit(0)
} catch let error as UsageError {
    fail("\(command.name): \(error.message)\n\(command.usage)", status: 2)
} catch let error as HostessError {
    fail(error.description, status: 1)
} catch {
    fail("\(error)", status: 1)
}
