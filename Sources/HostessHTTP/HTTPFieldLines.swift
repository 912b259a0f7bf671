// MARK: - HTTPLineReader

/// The lines of a message as its bytes arrive, for ``HTTPRequestParser`` and ``HTTPResponseParser``.
///
/// It remembers how far it has read (``cursor``) and how much of the current unfinished line it has already
/// searched for LF (``scanned``), so that bytes trickling in one at a time cost linear, not quadratic, time.
struct HTTPLineReader: Sendable {
    enum Line {
        /// A whole line, its LF excluded (its CR, if any, included).
        case complete(ArraySlice<UInt8>)
        /// The bytes of an unfinished line received so far.
        case partial(ArraySlice<UInt8>)
    }

    /// Bytes from `start` already consumed: lines read, and whatever the parser consumed itself (body bytes).
    var cursor = 0
    /// Bytes of the current unfinished line already searched for LF.
    private(set) var scanned = 0

    /// Bytes from `start` already looked at: a caller passing fewer than this has started over.
    var seen: Int { cursor + scanned }

    /// The line starting at `start + cursor`, resuming the search for its LF where the last call stopped.
    mutating func next(in buffer: [UInt8], start: Int) -> Line {
        let lineStart = start + cursor
        var index = lineStart + scanned
        while index < buffer.count {
            if buffer[index] == .lf {
                scanned = 0
                cursor = index + 1 - start
                return .complete(buffer[lineStart..<index])
            }
            index += 1
        }
        scanned = buffer.count - lineStart
        return .partial(buffer[lineStart..<buffer.count])
    }

    /// Bytes of a line before its CRLF: a trailing CR is not counted.
    static func contentLength(of line: ArraySlice<UInt8>) -> Int {
        line.count - (line.last == .cr ? 1 : 0)
    }
}

// MARK: - HTTPFieldBlock

/// Field lines up to the empty line that ends them, a header section or a trailer section, within limits.
///
/// A limit is enforced as soon as it is exceeded, before the line that exceeds it is finished.
struct HTTPFieldBlock: Sendable {
    /// Which block this is, for the messages of its errors.
    enum Kind: Sendable {
        case requestHeaders
        case responseHeaders
        case trailers
    }

    /// What ``read(_:start:lines:)`` found.
    enum Progress {
        /// The empty line that ends the block has not arrived yet.
        case incomplete
        /// The block is complete, its empty line consumed.
        case complete
        case failure(HTTPParseError)
    }

    let kind: Kind
    /// Bytes in the field lines, each with its CRLF, the empty line excluded.
    let byteLimit: Int
    /// Field lines.
    let fieldLimit: Int
    /// The fields read so far, names lower-cased.
    private(set) var fields: [HTTPHeader] = []
    private var bytes = 0

    init(_ kind: Kind, byteLimit: Int, fieldLimit: Int) {
        self.kind = kind
        self.byteLimit = byteLimit
        self.fieldLimit = fieldLimit
    }

    /// Reads field lines from `lines` until the empty line, the end of the bytes received, or an error.
    mutating func read(_ buffer: [UInt8], start: Int, lines: inout HTTPLineReader) -> Progress {
        while true {
            switch lines.next(in: buffer, start: start) {
            case .partial(let partial):
                // The line ends with at least an LF more, unless these bytes are the CR of the empty line.
                let mayEnd = partial.isEmpty || (partial.count == 1 && partial.first == .cr)
                if !mayEnd && bytes + partial.count + 1 > byteLimit { return .failure(tooLarge) }
                return .incomplete
            case .complete(let line):
                if line.count == 1 && line.first == .cr { return .complete }
                bytes += line.count + 1
                if bytes > byteLimit { return .failure(tooLarge) }
                switch HTTPSyntax.field(line) {
                case .failure(let error): return .failure(error)
                case .success(let field): fields.append(field)
                }
                if fields.count > fieldLimit { return .failure(tooMany) }
            }
        }
    }

    /// The values of every field named `name` (lower-case), in order.
    func values(_ name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    private var tooLarge: HTTPParseError {
        let block = kind == .trailers ? "trailer section" : "header block"
        return HTTPParseError(.headerTooLarge, "the \(block) is larger than \(byteLimit) bytes")
    }

    private var tooMany: HTTPParseError {
        let message =
            switch kind {
            case .requestHeaders: "the request has more than \(fieldLimit) header fields"
            case .responseHeaders: "the response has more than \(fieldLimit) header fields"
            case .trailers: "the response has more than \(fieldLimit) trailer fields"
            }
        return HTTPParseError(.headerTooLarge, message)
    }
}

// MARK: - HTTPSyntax

/// The pieces of RFC 9112 syntax requests and responses share.
enum HTTPSyntax {
    /// Reads a field line, `name: value CR` (its LF removed): the name lower-cased, the value without its
    /// surrounding optional white space.
    static func field(_ line: ArraySlice<UInt8>) -> Result<HTTPHeader, HTTPParseError> {
        guard line.last == .cr else { return .failure(HTTPParseError(.badRequest, "a header line does not end with CRLF")) }
        let content = line.dropLast()
        if let first = content.first, first.isOptionalWhitespace {
            return .failure(
                HTTPParseError(
                    .badRequest, "a header line starts with white space (obs-fold line folding is not allowed)"))
        }
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else {
            return .failure(HTTPParseError(.badRequest, "the header line '\(describe(content))' has no ':'"))
        }
        let name = content[..<colon]
        guard !name.isEmpty else { return .failure(HTTPParseError(.badRequest, "a header line has an empty field name")) }
        if let last = name.last, last.isOptionalWhitespace {
            var bare = name
            while let end = bare.last, end.isOptionalWhitespace { bare = bare.dropLast() }
            return .failure(
                HTTPParseError(
                    .badRequest, "white space between the field name '\(describe(bare))' and ':' is not allowed"))
        }
        guard name.allSatisfy(\.isTokenCharacter) else {
            return .failure(HTTPParseError(.badRequest, "the field name '\(describe(name))' is not a token"))
        }
        let lowercasedName = String(decoding: name.map(\.asciiLowercased), as: UTF8.self)

        var value = content[(colon + 1)...]
        while let first = value.first, first.isOptionalWhitespace { value = value.dropFirst() }
        while let last = value.last, last.isOptionalWhitespace { value = value.dropLast() }
        if let bad = value.first(where: { !$0.isFieldValueCharacter }) {
            let what = bad == 0 ? "NUL" : "a control character (\(describe([bad])))"
            return .failure(HTTPParseError(.badRequest, "the value of the header '\(lowercasedName)' contains \(what)"))
        }
        guard let text = String(validating: value, as: UTF8.self) else {
            return .failure(HTTPParseError(.badRequest, "the value of the header '\(lowercasedName)' is not valid UTF-8"))
        }
        return .success(HTTPHeader(name: lowercasedName, value: text))
    }

