import HostessProbing
import Testing

// MARK: - PortRange

@Suite struct PortRangeTests {
    @Test(
        "A-B and a single port are read",
        arguments: [
            ("10000-65535", PortRange.standard), ("80", PortRange(lowerBound: 80, upperBound: 80)), ("1-65535", PortRange(lowerBound: 1, upperBound: 65535)),
            ("5-5", PortRange(lowerBound: 5, upperBound: 5)), ("65535", PortRange(lowerBound: 65535, upperBound: 65535)),
        ])
    func accepts(text: String, expected: PortRange) throws {
        let range = try PortRange(parsing: text, field: "ports")
        #expect(range == expected)
        let low = Int(expected.lowerBound)
        let high = Int(expected.upperBound)
        #expect(Int(range.lowerBound) == low)
        #expect(Int(range.upperBound) == high)
        #expect(range.count == high - low + 1)
        #expect(range.description == (low == high && !text.contains("-") ? "\(low)-\(low)" : text))
    }

    @Test(
        "anything else is refused naming the field",
        arguments: ["0-10", "0", "b-a", "5-3", "", "-", "80-", "-80", "1-2-3", "65536", "10-70000", " 80", "80 ", "1–2"])
    func refuses(text: String) {
        let error = Fixture.refusal { _ = try PortRange(parsing: text, field: "ports") }
        #expect(error?.field == "ports")
    }

    @Test("the standard range, count and contains")
    func standard() {
        #expect(PortRange.standard == PortRange(lowerBound: 10000, upperBound: 65535))
        #expect(PortRange.standard.count == 55536)
        #expect(PortRange.standard.contains(10000) && PortRange.standard.contains(65535) && !PortRange.standard.contains(9999))
        #expect(PortRange(lowerBound: 9, upperBound: 3) == PortRange(lowerBound: 9, upperBound: 9))
    }
}

// MARK: - ProbeInstructions

@Suite struct ProbeInstructionsTests {
    static let responseHash = ProbeSecrets.responseHash(probeHash: Fixture.probeHash, passphrase: Fixture.passphrase)

    static let validEnvironment: [String: String] = [
        "TARGET_IPS": "10.0.0.1,192.168.7.20,::1", "PORT_RANGE_START": "10000", "PORT_RANGE_END": "10100", "PROBE_HASH": Fixture.probeHash,
        "EXPECTED_RESPONSE_HASH": responseHash, "PASSPHRASE": Fixture.passphrase,
    ]

    static func with(_ name: String, _ value: String?) -> [String: String] {
        var environment = validEnvironment
        environment[name] = value
        return environment
    }

    @Test("a valid environment is read, and round-trips through .environment")
    func valid() throws {
        let instructions = try ProbeInstructions(environment: Self.validEnvironment)
        #expect(instructions.targets == ["10.0.0.1", "192.168.7.20", "::1"])
        #expect(instructions.ports == PortRange(lowerBound: 10000, upperBound: 10100))
        #expect(instructions.probeHash == Fixture.probeHash)
        #expect(instructions.expectedResponseHash == Self.responseHash)
        #expect(instructions.passphrase == Fixture.passphrase)
        #expect(instructions.totalTests == 3 * 101)
        #expect(instructions.environment == Self.validEnvironment)
        #expect(try ProbeInstructions(environment: instructions.environment) == instructions)
    }

    @Test("variables it does not know are ignored")
    func extraVariables() throws {
        var environment = Self.validEnvironment
        environment["PATH"] = "/usr/bin"
        environment["BEACON_WINDOW_PORTS"] = "0"
        #expect(try ProbeInstructions(environment: environment) == ProbeInstructions(environment: Self.validEnvironment))
    }

    @Test(
        "each missing variable is refused by name",
        arguments: ["TARGET_IPS", "PORT_RANGE_START", "PORT_RANGE_END", "PROBE_HASH", "EXPECTED_RESPONSE_HASH", "PASSPHRASE"])
    func missing(name: String) {
        let error = Fixture.refusal { _ = try ProbeInstructions(environment: Self.with(name, nil)) }
        #expect(error?.field == name)
        #expect(error?.reason == "missing")
    }

