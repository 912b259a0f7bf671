import HostessMesh
import HostessModel
import HostessSystem
import Testing

@Suite struct AnnouncementTests {
    // MARK: Layout

    static let smallJSON =
        #"{"type":"HOSTESS_ANNOUNCEMENT","version":1,"timestamp":1728677440000,"fqdn":"machine-a.local","#
        + #""hostessId":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","endpoint":"http://machine-a.local:8080","serverCount":1,"#
        + #""ttl":90,"sequence":7,"digest":"d7c379f242ce77ded2dae2b48d1efdb38b569391eca62f118fc2e031a0b79b6c","#
        + #""capabilities":[{"class":"0x0002","totalCount":1,"availableCount":1,"capabilities":["gpu","h264"]}],"#
        + #""connectionMethods":[{"type":"http","endpoint":"http://machine-a.local:8080","latency":8.0,"testedAt":1728677400000}],"#
        + #""summaryTruncated":false"#

    @Test("an unsigned packet's bytes, member by member")
    func layoutUnsigned() {
        let datagram = smallAnnouncement().encode(signingWith: nil)
        #expect(String(decoding: datagram, as: UTF8.self) == Self.smallJSON + "}")
    }

    @Test("a signed packet: keyId last, then LF and the HMAC-SHA256 of the JSON in lower-case hex (checked with Python's hmac)")
    func layoutSigned() {
        let datagram = smallAnnouncement().encode(signingWith: testKey)
        let expected = Self.smallJSON + #","keyId":"k1"}"# + "\n" + "afc494fefb5d5f8b2dbb4b4acafa32b68b9053edba6f24d9bd765646520c30e1"
        #expect(String(decoding: datagram, as: UTF8.self) == expected)
    }

    @Test("the digest is the SHA-256 of the canonical summary: classes and names sorted whatever the input order")
    func canonicalDigest() {
        let shuffled = [
            CapabilitySummary(classCode: ClassCode(9), totalCount: 1, availableCount: 0, capabilities: ["z"]),
            CapabilitySummary(classCode: ClassCode(2), totalCount: 1, availableCount: 1, capabilities: ["h264", "gpu"]),
        ]
        let canonical = #"[{"class":"0x0002","totalCount":1,"availableCount":1,"capabilities":["gpu","h264"]},"#
            + #"{"class":"0x0009","totalCount":1,"availableCount":0,"capabilities":["z"]}]"#
        #expect(String(decoding: CapabilitySummary.canonicalJSON(of: shuffled), as: UTF8.self) == canonical)
        #expect(CapabilitySummary.digest(of: shuffled) == Crypto.hex(Crypto.sha256(Array(canonical.utf8))))
        #expect(CapabilitySummary.digest(of: []) == "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945")
    }

    // MARK: Round trips

    @Test("decode(encode(a)) is a, signed and unsigned", arguments: [false, true])
    func roundTrip(signed: Bool) throws {
        let announcement = smallAnnouncement()
        let datagram = announcement.encode(signingWith: signed ? testKey : nil)
        let (decoded, keyID) = try Announcement.decode(datagram, keys: signed ? testKeys : nil, now: wallNow)
        #expect(decoded == announcement)
        #expect(keyID == (signed ? "k1" : nil))
        #expect(!decoded.summaryTruncated)
    }

    @Test("without keys a signed packet reads as unsigned data: the trailer is cut off and not checked")
    func signedWithoutKeys() throws {
        var datagram = smallAnnouncement().encode(signingWith: testKey)
        datagram[datagram.count - 1] = datagram[datagram.count - 1] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        let (decoded, keyID) = try Announcement.decode(datagram, keys: nil, now: 1)
        #expect(decoded == smallAnnouncement())
        #expect(keyID == nil)
    }

    @Test("an upper-case hostessId is read lower-cased")
    func uuidLowerCased() throws {
        let announcement = smallAnnouncement(hostessID: "6BA7B810-9DAD-11D1-80B4-00C04FD430C8")
        #expect(announcement.hostessID == "6ba7b810-9dad-11d1-80b4-00c04fd430c8")
    }

    // MARK: Truncation

