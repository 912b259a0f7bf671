@testable import HostessModel
import HostessTestSupport
import Testing

// MARK: - The tree path

/// What a client makes of bytes without the fast path: ``JSONParser``, the reply's envelope as
/// `ProtocolConnection` reads it, and ``GuestBookEntry/init(json:)`` for each entry.
enum TreePath {
    /// A reply line's id, revision and `result`, or nil when the client would not take it as a success reply.
    static func envelope(_ line: [UInt8]) -> (id: Int64, revision: UInt64, result: JSONObject)? {
        guard case .object(let object)? = try? JSONParser.parse(line), object["error"].flatMap(HostessError.init(json:)) == nil,
            case .int(let id)? = object["id"]
        else { return nil }
        let revision: UInt64
        if case .int(let value)? = object["revision"], value >= 0 { revision = UInt64(value) } else { revision = 0 }
        return (id, revision, object["result"]?.objectValue ?? [:])
    }

    /// The reply as a request of `payload`'s kind reads it (`listAll` for entries, `getServer` for an entry).
    static func reply(_ line: [UInt8], like payload: EntryReply.Payload) -> EntryReply? {
        guard let (id, revision, result) = envelope(line) else { return nil }
        switch payload {
        case .entries:
            guard case .array(let items)? = result["entries"], let entries = list(items) else { return nil }
            return EntryReply(id: id, revision: revision, payload: .entries(entries))
        case .entry:
            guard let entry = try? GuestBookEntry(json: result["entry"] ?? .null) else { return nil }
            return EntryReply(id: id, revision: revision, payload: .entry(entry))
        }
    }

    /// A document of one entry.
    static func entry(_ bytes: [UInt8]) -> GuestBookEntry? {
        guard let value = try? JSONParser.parse(bytes) else { return nil }
        return try? GuestBookEntry(json: value)
    }

    /// A document of an array of entries.
    static func list(_ bytes: [UInt8]) -> [GuestBookEntry]? {
        guard case .array(let items)? = try? JSONParser.parse(bytes) else { return nil }
        return list(items)
    }

    private static func list(_ items: [JSONValue]) -> [GuestBookEntry]? {
        var entries: [GuestBookEntry] = []
        for item in items {
            guard let entry = try? GuestBookEntry(json: item) else { return nil }
            entries.append(entry)
        }
        return entries
    }
}

// MARK: - Agreement

/// The entries' wire form, byte for byte: equal values that are not the same scalars (canonically equivalent
/// strings compare equal) would differ here.
private func wire(_ entries: [GuestBookEntry]) -> [UInt8] { JSONValue.array(entries.map(\.json)).jsonBytes }

private func wire(_ reply: EntryReply) -> [UInt8] {
    switch reply.payload {
    case .entries(let entries): wire(entries)
    case .entry(let entry): entry.json.jsonBytes
    }
}

