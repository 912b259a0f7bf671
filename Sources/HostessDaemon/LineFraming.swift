import HostessLoop
import HostessModel

// MARK: - LineFraming

/// The protocol's framing over a byte stream: one JSON request per line in, one JSON reply per line out.
///
/// Holds no descriptor: it takes lines out of an ``InputBuffer`` and writes replies into bytes, so it is tested
/// with bytes alone. Each byte is searched for a newline once, however slowly its line arrives.
struct LineFraming {
    /// What the input holds next.
    enum Next: Equatable {
        /// A complete line, without its newline (and a carriage return before it). Valid until the buffer compacts.
        case line(ArraySlice<UInt8>)
        /// No complete line yet.
        case incomplete
        /// A line longer than ``maximum`` bytes: the stream cannot be resynchronised.
        case tooLong
    }

    /// The longest line taken, in bytes.
    let maximum: Int
    /// How many of the unconsumed bytes were already searched for a newline.
    private var searched = 0

    /// A framing of lines up to `maximum` bytes.
    init(maximum: Int = Limits.lineBytes) { self.maximum = maximum }

    /// Takes the next line from `input`. When `inputEnded`, the bytes after the last newline are the last line.
    mutating func next(in input: inout InputBuffer, inputEnded: Bool) -> Next {
        let bytes = input.unconsumed
        if let newline = bytes[(bytes.startIndex + searched)...].firstIndex(of: 0x0A) {
            var end = newline
            if end > bytes.startIndex, bytes[end - 1] == 0x0D { end -= 1 }
            guard end - bytes.startIndex <= maximum else { return .tooLong }
            input.consume(newline + 1 - bytes.startIndex)
            searched = 0
            return .line(bytes[..<end])
        }
        searched = bytes.count
        if bytes.count - (bytes.last == 0x0D ? 1 : 0) > maximum { return .tooLong }
        if inputEnded && !bytes.isEmpty {
            // The last line of a stream may lack its newline.
            input.consume(bytes.count)
            searched = 0
            var end = bytes.endIndex
            if bytes[end - 1] == 0x0D { end -= 1 }
            return .line(bytes[..<end])
        }
        return .incomplete
    }

    /// Forgets what was searched (the input was emptied).
    mutating func reset() { searched = 0 }

    /// Whether a line carries nothing but blanks: no request, and no sign of life.
    static func isBlank(_ line: ArraySlice<UInt8>) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }

    /// Appends one reply line.
    static func frame(_ reply: JSONValue, into bytes: inout [UInt8]) {
        reply.write(into: &bytes)
        bytes.append(0x0A)
    }
}