    @Test("a summary too large for 1200 bytes is left out; the digest stays", arguments: [false, true])
    func truncation(signed: Bool) throws {
        let summary = bigSummary(classes: 40, names: 4)
        let announcement = smallAnnouncement(capabilities: summary)
        let datagram = announcement.encode(signingWith: signed ? testKey : nil)
        #expect(datagram.count <= Announcement.maximumBytes)
        let (decoded, _) = try Announcement.decode(datagram, keys: signed ? testKeys : nil, now: wallNow)
        #expect(decoded.summaryTruncated)
        #expect(decoded.capabilities == nil)
        #expect(decoded.digest == CapabilitySummary.digest(of: summary))
        #expect(decoded.connectionMethods == announcement.connectionMethods)
        let text = String(decoding: datagram, as: UTF8.self)
        #expect(text.contains(#""summaryTruncated":true"#))
        #expect(!text.contains(#""capabilities""#))
    }

    @Test("a class with more than 32 names is sent truncated even when it would fit the bytes")
    func truncationByBounds() throws {
        let names = (0..<33).map { "c\($0)" }
        let manyNames = [CapabilitySummary(classCode: ClassCode(1), totalCount: 1, availableCount: 1, capabilities: names)]
        let truncated = try Announcement.decode(smallAnnouncement(capabilities: manyNames).encode(signingWith: nil), keys: nil, now: wallNow)
        #expect(truncated.announcement.summaryTruncated)
        let fitting = [CapabilitySummary(classCode: ClassCode(1), totalCount: 1, availableCount: 1, capabilities: Array(names.prefix(32)))]
        let (decoded, _) = try Announcement.decode(smallAnnouncement(capabilities: fitting).encode(signingWith: nil), keys: nil, now: wallNow)
        #expect(decoded.capabilities == fitting)
    }

    @Test("connection methods past 8, or past what fits once truncated, are dropped from the end")
    func methodsDropped() throws {
        let long = String(repeating: "x", count: 240)
        let methods = (0..<10).map { ConnectionMethod(type: "tcp", endpoint: "tcp://\(long)\($0)", latency: 1.5, testedAt: 1) }
        let announcement = smallAnnouncement(capabilities: bigSummary(classes: 40, names: 4), connectionMethods: methods)
        let datagram = announcement.encode(signingWith: testKey)
        #expect(datagram.count <= Announcement.maximumBytes)
        let (decoded, _) = try Announcement.decode(datagram, keys: testKeys, now: wallNow)
        #expect(decoded.summaryTruncated)
        #expect(!decoded.connectionMethods.isEmpty)
        #expect(decoded.connectionMethods == Array(methods.prefix(decoded.connectionMethods.count)))
        let few = smallAnnouncement(connectionMethods: Array(methods.prefix(2)))
        #expect(try Announcement.decode(few.encode(signingWith: nil), keys: nil, now: wallNow).announcement.connectionMethods.count == 2)
    }

