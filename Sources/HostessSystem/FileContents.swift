import Glibc

// MARK: - FileContents

/// Whole-file reads with a size limit, and whole-file replacement that a crash cannot leave half-written.
public enum FileContents {
    /// Reads a regular file of at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.open(path, flags: O_RDONLY | O_CLOEXEC)
        defer { Syscall.close(fd) }
        return try read(fd, path: path, limit: limit)
    }

    /// Reads a file that must be a regular file at `path` itself (a symbolic link is refused, and a FIFO
    /// cannot block), returning its owner and mode as the opened file has them, so that checks and contents
    /// concern the same file. The corresponding C functions are `open(O_NOFOLLOW)` and `fstat`.
    public static func readRegularFile(_ path: String, limit: Int) throws(SystemError) -> (bytes: [UInt8], owner: uid_t, mode: mode_t) {
        let fd = try Syscall.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        defer { Syscall.close(fd) }
        var info = stat()
        _ = try retrying("fstat \(path)") { fstat(fd, &info) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SystemError("\(path) is not a regular file", errno: EINVAL) }
        return (try read(fd, path: path, limit: limit), info.st_uid, info.st_mode & 0o7777)
    }

    private static func read(_ fd: Int32, path: String, limit: Int) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try chunk.withUnsafeMutableBytes { raw -> Result<Int, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try Syscall.read(fd, into: base, count: raw.count) ?? 0 }
            }.get()
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit { throw SystemError("read \(path): larger than \(limit) bytes", errno: EFBIG) }
        }
    }

    /// Replaces `path` with `bytes`: written to `path.tmp` (mode `mode`, not following a symbolic link), then
    /// renamed over `path`, so a reader, or a process that died in between, sees the old file or the new one,
    /// never a mix. It is not flushed to the device (no `fsync`): this survives a crash of the process, not a
    /// power loss. The corresponding C functions are `open`, `write` and `rename`.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(SystemError) {
        let temporary = path + ".tmp"
        try Syscall.unlinkIfPresent(temporary)
        let fd = try Syscall.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: mode)
        do {
            try Syscall.writeAll(fd, bytes, socket: false)
        } catch {
            Syscall.close(fd)
            try? Syscall.unlinkIfPresent(temporary)
            throw error
        }
        Syscall.close(fd)
        _ = try retrying("rename \(temporary) to \(path)") { Glibc.rename(temporary, path) }
    }

    /// The names in directory `path` (without `.` and `..`), sorted, at most `limit` of them. The
    /// corresponding C functions are `opendir`, `readdir` and `closedir`.
    public static func directoryNames(_ path: String, limit: Int) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw SystemError("opendir \(path)", errno: errno) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name != ".", name != ".." else { continue }
            guard names.count < limit else { throw SystemError("\(path): more than \(limit) entries", errno: E2BIG) }
            names.append(name)
        }
        return names.sorted()
    }
}
