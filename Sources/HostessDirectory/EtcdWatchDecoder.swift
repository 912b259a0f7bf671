import HostessModel

// MARK: - EtcdWatchDecoder

/// Reads the body of a `/v3/watch` response, once its chunked coding is removed (by HostessHTTP's
/// `HTTPResponseStreamParser`), as its bytes arrive: a sequence of JSON objects, each a response
/// `{"result":{…}}` or, last, the stream's error `{"error":{…}}`, separated by white space (the gateway ends
/// each with a newline).
///
/// ``append(_:)`` the bytes as they arrive, in pieces of any size, then take ``next()`` until it returns nil.
/// The decoder finds where an object ends by its braces, brackets and strings, looking at each byte once, and
/// parses it whole with ``JSONParser``: time is linear in the input however it is split, and, drained after
/// each append, it holds only the object it is in the middle of, at most ``maximumObjectBytes`` of it (a larger
/// one is refused as soon as its bytes pass the limit). Garbage (bytes
/// that are not a JSON object, or an object that is not a watch response) is an error, never a trap. After an
/// error, the stream cannot be trusted further: every later ``next()`` throws the same error.
public struct EtcdWatchDecoder: Sendable {
    /// The default limit on one response: 4 MiB, as for a whole HTTP body. etcd sends a watch's backlog in
    /// batches of up to 1,000 revisions, each announcement taking about 2 KB.
    public static let defaultMaximumObjectBytes = 4 << 20

    /// The most bytes one response may take.
    public let maximumObjectBytes: Int

    /// The bytes received and not yet taken, from `start`.
    private var buffer: [UInt8] = []
    /// Where the object being read (or the white space before it) begins.
    private var start = 0
    /// How far the bytes have been looked at.
    private var scanned = 0
    /// The nesting of the object being read: 0 between objects.
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var failure: EtcdError?

    /// Creates a decoder for a stream that begins with its first response.
    ///
    /// - Parameter maximumObjectBytes: The most bytes one response may take.
    public init(maximumObjectBytes: Int = defaultMaximumObjectBytes) {
        self.maximumObjectBytes = maximumObjectBytes
    }

    // MARK: Decoding

    /// Adds bytes that arrived after those of the previous call.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        // Drop what was taken, once it is at least half of the buffer, so that moving bytes stays linear.
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= maximumObjectBytes)
            scanned = 0
            start = 0
        } else if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(..<start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete response, or nil until more bytes arrive.
    ///
    /// A canceled watch is a response (see ``EtcdWatchResponse/cancellation``); the stream's error object is
    /// thrown as the error it reports.
    /// - Throws: The ``EtcdError`` the stream's error object reports; ``EtcdError/responseTooLarge(limit:)``;
    ///   ``EtcdError/badReply(field:reason:)`` for bytes that are not a watch response. Once thrown, the same
    ///   error on every call.
    public mutating func next() throws(EtcdError) -> EtcdWatchResponse? {
        if let failure { throw failure }
        do {
            guard let object = try scan() else { return nil }
            return try EtcdWatchResponse(document: object)
        } catch {
            failure = error
            throw error
        }
    }

    /// Checks that the stream did not end inside a response, once it has ended and ``next()`` returned nil.
    /// - Throws: ``EtcdError/badReply(field:reason:)`` when a response is cut short; the error ``next()``
    ///   threw, if it did.
    public func finish() throws(EtcdError) {
        if let failure { throw failure }
        guard depth == 0 else {
            throw .badReply(field: nil, reason: "the watch stream ended inside a response, after \(scanned - start) bytes of it")
        }
    }

    /// Looks at the bytes not looked at yet, up to the end of the next object, and parses it.
    private mutating func scan() throws(EtcdError) -> JSONValue? {
        var (start, scanned, depth, inString, escaped) = (self.start, self.scanned, self.depth, self.inString, self.escaped)
        let limit = maximumObjectBytes
        let complete = try buffer.withUnsafeBufferPointer { (bytes) throws(EtcdError) -> Bool in
            while scanned < bytes.count {
                let byte = bytes[scanned]
                scanned += 1
                // The object so far, with this byte (white space before an object counts one byte at most).
                if scanned - start > limit { throw .responseTooLarge(limit: limit) }
                if depth == 0 {
                    switch byte {
                    case 0x20, 0x0A, 0x0D, 0x09:
                        start = scanned
                    case UInt8(ascii: "{"):
                        depth = 1
                    default:
                        throw .badReply(
                            field: nil, reason: "the watch stream has byte 0x\(String(byte, radix: 16)) where a JSON object should begin")
                    }
                } else if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                } else {
                    switch byte {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    if depth == 0 { return true }
                }
            }
            return false
        }
        (self.scanned, self.depth, self.inString, self.escaped) = (scanned, depth, inString, escaped)
        guard complete else {
            self.start = start
            return nil
        }
        self.start = scanned
        do {
            return try JSONParser.parse(buffer[start..<scanned])
        } catch {
            throw .badReply(field: nil, reason: "a watch response is not JSON: \(error)")
        }
    }
}
