import HostessModel
import HostessSystem

// MARK: - Announcement

/// The LLDP-style announcement a Hostess multicasts: who it is, where its HTTP interface is, a summary of what
/// its servers offer and how to reach it. One UDP datagram of at most ``maximumBytes``; docs/mesh.md
/// ("Packet format") gives it byte by byte.
///
/// Every value is valid: the sender's initializer and ``decode(_:keys:now:)`` hold each member to the same
/// bounds, so ``encode(signingWith:)`` always fits a datagram.
public struct Announcement: Sendable, Hashable {
    // MARK: Limits

    /// The most bytes a datagram may take, signature trailer included.
    public static let maximumBytes = 1200
    /// The `type` member.
    public static let packetType = "HOSTESS_ANNOUNCEMENT"
    /// The `version` member this format is.
    public static let version: Int64 = 1
    /// How far a signed announcement's timestamp may be from the receiver's clock, in milliseconds.
    public static let clockSkewMilliseconds: Int64 = 300_000
    /// The most classes a datagram's summary may carry (a larger summary is sent truncated).
    public static let maximumClasses = 64
    /// The most capability names one class may carry in a datagram (a larger summary is sent truncated).
    public static let maximumCapabilitiesPerClass = 32
    /// The most bytes in a capability name.
    public static let maximumCapabilityBytes = 64
    /// The most connection methods a datagram carries (the encoder drops the rest).
    public static let maximumConnectionMethods = 8
    /// The most bytes in an endpoint (the announcement's or a connection method's).
    public static let maximumEndpointBytes = 256
    /// The most bytes in a connection method's type.
    public static let maximumMethodTypeBytes = 16
    /// The most bytes in a `keyId`.
    public static let maximumKeyIDBytes = 128
    /// The largest `serverCount`, `totalCount` and `availableCount`.
    public static let maximumCount = 1_000_000
    /// The largest `ttl`, in seconds (a day).
    public static let maximumTTL = 86_400
    /// The largest connection method latency, in milliseconds (ten minutes).
    public static let maximumLatency: Double = 600_000

    // MARK: Members

    /// When the sender built the packet, in milliseconds since the Unix epoch.
    public private(set) var timestamp: Int64
    /// The sender's host name (or address).
    public private(set) var fqdn: String
    /// The sender's id, a lower-case UUID.
    public private(set) var hostessID: String
    /// The sender's HTTP interface, `http://HOST:PORT`.
    public private(set) var endpoint: String
    /// How many servers the sender's guest book holds.
    public private(set) var serverCount: Int
    /// Seconds the peer stays live without another announcement; 0 says goodbye.
    public private(set) var ttl: Int
    /// The sender's counter, increasing with every packet it sends.
    public private(set) var sequence: Int64
    /// The capability summary; nil when a decoded datagram left it out (fetch it from ``endpoint``).
    public private(set) var capabilities: [CapabilitySummary]?
    /// The lower-case hex SHA-256 of the summary's canonical JSON (``CapabilitySummary/digest(of:)``).
    public private(set) var digest: String
    /// Tested ways to reach the sender, best first.
    public private(set) var connectionMethods: [ConnectionMethod]

    /// Whether the datagram left the summary out (it would not fit).
    public var summaryTruncated: Bool { capabilities == nil }

    /// The announcement a Hostess sends; the digest is computed from `capabilities`.
    ///
    /// Every member is checked against the bounds the decoder applies, except that the summary may have more
    /// than ``maximumClasses`` classes or ``maximumCapabilitiesPerClass`` names in a class and there may be
    /// more than ``maximumConnectionMethods`` methods: the encoder then truncates.
    public init(
        timestamp: Int64, fqdn: String, hostessID: String, endpoint: String, serverCount: Int, ttl: Int, sequence: Int64,
        capabilities: [CapabilitySummary], connectionMethods: [ConnectionMethod] = []
    ) throws(AnnouncementError) {
        try self.init(
            timestamp: timestamp, fqdn: fqdn, hostessID: hostessID, endpoint: endpoint, serverCount: serverCount, ttl: ttl,
            sequence: sequence, capabilities: Optional(capabilities), digest: CapabilitySummary.digest(of: capabilities),
            connectionMethods: connectionMethods)
    }

