import HostessSystem

// MARK: - OutputBuffer

/// Bytes queued for a peer and how many of them are written: what a ``StreamChannel`` writes without blocking.
public struct OutputBuffer {
    /// Above this capacity an emptied buffer gives its storage back.
    private static let keptCapacity = 1 << 20

    /// The bytes queued, written ones included.
    public private(set) var bytes: [UInt8] = []
    /// How many of ``bytes`` are written.
    public private(set) var written = 0

    /// An empty buffer.
    public init() {}

    /// Bytes waiting to be written.
    public var pending: Int { bytes.count - written }

    /// Queues bytes that `body` appends (after dropping what is already written, when that is all of it).
    public mutating func append(_ body: (inout [UInt8]) -> Void) {
        if written > 0 && written == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            written = 0
        }
        body(&bytes)
    }

    /// Drops what is queued.
    public mutating func discard() {
        bytes.removeAll()
        written = 0
    }

    /// Writes what `fd` takes without blocking.
    /// - Returns: nil when the peer is gone; otherwise whether any byte was written.
    public mutating func flush(to fd: Int32, socket: Bool) -> Bool? {
        var progressed = false
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw -> Result<Int?, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try Syscall.write(fd, from: base + written, count: raw.count - written, socket: socket) }
            }
            switch result {
            case .failure: return nil
            case .success(nil): return progressed
            case .success(let count?):
                written += count
                progressed = true
            }
        }
        bytes.removeAll(keepingCapacity: bytes.capacity <= Self.keptCapacity)
        written = 0
        return progressed
    }
}
