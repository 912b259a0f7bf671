import Foundation
import Glibc
import HostessModel
import HostessTestSupport
import Testing

// The HTTP interface (`hostessd --http`), driven over loopback only with curl, Python's http.client (requests
// signed in Python with hmac/hashlib), raw TCP bytes and the `hostess --http` CLI, and cross-checked with the
// socket protocol. Every daemon listens on port 0 and reports its port in `status` (`result.http`).

// MARK: - Shared checks and fixtures

/// Expects the framing every response must have: one `Content-Length` equal to the body's length (the GET's
/// length for HEAD, where no body follows), and the JSON (or metrics) `Content-Type`.
func expectFraming(
    _ reply: HTTPReply, contentType: String = "application/json", head: Bool = false, _ context: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(reply.header("Content-Type") == contentType, "Content-Type of \(context): \(reply)", sourceLocation: sourceLocation)
    let lengths = reply.headers(named: "Content-Length")
    #expect(lengths.count == 1, "one Content-Length in \(context): \(reply)", sourceLocation: sourceLocation)
    if head {
        #expect(reply.body.isEmpty, "HEAD has no body (\(context))", sourceLocation: sourceLocation)
        #expect((lengths.first.flatMap { Int($0) } ?? 0) > 0, "HEAD states the body's length (\(context))", sourceLocation: sourceLocation)
    } else {
        #expect(lengths.first == String(reply.body.count), "Content-Length matches the body in \(context): \(reply)", sourceLocation: sourceLocation)
    }
}

enum HTTPFixture {
    /// An entry with the given terminals (name, direction, multiplexing).
    static func entry(id: String, capabilities: [String], terminals: [(String, String, String)]) -> JSONValue {
        var object = JSONObject()
        for (name, direction, multiplexing) in terminals {
            object[name] = ["direction": .string(direction), "multiplexing": .string(multiplexing)]
        }
        return [
            "id": .string(id), "terminals": .object(object), "capabilities": .array(capabilities.map(JSONValue.string)),
            "metadata": ["version": "2.0.0"],
        ]
    }

    /// `text` with every byte but unreserved ones percent-encoded (so ':' becomes `%3A`).
    static func encodeAll(_ text: String, lowercase: Bool = false) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(format: lowercase ? "%02x" : "%02X", byte)
            }
        }
        return encoded
    }

    /// The `id`s of a JSON array of entries.
    static func ids(_ reply: HTTPReply) -> [String]? {
        reply.json?.elements?.compactMap { $0.objectValue?["id"]?.stringValue }
    }

    /// The guest book's revision, from the socket's `status`.
    static func revision(_ http: HTTPDaemon) throws -> UInt64 {
        let status = try http.socketClient().request("status")
        guard case .int(let revision)? = status.result?["revision"] else { throw TestFailure("status: \(status)") }
        return UInt64(revision)
    }
}

// MARK: - Endpoints

@Suite("HTTP endpoints")
struct HTTPEndpointTests {
    /// Three entries registered over the socket: `a` (0x0001, pty vt100, two free terminals), `b` (0x0002,
    /// gpu h264, one free terminal) and `c` (0x0002, gpu cuda, its only terminal in use).
    static func threeEntries(_ http: HTTPDaemon) throws -> (a: String, b: String, c: String) {
        let a = Fixture.id(servername: "pty-a", classCode: "0x0001")
        let b = Fixture.id(servername: "gpu-b", classCode: "0x0002")
        let c = Fixture.id(servername: "gpu-c", classCode: "0x0002")
        try http.socketRegister(
            HTTPFixture.entry(id: a, capabilities: ["pty", "vt100"], terminals: [("stdin", "input", "none"), ("stdout", "output", "fanout")]))
        try http.socketRegister(HTTPFixture.entry(id: b, capabilities: ["gpu", "h264"], terminals: [("frames", "output", "none")]))
        try http.socketRegister(HTTPFixture.entry(id: c, capabilities: ["gpu", "cuda"], terminals: [("jobs", "input", "none")]))
        let marked = try http.socketClient().request("markInUse", ["serverId": .string(c), "terminal": "jobs", "connectomeId": "busy"])
        guard marked.errorCode == nil else { throw TestFailure("markInUse: \(marked)") }
        return (a, b, c)
    }

    @Test("GET /servers with class, capability and availableTerminals filters, through curl, matches the socket")
    func listAndFilter() throws {
        let http = try HTTPDaemon()
        let (a, b, c) = try Self.threeEntries(http)
        let revision = try HTTPFixture.revision(http)

        let all = try Curl.request("GET", http.url + "/servers").reply
        #expect(all.status == 200)
        expectFraming(all, "GET /servers")
        #expect(all.index == revision, "X-Hostess-Index is the revision: \(all)")
        let listed = try http.socketClient().request("listAll")
        #expect(Set(all.json?.elements ?? []) == Set(listed.result?["entries"]?.elements ?? [.null]), "HTTP and socket list the same entries")

        let cases: [(String, Set<String>)] = [
            ("", [a, b, c]),
            ("?class=0x0002", [b, c]),
            ("?capability=gpu&capability=h264", [b]),
            ("?capabilities=gpu,cuda", [c]),
            ("?capability=gp%75", [b, c]),
            ("?availableTerminals=1", [a, b]),
            ("?availableTerminals=2", [a]),
            ("?class=0x0002&availableTerminals=1", [b]),
            ("?servername=gpu-c", [c]),
            ("?owner=root&class=0x0001", [a]),
            ("?fqdn=localhost&capability=gpu", [b, c]),
            ("?class=0x0003", []),
        ]
        for (query, expected) in cases {
            let reply = try Curl.request("GET", http.url + "/servers" + query).reply
            #expect(reply.status == 200, "GET /servers\(query): \(reply)")
            expectFraming(reply, "GET /servers\(query)")
            #expect(reply.index == revision, "GET /servers\(query)")
            #expect(HTTPFixture.ids(reply).map(Set.init) == expected, "GET /servers\(query): \(reply)")
        }
        for query in ["?colour=red", "?availableTerminals=many", "?class=0x0001&class=0x0002", "?class=%zz"] {
            let reply = try Curl.request("GET", http.url + "/servers" + query).reply
            #expect(reply.status == 400, "GET /servers\(query): \(reply)")
            #expect(reply.errorCode == "bad_request", "GET /servers\(query): \(reply)")
            expectFraming(reply, "GET /servers\(query)")
        }
    }