    /// `HTTP/DIGIT.DIGIT`, or nil.
    static func version(_ bytes: ArraySlice<UInt8>) -> HTTPVersion? {
        let text = Array(bytes)
        guard text.count == 8, text[0..<5].elementsEqual("HTTP/".utf8), text[6] == UInt8(ascii: "."),
            let major = digitValue(text[5]), let minor = digitValue(text[7])
        else { return nil }
        return HTTPVersion(major: major, minor: minor)
    }

    /// The value of a decimal digit, or nil.
    static func digitValue(_ byte: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) ? Int(byte - UInt8(ascii: "0")) : nil
    }

    /// The value of a hexadecimal digit (either case), or nil.
    static func hexDigitValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }

    /// The number `digits` spell in `radix`, `value` giving each digit's value; nil when a byte is not a
    /// digit or the number does not fit in an `Int`.
    static func number(_ digits: some Collection<UInt8>, radix: Int, value: (UInt8) -> Int?) -> Int? {
        var result = 0
        for digit in digits {
            guard let digitValue = value(digit) else { return nil }
            let (shifted, overflowA) = result.multipliedReportingOverflow(by: radix)
            let (sum, overflowB) = shifted.addingReportingOverflow(digitValue)
            if overflowA || overflowB { return nil }
            result = sum
        }
        return result
    }

    /// Reads a chunk-size line, `chunk-size [chunk-ext] CR` (its LF removed): the size, the extensions checked
    /// for control characters and otherwise ignored. A line over `lineLimit` bytes (CR excluded) is refused.
    static func chunkSize(_ line: ArraySlice<UInt8>, lineLimit: Int) -> Result<Int, HTTPParseError> {
        if HTTPLineReader.contentLength(of: line) > lineLimit { return .failure(chunkSizeLineTooLong(limit: lineLimit)) }
        guard line.last == .cr else {
            return .failure(HTTPParseError(.badRequest, "a chunk-size line does not end with CRLF"))
        }
        let content = line.dropLast()
        let digits = content.prefix { HTTPSyntax.hexDigitValue($0) != nil }
        guard !digits.isEmpty else {
            return .failure(
                HTTPParseError(.badRequest, "the chunk size '\(describe(content))' is not a hexadecimal number"))
        }
        let extensions = content[digits.endIndex...]
        if !extensions.isEmpty && extensions.drop(while: \.isOptionalWhitespace).first != UInt8(ascii: ";") {
            return .failure(
                HTTPParseError(
                    .badRequest, "the chunk-size line '\(describe(content))' has more than a size and extensions"))
        }
        if let bad = extensions.first(where: { !$0.isFieldValueCharacter }) {
            return .failure(
                HTTPParseError(.badRequest, "a chunk extension contains a control character (\(describe([bad])))"))
        }
        guard let size = HTTPSyntax.number(digits, radix: 16, value: HTTPSyntax.hexDigitValue) else {
            return .failure(
                HTTPParseError(.badRequest, "the chunk size '\(describe(digits))' is too large to represent"))
        }
        return .success(size)
    }

    /// A chunk-size line is longer than `limit` bytes.
    static func chunkSizeLineTooLong(limit: Int) -> HTTPParseError {
        HTTPParseError(.badRequest, "a chunk-size line is longer than \(limit) bytes")
    }

    /// A chunk's data is not followed by CRLF.
    static let chunkNotEnded = HTTPParseError(.badRequest, "a chunk's data is not followed by CRLF")

    /// A `Content-Length` value: a non-empty decimal number that fits in an `Int`.
    static func contentLength(_ text: String) -> Result<Int, HTTPParseError> {
        let digits = Array(text.utf8)
        guard !digits.isEmpty else { return .failure(HTTPParseError(.badRequest, "the Content-Length is empty")) }
        guard digits.allSatisfy({ digitValue($0) != nil }) else {
            return .failure(
                HTTPParseError(.badRequest, "the Content-Length '\(describe(digits))' is not a decimal number"))
        }
        guard let length = number(digits, radix: 10, value: digitValue) else {
            return .failure(
                HTTPParseError(.badRequest, "the Content-Length '\(describe(digits))' is too large to represent"))
        }
        return .success(length)
    }
}
