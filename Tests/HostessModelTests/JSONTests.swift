@testable import HostessModel
import HostessTestSupport
import Testing

@Suite struct JSONTests {
    // MARK: Accepting

    static let accepted: [(String, JSONValue)] = [
        ("null", .null),
        ("true", .bool(true)),
        ("false", .bool(false)),
        ("0", .int(0)),
        ("-0", .int(0)),
        ("42", .int(42)),
        ("-17", .int(-17)),
        ("9223372036854775807", .int(Int64.max)),
        ("-9223372036854775808", .int(Int64.min)),
        ("9223372036854775808", .double(9.223372036854775808e18)),
        ("-9223372036854775809", .double(-9.223372036854775809e18)),
        ("1.5", .double(1.5)),
        ("-0.25", .double(-0.25)),
        ("1e300", .double(1e300)),
        ("1E+2", .double(100)),
        ("2.5e-3", .double(0.0025)),
        ("0.0", .double(0)),
        ("5e-324", .double(.leastNonzeroMagnitude)),
        ("1.7976931348623157e308", .double(1.7976931348623157e308)),
        ("\"\"", .string("")),
        ("\"plain\"", .string("plain")),
        (#""\"\\\/\b\f\n\r\t""#, .string("\"\\/\u{08}\u{0C}\n\r\t")),
        (#""\u0000\u001f\u007F""#, .string("\u{00}\u{1F}\u{7F}")),
        (#""\u00e9\u00E9""#, .string("\u{E9}\u{E9}")),
        (#""\uD83D\uDE00""#, .string("\u{1F600}")),
        (#""\ud834\udd1e""#, .string("\u{1D11E}")),
        (#""\uDBFF\uDFFF""#, .string("\u{10FFFF}")),
        (#""\uFFFF""#, .string("\u{FFFF}")),
        ("\"日本語 😀 é\"", .string("日本語 😀 é")),
        ("[]", .array([])),
        ("{}", .object(JSONObject())),
        (" \t\r\n[ 1 , 2 ,3 ] \n", [1, 2, 3]),
        (#"{"b":1,"a":[true,null,{"c":"d"}]}"#, ["b": 1, "a": [true, nil, ["c": "d"]]]),
        (#"{"":0}"#, ["": 0]),
        (#"[[[[]]]]"#, [[[[]]]]),
    ]

    @Test("RFC 8259 documents parse to the expected values", arguments: accepted)
    func accepts(text: String, expected: JSONValue) throws {
        #expect(try JSONParser.parse(text) == expected)
        #expect(try JSONParser.parse(Array(text.utf8)) == expected)
    }

    @Test("nested metadata round-trips exactly: key order, exact integers, doubles, unicode, control characters")
    func metadataRoundTrip() throws {
        var inner = JSONObject()
        inner["zeta"] = .int(Int64.max)
        inner["alpha"] = .int(Int64.min)
        inner["mid"] = .int(0)
        inner["\u{1F600} key"] = .string("surrogate pair \u{1F600} and \u{10FFFF}")
        let controls = String((0..<0x20).map { Character(UnicodeScalar(UInt8($0))) }) + "\u{7F}\"\\/"
        let value: JSONValue = [
            "z": 1, "a": 2, "m": 3,
            "nested": .object(inner),
            "doubles": [1.5, 1e300, -2.5e-300, 0.1, .double(.leastNonzeroMagnitude), 123456789.125, -0.0],
            "ints": [.int(Int64.max), .int(Int64.min), .int(-1), .int(9_007_199_254_740_993)],
            "text": .string("日本語 é e\u{301} \u{200B}"),
            "controls": .string(controls),
            "mixed": [nil, true, false, [], ["k": []]],
        ]
        let bytes = value.jsonBytes
        let parsed = try JSONParser.parse(bytes)
        #expect(parsed == value)
        #expect(parsed.jsonBytes == bytes)
        #expect(parsed.objectValue?.keys == ["z", "a", "m", "nested", "doubles", "ints", "text", "controls", "mixed"])
        #expect(parsed.objectValue?["nested"]?.objectValue?.keys == ["zeta", "alpha", "mid", "\u{1F600} key"])
        guard case .array(let ints)? = parsed.objectValue?["ints"] else {
            Issue.record("ints is not an array")
            return
        }
        #expect(ints == [.int(Int64.max), .int(Int64.min), .int(-1), .int(9_007_199_254_740_993)])
        // Strings keep their exact scalars, not merely a canonically equivalent form.
        #expect(parsed.objectValue?["text"]?.stringValue?.unicodeScalars.elementsEqual("日本語 é e\u{301} \u{200B}".unicodeScalars) == true)
    }

    @Test("the writer escapes quotes, backslashes and control characters and keeps the rest as UTF-8")
    func writerEscapes() throws {
        #expect(JSONValue.string("a\"b\\c").jsonText == #""a\"b\\c""#)
        #expect(JSONValue.string("\n\r\t").jsonText == #""\n\r\t""#)
        #expect(JSONValue.string("\u{00}\u{01}\u{08}\u{0C}\u{1F}\u{7F}").jsonText == #""\u0000\u0001\u0008\u000c\u001f\u007f""#)
        #expect(JSONValue.string("é😀/").jsonText == "\"é😀/\"")
        for byte in UInt8(0)..<0x20 {
            let text = String(Character(UnicodeScalar(byte)))
            let written = JSONValue.string(text).jsonBytes
            #expect(!written.dropFirst().dropLast().contains { $0 < 0x20 }, "raw control byte \(byte) written")
            #expect(try JSONParser.parse(written) == .string(text))
        }
    }

    @Test("the writer is compact and keeps key order")
    func writerCompact() {
        let value: JSONValue = ["b": [1, 2.5, "x"], "a": nil, "c": ["d": false]]
        #expect(value.jsonText == #"{"b":[1,2.5,"x"],"a":null,"c":{"d":false}}"#)
        #expect(JSONValue.int(Int64.min).jsonText == "-9223372036854775808")
        #expect(JSONValue.double(.nan).jsonText == "null")
        #expect(JSONValue.double(.infinity).jsonText == "null")
    }

    @Test("JSONObject keeps first-insertion order, replaces in place and removes on nil")
    func objectOrder() {
        var object = JSONObject()
        object["b"] = 1
        object["a"] = 2
        object["b"] = 3
        #expect(object.keys == ["b", "a"])
        #expect(object["b"] == 3)
        object["b"] = nil
        #expect(object.keys == ["a"])
        let first: JSONObject = ["x": 1, "y": 2]
        let second: JSONObject = ["y": 2, "x": 1]
        #expect(first != second, "objects compare in order")
    }

    @Test("object keys are compared by their exact characters: canonically equivalent keys are distinct members")
    func canonicallyEquivalentKeys() throws {
        // RFC 8259 §8.3: names compare code unit by code unit. U+00E9 and "e" + U+0301 are different names.
        let text = #"{"\u00e9":1,"e\u0301":2}"#
        let parsed = try JSONParser.parse(text)
        #expect(parsed.objectValue?.count == 2)
        #expect(parsed.jsonBytes == Array("{\"\u{E9}\":1,\"e\u{301}\":2}".utf8))
    }

    // MARK: Rejecting

    static let rejected: [String] = [
        // empty and truncated
        "", " ", "[", "{", "[1,", #"{"a""#, #"{"a":"#, "tru", "nul", "fals",
        // duplicate keys
        #"{"a":1,"a":2}"#, #"{"a":1,"b":{"c":1,"c":1}}"#, #"{"a":1,"\u0061":2}"#,
        // trailing bytes
        "{} x", "[1]]", "1 2", "true false", "nullx", #""a""b""#, "{}\u{0}",
        // leading zeros and malformed numbers
        "01", "-01", "00", "007", "1.", ".5", "+1", "-", "1e", "1e+", "0x10", "1.e5", "- 1", "1e400", "-1e400",
        // non-finite literals
        "NaN", "nan", "Infinity", "-Infinity", "inf", "[NaN]", #"{"a":Infinity}"#,
        // lone and broken surrogates
        #""\uD800""#, #""\uDBFF""#, #""\uDC00""#, #""\uDFFF x""#, #""\uD800\u0041""#, #""\uD800x""#,
        #""\uD800\uD800""#, #""\uDE00\uD83D""#, #""\uD83D\""#,
        // unterminated strings and bad escapes
        #""abc"#, #""abc\"#, #""abc\""#, #""\u12""#, #""\u12G4""#, #""\x""#, #""\'""#,
        // raw control characters in strings
        "\"a\tb\"", "\"a\nb\"", "\"\u{0}\"", "\"\u{1F}\"",
        // structure
        "[1,]", "[,1]", #"{"a":1,}"#, "{a:1}", "{'a':1}", "'a'", #"{"a" 1}"#, #"{1:2}"#, "[1 2]", "}", "]",
        // white space RFC 8259 does not allow
        "\u{0C}1", "[1,\u{0B}2]", "\u{A0}1",
    ]

    @Test("malformed documents are refused", arguments: rejected)
    func rejects(text: String) {
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
    }

    static let rejectedBytes: [[UInt8]] = [
        [0x22, 0xFF, 0x22],  // never valid in UTF-8
        [0x22, 0xC0, 0x80, 0x22],  // overlong NUL
        [0x22, 0xC1, 0xBF, 0x22],  // overlong
        [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong '/'
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // an encoded surrogate
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
        [0x22, 0xE2, 0x82, 0x22],  // truncated sequence
        [0x22, 0x80, 0x22],  // lone continuation byte
        [0x22, 0x61, 0xC3, 0x22],  // truncated at the end
        [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D],  // invalid key
        [0xFF],  // outside a string
        [0x5B, 0x31, 0x5D, 0xFF],  // after the document
    ]

    @Test("invalid UTF-8 is refused", arguments: rejectedBytes)
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(bytes) }
    }

    @Test("errors give the byte offset where parsing stopped")
    func errorOffsets() {
        let trailing = #expect(throws: JSONParseError.self) { _ = try JSONParser.parse("[1] x") }
        #expect(trailing?.offset == 4)
        let duplicate = #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(#"{"a":1,"a":2}"#) }
        #expect(duplicate?.offset == 7)
        #expect(duplicate?.reason.contains("duplicate") == true)
        let zero = #expect(throws: JSONParseError.self) { _ = try JSONParser.parse("[01]") }
        #expect(zero?.offset == 2)
    }

    // MARK: Depth

    static func nested(_ depth: Int, open: String, close: String, leaf: String = "") -> String {
        String(repeating: open, count: depth) + leaf + String(repeating: close, count: depth)
    }

    @Test("nesting up to maximumDepth parses")
    func depthAtLimit() throws {
        let depth = JSONParser.maximumDepth
        var arrays = try JSONParser.parse(Self.nested(depth, open: "[", close: "]", leaf: "1"))
        for _ in 0..<depth {
            guard case .array(let elements) = arrays, elements.count == 1 else {
                Issue.record("expected a one-element array")
                return
            }
            arrays = elements[0]
        }
        #expect(arrays == 1)
        _ = try JSONParser.parse(Self.nested(depth, open: #"{"k":"#, close: "}", leaf: "null"))
        _ = try JSONParser.parse(Self.nested(depth / 2, open: #"[{"k":"#, close: "}]", leaf: "0"))
    }

    @Test(
        "nesting deeper than maximumDepth is refused",
        arguments: [
            nested(JSONParser.maximumDepth + 1, open: "[", close: "]"),
            nested(JSONParser.maximumDepth + 1, open: #"{"k":"#, close: "}", leaf: "1"),
            nested(JSONParser.maximumDepth / 2 + 1, open: #"[{"k":"#, close: "}]", leaf: "0"),
            nested(1000, open: "[", close: "]"),
        ])
    func depthOverLimit(text: String) {
        let error = #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
        #expect(error?.reason.contains("nesting") == true)
    }

    @Test("100 000 levels of nesting are refused without exhausting the stack")
    func hostileDepth() {
        let depth = 100_000
        for text in [
            String(repeating: "[", count: depth),
            Self.nested(depth, open: "[", close: "]"),
            String(repeating: #"{"a":"#, count: depth),
            String(repeating: "[{\"a\":", count: depth),
        ] {
            let error = #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
            #expect(error?.reason.contains("nesting") == true)
        }
    }

    // MARK: Property

    @Test("600 random JSON trees survive jsonBytes → parse unchanged")
    func randomTrees() throws {
        var random = SplitMix64(seed: 0x4A53_4F4E_5452_4545)
        for _ in 0..<600 {
            let value = Self.randomValue(&random, depth: 0)
            let bytes = value.jsonBytes
            let parsed: JSONValue
            do { parsed = try JSONParser.parse(bytes) } catch {
                Issue.record("\(error) in \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            #expect(parsed == value)
            #expect(parsed.jsonBytes == bytes)
        }
    }

    static func randomValue(_ random: inout SplitMix64, depth: Int) -> JSONValue {
        let containers = depth < 6 ? 2 : 0
        switch Int.random(in: 0..<(6 + containers), using: &random) {
        case 0: return .null
        case 1: return .bool(random.chance(50))
        case 2: return .int(randomInt(&random))
        case 3: return .double(randomDouble(&random))
        case 4, 5: return .string(randomString(&random))
        case 6:
            return .array((0..<Int.random(in: 0...5, using: &random)).map { _ in randomValue(&random, depth: depth + 1) })
        default:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...5, using: &random) {
                object[randomString(&random)] = randomValue(&random, depth: depth + 1)
            }
            return .object(object)
        }
    }

    static func randomInt(_ random: inout SplitMix64) -> Int64 {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return random.pick([Int64.min, Int64.max, Int64.min + 1, Int64.max - 1, 0, -1, 1])
        case 1: return Int64.random(in: -1000...1000, using: &random)
        default: return Int64(bitPattern: random.next())
        }
    }

    static func randomDouble(_ random: inout SplitMix64) -> Double {
        switch Int.random(in: 0..<4, using: &random) {
        case 0: return random.pick([1.5, 1e300, -1e300, 0.1, .leastNonzeroMagnitude, -0.0, 0.0, .greatestFiniteMagnitude, 2.0, 1e16])
        case 1: return Double(Int.random(in: -1_000_000...1_000_000, using: &random)) / 64
        default:
            while true {
                let double = Double(bitPattern: random.next())
                if double.isFinite { return double }
            }
        }
    }

    static func randomString(_ random: inout SplitMix64) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...8, using: &random) {
            let value: UInt32
            switch Int.random(in: 0..<5, using: &random) {
            case 0: value = UInt32.random(in: 0..<0x20, using: &random)
            case 1: value = UInt32.random(in: 0x20..<0x80, using: &random)
            case 2: value = random.pick([0x22, 0x5C, 0x2F, 0x7F, 0x301, 0xE9, 0x200B, 0xFEFF, 0xFFFF, 0x1F600, 0x10FFFF])
            case 3: value = UInt32.random(in: 0x80..<0xD800, using: &random)
            default: value = UInt32.random(in: 0xE000...0x10FFFF, using: &random)
            }
            if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
        }
        return String(scalars)
    }
}