    static let tooManyAddresses = (1...65).map { "10.0.1.\($0)" }.joined(separator: ",")
    static let malformedCases: [(String, String)] = [
        ("TARGET_IPS", "10.0.0.300"), ("TARGET_IPS", "example.com"), ("TARGET_IPS", "localhost"), ("TARGET_IPS", "beef"),
        ("TARGET_IPS", "cafe.bad"), ("TARGET_IPS", "10.1"), ("TARGET_IPS", "2130706433"), ("TARGET_IPS", "010.0.0.1"), ("TARGET_IPS", "1.2.3.4.5"),
        ("TARGET_IPS", "10.0.0.1,10.0.0.300"), ("TARGET_IPS", ""), ("TARGET_IPS", ","), ("TARGET_IPS", " , "), ("TARGET_IPS", "[::1]"),
        ("TARGET_IPS", "10.0.0.1:80"), ("TARGET_IPS", "fe80::1%eth0"), ("TARGET_IPS", "1::2::3"), ("TARGET_IPS", "10.0.0.1 10.0.0.2"),
        ("TARGET_IPS", tooManyAddresses),
        ("PORT_RANGE_START", "0"), ("PORT_RANGE_START", "70000"), ("PORT_RANGE_START", ""), ("PORT_RANGE_START", "ten"), ("PORT_RANGE_START", "-1"),
        ("PORT_RANGE_START", "10000-10100"), ("PORT_RANGE_END", "0"), ("PORT_RANGE_END", "70000"), ("PORT_RANGE_END", "65536"),
        ("PORT_RANGE_END", "9999"),  // below the start
        ("PROBE_HASH", "0123456789abcde"), ("PROBE_HASH", ""), ("PROBE_HASH", String(repeating: "g", count: 64)),
        ("PROBE_HASH", String(Fixture.probeHash.dropLast()) + "z"), ("PROBE_HASH", String(repeating: "a", count: 130)),
        ("PROBE_HASH", " " + Fixture.probeHash),
        ("EXPECTED_RESPONSE_HASH", "abcdef"), ("EXPECTED_RESPONSE_HASH", String(repeating: "x", count: 64)),
        ("PASSPHRASE", "fifteen-chars.."), ("PASSPHRASE", ""), ("PASSPHRASE", "correct horse battery staple"),
        ("PASSPHRASE", "correct-horse-battery-staple\n"), ("PASSPHRASE", "tab\tinside-the-passphrase"), ("PASSPHRASE", "passphrase-with-é-inside"),
        ("PASSPHRASE", String(repeating: "p", count: 257)),
    ]

    @Test("each malformed variable is refused by name", arguments: malformedCases)
    func malformed(name: String, value: String) {
        let error = Fixture.refusal { _ = try ProbeInstructions(environment: Self.with(name, value)) }
        #expect(error?.field == name, "\(String(describing: error))")
    }

    @Test("start above end is refused naming PORT_RANGE_END")
    func reversedRange() {
        var environment = Self.validEnvironment
        environment["PORT_RANGE_START"] = "20000"
        environment["PORT_RANGE_END"] = "19999"
        #expect(Fixture.refusal { _ = try ProbeInstructions(environment: environment) }?.field == "PORT_RANGE_END")
        environment["PORT_RANGE_END"] = "20000"
        #expect(Fixture.refusal { _ = try ProbeInstructions(environment: environment) } == nil)
    }

    @Test("the bounds: 64 addresses, a 16-digit probe hash, a 64-digit response hash (a SHA-256), 16- and 256-byte passphrases, ports 1 and 65535")
    func bounds() throws {
        var environment = Self.validEnvironment
        environment["TARGET_IPS"] = (1...64).map { "10.0.1.\($0)" }.joined(separator: ",")
        environment["PORT_RANGE_START"] = "1"
        environment["PORT_RANGE_END"] = "65535"
        environment["PROBE_HASH"] = "0123456789abcdef"
        environment["EXPECTED_RESPONSE_HASH"] = String(repeating: "0f", count: 32)
        environment["PASSPHRASE"] = "sixteen-chars..."
        var instructions = try ProbeInstructions(environment: environment)
        #expect(instructions.targets.count == 64)
        #expect(instructions.totalTests == 64 * 65535)
        environment["PASSPHRASE"] = String(repeating: "~", count: 256)
        instructions = try ProbeInstructions(environment: environment)
        #expect(instructions.passphrase.utf8.count == 256)
    }

    @Test("hashes are read lower-case")
    func lowerCase() throws {
        let instructions = try ProbeInstructions(
            environment: Self.with("PROBE_HASH", Fixture.probeHash.uppercased()).merging(["EXPECTED_RESPONSE_HASH": Self.responseHash.uppercased()]) { $1 })
        #expect(instructions.probeHash == Fixture.probeHash)
        #expect(instructions.expectedResponseHash == Self.responseHash)
    }

    @Test(
        "addresses: duplicates collapse (in canonical form), spaces around items and empty items are dropped, IPv6 is accepted",
        arguments: [
            ("10.0.0.1,10.0.0.2,10.0.0.1", ["10.0.0.1", "10.0.0.2"]), ("::1", ["::1"]), ("::1,0:0:0:0:0:0:0:1,::0001", ["::1"]),
            ("FE80::1,fe80::1", ["fe80::1"]), ("2001:DB8:0:0:0:0:0:7", ["2001:db8::7"]), ("::ffff:10.0.0.1", ["::ffff:10.0.0.1"]),
            (" 10.0.0.1 , ::1 ", ["10.0.0.1", "::1"]), ("10.0.0.1,,10.0.0.2,", ["10.0.0.1", "10.0.0.2"]), ("0.0.0.0,::", ["0.0.0.0", "::"]),
            (Array(repeating: "127.0.0.1", count: 64).joined(separator: ","), ["127.0.0.1"]),
            (Array(repeating: "127.0.0.1", count: 64).joined(separator: ",") + ",,,", ["127.0.0.1"]),
        ])
    func addresses(text: String, expected: [String]) throws {
        #expect(try ProbeInstructions(environment: Self.with("TARGET_IPS", text)).targets == expected)
        #expect(try ProbeAddress.list(text, field: "X") == expected)
    }

