import Glibc
import HostessModel
import HostessSystem

// MARK: - PortRange

/// A range of TCP ports, both ends included.
public struct PortRange: Sendable, Hashable, CustomStringConvertible {
    /// The design's default range: every unprivileged port from 10000.
    public static let standard = PortRange(lowerBound: 10000, upperBound: 65535)

    /// The first port.
    public var lowerBound: UInt16
    /// The last port.
    public var upperBound: UInt16

    /// A range; `lowerBound` must not be above `upperBound`.
    public init(lowerBound: UInt16, upperBound: UInt16) {
        self.lowerBound = lowerBound
        self.upperBound = max(lowerBound, upperBound)
    }

    /// Ports in the range.
    public var count: Int { Int(upperBound) - Int(lowerBound) + 1 }

    /// Whether `port` is in the range.
    public func contains(_ port: UInt16) -> Bool { port >= lowerBound && port <= upperBound }

    /// `A-B`.
    public var description: String { "\(lowerBound)-\(upperBound)" }

    /// Reads `A-B` (or one port `A`), ports 1…65535.
    public init(parsing text: String, field: String) throws(ProbeError) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let low = UInt16(parts[0]), let high = UInt16(parts.last ?? ""), low >= 1, low <= high else {
            throw ProbeError(field, "expected A-B with ports 1 to 65535 and A ≤ B, found '\(text)'")
        }
        self.init(lowerBound: low, upperBound: high)
    }

    /// The range from two environment variables.
    static func read(start: String, end: String, in environment: [String: String]) throws(ProbeError) -> PortRange {
        let low = try Self.port(start, environment)
        let high = try Self.port(end, environment)
        guard low <= high else { throw ProbeError(end, "\(high) is below \(start) \(low)") }
        return PortRange(lowerBound: low, upperBound: high)
    }

    private static func port(_ name: String, _ environment: [String: String]) throws(ProbeError) -> UInt16 {
        guard let text = environment[name] else { throw ProbeError(name, "missing") }
        guard let port = UInt16(text), port >= 1 else { throw ProbeError(name, "expected a port from 1 to 65535, found '\(text)'") }
        return port
    }
}

// MARK: - Addresses

/// IP address literals as the probe protocol carries them: IPv4 dotted quads and IPv6 text without brackets.
public enum ProbeAddress {
    /// The most addresses one run may test.
    public static let maximumCount = 64

    /// Reads a comma-separated list of IP literals (no names: resolving is not the probe's business).
    public static func list(_ text: String, field: String) throws(ProbeError) -> [String] {
        // Split on the bytes, at most one item past the limit: a long list is refused without making the rest.
        let comma = UInt8(ascii: ",")
        var items = text.utf8.split(separator: comma, maxSplits: maximumCount)
        // The rest after the last item taken may be nothing but commas (empty items, dropped).
        if items.count > maximumCount, let rest = items.last, rest.allSatisfy({ $0 == comma }) { items.removeLast() }
        guard !items.isEmpty else { throw ProbeError(field, "expected one or more IP addresses separated by commas") }
        guard items.count <= maximumCount else {
            let found = text.utf8.split(separator: comma).count
            throw ProbeError(field, "at most \(maximumCount) addresses, found \(found)")
        }
        var seen = Set<String>()
        var addresses: [String] = []
        for item in items {
            var trimmed = item[...]
            while trimmed.first == UInt8(ascii: " ") { trimmed.removeFirst() }
            while trimmed.last == UInt8(ascii: " ") { trimmed.removeLast() }
            let address = try literal(String(decoding: trimmed, as: UTF8.self), field: field)
            if seen.insert(address).inserted { addresses.append(address) }
        }
        return addresses
    }