/// Reads `line` both ways and checks that where the fast path reads a reply, the tree reads the same one, to
/// the byte: so a client that falls back to the tree whenever the fast path declines gets the tree's answer,
/// always. Returns what the fast path read.
@discardableResult
private func expectAgreement(_ line: [UInt8], _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> EntryReply? {
    guard let fast = EntryReply(line: line) else { return nil }
    let tree = TreePath.reply(line, like: fast.payload)
    #expect(tree == fast, comment, sourceLocation: sourceLocation)
    #expect(tree.map(wire) == wire(fast), comment, sourceLocation: sourceLocation)
    return fast
}

/// The same for a document of one entry and for an array of entries.
private func expectDocumentAgreement(_ bytes: [UInt8], _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
    if let fast = GuestBookEntry(wireForm: bytes) {
        #expect(TreePath.entry(bytes) == fast, comment, sourceLocation: sourceLocation)
        #expect(TreePath.entry(bytes)?.json.jsonBytes == fast.json.jsonBytes, comment, sourceLocation: sourceLocation)
    }
    if let fast = GuestBookEntry.list(wireForm: bytes) {
        #expect(TreePath.list(bytes) == fast, comment, sourceLocation: sourceLocation)
        #expect(TreePath.list(bytes).map(wire) == wire(fast), comment, sourceLocation: sourceLocation)
    }
}

// MARK: - Fixtures

/// A reply line carrying `entries` (JSON text of each), as hostessd writes one.
private func listReply(_ entries: [String], id: Int64 = 7, revision: UInt64 = 42) -> [UInt8] {
    Array(#"{"id":\#(id),"revision":\#(revision),"result":{"entries":[\#(entries.joined(separator: ","))]}}"#.utf8)
}

/// A reply line carrying one entry (JSON text), as hostessd writes a `getServer` reply.
private func entryReply(_ entry: String, id: Int64 = 7, revision: UInt64 = 42) -> [UInt8] {
    Array(#"{"id":\#(id),"revision":\#(revision),"result":{"entry":\#(entry)}}"#.utf8)
}

private func text(_ entry: GuestBookEntry) -> String { entry.json.jsonText }

private let uuid = "123e4567-e89b-12d3-a456-426614174000"
private let plainID = "host.example:pty-server:0x0001:alice:yes:tls-cert:\(uuid)"
/// The `terminals` member of ``entryText(replacing:extra:)``.
private let terminalsText =
    #""terminals":{"stdin":{"direction":"input","multiplexing":"none","protocol":"raw-bytes","inUse":false,"connectedTo":[],"metadata":{}},"#
    + #""out":{"direction":"output","multiplexing":"fanout","inUse":true,"connectedTo":["c1","c2"],"metadata":{"k":1}}}"#

/// An entry's JSON text as `GuestBookEntry.json` writes it for `plainID`, with `replacing` pairs applied
/// (member text for member text) and `extra` members appended.
private func entryText(replacing pairs: [(String, String)] = [], extra: String = "") -> String {
    var text =
        #"{"id":"\#(plainID)","fqdn":"host.example","servername":"pty-server","class":"0x0001","owner":"alice","uuid":"\#(uuid)","#
        + #""authentication":{"required":"yes","mechanism":"tls-cert"},"# + terminalsText + ","
        + #""registeredAt":1795704365151,"lastHeartbeat":1795704365152,"metadata":{"version":"1.0.0"},"capabilities":["pty","vt100"],"#
        + #""serial":3,"session":false,"reservedBy":null}"#
    for (old, new) in pairs {
        precondition(text.contains(old), "fixture has no \(old)")
        text = text.replacing(old, with: new)
    }
    if !extra.isEmpty { text = String(text.dropLast()) + "," + extra + "}" }
    return text
}

// MARK: - Samples

/// Entries that between them use every member and every kind of value the wire form carries.
enum Sample: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case plain, extensions, ipv4, ipv6, unicode, escapes, empty, reserved, extremes, nestedMetadata, busyTerminals

    var testDescription: String { rawValue }

    func entry() throws -> GuestBookEntry {
        let name = try ServerName(parsing: plainID)
        var terminals = [try Terminal(name: "stdin", direction: .input, multiplexing: .none, protocol: "raw-bytes")]
        var capabilities = ["pty", "vt100"]
        var metadata: JSONObject = ["version": "1.0.0"]
        var entry = GuestBookEntry(
            name: name, terminals: terminals, capabilities: capabilities, metadata: metadata, registeredAt: 1_795_704_365_151,
            lastHeartbeat: 1_795_704_365_152, serial: 3, session: false)
        switch self {
        case .plain:
            break
        case .extensions:
            entry.name = try ServerName(
                fqdn: name.fqdn, servername: name.servername, classCode: name.classCode, owner: name.owner,
                authentication: name.authentication, authMechanism: name.authMechanism, uuid: name.uuid,
                extensions: ["v2", "zone=eu-1", "~!#"])
        case .ipv4:
            entry.name = try ServerName(parsing: "10.0.0.255:renderer:0xbeef:bob:optional:none:\(uuid)")
        case .ipv6:
            entry.name = try ServerName(parsing: "[fe80::1%eth0]:renderer:0x0002:bob:no:none:\(uuid):ext")
        case .unicode:
            capabilities = ["日本語", "é", "e\u{301}", "😀"]
            metadata = ["ключ": "значение", "😀": ["é": "e\u{301}"], "\u{10FFFF}": .string("\u{FFFF}")]
            terminals[0].connectedTo = ["connectome-é", "😀"]
            entry.capabilities = capabilities
            entry.metadata = metadata
            entry.terminals = terminals
            entry.reservedBy = "réservation-😀"
        case .escapes:
            let nasty = "quote \" backslash \\ slash / newline \n tab \t return \r nul \u{0} bell \u{7} delete \u{7F} end"
            entry.capabilities = [nasty, "\"", "\\"]
            entry.metadata = [nasty: .string(nasty), "\u{1}": ["\u{1F}": .string("\u{7F}")]]
            terminals[0].connectedTo = [nasty]
            terminals[0].metadata = ["k\"ey": .string("v\\alue")]
            entry.terminals = terminals
            entry.reservedBy = nasty
        case .empty:
            entry.terminals = []
            entry.capabilities = []
            entry.metadata = JSONObject()
        case .reserved:
            entry.reservedBy = "r-0001"
            entry.session = true
        case .extremes:
            entry.registeredAt = Int64.min
            entry.lastHeartbeat = Int64.max
            entry.serial = UInt64(Int64.max)
            entry.session = true
        case .nestedMetadata:
            entry.metadata = [
                "z": 1, "a": ["b": ["c": ["d": [1, 2.5, -0.0, 1e300, "x", nil, true, false, [], ["k": []]]]]],
                "ints": [.int(Int64.max), .int(Int64.min), 0, -1], "doubles": [0.1, .double(.leastNonzeroMagnitude), 1.7976931348623157e308],
            ]
        case .busyTerminals:
            let directions: [Terminal.Direction] = [.input, .output, .bidirectional]
            let multiplexings: [Terminal.Multiplexing] = [.none, .fanout, .fanin]
            let connections: [String] = (0..<Limits.connectionsPerTerminal).map { "c\($0)" }
            let metadata: JSONObject = ["index": 0, "list": [1, "2"]]
            entry.terminals = try (0..<Limits.terminals).map { (index: Int) throws(HostessError) -> Terminal in
                try Terminal(
                    name: "t\(index)", direction: directions[index % 3], multiplexing: multiplexings[index % 3],
                    protocol: index % 2 == 0 ? "p.\(index)" : nil, metadata: index % 4 == 0 ? metadata : JSONObject(),
                    connectedTo: index % 3 == 0 ? [] : connections)
            }
        }
        return entry
    }
}

// MARK: - Tests

@Suite struct EntryDecoderTests {
    // MARK: Round trips

    @Test("an entry reads back from its wire form in every shape: a list reply, an entry reply, a document, an array", arguments: Sample.allCases)
    func roundTrip(_ sample: Sample) throws {
        let entry = try sample.entry()
        let other = try Sample.plain.entry()
        let list = listReply([text(entry), text(other), text(entry)])
        let decoded = try #require(expectAgreement(list))
        #expect(decoded == EntryReply(id: 7, revision: 42, payload: .entries([entry, other, entry])))
        #expect(wire(decoded) == wire([entry, other, entry]))

        let single = try #require(expectAgreement(entryReply(text(entry), id: -3, revision: 0)))
        #expect(single == EntryReply(id: -3, revision: 0, payload: .entry(entry)))

        let document = entry.json.jsonBytes
        #expect(GuestBookEntry(wireForm: document) == entry)
        #expect(GuestBookEntry(wireForm: document)?.json.jsonBytes == document)
        #expect(GuestBookEntry.list(wireForm: Array("[\(text(entry)),\(text(other))]".utf8)) == [entry, other])
        expectDocumentAgreement(document)
    }

    @Test("an empty list, and replies with ids and revisions at their limits")
    func envelopes() throws {
        #expect(expectAgreement(listReply([])) == EntryReply(id: 7, revision: 42, payload: .entries([])))
        let entry = try Sample.plain.entry()
        for (id, revision) in [(Int64.min, UInt64(0)), (Int64.max, UInt64(Int64.max)), (0, 1)] {
            #expect(expectAgreement(listReply([text(entry)], id: id, revision: revision))?.id == id)
            #expect(expectAgreement(listReply([text(entry)], id: id, revision: revision))?.revision == revision)
        }
        #expect(GuestBookEntry.list(wireForm: Array(" [ ] ".utf8)) == [])
    }

    @Test("white space anywhere, members in any order and null members read as the tree reads them")
    func layout() throws {
        let spaced = " \t{ \"revision\" : 42 ,\r\n\"result\" :{ \"entries\": [ \n"
            + entryText().replacing(":", with: " : ").replacing(",\"", with: " ,\t\"")
            .replacing("host.example : pty-server : 0x0001 : alice : yes : tls-cert : ", with: "host.example:pty-server:0x0001:alice:yes:tls-cert:")
            + " ] } , \"id\" : 7 } \r"
        let decoded = try #require(expectAgreement(Array(spaced.utf8)))
        #expect(decoded.id == 7)

        // Members in reverse order, and every optional member null.
        let reordered = #"{"reservedBy":null,"session":null,"serial":null,"capabilities":null,"metadata":null,"lastHeartbeat":null,"#
            + #""registeredAt":null,"terminals":{"t":{"metadata":null,"connectedTo":null,"inUse":null,"protocol":null,"multiplexing":null,"#
            + #""name":null,"direction":"input"}},"authentication":null,"uuid":null,"owner":null,"class":null,"servername":null,"fqdn":null,"#
            + #""id":"\#(plainID)"}"#
        let entry = try #require(expectAgreement(listReply([reordered])))
        guard case .entries(let entries) = entry.payload else { return }
        #expect(entries.first?.terminals.first?.multiplexing == Terminal.Multiplexing.none)
        #expect(entries.first?.serial == 0)
        #expect(entries.first?.metadata == JSONObject())
    }

    // MARK: Names

    static let names: [String] = [
        plainID,
        "host.example:pty-server:0X00aB:alice:no:none:123E4567-E89B-12D3-A456-426614174ABC",
        "10.0.0.1:s:0x0001:o:optional:m:\(uuid)",
        "255.255.255.255:s:0x0001:o:no:m:\(uuid)",
        "256.1.1.1:s:0x0001:o:no:m:\(uuid)",
        "01.2.3.4:s:0x0001:o:no:m:\(uuid)",
        "1.2.3:s:0x0001:o:no:m:\(uuid)",
        "1.2.3.4.5:s:0x0001:o:no:m:\(uuid)",
        "a-b.c-d:s:0x0001:o:no:m:\(uuid)",
        "-a.b:s:0x0001:o:no:m:\(uuid)",
        "a-.b:s:0x0001:o:no:m:\(uuid)",
        "a..b:s:0x0001:o:no:m:\(uuid)",
        "a.b.:s:0x0001:o:no:m:\(uuid)",
        "\(String(repeating: "a", count: 63)).b:s:0x0001:o:no:m:\(uuid)",
        "\(String(repeating: "a", count: 64)).b:s:0x0001:o:no:m:\(uuid)",
        "\(Array(repeating: String(repeating: "a", count: 49), count: 5).joined(separator: ".")).com:s:0x0001:o:no:m:\(uuid)",
        "\(Array(repeating: String(repeating: "a", count: 50), count: 5).joined(separator: ".")).com:s:0x0001:o:no:m:\(uuid)",
        "[fe80::1]:s:0x0001:o:no:m:\(uuid)",
        "h:Server:0x0001:o:no:m:\(uuid)",
        "h:-s:0x0001:o:no:m:\(uuid)",
        "h:s.v_2-x:0x0001:o_.-:no:m.x_y-z:\(uuid)",
        "h:\(String(repeating: "s", count: 64)):0x0001:o:no:m:\(uuid)",
        "h:\(String(repeating: "s", count: 65)):0x0001:o:no:m:\(uuid)",
        "h:s:0x001:o:no:m:\(uuid)",
        "h:s:1x0001:o:no:m:\(uuid)",
        "h:s:0x00g1:o:no:m:\(uuid)",
        "h:s:0x0001:_o:no:m:\(uuid)",
        "h:s:0x0001:o:YES:m:\(uuid)",
        "h:s:0x0001:o:no::\(uuid)",
        "h:s:0x0001:o:no:m:123e4567e89b-12d3-a456-426614174000",
        "h:s:0x0001:o:no:m:123e4567-e89b-12d3-a456-42661417400g",
        "h:s:0x0001:o:no:m:123e4567-e89b-12d3-a456-4266141740000",
        "h:s:0x0001:o:no:m:\(uuid):a:b:c:d:e:f:g:h",
        "h:s:0x0001:o:no:m:\(uuid):a:b:c:d:e:f:g:h:i",
        "h:s:0x0001:o:no:m:\(uuid):",
        "h:s:0x0001:o:no:m:\(uuid):!\"#$%&'()*+,-./;<=>?@[\\]^_`{|}~",
        "h:s:0x0001:o:no:m:\(uuid):a b",
        "h:s:0x0001:o:no:m",
        ":s:0x0001:o:no:m:\(uuid)",
        "h:s:0x0001:o:no:m:\(uuid):\(Array(repeating: String(repeating: "e", count: 57), count: 7).joined(separator: ":"))",
        "h:s:0x0001:o:no:m:\(uuid):\(Array(repeating: String(repeating: "e", count: 57), count: 7).joined(separator: ":"))x",
    ]

    @Test("a name read from its bytes is what init(parsing:) reads, and every name it accepts without brackets is read", arguments: names)
    func nameFromBytes(_ text: String) {
        expectSameName(text)
    }

    @Test("names mutated at random read from their bytes as init(parsing:) reads them")
    func mutatedNames() {
        var generator = SplitMix64(seed: 0x4E41_4D45)
        let alphabet = Array(":.-_[]0aZ9xXf@ %\u{7F}")
        for _ in 0..<4000 {
            var characters = Array(generator.pick(Self.names))
            for _ in 0...generator.below(3) {
                let position = generator.below(characters.count + 1)
                switch generator.below(3) {
                case 0: characters.insert(generator.pick(alphabet), at: position)
                case 1 where position < characters.count: characters[position] = generator.pick(alphabet)
                default: if position < characters.count { characters.remove(at: position) }
                }
            }
            expectSameName(String(characters))
        }
    }

    private func expectSameName(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let parsed = try? ServerName(parsing: text)
        let bytes = Array(text.utf8)
        let fast = bytes.allSatisfy({ $0 < 0x80 }) ? bytes.withUnsafeBufferPointer { ServerName(asciiBytes: $0) } : nil
        #expect(fast == (text.hasPrefix("[") ? nil : parsed), "\(text)", sourceLocation: sourceLocation)
        #expect(fast?.description == (text.hasPrefix("[") ? nil : parsed?.description), "\(text)", sourceLocation: sourceLocation)
        // And in a reply, where a name the bytes do not give goes to init(parsing:).
        let line = listReply([entryText(replacing: [("\"id\":\"\(plainID)\"", "\"id\":\(JSONValue.string(text).jsonText)")])])
        #expect((EntryReply(line: line) != nil) == (parsed != nil), "\(text)", sourceLocation: sourceLocation)
        expectAgreement(line, "\(text)", sourceLocation: sourceLocation)
    }

    // MARK: What the tree reads differently or refuses

    /// An entry (or a reply) changed one way, and whether the tree path takes it.
    struct Variation: Sendable, CustomTestStringConvertible {
        var testDescription: String
        var line: [UInt8]
        var accepted: Bool
        /// Whether the fast path reads it itself (rather than leaving it to the tree).
        var fast: Bool

        init(_ description: String, replacing pairs: [(String, String)] = [], extra: String = "", accepted: Bool, fast: Bool? = nil) {
            testDescription = description
            line = listReply([entryText(replacing: pairs, extra: extra)])
            self.accepted = accepted
            self.fast = fast ?? accepted
        }

        init(_ description: String, line text: String, accepted: Bool, fast: Bool? = nil) {
            testDescription = description
            line = Array(text.utf8)
            self.accepted = accepted
            self.fast = fast ?? accepted
        }
    }

    static let member = #""serial":3"#
    static let terminal = #""direction":"input""#
    static let variations: [Variation] = [
        // Integers: exactly the JSON numbers the parser makes `.int`s of, within the member's range.
        Variation("serial at Int64.max", replacing: [(member, #""serial":9223372036854775807"#)], accepted: true),
        Variation("serial past Int64.max", replacing: [(member, #""serial":9223372036854775808"#)], accepted: false),
        Variation("serial of 300 digits", replacing: [(member, #""serial":"# + String(repeating: "9", count: 300))], accepted: false),
        Variation("serial negative", replacing: [(member, #""serial":-1"#)], accepted: false),
        Variation("serial -0", replacing: [(member, #""serial":-0"#)], accepted: true),
        Variation("serial 0", replacing: [(member, #""serial":0"#)], accepted: true),
        Variation("serial with a leading zero", replacing: [(member, #""serial":03"#)], accepted: false),
        Variation("serial with a fraction", replacing: [(member, #""serial":3.0"#)], accepted: false),
        Variation("serial with an exponent", replacing: [(member, #""serial":3e0"#)], accepted: false),
        Variation("serial with a plus sign", replacing: [(member, #""serial":+3"#)], accepted: false),
        Variation("serial a lone minus", replacing: [(member, #""serial":-"#)], accepted: false),
        Variation("serial a string", replacing: [(member, #""serial":"3""#)], accepted: false),
        Variation("serial followed by a letter", replacing: [(member, #""serial":3x"#)], accepted: false),
        Variation("registeredAt at Int64.min", replacing: [(#""registeredAt":1795704365151"#, #""registeredAt":-9223372036854775808"#)], accepted: true),
        Variation("registeredAt below Int64.min", replacing: [(#""registeredAt":1795704365151"#, #""registeredAt":-9223372036854775809"#)], accepted: false),
        Variation("lastHeartbeat true", replacing: [(#""lastHeartbeat":1795704365152"#, #""lastHeartbeat":true"#)], accepted: false),
        // Types.
        Variation("session a string", replacing: [(#""session":false"#, #""session":"false""#)], accepted: false),
        Variation("session truncated literal", replacing: [(#""session":false"#, #""session":fals"#)], accepted: false),
        Variation("session nul", replacing: [(#""session":false"#, #""session":nul"#)], accepted: false),
        Variation("reservedBy a number", replacing: [(#""reservedBy":null"#, #""reservedBy":1"#)], accepted: false),
        Variation("reservedBy set", replacing: [(#""reservedBy":null"#, #""reservedBy":"r-1""#)], accepted: true),
        Variation("capabilities a string", replacing: [(#""capabilities":["pty","vt100"]"#, #""capabilities":"pty""#)], accepted: false),
        Variation("capabilities with a number", replacing: [(#""capabilities":["pty","vt100"]"#, #""capabilities":["pty",1]"#)], accepted: false),
        Variation("capabilities with a trailing comma", replacing: [(#""capabilities":["pty","vt100"]"#, #""capabilities":["pty",]"#)], accepted: false),
        Variation("capabilities that are not tokens (not checked on reading)", replacing: [(#""capabilities":["pty","vt100"]"#, #""capabilities":[""," x",""]"#)], accepted: true),
        Variation("metadata an array", replacing: [(#""metadata":{"version":"1.0.0"}"#, #""metadata":[1]"#)], accepted: false),
        Variation("metadata with a duplicate key", replacing: [(#""metadata":{"version":"1.0.0"}"#, #""metadata":{"a":1,"a":2}"#)], accepted: false),
        Variation("metadata with 4096 members", replacing: [(#""metadata":{"version":"1.0.0"}"#, #""metadata":{"# + (0..<4096).map { "\"k\($0)\":0" }.joined(separator: ",") + "}")], accepted: true),
        Variation("metadata with 4097 members", replacing: [(#""metadata":{"version":"1.0.0"}"#, #""metadata":{"# + (0...4096).map { "\"k\($0)\":0" }.joined(separator: ",") + "}")], accepted: false),
        Variation("metadata empty with space", replacing: [(#""metadata":{"version":"1.0.0"}"#, #""metadata":{ }"#)], accepted: true),
        Variation("metadata unterminated", replacing: [(#""metadata":{"version":"1.0.0"}"#, #""metadata":{"#)], accepted: false),
        Variation("terminals an array (the manifest's form, left to the tree)", replacing: [(terminalsText, #""terminals":[{"name":"a","direction":"input"}]"#)], accepted: true, fast: false),
        Variation("terminals a string", replacing: [(terminalsText, #""terminals":"a""#)], accepted: false),
        Variation("terminals null", replacing: [(terminalsText, #""terminals":null"#)], accepted: true),
        Variation("terminals empty", replacing: [(terminalsText, #""terminals":{ }"#)], accepted: true),
        Variation("no terminals", replacing: [(terminalsText + ",", "")], accepted: true),
        // Members.
        Variation("an unknown member (ignored by the tree)", extra: #""hostess":{"fqdn":"peer"}"#, accepted: true, fast: false),
        Variation("a duplicate member", extra: #""serial":4"#, accepted: false),
        Variation("a duplicate null member", extra: #""reservedBy":null"#, accepted: false),
        Variation("a known key written with an escape", replacing: [(#""serial":3"#, #""\u0073erial":3"#)], accepted: true, fast: false),
        Variation("an escaped key that duplicates a member", extra: #""\u0073erial":3"#, accepted: false),
        Variation("a key with a control character", extra: "\"a\u{1}\":1", accepted: false),
        Variation("no id", replacing: [(#""id":"\#(plainID)","#, "")], accepted: false),
        Variation("id null", replacing: [(#""id":"\#(plainID)""#, #""id":null"#)], accepted: false),
        Variation("id a number", replacing: [(#""id":"\#(plainID)""#, #""id":5"#)], accepted: false),
        Variation("id with an escape", replacing: [(#""id":"host"#, #""id":"ho\u0073t"#)], accepted: true),
        Variation("id with a bracketed IPv6 fqdn", replacing: [(#""id":"host.example"#, #""id":"[::1]"#)], accepted: true),
        Variation("identity members that disagree with the id (ignored)", replacing: [(#""fqdn":"host.example""#, #""fqdn":"elsewhere""#), (#""class":"0x0001""#, #""class":7"#)], accepted: true),
        Variation("identity members of any JSON (ignored)", replacing: [(#""owner":"alice""#, #""owner":[1,{"a":[null]},"x\n"]"#), (#""uuid":"\#(uuid)""#, #""uuid":-1.5e3"#)], accepted: true),
        Variation("an identity member with a bad escape", replacing: [(#""owner":"alice""#, #""owner":"al\ice""#)], accepted: false),
        Variation("authentication of other members (ignored)", replacing: [(#""authentication":{"required":"yes","mechanism":"tls-cert"}"#, #""authentication":{"mechanism":1,"other":[true]}"#)], accepted: true),
        Variation("authentication with a duplicate key", replacing: [(#""authentication":{"required":"yes","mechanism":"tls-cert"}"#, #""authentication":{"required":"yes","required":"no"}"#)], accepted: false),
        Variation("authentication a string", replacing: [(#""authentication":{"required":"yes","mechanism":"tls-cert"}"#, #""authentication":"yes""#)], accepted: true),
        Variation("authentication unterminated", replacing: [(#""authentication":{"required":"yes","mechanism":"tls-cert"}"#, #""authentication":{"required":"yes""#)], accepted: false),
        // Terminals.
        Variation("a terminal of an unknown direction", replacing: [(terminal, #""direction":"sideways""#)], accepted: false),
        Variation("a terminal without a direction", replacing: [(terminal + ",", "")], accepted: false),
        Variation("a terminal direction null", replacing: [(terminal, #""direction":null"#)], accepted: false),
        Variation("a terminal direction with an escape", replacing: [(terminal, #""direction":"\u0069nput""#)], accepted: true),
        Variation("a terminal multiplexing null", replacing: [(#""multiplexing":"none""#, #""multiplexing":null"#)], accepted: true),
        Variation("a terminal multiplexing unknown", replacing: [(#""multiplexing":"none""#, #""multiplexing":"some""#)], accepted: false),
        Variation("a terminal naming itself", replacing: [(terminal, terminal + #","name":"stdin""#)], accepted: true),
        Variation("a terminal naming another", replacing: [(terminal, terminal + #","name":"stdout""#)], accepted: false),
        Variation("a terminal name a number", replacing: [(terminal, terminal + #","name":1"#)], accepted: false),
        Variation("a terminal inUse of any JSON (ignored)", replacing: [(#""inUse":false"#, #""inUse":{"deep":[1,2,{}]}"#)], accepted: true),
        Variation("a terminal with an unknown member", replacing: [(terminal, terminal + #","x":1"#)], accepted: false),
        Variation("a terminal with a duplicate member", replacing: [(terminal, terminal + #","direction":"input""#)], accepted: false),
        Variation("a terminal protocol that is not a token", replacing: [(#""protocol":"raw-bytes""#, #""protocol":"-raw""#)], accepted: false),
        Variation("a terminal name that is not a token", replacing: [(#""stdin":{"#, #""-stdin":{"#)], accepted: false),
        Variation("a terminal name of 65 bytes", replacing: [(#""stdin":{"#, "\"\(String(repeating: "s", count: 65))\":{")], accepted: false),
        Variation("a terminal name with an escape", replacing: [(#""stdin":{"#, #""std\u0069n":{"#)], accepted: true, fast: false),
        Variation("two terminals of the same name", replacing: [(#""out":{"#, #""stdin":{"#)], accepted: false),
        Variation("a terminal a string", replacing: [(#""out":{"direction":"output","multiplexing":"fanout","inUse":true,"connectedTo":["c1","c2"],"metadata":{"k":1}}"#, #""out":"x""#)], accepted: false),
        Variation("terminal metadata past 512 bytes", replacing: [(#""metadata":{"k":1}"#, #""metadata":{"k":"\#(String(repeating: "m", count: 510))"}"#)], accepted: false),
        Variation("terminal metadata at 512 bytes", replacing: [(#""metadata":{"k":1}"#, #""metadata":{"k":"\#(String(repeating: "m", count: 504))"}"#)], accepted: true),
        Variation("connectedTo with a number", replacing: [(#""connectedTo":["c1","c2"]"#, #""connectedTo":["c1",2]"#)], accepted: false),
        Variation("16 terminals", replacing: [(#""terminals":{"#, #""terminals":{"# + (0..<14).map { "\"t\($0)\":{\"direction\":\"input\"}," }.joined())], accepted: true),
        Variation("17 terminals", replacing: [(#""terminals":{"#, #""terminals":{"# + (0..<15).map { "\"t\($0)\":{\"direction\":\"input\"}," }.joined())], accepted: false),
        // Envelopes.
        Variation("an error reply", line: #"{"id":7,"revision":1,"error":{"code":"not_found","message":"no such server","field":"serverId"}}"#, accepted: false),
        Variation("an error reply with a result", line: #"{"id":7,"revision":1,"error":{"code":"internal","message":"x"},"result":{"entries":[]}}"#, accepted: false),
        Variation("an error member that is no error (the client ignores it)", line: #"{"id":7,"revision":1,"error":5,"result":{"entries":[]}}"#, accepted: true, fast: false),
        Variation("no revision (the client reads 0)", line: #"{"id":7,"result":{"entries":[]}}"#, accepted: true, fast: false),
        Variation("a negative revision (the client reads 0)", line: #"{"id":7,"revision":-1,"result":{"entries":[]}}"#, accepted: true, fast: false),
        Variation("an id that is a string", line: #"{"id":"7","revision":1,"result":{"entries":[]}}"#, accepted: false),
        Variation("an id with a fraction", line: #"{"id":7.0,"revision":1,"result":{"entries":[]}}"#, accepted: false),
        Variation("no id", line: #"{"revision":1,"result":{"entries":[]}}"#, accepted: false),
        Variation("a duplicate id", line: #"{"id":7,"id":8,"revision":1,"result":{"entries":[]}}"#, accepted: false),
        Variation("another member in the reply", line: #"{"id":7,"revision":1,"result":{"entries":[]},"x":[]}"#, accepted: true, fast: false),
        Variation("another member in the result", line: #"{"id":7,"revision":1,"result":{"entries":[],"x":[]}}"#, accepted: true, fast: false),
        Variation("a result of both entries and an entry", line: #"{"id":7,"revision":1,"result":{"entries":[],"entry":null}}"#, accepted: true, fast: false),
        Variation("entries an object", line: #"{"id":7,"revision":1,"result":{"entries":{}}}"#, accepted: false),
        Variation("entries holding null", line: #"{"id":7,"revision":1,"result":{"entries":[null]}}"#, accepted: false),
        Variation("entries with a trailing comma", line: #"{"id":7,"revision":1,"result":{"entries":[\#(entryText()),]}}"#, accepted: false),
        Variation("a result that is not an object (the client reads {})", line: #"{"id":7,"revision":1,"result":[]}"#, accepted: false),
        Variation("bytes after the reply", line: #"{"id":7,"revision":1,"result":{"entries":[]}} x"#, accepted: false),
        Variation("two replies on a line", line: #"{"id":7,"revision":1,"result":{"entries":[]}}{}"#, accepted: false),
        Variation("an empty line", line: "", accepted: false),
        Variation("a line of spaces", line: "   ", accepted: false),
    ]

    @Test("the fast path reads what the tree reads, or leaves it to the tree, for every variation", arguments: variations)
    func variation(_ variation: Variation) {
        let fast = expectAgreement(variation.line)
        let tree = TreePath.reply(variation.line, like: .entries([]))
        #expect((tree != nil) == variation.accepted, "the tree path \(variation.accepted ? "refuses" : "accepts") it")
        #expect((fast != nil) == variation.fast, "the fast path \(variation.fast ? "declines" : "reads") it")
    }

    // MARK: Malformed bytes

    /// A reply that uses every construct the fast path reads, about 2 KB.
    static func sampleReply() throws -> [UInt8] {
        listReply([entryText(replacing: [(#""reservedBy":null"#, #""reservedBy":"r-1""#)])] + (try [Sample.escapes, .unicode].map { text(try $0.entry()) }))
    }

    @Test("a reply cut at every byte is refused both ways, and so is every cut document")
    func truncation() throws {
        let reply = try Self.sampleReply()
        #expect(EntryReply(line: reply) != nil)
        for end in 0..<reply.count {
            let prefix = Array(reply[..<end])
            #expect(EntryReply(line: prefix) == nil, "cut at \(end)")
            // No prefix of an object is a document; the parser is asked at some cuts, to be sure.
            if end % 64 == 0 { #expect(TreePath.envelope(prefix) == nil, "cut at \(end)") }
        }
        let document = try Sample.busyTerminals.entry().json.jsonBytes
        for end in 0..<document.count {
            let prefix = Array(document[..<end])
            #expect(GuestBookEntry(wireForm: prefix) == nil && GuestBookEntry.list(wireForm: Array("[".utf8) + prefix) == nil, "cut at \(end)")
        }
    }

    @Test("bytes changed, inserted and removed at random: where the fast path reads the reply, the tree reads the same")
    func mutations() throws {
        let reply = try Self.sampleReply()
        var generator = SplitMix64(seed: 0xDEC0_DE)
        let interesting: [UInt8] = Array("\"\\{}[],:0-9eE.tfn \u{1}".utf8) + [0x00, 0x7F, 0x80, 0xC0, 0xE2, 0xED, 0xF4, 0xFF]
        var read = 0
        for _ in 0..<1500 {
            var line = reply
            for _ in 0...generator.below(2) {
                let position = generator.below(line.count)
                let byte = generator.chance(70) ? generator.pick(interesting) : UInt8(truncatingIfNeeded: generator.next())
                switch generator.below(3) {
                case 0: line[position] = byte
                case 1: line.insert(byte, at: position)
                default: line.remove(at: position)
                }
            }
            if expectAgreement(line) != nil { read += 1 }
        }
        // Some changes land where they change nothing the reply means (inside a string, say).
        #expect(read > 0)
    }

    static let invalidUTF8: [[UInt8]] = [[0xFF], [0x80], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xF0, 0x9F, 0x98]]
    static let validUTF8: [[UInt8]] = [[0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xEF, 0xBF, 0xBF], [0xF0, 0x9F, 0x98, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0x7F]]

    @Test("UTF-8 in every kind of string: invalid sequences are refused both ways, valid ones read alike")
    func utf8() {
        // Places a string's content goes, each with the text around it.
        let places: [(String, String)] = [
            ("\"capabilities\":[\"pty\",\"", "\"]"), ("\"reservedBy\":\"", "\""), ("\"metadata\":{\"", "\":1}"), ("\"metadata\":{\"k\":\"", "\"}"),
            ("\"fqdn\":\"", "\""), ("\"connectedTo\":[\"", "\"]"), ("\"uuid\":\"a\\n", "\""),
        ]
        let originals = ["\"capabilities\":[\"pty\",\"vt100\"]", "\"reservedBy\":null", "\"metadata\":{\"version\":\"1.0.0\"}", "\"metadata\":{\"version\":\"1.0.0\"}", "\"fqdn\":\"host.example\"", "\"connectedTo\":[\"c1\",\"c2\"]", "\"uuid\":\"\(uuid)\""]
        for (place, original) in zip(places, originals) {
            for (sequences, accepted) in [(Self.invalidUTF8, false), (Self.validUTF8, true)] {
                for sequence in sequences {
                    let base = Array(entryText(replacing: [(original, "\u{0}")]).utf8)
                    let cut = base.firstIndex(of: 0) ?? 0
                    let entry = Array(base[..<cut]) + Array(place.0.utf8) + sequence + Array(place.1.utf8) + Array(base[(cut + 1)...])
                    let line = Array(#"{"id":7,"revision":42,"result":{"entries":["#.utf8) + entry + Array("]}}".utf8)
                    let fast = expectAgreement(line, "\(place.0) \(sequence)")
                    #expect((TreePath.reply(line, like: .entries([])) != nil) == accepted, "\(place.0) \(sequence)")
                    #expect((fast != nil) == accepted, "\(place.0) \(sequence)")
                }
            }
        }
        // In an id and a terminal name: invalid UTF-8 is refused, valid non-ASCII is not a valid name either.
        for sequence in Self.invalidUTF8 + Self.validUTF8 {
            for (old, prefix) in [("\"id\":\"host", "\"id\":\"ho"), ("\"stdin\":{", "\"std")] {
                let base = Array(entryText(replacing: [(old, "\u{0}")]).utf8)
                let cut = base.firstIndex(of: 0) ?? 0
                let suffix = old.hasPrefix("\"id") ? "st" : "in\":{"
                let entry = Array(base[..<cut]) + Array(prefix.utf8) + sequence + Array(suffix.utf8) + Array(base[(cut + 1)...])
                let line = Array(#"{"id":7,"revision":42,"result":{"entries":["#.utf8) + entry + Array("]}}".utf8)
                #expect(EntryReply(line: line) == nil, "\(old) \(sequence)")
                #expect(TreePath.reply(line, like: .entries([])) == nil, "\(old) \(sequence)")
            }
        }
    }

    @Test("nesting is counted from the top of the document, as the parser counts it", arguments: [55, 58, 59, 60, 61, 62, 63, 64])
    func nesting(_ depth: Int) {
        let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let places = [
            #""metadata":{"version":"1.0.0"}"#: #""metadata":{"deep":\#(nested)}"#, #""fqdn":"host.example""#: #""fqdn":\#(nested)"#,
            #""inUse":false"#: #""inUse":\#(nested)"#, #""metadata":{"k":1}"#: #""metadata":{"k":\#(nested)}"#,
            #""authentication":{"required":"yes","mechanism":"tls-cert"}"#: #""authentication":{"required":\#(nested)}"#,
        ]
        for (old, new) in places {
            let entry = entryText(replacing: [(old, new)])
            for line in [listReply([entry]), entryReply(entry)] {
                let fast = expectAgreement(line, "\(old) \(depth)")
                let tree = TreePath.envelope(line) != nil
                #expect((fast != nil) == tree, "\(old) at \(depth): the fast path reads what the parser takes")
            }
            let document = Array(entry.utf8)
            expectDocumentAgreement(document, "\(old) \(depth)")
            #expect((GuestBookEntry(wireForm: document) != nil) == ((try? JSONParser.parse(document)) != nil), "\(old) at \(depth)")
        }
    }

    // MARK: Linear time

    /// Replies built to make a reader do more than linear work, about `size` bytes each.
    enum HostileReply: String, CaseIterable, CustomTestStringConvertible, Sendable {
        /// Many entries.
        case manyEntries
        /// One entry of a great many capabilities.
        case manyCapabilities
        /// A very long string.
        case longString
        /// A string of escapes, which the parser decodes.
        case escapedString
        /// Many members in a terminals object (the model allows 16).
        case manyTerminals
        /// Many members an entry does not know (the tree ignores them).
        case unknownMembers
        /// An authentication object of many members (the tree ignores it, once parsed).
        case wideAuthentication
        /// A string of non-ASCII characters.
        case unicodeString

        var testDescription: String { rawValue }

        func line(size: Int) -> [UInt8] {
            switch self {
            case .manyEntries:
                return listReply(Array(repeating: entryText(), count: size / 700))
            case .manyCapabilities:
                return listReply([entryText(replacing: [(#""capabilities":["pty","vt100"]"#, #""capabilities":["# + Array(repeating: "\"c\"", count: size / 4).joined(separator: ",") + "]")])])
            case .longString:
                return listReply([entryText(replacing: [(#""reservedBy":null"#, "\"reservedBy\":\"" + String(repeating: "r", count: size) + "\"")])])
            case .escapedString:
                return listReply([entryText(replacing: [(#""reservedBy":null"#, "\"reservedBy\":\"" + String(repeating: "\\n", count: size / 2) + "\"")])])
            case .manyTerminals:
                return listReply([entryText(replacing: [(#""terminals":{"#, #""terminals":{"# + (0..<size / 30).map { "\"t\($0)\":{\"direction\":\"input\"}," }.joined())])])
            case .unknownMembers:
                return listReply([entryText(extra: (0..<size / 12).map { "\"u\($0)\":0" }.joined(separator: ","))])
            case .wideAuthentication:
                let members = (0..<min(size / 12, JSONParser.maximumMembers)).map { "\"a\($0)\":" + String(repeating: "1", count: max(1, size / 4096 - 10)) }
                return listReply([entryText(replacing: [(#""authentication":{"required":"yes","mechanism":"tls-cert"}"#, #""authentication":{"# + members.joined(separator: ",") + "}")])])
            case .unicodeString:
                return listReply([entryText(replacing: [(#""reservedBy":null"#, "\"reservedBy\":\"" + String(repeating: "é", count: size / 2) + "\"")])])
            }
        }
    }

    @Test("each hostile reply of 1 MiB is read or declined in linear time", .serialized, arguments: HostileReply.allCases)
    func linearTime(_ hostile: HostileReply) {
        expectAgreement(hostile.line(size: 1 << 14))
        let full = hostile.line(size: 1 << 20)
        let quarter = hostile.line(size: 1 << 18)
        // Four times the input may cost about four times the time, never sixteen; each size's best of three, so
        // that a pause of the process does not decide. The absolute bound is for debug builds.
        let clock = ContinuousClock()
        var fullTime = Duration.seconds(3600)
        var quarterTime = Duration.seconds(3600)
        for _ in 0..<3 {
            quarterTime = min(quarterTime, clock.measure { _ = EntryReply(line: quarter) })
            fullTime = min(fullTime, clock.measure { _ = EntryReply(line: full) })
        }
        #expect(fullTime < quarterTime * 8 + .milliseconds(5), "\(hostile.rawValue): 1 MiB took \(fullTime), 256 KiB \(quarterTime)")
        #expect(fullTime < .seconds(1), "\(hostile.rawValue) took \(fullTime)")
    }
}
