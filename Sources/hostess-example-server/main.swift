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

import Foundation
import Glibc
import HostessClient
import HostessModel

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

// MARK: - Output and stopping

/// Writes `text` and a newline to `handle` at once (standard output may be a pipe someone reads line by line
/// while the server runs).
func writeLine(_ text: String, to handle: FileHandle = .standardOutput) {
    handle.write(Data((text + "\n").utf8))
}

/// Blocks SIGINT and SIGTERM in this thread before any other starts, so that every thread inherits the mask
/// and only ``waitForTermination(_:)`` receives them. Returns the set.
func blockTerminationSignals() -> sigset_t {
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    sigaddset(&signals, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &signals, nil)
    return signals
}

/// Suspends until one of `signals` arrives, taken by `sigwait` on a thread of its own.
func waitForTermination(_ signals: sigset_t) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread.detachNewThread {
            var set = signals
            var received: Int32 = 0
            while sigwait(&set, &received) != 0 {}
            continuation.resume()
        }
    }
}

// MARK: - Main

let terminationSignals = blockTerminationSignals()
let options: Options
do { options = try Options(Array(CommandLine.arguments.dropFirst())) } catch {
    if let message = error.message {
        writeLine("hostess-example-server: \(message)\n\(Options.usage)", to: .standardError)
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
do {
    let hostess = try HostessClient(socketPath: options.socketPath)
    let entry = try await hostess.register(manifest: manifest, session: true)
    writeLine(entry.id)
    writeLine("hostess-example-server: registered as \(manifest.name); heartbeating every few seconds; Ctrl-C to stop", to: .standardError)
    await waitForTermination(terminationSignals)
    hostess.close()
} catch {
    let hint = error.code == .forbidden && options.owner == nil ? "\n(pass --owner with a name you may act as, e.g. --owner \"$(id -un)\")" : ""
    writeLine("hostess-example-server: \(error)\(hint)", to: .standardError)
    exit(1)
}
