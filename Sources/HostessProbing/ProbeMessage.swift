import HostessModel

// MARK: - ProbeMessage

/// The messages between a probe and a beacon (docs/probing.md), each one JSON object on one line:
///
/// 1. probe → beacon `{"type":"PROBE","hash":PROBE_HASH}`
/// 2. beacon → probe `{"type":"BEACON","hash":sha256hex(PROBE_HASH + PASSPHRASE),"nonce":HEX}`
/// 3. probe → beacon, on its first working connection, `{"type":"PROBE_RESULTS",…,"mac":HEX}`
/// 4. probe → beacon `{"type":"PROBE_COMPLETE","mac":HEX}`
/// 5. beacon → probe `{"type":"TERMINATE","hash":sha256hex("terminate" + PASSPHRASE),"mac":HEX}`
///
/// The MACs bind 3 to 5 to the connection: HMAC-SHA256 under the passphrase of the beacon's nonce on that
/// connection, a newline, and the message's own bytes up to its `mac` member (`PROBE_RESULTS`), or the
/// words `complete` and `terminate`.
public enum ProbeMessage: Sendable, Hashable {
    /// The most bytes of any line but a report.
    public static let maximumLineBytes = 4096

    /// The probe's opening: its hash.
    case probe(hash: String)
    /// The beacon's answer: the response hash and the connection's nonce.
    case beacon(hash: String, nonce: String)
    /// The report, as sent (its bytes are what the MAC covers).
    case results(ProbeReport, mac: String)
    /// The probe is done.
    case complete(mac: String)
    /// The beacon lets the probe go.
    case terminate(hash: String, mac: String)

    // MARK: Encoding

    /// The message as one line, newline included. A report carries the MAC it was given, as its last member
    /// (``report(_:passphrase:nonce:)`` works the MAC out).
    public static func line(_ message: ProbeMessage) -> [UInt8] {
        let object: JSONObject
        switch message {
        case .probe(let hash): object = ["type": "PROBE", "hash": .string(hash)]
        case .beacon(let hash, let nonce): object = ["type": "BEACON", "hash": .string(hash), "nonce": .string(nonce)]
        case .results(let report, let mac): return reportPrefix(report) + Array(#","mac":""#.utf8) + Array(mac.utf8) + Array("\"}\n".utf8)
        case .complete(let mac): object = ["type": "PROBE_COMPLETE", "mac": .string(mac)]
        case .terminate(let hash, let mac): object = ["type": "TERMINATE", "hash": .string(hash), "mac": .string(mac)]
        }
        return JSONValue.object(object).jsonBytes + [0x0A]
    }

    /// The `PROBE_RESULTS` line for `report` on the connection with `nonce`, MAC included.
    public static func report(_ report: ProbeReport, passphrase: String, nonce: String) -> [UInt8] {
        let prefix = reportPrefix(report)
        return line(.results(report, mac: ProbeSecrets.mac(passphrase: passphrase, nonce: nonce, prefix)))
    }

    /// A report line's bytes before its `,"mac":` member: what the MAC covers.
    private static func reportPrefix(_ report: ProbeReport) -> [UInt8] {
        var object: JSONObject = ["type": "PROBE_RESULTS"]
        for (key, value) in report.members { object[key] = value }
        var bytes = JSONValue.object(object).jsonBytes
        bytes.removeLast()  // the closing brace
        return bytes
    }

    /// The MAC of `PROBE_COMPLETE` on a connection.
    public static func completeMAC(passphrase: String, nonce: String) -> String { ProbeSecrets.mac(passphrase: passphrase, nonce: nonce, Array("complete".utf8)) }

    /// The MAC of `TERMINATE` on a connection.
    public static func terminateMAC(passphrase: String, nonce: String) -> String { ProbeSecrets.mac(passphrase: passphrase, nonce: nonce, Array("terminate".utf8)) }

    // MARK: Decoding

    /// Reads one line (without its newline). A report's MAC is not checked here: see ``reportCovers(_:)``.
    public init(line: some Collection<UInt8>) throws(ProbeError) {
        let bytes = Array(line)
        guard let value = try? JSONParser.parse(bytes), case .object(let object) = value else {
            throw ProbeError("line", "expected one JSON object")
        }
        guard case .string(let type)? = object["type"] else { throw ProbeError("type", "missing") }
        func text(_ key: String, digits: ClosedRange<Int> = 16...128) throws(ProbeError) -> String {
            guard case .string(let value)? = object[key], digits.contains(value.utf8.count),
                value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
            else { throw ProbeError(key, "expected \(digits.lowerBound) to \(digits.upperBound) lower-case hex digits") }
            return value
        }
        func only(_ keys: Set<String>) throws(ProbeError) {
            if let extra = object.map(\.key).first(where: { !keys.contains($0) }) { throw ProbeError(extra, "not a member of \(type)") }
        }
        switch type {
        case "PROBE":
            try only(["type", "hash"])
            self = .probe(hash: try text("hash"))
        case "BEACON":
            try only(["type", "hash", "nonce"])
            self = .beacon(hash: try text("hash", digits: 64...64), nonce: try text("nonce", digits: ProbeSecrets.nonceDigits...ProbeSecrets.nonceDigits))
        case "PROBE_RESULTS":
            try only(["type", "results", "testedMatrix", "failures", "authFailed", "mac"])
            self = .results(try ProbeReport(object), mac: try text("mac", digits: 64...64))
        case "PROBE_COMPLETE":
            try only(["type", "mac"])
            self = .complete(mac: try text("mac", digits: 64...64))
        case "TERMINATE":
            try only(["type", "hash", "mac"])
            self = .terminate(hash: try text("hash", digits: 64...64), mac: try text("mac", digits: 64...64))
        default:
            throw ProbeError("type", "expected PROBE, BEACON, PROBE_RESULTS, PROBE_COMPLETE or TERMINATE, found '\(type.prefix(40))'")
        }
    }

    /// The bytes a report line's MAC covers: everything before its last `,"mac":"`, when the line ends with
    /// that member (64 hex digits) and its closing brace; nil otherwise.
    public static func reportCovers(_ line: some Collection<UInt8>) -> ArraySlice<UInt8>? {
        let bytes = Array(line)
        let marker = Array(#","mac":""#.utf8)
        let tail = marker.count + 64 + 2
        guard bytes.count > tail, bytes[(bytes.count - 2)...] == [UInt8(ascii: "\""), UInt8(ascii: "}")] else { return nil }
        let start = bytes.count - tail
        guard Array(bytes[start..<(start + marker.count)]) == marker,
            bytes[(start + marker.count)..<(bytes.count - 2)].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
        else { return nil }
        return bytes[..<start]
    }
}
