import HostessModel
import HostessTestSupport
import Testing

@testable import HostessWiring

// MARK: - Helpers

/// The wiring example from the specification, as a file would hold it.
let wiringExample = """
    # wiring.yaml - Compile-time wiring specification
    version: '1.0'

    connections:
      # PTY stdout → 2 GPU renderers (fanout)
      - source:
          server: '*.pty-server.*' # Glob pattern
          terminal: 'stdout'
        targets:
          - server: '*.gpu-renderer.*:1' # First GPU renderer
            terminal: 'input'
          - server: '*.gpu-renderer.*:2' # Second GPU renderer
            terminal: 'input'

      # GPU outputs → MP4 encoder (fanin)
      - source:
          servers:
            - '*.gpu-renderer.*:1'
            - '*.gpu-renderer.*:2'
          terminal: 'output'
        target:
          server: '*.mp4-encoder.*'
          terminal: 'input'
          mode: 'merge' # Combine multiple inputs

    validation:
      # Ensure these server types exist before wiring
      required_servers:
        - class: '0x0001' # PTY
          count: 1
        - class: '0x0002' # GPU renderer
          count: 2
        - class: '0x0005' # MP4 encoder
          count: 1

    """

/// The value the example holds.
let wiringExampleValue: JSONValue = [
    "version": "1.0",
    "connections": [
        [
            "source": ["server": "*.pty-server.*", "terminal": "stdout"],
            "targets": [
                ["server": "*.gpu-renderer.*:1", "terminal": "input"],
                ["server": "*.gpu-renderer.*:2", "terminal": "input"],
            ],
        ],
        [
            "source": ["servers": ["*.gpu-renderer.*:1", "*.gpu-renderer.*:2"], "terminal": "output"],
            "target": ["server": "*.mp4-encoder.*", "terminal": "input", "mode": "merge"],
        ],
    ],
    "validation": [
        "required_servers": [["class": "0x0001", "count": 1], ["class": "0x0002", "count": 2], ["class": "0x0005", "count": 1]]
    ],
]

/// Where some of the example's values start, the same in YAML and in its JSON twin's terms of paths.
let wiringExampleLocations: [(String, Int, Int)] = [
    ("", 2, 1), ("version", 2, 10), ("connections", 6, 3), ("connections[0]", 6, 5), ("connections[0].source", 7, 7),
    ("connections[0].source.server", 7, 15), ("connections[0].source.terminal", 8, 17), ("connections[0].targets", 10, 7),
    ("connections[0].targets[1]", 12, 9), ("connections[0].targets[1].server", 12, 17), ("connections[1].source.servers", 18, 9),
    ("connections[1].source.servers[1]", 19, 11), ("connections[1].target.mode", 24, 13), ("validation", 28, 3),
    ("validation.required_servers", 29, 5), ("validation.required_servers[1]", 31, 7),
    ("validation.required_servers[1].count", 32, 14), ("validation.required_servers[2].class", 33, 14),
]

/// Every field path of `value`, the root included.
func allPaths(_ value: JSONValue, at path: String = "") -> [String] {
    switch value {
    case .array(let elements):
        [path] + elements.enumerated().flatMap { allPaths($1, at: "\(path)[\($0)]") }
    case .object(let object):
        [path] + object.members.flatMap { allPaths($0.value, at: path.isEmpty ? $0.key : "\(path).\($0.key)") }
    default: [path]
    }
}

func yaml(_ text: String) throws(SourceError) -> SourceDocument { try SourceDocument.yaml(Array(text.utf8), file: "w.yaml") }

/// The error `text` is refused with, or nil when it is read.
func yamlError(_ text: String) -> SourceError? {
    do {
        _ = try yaml(text)
        return nil
    } catch {
        return error
    }
}

// MARK: - The example

@Suite("YAML: the wiring example")
struct YAMLExampleTests {
    @Test("the example reads to its value")
    func value() throws {
        let document = try yaml(wiringExample)
        #expect(document.value == wiringExampleValue)
        #expect(document.file == "w.yaml")
    }

    @Test("values start where they are written", arguments: wiringExampleLocations)
    func location(path: String, line: Int, column: Int) throws {
        #expect(try yaml(wiringExample).locations[path] == SourceLocation(line: line, column: column))
    }

    @Test("every value has a location, and nothing else does")
    func everyValue() throws {
        let document = try yaml(wiringExample)
        #expect(Set(document.locations.keys) == Set(allPaths(document.value)))
    }