    @Test("more than 64 addresses are refused, saying how many there were", arguments: [65, 1000])
    func tooManyAddresses(count: Int) {
        let text = Array(repeating: "127.0.0.1", count: count).joined(separator: ",,")
        #expect(throws: ProbeError("X", "at most 64 addresses, found \(count)")) { try ProbeAddress.list(text, field: "X") }
    }

    @Test("endpoints bracket IPv6")
    func endpoints() {
        #expect(ProbeAddress.endpoint("10.0.0.1", 80) == "10.0.0.1:80")
        #expect(ProbeAddress.endpoint("::1", 10000) == "[::1]:10000")
    }
}

// MARK: - BeaconConfiguration

@Suite struct BeaconConfigurationTests {
    static let validEnvironment: [String: String] = [
        "BEACON_ADDRESSES": "0.0.0.0,::", "PORT_RANGE_START": "10000", "PORT_RANGE_END": "65535", "PROBE_HASH": Fixture.probeHash,
        "PASSPHRASE": Fixture.passphrase,
    ]

    static func with(_ name: String, _ value: String?) -> [String: String] {
        var environment = validEnvironment
        environment[name] = value
        return environment
    }

    @Test("a valid environment is read, and round-trips through .environment, with and without a window", arguments: [nil, "1", "512", "65535"])
    func valid(window: String?) throws {
        let environment = Self.with("BEACON_WINDOW_PORTS", window)
        let configuration = try BeaconConfiguration(environment: environment)
        #expect(configuration.addresses == ["0.0.0.0", "::"])
        #expect(configuration.ports == PortRange.standard)
        #expect(configuration.probeHash == Fixture.probeHash)
        #expect(configuration.passphrase == Fixture.passphrase)
        #expect(configuration.windowPorts == window.flatMap { Int($0) })
        #expect(configuration.environment == environment)
        #expect(try BeaconConfiguration(environment: configuration.environment) == configuration)
    }

    @Test("each missing variable is refused by name", arguments: ["BEACON_ADDRESSES", "PORT_RANGE_START", "PORT_RANGE_END", "PROBE_HASH", "PASSPHRASE"])
    func missing(name: String) {
        let error = Fixture.refusal { _ = try BeaconConfiguration(environment: Self.with(name, nil)) }
        #expect(error?.field == name)
        #expect(error?.reason == "missing")
    }

    @Test("it needs no EXPECTED_RESPONSE_HASH nor TARGET_IPS")
    func probeOnlyVariables() {
        #expect(Fixture.refusal { _ = try BeaconConfiguration(environment: Self.validEnvironment) } == nil)
    }

    static let malformedCases: [(String, String)] = [
        ("BEACON_ADDRESSES", "10.0.0.300"), ("BEACON_ADDRESSES", "my-host.example"), ("BEACON_ADDRESSES", "dead.beef"), ("BEACON_ADDRESSES", ""),
        ("BEACON_ADDRESSES", "127.1"), ("BEACON_ADDRESSES", ProbeInstructionsTests.tooManyAddresses),
        ("PORT_RANGE_START", "0"), ("PORT_RANGE_START", "70000"), ("PORT_RANGE_END", "0"), ("PORT_RANGE_END", "70000"), ("PORT_RANGE_END", "9999"),
        ("PROBE_HASH", "abc"), ("PROBE_HASH", String(repeating: "q", count: 64)), ("PASSPHRASE", "short"), ("PASSPHRASE", "has a space in it, see"),
        ("BEACON_WINDOW_PORTS", "0"), ("BEACON_WINDOW_PORTS", "-1"), ("BEACON_WINDOW_PORTS", "65536"), ("BEACON_WINDOW_PORTS", "many"),
        ("BEACON_WINDOW_PORTS", ""), ("BEACON_WINDOW_PORTS", "1.5"),
    ]

    @Test("each malformed variable is refused by name", arguments: malformedCases)
    func malformed(name: String, value: String) {
        let error = Fixture.refusal { _ = try BeaconConfiguration(environment: Self.with(name, value)) }
        #expect(error?.field == name, "\(String(describing: error))")
    }

    @Test("duplicate listen addresses collapse; IPv6 literals are accepted")
    func addresses() throws {
        let configuration = try BeaconConfiguration(environment: Self.with("BEACON_ADDRESSES", "::1,127.0.0.1,0::1,127.0.0.1"))
        #expect(configuration.addresses == ["::1", "127.0.0.1"])
    }
}
