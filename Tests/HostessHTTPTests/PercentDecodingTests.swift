import HostessHTTP
import Testing

@Suite struct PercentDecodingTests {
    // MARK: Components

    @Test("valid escapes decode; '+' is a plus sign in a path segment", arguments: [
        ("plain", "plain"), ("", ""), ("a%3Ab", "a:b"), ("a%3ab", "a:b"), ("%2F", "/"), ("%25", "%"), ("%2525", "%25"),
        ("%E2%9C%93", "✓"), ("%c3%a9", "é"), ("a+b", "a+b"), ("a%2Bb", "a+b"), ("%20", " "), ("é", "é"),
    ])
    func decodesPathSegments(raw: String, decoded: String) throws {
        #expect(try PercentDecoding.decode(raw) == decoded)
        #expect(try PercentDecoding.decode(raw, as: .pathSegment) == decoded)
        #expect(try PercentDecoding.decode(Substring(raw)) == decoded)
    }

    @Test("'+' is a space in a query component, '%2B' a plus", arguments: [
        ("a+b", "a b"), ("+", " "), ("a%2Bb", "a+b"), ("gpu", "gpu"), ("30s", "30s"), ("a%20b+c", "a b c"),
    ])
    func decodesQueryComponents(raw: String, decoded: String) throws {
        #expect(try PercentDecoding.decode(raw, as: .query) == decoded)
    }

    static let malformed: [(String, String)] = [
        ("%zz", "not followed by two hex digits"),
        ("%4", "not followed by two hex digits"),
        ("%", "not followed by two hex digits"),
        ("a%", "not followed by two hex digits"),
        ("%g0", "not followed by two hex digits"),
        ("%0g", "not followed by two hex digits"),
        ("%%41", "not followed by two hex digits"),
        ("% 41", "not followed by two hex digits"),
        ("%ff", "not valid UTF-8"),
        ("%C3", "not valid UTF-8"),
        ("a%C3(", "not valid UTF-8"),
        ("%C0%AF", "not valid UTF-8"),
        ("%ED%A0%80", "not valid UTF-8"),
        ("%F4%90%80%80", "not valid UTF-8"),
    ]

    @Test("a bad escape or bytes that are not UTF-8 throw an error naming the component", arguments: malformed)
    func refusesMalformed(raw: String, reason: String) {
        for mode in [PercentDecoding.Mode.pathSegment, .query] {
            #expect {
                _ = try PercentDecoding.decode(raw, as: mode)
            } throws: { error in
                guard let error = error as? PercentDecodingError else { return false }
                return error.component == raw && error.reason.contains(reason)
                    && error.description.contains("'\(raw)'")
            }
        }
    }

    // MARK: Paths

    @Test("paths split on '/' into decoded segments", arguments: [
        ("/", []), ("", []), ("/servers", ["servers"]), ("/servers/", ["servers", ""]),
        ("/servers/a%2Fb/heartbeat", ["servers", "a/b", "heartbeat"]),
        ("/servers/a%3Ab", ["servers", "a:b"]), ("/servers/a:b", ["servers", "a:b"]),
        ("/a//b", ["a", "", "b"]), ("//", ["", ""]), ("/./..", [".", ".."]), ("/a+b", ["a+b"]),
        ("/servers/x/terminals/stdin%20in/in-use", ["servers", "x", "terminals", "stdin in", "in-use"]),
        ("relative/x", ["relative", "x"]),
    ] as [(String, [String])])
    func pathSegments(path: String, segments: [String]) throws {
        #expect(try PercentDecoding.pathSegments(path) == segments)
    }

    @Test("a path with a bad segment throws naming that segment")
    func badPathSegment() {
        #expect(throws: PercentDecodingError(component: "b%zz", reason: "'%' at byte 1 is not followed by two hex digits")) {
            try PercentDecoding.pathSegments("/a/b%zz/c")
        }
    }

    // MARK: Queries

    @Test("query items keep order and repeats; bare names have the empty value; empty items are skipped", arguments: [
        ("", []),
        ("class=0x0001&capability=gpu&capability=h264", [["class", "0x0001"], ["capability", "gpu"], ["capability", "h264"]]),
        ("fqdn=a.example&owner=o+1", [["fqdn", "a.example"], ["owner", "o 1"]]),
        ("x", [["x", ""]]), ("x=", [["x", ""]]), ("=v", [["", "v"]]),
        ("a=1&&b=2&", [["a", "1"], ["b", "2"]]), ("&", []),
        ("a==b", [["a", "=b"]]), ("n%20m=v%26w%3Dx", [["n m", "v&w=x"]]), ("a+b=c+d", [["a b", "c d"]]),
        ("wait=30s&index=5", [["wait", "30s"], ["index", "5"]]),
    ] as [(String, [[String]])])
    func queryItems(query: String, items: [[String]]) throws {
        let decoded = try PercentDecoding.queryItems(query)
        #expect(decoded.map { [$0.name, $0.value] } == items)
    }

    @Test("a query with a bad name or value throws naming it", arguments: [("a=%4", "%4"), ("%zz=1", "%zz"), ("a=1&b=%ff", "%ff")])
    func badQueryItem(query: String, component: String) {
        #expect {
            _ = try PercentDecoding.queryItems(query)
        } throws: { error in
            (error as? PercentDecodingError)?.component == component
        }
    }

    // MARK: From a request

    @Test("a parsed request decodes its own path and query; the raw target is kept for signatures")
    func fromRequest() throws {
        let request = try #require(parsedRequest("GET /servers/a%3Ab/terminals/x%2By?wait=30s&capability=gpu+x HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(request.target == "/servers/a%3Ab/terminals/x%2By?wait=30s&capability=gpu+x")
        #expect(try request.pathSegments() == ["servers", "a:b", "terminals", "x+y"])
        #expect(try request.queryItems().map { [$0.name, $0.value] } == [["wait", "30s"], ["capability", "gpu x"]])
        let bare = HTTPRequest(method: "GET", target: "/health")
        #expect(try bare.queryItems().isEmpty)
        #expect(try bare.pathSegments() == ["health"])
    }
}