    @Test("CRLF line ends, a byte order mark and a leading '---' change nothing")
    func lineEnds() throws {
        let plain = try yaml(wiringExample)
        let crlf = try SourceDocument.yaml(Array(wiringExample.replacing("\n", with: "\r\n").utf8), file: "w.yaml")
        let marked = try SourceDocument.yaml([0xEF, 0xBB, 0xBF] + Array(wiringExample.utf8), file: "w.yaml")
        #expect(crlf.value == plain.value && crlf.locations == plain.locations)
        #expect(marked.value == plain.value && marked.locations == plain.locations)
        let started = try yaml("--- # wiring\n" + wiringExample)
        #expect(started.value == plain.value)
        #expect(started.locations["version"] == SourceLocation(line: 3, column: 10))
    }

    @Test("a member without a value is null, located at its key")
    func emptyValues() throws {
        let document = try yaml("a:\nb:   # nothing\nc:\n- \n- x\n")
        #expect(document.value == ["a": nil, "b": nil, "c": [nil, "x"]])
        #expect(document.locations["a"] == SourceLocation(line: 1, column: 1))
        #expect(document.locations["b"] == SourceLocation(line: 2, column: 1))
        #expect(document.locations["c"] == SourceLocation(line: 4, column: 1))
        #expect(document.locations["c[0]"] == SourceLocation(line: 4, column: 1))
        #expect(document.locations["c[1]"] == SourceLocation(line: 5, column: 3))
    }

    @Test("an empty document is null")
    func empty() throws {
        let document = try yaml("# nothing\n\n")
        #expect(document.value == nil)
        #expect(document.locations == ["": .start])
    }

    @Test("sequences nest on the dash line and under a key at its own indentation")
    func nesting() throws {
        let document = try yaml("- - a\n  - b\n- k: v\n  l:\n  - 1\n  m: 'x'\n")
        #expect(document.value == [["a", "b"], ["k": "v", "l": [1], "m": "x"]])
        #expect(document.locations["[0][1]"] == SourceLocation(line: 2, column: 5))
        #expect(document.locations["[1].l"] == SourceLocation(line: 5, column: 3))
        #expect(document.locations["[1].l[0]"] == SourceLocation(line: 5, column: 5))
        let below = try yaml("a:\n  # the value\n  'x'\nb:\n    c: 1\n")
        #expect(below.value == ["a": "x", "b": ["c": 1]])
        #expect(below.locations["a"] == SourceLocation(line: 3, column: 3))
        #expect(below.locations["b"] == SourceLocation(line: 5, column: 5))
    }
}

// MARK: - Scalars

@Suite("YAML: scalars")
struct YAMLScalarTests {
    @Test("plain scalars are typed by the core schema", arguments: [
        ("null", nil), ("~", nil), ("Null", nil), ("NULL", nil), ("true", true), ("True", true), ("false", false), ("FALSE", false),
        ("0", 0), ("-17", -17), ("+5", 5), ("007", 7), ("9223372036854775807", .int(.max)), ("-9223372036854775808", .int(.min)),
        ("1.5", 1.5), ("-2e3", -2000.0), (".5", 0.5), ("1.", 1.0), ("1e-3", 0.001), ("+1.5E+2", 150.0),
        ("yes", "yes"), ("1.2.3", "1.2.3"), ("a#b", "a#b"), ("a # b", "a"), ("trailing   ", "trailing"), ("-x", "-x"),
        ("key:x", "key:x"), ("http://host/path", "http://host/path"), ("12:30", "12:30"), ("e3", "e3"), ("1e", "1e"),
        ("0x", "0x"), ("a 'b' \"c\"", "a 'b' \"c\""), ("é ü", "é ü"), ("a\tb", "a\tb"),
    ] as [(String, JSONValue)])
    func plain(text: String, value: JSONValue) throws {
        let document = try yaml("k: \(text)\n")
        #expect(document.value == ["k": value])
        #expect(document.locations["k"] == SourceLocation(line: 1, column: 4))
    }

