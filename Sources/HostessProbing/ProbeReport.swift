import HostessModel

// MARK: - ProbeReport

/// What a probe found, the design's `PROBE_RESULTS`: the working address:port pairs with their latency,
/// the matrix it tested, and (beyond the design) how the other tests failed.
public struct ProbeReport: Sendable, Hashable {
    /// Why one test did not work.
    public enum Failure: String, Sendable, Hashable, CaseIterable {
        /// Nothing listens there (RST).
        case refused
        /// The connect got no answer in time: a firewall dropping packets, or no route that says so.
        case timeout
        /// Something accepted the connection but did not answer as a beacon that knows the passphrase (a
        /// wrong hash, garbage, silence, or a close).
        case authFailed = "auth_failed"
        /// No route to the address.
        case unreachable
        /// Any other error.
        case error
    }

    /// One working pair.
    public struct Success: Sendable, Hashable {
        /// The address.
        public var ip: String
        /// The port.
        public var port: UInt16
        /// Connect plus authentication, in milliseconds.
        public var latency: Double

        /// A working pair.
        public init(ip: String, port: UInt16, latency: Double) {
            self.ip = ip
            self.port = port
            self.latency = latency
        }
    }

    /// The most results one report may carry.
    public static let maximumResults = 262_144
    /// The most `auth_failed` pairs one report names.
    public static let maximumNamedFailures = 1024
    /// The most bytes of one report line.
    public static let maximumBytes = 16 << 20

    /// Working pairs, in the order found.
    public var results: [Success]
    /// The addresses tested.
    public var ips: [String]
    /// The ports tested on each.
    public var ports: PortRange
    /// Tests made: addresses × ports.
    public var totalTests: Int
    /// How many tests failed, by reason.
    public var failures: [Failure: Int]
    /// The pairs where something answered but failed authentication (at most ``maximumNamedFailures``).
    public var authFailed: [String]

    /// A report from its parts.
    public init(results: [Success], ips: [String], ports: PortRange, totalTests: Int, failures: [Failure: Int] = [:], authFailed: [String] = []) {
        self.results = results
        self.ips = ips
        self.ports = ports
        self.totalTests = totalTests
        self.failures = failures
        self.authFailed = authFailed
    }

    /// Working tests.
    public var successfulTests: Int { results.count }

    // MARK: Wire form

    /// The members of `PROBE_RESULTS` after `type`: `results` (each `{"success": true, "ip", "port",
    /// "latency"}`), `testedMatrix` (`ips`, `portRange` [A, B], `totalTests`, `successfulTests`), `failures`
    /// (by reason) and `authFailed` (`IP:PORT` strings).
    public var members: JSONObject {
        var failureCounts = JSONObject()
        for failure in Failure.allCases { failureCounts[failure.rawValue] = .int(Int64(failures[failure] ?? 0)) }
        return [
            "results": .array(results.map { ["success": true, "ip": .string($0.ip), "port": .int(Int64($0.port)), "latency": .double($0.latency)] }),
            "testedMatrix": [
                "ips": .array(ips.map(JSONValue.string)), "portRange": [.int(Int64(ports.lowerBound)), .int(Int64(ports.upperBound))],
                "totalTests": .int(Int64(totalTests)), "successfulTests": .int(Int64(successfulTests)),
            ],
            "failures": .object(failureCounts),
            "authFailed": .array(authFailed.map(JSONValue.string)),
        ]
    }

    /// A reading error as a report error: the reader's own field, else `testedMatrix`.
    private static func located(_ error: any Error) -> ProbeError {
        switch error {
        case let error as ProbeError: error
        case let error as HostessError: ProbeError(error.field ?? "testedMatrix", error.message)
        default: ProbeError("testedMatrix", "\(error)")
        }
    }

