import HostessModel
import Testing

// MARK: - Hostile documents

/// Documents built to make a parser do more than linear work, each about 1 MiB (the request line limit), and
/// whether Hostess accepts them.
enum HostileDocument: String, CaseIterable, CustomTestStringConvertible {
    /// The attack that froze hostessd for 16.7 s: one object of 85,000 keys in a 924 KB line.
    case keys85k
    /// The largest object accepted (4,096 members) with long keys: duplicate checks and building the object.
    case widestObject
    /// Half a million array elements.
    case longArray
    /// A 1 MiB string.
    case longString
    /// A string of two-byte escapes.
    case shortEscapes
    /// A string of `\u00e9` escapes.
    case unicodeEscapes
    /// A string of surrogate pairs.
    case surrogatePairs
    /// A number of a million digits.
    case longNumber
    /// A number of 256 digits, the longest accepted, repeated in an array.
    case longNumbers
    /// Objects nested as deep as allowed, repeated.
    case deepNesting
    /// 100,000 levels of nesting.
    case deeperNesting
    /// Many small objects, each with the same keys.
    case manySmallObjects

    var testDescription: String { rawValue }

    /// The document's bytes, about `megabyte` of them (1 MiB by default).
    func bytes(megabyte: Int = 1 << 20) -> [UInt8] {
        switch self {
        case .keys85k:
            return Array(("{" + (0..<85_000 * megabyte / (1 << 20)).map { "\"k\($0)\":0" }.joined(separator: ",") + "}").utf8)
        case .widestObject:
            let pad = String(repeating: "x", count: 240)
            return Array(("{" + (0..<JSONParser.maximumMembers * megabyte / (1 << 20)).map { "\"\(pad)\($0)\":1" }.joined(separator: ",") + "}").utf8)
        case .longArray:
            return Array(("[" + Array(repeating: "0", count: megabyte / 2 - 1).joined(separator: ",") + "]").utf8)
        case .longString:
            return Array(("\"" + String(repeating: "a", count: megabyte - 2) + "\"").utf8)
        case .shortEscapes:
            return Array(("\"" + String(repeating: "\\n", count: megabyte / 2 - 1) + "\"").utf8)
        case .unicodeEscapes:
            return Array(("\"" + String(repeating: "\\u00e9", count: megabyte / 6) + "\"").utf8)
        case .surrogatePairs:
            return Array(("\"" + String(repeating: "\\ud83d\\ude00", count: megabyte / 12) + "\"").utf8)
        case .longNumber:
            return Array(("1" + String(repeating: "7", count: megabyte - 1)).utf8)
        case .longNumbers:
            let number = "1" + String(repeating: "7", count: JSONParser.maximumNumberBytes - 1)
            return Array(("[" + Array(repeating: number, count: megabyte / (JSONParser.maximumNumberBytes + 1)).joined(separator: ",") + "]").utf8)
        case .deepNesting:
            let depth = JSONParser.maximumDepth - 1
            let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            return Array(("[" + Array(repeating: nested, count: megabyte / 130).joined(separator: ",") + "]").utf8)
        case .deeperNesting:
            return Array(String(repeating: "[", count: 100_000 * megabyte / (1 << 20)).utf8)
        case .manySmallObjects:
            return Array(("[" + Array(repeating: #"{"a":1,"b":"c"}"#, count: megabyte / 17).joined(separator: ",") + "]").utf8)
        }
    }

    /// Whether the parser accepts it.
    var isAccepted: Bool {
        switch self {
        case .keys85k, .longNumber, .deeperNesting: false
        default: true
        }
    }
}

// MARK: - Tests

@Suite("JSON parsing is linear in its input", .serialized)
struct LinearParsingTests {
    @Test("each hostile 1 MiB document is parsed or refused in linear time", arguments: HostileDocument.allCases)
    func hostileDocument(_ document: HostileDocument) throws {
        let full = document.bytes()
        #expect(full.count <= 1 << 20)
        #expect(((try? JSONParser.parse(full)) != nil) == document.isAccepted)
        // Four times the input may cost about four times the time, never sixteen (quadratic: what made 85,000
        // keys take 16.7 s). Each size's best of three runs, interleaved, so that a pause of the test process
        // or other tests on the same cores do not decide; the absolute bound is for debug builds, several
        // times slower than the release figures in docs/security.md.
        let quarter = document.bytes(megabyte: 1 << 18)
        let clock = ContinuousClock()
        var fullTime = Duration.seconds(3600)
        var quarterTime = Duration.seconds(3600)
        for _ in 0..<3 {
            quarterTime = min(quarterTime, clock.measure { _ = try? JSONParser.parse(quarter) })
            fullTime = min(fullTime, clock.measure { _ = try? JSONParser.parse(full) })
        }
        #expect(fullTime < quarterTime * 8 + .milliseconds(5), "\(document.rawValue): 1 MiB took \(fullTime), 256 KiB \(quarterTime)")
        #expect(fullTime < .seconds(1), "\(document.rawValue) took \(fullTime)")
    }

    @Test("an object with more than maximumMembers members is refused, naming the limit")
    func tooManyMembers() {
        let text = "{" + (0...JSONParser.maximumMembers).map { "\"k\($0)\":0" }.joined(separator: ",") + "}"
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
        #expect(error?.reason == "an object has more than \(JSONParser.maximumMembers) members")
    }

    @Test("a number longer than maximumNumberBytes is refused; one at the limit parses")
    func numberLength() throws {
        let limit = String(repeating: "9", count: JSONParser.maximumNumberBytes)
        #expect(try JSONParser.parse(limit) == .double(Double(limit) ?? 0))
        let error = #expect(throws: JSONParseError.self) { try JSONParser.parse(limit + "9") }
        #expect(error?.reason == "a number is longer than \(JSONParser.maximumNumberBytes) bytes")
    }

    @Test("a parsed object keeps its members in order, and lookups still find them")
    func parsedObjectOrder() throws {
        let object = try #require(try JSONParser.parse(#"{"b":1,"a":2,"é":3,"e\u0301":4}"#).objectValue)
        #expect(object.keys == ["b", "a", "é", "e\u{301}"])
        #expect(object["a"] == .int(2))
        #expect(object["e\u{301}"] == .int(4))
    }
}
