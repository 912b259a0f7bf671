// hostess-example-server: how a server signs the guest book.
//
// Its manifest is a static value compiled into the binary. At start it adds the runtime fqdn and a fresh
// UUID, registers (session-bound: the entry ends when the process does), and the client library
// heartbeats in the background. It prints its id and serves until SIGINT or SIGTERM.

import Glibc
import HostessClient
import HostessModel
import HostessSystem

/// The PTY server of the design document, as a compiled-in manifest.
enum PTYServer {
    static let manifest = ServerManifest(
        name: "pty-server", classCode: ClassCode(0x0001), owner: Syscall.userName(uid: getuid()) ?? "system",
        terminals: [
            Terminal.define("stdin", .input, .none, protocol: "raw-bytes"),
            Terminal.define("stdout", .output, .fanout, protocol: "ansi-escape"),
            Terminal.define("stderr", .output, .fanout, protocol: "ansi-escape"),
        ],
        capabilities: ["pty", "vt100", "ansi-parsing"],
        metadata: ["version": "1.0.0", "description": "PTY server for terminal emulation"])
}

extension Terminal {
    /// A terminal from literal, known-good parts (a programming error traps here, not user input).
    static func define(_ name: String, _ direction: Direction, _ multiplexing: Multiplexing, protocol: String) -> Terminal {
        guard let terminal = try? Terminal(name: name, direction: direction, multiplexing: multiplexing, protocol: `protocol`) else {
            preconditionFailure("invalid compiled-in terminal '\(name)'")
        }
        return terminal
    }
}

FileHandleWriter.lineBufferStandardOutput()
let signals = try? SignalWaiter.catching([SIGINT, SIGTERM])
let socketPath = CommandLine.arguments.count == 3 && CommandLine.arguments[1] == "--socket" ? CommandLine.arguments[2] : nil
do {
    let hostess = try HostessClient(socketPath: socketPath)
    let entry = try await hostess.register(manifest: PTYServer.manifest, session: true)
    print(entry.id)
    FileHandleWriter.standardError("hostess-example-server: registered; heartbeating every few seconds; Ctrl-C to stop\n")
    if let signals { _ = await SignalWaiter.wait(descriptor: signals) }
    hostess.close()
} catch {
    FileHandleWriter.standardError("hostess-example-server: \(error)\n")
    exit(1)
}