    /// One IP literal, canonical (as the kernel prints it); an error names `field`.
    public static func literal(_ text: String, field: String) throws(ProbeError) -> String {
        // inet_pton, not the resolver: no names, no legacy IPv4 forms (`10.1`, `2130706433`, octal `010.0.0.1`).
        let family = text.contains(":") ? AF_INET6 : AF_INET
        var address = in6_addr()  // room for either family
        var canonical = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard text.utf8.count <= 45, text.utf8.allSatisfy({ $0.isHexDigitOrSeparator }), inet_pton(family, text, &address) == 1,
            inet_ntop(family, &address, &canonical, socklen_t(canonical.count)) != nil
        else {
            throw ProbeError(field, "'\(text)' is not an IPv4 or IPv6 address")
        }
        return String(decoding: canonical.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `IP:PORT`, with brackets around IPv6.
    public static func endpoint(_ ip: String, _ port: UInt16) -> String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

extension UInt8 {
    /// A byte of an IP literal: hex digits, `.` and `:`.
    fileprivate var isHexDigitOrSeparator: Bool {
        (self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9")) || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F")) || self == UInt8(ascii: ".") || self == UInt8(ascii: ":")
    }
}

// MARK: - ProbeInstructions

/// What the Executor tells a probe, exactly the design's environment: `TARGET_IPS`, `PORT_RANGE_START`,
/// `PORT_RANGE_END`, `PROBE_HASH`, `EXPECTED_RESPONSE_HASH`, `PASSPHRASE`. Nothing comes from the command line.
public struct ProbeInstructions: Sendable, Hashable {
    /// The addresses to test.
    public var targets: [String]
    /// The ports to test on each.
    public var ports: PortRange
    /// The hash the probe sends.
    public var probeHash: String
    /// The answer a beacon that knows the passphrase gives.
    public var expectedResponseHash: String
    /// The shared secret, for the connection MACs and the termination.
    public var passphrase: String

    /// Instructions from their parts.
    public init(targets: [String], ports: PortRange, probeHash: String, expectedResponseHash: String, passphrase: String) {
        self.targets = targets
        self.ports = ports
        self.probeHash = probeHash
        self.expectedResponseHash = expectedResponseHash
        self.passphrase = passphrase
    }

    /// Reads the instructions from the environment; the error names the variable.
    public init(environment: [String: String]) throws(ProbeError) {
        guard let targets = environment["TARGET_IPS"] else { throw ProbeError("TARGET_IPS", "missing") }
        self.init(
            targets: try ProbeAddress.list(targets, field: "TARGET_IPS"),
            ports: try PortRange.read(start: "PORT_RANGE_START", end: "PORT_RANGE_END", in: environment),
            probeHash: try Self.hash("PROBE_HASH", environment), expectedResponseHash: try Self.hash("EXPECTED_RESPONSE_HASH", environment, digits: 64...64),
            passphrase: try Self.passphrase(environment))
    }

    /// The environment a probe is started with.
    public var environment: [String: String] {
        [
            "TARGET_IPS": targets.joined(separator: ","), "PORT_RANGE_START": String(ports.lowerBound), "PORT_RANGE_END": String(ports.upperBound),
            "PROBE_HASH": probeHash, "EXPECTED_RESPONSE_HASH": expectedResponseHash, "PASSPHRASE": passphrase,
        ]
    }

    /// Tests in the matrix: every target × every port.
    public var totalTests: Int { targets.count * ports.count }

    /// A hash: 16 to 128 hex digits (a response hash: 64, a SHA-256), read lower-case.
    static func hash(_ name: String, _ environment: [String: String], digits: ClosedRange<Int> = 16...128) throws(ProbeError) -> String {
        guard let text = environment[name] else { throw ProbeError(name, "missing") }
        guard digits.contains(text.utf8.count), Crypto.bytes(hex: text) != nil else {
            throw ProbeError(name, digits.count == 1 ? "expected \(digits.lowerBound) hex digits" : "expected \(digits.lowerBound) to \(digits.upperBound) hex digits")
        }
        return text.lowercased()
    }

    /// The passphrase: 16 to 256 bytes of printable ASCII.
    static func passphrase(_ environment: [String: String]) throws(ProbeError) -> String {
        guard let text = environment["PASSPHRASE"] else { throw ProbeError("PASSPHRASE", "missing") }
        guard (16...256).contains(text.utf8.count), text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ProbeError("PASSPHRASE", "expected 16 to 256 printable ASCII characters without spaces")
        }
        return text
    }
}

// MARK: - BeaconConfiguration

/// What the Executor tells a beacon, through the environment: `BEACON_ADDRESSES` (where to listen),
/// `PORT_RANGE_START`, `PORT_RANGE_END`, `PROBE_HASH` (the only hash it answers), `PASSPHRASE`, and
/// optionally `BEACON_WINDOW_PORTS` (most ports per window; by default as many as its descriptors allow).
public struct BeaconConfiguration: Sendable, Hashable {
    /// Addresses to listen on.
    public var addresses: [String]
    /// Ports to listen on at each.
    public var ports: PortRange
    /// The probe hash it answers; any other is refused.
    public var probeHash: String
    /// The shared secret.
    public var passphrase: String
    /// The most ports one window covers, when limited.
    public var windowPorts: Int?

    /// A configuration from its parts.
    public init(addresses: [String], ports: PortRange, probeHash: String, passphrase: String, windowPorts: Int? = nil) {
        self.addresses = addresses
        self.ports = ports
        self.probeHash = probeHash
        self.passphrase = passphrase
        self.windowPorts = windowPorts
    }

