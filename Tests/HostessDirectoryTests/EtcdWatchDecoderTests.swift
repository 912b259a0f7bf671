import HostessDirectory
import HostessModel
import HostessTestSupport
import Testing

// MARK: - Values in the fixtures

private let clusterID: UInt64 = 16_852_641_557_184_054_374
private let leaseID: Int64 = 3_777_009_619_394_468_870
private let first = "6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13"
private let second = "0b7e2d94-53a1-4c6f-9e08-d2a4f61b3c57"
private let value = Array(#"{"type":"HOSTESS_ANNOUNCEMENT","hostessId":"6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13","ttl":30}"#.utf8)
private let layout = EtcdDirectoryLayout(prefix: "/hostess/")

private func header(_ revision: Int64) -> EtcdHeader { EtcdHeader(clusterID: clusterID, revision: revision) }

/// The key of `id` in the fixtures' layout.
private func key(_ id: String) -> [UInt8] { layout?.peerKey(id) ?? [] }

/// A watch response in one object, `result` holding `members`.
private func responseObject(_ members: String) -> String { #"{"result":{"header":{"revision":"9"}"# + members + "}}\n" }

// MARK: - Watch streams

@Suite struct EtcdWatchDecoderTests {
    @Test("a watch from a revision: created, the backlog, a put, deletes; PUT is the type etcd leaves out")
    func events() throws {
        let (responses, error) = watchResponses(try Fixture.streamBody("watch")) { $0 }
        #expect(error == nil)
        let put = { (id: String, value: [UInt8], created: Int64, modified: Int64, version: Int64) in
            EtcdWatchEvent(
                kind: .put, kv: EtcdKeyValue(key: key(id), value: value, createRevision: created, modRevision: modified, version: version, lease: id == first ? leaseID : 0))
        }
        let delete = { (id: String, revision: Int64) in
            EtcdWatchEvent(kind: .delete, kv: EtcdKeyValue(key: key(id), value: [], createRevision: 0, modRevision: revision, version: 0, lease: 0))
        }
        #expect(
            responses == [
                EtcdWatchResponse(header: header(3), created: true),
                EtcdWatchResponse(header: header(3), events: [put(first, value, 2, 2, 1), put(second, [], 3, 3, 1)]),
                EtcdWatchResponse(header: header(4), events: [put(first, value, 2, 4, 2)]),
                EtcdWatchResponse(header: header(5), events: [delete(second, 5)]),
                EtcdWatchResponse(header: header(6), events: [delete(first, 6)]),
            ])
        // A watch from revision 2 resumes after each response's last event, never before.
        var resume: Int64 = 2
        var resumes: [Int64] = []
        for response in responses {
            #expect(response.cancellation == nil)
            resume = response.resumeRevision(from: resume)
            resumes.append(resume)
        }
        #expect(resumes == [2, 4, 5, 6, 7])
    }

    static let cancellations: [(String, EtcdError, Int64)] = [
        ("watch-compacted", .compacted(compactRevision: 4), 0),
        ("watch-no-token", .unauthenticated(message: "etcdserver: user name is empty"), -1),
        ("watch-bad-token", .unauthenticated(message: "etcdserver: invalid auth token"), -1),
        ("watch-denied", .permissionDenied(message: "etcdserver: permission denied"), -1),
    ]

    @Test("a canceled watch: compaction, or a refusal etcd writes as a gRPC error in cancel_reason", arguments: cancellations)
    func canceled(name: String, cancellation: EtcdError, watchID: Int64) throws {
        let (responses, error) = watchResponses(try Fixture.streamBody(name)) { $0 }
        #expect(error == nil)
        let last = try #require(responses.last)
        #expect(last.canceled)
        #expect(last.watchID == watchID)
        #expect(last.cancellation == cancellation)
        #expect(last.resumeRevision(from: 2) == 2)
        if case .compacted = cancellation {
            #expect(responses.first?.created == true)
            #expect(last.header.revision == 0, "etcd sends the compaction without a revision")
        } else {
            #expect(responses.count == 1 && last.created, "a refused watch is created and canceled at once")
        }
    }

    @Test("the stream's error object ends it: thrown, and thrown again")
    func streamError() throws {
        var decoder = EtcdWatchDecoder()
        decoder.append(try Fixture.streamBody("watch-server-stopped"))
        #expect(try decoder.next()?.created == true)
        let error = EtcdError.server(code: 14, message: "transport is closing")
        #expect(throws: error) { try decoder.next() }
        #expect(throws: error) { try decoder.next() }
        #expect(throws: error) { try decoder.finish() }
    }

    @Test("cancel reasons that are not a gRPC error, and the resume revision of progress notifications and of a watch from now")
    func reasonsAndResumes() throws {
        let canceled = EtcdWatchResponse(header: header(0), canceled: true, cancelReason: "rpc error: code = Bogus desc = x")
        #expect(canceled.cancellation == .watchCanceled(reason: "rpc error: code = Bogus desc = x"))
        #expect(EtcdWatchResponse(header: header(0), canceled: true).cancellation == .watchCanceled(reason: "etcd gave no reason"))
        let progress = EtcdWatchResponse(header: header(40))
        #expect(progress.resumeRevision(from: 12) == 41)
        #expect(progress.resumeRevision(from: 50) == 50)
        let created = EtcdWatchResponse(header: header(40), created: true)
        #expect(created.resumeRevision(from: 0) == 41)
        #expect(created.resumeRevision(from: 12) == 12)
        #expect(EtcdWatchResponse(header: header(.max)).resumeRevision(from: 1) == .max)
    }

    // MARK: Splits

    static let streams = ["watch", "watch-compacted", "watch-no-token", "watch-server-stopped"]

    @Test("split at every byte, and byte by byte, a stream gives the same responses and the same error", arguments: streams)
    func everySplit(name: String) throws {
        let bytes = try Fixture.streamBody(name)
        let whole = watchResponses(bytes) { $0 }
        #expect(!whole.responses.isEmpty)
        for cut in 0...bytes.count {
            var sizes = [cut, bytes.count]
            let split = watchResponses(bytes) { _ in sizes.removeFirst() }
            #expect(split.responses == whole.responses && split.error == whole.error, "cut at \(cut)")
        }
        let single = watchResponses(bytes) { _ in 1 }
        #expect(single.responses == whole.responses && single.error == whole.error)
    }

    @Test("strings with braces, brackets, quotes and escapes do not end an object early")
    func strings() throws {
        let reason = #"a \"}\" ] } { [ \\"#
        let text = responseObject(#","canceled":true,"cancel_reason":"\#(reason)""#) + responseObject(#","created":true"#)
        let (responses, error) = watchResponses(Array(text.utf8)) { _ in 1 }
        #expect(error == nil)
        #expect(responses.map(\.cancelReason) == [#"a "}" ] } { [ \"#, ""])
        #expect(responses.last?.created == true)
    }

    // MARK: Refusals

    static let garbage: [(String, String, EtcdError)] = [
        ("not an object", "[1]", .badReply(field: nil, reason: "the watch stream has byte 0x5b where a JSON object should begin")),
        ("bytes before", "x{}", .badReply(field: nil, reason: "the watch stream has byte 0x78 where a JSON object should begin")),
        ("bytes after", responseObject("") + "garbage", .badReply(field: nil, reason: "the watch stream has byte 0x67 where a JSON object should begin")),
        ("NUL", "\u{0}", .badReply(field: nil, reason: "the watch stream has byte 0x0 where a JSON object should begin")),
        ("mismatched", "{]", .badReply(field: nil, reason: "a watch response is not JSON: invalid JSON at byte 1: expected a string key")),
        ("invalid JSON", #"{"result":{,}}"#, .badReply(field: nil, reason: "a watch response is not JSON: invalid JSON at byte 11: expected a string key")),
        (
            "nested too deep", #"{"result":"# + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}",
            .badReply(field: nil, reason: "a watch response is not JSON: invalid JSON at byte 73: nesting deeper than 64")
        ),
        ("no result", #"{"a":1}"#, .badReply(field: "result", reason: "required field is missing")),
        ("no header", #"{"result":{}}"#, .badReply(field: "result.header", reason: "required field is missing")),
        ("no revision", #"{"result":{"header":{},"created":true}}"#, .badReply(field: "result.header.revision", reason: "required field is missing")),
        ("created as a string", responseObject(#","created":"true""#), .badReply(field: "result.created", reason: "expected true or false, found string")),
        ("events an object", responseObject(#","events":{}"#), .badReply(field: "result.events", reason: "expected an array, found object")),
        ("an event without kv", responseObject(#","events":[{"type":"PUT"}]"#), .badReply(field: "result.events[0].kv", reason: "required field is missing")),
        ("an unknown type", responseObject(#","events":[{"type":"PATCH","kv":{"key":"YQ==","mod_revision":"3"}}]"#), .badReply(field: "result.events[0].type", reason: "'PATCH' is neither PUT nor DELETE")),
        ("a type as a number", responseObject(#","events":[{"type":1,"kv":{"key":"YQ==","mod_revision":"3"}}]"#), .badReply(field: "result.events[0].type", reason: "expected a string, found number")),
        ("a key not base64", responseObject(#","events":[{"kv":{"key":"YQ=","mod_revision":"3"}}]"#), .badReply(field: "result.events[0].kv.key", reason: "not base64 at byte 3: the length 3 is not a multiple of 4")),
        ("no mod_revision", responseObject(#","events":[{"kv":{"key":"YQ=="}}]"#), .badReply(field: "result.events[0].kv.mod_revision", reason: "required field is missing")),
        ("a bad prev_kv", responseObject(#","events":[{"kv":{"key":"YQ==","mod_revision":"3"},"prev_kv":{"key":""}}]"#), .badReply(field: "result.events[0].prev_kv.key", reason: "required field is missing")),
        ("compact_revision negative", responseObject(#","canceled":true,"compact_revision":"-4""#), .badReply(field: "result.compact_revision", reason: "-4 is outside 0...9223372036854775807")),
        ("watch_id too low", responseObject(#","watch_id":"-2""#), .badReply(field: "result.watch_id", reason: "-2 is outside -1...9223372036854775807")),
        ("a stream error without a code", #"{"error":{"message":"m"}}"#, .badReply(field: "error.grpc_code", reason: "required field is missing")),
    ]

    @Test("garbage is refused, naming what is wrong, and the refusal sticks", arguments: garbage)
    func refuses(name: String, text: String, error: EtcdError) {
        var decoder = EtcdWatchDecoder()
        decoder.append(Array(text.utf8))
        #expect(throws: error, "\(name)") {
            while try decoder.next() != nil {}
        }
        decoder.append(Array(responseObject("").utf8))
        #expect(throws: error, "\(name)") { try decoder.next() }
    }

    @Test("invalid UTF-8 in a string is refused as not JSON")
    func invalidUTF8() {
        var decoder = EtcdWatchDecoder()
        decoder.append(Array(#"{"result":{"header":{"revision":"1"},"cancel_reason":""#.utf8) + [0xFF, 0xFE] + Array(#""}}"#.utf8))
        #expect(throws: EtcdError.badReply(field: nil, reason: "a watch response is not JSON: invalid JSON at byte 56: string is not valid UTF-8")) { try decoder.next() }
    }

    @Test("a stream that ends inside a response is refused at its end; one that ends between responses is not")
    func finish() throws {
        let object = Array(responseObject(#","created":true"#).utf8)
        var decoder = EtcdWatchDecoder()
        decoder.append(object + object.prefix(10))
        #expect(try decoder.next()?.created == true)
        #expect(try decoder.next() == nil)
        #expect(throws: EtcdError.badReply(field: nil, reason: "the watch stream ended inside a response, after 10 bytes of it")) { try decoder.finish() }
        var whole = EtcdWatchDecoder()
        whole.append(object + Array(" \r\n\t".utf8))
        #expect(try whole.next() != nil)
        #expect(try whole.next() == nil)
        try whole.finish()
    }

    // MARK: Limits

    @Test("a response at the size limit is read; one byte more is refused as soon as it arrives, whatever follows")
    func sizeLimit() throws {
        let object = Array(responseObject(#","cancel_reason":"\#(String(repeating: "r", count: 300))""#).utf8.dropLast())
        let atLimit = watchResponses(object + [0x0A], maximumObjectBytes: object.count) { _ in 17 }
        #expect(atLimit.error == nil && atLimit.responses.count == 1)
        let over = watchResponses(object, maximumObjectBytes: object.count - 1) { _ in 1 }
        #expect(over.error == .responseTooLarge(limit: object.count - 1))
        // An object that never closes is refused after the limit, not held.
        var decoder = EtcdWatchDecoder(maximumObjectBytes: 1 << 16)
        decoder.append(Array("{\"result\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20))
        #expect(throws: EtcdError.responseTooLarge(limit: 1 << 16)) { try decoder.next() }
        // White space between responses does not count toward it.
        let spaced = [UInt8](repeating: 0x20, count: 1000) + object + [UInt8](repeating: 0x0A, count: 1000) + object
        #expect(watchResponses(spaced, maximumObjectBytes: object.count) { _ in 333 }.responses.count == 2)
    }

    // MARK: Fuzzing

    @Test("2,000 seeded mutations of real streams, and random bytes, never trap and give the same result however they are split")
    func mutations() throws {
        let streams = try Self.streams.map { (name) throws in try Fixture.streamBody(name) }
        var random = SplitMix64(seed: 0xE7CD_0017)
        let alphabet: [UInt8] = Array("{}[]\":,\\ \n0123456789-eE.truefalsnul".utf8) + [0, 0x7F, 0xC3, 0xFF]
        var mismatches = 0
        for round in 0..<2000 {
            // One round in ten is bytes at random; the others, a real stream with a few bytes changed.
            var input = round % 10 == 0 ? (0..<random.below(300)).map { _ in random.pick(alphabet) } : random.pick(streams)
            for _ in 0..<(1 + random.below(4)) {
                let position = random.below(input.count + 1)
                switch random.below(4) {
                case 0 where position < input.count: input[position] = random.pick(alphabet)
                case 1: input.insert(random.pick(alphabet), at: position)
                case 2 where position < input.count: input.remove(at: position)
                default: input = Array(input[..<position])
                }
            }
            let whole = watchResponses(input, maximumObjectBytes: 600) { $0 }
            if case .badReply(_, let reason)? = whole.error, reason.isEmpty { Issue.record("an empty reason") }
            if let error = whole.error, error.description.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                Issue.record("a control character in \(error.description.debugDescription)")
            }
            let split = watchResponses(input, maximumObjectBytes: 600) { left in random.below(left + 1) }
            if split.responses != whole.responses || split.error != whole.error {
                mismatches += 1
                if mismatches <= 5 { Issue.record("a split changed the result for \(String(decoding: input, as: UTF8.self).debugDescription)") }
            }
        }
        #expect(mismatches == 0)
    }

    // MARK: Linearity

    /// Streams that grow in one direction: more responses, or larger ones.
    enum Shape: String, CaseIterable, CustomTestStringConvertible {
        case manyResponses
        case largeResponse

        var testDescription: String { rawValue }

        /// The stream at `scale`: `400 × scale` responses of one event, or one response of `400 × scale` events.
        func stream(scale: Int) -> [UInt8] {
            let event = #"{"kv":{"key":"L2hvc3Rlc3MvcGVlcnMvNmYxYzNhNTItOWQxZS00YjhmLWEyYzQtMWU1ZDdiOWYwYTEz","create_revision":"2","mod_revision":"4","version":"2","value":"eyJ0eXBlIjoiSE9TVEVTU19BTk5PVU5DRU1FTlQiLCJ0dGwiOjMwfQ==","lease":"3777009619394468870"}}"#
            let (responses, events) = self == .manyResponses ? (400 * scale, 1) : (1, 400 * scale)
            let response = responseObject(#","events":["# + Array(repeating: event, count: events).joined(separator: ",") + "]")
            return Array(String(repeating: response, count: responses).utf8)
        }
    }

    @Test("decoding time is linear in the input however it is split: 8× the bytes take less than 24× the time", arguments: Shape.allCases)
    func linear(shape: Shape) {
        let small = shape.stream(scale: 1)
        let large = shape.stream(scale: 8)
        let clock = ContinuousClock()
        var best = (small: Duration.seconds(3600), large: Duration.seconds(3600))
        for _ in 0..<5 {
            best.small = min(best.small, clock.measure { #expect(watchResponses(small) { _ in 7 }.error == nil) })
            best.large = min(best.large, clock.measure { #expect(watchResponses(large) { _ in 7 }.error == nil) })
        }
        #expect(best.large < best.small * 24, "\(shape): \(large.count) bytes took \(best.large), \(small.count) took \(best.small)")
    }
}
