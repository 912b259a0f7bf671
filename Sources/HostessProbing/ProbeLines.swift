// MARK: - ProbeLines

/// Splits JSON lines off a byte buffer with a limit, for the probe, the beacon and the Executor reading
/// them. Linear: each call searches only the bytes it has not searched before.
public struct ProbeLines: Sendable {
    /// What the buffer holds next.
    public enum Next: Equatable, Sendable {
        /// A whole line (without its newline) and the bytes it took, newline included.
        case line(ArraySlice<UInt8>, consumed: Int)
        /// No whole line yet.
        case incomplete
        /// More than the limit without a newline: the peer is not speaking the protocol.
        case tooLong
    }

    /// The most bytes one line may have.
    public var limit: Int
    private var searched = 0

    /// Lines of at most `limit` bytes.
    public init(limit: Int) { self.limit = limit }

    /// The next line in `bytes` (what is buffered and not consumed).
    public mutating func next(in bytes: ArraySlice<UInt8>) -> Next {
        let from = bytes.startIndex + min(searched, bytes.count)
        if let newline = bytes[from...].firstIndex(of: 0x0A) {
            searched = 0
            let line = bytes[bytes.startIndex..<newline]
            guard line.count <= limit else { return .tooLong }
            return .line(line, consumed: newline - bytes.startIndex + 1)
        }
        searched = bytes.count
        return bytes.count > limit ? .tooLong : .incomplete
    }
}
