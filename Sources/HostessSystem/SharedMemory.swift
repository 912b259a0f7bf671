import CShim
import Glibc

// MARK: - SharedMemory

/// POSIX shared-memory objects, opened through their files in /dev/shm (what `shm_open` does on Linux), so
/// that every open can carry O_NOFOLLOW and O_CLOEXEC.
public enum SharedMemory {
    /// The directory POSIX shared memory lives in on Linux.
    public static let directory = "/dev/shm"

    /// The file path of a shared-memory name (`/hostess-registry` → `/dev/shm/hostess-registry`).
    /// - Throws: EINVAL unless the name is `/` followed by 1 to 250 bytes with no other `/` and no NUL.
    public static func path(of name: String) throws(SystemError) -> String {
        let bytes = Array(name.utf8)
        guard bytes.count >= 2, bytes.count <= 251, bytes[0] == UInt8(ascii: "/"), !bytes[1...].contains(UInt8(ascii: "/")),
            !bytes.contains(0), name != "/.", name != "/.."
        else { throw SystemError("shared-memory name '\(name)' (expected /NAME with no other '/')", errno: EINVAL) }
        return directory + name
    }

    /// Creates a new object, failing if the name exists (O_EXCL), readable and writable by the owner only.
    /// The corresponding C function is `shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600)`.
    public static func createExclusive(_ name: String) throws(SystemError) -> Int32 {
        try Syscall.open(try path(of: name), flags: O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
    }

    /// Opens an existing object without following a symbolic link, and without waiting: O_NONBLOCK, so that a
    /// FIFO someone made under the name cannot block the open (a FIFO opened for reading waits for a writer).
    /// The caller must check the type (``Syscall/status(_:)``) before anything else; a regular file ignores
    /// O_NONBLOCK. A Unix socket under the name fails with ENXIO, a symbolic link with ELOOP.
    public static func open(_ name: String, writable: Bool) throws(SystemError) -> Int32 {
        try Syscall.open(try path(of: name), flags: (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK)
    }

    /// What is under a name, without opening it or following a symbolic link; nil when nothing is.
    /// The corresponding C function is `lstat`.
    public static func status(of name: String) throws(SystemError) -> FileStatus? {
        let path = try path(of: name)
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemError("lstat \(path)", errno: errno)
        }
        return FileStatus(info)
    }

    /// Removes a name; a missing one is not an error. The corresponding C function is `shm_unlink`.
    public static func unlink(_ name: String) throws(SystemError) {
        try Syscall.unlinkIfPresent(try path(of: name))
    }

    /// Renames an object aside (to keep a bad region for inspection while freeing its name).
    public static func rename(_ name: String, to newName: String) throws(SystemError) {
        let from = try path(of: name)
        let to = try path(of: newName)
        _ = try retrying("rename \(from)") { Glibc.rename(from, to) }
    }
}

// MARK: - File status

/// The kind of file a directory entry names.
public enum FileType: Sendable, Equatable, CustomStringConvertible {
    case regular, directory, fifo, socket, symbolicLink, characterDevice, blockDevice
    /// A type this enum does not name, with its `S_IFMT` bits.
    case other(mode_t)

    /// The type of a `st_mode`.
    public init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFLNK: self = .symbolicLink
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        default: self = .other(mode & S_IFMT)
        }
    }

    /// "a regular file", "a FIFO (named pipe)", …
    public var description: String {
        switch self {
        case .regular: "a regular file"
        case .directory: "a directory"
        case .fifo: "a FIFO (named pipe)"
        case .socket: "a Unix socket"
        case .symbolicLink: "a symbolic link"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .other(let bits): "a file of type 0o\(String(bits, radix: 8))"
        }
    }
}

