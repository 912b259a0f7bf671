import HostessModel
import HostessTestSupport
import Testing

@testable import HostessWiring

// MARK: - Helpers

/// The wiring example written as JSON.
let wiringExampleJSON = """
    {
      "version": "1.0",
      "connections": [
        {
          "source": { "server": "*.pty-server.*", "terminal": "stdout" },
          "targets": [
            { "server": "*.gpu-renderer.*:1", "terminal": "input" },
            { "server": "*.gpu-renderer.*:2", "terminal": "input" }
          ]
        },
        {
          "source": {
            "servers": ["*.gpu-renderer.*:1", "*.gpu-renderer.*:2"],
            "terminal": "output"
          },
          "target": { "server": "*.mp4-encoder.*", "terminal": "input", "mode": "merge" }
        }
      ],
      "validation": {
        "required_servers": [
          { "class": "0x0001", "count": 1 },
          { "class": "0x0002", "count": 2 },
          { "class": "0x0005", "count": 1 }
        ]
      }
    }
    """

func json(_ text: String) throws(SourceError) -> SourceDocument { try SourceDocument.json(Array(text.utf8), file: "w.json") }

/// The error `text` is refused with, or nil when it is read.
func jsonError(_ text: String) -> SourceError? {
    do {
        _ = try json(text)
        return nil
    } catch {
        return error
    }
}

// MARK: - Locations

@Suite("JSON source documents")
struct JSONSourceTests {
    @Test("the example reads to the same value as its YAML")
    func value() throws {
        #expect(try json(wiringExampleJSON).value == wiringExampleValue)
    }

    @Test("values start where they are written", arguments: [
        ("", 1, 1), ("version", 2, 14), ("connections", 3, 18), ("connections[0]", 4, 5), ("connections[0].source", 5, 17),
        ("connections[0].source.server", 5, 29), ("connections[0].source.terminal", 5, 59), ("connections[0].targets", 6, 18),
        ("connections[0].targets[1]", 8, 9), ("connections[0].targets[1].server", 8, 21), ("connections[1].source.servers", 13, 20),
        ("connections[1].source.servers[1]", 13, 43), ("connections[1].target.mode", 16, 77), ("validation", 19, 17),
        ("validation.required_servers", 20, 25), ("validation.required_servers[1]", 22, 7),
        ("validation.required_servers[1].count", 22, 37), ("validation.required_servers[2].class", 23, 18),
    ])
    func location(path: String, line: Int, column: Int) throws {
        #expect(try json(wiringExampleJSON).locations[path] == SourceLocation(line: line, column: column))
    }

    @Test("every value has a location, and nothing else does")
    func everyValue() throws {
        for text in [wiringExampleJSON, #"[1, -2.5e3, true, false, null, "x", [], {}, [[{"a": {"b": []}}]]]"#, #"{"k": {"":  {"x": "}{,:]["}}}"#] {
            let document = try json(text)
            #expect(Set(document.locations.keys) == Set(allPaths(document.value)), "\(text)")
        }
    }

    @Test("scalars, empty containers and a scalar root are located")
    func small() throws {
        let document = try json(#"{"a": [], "b": {}, "c": -1.5e2, "d": [true, null, "\"]"]}"#)
        #expect(document.locations["a"] == SourceLocation(line: 1, column: 7))
        #expect(document.locations["b"] == SourceLocation(line: 1, column: 16))
        #expect(document.locations["c"] == SourceLocation(line: 1, column: 25))
        #expect(document.locations["d[2]"] == SourceLocation(line: 1, column: 51))
        #expect(try json("\n  42 ").locations == ["": SourceLocation(line: 2, column: 3)])
    }

    @Test("keys with escapes are decoded as JSONParser decodes them")
    func escapedKeys() throws {
        let document = try json(#"{"a\u0062": {"c\"d": 1, "\ud83d\ude00": 2, "e\\": 3}}"#)
        #expect(document.value == ["ab": ["c\"d": 1, "😀": 2, "e\\": 3]])
        #expect(document.locations["ab.c\"d"] == SourceLocation(line: 1, column: 22))
        #expect(document.locations["ab.😀"] == SourceLocation(line: 1, column: 41))
        #expect(document.locations["ab.e\\"] == SourceLocation(line: 1, column: 51))
    }

    @Test("CRLF line ends count as one")
    func crlf() throws {
        let document = try json("{\r\n  \"a\": [\r\n    1\r\n  ]\r\n}\r\n")
        #expect(document.locations["a"] == SourceLocation(line: 2, column: 8))
        #expect(document.locations["a[0]"] == SourceLocation(line: 3, column: 5))
    }

    // MARK: Errors

    @Test("the parser's byte offset becomes a line and column", arguments: [
        ("{\n  \"a\": 1,\n}", 3, 1, "invalid JSON: expected a string key"),
        ("[1, 2", 1, 6, "invalid JSON: expected ',' or ']'"),
        ("{\"a\": 1,\n \"a\": 2}", 2, 2, "invalid JSON: duplicate key 'a'"),
        ("\n\n  tru", 3, 3, "invalid JSON: truncated literal"),
        ("{\r\n  \"a\": 01}", 2, 9, "invalid JSON: leading zero in number"),
        ("\"é\u{1}\"", 1, 4, "invalid JSON: control character in string"),
        ("", 1, 1, "invalid JSON: unexpected end of input"),
    ] as [(String, Int, Int, String)])
    func refused(text: String, line: Int, column: Int, message: String) {
        #expect(jsonError(text) == SourceError(file: "w.json", location: SourceLocation(line: line, column: column), message: message))
    }

    @Test("a file has at most 1 MiB")
    func size() {
        let largest = "\"" + String(repeating: "x", count: SourceDocument.maximumBytes - 2) + "\""
        #expect(jsonError(largest) == nil)
        #expect(jsonError(largest + " ")?.location == .start)
    }

    @Test("2,000 mutations of the example parse or are refused, and every value read is located")
    func mutations() {
        var random = SplitMix64(seed: 0x5EED_0013)
        let example = Array(wiringExampleJSON.utf8)
        let interesting = Array(" \n\"\\{}[],:0-eu".utf8) + [0x00, 0xC3, 0xFF]
        for _ in 0..<2_000 {
            var bytes = example
            for _ in 0...random.below(3) {
                let position = random.below(bytes.count)
                switch random.below(3) {
                case 0: bytes[position] = interesting[random.below(interesting.count)]
                case 1: bytes.insert(interesting[random.below(interesting.count)], at: position)
                default: bytes.removeSubrange(position..<min(bytes.count, position + random.below(20)))
                }
                if bytes.isEmpty { bytes = example }
            }
            do {
                let document = try SourceDocument.json(bytes, file: "m.json")
                #expect(Set(document.locations.keys) == Set(allPaths(document.value)))
            } catch {
                #expect(error.location.line >= 1 && error.location.column >= 1)
            }
        }
    }
}
