import HostessModel

// MARK: - YAML

extension SourceDocument {
    /// How many elements one YAML sequence may have.
    public static let maximumElements = 65_536

    /// Reads a YAML document written in a strict block subset, with the location of every value in it.
    ///
    /// The subset: block mappings and sequences, plain, single-quoted and double-quoted scalars on one line,
    /// comments, blank lines, an optional leading `---`, CRLF line ends and a leading byte order mark. Plain
    /// scalars are typed by YAML 1.2's core schema (`null`, `~`, `true`, `false`, decimal integers and
    /// floats); quoted scalars are strings. Everything else YAML has (flow collections, anchors, aliases,
    /// tags, block scalars, multi-line scalars, complex keys, directives, several documents) is refused,
    /// as are duplicate keys, tabs in indentation and inconsistent indentation: a file means one thing or
    /// nothing. Nesting, mapping and sequence sizes are bounded as ``JSONParser`` bounds them.
    ///
    /// - Throws: ``SourceError`` at the line and column of the first thing not in the subset.
    public static func yaml(_ bytes: [UInt8], file: String) throws(SourceError) -> SourceDocument {
        var parser = try YAMLParser(bytes: bytes, file: file)
        return try parser.document()
    }
}

// MARK: - Lines

/// Bytes of the ASCII characters the parser looks at.
private let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), hash = UInt8(ascii: "#"), colon = UInt8(ascii: ":")
private let dash = UInt8(ascii: "-"), singleQuote = UInt8(ascii: "'"), doubleQuote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")

/// A line with content (not blank, not only a comment): its bytes without the line end, and its indentation.
private struct Line {
    let number: Int
    let start: Int
    let end: Int
    let indent: Int
    /// Where its content starts.
    var content: Int { start + indent }
}

/// What a node turned out to be, so that a misplaced line after it can be explained.
private enum Kind { case scalar, mapping, sequence }

/// A recursive-descent reader over the content lines. It writes the document as JSON text, which
/// ``JSONParser`` then reads: that builds objects from keys already known to be unique in linear time
/// (``JSONObject``'s public subscript searches its members). Each line is looked at a bounded number of times.
private struct YAMLParser {
    private let bytes: [UInt8]
    private let file: String
    private var lines: [Line] = []
    /// The line being read.
    private var current = 0
    private var output: [UInt8] = []
    private var locations: [String: SourceLocation] = [:]