    @Test("the largest truncated announcement with the longest key id fits, signed")
    func worstCaseFits() throws {
        let label = String(repeating: "a", count: 63)
        let fqdn = [label, label, label, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(fqdn.utf8.count == 253)
        let host = String(fqdn.prefix(256 - 13))
        let announcement = try Announcement(
            timestamp: Int64.max, fqdn: fqdn, hostessID: uuid(1), endpoint: "http://\(host):65535", serverCount: Announcement.maximumCount,
            ttl: Announcement.maximumTTL, sequence: Int64.max, capabilities: bigSummary(classes: 100, names: 32))
        let key = try #require(MeshKey(id: String(repeating: "~", count: Announcement.maximumKeyIDBytes), secret: [1]))
        let datagram = announcement.encode(signingWith: key)
        #expect(datagram.count <= Announcement.maximumBytes)
        let decoded = try Announcement.decode(datagram, keys: MeshKeys(sending: key), now: Int64.max)
        #expect(decoded.announcement.summaryTruncated)
    }

    // MARK: Refusals

    /// A change to the unsigned small packet's JSON, the member it must be refused for, and why.
    struct Mutation: Sendable, CustomTestStringConvertible {
        let field: String?
        let label: String
        let apply: @Sendable (inout JSONObject) -> Void
        var testDescription: String { "\(field ?? "-"): \(label)" }

        init(_ field: String?, _ label: String, _ apply: @escaping @Sendable (inout JSONObject) -> Void) {
            self.field = field
            self.label = label
            self.apply = apply
        }

        /// Sets `key` to `value`.
        static func set(_ key: String, _ value: JSONValue, field: String? = nil, _ label: String) -> Mutation {
            Mutation(field ?? key, label) { $0[key] = value }
        }

        /// Sets member `key` of the first capability class.
        static func setClass(_ key: String, _ value: JSONValue, field: String? = nil, _ label: String) -> Mutation {
            Mutation(field ?? "capabilities[0].\(key)", label) { object in
                guard case .array(var classes)? = object["capabilities"], case .object(var first)? = classes.first else { return }
                first[key] = value
                classes[0] = .object(first)
                object["capabilities"] = .array(classes)
            }
        }

        /// Sets member `key` of the first connection method.
        static func setMethod(_ key: String, _ value: JSONValue, _ label: String) -> Mutation {
            Mutation("connectionMethods[0].\(key)", label) { object in
                guard case .array(var methods)? = object["connectionMethods"], case .object(var first)? = methods.first else { return }
                first[key] = value
                methods[0] = .object(first)
                object["connectionMethods"] = .array(methods)
            }
        }
    }

    static let method: JSONValue = ["type": "http", "endpoint": "http://a:1", "latency": 1, "testedAt": 1]

    static let mutations: [Mutation] = [
        .set("type", "CAPABILITY_ADVERTISEMENT", "another type"),
        .set("type", 1, "type not a string"),
        .set("version", 2, "another version"),
        .set("version", "1", "version a string"),
        .set("timestamp", 0, "timestamp 0"),
        .set("timestamp", -5, "negative timestamp"),
        .set("timestamp", 1.5, "fractional timestamp"),
        .set("timestamp", .null, "null timestamp"),
        .set("fqdn", "", "empty fqdn"),
        .set("fqdn", "bad_host", "fqdn with '_'"),
        .set("fqdn", .string(String(repeating: "a.", count: 127) + "a"), "fqdn of 255 bytes"),
        .set("fqdn", "[::1", "unclosed IPv6"),
        .set("hostessId", "hostess-uuid-1234", "not a UUID"),
        .set("hostessId", "6ba7b810-9dad-11d1-80b4-00c04fd430cg", "UUID with 'g'"),
        .set("hostessId", "6ba7b8109dad-11d1-80b4-00c04fd430c8-", "UUID with a misplaced '-'"),
        .set("endpoint", "https://a:1", "https endpoint"),
        .set("endpoint", "http://a", "endpoint without port"),
        .set("endpoint", "http://a:0", "port 0"),
        .set("endpoint", "http://a:65536", "port 65536"),
        .set("endpoint", "http://a:080", "port with leading zero"),
        .set("endpoint", "http://a:80/servers", "endpoint with a path"),
        .set("endpoint", "http://::1:80", "unbracketed IPv6"),
        .set("endpoint", .string("http://" + String(repeating: "a.", count: 125) + "a:80"), "endpoint over 256 bytes"),
        .set("serverCount", -1, "negative serverCount"),
        .set("serverCount", 1_000_001, "serverCount over a million"),
        .set("ttl", -1, "negative ttl"),
        .set("ttl", 86_401, "ttl over a day"),
        .set("sequence", -1, "negative sequence"),
        .set("sequence", 1e30, "sequence out of Int64"),
        .set("digest", "D7C379F242CE77DED2DAE2B48D1EFDB38B569391ECA62F118FC2E031A0B79B6C", "upper-case digest"),
        .set("digest", "d7c3", "short digest"),
        .set("digest", "0000000000000000000000000000000000000000000000000000000000000000", "digest not of the summary"),
        .set("summaryTruncated", "no", "summaryTruncated a string"),
        .set("summaryTruncated", true, field: "capabilities", "capabilities present though truncated"),
        Mutation("capabilities", "capabilities missing though not truncated") { $0["capabilities"] = nil },
        Mutation("digest", "digest missing") { $0["digest"] = nil },
        Mutation("connectionMethods", "connectionMethods missing") { $0["connectionMethods"] = nil },
        Mutation("summaryTruncated", "summaryTruncated missing") { $0["summaryTruncated"] = nil },
        .set("extra", 1, "unknown member"),
        .set("keyId", "", "empty keyId"),
        .set("keyId", "a b", "keyId with a space"),
        .set("keyId", .string(String(repeating: "k", count: 129)), "keyId over 128 bytes"),
        .set("capabilities", .object([:]), "capabilities an object"),
        .set("capabilities", .array([1]), field: "capabilities[0]", "class not an object"),
        .set("capabilities", .array(Array(repeating: .object([:]), count: 65)), "65 classes"),
        .set(
            "capabilities",
            .array([
                ["class": "0x0002", "totalCount": 1, "availableCount": 1, "capabilities": []],
                ["class": "0x0002", "totalCount": 1, "availableCount": 1, "capabilities": []],
            ]), field: "capabilities[1].class", "a class twice"),
        .setClass("class", "0x2", "class of one digit"),
        .setClass("class", "2", "class without 0x"),
        .setClass("totalCount", 1_000_001, "totalCount over a million"),
        .setClass("availableCount", 2, "availableCount over totalCount"),
        .setClass("availableCount", -1, "negative availableCount"),
        .setClass("capabilities", .array(Array(repeating: "x", count: 33)), field: "capabilities[0].capabilities", "33 names"),
        .setClass("capabilities", ["gpu", 5], field: "capabilities[0].capabilities[1]", "a name not a string"),
        .setClass("capabilities", ["gpu", "gpu"], field: "capabilities[0].capabilities[1]", "a name twice"),
        .setClass("capabilities", ["gpu", ""], field: "capabilities[0].capabilities[1]", "empty name"),
        .setClass("capabilities", ["gpu", "h 264"], field: "capabilities[0].capabilities[1]", "name with a space"),
        .setClass("capabilities", ["gpu", .string(String(repeating: "c", count: 65))], field: "capabilities[0].capabilities[1]", "name over 64 bytes"),
        .setClass("extra", 1, "unknown class member"),
        .set("connectionMethods", .array(Array(repeating: method, count: 9)), "9 connection methods"),
        .set("connectionMethods", .array(["http"]), field: "connectionMethods[0]", "method not an object"),
        .setMethod("type", "", "empty type"),
        .setMethod("type", .string(String(repeating: "t", count: 17)), "type over 16 bytes"),
        .setMethod("type", "web socket", "type with a space"),
        .setMethod("endpoint", "", "empty method endpoint"),
        .setMethod("endpoint", "tcp://a\u{7F}", "method endpoint with DEL"),
        .setMethod("endpoint", "tcp://é", "method endpoint not ASCII"),
        .setMethod("endpoint", .string(String(repeating: "e", count: 257)), "method endpoint over 256 bytes"),
        .setMethod("latency", -0.5, "negative latency"),
        .setMethod("latency", 600_000.5, "latency over ten minutes"),
        .setMethod("latency", "8", "latency a string"),
        .setMethod("testedAt", 0, "testedAt 0"),
        .setMethod("extra", true, "unknown method member"),
    ]

    @Test("every member out of its bounds is malformed, naming it", arguments: mutations)
    func refusal(_ mutation: Mutation) {
        var object = jsonObject(smallAnnouncement())
        mutation.apply(&object)
        let datagram = JSONValue.object(object).jsonBytes
        #expect(datagram.count <= Announcement.maximumBytes)
        #expect(throws: AnnouncementError.self) { try Announcement.decode(datagram, keys: nil, now: wallNow) }
        do {
            _ = try Announcement.decode(datagram, keys: nil, now: wallNow)
        } catch {
            #expect(error.reason == .malformed, "\(error)")
            #expect(error.field == mutation.field, "\(error)")
        }
    }

    @Test("bytes that are not a JSON object are malformed", arguments: ["", "[]", "\"x\"", "{", "{\"type\":1,\"type\":1}", "{} {}", "\u{FF}"])
    func notAnObject(_ text: String) {
        #expect(throws: AnnouncementError(.malformed, reasonOf(text), field: nil)) {
            try Announcement.decode(bytes(text), keys: nil, now: wallNow)
        }
    }

