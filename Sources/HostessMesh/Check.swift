import HostessModel

// MARK: - Check

/// The rules every announcement member is held to, shared by the sender's initializer and the decoder. Each
/// failure is `malformed` and names the member by its path.
enum Check {
    static func malformed(_ field: String, _ message: String) -> AnnouncementError {
        AnnouncementError(.malformed, message, field: field)
    }

    // MARK: Byte classes

    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isLowerHex(_ byte: UInt8) -> Bool { isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) }

    static func isHex(_ byte: UInt8) -> Bool { isLowerHex(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F")) }

    /// `A–Z a–z 0–9 - _ .`
    static func isTokenByte(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
    }

    /// Printable ASCII, space included.
    static func isPrintable(_ byte: UInt8) -> Bool { byte >= 0x20 && byte < 0x7F }

    // MARK: Members

    /// 1 to `maximum` bytes of ``isTokenByte(_:)``.
    static func token(_ text: String, maximum: Int, field: String) throws(AnnouncementError) {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= maximum, bytes.allSatisfy(isTokenByte) else {
            throw malformed(field, "expected 1 to \(maximum) letters, digits, '-', '_' or '.'")
        }
    }

    /// 1 to `maximum` bytes of printable ASCII.
    static func printable(_ text: String, maximum: Int, field: String) throws(AnnouncementError) {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= maximum, bytes.allSatisfy(isPrintable) else {
            throw malformed(field, "expected 1 to \(maximum) bytes of printable ASCII")
        }
    }

    /// A hostname, dotted IPv4 address or bracketed IPv6 literal.
    static func fqdn(_ text: String, field: String) throws(AnnouncementError) {
        guard ServerName.isValidFQDN(text) else {
            throw malformed(field, "expected a hostname, an IPv4 address or a bracketed IPv6 address")
        }
    }

    /// A UUID, 8-4-4-4-12 hex digits of either case; returns it lower-cased.
    static func uuid(_ text: String, field: String) throws(AnnouncementError) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { throw malformed(field, "expected a UUID (8-4-4-4-12 hex digits)") }
        for (position, byte) in bytes.enumerated() {
            let isDash = position == 8 || position == 13 || position == 18 || position == 23
            guard isDash ? byte == UInt8(ascii: "-") : isHex(byte) else {
                throw malformed(field, "expected a UUID (8-4-4-4-12 hex digits)")
            }
        }
        return text.lowercased()
    }

    /// `http://HOST:PORT` with HOST an ``fqdn(_:field:)`` and PORT 1…65535 without leading zeros, at most
    /// ``Announcement/maximumEndpointBytes`` bytes.
    static func endpoint(_ text: String, field: String) throws(AnnouncementError) {
        let failure = malformed(field, "expected http://HOST:PORT of at most \(Announcement.maximumEndpointBytes) bytes")
        guard text.utf8.count <= Announcement.maximumEndpointBytes, text.hasPrefix("http://") else { throw failure }
        let authority = text.utf8.dropFirst(7)
        guard let colon = authority.lastIndex(of: UInt8(ascii: ":")) else { throw failure }
        let host = String(decoding: authority[..<colon], as: UTF8.self)
        let port = authority[authority.index(after: colon)...]
        guard ServerName.isValidFQDN(host), (1...5).contains(port.count), port.allSatisfy(isDigit),
            port.first != UInt8(ascii: "0"), let number = Int(String(decoding: port, as: UTF8.self)), number <= 65535
        else { throw failure }
    }

    /// 64 lower-case hex digits.
    static func digest(_ text: String, field: String) throws(AnnouncementError) {
        guard text.utf8.count == 64, text.utf8.allSatisfy(isLowerHex) else {
            throw malformed(field, "expected 64 lower-case hex digits (SHA-256)")
        }
    }

    /// Whether `text` is a `keyId`: 1 to ``Announcement/maximumKeyIDBytes`` bytes of printable ASCII other than
    /// space, `,`, `"` and `\` (so it needs no escape in JSON and fits an HTTP `Authorization` parameter).
    static func isKeyID(_ text: String) -> Bool {
        let bytes = text.utf8
        return !bytes.isEmpty && bytes.count <= Announcement.maximumKeyIDBytes
            && bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
    }

    /// `value` within `range`.
    static func range<Value: Comparable>(_ value: Value, _ range: ClosedRange<Value>, field: String) throws(AnnouncementError) {
        guard range.contains(value) else { throw malformed(field, "\(value) is outside \(range.lowerBound)...\(range.upperBound)") }
    }

    /// A summary's rules: classes unique; per class capability names unique tokens of at most 64 bytes, and
    /// 0 ≤ availableCount ≤ totalCount ≤ ``Announcement/maximumCount``. How many classes and names fit a
    /// datagram is the decoder's concern (the encoder sends a larger summary truncated).
    static func summary(_ summary: [CapabilitySummary], field: String) throws(AnnouncementError) {
        var classes = Set<UInt16>()
        for (position, item) in summary.enumerated() {
            let path = "\(field)[\(position)]"
            guard classes.insert(item.classCode.value).inserted else {
                throw malformed("\(path).class", "class \(item.classCode) appears twice")
            }
            try range(item.totalCount, 0...Announcement.maximumCount, field: "\(path).totalCount")
            try range(item.availableCount, 0...item.totalCount, field: "\(path).availableCount")
            var names = Set<String>()
            for (index, name) in item.capabilities.enumerated() {
                let namePath = "\(path).capabilities[\(index)]"
                try token(name, maximum: Announcement.maximumCapabilityBytes, field: namePath)
                guard names.insert(name).inserted else { throw malformed(namePath, "capability '\(name)' appears twice") }
            }
        }
    }

    /// A connection method's rules.
    static func connectionMethod(_ method: ConnectionMethod, field: String) throws(AnnouncementError) {
        try token(method.type, maximum: Announcement.maximumMethodTypeBytes, field: "\(field).type")
        try printable(method.endpoint, maximum: Announcement.maximumEndpointBytes, field: "\(field).endpoint")
        guard method.latency.isFinite, (0...Announcement.maximumLatency).contains(method.latency) else {
            throw malformed("\(field).latency", "expected 0...\(Announcement.maximumLatency) milliseconds")
        }
        try range(method.testedAt, 1...Int64.max, field: "\(field).testedAt")
    }
}