    /// Reads and checks a report: every result inside the matrix, the counts adding up, every member bounded.
    public init(_ object: JSONObject) throws(ProbeError) {
        let reader = JSONReader(object)
        let matrix: JSONReader
        let items: [JSONValue]
        do {
            matrix = try reader.requireReader("testedMatrix")
            guard case .array(let list) = try reader.require("results") else { throw ProbeError("results", "expected an array") }
            items = list
        } catch {
            throw Self.located(error)
        }
        guard items.count <= Self.maximumResults else { throw ProbeError("results", "at most \(Self.maximumResults), found \(items.count)") }
        let ips: [String]
        let range: [JSONValue]
        let total: Int64
        let successful: Int64
        do {
            let names = try matrix.strings("ips") ?? []
            guard (1...ProbeAddress.maximumCount).contains(names.count) else { throw ProbeError("testedMatrix.ips", "expected 1 to \(ProbeAddress.maximumCount) addresses") }
            var literals: [String] = []
            for name in names { literals.append(try ProbeAddress.literal(name, field: "testedMatrix.ips")) }
            ips = literals
            guard case .array(let pair) = try matrix.require("portRange"), pair.count == 2 else {
                throw ProbeError("testedMatrix.portRange", "expected [first, last]")
            }
            range = pair
            total = try matrix.int("totalTests", in: 0...Int64(ProbeAddress.maximumCount * 65536)) ?? -1
            successful = try matrix.int("successfulTests", in: 0...Int64(Self.maximumResults)) ?? -1
        } catch {
            throw Self.located(error)
        }
        guard case .int(let low) = range[0], case .int(let high) = range[1], (1...65535).contains(low), (low...65535).contains(high) else {
            throw ProbeError("testedMatrix.portRange", "expected two ports from 1 to 65535, the first not above the second")
        }
        let ports = PortRange(lowerBound: UInt16(low), upperBound: UInt16(high))
        guard total == Int64(ips.count * ports.count) else {
            throw ProbeError("testedMatrix.totalTests", "expected \(ips.count) addresses × \(ports.count) ports = \(ips.count * ports.count), found \(total)")
        }
        guard successful == Int64(items.count) else {
            throw ProbeError("testedMatrix.successfulTests", "expected the number of results, \(items.count), found \(successful)")
        }
        let known = Set(ips)
        var results: [Success] = []
        results.reserveCapacity(items.count)
        var seen = Set<String>()
        for (index, item) in items.enumerated() {
            let field = "results[\(index)]"
            guard case .object(let result) = item, case .string(let ip)? = result["ip"], case .int(let port)? = result["port"] else {
                throw ProbeError(field, "expected {\"success\": true, \"ip\", \"port\", \"latency\"}")
            }
            let latency: Double
            switch result["latency"] {
            case .double(let value)?: latency = value
            case .int(let value)?: latency = Double(value)
            default: throw ProbeError(field + ".latency", "expected milliseconds")
            }
            guard result["success"] == .bool(true) else { throw ProbeError(field + ".success", "expected true: results are the working pairs") }
            guard known.contains(ip) else { throw ProbeError(field + ".ip", "'\(ip)' is not among testedMatrix.ips") }
            guard port >= low && port <= high else { throw ProbeError(field + ".port", "\(port) is outside testedMatrix.portRange") }
            guard latency.isFinite, latency >= 0, latency <= 3_600_000 else { throw ProbeError(field + ".latency", "expected 0 to 3600000 ms") }
            guard seen.insert(ProbeAddress.endpoint(ip, UInt16(port))).inserted else { throw ProbeError(field, "\(ip) port \(port) is listed twice") }
            results.append(Success(ip: ip, port: UInt16(port), latency: latency))
        }
        var failures: [Failure: Int] = [:]
        if case .object(let counts)? = object["failures"] {
            for (name, value) in counts {
                guard let failure = Failure(rawValue: name), case .int(let count) = value, count >= 0, count <= total else {
                    throw ProbeError("failures.\(name)", "expected one of \(Failure.allCases.map(\.rawValue)) with a count up to totalTests")
                }
                failures[failure] = Int(count)
            }
        }
        guard failures.values.reduce(0, +) <= Int(total) - results.count else {
            throw ProbeError("failures", "the failures add up to more than totalTests − successfulTests")
        }
        var named: [String] = []
        if case .array(let list)? = object["authFailed"] {
            guard list.count <= Self.maximumNamedFailures else { throw ProbeError("authFailed", "at most \(Self.maximumNamedFailures)") }
            for entry in list {
                guard case .string(let text) = entry, text.utf8.count <= 64 else { throw ProbeError("authFailed", "expected IP:PORT strings") }
                named.append(text)
            }
        }
        self.init(results: results, ips: ips, ports: ports, totalTests: Int(total), failures: failures, authFailed: named)
    }
}