    private func bytes(_ text: String) -> [UInt8] { text == "\u{FF}" ? [0xFF] : Array(text.utf8) }

    private func reasonOf(_ text: String) -> String {
        do {
            let value = try JSONParser.parse(bytes(text))
            return "expected a JSON object, found \(value.typeName)"
        } catch { return error.description }
    }

    @Test("a datagram over 1200 bytes is too large, before anything else is read")
    func tooLarge() {
        #expect(throws: AnnouncementError(.tooLarge, "1201 bytes; at most 1200")) {
            try Announcement.decode(Array(repeating: 0x20, count: 1201), keys: nil, now: wallNow)
        }
    }

    // MARK: Signatures

    static func dropReason(_ datagram: [UInt8], keys: MeshKeys? = testKeys, now: Int64 = wallNow) -> (DropReason?, String?) {
        do {
            _ = try Announcement.decode(datagram, keys: keys, now: now)
            return (nil, nil)
        } catch { return (error.reason, error.field) }
    }

    @Test("a forged MAC, a changed byte under a good MAC, or another secret is a bad signature")
    func forged() throws {
        var datagram = smallAnnouncement().encode(signingWith: testKey)
        let last = datagram.count - 1
        datagram[last] = datagram[last] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
        #expect(Self.dropReason(datagram) == (.badSignature, "signature"))

        var body = smallAnnouncement().encode(signingWith: testKey)
        let position = try #require(body.firstIndex(of: UInt8(ascii: "7")))
        body[position] = UInt8(ascii: "8")
        #expect(Self.dropReason(body) == (.badSignature, "signature"))

        let impostor = try #require(MeshKey(id: "k1", secret: Array("guess".utf8)))
        #expect(Self.dropReason(smallAnnouncement().encode(signingWith: impostor)) == (.badSignature, "signature"))
    }

    @Test("a key id that is not accepted is an unknown key; an accepted one other than the sending key verifies")
    func unknownKey() throws {
        let other = try #require(MeshKey(id: "k2", secret: [9, 9]))
        let datagram = smallAnnouncement().encode(signingWith: other)
        #expect(Self.dropReason(datagram) == (.unknownKey, "keyId"))
        let accepting = MeshKeys(sending: testKey, accepted: ["k2": [9, 9]])
        #expect(try Announcement.decode(datagram, keys: accepting, now: wallNow).keyID == "k2")
    }

    @Test("with keys, a packet without a trailer, or with a trailer but no keyId, is unsigned")
    func unsignedWithKeys() {
        #expect(Self.dropReason(smallAnnouncement().encode(signingWith: nil)) == (.unsigned, "signature"))
        let json = smallAnnouncement().encode(signingWith: nil)
        let trailer = Array("\n".utf8) + Array(Crypto.hex(Crypto.hmacSHA256(key: testKey.secret, message: json)).utf8)
        #expect(Self.dropReason(json + trailer) == (.unsigned, "keyId"))
        var upper = smallAnnouncement().encode(signingWith: testKey)
        for index in (upper.count - 64)..<upper.count where upper[index] >= UInt8(ascii: "a") { upper[index] -= 32 }
        #expect(Self.dropReason(upper).0 == .unsigned)
    }

    @Test("a signed timestamp may be 300 s either side of now, not a millisecond more", arguments: [-300_001, -300_000, 0, 300_000, 300_001] as [Int64])
    func staleBoundaries(offset: Int64) {
        let datagram = smallAnnouncement(timestamp: wallNow + offset).encode(signingWith: testKey)
        let expected: DropReason? = abs(offset) > 300_000 ? .stale : nil
        #expect(Self.dropReason(datagram).0 == expected)
        #expect(Self.dropReason(datagram, keys: nil).0 == nil, "unsigned mode does not judge clocks")
    }

    @Test("clocks at the ends of Int64 are stale, not a trap")
    func staleExtremes() {
        let datagram = smallAnnouncement(timestamp: Int64.max).encode(signingWith: testKey)
        #expect(Self.dropReason(datagram, now: Int64.min) == (.stale, "timestamp"))
        #expect(Self.dropReason(smallAnnouncement(timestamp: 1).encode(signingWith: testKey), now: Int64.max) == (.stale, "timestamp"))
    }

    // MARK: Sender's checks

    @Test("the sender's initializer holds members to the decoder's bounds")
    func senderChecks() {
        #expect(throws: AnnouncementError.self) {
            try Announcement(timestamp: 1, fqdn: "a", hostessID: "x", endpoint: "http://a:1", serverCount: 0, ttl: 0, sequence: 0, capabilities: [])
        }
        #expect(throws: AnnouncementError.self) {
            try Announcement(timestamp: 1, fqdn: "a", hostessID: uuid(1), endpoint: "http://a:1", serverCount: 0, ttl: 86_401, sequence: 0, capabilities: [])
        }
        #expect(MeshKey(id: "", secret: [1]) == nil)
        #expect(MeshKey(id: "a\"b", secret: [1]) == nil)
        #expect(MeshKey(id: "a", secret: []) == nil)
    }
}
