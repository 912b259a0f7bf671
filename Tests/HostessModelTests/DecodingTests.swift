@testable import HostessModel
import Testing

// MARK: - Fixtures

private let id = "host.example:pty-server:0x0001:alice:yes:tls-cert:123e4567-e89b-12d3-a456-426614174000"

/// A register request's `entry` with the id and `members` (JSON text of further members, or "").
private func entry(_ members: String = "") -> String {
    "{\"id\":\"\(id)\"" + (members.isEmpty ? "" : "," + members) + "}"
}

private func pad(_ count: Int) -> String { String(repeating: "x", count: count) }

/// The error reading `text` as what `read` builds, or nil when it reads.
private func decodingError(_ text: String, _ read: (JSONValue) throws -> Void) throws -> HostessError? {
    let value = try JSONParser.parse(text)
    return hostessError { try read(value) }
}

private func readRegistration(_ value: JSONValue) throws(HostessError) {
    _ = try Registration(reader: JSONReader(value, path: "entry"))
}

private func readFilter(_ value: JSONValue) throws(HostessError) {
    _ = try ServerFilter(reader: JSONReader(value, path: "filter"))
}

private func readManifest(_ value: JSONValue) throws(HostessError) {
    _ = try ServerManifest(json: value)
}

private func registration(_ text: String) throws -> Registration {
    try Registration(reader: JSONReader(try JSONParser.parse(text), path: "entry"))
}

