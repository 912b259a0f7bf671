import HostessSystem

// MARK: - RegionError

/// Why a shared-memory region cannot be used, in words an operator can act on.
public enum RegionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A syscall failed (open, fstat, mmap, …).
    case system(SystemError)
    /// The region's file is not a regular file.
    case notRegularFile(name: String)
    /// The region belongs to a user the reader does not trust.
    case untrustedOwner(name: String, owner: UInt32)
    /// Group or others may write the region.
    case writableByOthers(name: String, mode: UInt32)
    /// The region is smaller than its header says, or than a header.
    case tooSmall(name: String, size: Int, needed: Int)
    /// The magic number is wrong: not a Hostess region.
    case badMagic(name: String)
    /// The writer has not finished creating it (version 0).
    case notReady(name: String)
    /// A layout major version this reader does not know.
    case unsupportedVersion(name: String, major: UInt32, minor: UInt32)
    /// The ABI fingerprint differs: record sizes or byte order disagree.
    case fingerprintMismatch(name: String)
    /// A header field disagrees with the layout it implies.
    case inconsistentHeader(name: String, field: String)
    /// The writer closed the region.
    case closed(name: String)
    /// Readers retried too often while the writer kept publishing.
    case busy(name: String)
    /// A daemon already publishes under this name.
    case inUse(name: String, pid: Int32)

    public var description: String {
        switch self {
        case .system(let error): "\(error)"
        case .notRegularFile(let name): "region \(name) is not a regular file"
        case .untrustedOwner(let name, let owner): "region \(name) belongs to uid \(owner), which this reader does not trust"
        case .writableByOthers(let name, let mode):
            "region \(name) has mode \(String(mode, radix: 8)): group or others may write it, so it cannot be trusted"
        case .tooSmall(let name, let size, let needed): "region \(name) is \(size) bytes; at least \(needed) are needed"
        case .badMagic(let name): "region \(name) is not a Hostess region (wrong magic number)"
        case .notReady(let name): "region \(name) is still being created (version 0); try again"
        case .unsupportedVersion(let name, let major, let minor):
            "region \(name) has layout version \(major).\(minor); this reader understands \(RegionLayout.versionMajor).x"
        case .fingerprintMismatch(let name): "region \(name) was written with another record layout (ABI fingerprint differs)"
        case .inconsistentHeader(let name, let field): "region \(name) has an inconsistent header: \(field)"
        case .closed(let name): "region \(name) was closed by its writer; reopen it"
        case .busy(let name): "region \(name) changed during every read attempt; try again or use the socket"
        case .inUse(let name, let pid): "region \(name) is published by a running hostessd (pid \(pid))"
        }
    }
}