    @Test("quoted scalars are strings, with their escapes", arguments: [
        ("'it''s'", "it's"), ("'#not a comment'", "#not a comment"), ("'a: b'", "a: b"), ("'null'", "null"), ("'1'", "1"),
        ("''", ""), ("\"\"", ""), ("'\\n'", "\\n"), ("\"x\" # comment", "x"), ("'x'   ", "x"),
        (#""a\"b\\c\/d""#, "a\"b\\c/d"), (#""\n\t\r\0""#, "\n\t\r\u{0}"), (#""\u00e9\u00E9""#, "éé"), (#""\uD83D\uDE00""#, "😀"),
    ] as [(String, String)])
    func quoted(text: String, value: String) throws {
        #expect(try yaml("k: \(text)\n").value == ["k": .string(value)])
    }

    @Test("keys may be quoted, and keep the bytes they are written with")
    func keys() throws {
        let document = try yaml("'a b': 1\n\"c\\u0064\": 2\nx.y : 3\n'x''': 4\n")
        #expect(document.value == ["a b": 1, "cd": 2, "x.y": 3, "x'": 4])
        #expect(document.locations["cd"] == SourceLocation(line: 2, column: 12))
        #expect(yamlError("'é': 1\n\"e\\u0301\": 2\n") == nil)
    }
}

// MARK: - Refusals

@Suite("YAML: what is refused")
struct YAMLRefusalTests {
    @Test("each construct outside the subset is refused where it is, saying why", arguments: [
        ("a:\n\tb: 1\n", 2, 1, "tabs are not allowed in indentation; indent with spaces"),
        ("a:\n  \tb: 1\n", 2, 3, "tabs are not allowed in indentation"),
        ("a: [1, 2]\n", 1, 4, "flow collections are not supported; write a block sequence/mapping"),
        ("a: {b: 1}\n", 1, 4, "flow collections are not supported"),
        ("- [1]\n", 1, 3, "flow collections are not supported"),
        ("{a: 1}\n", 1, 1, "flow collections are not supported"),
        ("a: &x 1\n", 1, 4, "anchors ('&') are not supported"),
        ("a: *x\n", 1, 4, "aliases ('*') are not supported; to write a string that starts with '*', quote it"),
        ("a: *.pty-server.*\n", 1, 4, "aliases ('*') are not supported"),
        ("a: !!str 1\n", 1, 4, "tags ('!') are not supported"),
        ("a: |\n  text\n", 1, 4, "block scalars ('|', '>') are not supported"),
        ("a: >\n  text\n", 1, 4, "block scalars ('|', '>') are not supported"),
        ("a: b\n  c\n", 2, 3, "multi-line scalars are not supported"),
        ("a\nb\n", 2, 1, "multi-line scalars are not supported"),
        ("- a\n  b\n", 2, 3, "multi-line scalars are not supported"),
        ("a: 'b\n  c'\n", 1, 4, "unterminated quoted scalar"),
        ("a: \"b\n", 1, 4, "unterminated quoted scalar"),
        ("a: \"b\\\n", 1, 6, "a '\\' at the end of a line continues a multi-line scalar"),
        ("? a\n: b\n", 1, 1, "complex keys ('? ') are not supported"),
        (": b\n", 1, 1, "a mapping key is missing before ':'"),
        ("%YAML 1.2\n---\na: 1\n", 1, 1, "directives ('%') are not supported"),
        ("a: %x\n", 1, 4, "'%' starts a directive"),
        ("a: 1\n---\nb: 2\n", 2, 1, "multiple documents are not supported"),
        ("---\n---\n", 2, 1, "multiple documents are not supported"),
        ("a: 1\n...\n", 2, 1, "document end markers ('...') are not supported"),
        ("--- a: 1\n", 1, 5, "content after '---' is not supported"),
        ("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first at line 1)"),
        ("s:\n  terminal: x\n  'terminal': y\n", 3, 3, "duplicate key 'terminal' (first at line 2)"),
        ("a:\n    b: 1\n  c: 2\n", 3, 3, "bad indentation: this line is indented 2 spaces, which lines up with nothing above it (the mapping at line 1 is indented 0)"),
        ("- a: 1\n - b: 2\n", 2, 2, "bad indentation: this line is indented 1 spaces"),
        ("  a: 1\nb: 2\n", 2, 1, "bad indentation: this line is indented less than the document's first line (line 1)"),
        ("a: 1\nb\n", 2, 1, "expected 'key: value'; a mapping key must be followed by ': '"),
        ("a: 1\nb:c\n", 2, 1, "expected 'key: value'"),
        ("a: 1\n- b\n", 2, 1, "expected a mapping key at this indentation, found a sequence item"),
        ("- a\nb: 1\n", 2, 1, "expected '- ' to continue the sequence at line 1"),
        ("a: b: c\n", 1, 5, "a plain scalar cannot contain ': '"),
        ("a: - b\n", 1, 4, "a sequence cannot start on the line of its key"),
        ("a: 'x' y\n", 1, 8, "unexpected text after a quoted scalar"),
        ("a: 'x'# y\n", 1, 7, "unexpected text after a quoted scalar"),
        ("a: @x\n", 1, 4, "a plain scalar cannot start with '@'; quote it"),
        ("a: 0x1F\n", 1, 4, "hexadecimal and octal numbers are not supported"),
        ("a: 0o17\n", 1, 4, "hexadecimal and octal numbers are not supported"),
        ("a: -.inf\n", 1, 4, "infinity and NaN are not supported"),
        ("a: 99999999999999999999\n", 1, 4, "99999999999999999999 does not fit in 64 bits"),
        ("a: 1e999\n", 1, 4, "1e999 is out of range"),
        ("a: \"\\x41\"\n", 1, 5, "unsupported escape"),
        ("a: \"\\u12\"\n", 1, 5, "'\\u' must be followed by four hexadecimal digits"),
        ("a: \"\\uD800\"\n", 1, 5, "a high surrogate must be followed by a low surrogate"),
        ("a: \"\\uD800\\u0041\"\n", 1, 5, "a high surrogate must be followed by a low surrogate"),
        ("a: \"\\uDC00\"\n", 1, 5, "a low surrogate must follow a high surrogate"),
        ("a: \u{0}\n", 1, 4, "control character U+0 is not allowed"),
        ("a: \u{7}\n", 1, 4, "control character U+7 is not allowed"),
        ("a: \u{85}\n", 1, 4, "control character U+85 is not allowed"),
        ("a: 1\rb: 2\n", 1, 5, "a carriage return must be followed by a line feed"),
    ] as [(String, Int, Int, String)])
    func refused(text: String, line: Int, column: Int, message: String) {
        let error = yamlError(text)
        #expect(error?.location == SourceLocation(line: line, column: column))
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "no error")")
        #expect(error?.file == "w.yaml")
    }

