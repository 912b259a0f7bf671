@testable import HostessModel
import HostessTestSupport
import Testing

// MARK: - Helpers shared by the model tests

/// The ``HostessError`` `body` throws, or nil when it returns; any other error is recorded as an issue.
func hostessError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> HostessError? {
    do {
        try body()
        return nil
    } catch let error as HostessError {
        return error
    } catch {
        Issue.record("expected a HostessError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

private let uuid = "123e4567-e89b-12d3-a456-426614174000"
private let tail = "pty-server:0x0001:alice:yes:preshared-secret:\(uuid)"

@Suite struct ServerNameTests {
    // MARK: Valid names

    @Test(
        "canonical names parse into their fields and format back unchanged",
        arguments: [
            ("host.example.com:\(tail)", "host.example.com"),
            ("localhost:\(tail)", "localhost"),
            ("Mixed-Case.Example.ORG:\(tail)", "Mixed-Case.Example.ORG"),
            ("a-b.c-d.e:\(tail)", "a-b.c-d.e"),
            ("192.168.1.10:\(tail)", "192.168.1.10"),
            ("0.0.0.0:\(tail)", "0.0.0.0"),
            ("255.255.255.255:\(tail)", "255.255.255.255"),
            ("[fe80::1]:\(tail)", "[fe80::1]"),
            ("[::1]:\(tail)", "[::1]"),
            ("[::]:\(tail)", "[::]"),
            ("[2001:db8::1%eth0]:\(tail)", "[2001:db8::1%eth0]"),
            ("[2001:db8:0:0:0:0:0:1]:\(tail)", "[2001:db8:0:0:0:0:0:1]"),
            ("[::ffff:192.0.2.1]:\(tail)", "[::ffff:192.0.2.1]"),
            ("[1:2:3:4:5:6:7::]:\(tail)", "[1:2:3:4:5:6:7::]"),
            ("[1:2:3:4:5:6:1.2.3.4]:\(tail)", "[1:2:3:4:5:6:1.2.3.4]"),
        ])
    func parsesAndFormats(text: String, fqdn: String) throws {
        let name = try ServerName(parsing: text)
        #expect(name.fqdn == fqdn)
        #expect(name.servername == "pty-server")
        #expect(name.classCode == ClassCode(1))
        #expect(name.owner == "alice")
        #expect(name.authentication == .yes)
        #expect(name.authMechanism == "preshared-secret")
        #expect(name.uuid == uuid)
        #expect(name.extensions.isEmpty)
        #expect(name.description == text)
    }

    @Test("every authentication value parses", arguments: AuthenticationRequirement.allCases)
    func authenticationValues(requirement: AuthenticationRequirement) throws {
        let text = "host:srv:0x00ff:bob:\(requirement.rawValue):tls-cert:\(uuid)"
        let name = try ServerName(parsing: text)
        #expect(name.authentication == requirement)
        #expect(name.classCode.value == 0xFF)
        #expect(name.description == text)
    }

    @Test("extension fields after the UUID are kept in order and written back")
    func extensionsKept() throws {
        let text = "host:srv:0x0001:alice:no:none:\(uuid):v=2:x-feature:{json-ish}"
        let name = try ServerName(parsing: text)
        #expect(name.extensions == ["v=2", "x-feature", "{json-ish}"])
        #expect(name.uuid == uuid)
        #expect(name.description == text)
    }

    @Test("eight extension fields are accepted")
    func eightExtensions() throws {
        let extensions = (1...8).map { "e\($0)" }
        let text = "host:srv:0x0001:alice:no:none:\(uuid):" + extensions.joined(separator: ":")
        let name = try ServerName(parsing: text)
        #expect(name.extensions == extensions)
        #expect(name.description == text)
    }

    @Test("a name of exactly Limits.nameBytes bytes is accepted")
    func exactlyMaximumLength() throws {
        let base = "host:srv:0x0001:alice:no:none:\(uuid)"
        var extensions: [String] = []
        var remaining = Limits.nameBytes - base.utf8.count
        while remaining > 0 {
            let length = min(Limits.tokenBytes, remaining - 1)
            extensions.append(String(repeating: "x", count: length))
            remaining -= length + 1
        }
        let text = ([base] + extensions).joined(separator: ":")
        #expect(text.utf8.count == Limits.nameBytes)
        #expect(try ServerName(parsing: text).description == text)
    }

    // MARK: Normalization

    @Test("the hexcode and the UUID are lower-cased; the other fields keep their case")
    func normalization() throws {
        let name = try ServerName(parsing: "Host.Example:srv:0XABCD:Alice:no:TLS-Cert:123E4567-E89B-12D3-A456-42661417400F")
        #expect(name.classCode == ClassCode(0xABCD))
        #expect(name.uuid == "123e4567-e89b-12d3-a456-42661417400f")
        #expect(name.fqdn == "Host.Example")
        #expect(name.owner == "Alice")
        #expect(name.authMechanism == "TLS-Cert")
        #expect(name.description == "Host.Example:srv:0xabcd:Alice:no:TLS-Cert:123e4567-e89b-12d3-a456-42661417400f")
        // The canonical form is a fixed point.
        #expect(try ServerName(parsing: name.description) == name)
    }

    @Test("upper-case hex digits in the class are accepted and written lower-case", arguments: ["0xABCD", "0xabcd", "0XAbCd"])
    func classCodeCase(text: String) throws {
        let code = try ClassCode(parsing: text)
        #expect(code.value == 0xABCD)
        #expect(code.description == "0xabcd")
    }

    @Test("class codes always format as 0x and four digits", arguments: [(UInt16(0), "0x0000"), (1, "0x0001"), (0x1f, "0x001f"), (0x100, "0x0100"), (0xFFFF, "0xffff")])
    func classCodeFormat(value: UInt16, text: String) throws {
        #expect(ClassCode(value).description == text)
        #expect(try ClassCode(parsing: text).value == value)
    }

    @Test("the memberwise initializer validates like parsing and produces the same name")
    func memberwise() throws {
        let built = try ServerName(
            fqdn: "[fe80::1]", servername: "pty-server", classCode: ClassCode(1), owner: "alice",
            authentication: .yes, authMechanism: "preshared-secret", uuid: uuid.uppercased(), extensions: ["x"])
        #expect(built.uuid == uuid)
        #expect(try ServerName(parsing: "[fe80::1]:\(tail):x") == built)
        let error = hostessError {
            _ = try ServerName(
                fqdn: "host", servername: "srv", classCode: ClassCode(1), owner: "", authentication: .no,
                authMechanism: "none", uuid: uuid)
        }
        #expect(error?.code == .invalidName)
        #expect(error?.field == "name.owner")
    }

    @Test("the memberwise initializer refuses a name longer than Limits.nameBytes")
    func memberwiseTooLong() {
        let long = String(repeating: "e", count: Limits.tokenBytes)
        let error = hostessError {
            _ = try ServerName(
                fqdn: "host", servername: "srv", classCode: ClassCode(1), owner: "alice", authentication: .no,
                authMechanism: "none", uuid: uuid, extensions: Array(repeating: long, count: 8))
        }
        #expect(error?.code == .invalidName)
        #expect(error?.field == "name")
    }

    // MARK: Rejections

    /// Names with exactly one thing wrong, and the name field the error must name.
    static let invalid: [(String, String)] = [
        // fqdn: hostnames
        (":\(tail)", "fqdn"),
        ("exa_mple.com:\(tail)", "fqdn"),
        ("-host.com:\(tail)", "fqdn"),
        ("host-.com:\(tail)", "fqdn"),
        ("a..b:\(tail)", "fqdn"),
        ("host.com.:\(tail)", "fqdn"),
        (".host:\(tail)", "fqdn"),
        ("h\u{e9}te:\(tail)", "fqdn"),
        (String(repeating: "a", count: 64) + ".com:\(tail)", "fqdn"),
        ((Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".")) + ":\(tail)", "fqdn"),
        // fqdn: IPv4
        ("256.1.1.1:\(tail)", "fqdn"),
        ("1.2.3.999:\(tail)", "fqdn"),
        ("1.2.3.04:\(tail)", "fqdn"),
        ("1.2.3.0000:\(tail)", "fqdn"),
        // fqdn: IPv6
        ("[fe80::1:\(tail)", "fqdn"),
        ("[fe80::1]x:\(tail)", "fqdn"),
        ("[]:\(tail)", "fqdn"),
        ("[1::2::3]:\(tail)", "fqdn"),
        ("[12345::1]:\(tail)", "fqdn"),
        ("[fe80::g]:\(tail)", "fqdn"),
        ("[1:2:3:4:5:6:7:8:9]:\(tail)", "fqdn"),
        ("[1:2:3:4:5:6:7]:\(tail)", "fqdn"),
        ("[::1:2:3:4:5:6:7:8]:\(tail)", "fqdn"),
        ("[fe80::1%]:\(tail)", "fqdn"),
        ("[fe80::1%eth 0]:\(tail)", "fqdn"),
        ("[1.2.3.4]:\(tail)", "fqdn"),
        ("[::256.1.1.1]:\(tail)", "fqdn"),
        ("[1.2.3.4::]:\(tail)", "fqdn"),
        // servername
        ("host::0x0001:alice:no:none:\(uuid)", "servername"),
        ("host:Pty-server:0x0001:alice:no:none:\(uuid)", "servername"),
        ("host:PTY:0x0001:alice:no:none:\(uuid)", "servername"),
        ("host:-pty:0x0001:alice:no:none:\(uuid)", "servername"),
        ("host:pty server:0x0001:alice:no:none:\(uuid)", "servername"),
        ("host:pty/server:0x0001:alice:no:none:\(uuid)", "servername"),
        ("host:\(String(repeating: "s", count: 65)):0x0001:alice:no:none:\(uuid)", "servername"),
        // hexcode
        ("host:srv:0x001:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:0x00001:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:0x00g1:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:1x0001:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:000001:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:0x+001:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:0x-001:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv:1:alice:no:none:\(uuid)", "hexcode"),
        ("host:srv::alice:no:none:\(uuid)", "hexcode"),
        // owner
        ("host:srv:0x0001::no:none:\(uuid)", "owner"),
        ("host:srv:0x0001:-alice:no:none:\(uuid)", "owner"),
        ("host:srv:0x0001:al ice:no:none:\(uuid)", "owner"),
        ("host:srv:0x0001:alice!:no:none:\(uuid)", "owner"),
        ("host:srv:0x0001:\(String(repeating: "o", count: 65)):no:none:\(uuid)", "owner"),
        // authentication
        ("host:srv:0x0001:alice:YES:none:\(uuid)", "authentication"),
        ("host:srv:0x0001:alice:maybe:none:\(uuid)", "authentication"),
        ("host:srv:0x0001:alice:true:none:\(uuid)", "authentication"),
        ("host:srv:0x0001:alice::none:\(uuid)", "authentication"),
        // auth_mechanism
        ("host:srv:0x0001:alice:no::\(uuid)", "auth_mechanism"),
        ("host:srv:0x0001:alice:no:tls cert:\(uuid)", "auth_mechanism"),
        ("host:srv:0x0001:alice:no:_x:\(uuid)", "auth_mechanism"),
        // UUID
        ("host:srv:0x0001:alice:no:none:123e4567-e89b-12d3-a456-42661417400", "UUID"),
        ("host:srv:0x0001:alice:no:none:123e4567-e89b-12d3-a456-4266141740000", "UUID"),
        ("host:srv:0x0001:alice:no:none:123e4567-e89b-12d3-a456-42661417400g", "UUID"),
        ("host:srv:0x0001:alice:no:none:123e4567xe89b-12d3-a456-426614174000", "UUID"),
        ("host:srv:0x0001:alice:no:none:123e4567-e89b-12d3-a4560426614174000", "UUID"),
        ("host:srv:0x0001:alice:no:none:123e4567e89b12d3a456426614174000", "UUID"),
        ("host:srv:0x0001:alice:no:none:", "UUID"),
        // extensions
        ("host:srv:0x0001:alice:no:none:\(uuid):", "extension"),
        ("host:srv:0x0001:alice:no:none:\(uuid)::x", "extension"),
        ("host:srv:0x0001:alice:no:none:\(uuid):a b", "extension"),
        ("host:srv:0x0001:alice:no:none:\(uuid):\(String(repeating: "e", count: 65))", "extension"),
        ("host:srv:0x0001:alice:no:none:\(uuid):" + (1...9).map { "e\($0)" }.joined(separator: ":"), "extension"),
    ]

    @Test("each malformed field is refused with invalid_name naming that field", arguments: invalid)
    func rejectsField(text: String, field: String) {
        let error = #expect(throws: HostessError.self) { _ = try ServerName(parsing: text) }
        #expect(error?.code == .invalidName)
        #expect(error?.field == "name.\(field)")
        #expect(error?.message.hasPrefix("\(field): ") == true, "message: \(error?.message ?? "-")")
    }

    /// Names whose overall shape is wrong: the error names the whole name.
    static let malformed: [String] = [
        "",
        "host",
        "host:srv:0x0001:alice:no:none",
        "host:srv:0x0001:alice:no",
        "host:srv",
        "[fe80::1]:srv:0x0001:alice:no:none",
        "host:srv:0x0001:alice:no:none:\(uuid):" + String(repeating: "x", count: Limits.nameBytes),
        String(repeating: "h", count: Limits.nameBytes + 1),
    ]

    @Test("too few fields and overlong names are refused with invalid_name naming the name", arguments: malformed)
    func rejectsShape(text: String) {
        let error = #expect(throws: HostessError.self) { _ = try ServerName(parsing: text) }
        #expect(error?.code == .invalidName)
        #expect(error?.field == "name")
    }

    // MARK: Property

    @Test("2500 random canonical names format back to themselves and keep every field")
    func randomRoundTrip() throws {
        var random = SplitMix64(seed: 0x4854_5354_4E41_4D45)
        for _ in 0..<2500 {
            let fqdn = Self.randomFQDN(&random)
            let servername = Self.randomToken(&random, first: Self.lowerAlnum, rest: Self.lowerAlnum + ["-", "_", "."])
            let classCode = ClassCode(UInt16.random(in: 0...UInt16.max, using: &random))
            let owner = Self.randomToken(&random, first: Self.alnum, rest: Self.alnum + ["-", "_", "."])
            let authentication = random.pick(AuthenticationRequirement.allCases)
            let mechanism =
                random.chance(50)
                ? random.pick(["preshared-secret", "tls-cert", "none", "sasl.SCRAM-SHA-256", "kerberos_5"])
                : Self.randomToken(&random, first: Self.alnum, rest: Self.alnum + ["-", "_", "."])
            let uuid = [8, 4, 4, 4, 12].map { random.string(from: Self.lowerHex, count: $0) }.joined(separator: "-")
            let extensions = (0..<Int.random(in: 0...3, using: &random)).map { _ in
                random.string(from: Self.extensionBytes, count: Int.random(in: 1...12, using: &random))
            }
            let text =
                ([fqdn, servername, classCode.description, owner, authentication.rawValue, mechanism, uuid] + extensions)
                .joined(separator: ":")
            try #require(text.utf8.count <= Limits.nameBytes)

            let name: ServerName
            do { name = try ServerName(parsing: text) } catch {
                Issue.record("\(text) was refused: \(error)")
                continue
            }
            #expect(name.description == text)
            #expect(name.fqdn == fqdn)
            #expect(name.servername == servername)
            #expect(name.classCode == classCode)
            #expect(name.owner == owner)
            #expect(name.authentication == authentication)
            #expect(name.authMechanism == mechanism)
            #expect(name.uuid == uuid)
            #expect(name.extensions == extensions)
            let rebuilt = try ServerName(
                fqdn: fqdn, servername: servername, classCode: classCode, owner: owner, authentication: authentication,
                authMechanism: mechanism, uuid: uuid, extensions: extensions)
            #expect(rebuilt == name)
        }
    }

    static let lower = Array("abcdefghijklmnopqrstuvwxyz")
    static let digits = Array("0123456789")
    static let lowerAlnum = lower + digits
    static let alnum = lowerAlnum + Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    static let lowerHex = Array("0123456789abcdef")
    static let hex = lowerHex + Array("ABCDEF")
    static let extensionBytes = (0x21...0x7E).compactMap { $0 == 0x3A ? nil : Character(UnicodeScalar(UInt8($0))) }

    static func randomToken(_ random: inout SplitMix64, first: [Character], rest: [Character]) -> String {
        String(random.pick(first)) + random.string(from: rest, count: Int.random(in: 0...20, using: &random))
    }

    static func randomFQDN(_ random: inout SplitMix64) -> String {
        switch Int.random(in: 0..<4, using: &random) {
        case 0:
            return (0..<4).map { _ in String(Int.random(in: 0...255, using: &random)) }.joined(separator: ".")
        case 1, 2:
            return randomIPv6(&random)
        default:
            let labels = (0..<Int.random(in: 1...4, using: &random)).map { position -> String in
                let length = Int.random(in: 1...15, using: &random)
                // The first label starts with a letter so that the name can never read as an IPv4 address.
                var label = String(random.pick(position == 0 ? lower : alnum))
                if length > 1 {
                    label += random.string(from: alnum + ["-"], count: length - 2)
                    label.append(random.pick(alnum))
                }
                return label
            }
            return labels.joined(separator: ".")
        }
    }

    static func randomIPv6(_ random: inout SplitMix64) -> String {
        func group(_ random: inout SplitMix64) -> String {
            random.string(from: hex, count: Int.random(in: 1...4, using: &random))
        }
        func groups(_ count: Int, _ random: inout SplitMix64) -> [String] { (0..<count).map { _ in group(&random) } }
        let embedsIPv4 = random.chance(20)
        let slots = embedsIPv4 ? 6 : 8
        var address: String
        if random.chance(30) {
            address = groups(slots, &random).joined(separator: ":")
        } else {
            // "::" stands for at least one zero group.
            let kept = Int.random(in: 0...(slots - 1), using: &random)
            let before = Int.random(in: 0...kept, using: &random)
            address =
                groups(before, &random).joined(separator: ":") + "::" + groups(kept - before, &random).joined(separator: ":")
        }
        if embedsIPv4 {
            let ipv4 = (0..<4).map { _ in String(Int.random(in: 0...255, using: &random)) }.joined(separator: ".")
            address += address.hasSuffix(":") ? ipv4 : ":" + ipv4
        }
        if random.chance(20) {
            address += "%" + random.string(from: alnum + ["-", "_", "."], count: Int.random(in: 1...8, using: &random))
        }
        return "[\(address)]"
    }
}

// MARK: - Class codes

@Suite struct ClassCodeTests {
    @Test("a class code is written as 0x and four lower-case hex digits, and read back in either case", arguments: [0, 1, 9, 10, 0x00AB, 0xBEEF, 0xF00F, 0xFFFF] as [UInt16])
    func hex(value: UInt16) throws {
        let code = ClassCode(value)
        let hex = String(value, radix: 16)
        #expect(code.description == "0x" + String(repeating: "0", count: 4 - hex.count) + hex)
        #expect(try ClassCode(parsing: code.description) == code)
        #expect(try ClassCode(parsing: "0X" + code.description.dropFirst(2).uppercased()) == code)
    }

    @Test("anything else is refused, naming the hexcode field", arguments: ["", "0x", "0x123", "0x12345", "1x0001", "0x00g1", "0x-001", "0x０００１"])
    func refused(text: String) {
        #expect(throws: HostessError.self) { try ClassCode(parsing: text) }
        #expect((try? ClassCode(parsing: text)) == nil)
    }
}
