// hostess-example-server: how a server signs the guest book from a manifest compiled into its binary.
//
//   hostess-example-server [--role pty-server|gpu-renderer|mp4-encoder] [--owner NAME] [--socket PATH]
//   hostess-example-server [--role ROLE] --print-manifest
//
// The three roles are the design's wiring example: `*.manifest.json` files in this target, which the
// HostessManifests build-tool plugin checks and compiles in as `CompiledManifests`. At start the server adds
// the runtime fqdn and a fresh UUID to its role's manifest, registers (session-bound: the entry ends when the
// process does) and heartbeats in the background. It prints its id and serves until SIGINT or SIGTERM.
// `--owner` replaces the manifest's owner (the design's "compile-time, changeable at runtime"): hostessd lets a
// caller register only owners it may act as. Exit status: 0 stopped by a signal, 1 failed, 2 usage error.

import Glibc
import HostessClient
import HostessModel
import HostessSystem

// MARK: - Arguments

/// What the command line asks for.
struct Options {
    var role = CompiledManifests.ptyServer
    var owner: String?
    var socketPath: String?
    var printManifest = false

    static let usage = """
        usage: hostess-example-server [--role \(CompiledManifests.all.map(\.manifest.name).joined(separator: "|"))] [--owner NAME] [--socket PATH]
               hostess-example-server [--role ROLE] --print-manifest
        """

    /// Parses the arguments; the error is the line to print before the usage.
    init(_ words: [String]) throws(UsageError) {
        var rest = words[...]
        while let word = rest.popFirst() {
            switch word {
            case "--print-manifest": printManifest = true
            case "--role", "--owner", "--socket":
                guard let value = rest.popFirst() else { throw UsageError("\(word) needs a value") }
                switch word {
                case "--role":
                    guard let role = CompiledManifests.all.first(where: { $0.manifest.name == value }) else {
                        throw UsageError("no role '\(value)'; this binary has \(CompiledManifests.all.map(\.manifest.name).joined(separator: ", "))")
                    }
                    self.role = role
                case "--owner": owner = value
                default: socketPath = value
                }
            case "--help", "-h":
                throw UsageError(nil)
            default: throw UsageError("unknown argument '\(word)'")
            }
        }
    }
}

/// A command line that does not fit ``Options/usage``.
struct UsageError: Error {
    var message: String?
    init(_ message: String?) { self.message = message }
}

// MARK: - Main

FileHandleWriter.lineBufferStandardOutput()
let options: Options
do { options = try Options(Array(CommandLine.arguments.dropFirst())) } catch {
    if let message = error.message {
        FileHandleWriter.standardError("hostess-example-server: \(message)\n\(Options.usage)\n")
        exit(2)
    }
    print(Options.usage)
    exit(0)
}
if options.printManifest {
    print(options.role.json)
    exit(0)
}
var manifest = options.role.manifest
if let owner = options.owner { manifest.owner = owner }
let signals = try? SignalWaiter.catching([SIGINT, SIGTERM])
do {
    let hostess = try HostessClient(socketPath: options.socketPath)
    let entry = try await hostess.register(manifest: manifest, session: true)
    print(entry.id)
    FileHandleWriter.standardError("hostess-example-server: registered as \(manifest.name); heartbeating every few seconds; Ctrl-C to stop\n")
    if let signals { _ = await SignalWaiter.wait(descriptor: signals) }
    hostess.close()
} catch {
    let hint = error.code == .forbidden && options.owner == nil ? "\n(pass --owner with a name you may act as, e.g. --owner \"$(id -un)\")" : ""
    FileHandleWriter.standardError("hostess-example-server: \(error)\(hint)\n")
    exit(1)
}