    /// Checks every member; the one initializer both the sender's and the decoder's go through.
    private init(
        timestamp: Int64, fqdn: String, hostessID: String, endpoint: String, serverCount: Int, ttl: Int, sequence: Int64,
        capabilities: [CapabilitySummary]?, digest: String, connectionMethods: [ConnectionMethod]
    ) throws(AnnouncementError) {
        try Check.range(timestamp, 1...Int64.max, field: "timestamp")
        try Check.fqdn(fqdn, field: "fqdn")
        self.hostessID = try Check.uuid(hostessID, field: "hostessId")
        try Check.endpoint(endpoint, field: "endpoint")
        try Check.range(serverCount, 0...Self.maximumCount, field: "serverCount")
        try Check.range(ttl, 0...Self.maximumTTL, field: "ttl")
        try Check.range(sequence, 0...Int64.max, field: "sequence")
        if let capabilities { try Check.summary(capabilities, field: "capabilities") }
        try Check.digest(digest, field: "digest")
        for (position, method) in connectionMethods.enumerated() {
            try Check.connectionMethod(method, field: "connectionMethods[\(position)]")
        }
        self.timestamp = timestamp
        self.fqdn = fqdn
        self.endpoint = endpoint
        self.serverCount = serverCount
        self.ttl = ttl
        self.sequence = sequence
        self.capabilities = capabilities
        self.digest = digest
        self.connectionMethods = connectionMethods
    }
}

// MARK: - Encoding

extension Announcement {
    /// The datagram: compact JSON, and with a key a `\n` and the 64 lower-case hex digits of
    /// HMAC-SHA256(secret, JSON). At most ``maximumBytes``: when the summary does not fit (or is beyond the
    /// decoder's bounds) it is left out and `summaryTruncated` is true; when even that does not fit,
    /// connection methods are dropped from the end.
    public func encode(signingWith key: MeshKey?) -> [UInt8] {
        let trailerBytes = key == nil ? 0 : 65
        let methods = Array(connectionMethods.prefix(Self.maximumConnectionMethods))
        if let capabilities, capabilities.count <= Self.maximumClasses,
            capabilities.allSatisfy({ $0.capabilities.count <= Self.maximumCapabilitiesPerClass })
        {
            let json = jsonBytes(summary: capabilities, methods: methods, keyID: key?.id)
            if json.count + trailerBytes <= Self.maximumBytes { return Self.sign(json, with: key) }
        }
        var kept = methods[...]
        while true {
            let json = jsonBytes(summary: nil, methods: Array(kept), keyID: key?.id)
            // Without methods the truncated form is at most about 1,050 bytes (docs/mesh.md): it always fits.
            if json.count + trailerBytes <= Self.maximumBytes || kept.isEmpty { return Self.sign(json, with: key) }
            kept = kept.dropLast()
        }
    }

    private func jsonBytes(summary: [CapabilitySummary]?, methods: [ConnectionMethod], keyID: String?) -> [UInt8] {
        var object: JSONObject = [
            "type": .string(Self.packetType), "version": .int(Self.version), "timestamp": .int(timestamp), "fqdn": .string(fqdn),
            "hostessId": .string(hostessID), "endpoint": .string(endpoint), "serverCount": .int(Int64(serverCount)),
            "ttl": .int(Int64(ttl)), "sequence": .int(sequence), "digest": .string(digest),
        ]
        if let summary { object["capabilities"] = .array(summary.map(\.json)) }
        object["connectionMethods"] = .array(methods.map(\.json))
        object["summaryTruncated"] = .bool(summary == nil)
        if let keyID { object["keyId"] = .string(keyID) }
        return JSONValue.object(object).jsonBytes
    }

    private static func sign(_ json: [UInt8], with key: MeshKey?) -> [UInt8] {
        guard let key else { return json }
        var datagram = json
        datagram.append(0x0A)
        datagram.append(contentsOf: Crypto.hex(Crypto.hmacSHA256(key: key.secret, message: json)).utf8)
        return datagram
    }
}

// MARK: - Decoding

