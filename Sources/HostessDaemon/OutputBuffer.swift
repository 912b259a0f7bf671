import HostessSystem

// MARK: - OutputBuffer

/// Bytes queued for a client and how many of them are written: what both the protocol's connections and the
/// HTTP interface's write without blocking.
struct OutputBuffer {
    /// Above this capacity an emptied buffer gives its storage back.
    private static let keptCapacity = 1 << 20

    private(set) var bytes: [UInt8] = []
    private(set) var written = 0

    /// Bytes waiting to be written.
    var pending: Int { bytes.count - written }

    /// Queues bytes that `body` appends (after dropping what is already written, when that is all of it).
    mutating func append(_ body: (inout [UInt8]) -> Void) {
        if written > 0 && written == bytes.count {
            bytes.removeAll(keepingCapacity: true)
            written = 0
        }
        body(&bytes)
    }

    /// Drops what is queued.
    mutating func discard() {
        bytes.removeAll()
        written = 0
    }

    /// Writes what `fd` takes without blocking.
    /// - Returns: nil when the peer is gone; otherwise whether any byte was written.
    mutating func flush(to fd: Int32, socket: Bool) -> Bool? {
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
