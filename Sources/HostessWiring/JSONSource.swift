import HostessModel

// MARK: - JSON

extension SourceDocument {
    /// Reads a JSON document as strictly as ``JSONParser`` does, with the location of every value in it.
    ///
    /// The parser checks the document; then one linear pass over the same bytes notes where each value starts.
    ///
    /// - Throws: ``SourceError`` at the line and column where the parser stopped, or at the start of a file
    ///   larger than ``maximumBytes``.
    public static func json(_ bytes: [UInt8], file: String) throws(SourceError) -> SourceDocument {
        guard bytes.count <= maximumBytes else { throw tooLarge(bytes.count, file: file) }
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw SourceError(file: file, location: location(ofByte: error.offset, in: bytes), message: "invalid JSON: \(error.reason)")
        }
        var scanner = JSONLocationScanner(bytes: bytes)
        return SourceDocument(file: file, value: value, locations: scanner.scan())
    }
}

// MARK: - Locations

/// One pass over bytes ``JSONParser`` accepted, noting where each value starts. It reads only what delimits
/// values (strings, brackets, commas, colons) and relies on the parser having checked everything else.
private struct JSONLocationScanner {
    /// An array or object being read.
    private struct Container {
        let path: String
        let isObject: Bool
        /// Elements so far, in an array.
        var count = 0
        /// The key of the member being read, in an object.
        var key = ""
        /// Whether the next string in an object is a key.
        var awaitingKey: Bool
    }

    private let bytes: [UInt8]
    private var stack: [Container] = []
    private var locations: [String: SourceLocation] = [:]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func scan() -> [String: SourceLocation] {
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\n"):
                index += 1
                line += 1
                lineStart = index
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let isObject = byte == UInt8(ascii: "{")
                stack.append(Container(path: valueStarts(), isObject: isObject, awaitingKey: isObject))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                index += 1
            case UInt8(ascii: ","):
                if let last = stack.indices.last, stack[last].isObject { stack[last].awaitingKey = true }
                index += 1
            case UInt8(ascii: "\""):
                if let last = stack.indices.last, stack[last].awaitingKey {
                    stack[last].key = key()
                    stack[last].awaitingKey = false
                } else {
                    _ = valueStarts()
                    skipString()
                }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: ":"):
                index += 1
            default:
                // A number or a literal: it runs to the next delimiter.
                _ = valueStarts()
                while index < bytes.count, !Self.delimiters.contains(bytes[index]) { index += 1 }
            }
        }
        return locations
    }

    private static let delimiters: Set<UInt8> = Set(",]} \t\r\n".utf8)

    /// Notes that a value starts at `index` and returns its path.
    private mutating func valueStarts() -> String {
        let path: String
        if let last = stack.indices.last {
            if stack[last].isObject {
                path = SourceDocument.path(stack[last].path, member: stack[last].key)
            } else {
                path = SourceDocument.path(stack[last].path, element: stack[last].count)
                stack[last].count += 1
            }
        } else {
            path = ""
        }
        locations[path] = SourceLocation(line: line, column: index - lineStart + 1)
        return path
    }

    /// Moves past the string that starts at `index`.
    private mutating func skipString() {
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\\"): index += 2
            case UInt8(ascii: "\""):
                index += 1
                return
            default: index += 1
            }
        }
    }

    /// Reads the key that starts at `index`, decoded as the parser decoded it.
    private mutating func key() -> String {
        let start = index
        skipString()
        let quoted = bytes[start..<min(index, bytes.count)]
        let raw = quoted.dropFirst().dropLast()
        if raw.contains(UInt8(ascii: "\\")), case .string(let key)? = try? JSONParser.parse(quoted) { return key }
        return String(decoding: raw, as: UTF8.self)
    }
}