extension Announcement {
    /// Reads and checks a datagram.
    ///
    /// With `keys`, the datagram must end in a signature trailer whose MAC (compared in constant time) is the
    /// HMAC of the JSON under the key its `keyId` names, and its timestamp must be within
    /// ``clockSkewMilliseconds`` of `wallMilliseconds`; the key id is returned. Without keys, signatures are
    /// not checked: a trailer is cut off and ignored, and the JSON before it must be valid on its own; the key
    /// id returned is nil. Every member is checked whatever the keys. Replays and our own announcements are the
    /// ``PeerTable``'s to refuse. Work is linear in the datagram, which is at most ``maximumBytes``.
    public static func decode(
        _ datagram: [UInt8], keys: MeshKeys?, now wallMilliseconds: Int64
    ) throws(AnnouncementError) -> (announcement: Announcement, keyID: String?) {
        guard datagram.count <= maximumBytes else {
            throw AnnouncementError(.tooLarge, "\(datagram.count) bytes; at most \(maximumBytes)")
        }
        let (json, mac) = splitTrailer(datagram)
        if keys != nil, mac == nil {
            throw AnnouncementError(.unsigned, "no signature trailer ('\\n' and 64 lower-case hex digits)", field: "signature")
        }
        let value: JSONValue
        do { value = try JSONParser.parse(json) } catch { throw AnnouncementError(.malformed, error.description) }
        guard case .object(let object) = value else {
            throw AnnouncementError(.malformed, "expected a JSON object, found \(value.typeName)")
        }
        let members = Members(object: object, path: "")
        try members.rejectUnknown(allowed: topLevelMembers)

        var keyID: String?
        if let keys, let mac {
            guard object["keyId"] != nil else { throw AnnouncementError(.unsigned, "a signed announcement names its key", field: "keyId") }
            let id = try members.keyID()
            guard let secret = keys.secret(for: id) else { throw AnnouncementError(.unknownKey, "no accepted key '\(id)'", field: "keyId") }
            guard Crypto.constantTimeEqual(Crypto.hmacSHA256(key: secret, message: json), mac) else {
                throw AnnouncementError(.badSignature, "the signature is not the HMAC of the JSON under key '\(id)'", field: "signature")
            }
            keyID = id
        } else if object["keyId"] != nil {
            _ = try members.keyID()
        }

        let announcement = try read(members)
        if keyID != nil {
            let skew = wallMilliseconds.subtractingReportingOverflow(announcement.timestamp)
            guard !skew.overflow, skew.partialValue.magnitude <= UInt64(clockSkewMilliseconds) else {
                throw AnnouncementError(
                    .stale, "\(announcement.timestamp) is more than \(clockSkewMilliseconds) ms from now (\(wallMilliseconds))",
                    field: "timestamp")
            }
        }
        return (announcement, keyID)
    }

    private static let topLevelMembers: Set<String> = [
        "type", "version", "timestamp", "fqdn", "hostessId", "endpoint", "serverCount", "ttl", "sequence", "digest",
        "capabilities", "connectionMethods", "summaryTruncated", "keyId",
    ]

    /// The JSON and the MAC when the datagram ends in `\n` and 64 lower-case hex digits; else all of it.
    private static func splitTrailer(_ datagram: [UInt8]) -> (json: [UInt8], mac: [UInt8]?) {
        let jsonEnd = datagram.count - 65
        guard jsonEnd >= 0, datagram[jsonEnd] == 0x0A else { return (datagram, nil) }
        let hex = datagram[(jsonEnd + 1)...]
        guard hex.allSatisfy(Check.isLowerHex), let mac = Crypto.bytes(hex: String(decoding: hex, as: UTF8.self)) else {
            return (datagram, nil)
        }
        return (Array(datagram[..<jsonEnd]), mac)
    }

    /// Every member but `keyId`, typed and then checked by the initializer; a summary that is present must
    /// match the digest.
    private static func read(_ members: Members) throws(AnnouncementError) -> Announcement {
        guard try members.string("type") == packetType else {
            throw Check.malformed("type", "expected '\(packetType)'")
        }
        guard try members.integer("version") == version else { throw Check.malformed("version", "expected \(version)") }
        let truncated = try members.bool("summaryTruncated")
        var summary: [CapabilitySummary]?
        if truncated {
            guard members.object["capabilities"] == nil else {
                throw Check.malformed("capabilities", "present although summaryTruncated is true")
            }
        } else {
            summary = try readSummary(members)
        }
        var methods: [ConnectionMethod] = []
        for (position, element) in try members.array("connectionMethods", maximum: maximumConnectionMethods).enumerated() {
            let method = try members.element(element, of: "connectionMethods", at: position)
            try method.rejectUnknown(allowed: ["type", "endpoint", "latency", "testedAt"])
            methods.append(
                ConnectionMethod(
                    type: try method.string("type"), endpoint: try method.string("endpoint"), latency: try method.number("latency"),
                    testedAt: try method.integer("testedAt")))
        }
        let announcement = try Announcement(
            timestamp: try members.integer("timestamp"), fqdn: try members.string("fqdn"), hostessID: try members.string("hostessId"),
            endpoint: try members.string("endpoint"), serverCount: Int(clamping: try members.integer("serverCount")),
            ttl: Int(clamping: try members.integer("ttl")), sequence: try members.integer("sequence"), capabilities: summary,
            digest: try members.string("digest"), connectionMethods: methods)
        if let summary, CapabilitySummary.digest(of: summary) != announcement.digest {
            throw Check.malformed("digest", "is not the SHA-256 of the capabilities' canonical JSON")
        }
        return announcement
    }