    @Test("GET and HEAD /servers/{id}: percent-encoded, raw and upper-case ids; 404 and 400 with error bodies")
    func getOne() throws {
        let http = try HTTPDaemon()
        let (a, _, _) = try Self.threeEntries(http)
        let stored = try #require(try http.socketEntry(a))
        let uuidStart = a.index(a.endIndex, offsetBy: -36)
        let upper = String(a[..<uuidStart]) + a[uuidStart...].uppercased()
        for spelling in [HTTPFixture.encodeAll(a), HTTPFixture.encodeAll(a, lowercase: true), a, HTTPFixture.encodeAll(upper)] {
            let reply = try Curl.request("GET", http.url + "/servers/" + spelling).reply
            #expect(reply.status == 200, "GET /servers/\(spelling): \(reply)")
            expectFraming(reply, "GET /servers/\(spelling)")
            #expect(reply.json == .object(stored), "the same entry as the socket's getServer: \(reply)")
            #expect(reply.index != nil)
        }

        let absent = Fixture.id()
        let missing = try Curl.request("GET", http.url + "/servers/" + HTTPFixture.encodeAll(absent)).reply
        #expect(missing.status == 404, "\(missing)")
        #expect(missing.errorCode == "not_found", "\(missing)")
        #expect(missing.errorMessage?.isEmpty == false)
        expectFraming(missing, "404")
        let invalid = try Curl.request("GET", http.url + "/servers/not-a-server-name").reply
        #expect(invalid.status == 400, "\(invalid)")
        #expect(invalid.errorCode == "invalid_name", "\(invalid)")
        expectFraming(invalid, "400")

        // HEAD: the GET's status and headers, Content-Length included, and no body.
        for target in ["/servers", "/servers/" + HTTPFixture.encodeAll(a), "/servers/" + HTTPFixture.encodeAll(absent), "/servers?class=0x0002"] {
            let get = try Curl.request("GET", http.url + target).reply
            let head = try Curl.request("HEAD", http.url + target).reply
            #expect(head.status == get.status, "HEAD \(target): \(head)")
            expectFraming(head, head: true, "HEAD \(target)")
            for name in ["Content-Type", "Content-Length", "X-Hostess-Index"] {
                #expect(head.header(name) == get.header(name), "HEAD \(target): \(name)")
            }
        }
        // And on the raw wire no body bytes follow a HEAD's head: the next response starts right after it.
        let raw = try http.tcp()
        try raw.send("HEAD /servers HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try #require(raw.readResponse(head: true))
        #expect(head.status == 200)
        let next = try #require(raw.readResponse())
        #expect(next.status == 200, "the response after a HEAD parses: \(next)")
        #expect(next.json?.objectValue?["status"] == "ok")
    }

    @Test("POST /query and POST /capabilities through curl")
    func queryAndCapabilities() throws {
        let http = try HTTPDaemon()
        let (a, b, c) = try Self.threeEntries(http)
        let json = "Content-Type: application/json"
        let queries: [(String?, Set<String>)] = [
            (#"{"class":"0x0002","capabilities":["gpu"],"availableTerminals":1}"#, [b]),
            (#"{"capabilities":["gpu"]}"#, [b, c]),
            (#"{"owner":"root","servername":"pty-a"}"#, [a]),
            ("{}", [a, b, c]),
            (nil, [a, b, c]),
        ]
        for (body, expected) in queries {
            let reply = try Curl.request("POST", http.url + "/query", headers: body == nil ? [] : [json], body: body).reply
            #expect(reply.status == 200, "POST /query \(body ?? "(no body)"): \(reply)")
            expectFraming(reply, "POST /query")
            #expect(reply.index != nil)
            #expect(HTTPFixture.ids(reply).map(Set.init) == expected, "POST /query \(body ?? "(no body)"): \(reply)")
        }
        let charset = try Curl.request("POST", http.url + "/query", headers: ["Content-Type: application/json; charset=utf-8"], body: "{}").reply
        #expect(charset.status == 200, "parameters on the media type are allowed: \(charset)")

        let summary = try Curl.request("POST", http.url + "/capabilities", headers: [json], body: "{}").reply
        #expect(summary.status == 200, "\(summary)")
        expectFraming(summary, "POST /capabilities")
        let expected: JSONValue = [
            ["class": "0x0001", "totalCount": 1, "availableCount": 1, "capabilities": ["pty", "vt100"]],
            ["class": "0x0002", "totalCount": 2, "availableCount": 1, "capabilities": ["cuda", "gpu", "h264"]],
        ]
        #expect(Self.normalized(summary.json) == Self.normalized(expected), "\(summary)")
        let noBody = try Curl.request("POST", http.url + "/capabilities").reply
        #expect(Self.normalized(noBody.json) == Self.normalized(expected), "an empty body is {}: \(noBody)")
        let filtered = try Curl.request("POST", http.url + "/capabilities", headers: [json], body: #"{"capabilities":["cuda"]}"#).reply
        let cuda: JSONValue = [["class": "0x0002", "totalCount": 1, "availableCount": 0, "capabilities": ["cuda", "gpu"]]]
        #expect(Self.normalized(filtered.json) == Self.normalized(cuda), "\(filtered)")
        let byClass = try Curl.request("POST", http.url + "/capabilities", headers: [json], body: #"{"class":"0x0001"}"#).reply
        #expect(byClass.json?.elements?.count == 1, "\(byClass)")
    }

    /// Objects with their keys sorted, so that comparisons ignore member order.
    static func normalized(_ value: JSONValue?) -> JSONValue? {
        guard let value else { return nil }
        switch value {
        case .object(let object):
            var sorted = JSONObject()
            for key in object.keys.sorted() { sorted[key] = normalized(object[key]) }
            return .object(sorted)
        case .array(let items): return .array(items.compactMap(normalized))
        default: return value
        }
    }

    @Test("GET and HEAD /health report the daemon's instance, revision, entries, uptime and version")
    func health() throws {
        let http = try HTTPDaemon()
        try http.socketRegister(Fixture.entry(id: Fixture.id()))
        let status = try #require(try http.socketClient().request("status").result)
        #expect(http.daemon.log.contains("serving HTTP on \(http.address)"), "the log names the bound address:\n\(http.daemon.log)")
        let (reply, _) = try Curl.request("GET", http.url + "/health")
        #expect(reply.status == 200)
        expectFraming(reply, "GET /health")
        let body = try #require(reply.json?.objectValue, "\(reply)")
        #expect(body["status"] == "ok")
        #expect(body["instanceId"] == status["instanceId"], "\(body) vs status \(status)")
        #expect(body["instanceId"]?.stringValue.flatMap { UUID(uuidString: $0) } != nil)
        #expect(body["version"] == status["version"])
        #expect(body["revision"] == status["revision"])
        #expect(body["entries"] == 1)
        #expect((body["uptime"]?.number ?? -1) >= 0, "\(body)")
        let head = try Curl.request("HEAD", http.url + "/health").reply
        #expect(head.status == 200)
        expectFraming(head, head: true, "HEAD /health")
    }

    @Test("writes through Python's http.client on one kept-alive connection change the guest book, as the socket sees")
    func writesThroughPython() throws {
        let http = try HTTPDaemon()
        let id = Fixture.id(servername: "py-writer", owner: "alice")
        let path = "/servers/" + HTTPFixture.encodeAll(id)
        let key = PythonHTTP.Signing(key: TestKeys.alice)
        let entry = HTTPFixture.entry(id: id, capabilities: ["pty"], terminals: [("stdin", "input", "none"), ("stdout", "output", "fanout")])
        let updated = HTTPFixture.entry(id: id, capabilities: ["pty", "ansi"], terminals: [("stdin", "input", "none"), ("stdout", "output", "fanout")])
        typealias R = PythonHTTP.Request
        let first = try PythonHTTP.run(http, [
            .json("POST", "/register", entry, sign: key),  // 0: created
            .json("POST", "/register", updated, sign: key),  // 1: updated
            .json("POST", path + "/heartbeat", nil, sign: key),  // 2
            .json("POST", path + "/terminals/stdin/in-use", ["connectomeId": "c1"], sign: key),  // 3
            .json("POST", path + "/terminals/stdin/in-use", ["connectomeId": "c2"], sign: key),  // 4: conflict
        ])
        for (number, result) in first.enumerated() {
            let reply = try #require(result.reply, "request \(number): \(result)")
            expectFraming(reply, "request \(number)")
            #expect(reply.index != nil, "request \(number) carries X-Hostess-Index: \(reply)")
        }
        #expect(Set(first.compactMap(\.localPort)).count == 1, "all five went over one kept-alive connection: \(first.map(\.localPort))")

        let created = try #require(first[0].reply)
        #expect(created.status == 201, "\(created)")
        let createdBody = try #require(created.json?.objectValue)
        #expect(createdBody["created"] == true)
        #expect(createdBody["entry"]?.objectValue?["id"] == .string(id))
        #expect((createdBody["ttl"]?.number ?? 0) > 0 && (createdBody["heartbeatInterval"]?.number ?? 0) > 0, "\(createdBody)")
        let again = try #require(first[1].reply)
        #expect(again.status == 200, "an update answers 200: \(again)")
        #expect(again.json?.objectValue?["created"] == false)
        #expect((again.index ?? 0) > (created.index ?? .max), "the update moved the revision")

        let heartbeat = try #require(first[2].reply)
        #expect(heartbeat.status == 200, "\(heartbeat)")
        #expect(heartbeat.json?.objectValue?["serverId"] == .string(id))
        let inUse = try #require(first[3].reply)
        #expect(inUse.status == 200, "\(inUse)")
        #expect(inUse.json?.objectValue?["entry"]?.objectValue?["terminals"]?.objectValue?["stdin"]?.objectValue?["connectedTo"] == ["c1"])
        let conflict = try #require(first[4].reply)
        #expect(conflict.status == 409, "a second connectome on a `none` terminal: \(conflict)")
        #expect(conflict.errorCode == "conflict", "\(conflict)")

        // The socket sees what HTTP wrote.
        let seen = try #require(try http.socketEntry(id), "the HTTP registration is in the guest book")
        #expect(seen["capabilities"] == ["pty", "ansi"])
        #expect(seen["lastHeartbeat"] == heartbeat.json?.objectValue?["lastHeartbeat"], "\(seen)")
        #expect(seen["terminals"]?.objectValue?["stdin"]?.objectValue?["connectedTo"] == ["c1"], "\(seen)")

        let second = try PythonHTTP.run(http, [
            .json("POST", path + "/terminals/stdin/available", ["connectomeId": "c1"], sign: key),  // 0
            .json("POST", path + "/terminals/stdout/in-use", ["connectomeId": "c3"], sign: key),  // 1
            .json("POST", path + "/terminals/stdout/available", nil, sign: key),  // 2: no body
            R(method: "DELETE", target: path, sign: key),  // 3
            R(method: "DELETE", target: path, sign: key),  // 4: gone
            R(method: "GET", target: path),  // 5
            .json("POST", path + "/heartbeat", nil, sign: key),  // 6: gone
        ])
        let statuses = second.map { $0.reply?.status ?? -1 }
        #expect(statuses == [200, 200, 200, 200, 404, 404, 404], "\(second)")
        for result in second { if let reply = result.reply { expectFraming(reply, "\(reply.status)") } }
        #expect(
            second[0].reply?.json?.objectValue?["entry"]?.objectValue?["terminals"]?.objectValue?["stdin"]?.objectValue?["inUse"] == false,
            "\(second[0])")
        let removed = second[3].reply?.json?.objectValue?["entry"]?.objectValue
        #expect(removed?["id"] == .string(id), "DELETE answers the removed entry: \(second[3])")
        #expect(second[4].reply?.errorCode == "not_found")
        #expect(try http.socketEntry(id) == nil, "the socket no longer finds the entry")

        // Each answer was counted under its endpoint's label.
        let metrics = try HTTPEndpointTests.parseExposition(try Curl.request("GET", http.url + "/metrics").reply.text)
        for (endpoint, status, count) in [
            ("register", 201, 1.0), ("register", 200, 1), ("heartbeat", 200, 1), ("heartbeat", 404, 1), ("in_use", 200, 2), ("in_use", 409, 1),
            ("available", 200, 2), ("unregister", 200, 1), ("unregister", 404, 1), ("server", 404, 1),
        ] {
            let series = "hostess_http_requests_total{endpoint=\"\(endpoint)\",status=\"\(status)\"}"
            #expect(metrics[series] == count, "\(series): \(metrics[series] ?? 0)")
        }
    }

    @Test("HTTP heartbeats keep an HTTP registration alive; without them it is evicted")
    func heartbeatsKeepAlive() throws {
        let http = try HTTPDaemon(["--ttl", "1", "--heartbeat-interval", "0.3"])
        let id = Fixture.id(servername: "short-lived", owner: "alice")
        let key = PythonHTTP.Signing(key: TestKeys.alice)
        var requests: [PythonHTTP.Request] = [.json("POST", "/register", Fixture.entry(id: id), sign: key)]
        for _ in 0..<4 {  // 4 × 0.4 s: longer than the TTL
            var beat = PythonHTTP.Request.json("POST", "/servers/\(HTTPFixture.encodeAll(id))/heartbeat", nil, sign: key)
            beat.delay = 0.4
            requests.append(beat)
        }
        let results = try PythonHTTP.run(http, requests)
        #expect(results.map { $0.reply?.status ?? -1 } == [201, 200, 200, 200, 200], "\(results)")
        #expect(try http.socketEntry(id) != nil, "alive after 1.6 s with a TTL of 1 s")
        // A blocking read wakes when the eviction changes the guest book.
        let index = try HTTPFixture.revision(http)
        let waiter = try http.tcp()
        let started = Date()
        try waiter.send("GET /servers?index=\(index)&wait=10s HTTP/1.1\r\nHost: t\r\n\r\n")
        let woken = try #require(waiter.readResponse(timeout: 4), "no answer within 4 s: the eviction did not wake the blocking read")
        #expect(woken.status == 200 && woken.text == "[]" && (woken.index ?? 0) > index, "\(woken)")
        #expect(Date().timeIntervalSince(started) < 2.5)
        #expect(try http.socketEntry(id) == nil, "evicted once the heartbeats stop")
        let metrics = try Curl.request("GET", http.url + "/metrics").reply
        #expect(try HTTPEndpointTests.parseExposition(metrics.text)["hostess_evictions_total"] == 1)
    }

    @Test("guest-book refusals map to their statuses: capacity 507, too_large 413")
    func guestBookErrorStatuses() throws {
        let http = try HTTPDaemon(["--capacity", "1"])
        let key = PythonHTTP.Signing(key: TestKeys.alice)
        var huge = Fixture.entry(id: Fixture.id(servername: "huge", owner: "alice")).objectValue ?? [:]
        huge["metadata"] = ["blob": .string(String(repeating: "x", count: 3000))]
        let results = try PythonHTTP.run(http, [
            .json("POST", "/register", Fixture.entry(id: Fixture.id(servername: "first", owner: "alice")), sign: key),
            .json("POST", "/register", Fixture.entry(id: Fixture.id(servername: "second", owner: "alice")), sign: key),
            .json("POST", "/register", .object(huge), sign: key),
        ])
        #expect(results.map { $0.reply?.status ?? -1 } == [201, 507, 413], "\(results)")
        #expect(results[1].reply?.errorCode == "capacity")
        #expect(results[2].reply?.errorCode == "too_large")
        #expect(results[2].reply?.json?.objectValue?["error"]?.objectValue?["field"] == "metadata", "\(results[2])")
        for result in results { if let reply = result.reply { expectFraming(reply, "\(reply.status)") } }
        #expect(try http.socketClient().request("listAll").result?["entries"]?.elements?.count == 1)
    }

    @Test("an invalid registration is refused with the field named relative to the body")
    func invalidRegistration() throws {
        let http = try HTTPDaemon()
        let key = PythonHTTP.Signing(key: TestKeys.alice)
        let results = try PythonHTTP.run(http, [
            .json("POST", "/register", ["id": "not a name", "terminals": [:], "capabilities": []], sign: key),
            .json("POST", "/register", nil, sign: key),
            .json("POST", "/register", [1, 2], sign: key),
        ])
        let badName = try #require(results[0].reply)
        #expect(badName.status == 400, "\(badName)")
        #expect(badName.errorCode == "invalid_name", "\(badName)")
        #expect(badName.json?.objectValue?["error"]?.objectValue?["field"] == "id", "\(badName)")
        #expect(results[1].reply?.status == 400, "register needs a body: \(results[1])")
        #expect(results[2].reply?.status == 400, "register needs an object: \(results[2])")
        #expect(try http.socketClient().request("listAll").result?["entries"] == .array([]))
    }

    @Test("signed writes through curl (the signature computed by Python) register and unregister")
    func writesThroughCurl() throws {
        let http = try HTTPDaemon()
        let id = Fixture.id(servername: "curl-writer", owner: "bob")
        let body = HTTPFixture.entry(id: id, capabilities: ["gpu"], terminals: [("in", "input", "none")]).jsonText
        let signRegister = try PythonHTTP.authorization("POST", "/register", body: body, PythonHTTP.Signing(key: TestKeys.ops))
        let (created, _) = try Curl.request(
            "POST", http.url + "/register", headers: ["Content-Type: application/json", "Authorization: \(signRegister)"], body: body)
        #expect(created.status == 201, "\(created)")
        expectFraming(created, "curl POST /register")
        #expect(try http.socketEntry(id)?["capabilities"] == ["gpu"])

        let path = "/servers/" + HTTPFixture.encodeAll(id)
        let signDelete = try PythonHTTP.authorization("DELETE", path, body: nil, PythonHTTP.Signing(key: TestKeys.ops))
        let (removed, _) = try Curl.request("DELETE", http.url + path, headers: ["Authorization: \(signDelete)"])
        #expect(removed.status == 200, "\(removed)")
        expectFraming(removed, "curl DELETE")
        #expect(try http.socketEntry(id) == nil)
    }

    @Test("GET /metrics is Prometheus text with entries, per-endpoint counters, a histogram, publications and connections")
    func metrics() throws {
        let http = try HTTPDaemon()
        let key = PythonHTTP.Signing(key: TestKeys.alice)
        let id = Fixture.id(owner: "alice")
        let results = try PythonHTTP.run(http, [
            .json("POST", "/register", Fixture.entry(id: id), sign: key),
            PythonHTTP.Request(method: "GET", target: "/health"),
            PythonHTTP.Request(method: "GET", target: "/health"),
            PythonHTTP.Request(method: "GET", target: "/health"),
            PythonHTTP.Request(method: "GET", target: "/nowhere"),
            PythonHTTP.Request(method: "GET", target: "/servers"),
            .json("POST", "/register", Fixture.entry(id: id)),
        ])
        #expect(results.map { $0.reply?.status ?? -1 } == [201, 200, 200, 200, 404, 200, 401], "\(results)")

        let (reply, _) = try Curl.request("GET", http.url + "/metrics")
        #expect(reply.status == 200)
        expectFraming(reply, contentType: "text/plain; version=0.0.4; charset=utf-8", "GET /metrics")
        let samples = try Self.parseExposition(reply.text)
        #expect(samples["hostess_entries"] == 1, "\(reply.text)")
        #expect(samples["hostess_registrations_total"] == 1)
        #expect((samples["hostess_revision"] ?? 0) >= 1)
        #expect((samples["hostess_shm_publications_total"] ?? 0) >= 1, "the registration was published")
        #expect((samples[#"hostess_connections{interface="http"}"#] ?? 0) >= 1, "curl's own connection: \(reply.text)")
        #expect(samples[#"hostess_connections{interface="unix"}"#] != nil)
        #expect(samples["hostess_uptime_seconds"] != nil)
        #expect(samples[#"hostess_http_requests_total{endpoint="health",status="200"}"#] == 3, "\(reply.text)")
        #expect(samples[#"hostess_http_requests_total{endpoint="register",status="201"}"#] == 1)
        #expect(samples[#"hostess_http_requests_total{endpoint="register",status="401"}"#] == 1)
        #expect(samples[#"hostess_http_requests_total{endpoint="other",status="404"}"#] == 1)
        #expect(samples[#"hostess_http_requests_total{endpoint="servers",status="200"}"#] == 1)
        #expect(reply.text.contains("# TYPE hostess_http_request_duration_seconds histogram\n"))
        #expect(samples[#"hostess_http_request_duration_seconds_bucket{endpoint="health",le="+Inf"}"#] == 3)
        #expect(samples[#"hostess_http_request_duration_seconds_count{endpoint="health"}"#] == 3)
        #expect(samples[#"hostess_http_request_duration_seconds_sum{endpoint="health"}"#] != nil)
        // Buckets are cumulative.
        let buckets = reply.text.split(separator: "\n").filter { $0.hasPrefix(#"hostess_http_request_duration_seconds_bucket{endpoint="health""#) }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        #expect(buckets.count >= 2 && zip(buckets, buckets.dropFirst()).allSatisfy { $0 <= $1 }, "\(buckets)")

        let head = try Curl.request("HEAD", http.url + "/metrics").reply
        #expect(head.status == 200)
        expectFraming(head, contentType: "text/plain; version=0.0.4; charset=utf-8", head: true, "HEAD /metrics")
    }

    /// The samples of a Prometheus text exposition by `name{labels}`; throws on a malformed line.
    static func parseExposition(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        var typed: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                    throw TestFailure("bad TYPE line: \(line)")
                }
                typed.insert(String(parts[2]))
                continue
            }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw TestFailure("bad sample line: \(line)")
            }
            let series = String(line[..<space])
            let name = series.prefix { $0 != "{" }
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
                throw TestFailure("bad metric name: \(line)")
            }
            let family = ["_bucket", "_sum", "_count"].reduce(String(name)) { name, suffix in
                typed.contains(name) || !name.hasSuffix(suffix) ? name : String(name.dropLast(suffix.count))
            }
            guard typed.contains(family) else { throw TestFailure("sample before its # TYPE: \(line)") }
            samples[series] = value
        }
        return samples
    }
}

// MARK: - Malformed requests

/// One malformed or refused request on a raw TCP connection.
struct BadRequestCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var status: Int
    var code: String
    /// Whether the contract says the connection closes after it (400-class framing errors, 411, 413, 414, 431).
    var closes: Bool
    var allow: String? = nil

    var testDescription: String { name }

    /// A well-framed POST with the body's real length.
    static func post(_ target: String, _ contentType: String?, _ body: String) -> String {
        "POST \(target) HTTP/1.1\r\nHost: t\r\n" + (contentType.map { "Content-Type: \($0)\r\n" } ?? "")
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
    }

    init(_ name: String, _ text: String, _ status: Int, _ code: String, closes: Bool, allow: String? = nil) {
        self.name = name
        bytes = Array(text.utf8)
        self.status = status
        self.code = code
        self.closes = closes
        self.allow = allow
    }

    static let all: [BadRequestCase] = [
        // Framing: answered, then the connection closes.
        BadRequestCase("request line without a version", "GET /health\r\nHost: t\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("request line with two spaces", "GET  /health HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("TLS bytes", "\u{16}\u{03}\u{01}\u{02}\u{00} hello\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("absolute-form target", "GET http://t/health HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("header without a colon", "GET /health HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("space before the colon", "GET /health HTTP/1.1\r\nHost : t\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("obs-fold", "GET /health HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("bare LF line ends", "GET /health HTTP/1.1\nHost: t\n\n", 400, "bad_request", closes: true),
        BadRequestCase("no Host in HTTP/1.1", "GET /health HTTP/1.1\r\nAccept: */*\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("two Hosts", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase(
            "duplicate Content-Length",
            "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400,
            "bad_request", closes: true),
        BadRequestCase(
            "differing Content-Length",
            "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{} ", 400,
            "bad_request", closes: true),
        BadRequestCase(
            "Content-Length with Transfer-Encoding",
            "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
            400, "bad_request", closes: true),
        BadRequestCase(
            "Transfer-Encoding: chunked alone",
            "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411,
            "length_required", closes: true),
        BadRequestCase(
            "Transfer-Encoding: gzip", "POST /query HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 411, "length_required",
            closes: true),
        BadRequestCase("negative Content-Length", "POST /query HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase("non-digit Content-Length", "POST /query HTTP/1.1\r\nHost: t\r\nContent-Length: 2a\r\n\r\n", 400, "bad_request", closes: true),
        BadRequestCase(
            "overflowing Content-Length", "POST /query HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 400,
            "bad_request", closes: true),
        BadRequestCase(
            "huge Content-Length", "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n",
            413, "too_large", closes: true),
        BadRequestCase(
            "body of 1 MiB + 1", "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1048577\r\n\r\n{",
            413, "too_large", closes: true),
        BadRequestCase(
            "request line over 8 KiB", "GET /servers?fqdn=" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: t\r\n\r\n", 414,
            "uri_too_long", closes: true),
        BadRequestCase(
            "request line over 8 KiB without its end", "GET /" + String(repeating: "a", count: 8300), 414, "uri_too_long", closes: true),
        BadRequestCase(
            "header block over 16 KiB", "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + String(repeating: "b", count: 17000) + "\r\n\r\n", 431,
            "header_too_large", closes: true),
        BadRequestCase(
            "101 header fields",
            "GET /health HTTP/1.1\r\nHost: t\r\n" + (1...100).map { "X-H\($0): v\r\n" }.joined() + "\r\n", 431, "header_too_large",
            closes: true),
        // Well framed but refused: answered; the connection may stay open.
        BadRequestCase(
            "invalid JSON body", post("/query", "application/json", "{nope"), 400,
            "parse_error", closes: false),
        BadRequestCase(
            "JSON body that is not an object", post("/query", "application/json", "[1]"),
            400, "bad_request", closes: false),
        BadRequestCase(
            "unknown filter key", post("/query", "application/json", #"{"colour":1}"#),
            400, "bad_request", closes: false),
        BadRequestCase(
            "wrong Content-Type", post("/query", "text/plain", "{}"), 415,
            "unsupported_media_type", closes: false),
        BadRequestCase(
            "form Content-Type", post("/capabilities", "application/x-www-form-urlencoded", "{}"),
            415, "unsupported_media_type", closes: false),
        BadRequestCase(
            "body without Content-Type", post("/query", nil, "{}"), 415, "unsupported_media_type",
            closes: false),
        BadRequestCase("bad percent-encoding in the path", "GET /servers/abc%zz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request", closes: false),
        BadRequestCase("truncated percent-encoding in the path", "GET /servers/abc%4 HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request", closes: false),
        BadRequestCase("percent-encoded invalid UTF-8 in the path", "GET /servers/%ff%fe HTTP/1.1\r\nHost: t\r\n\r\n", 400, "bad_request", closes: false),
        BadRequestCase("unknown path", "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", 404, "not_found", closes: false),
        BadRequestCase("unknown nested path", "GET /servers/x/y HTTP/1.1\r\nHost: t\r\n\r\n", 404, "not_found", closes: false),
        BadRequestCase("DELETE /health", "DELETE /health HTTP/1.1\r\nHost: t\r\n\r\n", 405, "method_not_allowed", closes: false, allow: "GET, HEAD"),
        BadRequestCase("PUT /servers", "PUT /servers HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "method_not_allowed", closes: false, allow: "GET, HEAD"),
        BadRequestCase("GET /register", "GET /register HTTP/1.1\r\nHost: t\r\n\r\n", 405, "method_not_allowed", closes: false, allow: "POST"),
        BadRequestCase("GET /query", "GET /query HTTP/1.1\r\nHost: t\r\n\r\n", 405, "method_not_allowed", closes: false, allow: "POST"),
        BadRequestCase(
            "POST /servers/{id}", "POST /servers/x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", 405, "method_not_allowed", closes: false,
            allow: "GET, HEAD, DELETE"),
        BadRequestCase(
            "GET heartbeat", "GET /servers/x/heartbeat HTTP/1.1\r\nHost: t\r\n\r\n", 405, "method_not_allowed", closes: false, allow: "POST"),
    ]
}

@Suite("HTTP malformed requests")
struct HTTPMalformedRequestTests {
    @Test("each malformed request gets its status and error body; the daemon serves others afterwards", arguments: BadRequestCase.all)
    func malformed(_ bad: BadRequestCase) throws {
        let http = try HTTPDaemon()
        let client = try http.tcp()
        try client.send(bytes: bad.bytes)
        let reply = try #require(client.readResponse(timeout: 5), "no response to \(bad.name)")
        #expect(reply.status == bad.status, "\(bad.name): \(reply)")
        #expect(reply.errorCode == bad.code, "\(bad.name): \(reply)")
        #expect(reply.errorMessage?.isEmpty == false, "\(bad.name): a message says what is wrong")
        expectFraming(reply, bad.name)
        if let allow = bad.allow { #expect(reply.header("Allow") == allow, "\(bad.name): \(reply)") }
        if bad.closes {
            #expect(reply.header("Connection")?.lowercased() == "close", "\(bad.name): \(reply)")
            #expect(client.isClosedByPeer(within: 2), "\(bad.name): the daemon closes the connection")
        } else if reply.header("Connection")?.lowercased() == "close" {
            #expect(client.isClosedByPeer(within: 2), "\(bad.name): Connection: close, so the daemon closes")
        } else {
            // Kept alive: the next request on the same connection is served.
            try client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(client.readResponse()?.status == 200, "\(bad.name): the kept-alive connection serves the next request")
        }
        #expect(http.isHealthy(), "\(bad.name): hostessd still serves new connections")
        #expect(http.daemon.process.isRunning)
    }

    @Test("limits are exact: an 8 KiB request line, 100 header fields and a 1 MiB body are accepted")
    func limitsAreExact() throws {
        let http = try HTTPDaemon()
        // A request line of exactly 8192 bytes (CRLF excluded) is parsed: an unknown query parameter, not 414.
        let prefix = "GET /servers?x="
        let suffix = " HTTP/1.1"
        let line = prefix + String(repeating: "a", count: 8192 - prefix.count - suffix.count) + suffix
        #expect(line.utf8.count == 8192)
        let lineClient = try http.tcp()
        try lineClient.send(line + "\r\nHost: t\r\n\r\n")
        #expect(lineClient.readResponse()?.status == 400, "8192 bytes are within the limit")
        let longer = try http.tcp()
        try longer.send(prefix + String(repeating: "a", count: 8193 - prefix.count - suffix.count) + suffix + "\r\nHost: t\r\n\r\n")
        #expect(longer.readResponse()?.status == 414, "8193 bytes are over it")

        let fields = try http.tcp()
        try fields.send("GET /health HTTP/1.1\r\nHost: t\r\n" + (1...99).map { "X-H\($0): v\r\n" }.joined() + "\r\n")
        #expect(fields.readResponse()?.status == 200, "100 header fields are allowed")

        // A body of exactly 1 MiB is read (and refused for what it says, not for its size).
        let padding = 1 << 20 - #"{"fqdn":""}"#.utf8.count
        let body = #"{"fqdn":""# + String(repeating: "a", count: padding) + #""}"#
        #expect(body.utf8.count == 1 << 20)
        let big = try http.tcp()
        try big.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let reply = try #require(big.readResponse(timeout: 10))
        #expect(reply.status != 413 && reply.status < 500, "a 1 MiB body is within the limit: \(reply.status) \(reply.errorMessage ?? "")")
    }

    @Test("random mutations of valid requests never get a 500 and never stop the daemon")
    func mutationsNeverCause500() throws {
        let http = try HTTPDaemon()
        let id = Fixture.id()
        try http.socketRegister(Fixture.entry(id: id))
        let seeds: [String] = [
            "GET /servers?class=0x0001&capability=pty&availableTerminals=1 HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /servers/\(HTTPFixture.encodeAll(id)) HTTP/1.1\r\nHost: t\r\n\r\n",
            "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 47\r\n\r\n{\"class\":\"0x0001\",\"capabilities\":[\"pty\",\"x\"]}  ",
            "POST /capabilities HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            "POST /register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAuthorization: Hostess-HMAC-SHA256 keyId=alice-key, ts=1, nonce=00112233445566778899, sig=\(String(repeating: "ab", count: 32))\r\nContent-Length: 2\r\n\r\n{}",
            "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.0\r\n\r\n",
            "GET /servers?index=0&wait=0s HTTP/1.1\r\nHost: t\r\n\r\n",
        ]
        let seed: UInt64 = 0x4854_5450_4655_5A5A
        var generator = SplitMix64(seed: seed)
        let alphabet = Array("\r\n :%/?&=\"{}[]0123456789abcdefGHIJ\u{0}\u{7f}\t,;-+".utf8) + [0xC3, 0xFF]
        for round in 0..<150 {
            var bytes = Array(seeds[generator.below(seeds.count)].utf8)
            for _ in 0..<(1 + generator.below(4)) {
                guard !bytes.isEmpty else { break }
                let at = generator.below(bytes.count)
                switch generator.below(5) {
                case 0: bytes[at] = alphabet[generator.below(alphabet.count)]
                case 1: bytes.insert(alphabet[generator.below(alphabet.count)], at: at)
                case 2: bytes.removeSubrange(at..<min(bytes.count, at + 1 + generator.below(8)))
                case 3: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 1 + generator.below(16))], at: at)
                default: bytes = Array(bytes[..<at])
                }
            }
            let client = try http.tcp()
            try? client.send(bytes: bytes)
            client.finishSending()
            var replies: [HTTPReply] = []
            let deadline = Date().addingTimeInterval(3)
            while replies.count < 8, Date() < deadline, let reply = client.readResponse(timeout: deadline.timeIntervalSinceNow) {
                replies.append(reply)
            }
            let context = "seed \(seed) round \(round): \(String(decoding: bytes, as: UTF8.self).debugDescription)"
            #expect(client.isClosedByPeer(within: 3), "the daemon ends the connection after the input ends (\(context))")
            for reply in replies {
                #expect(reply.status != 500 && reply.status > 0, "\(context): \(reply)")
                expectFraming(reply, contentType: reply.header("Content-Type") ?? "", context)
            }
            guard http.daemon.process.isRunning else {
                Issue.record("hostessd died at \(context):\n\(http.daemon.log)")
                return
            }
        }
        #expect(http.isHealthy())
    }
}

// MARK: - Connections

@Suite("HTTP connections and timeouts")
struct HTTPConnectionTests {
    @Test("a half-sent request gets 408 after the request timeout, and other clients are served meanwhile")
    func stalledClientTimesOut() throws {
        let http = try HTTPDaemon(["--http-request-timeout", "1"])
        let slow = try http.tcp()
        let started = Date()
        try slow.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Le")
        // A stalled client delays nobody: raw, Python and curl clients are answered at once (timed from
        // the request, not from the client's start-up).
        let rawStart = Date()
        #expect(http.isHealthy())
        let rawTook = Date().timeIntervalSince(rawStart)
        #expect(rawTook < 0.5, "a raw GET /health took \(rawTook) s while a client stalls")
        if Date().timeIntervalSince(started) < 0.8 {
            #expect(!slow.receivesSomething(within: 0.01), "nothing for the slow client before its timeout")
        }
        let python = try PythonHTTP.run(http, [PythonHTTP.Request(method: "GET", target: "/servers")])
        #expect(python[0].reply?.status == 200)
        #expect(python[0].elapsed < 0.5, "http.client's GET took \(python[0].elapsed) s while a client stalls")
        let (reply, _) = try Curl.request("GET", http.url + "/health")
        #expect(reply.status == 200)

        let timeout = try #require(slow.readResponse(timeout: 5), "no 408 within 5 s")
        let took = Date().timeIntervalSince(started)
        #expect(timeout.status == 408, "\(timeout)")
        #expect(timeout.errorCode == "timeout", "\(timeout)")
        #expect(timeout.header("Connection")?.lowercased() == "close")
        expectFraming(timeout, "408")
        #expect(took >= 0.9 && took < 2.5, "408 after \(took) s with --http-request-timeout 1")
        #expect(slow.isClosedByPeer(within: 2))
        #expect(http.isHealthy())
    }

    @Test("a request whose body stalls gets 408")
    func stalledBodyTimesOut() throws {
        let http = try HTTPDaemon(["--http-request-timeout", "1"])
        let slow = try http.tcp()
        let started = Date()
        try slow.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"class\":")
        let reply = try #require(slow.readResponse(timeout: 5))
        let took = Date().timeIntervalSince(started)
        #expect(reply.status == 408, "\(reply)")
        #expect(took >= 0.9 && took < 2.5, "408 after \(took) s")
        #expect(slow.isClosedByPeer(within: 2))
    }

    @Test("a client trickling one byte at a time still gets 408 at the request timeout")
    func tricklingClientTimesOut() throws {
        let http = try HTTPDaemon(["--http-request-timeout", "1"])
        let slow = try http.tcp()
        let started = Date()
        try slow.send("GET /health HTTP/1.1\r\nHost: t\r\n")
        var answered = false
        for _ in 0..<40 {  // at most 40 × 0.1 s
            if slow.receivesSomething(within: 0.1) {
                answered = true
                break
            }
            guard (try? slow.send("X")) != nil else { break }
        }
        let took = Date().timeIntervalSince(started)
        #expect(answered, "the daemon answered within 4 s")
        let reply = try #require(slow.readResponse(timeout: 2))
        #expect(reply.status == 408, "\(reply)")
        #expect(took >= 0.9 && took < 2.5, "408 after \(took) s although bytes kept arriving")
    }

    @Test("a connection that sends nothing is closed after the request timeout; an idle kept-alive one is not sent a 408")
    func silentAndIdleConnections() throws {
        let http = try HTTPDaemon(["--http-request-timeout", "1"])
        let silent = try http.tcp()
        let idle = try http.tcp()
        try idle.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(idle.readResponse()?.status == 200)
        #expect(silent.isClosedByPeer(within: 3), "a silent connection is closed after the request timeout")
        if let reply = HTTPReply.parse(silent.buffer)?.reply { #expect(reply.status == 408, "\(reply)") }
        #expect(!idle.receivesSomething(within: 0.3), "an idle kept-alive connection between requests gets no 408")
        try idle.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(idle.readResponse()?.status == 200, "and still serves its next request")
    }

    @Test("clients that disconnect mid-body, reset, or hang up while a blocking read waits leave the daemon serving")
    func disconnects() throws {
        let http = try HTTPDaemon()
        let midBody = try http.tcp()
        try midBody.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"class\":\"0x")
        midBody.finishSending()
        #expect(midBody.isClosedByPeer(within: 2), "the daemon closes a connection whose input ended mid-request")
        if let reply = HTTPReply.parse(midBody.buffer)?.reply { #expect(reply.status < 500, "\(reply)") }

        let reset = try http.tcp()
        try reset.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        reset.abort()

        let blocking = try http.tcp()
        try blocking.send("GET /servers?index=\(try HTTPFixture.revision(http))&wait=30s HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(!blocking.receivesSomething(within: 0.2), "the blocking read waits")
        blocking.abort()

        let halfClosed = try http.tcp()
        try halfClosed.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        halfClosed.finishSending()
        #expect(halfClosed.readResponse()?.status == 200, "a request followed by a half-close is still answered")
        #expect(halfClosed.isClosedByPeer(within: 2))

        // A write wakes the (gone) blocking read; nothing breaks.
        try http.socketRegister(Fixture.entry(id: Fixture.id()))
        #expect(http.isHealthy())
        // The connections are gone: only the metrics request's own remains.
        var open: Double?
        for _ in 0..<20 {  // at most 20 × 0.1 s
            let metrics = try Curl.request("GET", http.url + "/metrics").reply
            open = try HTTPEndpointTests.parseExposition(metrics.text)[#"hostess_connections{interface="http"}"#]
            if open == 1 { break }
            usleep(100_000)
        }
        #expect(open == 1, "HTTP connections still open: \(open ?? -1)")
        #expect(http.daemon.process.isRunning)
    }

    @Test("keep-alive: two requests one after the other on one connection")
    func keepAlive() throws {
        let http = try HTTPDaemon()
        let client = try http.tcp()
        try client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try #require(client.readResponse())
        #expect(first.status == 200)
        #expect(first.header("Connection") == nil, "\(first)")
        try client.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        let second = try #require(client.readResponse())
        #expect(second.status == 200)
        #expect(second.text == "[]")
        #expect(!client.receivesSomething(within: 0.1), "the connection stays open")

        // http.client reuses one connection for several requests.
        let results = try PythonHTTP.run(http, (0..<3).map { _ in PythonHTTP.Request(method: "GET", target: "/health") })
        #expect(results.allSatisfy { $0.reply?.status == 200 }, "\(results)")
        #expect(Set(results.compactMap(\.localPort)).count == 1, "one connection: \(results.map(\.localPort))")
    }

    @Test("pipelining: requests in one write are answered in order, then Connection: close closes")
    func pipelining() throws {
        let http = try HTTPDaemon()
        let client = try http.tcp()
        try client.send(
            "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
                + "POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
                + "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n"
                + "HEAD /servers HTTP/1.1\r\nHost: t\r\n\r\n"
                + "GET /servers HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                + "GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try #require(client.readResponse())
        #expect(first.json?.objectValue?["status"] == "ok", "\(first)")
        let second = try #require(client.readResponse())
        #expect(second.status == 200 && second.text == "[]", "\(second)")
        let third = try #require(client.readResponse())
        #expect(third.status == 404, "\(third)")
        let fourth = try #require(client.readResponse(head: true))
        #expect(fourth.status == 200 && fourth.header("Content-Length") == "2", "\(fourth)")
        let fifth = try #require(client.readResponse())
        #expect(fifth.status == 200 && fifth.text == "[]", "\(fifth)")
        #expect(fifth.header("Connection")?.lowercased() == "close")
        #expect(client.isClosedByPeer(within: 2))
        #expect(client.buffer.isEmpty, "nothing is answered after Connection: close: \(String(decoding: client.buffer, as: UTF8.self))")
    }

    @Test("HTTP/1.0 closes after the response unless it asks for keep-alive")
    func http10() throws {
        let http = try HTTPDaemon()
        let plain = try http.tcp()
        try plain.send("GET /health HTTP/1.0\r\n\r\n")
        let reply = try #require(plain.readResponse())
        #expect(reply.status == 200)
        #expect(reply.header("Connection")?.lowercased() == "close")
        #expect(plain.isClosedByPeer(within: 2))
    }

    @Test("HTTP/1.0 with Connection: keep-alive is kept alive and the response says so")
    func http10KeepAlive() throws {
        let http = try HTTPDaemon()
        let client = try http.tcp()
        try client.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let reply = try #require(client.readResponse())
        #expect(reply.status == 200)
        // RFC 9112 §9.3 / RFC 2068 §19.7.1: an HTTP/1.0 client assumes the server closes unless the
        // response carries Connection: keep-alive; without it such a client waits for the end of the stream.
        #expect(reply.header("Connection")?.lowercased() == "keep-alive", "the response to an HTTP/1.0 keep-alive request: \(reply)")
        try client.send("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(client.readResponse()?.status == 200, "the connection serves a second request")
    }

    @Test("a client that never reads its answers delays nobody and is closed after the request timeout")
    func clientThatNeverReads() throws {
        let http = try HTTPDaemon(["--http-request-timeout", "1"])
        let greedy = try http.tcp()
        // About 10 MB of answers asked for in one write, none of them read.
        try greedy.send(String(repeating: "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", count: 2000))
        let started = Date()
        #expect(http.isHealthy(), "others are served")
        let took = Date().timeIntervalSince(started)
        #expect(took < 0.5, "GET /health took \(took) s while a client does not read")
        // Drain what the kernel buffered: the stream ends within a few seconds instead of delivering 2000 answers.
        #expect(greedy.isClosedByPeer(within: 6), "the daemon gives up on a client that does not read")
        #expect(greedy.buffer.count < 2000 * 4000, "not every answer was produced: \(greedy.buffer.count) bytes")
        #expect(http.isHealthy())
    }

    @Test("Expect: 100-continue gets 100 Continue before the body is sent")
    func expectContinue() throws {
        let http = try HTTPDaemon()
        let client = try http.tcp()
        try client.send("POST /query HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        let interim = try #require(client.readResponse(timeout: 2), "an interim response before the body")
        #expect(interim.status == 100, "\(interim)")
        try client.send("{}")
        let reply = try #require(client.readResponse())
        #expect(reply.status == 200 && reply.text == "[]", "\(reply)")

        // curl sends Expect: 100-continue for large bodies (here asked for explicitly) and waits a second for
        // the invitation.
        let body = #"{"fqdn":""# + String(repeating: "a", count: 2000) + #""}"#
        let (big, elapsed) = try Curl.request(
            "POST", http.url + "/query", headers: ["Content-Type: application/json", "Expect: 100-continue"], body: body)
        #expect(big.status == 200 || big.status == 400, "\(big)")
        #expect(elapsed < 0.9, "curl waited \(elapsed) s for 100 Continue")
    }

    @Test("an HTTP/1.0 request's Expect: 100-continue is ignored (RFC 9110 §10.1.1)")
    func expectContinueHTTP10() throws {
        let http = try HTTPDaemon()
        let client = try http.tcp()
        try client.send("POST /query HTTP/1.0\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        usleep(200_000)
        try client.send("{}")
        let reply = try #require(client.readResponse())
        #expect(reply.status == 200, "a server MUST NOT send 100 Continue to an HTTP/1.0 client; the first response was \(reply)")
    }

    @Test("connections over --http-max-connections get 503 and are closed")
    func maxConnections() throws {
        let http = try HTTPDaemon(["--http-max-connections", "2"])
        let first = try http.tcp()
        let second = try http.tcp()
        try first.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(first.readResponse()?.status == 200)
        try second.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(second.readResponse()?.status == 200)
        let third = try http.tcp()
        let refused = try #require(third.readResponse(), "the third connection is answered")
        #expect(refused.status == 503, "\(refused)")
        #expect(refused.errorCode == "unavailable")
        expectFraming(refused, "503")
        #expect(third.isClosedByPeer(within: 2))
        first.abort()
        var served = false
        for _ in 0..<20 {  // at most 20 × 0.1 s
            let next = try http.tcp()
            try? next.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            if next.readResponse(timeout: 1)?.status == 200 {
                served = true
                break
            }
            usleep(100_000)
        }
        #expect(served, "a freed slot serves a new connection")
    }

    @Test("--http [::1]:0 serves GET /health over IPv6 loopback")
    func ipv6() throws {
        if let reason = try PythonHTTP.ipv6LoopbackUnavailableReason() {
            try Test.cancel("no IPv6 loopback on this machine: \(reason)")
        }
        let http = try HTTPDaemon(listen: "[::1]:0")
        #expect(http.address.hasPrefix("[::1]:"), "status reports \(http.address)")
        let (reply, _) = try Curl.request("GET", http.url + "/health")
        #expect(reply.status == 200, "\(reply)")
        expectFraming(reply, "GET /health over IPv6")
        #expect(reply.json?.objectValue?["status"] == "ok")
        let python = try PythonHTTP.run(http, [PythonHTTP.Request(method: "GET", target: "/health")], host: "::1")
        #expect(python[0].reply?.status == 200, "\(python)")
        #expect(http.isHealthy())
    }
}

// MARK: - Signed writes

@Suite("HTTP signed writes")
struct HTTPSignatureTests {
    static let unknownKey = TestKeys.Key(id: "mallory-key", secret: "mallory-secret-0123456789", owners: ["alice"])

    @Test("refused signatures get 401 with WWW-Authenticate, and the guest book does not change")
    func refusals() throws {
        let http = try HTTPDaemon()
        let id = Fixture.id(owner: "alice")
        let entry = Fixture.entry(id: id)
        let body = entry.jsonText
        let now = unixSeconds()
        typealias S = PythonHTTP.Signing
        let cases: [(String, PythonHTTP.Request)] = [
            ("unsigned", .json("POST", "/register", entry)),
            ("wrong secret", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, signSecret: "not-the-secret-0123456789"))),
            ("another key's secret", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, signSecret: TestKeys.ops.secret))),
            ("signature over another body", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, signBody: body + " "))),
            ("signature over another target", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, signTarget: "/register?x=1"))),
            ("unknown key id", .json("POST", "/register", entry, sign: S(key: Self.unknownKey))),
            ("stale ts", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, ts: now - 1000))),
            ("future ts", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, ts: now + 1000))),
            ("malformed header", PythonHTTP.Request(
                method: "POST", target: "/register", headers: [("Content-Type", "application/json"), ("Authorization", "Basic YWxpY2U6c2VjcmV0")],
                body: body)),
            ("short nonce", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, nonce: "abcd"))),
            ("non-hex nonce", .json("POST", "/register", entry, sign: S(key: TestKeys.alice, nonce: "zzzzzzzzzzzzzzzzzzzz"))),
        ]
        let results = try PythonHTTP.run(http, cases.map(\.1))
        for ((name, _), result) in zip(cases, results) {
            let reply = try #require(result.reply, "\(name): \(result)")
            #expect(reply.status == 401, "\(name): \(reply)")
            #expect(reply.errorCode == "unauthorized", "\(name): \(reply)")
            #expect(reply.header("WWW-Authenticate")?.hasPrefix("Hostess-HMAC-SHA256") == true, "\(name): \(reply)")
            expectFraming(reply, name)
        }
        #expect(try http.socketClient().request("listAll").result?["entries"] == .array([]), "nothing was registered")
        #expect(try HTTPFixture.revision(http) == 0)

        // Every write endpoint needs a signature; reads do not.
        let path = "/servers/" + HTTPFixture.encodeAll(id)
        let unsigned = try PythonHTTP.run(http, [
            PythonHTTP.Request(method: "DELETE", target: path),
            .json("POST", path + "/heartbeat", nil),
            .json("POST", path + "/terminals/stdin/in-use", ["connectomeId": "c"]),
            .json("POST", path + "/terminals/stdin/available", nil),
            PythonHTTP.Request(method: "GET", target: "/servers"),
            .json("POST", "/query", [:]),
            .json("POST", "/capabilities", [:]),
            PythonHTTP.Request(method: "GET", target: path),
        ])
        #expect(unsigned.map { $0.reply?.status ?? -1 } == [401, 401, 401, 401, 200, 200, 200, 404], "\(unsigned)")
    }

    @Test("a replayed request (same nonce) is refused the second time")
    func replay() throws {
        let http = try HTTPDaemon()
        let id = Fixture.id(owner: "alice")
        let signing = PythonHTTP.Signing(key: TestKeys.alice, ts: unixSeconds(), nonce: freshNonce())
        let request = PythonHTTP.Request.json("POST", "/register", Fixture.entry(id: id), sign: signing)
        var other = PythonHTTP.Request.json("POST", "/servers/\(HTTPFixture.encodeAll(id))/heartbeat", nil, sign: signing)
        other.newConnection = true
        let results = try PythonHTTP.run(http, [request, request, other])
        #expect(results[0].reply?.status == 201, "\(results[0])")
        #expect(results[0].authorization == results[1].authorization, "the very same Authorization header")
        let replayed = try #require(results[1].reply)
        #expect(replayed.status == 401, "the replay: \(replayed)")
        #expect(replayed.errorCode == "unauthorized")
        #expect(replayed.header("WWW-Authenticate") != nil)
        #expect(results[2].reply?.status == 401, "the nonce is spent for other requests too: \(results[2])")
        let fresh = try PythonHTTP.run(http, [.json("POST", "/servers/\(HTTPFixture.encodeAll(id))/heartbeat", nil, sign: .init(key: TestKeys.alice))])
        #expect(fresh[0].reply?.status == 200, "a fresh nonce works: \(fresh)")
        // Timestamps inside the ±300 s window are accepted on both sides.
        let skewed = try PythonHTTP.run(http, [
            .json("POST", "/servers/\(HTTPFixture.encodeAll(id))/heartbeat", nil, sign: .init(key: TestKeys.alice, tsOffset: -280)),
            .json("POST", "/servers/\(HTTPFixture.encodeAll(id))/heartbeat", nil, sign: .init(key: TestKeys.alice, tsOffset: 280)),
        ])
        #expect(skewed.map { $0.reply?.status ?? -1 } == [200, 200], "\(skewed)")
    }

    @Test("a key acts only as its owners: 403 for others' entries, never as root")
    func owners() throws {
        let http = try HTTPDaemon()
        let bobs = Fixture.id(servername: "bobs", owner: "bob")
        let rootEntry = Fixture.id(servername: "roots", owner: "root")
        try http.socketRegister(Fixture.entry(id: bobs))
        try http.socketRegister(Fixture.entry(id: rootEntry))
        let bobPath = "/servers/" + HTTPFixture.encodeAll(bobs)
        let rootPath = "/servers/" + HTTPFixture.encodeAll(rootEntry)
        let alice = PythonHTTP.Signing(key: TestKeys.alice)
        let carolEntry = Fixture.id(servername: "carols", owner: "carol")
        let results = try PythonHTTP.run(http, [
            .json("POST", "/register", Fixture.entry(id: Fixture.id(servername: "fake", owner: "bob")), sign: alice),  // 0
            PythonHTTP.Request(method: "DELETE", target: bobPath, sign: alice),  // 1
            .json("POST", bobPath + "/heartbeat", nil, sign: alice),  // 2
            .json("POST", bobPath + "/terminals/stdin/in-use", ["connectomeId": "x"], sign: alice),  // 3
            PythonHTTP.Request(method: "DELETE", target: rootPath, sign: PythonHTTP.Signing(key: TestKeys.ops)),  // 4
            .json("POST", "/register", Fixture.entry(id: Fixture.id(servername: "fake-root", owner: "root")), sign: .init(key: TestKeys.ops)),  // 5
            .json("POST", "/register", Fixture.entry(id: carolEntry), sign: .init(key: TestKeys.carol)),  // 6: owners default to the key id
            .json("POST", "/register", Fixture.entry(id: Fixture.id(owner: "alice")), sign: .init(key: TestKeys.carol)),  // 7
            .json("POST", bobPath + "/heartbeat", nil, sign: .init(key: TestKeys.ops)),  // 8: ops acts as bob
        ])
        let statuses = results.map { $0.reply?.status ?? -1 }
        #expect(statuses == [403, 403, 403, 403, 403, 403, 201, 403, 200], "\(results)")
        for (number, result) in results.enumerated() where result.reply?.status == 403 {
            #expect(result.reply?.errorCode == "forbidden", "request \(number): \(result)")
            // The refusal names the signing key, not the uid HTTP callers act under.
            let message = result.reply?.errorMessage ?? ""
            #expect(message.hasPrefix("key ") && !message.contains("uid"), "request \(number): \(message)")
            if let reply = result.reply { expectFraming(reply, "403") }
        }
        let bob = try #require(try http.socketEntry(bobs), "bob's entry survives")
        #expect(bob["terminals"]?.objectValue?["stdin"]?.objectValue?["inUse"] == false)
        #expect(try http.socketEntry(rootEntry) != nil, "root's entry survives")
        #expect(try http.socketEntry(carolEntry) != nil)
    }

    @Test("--http-auth-reads makes reads need a signature too, except /health")
    func authenticatedReads() throws {
        let http = try HTTPDaemon(["--http-auth-reads"])
        let results = try PythonHTTP.run(http, [
            PythonHTTP.Request(method: "GET", target: "/servers"),
            .json("POST", "/query", [:]),
            PythonHTTP.Request(method: "GET", target: "/servers?class=0x0001", sign: .init(key: TestKeys.alice)),
            .json("POST", "/query", [:], sign: .init(key: TestKeys.alice)),
            PythonHTTP.Request(method: "GET", target: "/health"),
        ])
        #expect(results.map { $0.reply?.status ?? -1 } == [401, 401, 200, 200, 200], "\(results)")
    }

    @Test("the CLI registers, lists, gets and unregisters over --http with a key and a secret file")
    func cli() throws {
        let http = try HTTPDaemon()
        let secretFile = try HTTPDaemon.writePrivate(http.scratch, "alice.secret", TestKeys.alice.secret + "\n")
        let hostess = Binaries.path("hostess")
        let remote = ["--http", http.url, "--key-id", TestKeys.alice.id, "--secret-file", secretFile]
        let registered = try CLI.run(
            hostess,
            remote + [
                "register", "--name", "cli-web", "--class", "0x0003", "--owner", "alice", "--fqdn", "localhost", "--capability", "http",
                "--terminal", "requests:input:none",
            ], timeout: 10)
        #expect(registered.status == 0, "\(registered)")
        let id = registered.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let seen = try #require(try http.socketEntry(id), "the socket sees the CLI's HTTP registration of '\(id)'")
        #expect(seen["capabilities"] == ["http"])

        let listed = try CLI.run(hostess, ["--http", http.url, "--json", "list"], timeout: 10)
        #expect(listed.status == 0, "\(listed)")
        let entries = try JSONParser.parse(listed.stdout).elements ?? []
        #expect(entries.compactMap { $0.objectValue?["id"]?.stringValue } == [id], "\(listed)")
        #expect(entries.first == .object(seen), "the CLI prints the entry as the socket stores it")

        let got = try CLI.run(hostess, ["--http", http.url, "--json", "get", id], timeout: 10)
        #expect(got.status == 0, "\(got)")
        #expect((try? JSONParser.parse(got.stdout))?.objectValue?["id"] == .string(id), "\(got)")

        let forbidden = try CLI.run(
            hostess, remote + ["register", "--name", "x", "--class", "0x0003", "--owner", "bob", "--fqdn", "localhost"], timeout: 10)
        #expect(forbidden.status == 1, "a refusal exits 1: \(forbidden)")
        #expect(!forbidden.stderr.isEmpty, "\(forbidden)")

        let unsigned = try CLI.run(
            hostess, ["--http", http.url, "register", "--name", "x", "--class", "0x0003", "--owner", "alice", "--fqdn", "localhost"], timeout: 10)
        #expect(unsigned.status != 0, "a write without a key is refused: \(unsigned)")

        let wrongSecret = try HTTPDaemon.writePrivate(http.scratch, "wrong.secret", "not-alices-secret-0123\n")
        let wrong = try CLI.run(
            hostess, ["--http", http.url, "--key-id", TestKeys.alice.id, "--secret-file", wrongSecret, "unregister", id], timeout: 10)
        #expect(wrong.status != 0, "\(wrong)")
        #expect(try http.socketEntry(id) != nil)

        let removed = try CLI.run(hostess, remote + ["unregister", id], timeout: 10)
        #expect(removed.status == 0, "\(removed)")
        #expect(try http.socketEntry(id) == nil, "the CLI's HTTP unregister removed the entry")

        let open = try HTTPDaemon.writePrivate(http.scratch, "open.secret", TestKeys.alice.secret + "\n", mode: 0o644)
        let refused = try CLI.run(hostess, ["--http", http.url, "--key-id", TestKeys.alice.id, "--secret-file", open, "list"], timeout: 10)
        #expect(refused.status != 0, "a secret file others can read is refused: \(refused)")
        #expect(refused.stderr.contains(open), "\(refused)")
    }

    @Test("hostessd refuses a --secrets file group or others can read", arguments: [0o640, 0o604, 0o644] as [mode_t])
    func secretsFileMode(_ mode: mode_t) throws {
        let scratch = try ScratchDirectory()
        let secrets = try HTTPDaemon.writePrivate(scratch, "secrets", TestKeys.file, mode: mode)
        let shm = "/hostess-test-" + UUID().uuidString.lowercased()
        defer { unlink("/dev/shm" + shm) }
        let outcome = try CLI.run(
            Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--shm", shm, "--http", "127.0.0.1:0", "--secrets", secrets],
            timeout: 5)
        #expect(outcome.status != 0, "mode \(String(mode, radix: 8)): \(outcome)")
        #expect(outcome.stderr.contains(secrets), "the message names the file: \(outcome)")
    }

    @Test("hostessd refuses a --secrets file with a short secret or a malformed line")
    func secretsFileContent() throws {
        for text in ["alice-key short alice\n", "alice-key\n", "a b c d\n"] {
            let scratch = try ScratchDirectory()
            let secrets = try HTTPDaemon.writePrivate(scratch, "secrets", text)
            let shm = "/hostess-test-" + UUID().uuidString.lowercased()
            defer { unlink("/dev/shm" + shm) }
            let outcome = try CLI.run(
                Binaries.path("hostessd"), ["--socket", scratch.path + "/s.sock", "--shm", shm, "--http", "127.0.0.1:0", "--secrets", secrets],
                timeout: 5)
            #expect(outcome.status != 0, "\(text.debugDescription): \(outcome)")
            #expect(outcome.stderr.contains(secrets), "\(outcome)")
        }
    }
}