    @Test("invalid UTF-8 is refused where it starts")
    func invalidUTF8() {
        for bytes: [UInt8] in [Array("a: b\nc: ".utf8) + [0xFF], Array("a: b\nc: ".utf8) + [0xC3, 0x28], Array("a: b\nc: ".utf8) + [0xED, 0xA0, 0x80]] {
            #expect(throws: SourceError(file: "w.yaml", location: SourceLocation(line: 2, column: 4), message: "the file is not valid UTF-8")) {
                try SourceDocument.yaml(bytes, file: "w.yaml")
            }
        }
    }

    @Test("an error prints as compilers print them")
    func description() {
        #expect(yamlError("a: 1\nb: 2\na: 3\n")?.description == "w.yaml:3:1: error: duplicate key 'a' (first at line 1)")
    }
}

// MARK: - Limits

@Suite("YAML: limits")
struct YAMLLimitTests {
    /// `depth` sequences nested on one line.
    static func nested(_ depth: Int) -> String { String(repeating: "- ", count: depth) + "x\n" }

    @Test("nesting is bounded as JSONParser bounds it")
    func depth() throws {
        #expect(yamlError(Self.nested(JSONParser.maximumDepth)) == nil)
        let error = yamlError(Self.nested(JSONParser.maximumDepth + 1))
        #expect(error?.location == SourceLocation(line: 1, column: 2 * JSONParser.maximumDepth + 1))
        #expect(error?.message == "nesting deeper than 64 levels is not supported")
        var mappings = ""
        for level in 0...JSONParser.maximumDepth { mappings += String(repeating: " ", count: level) + "k:\n" }
        #expect(yamlError(mappings)?.location == SourceLocation(line: 65, column: 65))
    }

    @Test("a mapping has at most 4,096 members")
    func members() throws {
        let members = (0..<JSONParser.maximumMembers).map { "k\($0): \($0)\n" }.joined()
        #expect(try yaml(members).value.objectValue?.count == JSONParser.maximumMembers)
        let error = yamlError(members + "more: 1\n")
        #expect(error?.location == SourceLocation(line: JSONParser.maximumMembers + 1, column: 1))
        #expect(error?.message == "a mapping has more than 4096 members")
    }

    @Test("a sequence has at most 65,536 elements")
    func elements() throws {
        let elements = String(repeating: "- 0\n", count: SourceDocument.maximumElements)
        guard case .array(let array) = try yaml(elements).value else { Issue.record("not an array"); return }
        #expect(array.count == SourceDocument.maximumElements)
        let error = yamlError(elements + "- 0\n")
        #expect(error?.location == SourceLocation(line: SourceDocument.maximumElements + 1, column: 1))
        #expect(error?.message == "a sequence has more than 65536 elements")
    }

