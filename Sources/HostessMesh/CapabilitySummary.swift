import HostessModel
import HostessSystem

// MARK: - CapabilitySummary

/// What one class of servers on a Hostess offers: the shape of one item of `queryCapabilities`
/// (`GuestBook.capabilitySummary`): how many servers, how many have a free terminal, and the union of their
/// capabilities.
public struct CapabilitySummary: Sendable, Hashable {
    /// The server class.
    public var classCode: ClassCode
    /// How many servers of the class are registered.
    public var totalCount: Int
    /// How many of them have at least one terminal not in use.
    public var availableCount: Int
    /// The union of their capabilities.
    public var capabilities: [String]

    /// A summary of one class.
    public init(classCode: ClassCode, totalCount: Int, availableCount: Int, capabilities: [String]) {
        self.classCode = classCode
        self.totalCount = totalCount
        self.availableCount = availableCount
        self.capabilities = capabilities
    }

    /// The wire form: `{"class","totalCount","availableCount","capabilities"}`, in that order.
    public var json: JSONValue {
        .object([
            "class": .string(classCode.description), "totalCount": .int(Int64(totalCount)),
            "availableCount": .int(Int64(availableCount)), "capabilities": .array(capabilities.map(JSONValue.string)),
        ])
    }
}

// MARK: - Summary and digest

extension CapabilitySummary {
    /// The per-class summary of `entries`, as `queryCapabilities` computes it: per class the number of
    /// entries, the number with at least one terminal not in use, and the union of their capabilities;
    /// sorted by class, capability names sorted.
    public static func summary(of entries: [GuestBookEntry]) -> [CapabilitySummary] {
        var byClass: [ClassCode: (total: Int, available: Int, capabilities: Set<String>)] = [:]
        for entry in entries {
            var item = byClass[entry.name.classCode] ?? (0, 0, [])
            item.total += 1
            if entry.availableTerminalCount > 0 { item.available += 1 }
            item.capabilities.formUnion(entry.capabilities)
            byClass[entry.name.classCode] = item
        }
        return byClass.sorted { $0.key < $1.key }.map { classCode, item in
            CapabilitySummary(
                classCode: classCode, totalCount: item.total, availableCount: item.available,
                capabilities: item.capabilities.sorted(by: precedesBytewise))
        }
    }

    /// The canonical JSON of `summary`: the items sorted by class, each one's capability names sorted byte by
    /// byte, compact, members in wire order.
    public static func canonicalJSON(of summary: [CapabilitySummary]) -> [UInt8] {
        let canonical = summary.sorted { $0.classCode < $1.classCode }.map { item in
            var sorted = item
            sorted.capabilities.sort(by: precedesBytewise)
            return sorted.json
        }
        return JSONValue.array(canonical).jsonBytes
    }

    /// The lower-case hex SHA-256 of ``canonicalJSON(of:)``: what an announcement's `digest` carries, so a
    /// peer sees the summary change even when the datagram leaves it out.
    public static func digest(of summary: [CapabilitySummary]) -> String {
        Crypto.hex(Crypto.sha256(canonicalJSON(of: summary)))
    }

    private static func precedesBytewise(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}

// MARK: - ConnectionMethod

/// A way to reach a Hostess that a remote probe tested (the design's cached connection methods).
public struct ConnectionMethod: Sendable, Hashable {
    /// The transport, e.g. `http`, `tcp`, `websocket`, `unix-socket`.
    public var type: String
    /// Where to connect, e.g. `tcp://machine-a.local:9090`.
    public var endpoint: String
    /// The latency the probe measured, in milliseconds.
    public var latency: Double
    /// When the probe tested it, in milliseconds since the Unix epoch.
    public var testedAt: Int64

    /// A connection method.
    public init(type: String, endpoint: String, latency: Double, testedAt: Int64) {
        self.type = type
        self.endpoint = endpoint
        self.latency = latency
        self.testedAt = testedAt
    }

    /// The wire form: `{"type","endpoint","latency","testedAt"}`, in that order.
    public var json: JSONValue {
        .object(["type": .string(type), "endpoint": .string(endpoint), "latency": .double(latency), "testedAt": .int(testedAt)])
    }
}