    private static func readSummary(
        _ members: Members, maximumClasses: Int = maximumClasses, maximumNames: Int = maximumCapabilitiesPerClass
    ) throws(AnnouncementError) -> [CapabilitySummary] {
        var summary: [CapabilitySummary] = []
        for (position, element) in try members.array("capabilities", maximum: maximumClasses).enumerated() {
            let item = try members.element(element, of: "capabilities", at: position)
            try item.rejectUnknown(allowed: ["class", "totalCount", "availableCount", "capabilities"])
            let classText = try item.string("class")
            let classCode: ClassCode
            do { classCode = try ClassCode(parsing: classText) } catch {
                throw Check.malformed(item.path("class"), "expected 0x and 4 hex digits")
            }
            var names: [String] = []
            for (index, name) in try item.array("capabilities", maximum: maximumNames).enumerated() {
                guard case .string(let text) = name else {
                    throw Check.malformed("\(item.path("capabilities"))[\(index)]", "expected a string, found \(name.typeName)")
                }
                names.append(text)
            }
            summary.append(
                CapabilitySummary(
                    classCode: classCode, totalCount: Int(clamping: try item.integer("totalCount")),
                    availableCount: Int(clamping: try item.integer("availableCount")), capabilities: names))
        }
        return summary
    }
}

// MARK: - Fetched summaries

extension CapabilitySummary {
    /// Classes a fetched summary (`POST /capabilities` of a peer) may have: every class there is.
    public static let maximumFetchedClasses = 65536
    /// Capability names one class of a fetched summary may have.
    public static let maximumFetchedNames = 4096

    /// Reads the summary a peer answers `POST /capabilities` with (an array of
    /// `{"class", "totalCount", "availableCount", "capabilities"}`), with the bounds of a datagram's summary
    /// but room for every class and name: what did not fit an announcement.
    public static func fetched(_ value: JSONValue) throws(AnnouncementError) -> [CapabilitySummary] {
        try Announcement.readFetched(value)
    }
}

extension Announcement {
    fileprivate static func readFetched(_ value: JSONValue) throws(AnnouncementError) -> [CapabilitySummary] {
        try readSummary(
            Members(object: ["capabilities": value], path: ""), maximumClasses: CapabilitySummary.maximumFetchedClasses,
            maximumNames: CapabilitySummary.maximumFetchedNames)
    }
}

// MARK: - Members

/// Typed access to one object of a datagram, naming members by their path; every failure is `malformed`.
private struct Members {
    let object: JSONObject
    let prefix: String

    init(object: JSONObject, path: String) {
        self.object = object
        self.prefix = path
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func rejectUnknown(allowed: Set<String>) throws(AnnouncementError) {
        for key in object.keys where !allowed.contains(key) { throw Check.malformed(path(key), "unknown member") }
    }

    func value(_ key: String) throws(AnnouncementError) -> JSONValue {
        guard let value = object[key] else { throw Check.malformed(path(key), "missing") }
        return value
    }

    func string(_ key: String) throws(AnnouncementError) -> String {
        let value = try value(key)
        guard case .string(let string) = value else { throw Check.malformed(path(key), "expected a string, found \(value.typeName)") }
        return string
    }

    func integer(_ key: String) throws(AnnouncementError) -> Int64 {
        let value = try value(key)
        guard case .int(let integer) = value else { throw Check.malformed(path(key), "expected an integer, found \(value.typeName)") }
        return integer
    }

    func number(_ key: String) throws(AnnouncementError) -> Double {
        switch try value(key) {
        case .int(let integer): return Double(integer)
        case .double(let double): return double
        case let other: throw Check.malformed(path(key), "expected a number, found \(other.typeName)")
        }
    }

    func bool(_ key: String) throws(AnnouncementError) -> Bool {
        let value = try value(key)
        guard case .bool(let bool) = value else { throw Check.malformed(path(key), "expected true or false, found \(value.typeName)") }
        return bool
    }

    func array(_ key: String, maximum: Int) throws(AnnouncementError) -> [JSONValue] {
        let value = try value(key)
        guard case .array(let elements) = value else { throw Check.malformed(path(key), "expected an array, found \(value.typeName)") }
        guard elements.count <= maximum else { throw Check.malformed(path(key), "\(elements.count) elements; at most \(maximum)") }
        return elements
    }

    /// Element `position` of array `key`, which must be an object.
    func element(_ value: JSONValue, of key: String, at position: Int) throws(AnnouncementError) -> Members {
        let elementPath = "\(path(key))[\(position)]"
        guard case .object(let object) = value else { throw Check.malformed(elementPath, "expected an object, found \(value.typeName)") }
        return Members(object: object, path: elementPath)
    }

    func keyID() throws(AnnouncementError) -> String {
        let id = try string("keyId")
        guard Check.isKeyID(id) else {
            throw Check.malformed(path("keyId"), "expected 1 to \(Announcement.maximumKeyIDBytes) printable bytes without space, ',', '\"' or '\\'")
        }
        return id
    }
}
