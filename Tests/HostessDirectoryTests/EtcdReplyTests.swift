import HostessDirectory
import HostessHTTP
import HostessModel
import Testing

// MARK: - Values in the fixtures

private let clusterID: UInt64 = 16_852_641_557_184_054_374
private let leaseID: Int64 = 3_777_009_619_394_468_870
private let first = "6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13"
private let second = "0b7e2d94-53a1-4c6f-9e08-d2a4f61b3c57"
private let value = Array(#"{"type":"HOSTESS_ANNOUNCEMENT","hostessId":"6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13","ttl":30}"#.utf8)
private let layout = EtcdDirectoryLayout(prefix: "/hostess/")

// MARK: - Replies

@Suite struct EtcdReplyTests {
    @Test("a lease grant: the id and TTL, int64s written as strings")
    func grant() throws {
        let lease = try EtcdLease(grantReply: try Fixture.body("lease-grant"))
        #expect(lease == EtcdLease(header: EtcdHeader(clusterID: clusterID, revision: 1), id: leaseID, ttl: 30))
    }

    @Test("a keepalive: one response of a stream, inside result; a lease etcd does not have has no TTL")
    func keepAlive() throws {
        let keepAlive = try Fixture.response("keepalive")
        #expect(keepAlive.header("transfer-encoding") == "chunked")
        #expect(keepAlive.body.last == 0x0A, "the gateway ends a stream's response with a newline")
        #expect(try EtcdLease(keepAliveReply: keepAlive.body) == EtcdLease(header: EtcdHeader(clusterID: clusterID, revision: 3), id: leaseID, ttl: 30))
        #expect(throws: EtcdError.leaseNotFound(id: leaseID)) { try EtcdLease(keepAliveReply: try Fixture.body("keepalive-gone")) }
    }

    @Test("replies that are a header alone: put and revoke")
    func headers() throws {
        #expect(try EtcdHeader(reply: try Fixture.body("put")) == EtcdHeader(clusterID: clusterID, revision: 2))
        #expect(try EtcdHeader(reply: try Fixture.body("put-second")).revision == 3)
        #expect(try EtcdHeader(reply: try Fixture.body("revoke")).revision == 6)
    }

    @Test("a range: keys in order, a value left out when empty, a lease left out when none; an empty range has neither kvs nor count")
    func range() throws {
        let range = try EtcdRange(reply: try Fixture.body("range"))
        let peers = try #require(layout)
        let expected = EtcdRange(
            header: EtcdHeader(clusterID: clusterID, revision: 3),
            kvs: [
                EtcdKeyValue(key: try #require(peers.peerKey(second)), value: [], createRevision: 3, modRevision: 3, version: 1, lease: 0),
                EtcdKeyValue(key: try #require(peers.peerKey(first)), value: value, createRevision: 2, modRevision: 2, version: 1, lease: leaseID),
            ],
            count: 2, more: false)
        #expect(range == expected)
        #expect(range.kvs.map { peers.hostessID(fromKey: $0.key) } == [second, first])
        #expect(try EtcdRange(reply: try Fixture.body("range-empty")) == EtcdRange(header: EtcdHeader(clusterID: clusterID, revision: 3), kvs: [], count: 0, more: false))
    }

    @Test("a deleterange and an authentication")
    func deleteRangeAndToken() throws {
        #expect(try EtcdDeleteRange(reply: try Fixture.body("deleterange")) == EtcdDeleteRange(header: EtcdHeader(clusterID: clusterID, revision: 5), deleted: 1))
        #expect(try EtcdAuthentication(reply: try Fixture.body("authenticate")) == EtcdAuthentication(header: EtcdHeader(clusterID: clusterID, revision: 6), token: "ptDatShtifixUVPC.20"))
    }

    @Test("a JSON integer is taken where etcd writes an int64 as a string, as proto3 JSON parsers take both")
    func integersAsNumbers() throws {
        let reply = #"{"header":{"cluster_id":1,"revision":7},"ID":12,"TTL":30}"#
        #expect(try EtcdLease(grantReply: Array(reply.utf8)) == EtcdLease(header: EtcdHeader(clusterID: 1, revision: 7), id: 12, ttl: 30))
        let unknown = #"{"header":{"revision":"7","newer_field":{"x":[1]}},"ID":"12","TTL":"30","future":true}"#
        #expect(try EtcdLease(grantReply: Array(unknown.utf8)).id == 12, "members etcd may add are ignored")
    }

    // MARK: Error replies

    static let errorReplies: [(String, Int, EtcdError)] = [
        ("revoke-not-found", 404, .leaseNotFound(id: nil)),
        ("range-no-token", 400, .unauthenticated(message: "etcdserver: user name is empty")),
        ("range-bad-token", 401, .unauthenticated(message: "etcdserver: invalid auth token")),
        ("range-denied", 403, .permissionDenied(message: "etcdserver: permission denied")),
        ("authenticate-failed", 400, .authenticationFailed(message: "etcdserver: authentication failed, invalid user ID or password")),
        ("authenticate-not-enabled", 412, .server(code: 9, message: "etcdserver: authentication is not enabled")),
        ("lease-grant-too-long", 400, .server(code: 11, message: "etcdserver: too large lease TTL")),
        ("range-future", 400, .server(code: 11, message: "etcdserver: mvcc: required revision is a future revision")),
        ("watch-bad-request", 500, .server(code: 2, message: "illegal base64 data at input byte 0")),
    ]

    @Test("an error reply is the error it reports, whichever reply was expected", arguments: errorReplies)
    func errorReply(name: String, status: Int, error: EtcdError) throws {
        let response = try Fixture.response(name)
        #expect(response.status == status)
        for kind in ReplyKind.allCases {
            #expect(throws: error, "\(kind)") { try kind.decode(response.body) }
        }
    }

    @Test("the stream's own error object, and error replies etcd could send, are read too")
    func otherErrorShapes() {
        let stream = #"{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}"#
        #expect(throws: EtcdError.server(code: 14, message: "transport is closing")) { try EtcdHeader(reply: Array(stream.utf8)) }
        let withoutMessage = #"{"error":"etcdserver: invalid auth token","code":16}"#
        #expect(throws: EtcdError.unauthenticated(message: "etcdserver: invalid auth token")) { try EtcdHeader(reply: Array(withoutMessage.utf8)) }
        #expect(throws: EtcdError.badReply(field: "code", reason: "required field is missing")) { try EtcdHeader(reply: Array(#"{"error":"x"}"#.utf8)) }
        #expect(throws: EtcdError.badReply(field: "error.grpc_code", reason: "0 is outside 1...2147483647")) {
            try EtcdHeader(reply: Array(#"{"error":{"grpc_code":0}}"#.utf8))
        }
        #expect(throws: EtcdError.badReply(field: "error", reason: "expected a string or an object, found number")) {
            try EtcdHeader(reply: Array(#"{"error":5}"#.utf8))
        }
    }

    // MARK: Mutations

    /// The success fixtures and the decoder of each.
    static let successes: [(String, ReplyKind)] = [
        ("lease-grant", .grant), ("keepalive", .keepAlive), ("put", .header), ("revoke", .header), ("range", .range),
        ("range-empty", .range), ("deleterange", .deleteRange), ("authenticate", .authentication),
    ]

    @Test("every cut of a reply is refused as not JSON, never a trap", arguments: successes)
    func everyCut(name: String, kind: ReplyKind) throws {
        let body = try Fixture.body(name)
        let document = body.last == 0x0A ? Array(body.dropLast()) : body
        #expect(try kind.decode(document).isEmpty == false)
        for length in 0..<document.count {
            let error = #expect(throws: EtcdError.self) { try kind.decode(Array(document[..<length])) }
            guard case .badReply(nil, let reason)? = error else {
                Issue.record("cut at \(length): \(String(describing: error))")
                continue
            }
            #expect(reason.hasPrefix("invalid JSON at byte"), "cut at \(length): \(reason)")
        }
    }

    static let mutations: [(String, ReplyKind, String, JSONValue?, EtcdError)] = [
        // Required members missing.
        ("lease-grant", .grant, "header", nil, .badReply(field: "header", reason: "required field is missing")),
        ("lease-grant", .grant, "header.revision", nil, .badReply(field: "header.revision", reason: "required field is missing")),
        ("lease-grant", .grant, "ID", nil, .badReply(field: "ID", reason: "required field is missing")),
        ("lease-grant", .grant, "TTL", nil, .badReply(field: "TTL", reason: "required field is missing")),
        ("keepalive", .keepAlive, "result", nil, .badReply(field: "result", reason: "required field is missing")),
        ("keepalive", .keepAlive, "result.ID", nil, .badReply(field: "result.ID", reason: "required field is missing")),
        ("keepalive", .keepAlive, "result.header", nil, .badReply(field: "result.header", reason: "required field is missing")),
        ("put", .header, "header", nil, .badReply(field: "header", reason: "required field is missing")),
        ("range", .range, "header.revision", nil, .badReply(field: "header.revision", reason: "required field is missing")),
        ("range", .range, "kvs[1].key", nil, .badReply(field: "kvs[1].key", reason: "required field is missing")),
        ("range", .range, "kvs[0].mod_revision", nil, .badReply(field: "kvs[0].mod_revision", reason: "required field is missing")),
        ("authenticate", .authentication, "token", nil, .badReply(field: "token", reason: "required field is missing")),
        // Members of the wrong type or out of range.
        ("lease-grant", .grant, "header", "h", .badReply(field: "header", reason: "expected an object, found string")),
        ("lease-grant", .grant, "header.revision", true, .badReply(field: "header.revision", reason: "expected an int64 (a decimal string), found boolean")),
        ("lease-grant", .grant, "header.revision", "12a", .badReply(field: "header.revision", reason: "'12a' is not a decimal int64")),
        ("lease-grant", .grant, "header.revision", "+1", .badReply(field: "header.revision", reason: "'+1' is not a decimal int64")),
        ("lease-grant", .grant, "header.revision", "01", .badReply(field: "header.revision", reason: "'01' is not a decimal int64")),
        ("lease-grant", .grant, "header.revision", "-0", .badReply(field: "header.revision", reason: "'-0' is not a decimal int64")),
        ("lease-grant", .grant, "header.revision", "9223372036854775808", .badReply(field: "header.revision", reason: "'9223372036854775808' is not a decimal int64")),
        ("lease-grant", .grant, "header.revision", 1.5, .badReply(field: "header.revision", reason: "expected an int64 (a decimal string), found number")),
        ("lease-grant", .grant, "header.revision", "0", .badReply(field: "header.revision", reason: "0 is outside 1...9223372036854775807")),
        ("lease-grant", .grant, "header.cluster_id", "-1", .badReply(field: "header.cluster_id", reason: "'-1' is not a decimal uint64")),
        ("lease-grant", .grant, "header.cluster_id", "18446744073709551616", .badReply(field: "header.cluster_id", reason: "'18446744073709551616' is not a decimal uint64")),
        ("lease-grant", .grant, "ID", "-5", .badReply(field: "ID", reason: "-5 is outside 1...9223372036854775807")),
        ("lease-grant", .grant, "TTL", [], .badReply(field: "TTL", reason: "expected an int64 (a decimal string), found array")),
        ("keepalive", .keepAlive, "result", [], .badReply(field: "result", reason: "expected an object, found array")),
        ("range", .range, "kvs", [:], .badReply(field: "kvs", reason: "expected an array, found object")),
        ("range", .range, "kvs[0]", 5, .badReply(field: "kvs[0]", reason: "expected an object, found number")),
        ("range", .range, "kvs[0].key", "!!!!", .badReply(field: "kvs[0].key", reason: "not base64 at byte 0: a byte outside the base64 alphabet")),
        ("range", .range, "kvs[1].value", "abc", .badReply(field: "kvs[1].value", reason: "not base64 at byte 3: the length 3 is not a multiple of 4")),
        ("range", .range, "kvs[1].value", 7, .badReply(field: "kvs[1].value", reason: "expected a string, found number")),
        ("range", .range, "kvs[1].lease", "-1", .badReply(field: "kvs[1].lease", reason: "-1 is outside 0...9223372036854775807")),
        ("range", .range, "count", "1", .badReply(field: "count", reason: "1 is fewer than the 2 keys in kvs")),
        ("range", .range, "more", "yes", .badReply(field: "more", reason: "expected true or false, found string")),
        ("deleterange", .deleteRange, "deleted", "x", .badReply(field: "deleted", reason: "'x' is not a decimal int64")),
        ("authenticate", .authentication, "token", "a b", .badReply(field: "token", reason: "the token holds a byte that is not printable ASCII")),
        ("authenticate", .authentication, "token", 5, .badReply(field: "token", reason: "expected a string, found number")),
    ]

    @Test("a member missing, mistyped or out of range is refused, naming it", arguments: mutations)
    func mutation(name: String, kind: ReplyKind, path: String, replacement: JSONValue?, error: EtcdError) throws {
        let reply = try JSONParser.parse(try Fixture.body(name))
        let mutated = try #require(reply.replacing(path, with: replacement), "\(path) is not in \(name)")
        #expect(throws: error) { try kind.decode(mutated.jsonBytes) }
    }

    @Test("a reply that is JSON but not an object, or not JSON, is refused as a whole")
    func notAnObject() {
        #expect(throws: EtcdError.badReply(field: nil, reason: "expected a JSON object, found array")) { try EtcdHeader(reply: Array("[1]".utf8)) }
        #expect(throws: EtcdError.badReply(field: nil, reason: "invalid JSON at byte 0: unexpected character")) {
            try EtcdHeader(reply: Array("<html>502 Bad Gateway</html>".utf8))
        }
        #expect(throws: EtcdError.badReply(field: "header", reason: "required field is missing")) { try EtcdHeader(reply: Array("{}".utf8)) }
    }

    // MARK: Descriptions

    @Test("each error says what to do, naming the field or etcd's message, on one line")
    func descriptions() {
        let errors: [(EtcdError, String)] = [
            (.leaseNotFound(id: 42), "etcd has no lease 42 (it expired or was revoked): grant a new lease and put the keys again under it"),
            (.leaseNotFound(id: nil), "etcd has no such lease (it expired or was revoked): grant a new lease and put the keys again under it"),
            (.compacted(compactRevision: 4), "etcd has compacted its history up to revision 4, past the watch's start: read the prefix again and watch from the range's revision + 1"),
            (.unauthenticated(message: "etcdserver: invalid auth token"), "etcd wants a valid token (etcdserver: invalid auth token): authenticate again and send the new token"),
            (.server(code: 11, message: "etcdserver: too large lease TTL"), "etcd answered gRPC status 11 OutOfRange: etcdserver: too large lease TTL"),
            (.server(code: 99, message: "m"), "etcd answered gRPC status 99 (unknown): m"),
            (.badReply(field: "kvs[0].key", reason: "required field is missing"), "etcd's reply is not what its gateway sends: kvs[0].key: required field is missing"),
            (.responseTooLarge(limit: 100), "a watch response is larger than the limit of 100 bytes: raise the limit or watch a smaller prefix"),
        ]
        for (error, text) in errors { #expect(error.description == text) }
        let hostile = #"{"error":"line\nbreak\u001b[31m \#(String(repeating: "x", count: 1000))","code":13}"#
        let error = #expect(throws: EtcdError.self) { try EtcdHeader(reply: Array(hostile.utf8)) }
        guard case .server(13, let message)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(message.hasPrefix("linebreak[31m x") && message.hasSuffix("x…"))
        #expect(message.utf8.count <= EtcdError.maximumMessageBytes + 3)
        #expect(!message.unicodeScalars.contains { $0.properties.generalCategory == .control })
    }
}
