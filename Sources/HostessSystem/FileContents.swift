import Glibc

// MARK: - FileContents

/// Whole-file reads with a size limit.
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
}