/// What `fstat` or `lstat` says about a file.
public struct FileStatus: Sendable, Equatable {
    /// Its type.
    public var type: FileType
    /// Its owner's uid.
    public var owner: uid_t
    /// Its permission bits (`st_mode & 0o7777`).
    public var permissions: mode_t
    /// Its size in bytes.
    public var size: Int
    /// Its inode number (with the device, which this code does not need, it names the file).
    public var inode: UInt64

    init(_ info: stat) {
        type = FileType(mode: info.st_mode)
        owner = info.st_uid
        permissions = info.st_mode & 0o7777
        size = Int(info.st_size)
        inode = UInt64(info.st_ino)
    }
}

// MARK: - Open files and mappings

extension Syscall {
    /// The type, owner, permissions, size and inode of an open file. The corresponding C function is `fstat`.
    public static func status(_ fd: Int32) throws(SystemError) -> FileStatus {
        var info = stat()
        _ = try retrying("fstat") { fstat(fd, &info) }
        return FileStatus(info)
    }

    /// Sets an open file's size. The corresponding C function is `ftruncate`.
    public static func setSize(_ fd: Int32, _ size: Int) throws(SystemError) {
        _ = try retrying("ftruncate") { ftruncate(fd, off_t(size)) }
    }

    /// Sets an open file's permission bits. The corresponding C function is `fchmod`.
    public static func setMode(_ fd: Int32, _ mode: mode_t) throws(SystemError) {
        _ = try retrying("fchmod") { fchmod(fd, mode) }
    }

    /// Maps `size` bytes of `fd` shared, read-only or read-write. The corresponding C function is `mmap`.
    public static func map(_ fd: Int32, size: Int, writable: Bool) throws(SystemError) -> UnsafeMutableRawPointer {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let pointer = mmap(nil, size, protection, MAP_SHARED, fd, 0), pointer != MAP_FAILED else {
            throw SystemError("mmap", errno: errno)
        }
        return pointer
    }

    /// Unmaps a mapping. The corresponding C function is `munmap`.
    public static func unmap(_ pointer: UnsafeMutableRawPointer, size: Int) {
        _ = munmap(pointer, size)
    }

    /// Whether a process holds a write lock on byte 0 of `fd`, and which (an OFD lock reports pid -1).
    /// The corresponding C call is `fcntl(F_OFD_GETLK)`.
    public static func writeLockHolder(_ fd: Int32) throws(SystemError) -> pid_t? {
        var holder: pid_t = 0
        let held = try retrying("fcntl F_OFD_GETLK") { cshim_write_lock_holder(fd, &holder) }
        return held == 1 ? holder : nil
    }

    /// Takes an open-file-description write lock on byte 0 of `fd`; false when another holds it.
    /// The corresponding C call is `fcntl(F_OFD_SETLK)`.
    public static func takeWriteLock(_ fd: Int32) throws(SystemError) -> Bool {
        do { _ = try retrying("fcntl F_OFD_SETLK") { cshim_take_write_lock(fd) }; return true } catch {
            if error.errno == EAGAIN || error.errno == EACCES { return false }
            throw error
        }
    }
}

// MARK: - Futex

/// Waiting on a 32-bit word in a shared mapping (FUTEX_WAIT / FUTEX_WAKE, shared between processes).
public enum Futex {
    /// Waits while the word at `address` equals `expected`, up to `timeoutNanoseconds` (nil: no limit).
    /// Returns when woken, when the word differs, on timeout, or on a signal; the caller re-checks.
    public static func wait(_ address: UnsafeRawPointer, expected: UInt32, timeoutNanoseconds: UInt64?) {
        let limit = timeoutNanoseconds.map { Int64(clamping: $0) } ?? -1
        _ = cshim_futex_wait(address.assumingMemoryBound(to: UInt32.self), expected, limit)
    }

    /// Wakes every waiter on the word at `address`.
    public static func wakeAll(_ address: UnsafeMutableRawPointer) {
        _ = cshim_futex_wake_all(address.assumingMemoryBound(to: UInt32.self))
    }
}