    init(bytes: [UInt8], file: String) throws(SourceError) {
        self.bytes = bytes
        self.file = file
        guard bytes.count <= SourceDocument.maximumBytes else { throw SourceDocument.tooLarge(bytes.count, file: file) }
        let first = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        try checkCharacters(from: first)
        var start = first
        var number = 1
        var sawStart = false
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let next = end + 1
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            try addLine(number: number, start: start, end: end, sawStart: &sawStart)
            number += 1
            start = next
        }
    }

    /// Refuses invalid UTF-8 and control characters other than tab and line ends.
    private func checkCharacters(from first: Int) throws(SourceError) {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes[first...].makeIterator()
        var offset = first
        while true {
            let message: String
            switch parser.parseScalar(from: &iterator) {
            case .emptyInput: return
            case .error: message = "the file is not valid UTF-8"
            case .valid(let encoded):
                let scalar = UTF8.decode(encoded).value
                let lineEnd = scalar == 0x0D && offset + 1 < bytes.count && bytes[offset + 1] == UInt8(ascii: "\n")
                if scalar == 0x09 || scalar == 0x0A || lineEnd || (0x20..<0x7F).contains(scalar) || scalar >= 0xA0 {
                    offset += encoded.count
                    continue
                }
                let name = "U+" + String(scalar, radix: 16, uppercase: true)
                message = scalar == 0x0D
                    ? "a carriage return must be followed by a line feed"
                    : "control character \(name) is not allowed; write it as an escape in a double-quoted string"
            }
            throw SourceError(file: file, location: SourceDocument.location(ofByte: offset, in: bytes, from: first), message: message)
        }
    }

    /// Keeps a line with content; refuses tabs in its indentation and document markers other than a first `---`.
    private mutating func addLine(number: Int, start: Int, end: Int, sawStart: inout Bool) throws(SourceError) {
        var content = start
        while content < end, bytes[content] == space { content += 1 }
        var text = content
        while text < end, bytes[text] == space || bytes[text] == tab { text += 1 }
        guard text < end, bytes[text] != hash else { return }
        let line = Line(number: number, start: start, end: end, indent: content - start)
        if text > content { throw error("tabs are not allowed in indentation; indent with spaces", content, line) }
        guard line.indent == 0 else { return lines.append(line) }
        if isMarker("---", line) {
            guard lines.isEmpty, !sawStart else {
                throw error("multiple documents are not supported; a file holds one document", start, line)
            }
            let rest = skipBlanks(start + 3, line)
            guard rest == end || bytes[rest] == hash else {
                throw error("content after '---' is not supported; start the document on the next line", rest, line)
            }
            sawStart = true
            return
        }
        if isMarker("...", line) { throw error("document end markers ('...') are not supported; a file holds one document", start, line) }
        if bytes[start] == UInt8(ascii: "%") { throw error("directives ('%') are not supported; remove the line", start, line) }
        lines.append(line)
    }

    private func isMarker(_ marker: StaticString, _ line: Line) -> Bool {
        let count = marker.utf8CodeUnitCount
        guard line.end - line.start >= count else { return false }
        for offset in 0..<count where bytes[line.start + offset] != marker.utf8Start[offset] { return false }
        return isBlank(line.start + count, line)
    }

    // MARK: Helpers

    private func byte(_ position: Int, _ line: Line) -> UInt8? { position < line.end ? bytes[position] : nil }

    /// Whether `position` is a space or tab, or the end of the line.
    private func isBlank(_ position: Int, _ line: Line) -> Bool {
        guard let byte = byte(position, line) else { return true }
        return byte == space || byte == tab
    }

    private func skipBlanks(_ position: Int, _ line: Line) -> Int {
        var position = position
        while position < line.end, bytes[position] == space || bytes[position] == tab { position += 1 }
        return position
    }

    private func isQuote(_ position: Int, _ line: Line) -> Bool {
        byte(position, line) == singleQuote || byte(position, line) == doubleQuote
    }

    /// Whether a dash at `position` starts a sequence item.
    private func isItem(_ position: Int, _ line: Line) -> Bool { byte(position, line) == dash && isBlank(position + 1, line) }

    private func location(_ position: Int, _ line: Line) -> SourceLocation {
        SourceLocation(line: line.number, column: position - line.start + 1)
    }

    private func error(_ message: String, _ position: Int, _ line: Line) -> SourceError {
        SourceError(file: file, location: location(position, line), message: message)
    }

    private func multiLine(_ line: Line) -> SourceError {
        error("multi-line scalars are not supported; keep the value on one line, quoted if needed", line.content, line)
    }

    /// A line indented more than the block it follows, after a value that cannot continue onto it.
    private func misplaced(_ line: Line, after kind: Kind, in block: String, _ first: Line, indent: Int) -> SourceError {
        guard kind != .scalar else { return multiLine(line) }
        return error(
            "bad indentation: this line is indented \(line.indent) spaces, which lines up with nothing above it "
                + "(the \(block) at line \(first.number) is indented \(indent))", line.content, line)
    }

    // MARK: Document

    mutating func document() throws(SourceError) -> SourceDocument {
        if let first = lines.first {
            let kind = try node(at: first.content, in: first, path: "", depth: 1)
            if current < lines.count {
                let line = lines[current]
                if line.indent < first.indent {
                    throw error(
                        "bad indentation: this line is indented less than the document's first line (line \(first.number))",
                        line.content, line)
                }
                if kind == .scalar { throw multiLine(line) }
                throw error("expected '- ' to continue the sequence at line \(first.number)", line.content, line)
            }
        } else {
            locations[""] = .start
            output.append(contentsOf: "null".utf8)
        }
        do {
            return SourceDocument(file: file, value: try JSONParser.parse(output), locations: locations)
        } catch {
            throw SourceError(file: file, location: .start, message: "internal error: the YAML reader wrote invalid JSON (\(error))")
        }
    }

    // MARK: Nodes

    /// Reads the node whose first character is at `position` of `line`; its indentation is that column.
    private mutating func node(at position: Int, in line: Line, path: String, depth: Int) throws(SourceError) -> Kind {
        if isItem(position, line) {
            try sequence(in: line, indent: position - line.start, path: path, depth: depth)
            return .sequence
        }
        if let key = try key(at: position, in: line) {
            try mapping(first: key, in: line, indent: position - line.start, path: path, depth: depth)
            return .mapping
        }
        try scalar(at: position, in: line, path: path)
        current += 1
        return .scalar
    }

    private mutating func sequence(in line: Line, indent: Int, path: String, depth: Int) throws(SourceError) {
        let first = line
        guard depth <= JSONParser.maximumDepth else {
            throw error("nesting deeper than \(JSONParser.maximumDepth) levels is not supported", line.start + indent, line)
        }
        locations[path] = location(line.start + indent, line)
        output.append(UInt8(ascii: "["))
        var line = line
        var count = 0
        while true {
            let dash = line.start + indent
            guard count < SourceDocument.maximumElements else {
                throw error("a sequence has more than \(SourceDocument.maximumElements) elements", dash, line)
            }
            if count > 0 { output.append(UInt8(ascii: ",")) }
            let itemPath = SourceDocument.path(path, element: count)
            count += 1
            let content = skipBlanks(dash + 1, line)
            let kind: Kind
            if let byte = byte(content, line), byte != hash {
                kind = try node(at: content, in: line, path: itemPath, depth: depth + 1)
            } else {
                current += 1
                kind = try blockValue(path: itemPath, deeperThan: indent, depth: depth, or: location(dash, line))
            }
            guard current < lines.count else { break }
            let next = lines[current]
            guard next.indent >= indent else { break }
            if next.indent > indent { throw misplaced(next, after: kind, in: "sequence", first, indent: indent) }
            guard isItem(next.content, next) else { break }
            line = next
        }
        output.append(UInt8(ascii: "]"))
    }

    /// A mapping key: its bytes, where it starts, and where its value may start (after the `:`).
    private struct Key {
        let bytes: [UInt8]
        let text: String
        let start: Int
        let valueStart: Int

        init(bytes: [UInt8], start: Int, valueStart: Int) {
            self.bytes = bytes
            text = String(decoding: bytes, as: UTF8.self)
            self.start = start
            self.valueStart = valueStart
        }
    }

    private mutating func mapping(first key: Key, in line: Line, indent: Int, path: String, depth: Int) throws(SourceError) {
        let first = line
        guard depth <= JSONParser.maximumDepth else {
            throw error("nesting deeper than \(JSONParser.maximumDepth) levels is not supported", key.start, line)
        }
        locations[path] = location(key.start, line)
        output.append(UInt8(ascii: "{"))
        var seen: [[UInt8]: Int] = [:]
        var (key, line) = (key, line)
        while true {
            if let previous = seen[key.bytes] {
                throw error("duplicate key '\(key.text)' (first at line \(previous))", key.start, line)
            }
            guard seen.count < JSONParser.maximumMembers else {
                throw error("a mapping has more than \(JSONParser.maximumMembers) members", key.start, line)
            }
            seen[key.bytes] = line.number
            if seen.count > 1 { output.append(UInt8(ascii: ",")) }
            JSONValue.string(key.text).write(into: &output)
            output.append(colon)
            let memberPath = SourceDocument.path(path, member: key.text)
            let kind: Kind
            let value = skipBlanks(key.valueStart, line)
            if let byte = byte(value, line), byte != hash {
                if isItem(value, line) {
                    throw error("a sequence cannot start on the line of its key; put '- ' on the next line", value, line)
                }
                try scalar(at: value, in: line, path: memberPath)
                current += 1
                kind = .scalar
            } else {
                current += 1
                kind = try blockValue(
                    path: memberPath, deeperThan: indent, depth: depth, or: location(key.start, line), sameIndentSequence: true)
            }
            guard current < lines.count else { break }
            let next = lines[current]
            guard next.indent >= indent else { break }
            if next.indent > indent { throw misplaced(next, after: kind, in: "mapping", first, indent: indent) }
            if isItem(next.content, next) {
                throw error("expected a mapping key at this indentation, found a sequence item", next.content, next)
            }
            guard let nextKey = try self.key(at: next.content, in: next) else {
                throw error("expected 'key: value'; a mapping key must be followed by ': '", next.content, next)
            }
            (key, line) = (nextKey, next)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// Reads the value that follows an empty `key:` or `-` from the next line: a more indented node, a
    /// sequence at the key's own indentation (YAML allows `key:` then `- item` below it), or else null,
    /// located at `empty`.
    private mutating func blockValue(
        path: String, deeperThan indent: Int, depth: Int, or empty: SourceLocation, sameIndentSequence: Bool = false
    ) throws(SourceError) -> Kind {
        if current < lines.count {
            let next = lines[current]
            if next.indent > indent { return try node(at: next.content, in: next, path: path, depth: depth + 1) }
            if sameIndentSequence, next.indent == indent, isItem(next.content, next) {
                try sequence(in: next, indent: indent, path: path, depth: depth + 1)
                return .sequence
            }
        }
        locations[path] = empty
        output.append(contentsOf: "null".utf8)
        return .scalar
    }

    /// The key that starts at `position`, or nil when the line holds no `key:` there.
    private func key(at position: Int, in line: Line) throws(SourceError) -> Key? {
        if isQuote(position, line) {
            let (text, end) = try quoted(at: position, in: line)
            let after = skipBlanks(end, line)
            guard byte(after, line) == colon, isBlank(after + 1, line) else { return nil }
            return Key(bytes: text, start: position, valueStart: after + 1)
        }
        try checkPlainStart(position, line)
        var cursor = position
        while let byte = byte(cursor, line) {
            if byte == colon, isBlank(cursor + 1, line) {
                var end = cursor
                while end > position, bytes[end - 1] == space || bytes[end - 1] == tab { end -= 1 }
                return Key(bytes: Array(bytes[position..<end]), start: position, valueStart: cursor + 1)
            }
            if byte == hash, cursor > position, bytes[cursor - 1] == space || bytes[cursor - 1] == tab { return nil }
            cursor += 1
        }
        return nil
    }

    // MARK: Scalars

    /// Refuses the indicators a plain scalar cannot start with, naming the YAML feature each one starts.
    private func checkPlainStart(_ position: Int, _ line: Line) throws(SourceError) {
        guard let byte = byte(position, line) else { return }
        let message: String
        switch UnicodeScalar(byte) {
        case "[", "{": message = "flow collections are not supported; write a block sequence/mapping"
        case "&": message = "anchors ('&') are not supported; write the value out"
        case "*": message = "aliases ('*') are not supported; to write a string that starts with '*', quote it"
        case "!": message = "tags ('!') are not supported; to write a string that starts with '!', quote it"
        case "|", ">": message = "block scalars ('|', '>') are not supported; write the value on one line, quoted if needed"
        case "%": message = "'%' starts a directive, which is not supported; to write a string that starts with '%', quote it"
        case "@", "`", ",", "]", "}": message = "a plain scalar cannot start with '\(UnicodeScalar(byte))'; quote it"
        case "?" where isBlank(position + 1, line): message = "complex keys ('? ') are not supported; write 'key: value'"
        case ":" where isBlank(position + 1, line): message = "a mapping key is missing before ':'"
        default: return
        }
        throw error(message, position, line)
    }

    /// Reads the scalar at `position`, which must end the line (but for a comment), into the output.
    private mutating func scalar(at position: Int, in line: Line, path: String) throws(SourceError) {
        locations[path] = location(position, line)
        if isQuote(position, line) {
            let (text, end) = try quoted(at: position, in: line)
            let after = skipBlanks(end, line)
            if let next = byte(after, line), next != hash || after == end {
                throw error("unexpected text after a quoted scalar; end the line or start a comment with ' #'", after, line)
            }
            JSONValue.string(String(decoding: text, as: UTF8.self)).write(into: &output)
            return
        }
        try checkPlainStart(position, line)
        var cursor = position
        var end = position
        while let byte = byte(cursor, line) {
            if byte == hash, cursor > position, bytes[cursor - 1] == space || bytes[cursor - 1] == tab { break }
            if byte == colon, isBlank(cursor + 1, line) {
                throw error("a plain scalar cannot contain ': '; quote it, or put a nested mapping on the next line", cursor, line)
            }
            if byte != space, byte != tab { end = cursor + 1 }
            cursor += 1
        }
        try typed(bytes[position..<end], at: position, in: line).write(into: &output)
    }

    /// A plain scalar's value by YAML 1.2's core schema; forms of it JSON cannot hold are refused.
    private func typed(_ plain: ArraySlice<UInt8>, at position: Int, in line: Line) throws(SourceError) -> JSONValue {
        let text = String(decoding: plain, as: UTF8.self)
        switch text {
        case "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
            throw error("infinity and NaN are not supported; to write a string, quote it", position, line)
        default: break
        }
        let digits = plain.dropFirst(2)
        let hexadecimal = text.hasPrefix("0x") && digits.allSatisfy { Self.hexValue($0) != nil }
        let octal = text.hasPrefix("0o") && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "7")).contains($0) }
        if plain.count > 2, hexadecimal || octal {
            throw error(
                "hexadecimal and octal numbers are not supported; write it in decimal, or quote it to write a string", position, line)
        }
        guard let isInteger = Self.decimalForm(plain) else { return .string(text) }
        guard plain.count <= JSONParser.maximumNumberBytes else {
            throw error("a number is longer than \(JSONParser.maximumNumberBytes) bytes; to write a string, quote it", position, line)
        }
        if isInteger {
            guard let integer = Int64(text) else {
                throw error("\(text) does not fit in 64 bits; to write a string, quote it", position, line)
            }
            return .int(integer)
        }
        guard let double = Double(text), double.isFinite else {
            throw error("\(text) is out of range for a 64-bit float; to write a string, quote it", position, line)
        }
        return .double(double)
    }

    /// Whether `plain` is a core-schema decimal integer (true) or float (false), or nil when it is neither:
    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
    private static func decimalForm(_ plain: ArraySlice<UInt8>) -> Bool? {
        var index = plain.startIndex
        func skip(_ accepted: (UInt8) -> Bool) -> Int {
            let start = index
            while index < plain.endIndex, accepted(plain[index]) { index += 1 }
            return index - start
        }
        let isDigit: (UInt8) -> Bool = { (0x30...0x39).contains($0) }
        if index < plain.endIndex, plain[index] == UInt8(ascii: "+") || plain[index] == UInt8(ascii: "-") { index += 1 }
        var digits = skip(isDigit)
        var isInteger = true
        if index < plain.endIndex, plain[index] == UInt8(ascii: ".") {
            index += 1
            isInteger = false
            digits += skip(isDigit)
        }
        guard digits > 0 else { return nil }
        if index < plain.endIndex, plain[index] == UInt8(ascii: "e") || plain[index] == UInt8(ascii: "E") {
            index += 1
            isInteger = false
            if index < plain.endIndex, plain[index] == UInt8(ascii: "+") || plain[index] == UInt8(ascii: "-") { index += 1 }
            guard skip(isDigit) > 0 else { return nil }
        }
        return index == plain.endIndex ? isInteger : nil
    }

    /// Reads the single- or double-quoted scalar at `position`: its bytes and where it ends (after the quote).
    private func quoted(at position: Int, in line: Line) throws(SourceError) -> ([UInt8], Int) {
        let quote = bytes[position]
        var text: [UInt8] = []
        var cursor = position + 1
        while let byte = byte(cursor, line) {
            if byte == quote {
                guard quote == singleQuote, self.byte(cursor + 1, line) == singleQuote else { return (text, cursor + 1) }
                text.append(singleQuote)
                cursor += 2
            } else if quote == doubleQuote, byte == backslash {
                cursor = try escape(at: cursor, in: line, into: &text)
            } else {
                text.append(byte)
                cursor += 1
            }
        }
        throw error("unterminated quoted scalar; close it on the same line (multi-line scalars are not supported)", position, line)
    }

    /// Decodes the escape at `position` (a backslash) into `text`; returns where the escape ends.
    private func escape(at position: Int, in line: Line, into text: inout [UInt8]) throws(SourceError) -> Int {
        guard let escape = byte(position + 1, line) else {
            throw error("a '\\' at the end of a line continues a multi-line scalar, which is not supported", position, line)
        }
        switch UnicodeScalar(escape) {
        case "\"", "\\", "/": text.append(escape)
        case "n": text.append(0x0A)
        case "t": text.append(0x09)
        case "r": text.append(0x0D)
        case "0": text.append(0x00)
        case "u":
            guard var scalar = hex4(at: position + 2, in: line) else {
                throw error("'\\u' must be followed by four hexadecimal digits", position, line)
            }
            var end = position + 6
            if (0xD800...0xDBFF).contains(scalar) {
                guard byte(end, line) == backslash, byte(end + 1, line) == UInt8(ascii: "u"), let low = hex4(at: end + 2, in: line),
                    (0xDC00...0xDFFF).contains(low)
                else { throw error("a high surrogate must be followed by a low surrogate escape ('\\uDC00' to '\\uDFFF')", position, line) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                end += 6
            }
            guard let unicode = Unicode.Scalar(scalar) else {
                throw error("a low surrogate must follow a high surrogate escape ('\\uD800' to '\\uDBFF')", position, line)
            }
            UTF8.encode(unicode) { text.append($0) }
            return end
        default:
            throw error("unsupported escape; use \\\", \\\\, \\/, \\n, \\t, \\r, \\0 or \\uXXXX", position, line)
        }
        return position + 2
    }

    /// The four hexadecimal digits at `position`, or nil.
    private func hex4(at position: Int, in line: Line) -> UInt32? {
        guard line.end - position >= 4 else { return nil }
        var value: UInt32 = 0
        for byte in bytes[position..<position + 4] {
            guard let digit = Self.hexValue(byte) else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