    /// Reads the configuration from the environment; the error names the variable.
    public init(environment: [String: String]) throws(ProbeError) {
        guard let addresses = environment["BEACON_ADDRESSES"] else { throw ProbeError("BEACON_ADDRESSES", "missing") }
        var window: Int?
        if let text = environment["BEACON_WINDOW_PORTS"] {
            guard let value = Int(text), (1...65535).contains(value) else { throw ProbeError("BEACON_WINDOW_PORTS", "expected 1 to 65535, found '\(text)'") }
            window = value
        }
        self.init(
            addresses: try ProbeAddress.list(addresses, field: "BEACON_ADDRESSES"),
            ports: try PortRange.read(start: "PORT_RANGE_START", end: "PORT_RANGE_END", in: environment),
            probeHash: try ProbeInstructions.hash("PROBE_HASH", environment), passphrase: try ProbeInstructions.passphrase(environment), windowPorts: window)
    }

    /// The environment a beacon is started with.
    public var environment: [String: String] {
        var environment = [
            "BEACON_ADDRESSES": addresses.joined(separator: ","), "PORT_RANGE_START": String(ports.lowerBound),
            "PORT_RANGE_END": String(ports.upperBound), "PROBE_HASH": probeHash, "PASSPHRASE": passphrase,
        ]
        if let windowPorts { environment["BEACON_WINDOW_PORTS"] = String(windowPorts) }
        return environment
    }
}

// MARK: - ProbeRequest

/// What a user asks of a probe run (`hostess probe`): the addresses (nil: every address of this machine,
/// or with `from` the one facing that peer), the ports, and the peer that runs the probe (phase 3), if any.
public struct ProbeRequest: Sendable, Hashable {
    /// The addresses to probe; nil for the default.
    public var targets: [String]?
    /// The ports, by default the design's 10000–65535.
    public var ports: PortRange
    /// The peer (host name or hostessId) that runs the probe toward this machine; nil: this machine.
    public var from: String?

    /// A request.
    public init(targets: [String]? = nil, ports: PortRange = .standard, from: String? = nil) {
        self.targets = targets
        self.ports = ports
        self.from = from
    }
}

// MARK: - Instructions over HTTP

extension ProbeInstructions {
    /// The body of `POST /probe`, which asks a peer to run a probe toward the asking Hostess's beacon
    /// (phase 3): `{"targets": [IP], "ports": "A-B", "probeHash", "expectedResponseHash", "passphrase"}`.
    public var json: JSONObject {
        [
            "targets": .array(targets.map(JSONValue.string)), "ports": .string(ports.description), "probeHash": .string(probeHash),
            "expectedResponseHash": .string(expectedResponseHash), "passphrase": .string(passphrase),
        ]
    }

    /// Reads the body of `POST /probe`, with the environment's rules; an error names the member.
    public init(json object: JSONObject) throws(ProbeError) {
        let members = ["targets", "ports", "probeHash", "expectedResponseHash", "passphrase"]
        if let extra = object.map(\.key).first(where: { !members.contains($0) }) { throw ProbeError(extra, "unknown member; expected \(members.joined(separator: ", "))") }
        guard case .array(let list)? = object["targets"] else { throw ProbeError("targets", "expected an array of IP addresses") }
        var targets: [String] = []
        for item in list {
            guard case .string(let text) = item else { throw ProbeError("targets", "expected IP address strings") }
            targets.append(text)
        }
        guard case .string(let ports)? = object["ports"] else { throw ProbeError("ports", "expected \"A-B\"") }
        let range = try PortRange(parsing: ports, field: "ports")
        var environment: [String: String] = ["TARGET_IPS": targets.joined(separator: ","), "PORT_RANGE_START": String(range.lowerBound), "PORT_RANGE_END": String(range.upperBound)]
        for (member, variable) in [("probeHash", "PROBE_HASH"), ("expectedResponseHash", "EXPECTED_RESPONSE_HASH"), ("passphrase", "PASSPHRASE")] {
            guard case .string(let text)? = object[member] else { throw ProbeError(member, "expected a string") }
            environment[variable] = text
        }
        do { try self.init(environment: environment) } catch {
            let names = ["TARGET_IPS": "targets", "PORT_RANGE_START": "ports", "PORT_RANGE_END": "ports", "PROBE_HASH": "probeHash",
                         "EXPECTED_RESPONSE_HASH": "expectedResponseHash", "PASSPHRASE": "passphrase"]
            throw ProbeError(names[error.field] ?? error.field, error.reason)
        }
    }
}
