import Foundation
import HostessDirectory
import HostessHTTP
import HostessTestSupport
import Testing

// MARK: - Requests

@Suite struct EtcdRequestTests {
    private static let key = Array("/hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13".utf8)

    static let bodies: [(String, EtcdRequest, String, String)] = [
        ("grant", .leaseGrant(ttl: 30), "/v3/lease/grant", #"{"TTL":"30"}"#),
        ("keepalive", .leaseKeepAlive(id: 3_777_009_619_394_468_870), "/v3/lease/keepalive", #"{"ID":"3777009619394468870"}"#),
        ("revoke", .leaseRevoke(id: 7), "/v3/lease/revoke", #"{"ID":"7"}"#),
        (
            "put", .put(key: key, value: Array(#"{"ttl":30}"#.utf8), lease: 7), "/v3/kv/put",
            #"{"key":"L2hvc3Rlc3MvcGVlcnMvNmYxYzNhNTItOWQxZS00YjhmLWEyYzQtMWU1ZDdiOWYwYTEz","value":"eyJ0dGwiOjMwfQ==","lease":"7"}"#
        ),
        ("put without a lease or a value", .put(key: [0x61], value: [], lease: 0), "/v3/kv/put", #"{"key":"YQ==","value":"","lease":"0"}"#),
        (
            "range", .range(key: Array("/hostess/peers/".utf8), rangeEnd: Array("/hostess/peers0".utf8)), "/v3/kv/range",
            #"{"key":"L2hvc3Rlc3MvcGVlcnMv","range_end":"L2hvc3Rlc3MvcGVlcnMw"}"#
        ),
        ("deleterange", .deleteRange(key: [0x00, 0xFF]), "/v3/kv/deleterange", #"{"key":"AP8="}"#),
        (
            "watch", .watch(key: Array("/hostess/peers/".utf8), rangeEnd: Array("/hostess/peers0".utf8), startRevision: 5), "/v3/watch",
            #"{"create_request":{"key":"L2hvc3Rlc3MvcGVlcnMv","range_end":"L2hvc3Rlc3MvcGVlcnMw","start_revision":"5"}}"#
        ),
        (
            "watch with progress", .watch(key: [0x61], rangeEnd: [0x62], startRevision: 0, progressNotify: true), "/v3/watch",
            #"{"create_request":{"key":"YQ==","range_end":"Yg==","start_revision":"0","progress_notify":true}}"#
        ),
        ("authenticate", .authenticate(name: "root", password: "p\"w\\\n"), "/v3/auth/authenticate", #"{"name":"root","password":"p\"w\\\n"}"#),
    ]

    @Test("each request's target and body, byte for byte", arguments: bodies)
    func body(name: String, request: EtcdRequest, target: String, body: String) {
        #expect(request.method == "POST")
        #expect(request.target == target)
        #expect(String(decoding: request.body, as: UTF8.self) == body)
    }

    @Test("the wire form: JSON, the token when there is one, then the caller's fields")
    func serialized() {
        let request = EtcdRequest.leaseGrant(ttl: 2)
        let plain = "POST /v3/lease/grant HTTP/1.1\r\nHost: 127.0.0.1:2379\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"TTL\":\"2\"}"
        #expect(request.serialized(host: "127.0.0.1:2379") == Array(plain.utf8))
        let withToken = request.serialized(host: "h", token: "tok.1", headers: [HTTPHeader(name: "Connection", value: "close")])
        let expected = "POST /v3/lease/grant HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nAuthorization: tok.1\r\nConnection: close\r\nContent-Length: 11\r\n\r\n{\"TTL\":\"2\"}"
        #expect(withToken == Array(expected.utf8))
    }
}

// MARK: - Base64

@Suite struct Base64Tests {
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ]

    @Test("the vectors of RFC 4648 §10, both ways", arguments: vectors)
    func rfcVector(text: String, encoded: String) throws {
        #expect(Base64.encode(Array(text.utf8)) == encoded)
        #expect(try Base64.decode(encoded) == Array(text.utf8))
    }

    @Test("random bytes of every length to 200 round-trip, and agree with Foundation's encoder (seeded)")
    func roundTrips() throws {
        var random = SplitMix64(seed: 0xBA5E_0064)
        for length in 0...200 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(Base64.encodedBytes(bytes) == Array(encoded.utf8))
            #expect(try Base64.decode(encoded) == bytes)
            #expect(try Base64.decode(bytes: Array(encoded.utf8)) == bytes)
        }
    }

    static let refusals: [(String, Int, String)] = [
        ("Zg=", 3, "the length 3 is not a multiple of 4"),
        ("Zm9vY", 5, "the length 5 is not a multiple of 4"),
        ("Zm9v\nYmFy", 9, "the length 9 is not a multiple of 4"),
        ("Zm9 ", 3, "a byte outside the base64 alphabet"),
        ("Zm-v", 2, "a byte outside the base64 alphabet"),
        ("Zm_v", 2, "a byte outside the base64 alphabet"),
        ("Zm\u{0}v", 2, "a byte outside the base64 alphabet"),
        ("Zm9vé==", 4, "a byte outside the base64 alphabet"),
        ("Zg==Zm9v", 2, "padding before the end"),
        ("Z===", 1, "padding before the end"),
        ("====", 0, "padding before the end"),
        ("Zm=v", 2, "padding before the end"),
        ("Zh==", 1, "the bits before the padding are not zero"),
        ("Zm9=", 2, "the bits before the padding are not zero"),
    ]

    @Test("anything but strict, padded, canonical base64 is refused at the first wrong byte", arguments: refusals)
    func refuses(text: String, offset: Int, reason: String) {
        #expect(throws: Base64.DecodingError(offset: offset, reason: reason)) { try Base64.decode(text) }
    }

    @Test("every byte value in every position of a group is accepted exactly when it is in the alphabet")
    func everyByte() {
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        for position in 0..<4 {
            for byte in UInt8.min...UInt8.max {
                var group = Array("AAAA".utf8)
                group[position] = byte
                let accepted = (try? Base64.decode(bytes: group)) != nil
                let expected = alphabet.contains(byte) || (byte == UInt8(ascii: "=") && position == 3)
                #expect(accepted == expected, "byte \(byte) at \(position)")
            }
        }
    }
}

// MARK: - Layout

@Suite struct EtcdDirectoryLayoutTests {
    private static let id = "6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13"

    @Test("the keys under a prefix, and the range of the peers")
    func keys() throws {
        let layout = try #require(EtcdDirectoryLayout(prefix: "/hostess/"))
        #expect(layout.peersKey == Array("/hostess/peers/".utf8))
        #expect(layout.peersRangeEnd == Array("/hostess/peers0".utf8))
        let key = try #require(layout.peerKey(Self.id))
        #expect(key == Array("/hostess/peers/\(Self.id)".utf8))
        #expect(layout.hostessID(fromKey: key) == Self.id)
        #expect(layout.hostessID(fromKey: key[...]) == Self.id)
        let root = try #require(EtcdDirectoryLayout(prefix: ""))
        #expect(root.peerKey(Self.id) == Array("peers/\(Self.id)".utf8))
        #expect(EtcdDirectoryLayout(prefix: "/hostess") == nil, "a prefix that is not a directory would take in /hostess2/")
    }

    static let outside: [String] = [
        "/hostess/peers/", "/hostess/peers", "/hostess/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13",
        "/hostess2/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13", "hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13",
        "/hostess/peers/6F1C3A52-9D1E-4B8F-A2C4-1E5D7B9F0A13", "/hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a1",
        "/hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13/x", "/hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a133",
        "/hostess/peers/6f1c3a529d1e-4b8f-a2c4-1e5d7b9f0a13-", "/hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a1g",
        "/hostess/peers/../peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7", "",
    ]

    @Test("keys outside the layout name no Hostess", arguments: outside)
    func outsideKey(key: String) throws {
        let layout = try #require(EtcdDirectoryLayout(prefix: "/hostess/"))
        #expect(layout.hostessID(fromKey: Array(key.utf8)) == nil)
    }

    @Test("a key is made only for a hostessId", arguments: ["", "6F1C3A52-9D1E-4B8F-A2C4-1E5D7B9F0A13", "6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13/x", "../x"])
    func notAnID(id: String) throws {
        #expect(try #require(EtcdDirectoryLayout(prefix: "/hostess/")).peerKey(id) == nil)
    }

    static let rangeEnds: [([UInt8], [UInt8])] = [
        (Array("a/".utf8), Array("a0".utf8)), ([0x61, 0xFF], [0x62]), ([0x61, 0xFE], [0x61, 0xFF]), ([0xFF, 0xFF], [0]), ([], [0]),
    ]

    @Test("a prefix's range end: its last byte below 0xFF plus one, the rest dropped; [0] when there is none", arguments: rangeEnds)
    func rangeEnd(prefix: [UInt8], end: [UInt8]) {
        #expect(EtcdDirectoryLayout.rangeEnd(ofPrefix: prefix) == end)
    }
}
