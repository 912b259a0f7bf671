import Foundation
import Glibc
import HostessModel
import HostessSystem
import Testing

// MARK: - Binaries

/// The executables `swift test` built beside this test bundle.
enum Binaries {
    /// The build products directory (where the test bundle itself lives).
    static let directory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }()

    /// The path of product `name`.
    static func path(_ name: String) -> String { directory + "/" + name }
}

// MARK: - Scratch directories

/// A private temporary directory, readable by other users (so `nobody` can reach sockets in it), removed on deinit.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/hostess-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp", errno: errno) }
        path = String(cString: made)
        chmod(path, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `name` in the directory and returns the path.
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

// MARK: - DaemonProcess

/// A real hostessd started for one test on its own socket, stopped (SIGKILL if need be) at the end.
final class DaemonProcess: @unchecked Sendable {
    let scratch: ScratchDirectory
    let socketPath: String
    /// The daemon's shared-memory region name, unique to this test.
    let sharedMemoryName: String
    let process = Process()
    private let logPath: String

    /// The network namespace hostessd runs in (nil: the test's own).
    let namespace: String?

    /// Starts hostessd with `arguments` (a `--socket` in the scratch directory is added unless given) and waits
    /// until its socket accepts connections.
    ///
    /// With a `namespace` (a `NamespaceLab` machine's name) hostessd runs as `ip netns exec NAMESPACE hostessd ...`
    /// (ip execs it, so `pid` is still hostessd's). Network namespaces do not separate Unix sockets or shared
    /// memory, so the socket and shm name work as without one.
    init(
        _ arguments: [String] = [], environment: [String: String] = [:], scratch: ScratchDirectory? = nil, socketName: String = "hostess.sock",
        namespace: String? = nil
    ) throws {
        self.scratch = try scratch ?? ScratchDirectory()
        self.namespace = namespace
        socketPath = self.scratch.path + "/" + socketName
        logPath = self.scratch.path + "/hostessd-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        sharedMemoryName = "/hostess-test-" + UUID().uuidString.lowercased()
        let daemonArguments = (arguments.contains("--socket") ? [] : ["--socket", socketPath])
            + (arguments.contains("--shm") || arguments.contains("--no-shm") ? [] : ["--shm", sharedMemoryName]) + arguments
        if let namespace {
            let prefix = NamespaceLab.execPrefix(namespace)
            process.executableURL = URL(fileURLWithPath: prefix.executable)
            process.arguments = prefix.arguments + [Binaries.path("hostessd")] + daemonArguments
        } else {
            process.executableURL = URL(fileURLWithPath: Binaries.path("hostessd"))
            process.arguments = daemonArguments
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "HOSTESS_SOCKET")
        env.removeValue(forKey: "NOTIFY_SOCKET")
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try waitUntilServing()
    }

    private func waitUntilServing() throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !process.isRunning { throw TestFailure("hostessd exited with \(process.terminationStatus) at start:\n\(log)") }
            if let client = try? RawClient(path: socketPath) {
                client.close()
                return
            }
            usleep(20_000)
        }
        throw TestFailure("hostessd did not start serving within 10 s:\n\(log)")
    }

    /// Everything hostessd logged so far.
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The pid of the daemon.
    var pid: Int32 { process.processIdentifier }

    /// Sends `signal` and waits up to `timeout` seconds for the exit; returns the exit status (nil if still running).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Double = 10) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A new raw protocol client on the daemon's socket.
    func client() throws -> RawClient { try RawClient(path: socketPath) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        unlink("/dev/shm" + sharedMemoryName)
    }
}

// MARK: - TestFailure

/// A failure in test set-up, with a message.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
