import Foundation
import Glibc

// MARK: - CLI

/// Runs a built executable (optionally as user `nobody` through setpriv) and captures what it printed.
enum CLI {
    /// What a finished command left.
    struct Outcome: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    }

    /// Copies `product` into `scratch` (mode 0755) so that another user can run it wherever the build lives.
    static func copyForOtherUsers(_ product: String, into scratch: ScratchDirectory) throws -> String {
        let target = scratch.path + "/" + product
        if !FileManager.default.fileExists(atPath: target) {
            try FileManager.default.copyItem(atPath: Binaries.path(product), toPath: target)
            chmod(target, 0o755)
        }
        return target
    }

    /// The id as `hostess` tables show it: cut after the first 8 hex digits of its UUID (the id's last field).
    static func shortID(_ id: String) -> String { String(id.dropLast(36 - 8)) }

    /// Runs `hostess` with `arguments` against `socket`.
    static func hostess(_ arguments: [String], socket: String, asNobody: Bool = false, scratch: ScratchDirectory? = nil) throws -> Outcome {
        var binary = Binaries.path("hostess")
        if asNobody, let scratch { binary = try copyForOtherUsers("hostess", into: scratch) }
        return try run(binary, ["--socket", socket] + arguments, asNobody: asNobody)
    }

    /// Runs `executable` with `arguments`, waiting at most `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], asNobody: Bool = false, environment: [String: String] = [:], stdin: String? = nil, timeout: Double = 30) throws -> Outcome {
        let process = Process()
        if asNobody {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "HOSTESS_SOCKET")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin {
            // A child that exits before it reads its input (one that refuses at once) has closed the pipe: that
            // is EPIPE for this write, not a SIGPIPE that kills the whole test process (seen under
            // ThreadSanitizer, whose slowdown lets the child exit first), and its exit status says why.
            signal(SIGPIPE, SIG_IGN)
            try? input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8))
        }
        try input.fileHandleForWriting.close()
        // Read both pipes fully before waiting, so a large output cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            throw TestFailure("\(executable) \(arguments) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        return Outcome(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }
}
