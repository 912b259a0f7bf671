// MARK: - InputBuffer

/// Bytes read from a peer that a framing has not consumed yet. Consuming moves a start index; the consumed
/// prefix is dropped by ``compact()``, once per batch of requests rather than once per request.
public struct InputBuffer {
    /// The bytes held, consumed ones included (those before ``start``).
    public private(set) var bytes: [UInt8] = []
    /// Where the unconsumed bytes begin in ``bytes``.
    public private(set) var start = 0

    /// An empty buffer.
    public init() {}

    /// An unconsumed copy of `bytes` (for tests and framings fed by hand).
    public init(_ bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }

    /// How many bytes are not consumed yet.
    public var count: Int { bytes.count - start }

    /// Whether every byte is consumed.
    public var isEmpty: Bool { start == bytes.count }

    /// The bytes not consumed yet.
    public var unconsumed: ArraySlice<UInt8> { bytes[start...] }

    /// Appends bytes that arrived.
    public mutating func append(contentsOf newBytes: some Collection<UInt8>) { bytes.append(contentsOf: newBytes) }

    /// Marks the next `count` bytes consumed (clamped to what is held).
    public mutating func consume(_ count: Int) { start = min(bytes.count, start + max(0, count)) }

    /// Drops every byte held.
    public mutating func removeAll() {
        bytes.removeAll()
        start = 0
    }

    /// Drops the consumed prefix.
    public mutating func compact() {
        guard start > 0 else { return }
        if start == bytes.count {
            bytes.removeAll(keepingCapacity: bytes.capacity <= 1 << 20)
        } else {
            bytes.removeSubrange(..<start)
        }
        start = 0
    }
}
