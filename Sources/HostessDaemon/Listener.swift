import Glibc
import HostessSystem

// MARK: - Listener

/// The daemon's Unix socket, guarded by a lock file so that one hostessd serves a path at a time.
///
/// The lock (`PATH.lock`, holding the pid, locked with `flock` for the daemon's life) is the kernel's word on whether a hostessd
/// is alive: a second daemon finds it held and refuses to start; a daemon that died released it, so its stale
/// socket file is removed and replaced.
final class Listener {
    /// Why the socket cannot be served.
    enum Failure: Error, CustomStringConvertible {
        case alreadyServed(path: String, pid: String)
        case notASocket(path: String)
        case system(SystemError)

        var description: String {
            switch self {
            case .alreadyServed(let path, let pid):
                "another hostessd (pid \(pid)) is serving \(path); stop it first or choose another --socket"
            case .notASocket(let path): "\(path) exists and is not a socket; remove it or choose another --socket"
            case .system(let error): "\(error)"
            }
        }
    }

    let path: String
    let fd: Int32
    private let lockFD: Int32
    private let backlog: Int32

    /// Takes the lock, replaces a stale socket file, binds, and opens the socket to every local user (mode
    /// 0666): who may do what is decided per request from the peer's kernel credentials. Clients are refused
    /// until ``startListening()``, so that nothing reaches the daemon before it is ready.
    init(path: String, backlog: Int32 = 1024) throws(Failure) {
        do {
            let address = try UnixSocketAddress(path: path)
            if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                let directory = String(path[..<slash])
                var info = stat()
                if stat(directory, &info) != 0 {
                    try Syscall.makeDirectories(directory, mode: 0o755)
                }
            }
            let lockPath = path + ".lock"
            let lockFD = try Syscall.open(lockPath, flags: O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o644)
            guard try Syscall.tryLockExclusive(lockFD) else {
                let pid = (try? FileContents.read(lockPath, limit: 64)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
                Syscall.close(lockFD)
                throw Failure.alreadyServed(path: path, pid: pid.isEmpty ? "?" : pid)
            }
            _ = ftruncate(lockFD, 0)
            try Syscall.writeAll(lockFD, Array(String(getpid()).utf8), socket: false)
            // Only a socket is stale: anything else at the path is not ours to delete.
            var existing = stat()
            if lstat(path, &existing) == 0 {
                guard existing.st_mode & S_IFMT == S_IFSOCK else {
                    Syscall.close(lockFD)
                    throw Failure.notASocket(path: path)
                }
                try Syscall.unlinkIfPresent(path)
            }
            let fd = try Syscall.unixStreamSocket(nonBlocking: true)
            do {
                try Syscall.bind(fd, to: address)
                try Syscall.chmod(path, 0o666)
            } catch {
                Syscall.close(fd)
                Syscall.close(lockFD)
                throw error
            }
            self.path = path
            self.fd = fd
            self.lockFD = lockFD
            self.backlog = backlog
        } catch let failure as Failure {
            throw failure
        } catch let error as SystemError {
            throw .system(error)
        } catch {
            throw .system(SystemError("listen \(path)", errno: EINVAL))
        }
    }

    /// Starts accepting connections. The corresponding C function is `listen`.
    func startListening() throws(SystemError) {
        try Syscall.listen(fd, backlog: backlog)
    }

    /// Stops accepting and removes the socket file, then releases the lock. The lock file itself stays:
    /// removing it while held would let a starting daemon lock a new file while another still holds the old.
    func close() {
        Syscall.close(fd)
        try? Syscall.unlinkIfPresent(path)
        Syscall.close(lockFD)
    }
}