private let manyTerminals = (0...Limits.terminals).map { #""t\#($0)":{"direction":"input"}"# }
private let manyCapabilities = (0...Limits.capabilities).map { "\"c\($0)\"" }

@Suite struct DecodingTests {
    // MARK: Registration

    @Test("terminals read the same in object form and in array form")
    func terminalForms() throws {
        let object = try registration(
            entry(
                #""terminals":{"stdin":{"direction":"input","protocol":"json-rpc","metadata":{"b":1,"a":2}},"# +
                #""out":{"direction":"output","multiplexing":"fanout"},"log":{"direction":"bidirectional","multiplexing":"fanin"}}"#))
        let array = try registration(
            entry(
                #""terminals":[{"name":"stdin","direction":"input","protocol":"json-rpc","metadata":{"b":1,"a":2}},"# +
                #"{"direction":"output","name":"out","multiplexing":"fanout"},{"name":"log","direction":"bidirectional","multiplexing":"fanin"}]"#))
        #expect(object == array)
        #expect(object.terminals.map(\.name) == ["stdin", "out", "log"])
        #expect(object.terminals.map(\.direction) == [.input, .output, .bidirectional])
        #expect(object.terminals.map(\.multiplexing) == [.none, .fanout, .fanin])
        #expect(object.terminals[0].protocol == "json-rpc")
        #expect(object.terminals[1].protocol == nil)
        #expect(object.terminals[0].metadata.keys == ["b", "a"])
        #expect(object.name.description == id)
        #expect(object.capabilities == [])
        #expect(object.metadata == JSONObject())
    }

    @Test("a registration reads back from its own wire form")
    func registrationRoundTrip() throws {
        let original = try registration(
            entry(
                #""terminals":{"a":{"direction":"input","protocol":"p1"},"b":{"direction":"output","multiplexing":"fanin","metadata":{"k":[1,2]}}},"# +
                #""capabilities":["pty","vt100"],"metadata":{"z":1,"a":{"nested":true}}"#))
        let again = try Registration(reader: JSONReader(original.json, path: "entry"))
        #expect(again == original)
        #expect(again.capabilities == ["pty", "vt100"])
        #expect(again.metadata.keys == ["z", "a"])
    }

    @Test("a guest book entry echoed back is a valid registration; its state is ignored")
    func entryEcho() throws {
        let original = try registration(
            entry(#""terminals":{"stdin":{"direction":"input"},"out":{"direction":"output","multiplexing":"fanout"}},"capabilities":["pty"]"#))
        var book = GuestBook(ttlNanoseconds: 1_000_000_000)
        let caller = Caller(uid: 1000, ownerNames: ["alice"])
        try book.register(original, by: caller, session: 4, now: Timestamp(wallMilliseconds: 1234, monotonicNanoseconds: 0))
        let busy = try book.markInUse(id: id, terminal: "out", connectomeID: "c1", by: caller)
        #expect(busy.terminal(named: "out")?.connectedTo == ["c1"])

        let echoed = try Registration(reader: JSONReader(busy.json, path: "entry"))
        #expect(echoed == original)
        #expect(echoed.terminals.allSatisfy { $0.connectedTo.isEmpty })
        // The guest book's own reading of its wire form keeps the state.
        #expect(try GuestBookEntry(json: busy.json) == busy)
    }

    @Test(
        "identity members that agree with the id are accepted, ignoring the case of fqdn, class and UUID",
        arguments: [
            #""fqdn":"host.example","servername":"pty-server","class":"0x0001","owner":"alice","uuid":"123e4567-e89b-12d3-a456-426614174000""#,
            #""fqdn":"HOST.example","class":"0X0001","uuid":"123E4567-E89B-12D3-A456-426614174000""#,
            #""authentication":{"required":"yes","mechanism":"tls-cert"}"#,
            #""authentication":{}"#,
            #""fqdn":null,"class":null,"terminals":null,"capabilities":null,"metadata":null"#,
            #""registeredAt":5,"lastHeartbeat":6,"serial":7,"session":true"#,
        ])
    func identityAgrees(members: String) throws {
        let read = try registration(entry(members))
        #expect(read.name.description == id)
    }

    /// Register-request entries with one thing wrong, the code and the field the error must name.
    static let registrationErrors: [(String, HostessError.Code, String)] = [
        // the id
        ("{}", .badRequest, "entry.id"),
        (#"{"id":null}"#, .badRequest, "entry.id"),
        (#"{"id":5}"#, .badRequest, "entry.id"),
        (#"{"id":"nonsense"}"#, .invalidName, "entry.id"),
        (#"{"id":"bad_host:pty-server:0x0001:alice:yes:tls-cert:123e4567-e89b-12d3-a456-426614174000"}"#, .invalidName, "entry.id"),
        (#"{"id":"host:pty-server:0x0001:alice:yes:tls-cert:123e4567"}"#, .invalidName, "entry.id"),
        // unknown members
        (entry(#""bogus":1"#), .badRequest, "entry.bogus"),
        (entry(#""Terminals":{}"#), .badRequest, "entry.Terminals"),
        // identity members that disagree with the id
        (entry(#""fqdn":"other.example""#), .badRequest, "entry.fqdn"),
        (entry(#""servername":"other-server""#), .badRequest, "entry.servername"),
        (entry(#""class":"0x0002""#), .badRequest, "entry.class"),
        (entry(#""owner":"bob""#), .badRequest, "entry.owner"),
        (entry(#""uuid":"00000000-0000-4000-8000-000000000000""#), .badRequest, "entry.uuid"),
        (entry(#""authentication":{"required":"no"}"#), .badRequest, "entry.authentication.required"),
        (entry(#""authentication":{"required":"YES"}"#), .badRequest, "entry.authentication.required"),
        (entry(#""authentication":{"mechanism":"none"}"#), .badRequest, "entry.authentication.mechanism"),
        (entry(#""authentication":{"required":"yes","mechanism":"TLS-CERT"}"#), .badRequest, "entry.authentication.mechanism"),
        (entry(#""fqdn":5"#), .badRequest, "entry.fqdn"),
        (entry(#""authentication":"yes""#), .badRequest, "entry.authentication"),
        // terminals, object form
        (entry(#""terminals":{"stdin":{"direction":"sideways"}}"#), .badRequest, "entry.terminals.stdin.direction"),
        (entry(#""terminals":{"stdin":{}}"#), .badRequest, "entry.terminals.stdin.direction"),
        (entry(#""terminals":{"stdin":{"direction":1}}"#), .badRequest, "entry.terminals.stdin.direction"),
        (entry(#""terminals":{"stdin":{"direction":"Input"}}"#), .badRequest, "entry.terminals.stdin.direction"),
        (entry(#""terminals":{"stdin":{"direction":"input","multiplexing":"many"}}"#), .badRequest, "entry.terminals.stdin.multiplexing"),
        (entry(#""terminals":{"stdin":{"direction":"input","colour":"red"}}"#), .badRequest, "entry.terminals.stdin.colour"),
        (entry(#""terminals":{"stdin":"input"}"#), .badRequest, "entry.terminals.stdin"),
        (entry(#""terminals":{"stdin":{"direction":"input","metadata":[]}}"#), .badRequest, "entry.terminals.stdin.metadata"),
        (entry(#""terminals":{"stdin":{"direction":"input","protocol":7}}"#), .badRequest, "entry.terminals.stdin.protocol"),
        (entry(#""terminals":{"stdin":{"direction":"input","protocol":"json rpc"}}"#), .badRequest, "entry.terminals.stdin.protocol"),
        (
            entry(#""terminals":{"stdin":{"direction":"input","metadata":{"pad":"\#(pad(Limits.terminalMetadataBytes - 9))"}}}"#),
            .tooLarge, "entry.terminals.stdin.metadata"
        ),
        (entry(#""terminals":{"# + manyTerminals.joined(separator: ",") + "}"), .tooLarge, "entry.terminals"),
        // terminals, array form
        (entry(#""terminals":5"#), .badRequest, "entry.terminals"),
        (entry(#""terminals":"stdin""#), .badRequest, "entry.terminals"),
        (entry(#""terminals":[{"direction":"input"}]"#), .badRequest, "entry.terminals[0].name"),
        (entry(#""terminals":[{"name":5,"direction":"input"}]"#), .badRequest, "entry.terminals[0].name"),
        (entry(#""terminals":["stdin"]"#), .badRequest, "entry.terminals[0]"),
        (entry(#""terminals":[{"name":"a","direction":"input"},{"name":"b","direction":"up"}]"#), .badRequest, "entry.terminals[1].direction"),
        (entry(#""terminals":[{"name":"a","direction":"input"},{"name":"a","direction":"output"}]"#), .badRequest, "entry.terminals[1].name"),
        (entry(#""terminals":[{"name":"a","direction":"input","protocol":"a b"}]"#), .badRequest, "entry.terminals[0].protocol"),
        // capabilities
        (entry(#""capabilities":"pty""#), .badRequest, "entry.capabilities"),
        (entry(#""capabilities":["pty",7]"#), .badRequest, "entry.capabilities[1]"),
        (entry(#""capabilities":["pty","bad cap"]"#), .badRequest, "entry.capabilities[1]"),
        (entry(#""capabilities":["pty",""]"#), .badRequest, "entry.capabilities[1]"),
        (entry(#""capabilities":["pty","pty"]"#), .badRequest, "entry.capabilities[1]"),
        (entry(#""capabilities":["a","b","a"]"#), .badRequest, "entry.capabilities[2]"),
        (entry(#""capabilities":["# + manyCapabilities.joined(separator: ",") + "]"), .tooLarge, "entry.capabilities"),
        // metadata
        (entry(#""metadata":[]"#), .badRequest, "entry.metadata"),
        (entry(#""metadata":"x""#), .badRequest, "entry.metadata"),
        (entry(#""metadata":{"pad":"\#(pad(Limits.metadataBytes - 9))"}"#), .tooLarge, "entry.metadata"),
        // not an object at all
        ("[]", .badRequest, "entry"),
    ]

    @Test("a register request's entry with one thing wrong is refused, naming the field", arguments: registrationErrors)
    func registrationRefused(text: String, code: HostessError.Code, field: String) throws {
        let error = try decodingError(text, readRegistration)
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.field == field, "\(String(describing: error))")
    }

    @Test(
        "a bad terminal name is refused, naming that terminal",
        arguments: [
            (#""terminals":[{"name":"-a","direction":"input"}]"#, "entry.terminals[0]"),
            (#""terminals":[{"name":"a","direction":"input"},{"name":"b c","direction":"input"}]"#, "entry.terminals[1]"),
            (#""terminals":{"bad name":{"direction":"input"}}"#, "entry.terminals.bad name"),
            (#""terminals":{"\#(pad(Limits.tokenBytes + 1))":{"direction":"input"}}"#, "entry.terminals.\(pad(Limits.tokenBytes + 1))"),
        ])
    func badTerminalName(members: String, terminalPath: String) throws {
        let error = try decodingError(entry(members), readRegistration)
        #expect(error?.code == .badRequest)
        // The terminal's path, or its `name` member under it.
        #expect(error?.field == terminalPath || error?.field == terminalPath + ".name", "\(String(describing: error))")
    }

    @Test("the Terminal initializer validates the name, the protocol and the metadata size")
    func terminalInitializer() {
        let name = hostessError { _ = try Terminal(name: "a b", direction: .input, multiplexing: .none) }
        #expect(name?.code == .badRequest)
        let empty = hostessError { _ = try Terminal(name: "", direction: .input, multiplexing: .none) }
        #expect(empty?.code == .badRequest)
        let proto = hostessError { _ = try Terminal(name: "a", direction: .input, multiplexing: .none, protocol: "") }
        #expect(proto?.code == .badRequest)
        let metadata = hostessError {
            _ = try Terminal(name: "a", direction: .input, multiplexing: .none, metadata: ["pad": .string(pad(Limits.terminalMetadataBytes))])
        }
        #expect(metadata?.code == .tooLarge)
        #expect(hostessError { _ = try Terminal(name: "a.b_c-1", direction: .output, multiplexing: .fanin, protocol: "json-rpc") } == nil)
    }

    @Test("metadata up to the limits is accepted")
    func metadataAtLimits() throws {
        let metadata = #"{"pad":"\#(pad(Limits.metadataBytes - 10))"}"#
        #expect(metadata.utf8.count == Limits.metadataBytes)
        let terminalMetadata = #"{"pad":"\#(pad(Limits.terminalMetadataBytes - 10))"}"#
        #expect(terminalMetadata.utf8.count == Limits.terminalMetadataBytes)
        let read = try registration(
            entry(#""metadata":\#(metadata),"terminals":{"stdin":{"direction":"input","metadata":\#(terminalMetadata)}}"#))
        #expect(JSONValue.object(read.metadata).jsonBytes.count == Limits.metadataBytes)
        #expect(JSONValue.object(read.terminals[0].metadata).jsonBytes.count == Limits.terminalMetadataBytes)
    }

    @Test("Limits.terminals terminals and Limits.capabilities capabilities are accepted")
    func countsAtLimits() throws {
        let read = try registration(
            entry(
                #""terminals":{"# + manyTerminals.dropLast().joined(separator: ",") + #"},"capabilities":["#
                    + manyCapabilities.dropLast().joined(separator: ",") + "]"))
        #expect(read.terminals.count == Limits.terminals)
        #expect(read.capabilities.count == Limits.capabilities)
    }

    @Test("the Registration initializer refuses duplicate terminals, bad capabilities and oversized metadata")
    func registrationInitializer() throws {
        let name = try ServerName(parsing: id)
        let stdin = try Terminal(name: "stdin", direction: .input, multiplexing: .none)
        let duplicate = hostessError {
            _ = try Registration(name: name, terminals: [stdin, stdin], capabilities: [], metadata: JSONObject())
        }
        #expect(duplicate?.code == .badRequest)
        #expect(duplicate?.field == "terminals")
        let capability = hostessError {
            _ = try Registration(name: name, terminals: [], capabilities: ["ok", "no way"], metadata: JSONObject())
        }
        #expect(capability?.code == .badRequest)
        #expect(capability?.field == "capabilities[1]")
        let metadata = hostessError {
            _ = try Registration(name: name, terminals: [], capabilities: [], metadata: ["pad": .string(pad(Limits.metadataBytes))])
        }
        #expect(metadata?.code == .tooLarge)
        #expect(metadata?.field == "metadata")
        // Connections given to the initializer are not part of a registration.
        var busy = stdin
        busy.connectedTo = ["c1"]
        #expect(try Registration(name: name, terminals: [busy], capabilities: [], metadata: JSONObject()).terminals == [stdin])
    }

    // MARK: ServerFilter

    @Test("a filter reads every criterion and reads back from its own wire form")
    func filterReads() throws {
        let filter = try ServerFilter(
            reader: JSONReader(
                try JSONParser.parse(
                    #"{"fqdn":"host-a","servername":"pty-server","class":"0X00AB","owner":"alice","capabilities":["pty","vt100"],"availableTerminals":2}"#),
                path: "filter"))
        #expect(
            filter
                == ServerFilter(
                    fqdn: "host-a", servername: "pty-server", classCode: ClassCode(0xAB), owner: "alice", capabilities: ["pty", "vt100"],
                    availableTerminals: 2))
        #expect(try ServerFilter(reader: JSONReader(filter.json, path: "filter")) == filter)
        #expect(try ServerFilter(reader: JSONReader(JSONObject(), path: "filter")) == ServerFilter())
        #expect(ServerFilter().json == .object(JSONObject()))
        let nulls = try JSONParser.parse(#"{"fqdn":null,"class":null,"capabilities":null,"availableTerminals":null}"#)
        #expect(try ServerFilter(reader: JSONReader(nulls, path: "filter")) == ServerFilter())
    }

    @Test("availableTerminals may be 0 through Limits.terminals", arguments: [0, 1, Limits.terminals])
    func filterAvailableRange(count: Int) throws {
        let filter = try ServerFilter(reader: JSONReader(try JSONParser.parse(#"{"availableTerminals":\#(count)}"#), path: "filter"))
        #expect(filter.availableTerminals == count)
    }

    static let filterErrors: [(String, HostessError.Code, String)] = [
        (#"{"name":"x"}"#, .badRequest, "filter.name"),
        (#"{"fqdn":"h","id":"x"}"#, .badRequest, "filter.id"),
        (#"{"class":"0x1"}"#, .badRequest, "filter.class"),
        (#"{"class":"1"}"#, .badRequest, "filter.class"),
        (#"{"class":1}"#, .badRequest, "filter.class"),
        (#"{"availableTerminals":-1}"#, .badRequest, "filter.availableTerminals"),
        (#"{"availableTerminals":17}"#, .badRequest, "filter.availableTerminals"),
        (#"{"availableTerminals":9223372036854775807}"#, .badRequest, "filter.availableTerminals"),
        (#"{"availableTerminals":1.5}"#, .badRequest, "filter.availableTerminals"),
        (#"{"availableTerminals":1e1}"#, .badRequest, "filter.availableTerminals"),
        (#"{"availableTerminals":"2"}"#, .badRequest, "filter.availableTerminals"),
        (#"{"availableTerminals":true}"#, .badRequest, "filter.availableTerminals"),
        (#"{"capabilities":"pty"}"#, .badRequest, "filter.capabilities"),
        (#"{"capabilities":["pty",null]}"#, .badRequest, "filter.capabilities[1]"),
        (#"{"capabilities":[["pty"]]}"#, .badRequest, "filter.capabilities[0]"),
        (#"{"capabilities":["# + manyCapabilities.joined(separator: ",") + "]}", .tooLarge, "filter.capabilities"),
        (#"{"fqdn":5}"#, .badRequest, "filter.fqdn"),
        (#"{"servername":[]}"#, .badRequest, "filter.servername"),
        (#"{"owner":{}}"#, .badRequest, "filter.owner"),
        ("[]", .badRequest, "filter"),
        ("\"pty\"", .badRequest, "filter"),
    ]

    @Test("a filter with one thing wrong is refused, naming the field", arguments: filterErrors)
    func filterRefused(text: String, code: HostessError.Code, field: String) throws {
        let error = try decodingError(text, readFilter)
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.field == field, "\(String(describing: error))")
    }

    // MARK: ServerManifest

    static let manifest = #"""
        {"name":"pty-server","class":"0x0010","owner":"alice",
         "authentication":{"required":"yes","mechanism":"preshared-secret"},
         "terminals":[{"name":"stdin","direction":"input"},{"name":"stdout","direction":"output","multiplexing":"fanout","protocol":"vt100"}],
         "capabilities":["pty","vt100"],"metadata":{"version":"1.2","ports":[1,2]}}
        """#

    @Test("a manifest reads every part and becomes the registration of one instance")
    func manifestReads() throws {
        let manifest = try ServerManifest(json: try JSONParser.parse(Self.manifest))
        #expect(manifest.name == "pty-server")
        #expect(manifest.classCode == ClassCode(0x10))
        #expect(manifest.owner == "alice")
        #expect(manifest.authentication == .yes)
        #expect(manifest.authMechanism == "preshared-secret")
        #expect(manifest.terminals.map(\.name) == ["stdin", "stdout"])
        #expect(manifest.terminals[1].multiplexing == .fanout)
        #expect(manifest.terminals[1].protocol == "vt100")
        #expect(manifest.capabilities == ["pty", "vt100"])
        #expect(manifest.metadata == ["version": "1.2", "ports": [1, 2]])

        let uuid = "0F0E0D0C-0B0A-4908-8706-050403020100"
        let registration = try manifest.registration(fqdn: "[fe80::1%eth0]", uuid: uuid)
        #expect(
            registration.name.description == "[fe80::1%eth0]:pty-server:0x0010:alice:yes:preshared-secret:\(uuid.lowercased())")
        #expect(registration.terminals == manifest.terminals)
        #expect(registration.capabilities == manifest.capabilities)
        #expect(registration.metadata == manifest.metadata)
        // The registration is what the daemon reads back from the wire.
        #expect(try Registration(reader: JSONReader(registration.json, path: "entry")) == registration)
    }

    @Test("a minimal manifest takes the defaults; terminals may also be an object")
    func manifestDefaults() throws {
        let minimal = try ServerManifest(json: try JSONParser.parse(#"{"name":"echo","class":"0x0002","owner":"bob"}"#))
        #expect(minimal == ServerManifest(name: "echo", classCode: ClassCode(2), owner: "bob"))
        #expect(minimal.authentication == .no)
        #expect(minimal.authMechanism == "none")
        let objectForm = try ServerManifest(
            json: try JSONParser.parse(
                #"{"name":"echo","class":"0x0002","owner":"bob","authentication":{},"terminals":{"in":{"direction":"input"}}}"#))
        #expect(objectForm.terminals == [try Terminal(name: "in", direction: .input, multiplexing: .none)])
    }

    static let manifestErrors: [(String, HostessError.Code, String)] = [
        ("[]", .badRequest, "manifest"),
        (#"{"name":"echo","owner":"bob"}"#, .badRequest, "manifest.class"),
        (#"{"name":"echo","class":"0x2","owner":"bob"}"#, .badRequest, "manifest.class"),
        (#"{"name":"echo","class":2,"owner":"bob"}"#, .badRequest, "manifest.class"),
        (#"{"class":"0x0002","owner":"bob"}"#, .badRequest, "manifest.name"),
        (#"{"name":"echo","class":"0x0002"}"#, .badRequest, "manifest.owner"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","version":1}"#, .badRequest, "manifest.version"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","authentication":"yes"}"#, .badRequest, "manifest.authentication"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","authentication":{"level":1}}"#, .badRequest, "manifest.authentication.level"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","authentication":{"required":"maybe"}}"#, .badRequest, "manifest.authentication.required"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","authentication":{"mechanism":5}}"#, .badRequest, "manifest.authentication.mechanism"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","terminals":[{"name":"a","direction":"up"}]}"#, .badRequest, "manifest.terminals[0].direction"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","terminals":[{"name":"a","direction":"input"},{"name":"a","direction":"output"}]}"#, .badRequest, "manifest.terminals[1].name"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","terminals":[{"name":"a","direction":"input","protocol":"a b"}]}"#, .badRequest, "manifest.terminals[0].protocol"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","terminals":{"# + manyTerminals.joined(separator: ",") + "}}", .tooLarge, "manifest.terminals"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","capabilities":[1]}"#, .badRequest, "manifest.capabilities[0]"),
        (#"{"name":"echo","class":"0x0002","owner":"bob","metadata":"x"}"#, .badRequest, "manifest.metadata"),
    ]

    @Test("a manifest with one thing wrong is refused, naming the field", arguments: manifestErrors)
    func manifestRefused(text: String, code: HostessError.Code, field: String) throws {
        let error = try decodingError(text, readManifest)
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.field == field, "\(String(describing: error))")
    }

    @Test(
        "a manifest's registration validates the name, the capabilities and the metadata",
        arguments: [
            (ServerManifest(name: "Pty", classCode: ClassCode(1), owner: "bob"), "host", HostessError.Code.invalidName, "name.servername"),
            (ServerManifest(name: "pty", classCode: ClassCode(1), owner: "bob"), "bad_host", .invalidName, "name.fqdn"),
            (ServerManifest(name: "pty", classCode: ClassCode(1), owner: ""), "host", .invalidName, "name.owner"),
            (ServerManifest(name: "pty", classCode: ClassCode(1), owner: "bob", authMechanism: "a b"), "host", .invalidName, "name.auth_mechanism"),
            (ServerManifest(name: "pty", classCode: ClassCode(1), owner: "bob", capabilities: ["a", "a"]), "host", .badRequest, "capabilities[1]"),
            (ServerManifest(name: "pty", classCode: ClassCode(1), owner: "bob", metadata: ["pad": .string(pad(Limits.metadataBytes))]), "host", .tooLarge, "metadata"),
        ])
    func manifestRegistrationRefused(manifest: ServerManifest, fqdn: String, code: HostessError.Code, field: String) {
        let error = hostessError { _ = try manifest.registration(fqdn: fqdn, uuid: "123e4567-e89b-12d3-a456-426614174000") }
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.field == field, "\(String(describing: error))")
        let badUUID = hostessError { _ = try manifest.registration(fqdn: "host", uuid: "not-a-uuid") }
        #expect(badUUID?.code == .invalidName)
    }

    // MARK: Guest book entries and errors on the wire

    @Test("an error reads back from its wire form; unknown codes read as internal")
    func errorWireForm() throws {
        for code in HostessError.Code.allCases {
            let error = HostessError(code, "why", field: "entry.id")
            #expect(HostessError(json: error.json) == error)
        }
        #expect(HostessError(json: ["code": "conflict", "message": "m"]) == HostessError(.conflict, "m"))
        #expect(HostessError(json: ["code": "brand_new", "message": "m"])?.code == .internal)
        #expect(HostessError(json: ["code": "conflict"]) == nil)
        #expect(HostessError(json: "conflict") == nil)
    }

    @Test("a change reads back from its wire form")
    func changeWireForm() {
        let change = Change(revision: 42, kind: .sessionEnded, id: id)
        #expect(Change(json: change.json) == change)
        #expect(change.json.objectValue?["kind"] == "session_ended")
        #expect(Change(json: ["revision": -1, "kind": "evicted", "id": "x"]) == nil)
        #expect(Change(json: ["revision": 1, "kind": "exploded", "id": "x"]) == nil)
    }
}
