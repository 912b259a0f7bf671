// MARK: - HTTPChunkedDecoder

/// An incremental decoder of the chunked transfer coding (RFC 9112 §7.1) for a body that is used as it arrives,
/// such as a stream of events that lasts as long as the connection: ``HTTPResponseParser`` hands a body over
/// only once it is complete, and holds all of it until then.
///
/// Give ``decode(_:appendingTo:)`` each piece of the body once, in order, as it arrives; it appends the data of
/// the chunks to the caller's buffer and keeps only the line it is in the middle of: a chunk-size line (at most
/// ``HTTPResponseParser/Limits/chunkSizeLine`` bytes) or the trailer section (at most
/// ``HTTPResponseParser/Limits/headerBlock`` bytes and ``HTTPResponseParser/Limits/headerFields`` fields).
/// Memory is bounded whatever the length of the body, and time is linear in the input however it is split.
///
/// It refuses what ``HTTPResponseParser`` refuses in a chunked body, with the same errors: a malformed or too
/// long chunk-size line, chunk data not followed by CRLF, malformed or too many trailer fields. It has no limit
/// on the body as a whole, which it does not keep: the consumer of the data bounds what it holds. After a
/// failure it throws the same error again. No input makes it trap.
public struct HTTPChunkedDecoder: Sendable {
    // MARK: State

    private enum Phase: Sendable, Hashable {
        case chunkSize
        case chunkData(remaining: Int)
        /// The CR after a chunk's data.
        case chunkCR
        /// The LF after a chunk's data.
        case chunkLF
        case trailers
        case complete
    }

    /// The limits on chunk-size lines and the trailer section (the body limit is not used).
    public let limits: HTTPResponseParser.Limits
    private var phase = Phase.chunkSize
    /// The chunk-size line read so far, or the trailer section.
    private var pending: [UInt8] = []
    /// The trailer section's lines in ``pending``.
    private var trailerLines = HTTPLineReader()
    private var trailers: HTTPFieldBlock
    private var failure: HTTPParseError?

    /// Creates a decoder for a body that begins with its first chunk-size line.
    ///
    /// - Parameter limits: The chunk-size line and trailer section limits to enforce.
    public init(limits: HTTPResponseParser.Limits = HTTPResponseParser.Limits()) {
        self.limits = limits
        trailers = HTTPFieldBlock(.trailers, byteLimit: limits.headerBlock, fieldLimit: limits.headerFields)
    }

    /// Whether the last chunk and the trailer section have been read: the body is complete.
    public var isComplete: Bool { phase == .complete }

    // MARK: Decoding

    /// Reads the next piece of a chunked body.
    ///
    /// - Parameters:
    ///   - bytes: The bytes that arrived after those of the previous call.
    ///   - body: Where the data of the chunks goes: it is appended to.
    /// - Returns: How many of `bytes` belong to the body: all of them until the body completes in them, then
    ///   those up to its end (what follows is the next message's). After the body is complete, 0.
    /// - Throws: ``HTTPParseError`` with code `badRequest` or `headerTooLarge` when the bytes are not a chunked
    ///   body within the limits; the same error on every later call.
    public mutating func decode(_ bytes: some Collection<UInt8>, appendingTo body: inout [UInt8]) throws(HTTPParseError) -> Int {
        if let failure { throw failure }
        let read = bytes.withContiguousStorageIfAvailable { decode($0, appendingTo: &body) }
            ?? Array(bytes).withUnsafeBufferPointer { decode($0, appendingTo: &body) }
        switch read {
        case .success(let consumed): return consumed
        case .failure(let error):
            failure = error
            throw error
        }
    }

    /// Checks that the body is complete when its input ends (the server closed the connection).
    ///
    /// - Throws: ``HTTPParseError`` with code `badRequest`, saying where the body was cut short, unless it is
    ///   complete.
    public func finish() throws(HTTPParseError) {
        if let failure { throw failure }
        let place: String
        switch phase {
        case .complete: return
        case .chunkSize: place = "inside a chunk-size line"
        case .chunkData(let remaining): place = "inside a chunk, \(remaining) bytes short"
        case .chunkCR, .chunkLF: place = "before the CRLF after a chunk"
        case .trailers: place = "inside the trailer section"
        }
        throw HTTPParseError(.badRequest, "the input ended \(place)")
    }

    private mutating func decode(_ buffer: UnsafeBufferPointer<UInt8>, appendingTo body: inout [UInt8]) -> Result<Int, HTTPParseError> {
        var index = 0
        while index < buffer.count {
            switch phase {
            case .chunkSize:
                // Up to the line's LF, looking no further than the limit allows.
                let window = min(buffer.count, index + max(0, limits.chunkSizeLine + 2 - pending.count))
                let lineFeed = buffer[index..<window].firstIndex(of: .lf)
                pending.append(contentsOf: buffer[index..<(lineFeed ?? window)])
                guard let lineFeed else {
                    index = window
                    if HTTPLineReader.contentLength(of: pending[...]) > limits.chunkSizeLine {
                        return .failure(HTTPSyntax.chunkSizeLineTooLong(limit: limits.chunkSizeLine))
                    }
                    continue
                }
                index = lineFeed + 1
                switch HTTPSyntax.chunkSize(pending[...], lineLimit: limits.chunkSizeLine) {
                case .failure(let error): return .failure(error)
                case .success(0): phase = .trailers
                case .success(let size): phase = .chunkData(remaining: size)
                }
                pending.removeAll(keepingCapacity: true)

            case .chunkData(let remaining):
                let available = min(remaining, buffer.count - index)
                body.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[index..<(index + available)]))
                index += available
                phase = available == remaining ? .chunkCR : .chunkData(remaining: remaining - available)

            case .chunkCR, .chunkLF:
                guard buffer[index] == (phase == .chunkCR ? .cr : .lf) else { return .failure(HTTPSyntax.chunkNotEnded) }
                index += 1
                phase = phase == .chunkCR ? .chunkLF : .chunkSize

            case .trailers:
                // A line at a time, so that the section's end is known to the byte; no further than its limit.
                let window = min(buffer.count, index + max(0, limits.headerBlock + 2 - pending.count))
                let end = buffer[index..<window].firstIndex(of: .lf).map { $0 + 1 } ?? window
                pending.append(contentsOf: buffer[index..<end])
                index = end
                switch trailers.read(pending, start: 0, lines: &trailerLines) {
                case .incomplete: continue
                case .failure(let error): return .failure(error)
                case .complete:
                    phase = .complete
                    pending = []
                }

            case .complete:
                return .success(index)
            }
        }
        return .success(index)
    }
}
