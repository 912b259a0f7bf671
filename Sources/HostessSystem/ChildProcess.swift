import CShim
import Glibc

// MARK: - ChildProcess

/// A process started with `posix_spawn`: its standard input and output are pipes the parent holds
/// (non-blocking, close-on-exec on the parent's side), its standard error is the parent's, and a pidfd
/// becomes readable when it exits, so an event loop can wait for it without SIGCHLD.
///
/// The child starts with every signal unblocked and at its default disposition (a daemon that blocks
/// signals for its signalfd must not pass that on), and with exactly the environment given.
public final class ChildProcess {
    /// The child's pid.
    public let pid: pid_t
    /// The write end of the child's standard input (-1 once closed).
    public private(set) var input: Int32
    /// The read end of the child's standard output (-1 once closed).
    public private(set) var output: Int32
    /// Readable when the child exits.
    public let pidfd: Int32
    /// The exit status once reaped.
    public private(set) var status: Termination?

    /// How a child ended.
    public enum Termination: Sendable, Hashable, CustomStringConvertible {
        /// It exited with this code.
        case exited(Int32)
        /// A signal killed it.
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let code): "exit \(code)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// Starts `path` with `arguments` (not counting argv[0], which is `path`) and `environment`.
    public init(path: String, arguments: [String] = [], environment: [String: String]) throws(SystemError) {
        let stdinPipe = try Self.pipe()
        let stdoutPipe: [Int32]
        do { stdoutPipe = try Self.pipe() } catch {
            Glibc.close(stdinPipe[0])
            Glibc.close(stdinPipe[1])
            throw error
        }
        defer {
            Glibc.close(stdinPipe[0])
            Glibc.close(stdoutPipe[1])
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the child's 0 and 1.
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) }
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { arguments in
            (envp + [nil]).withUnsafeBufferPointer { environment in
                posix_spawn(&child, path, &actions, &attributes, arguments.baseAddress!, environment.baseAddress!)
            }
        }
        guard result == 0 else {
            Glibc.close(stdinPipe[1])
            Glibc.close(stdoutPipe[0])
            throw SystemError("posix_spawn \(path)", errno: result)
        }
        pid = child
        input = stdinPipe[1]
        output = stdoutPipe[0]
        let descriptor = cshim_pidfd_open(child)
        guard descriptor >= 0 else {
            let error = SystemError("pidfd_open", errno: errno)
            Glibc.kill(child, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(child, &status, 0)
            Glibc.close(stdinPipe[1])
            Glibc.close(stdoutPipe[0])
            throw error
        }
        pidfd = descriptor
        _ = try? Syscall.setNonBlocking(input)
        _ = try? Syscall.setNonBlocking(output)
    }

    /// A pipe whose two ends are close-on-exec (pipe2 needs _GNU_SOURCE; the flag is set right after).
    private static func pipe() throws(SystemError) -> [Int32] {
        var ends: [Int32] = [-1, -1]
        _ = try retrying("pipe") { Glibc.pipe(&ends) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return ends
    }

    /// Kills the child (SIGKILL) and reaps it; returns at once, since SIGKILL cannot be caught.
    public func kill() {
        guard status == nil else { return }
        Glibc.kill(pid, SIGKILL)
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
        status = .signaled(SIGKILL)
    }

    /// Reaps the child if it has exited; returns how it ended, or nil while it runs.
    @discardableResult
    public func reap() -> Termination? {
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        guard result == pid else { return nil }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import (they are macros).
        let ended: Termination = raw & 0x7F == 0 ? .exited((raw >> 8) & 0xFF) : .signaled(raw & 0x7F)
        status = ended
        return ended
    }

    /// Closes the child's standard input (it reads end of file).
    public func closeInput() {
        guard input >= 0 else { return }
        Glibc.close(input)
        input = -1
    }

    /// Closes the read end of the child's standard output.
    public func closeOutput() {
        guard output >= 0 else { return }
        Glibc.close(output)
        output = -1
    }

    deinit {
        if status == nil {
            Glibc.kill(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
        closeInput()
        closeOutput()
        Glibc.close(pidfd)
    }
}
