// MARK: - Errors

/// Why a byte sequence is not a JSON document Hostess accepts.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset where parsing stopped.
    public var offset: Int
    /// What was wrong there.
    public var reason: String

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

// MARK: - Parser

/// A strict RFC 8259 parser over UTF-8 bytes.
///
/// It rejects what a lenient parser would guess at: duplicate object keys, invalid UTF-8, lone surrogates,
/// leading zeros, trailing bytes. Nesting deeper than ``maximumDepth`` is refused, so hostile input cannot
/// exhaust the stack; objects larger than ``maximumMembers`` and numbers longer than ``maximumNumberBytes``
/// are refused too. Every step is linear in the input: keys are checked for duplicates with a hash set, and
/// objects are built without searching their members.
public struct JSONParser {
    /// How deeply arrays and objects may nest.
    public static let maximumDepth = 64
    /// How many members one object may have.
    public static let maximumMembers = 4096
    /// How many bytes one number may take (digits, sign, point and exponent).
    public static let maximumNumberBytes = 256
    /// Members up to which an object's keys are checked for duplicates by comparing them directly.
    static let smallObjectMembers = 16

    /// Parses one JSON document that spans all of `bytes` (white space around it allowed).
    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { (buffer) throws(JSONParseError) -> JSONValue in
            var parser = JSONParser(buffer: buffer)
            parser.skipWhitespace()
            let value = try parser.parseValue(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected bytes after the document") }
            return value
        }
    }

    /// Parses one JSON document from text.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    private let buffer: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    private func error(_ reason: String) -> JSONParseError { JSONParseError(offset: index, reason: reason) }

    private var current: UInt8? { index < buffer.count ? buffer[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    private mutating func expect(_ literal: StaticString, value: JSONValue) throws(JSONParseError) -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard buffer.count - index >= count else { throw error("truncated literal") }
        let start = literal.utf8Start
        for offset in 0..<count where buffer[index + offset] != start[offset] {
            throw error("invalid literal")
        }
        index += count
        return value
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
        case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
        case UInt8(ascii: "n"): return try expect("null", value: .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
        index += 1
        var members: [(key: String, value: JSONValue)] = []
        // Duplicates: a small object (most are) compares its few keys byte for byte; past
        // ``smallObjectMembers`` a hash set of the keys' bytes takes over, so the check stays linear.
        var seen: Set<[UInt8]>?
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject())
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let keyOffset = index
            let key = try parseString()
            guard members.count < Self.maximumMembers else {
                throw JSONParseError(offset: keyOffset, reason: "an object has more than \(Self.maximumMembers) members")
            }
            // Keys are compared as bytes: canonically equivalent but differently encoded keys are distinct.
            let duplicate: Bool
            if var set = seen {
                seen = nil
                duplicate = !set.insert(Array(key.utf8)).inserted
                seen = set
            } else if members.count < Self.smallObjectMembers {
                duplicate = members.contains { $0.key.utf8.elementsEqual(key.utf8) }
            } else {
                var set = Set(members.map { Array($0.key.utf8) })
                duplicate = !set.insert(Array(key.utf8)).inserted
                seen = set
            }
            guard !duplicate else {
                throw JSONParseError(offset: keyOffset, reason: "duplicate key '\(key)'")
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(JSONObject(uniqueMembers: members))
            default: throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth)") }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(elements)
            default: throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard buffer.count - index >= 4 else { throw error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = buffer[index].hexValue else { throw error("invalid hex digit in \\u escape") }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        // The common string has no escape: it is made from the input's bytes at once. An ASCII one (most are) is
        // valid UTF-8 as it stands; only the others go through validation, which costs several times more.
        let start = index
        var end = start
        var bits: UInt8 = 0
        while end < buffer.count {
            let byte = buffer[end]
            if byte == UInt8(ascii: "\"") {
                let content = UnsafeBufferPointer(rebasing: buffer[start..<end])
                guard let string = bits < 0x80 ? String(decoding: content, as: UTF8.self) : String(validating: content, as: UTF8.self) else {
                    index = end
                    throw error("string is not valid UTF-8")
                }
                index = end + 1
                return string
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            bits |= byte
            end += 1
        }
        var bytes = Array(buffer[start..<end])
        index = end
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: bytes, as: UTF8.self) else {
                    throw error("string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = current else { throw error("unterminated escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5C)
                case UInt8(ascii: "/"): bytes.append(0x2F)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard buffer.count - index >= 2, buffer[index] == UInt8(ascii: "\\"),
                            buffer[index + 1] == UInt8(ascii: "u")
                        else { throw error("lone high surrogate") }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("lone low surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid code point") }
                    UTF8.encode(unicode) { bytes.append($0) }
                default: throw error("invalid escape")
                }
            case 0x00..<0x20:
                throw error("control character in string")
            default:
                bytes.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        var isInteger = true
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error("expected a digit")
        }
        if first == UInt8(ascii: "0") {
            index += 1
            if let next = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) {
                throw error("leading zero in number")
            }
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard skipDigits() > 0 else { throw error("expected a digit after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard skipDigits() > 0 else { throw error("expected a digit in exponent") }
        }
        // Conversion of a very long digit string is not linear (strtod works in multiple precision).
        guard index - start <= Self.maximumNumberBytes else {
            throw JSONParseError(offset: start, reason: "a number is longer than \(Self.maximumNumberBytes) bytes")
        }
        let text = String(decoding: buffer[start..<index], as: UTF8.self)
        if isInteger, let integer = Int64(text) { return .int(integer) }
        guard let double = Double(text), double.isFinite else {
            throw JSONParseError(offset: start, reason: "number out of range")
        }
        return .double(double)
    }

    @discardableResult
    private mutating func skipDigits() -> Int {
        var count = 0
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            index += 1
            count += 1
        }
        return count
    }
}

// MARK: - One value of a larger document

extension JSONParser {
    /// Parses the one value that begins at `index` in `buffer`, inside `depth` arrays and objects, and moves
    /// `index` past it.
    ///
    /// For a reader of a larger document that hands single values over (``EntryDecoder`` hands over free-form
    /// metadata): the value is judged by every rule of ``parse(_:)-(Bytes)``, its nesting counted from the top of
    /// the document.
    static func parseValue(in buffer: UnsafeBufferPointer<UInt8>, at index: inout Int, depth: Int) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(buffer: buffer)
        parser.index = index
        let value = try parser.parseValue(depth: depth)
        index = parser.index
        return value
    }
}