    @Test("a file has at most 1 MiB")
    func size() {
        let largest = "a: " + String(repeating: "x", count: SourceDocument.maximumBytes - 3)
        #expect(yamlError(largest) == nil)
        let error = yamlError(largest + "x")
        #expect(error?.location == .start)
        #expect(error?.message == "the file is 1048577 bytes; at most 1048576 (1 MiB) are read")
    }

    @Test("a number is at most 256 bytes")
    func numberLength() {
        #expect(yamlError("a: " + String(repeating: "1", count: 300))?.message.hasPrefix("a number is longer than 256 bytes") == true)
        #expect(yamlError("a: 0." + String(repeating: "1", count: 254)) == nil)
    }
}

// MARK: - Hostile input

@Suite("YAML: hostile input")
struct YAMLHostileTests {
    /// Bytes a mutation inserts: the ones the grammar turns on, and some that are not text.
    static let interesting: [UInt8] = Array(" \t-:#'\"\n\r[{&*!|>?%\\.0e~".utf8) + [0x00, 0x7F, 0xC3, 0xFF, 0xEF, 0xBB, 0xBF]

    @Test("2,000 mutations of the example parse or are refused, never crash, and stay inside the file")
    func mutations() {
        var random = SplitMix64(seed: 0x5EED_0012)
        let example = Array(wiringExample.utf8)
        var outcomes = (read: 0, refused: 0)
        for _ in 0..<2_000 {
            var bytes = example
            for _ in 0...random.below(4) {
                let position = random.below(bytes.count)
                switch random.below(5) {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.insert(Self.interesting[random.below(Self.interesting.count)], at: position)
                case 2: bytes.removeSubrange(position..<min(bytes.count, position + random.below(40)))
                case 3: bytes[position] = Self.interesting[random.below(Self.interesting.count)]
                default: bytes.insert(contentsOf: bytes[position..<min(bytes.count, position + random.below(80))], at: random.below(bytes.count))
                }
                if bytes.isEmpty { bytes = example }
            }
            let lines = bytes.count { $0 == UInt8(ascii: "\n") } + 1
            do {
                let document = try SourceDocument.yaml(bytes, file: "m.yaml")
                outcomes.read += 1
                #expect(document.locations.values.allSatisfy { (1...lines).contains($0.line) && $0.column >= 1 })
                #expect(document.locations[""] != nil)
            } catch {
                outcomes.refused += 1
                #expect((1...lines).contains(error.location.line) && error.location.column >= 1)
                #expect(!error.message.isEmpty)
            }
        }
        // Both outcomes happen, so the mutations reach past the first check.
        #expect(outcomes.read > 50 && outcomes.refused > 50, "\(outcomes)")
    }

    /// Documents that grow by repetition, for timing.
    enum Shape: String, CaseIterable, CustomTestStringConvertible {
        case connections, longScalars, wideMappings, deepNesting
        var testDescription: String { rawValue }

        func text(_ copies: Int) -> String {
            switch self {
            case .connections:
                let body = wiringExample.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(4).prefix(20).joined(separator: "\n")
                return "connections:\n" + String(repeating: body + "\n", count: copies)
            case .longScalars:
                return (0..<copies).map { "k\($0): '\(String(repeating: "x", count: 2_000))'\n" }.joined()
            case .wideMappings:
                return (0..<copies).map { copy in "- " + (0..<500).map { "key\(copy)_\($0): \($0)\n  " }.joined() + "\n" }.joined()
            case .deepNesting:
                let deep = (0..<60).map { String(repeating: " ", count: $0) + "level\($0):\n" }.joined() + String(repeating: " ", count: 60) + "leaf: x\n"
                return (0..<copies).map { "- d\($0):\n" + deep.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n" }.joined()
            }
        }
    }

    @Test("reading is linear: eight times the input costs less than 24 times the time (quadratic work would cost 64×)", arguments: Shape.allCases)
    func linear(shape: Shape) throws {
        let inputs = [Array(shape.text(8).utf8), Array(shape.text(64).utf8)]
        #expect(inputs[1].count <= SourceDocument.maximumBytes)
        // The fastest of seven reads of each, taken in turn, so that a busy moment slows both alike.
        let clock = ContinuousClock()
        var best = [Duration.seconds(1_000), Duration.seconds(1_000)]
        for _ in 0..<7 {
            for (index, bytes) in inputs.enumerated() {
                let start = clock.now
                _ = try SourceDocument.yaml(bytes, file: "big.yaml")
                best[index] = min(best[index], clock.now - start)
            }
        }
        #expect(best[1] < best[0] * 24 + .milliseconds(5), "\(inputs[0].count) bytes: \(best[0]), \(inputs[1].count) bytes: \(best[1])")
    }
}
