import Glibc

// MARK: - FileContents

/// Whole-file reads with a size limit, and whole-file replacement that a crash cannot leave half-written.
public enum FileContents {
    /// Reads a regular file of at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(SystemError) -> [UInt8] {
        let fd = try Syscall.open(path, flags: O_RDONLY)
        defer { Syscall.close(fd) }
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

    /// Replaces `path` with `bytes`: written to `path.tmp` (mode `mode`, not following a symbolic link),
    /// flushed to the device, then renamed over `path`, so a reader sees the old file or the new one, never
    /// a mix. The corresponding C functions are `open`, `write`, `fsync` and `rename`.
    public static func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(SystemError) {
        let temporary = path + ".tmp"
        try Syscall.unlinkIfPresent(temporary)
        let fd = try Syscall.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: mode)
        do {
            try Syscall.writeAll(fd, bytes, socket: false)
            _ = try retrying("fsync \(temporary)") { fsync(fd) }
        } catch {
            Syscall.close(fd)
            try? Syscall.unlinkIfPresent(temporary)
            throw error
        }
        Syscall.close(fd)
        _ = try retrying("rename \(temporary) to \(path)") { Glibc.rename(temporary, path) }
    }
}