// MARK: - Blocking queries

@Suite("HTTP blocking queries")
struct HTTPBlockingQueryTests {
    @Test("GET /servers?index=N&wait=5s answers soon after another client's write, with a higher index")
    func wakesOnWrite() throws {
        let http = try HTTPDaemon()
        let now = try #require(try Curl.request("GET", http.url + "/servers").reply.index)

        // Raw: the request provably waits until the socket write.
        let waiter = try http.tcp()
        let started = Date()
        try waiter.send("GET /servers?index=\(now)&wait=5s HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(!waiter.receivesSomething(within: 0.3), "nothing to answer yet: the read waits")
        let id = Fixture.id()
        try http.socketRegister(Fixture.entry(id: id))
        let reply = try #require(waiter.readResponse(timeout: 6))
        let took = Date().timeIntervalSince(started)
        #expect(reply.status == 200, "\(reply)")
        expectFraming(reply, "blocking GET")
        #expect((reply.index ?? 0) > now, "\(reply)")
        #expect(HTTPFixture.ids(reply) == [id])
        #expect(took < 1.5, "answered \(took) s after the request, well before 5 s")

        // Python's http.client, waiting in another process while Python signs a write on another connection.
        let index = try #require(reply.index)
        let blocked = Background { try PythonHTTP.run(http, [PythonHTTP.Request(method: "GET", target: "/servers/\(HTTPFixture.encodeAll(id))?index=\(index)&wait=5s")]) }
        usleep(500_000)
        let marked = try PythonHTTP.run(http, [.json("POST", "/servers/\(HTTPFixture.encodeAll(id))/terminals/stdout/in-use", ["connectomeId": "c9"])])
        #expect(marked[0].reply?.status == 401, "unsigned, so no change: \(marked)")
        _ = try http.socketClient().request("markInUse", ["serverId": .string(id), "terminal": "stdout", "connectomeId": "c9"])
        let result = try blocked.wait(timeout: 10)[0]
        let answer = try #require(result.reply, "\(result)")
        #expect(answer.status == 200)
        #expect((answer.index ?? 0) > index)
        #expect(answer.json?.objectValue?["terminals"]?.objectValue?["stdout"]?.objectValue?["connectedTo"] == ["c9"], "\(answer)")
        #expect(result.elapsed < 2.5, "GET /servers/{id}?index=…&wait=5s answered after \(result.elapsed) s")
    }

    @Test("a request pipelined behind a blocking read is answered after it, in order")
    func pipelinedBehindBlockingRead() throws {
        let http = try HTTPDaemon()
        let index = try HTTPFixture.revision(http)
        let client = try http.tcp()
        let started = Date()
        try client.send("GET /servers?index=\(index)&wait=500ms HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        let first = try #require(client.readResponse(timeout: 3))
        #expect(first.status == 200 && first.text == "[]", "the blocking read answers first: \(first)")
        #expect(Date().timeIntervalSince(started) >= 0.45)
        let second = try #require(client.readResponse(timeout: 2))
        #expect(second.json?.objectValue?["status"] == "ok", "then the request behind it: \(second)")
    }

    @Test("SIGTERM answers a waiting blocking read before hostessd exits")
    func shutdownAnswersWaitingReads() throws {
        let http = try HTTPDaemon()
        let index = try HTTPFixture.revision(http)
        let client = try http.tcp()
        try client.send("GET /servers?index=\(index)&wait=60s HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(!client.receivesSomething(within: 0.2))
        let status = http.daemon.stop(signal: SIGTERM, timeout: 5)
        #expect(status == 0, "hostessd exits cleanly: \(status.map(String.init) ?? "still running")\n\(http.daemon.log)")
        let reply = try #require(client.readResponse(timeout: 2), "the waiting read is answered at shutdown")
        #expect(reply.status == 200 && reply.index == index, "\(reply)")
        #expect(reply.header("Connection")?.lowercased() == "close")
        #expect(client.isClosedByPeer(within: 2))
    }

    @Test("with no write, wait=1s answers 200 after about a second with the same index")
    func waitEnds() throws {
        let http = try HTTPDaemon()
        try http.socketRegister(Fixture.entry(id: Fixture.id()))
        let index = try #require(try Curl.request("GET", http.url + "/servers").reply.index)
        let results = try PythonHTTP.run(http, [
            PythonHTTP.Request(method: "GET", target: "/servers?index=\(index)&wait=1s"),
            PythonHTTP.Request(method: "GET", target: "/servers?index=\(index)&wait=500ms&class=0x0001"),
            PythonHTTP.Request(method: "GET", target: "/servers?index=\(index)&wait=0"),
            PythonHTTP.Request(method: "GET", target: "/servers?index=\(index - 1)&wait=5s"),
        ])
        let waited = try #require(results[0].reply)
        #expect(waited.status == 200)
        #expect(waited.index == index)
        #expect(HTTPFixture.ids(waited)?.count == 1)
        // The wait plus up to 1/16 jitter, plus the overhead of a loaded machine.
        #expect(results[0].elapsed >= 0.9 && results[0].elapsed < 2.0, "wait=1s took \(results[0].elapsed) s")
        #expect(results[1].reply?.status == 200)
        #expect(results[1].elapsed >= 0.45 && results[1].elapsed < 1.5, "wait=500ms took \(results[1].elapsed) s")
        #expect(results[2].reply?.status == 200)
        #expect(results[2].elapsed < 0.5, "wait=0 answers at once: \(results[2].elapsed) s")
        #expect(results[3].reply?.status == 200)
        #expect(results[3].elapsed < 0.5, "an index below the revision answers at once: \(results[3].elapsed) s")

        // Jitter: never more than wait/16 (here 62.5 ms) beyond the wait, on the raw wire.
        let raw = try http.tcp()
        let started = Date()
        try raw.send("GET /servers?index=\(index)&wait=1s HTTP/1.1\r\nHost: t\r\n\r\n")
        let reply = try #require(raw.readResponse(timeout: 3))
        let took = Date().timeIntervalSince(started)
        #expect(reply.status == 200 && reply.index == index)
        #expect(took >= 0.99 && took < 1.0625 + 0.45, "wait=1s answered after \(took) s")
    }

    @Test("a bad wait or index is answered 400; the documented spellings are accepted")
    func badWait() throws {
        let http = try HTTPDaemon()
        try http.socketRegister(Fixture.entry(id: Fixture.id()))
        // index=0 is behind the revision, so a valid wait answers at once.
        for wait in ["30s", "500ms", "5m", "10m", "2", "0.5", "1.5s"] {
            let raw = try http.tcp()
            try raw.send("GET /servers?index=0&wait=\(wait) HTTP/1.1\r\nHost: t\r\n\r\n")
            let reply = raw.readResponse(timeout: 2)
            #expect(reply?.status == 200, "wait=\(wait): \(reply.map { "\($0)" } ?? "no answer")")
        }
        for query in ["index=0&wait=abc", "index=0&wait=-1s", "index=0&wait=1x", "index=0&wait=inf", "index=0&wait=nan", "index=0&wait=",
                      "wait=1s", "index=abc", "index=-1&wait=1s", "index=0&wait=%2B1s"] {
            let (reply, _) = try Curl.request("GET", http.url + "/servers?" + query)
            #expect(reply.status == 400, "?\(query): \(reply)")
            #expect(reply.errorCode == "bad_request", "?\(query): \(reply)")
            expectFraming(reply, "?\(query)")
            // Refused at once, not after a wait (timed on the raw wire, without curl's start-up).
            let raw = try http.tcp()
            let started = Date()
            try raw.send("GET /servers?\(query) HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(raw.readResponse(timeout: 5)?.status == 400)
            #expect(Date().timeIntervalSince(started) < 0.5, "?\(query) is refused at once")
        }
    }
}
