// MARK: - ServerName

/// The structured name of a server: `fqdn:servername:hexcode:owner:authentication:auth_mechanism:UUID`,
/// optionally followed by extension fields, which are kept and written back unchanged.
///
/// Parsing normalizes the two fields that have a canonical case (the hexcode's digits and the UUID are
/// lower-cased), so `ServerName(parsing: s).description == s` for every canonical name.
public struct ServerName: Hashable, Sendable, CustomStringConvertible {
    /// A hostname, a dotted IPv4 address, or a bracketed IPv6 literal (`[fe80::1]`).
    public let fqdn: String
    /// What the server does, Hurd-style: `pty-server`.
    public let servername: String
    /// The server's class.
    public let classCode: ClassCode
    /// Who owns the server.
    public let owner: String
    /// Whether clients must authenticate.
    public let authentication: AuthenticationRequirement
    /// How clients authenticate: `preshared-secret`, `tls-cert`, `none`, or another token.
    public let authMechanism: String
    /// RFC 4122 text, lower case.
    public let uuid: String
    /// Fields after the UUID, kept for forward compatibility.
    public let extensions: [String]
    /// The formatted name, made once: the entry id every lookup, index and reply uses.
    public let description: String

    /// A name from its fields; every field is validated as in ``init(parsing:)``.
    public init(
        fqdn: String, servername: String, classCode: ClassCode, owner: String,
        authentication: AuthenticationRequirement, authMechanism: String, uuid: String, extensions: [String] = []
    ) throws(HostessError) {
        try NameField.fqdn.validate(fqdn)
        try NameField.servername.validate(servername)
        try NameField.owner.validate(owner)
        try NameField.authMechanism.validate(authMechanism)
        let canonicalUUID = try ServerName.canonicalUUID(uuid)
        guard extensions.count <= Limits.extensions else {
            throw NameField.extensions.error("at most \(Limits.extensions) extension fields")
        }
        for field in extensions { try NameField.extensions.validate(field) }
        self.fqdn = fqdn
        self.servername = servername
        self.classCode = classCode
        self.owner = owner
        self.authentication = authentication
        self.authMechanism = authMechanism
        self.uuid = canonicalUUID
        self.extensions = extensions
        description = Self.format(
            fqdn: fqdn, servername: servername, classCode: classCode,
            rest: [owner, authentication.rawValue, authMechanism, canonicalUUID] + extensions)
        guard description.utf8.count <= Limits.nameBytes else {
            throw HostessError(.invalidName, "a name is at most \(Limits.nameBytes) bytes", field: "name")
        }
    }

    /// Parses a name; the error names the field that is wrong and why.
    public init(parsing text: String) throws(HostessError) {
        guard text.utf8.count <= Limits.nameBytes else {
            throw HostessError(.invalidName, "a name is at most \(Limits.nameBytes) bytes", field: "name")
        }
        // Every separator is ASCII, so the fields are cut on UTF-8 bytes (String.Index is shared by the views).
        let colon = UInt8(ascii: ":")
        let utf8 = text.utf8
        var start = utf8.startIndex
        let fqdn: Substring
        if utf8.first == UInt8(ascii: "[") {
            guard let close = utf8.firstIndex(of: UInt8(ascii: "]")) else {
                throw NameField.fqdn.error("a bracketed IPv6 literal needs a closing ']'")
            }
            let after = utf8.index(after: close)
            fqdn = text[..<after]
            guard after < utf8.endIndex, utf8[after] == colon else { throw NameField.fqdn.error("expected ':' after ']'") }
            start = utf8.index(after: after)
        } else {
            guard let first = utf8.firstIndex(of: colon) else {
                throw HostessError(
                    .invalidName,
                    "expected fqdn:servername:hexcode:owner:authentication:auth_mechanism:UUID", field: "name")
            }
            fqdn = text[..<first]
            start = utf8.index(after: first)
        }
        var fields: [Substring] = []
        fields.reserveCapacity(6)
        var index = start
        while index < utf8.endIndex {
            if utf8[index] == colon {
                fields.append(text[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        fields.append(text[start...])
        guard fields.count >= 6 else {
            throw HostessError(
                .invalidName,
                "expected 7 fields (fqdn:servername:hexcode:owner:authentication:auth_mechanism:UUID), found \(fields.count + 1)",
                field: "name")
        }
        let authentication = try AuthenticationRequirement(parsing: String(fields[3]))
        try self.init(
            fqdn: String(fqdn), servername: String(fields[0]), classCode: try ClassCode(parsing: String(fields[1])),
            owner: String(fields[2]), authentication: authentication, authMechanism: String(fields[4]),
            uuid: String(fields[5]), extensions: fields.dropFirst(6).map(String.init))
    }

    /// Whether `text` is a valid fqdn field: a hostname, a dotted IPv4 address or a bracketed IPv6 literal.
    public static func isValidFQDN(_ text: String) -> Bool {
        (try? NameField.fqdn.validate(text)) != nil
    }

    /// The fields joined by ':', written into the string's storage at once.
    static func format(fqdn: String, servername: String, classCode: ClassCode, rest: [String]) -> String {
        let length = rest.reduce(fqdn.utf8.count + servername.utf8.count + 8) { $0 + 1 + $1.utf8.count }  // "::0xNNNN"
        return String(unsafeUninitializedCapacity: length) { buffer in
            var offset = buffer.startIndex
            func put(_ text: String) { offset = buffer[offset...].initialize(fromContentsOf: text.utf8) }
            func put(_ byte: UInt8) {
                buffer[offset] = byte
                offset += 1
            }
            put(fqdn)
            put(UInt8(ascii: ":"))
            put(servername)
            put(UInt8(ascii: ":"))
            classCode.write { put($0) }
            for text in rest {
                put(UInt8(ascii: ":"))
                put(text)
            }
            return offset
        }
    }

    /// Names are equal when their formatted forms are: the fields are validated so that no two names format alike.
    public static func == (lhs: ServerName, rhs: ServerName) -> Bool { lhs.description == rhs.description }

    /// Hashes the formatted form.
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }

    static func canonicalUUID(_ text: String) throws(HostessError) -> String {
        let bytes = text.utf8
        guard bytes.count == 36 else {
            throw NameField.uuid.error("expected 36 characters (8-4-4-4-12 hex digits), found \(bytes.count)")
        }
        var upperCase = false
        for (position, byte) in bytes.enumerated() {
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard byte == UInt8(ascii: "-") else { throw NameField.uuid.error("expected '-' at position \(position + 1)") }
            } else {
                guard byte.isHexDigit else { throw NameField.uuid.error("'\(Character(UnicodeScalar(byte)))' is not a hex digit") }
                if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F") { upperCase = true }
            }
        }
        return upperCase ? text.lowercased() : text
    }
}

// MARK: - ClassCode

/// A server class: `0x` followed by four hex digits, held as its 16-bit value.
public struct ClassCode: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The class number.
    public var value: UInt16

    /// A class from its number.
    public init(_ value: UInt16) { self.value = value }

    /// Parses `0xNNNN`.
    public init(parsing text: String) throws(HostessError) {
        guard let code = ClassCode(bytes: text.utf8) else {
            throw NameField.hexcode.error("expected 0x followed by 4 hex digits, e.g. 0x0001; found '\(text)'")
        }
        self = code
    }

    /// Reads `0x` (or `0X`) and four hex digits of either case from `bytes`; nil for anything else.
    init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 6 else { return nil }
        var value: UInt16 = 0
        for (position, byte) in bytes.enumerated() {
            switch position {
            case 0: guard byte == UInt8(ascii: "0") else { return nil }
            case 1: guard byte == UInt8(ascii: "x") || byte == UInt8(ascii: "X") else { return nil }
            default:
                guard let digit = byte.hexValue else { return nil }
                value = value << 4 | UInt16(digit)
            }
        }
        self.value = value
    }

    /// Calls `put` with each byte of `0xNNNN`, lower case.
    func write(_ put: (UInt8) -> Void) {
        put(UInt8(ascii: "0"))
        put(UInt8(ascii: "x"))
        for shift in stride(from: 12, through: 0, by: -4) {
            let digit = UInt8(truncatingIfNeeded: value >> UInt16(shift)) & 0xF
            put(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
        }
    }

    /// `0x` and four lower-case hex digits.
    public var description: String {
        String(unsafeUninitializedCapacity: 6) { buffer in
            var offset = 0
            write { byte in
                buffer[offset] = byte
                offset += 1
            }
            return offset
        }
    }

    public static func < (lhs: ClassCode, rhs: ClassCode) -> Bool { lhs.value < rhs.value }
}

// MARK: - AuthenticationRequirement

/// Whether a server requires clients to authenticate.
public enum AuthenticationRequirement: String, Sendable, CaseIterable {
    case yes, no, optional

    /// Parses `yes`, `no` or `optional`.
    public init(parsing text: String) throws(HostessError) {
        guard let value = AuthenticationRequirement(rawValue: text) else {
            throw NameField.authentication.error("expected yes, no or optional; found '\(text)'")
        }
        self = value
    }
}

// MARK: - Field validation

/// The fields of a server name, with their rules.
enum NameField: String {
    case fqdn, servername, hexcode, owner, authentication
    case authMechanism = "auth_mechanism"
    case uuid = "UUID"
    case extensions = "extension"

    func error(_ why: String) -> HostessError {
        HostessError(.invalidName, "\(rawValue): \(why)", field: "name.\(rawValue)")
    }

    func validate(_ text: String) throws(HostessError) {
        switch self {
        case .fqdn: try Self.validateFQDN(text)
        case .servername:
            try Token.validate(
                text, maximum: Limits.tokenBytes, first: \.isLowerAlphanumeric, rest: \.isServernameByte,
                rule: "lower-case letters, digits, '-', '_' and '.', starting with a letter or digit"
            ) { error($0) }
        case .owner:
            try Token.validate(
                text, maximum: Limits.tokenBytes, first: \.isAlphanumeric, rest: \.isTokenByte,
                rule: "letters, digits, '-', '_' and '.', starting with a letter or digit"
            ) { error($0) }
        case .authMechanism:
            try Token.validate(
                text, maximum: Limits.tokenBytes, first: \.isAlphanumeric, rest: \.isTokenByte,
                rule: "letters, digits, '-', '_' and '.', starting with a letter or digit"
            ) { error($0) }
        case .extensions:
            try Token.validate(
                text, maximum: Limits.tokenBytes, first: \.isExtensionByte, rest: \.isExtensionByte,
                rule: "printable ASCII other than ':' and spaces"
            ) { error($0) }
        case .hexcode, .authentication, .uuid: break
        }
    }

    private static func validateFQDN(_ text: String) throws(HostessError) {
        let field = NameField.fqdn
        guard !text.isEmpty else { throw field.error("is empty") }
        guard text.utf8.count <= Limits.fqdnBytes else { throw field.error("longer than \(Limits.fqdnBytes) bytes") }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]"), IPv6Literal.isValid(text.dropFirst().dropLast()) else {
                throw field.error("'\(text)' is not a valid bracketed IPv6 address")
            }
            return
        }
        let labels = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if labels.count == 4, labels.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isDigit) }) {
            guard labels.allSatisfy({ $0.count <= 3 && $0.reduce(0) { $0 * 10 + Int($1 &- 0x30) } <= 255 && !($0.count > 1 && $0.first == 0x30) })
            else { throw field.error("'\(text)' is not a valid IPv4 address") }
            return
        }
        for label in labels {
            guard !label.isEmpty, label.count <= 63 else {
                throw field.error("hostname labels are 1 to 63 characters; '\(text)' has an empty or longer one")
            }
            guard label.allSatisfy({ $0.isAlphanumeric || $0 == UInt8(ascii: "-") }),
                label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-")
            else {
                throw field.error("hostname label '\(String(decoding: label, as: UTF8.self))' may hold only letters, digits and inner '-'")
            }
        }
    }
}

/// Shared token validation for names, terminals and capabilities.
enum Token {
    static func validate(
        _ text: String, maximum: Int, first: (UInt8) -> Bool, rest: (UInt8) -> Bool, rule: String,
        error: (String) -> HostessError
    ) throws(HostessError) {
        let bytes = text.utf8
        guard let head = bytes.first else { throw error("is empty") }
        guard bytes.count <= maximum else { throw error("longer than \(maximum) bytes") }
        guard first(head), bytes.dropFirst().allSatisfy(rest) else { throw error("'\(text)' must use \(rule)") }
    }
}

// MARK: - IPv6

enum IPv6Literal {
    /// Whether `text` is an IPv6 address in RFC 4291 text form, with an optional `%zone`.
    static func isValid(_ text: Substring) -> Bool {
        var address = text
        if let percent = address.firstIndex(of: "%") {
            let zone = address[address.index(after: percent)...]
            guard !zone.isEmpty, zone.utf8.count <= 32, zone.utf8.allSatisfy(\.isTokenByte) else { return false }
            address = address[..<percent]
        }
        guard !address.isEmpty, address.utf8.count <= 45 else { return false }
        let halves = address.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return false }
        var groups = 0
        for (position, half) in halves.enumerated() where !half.isEmpty {
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            for (index, part) in parts.enumerated() {
                let isLast = position == halves.count - 1 && index == parts.count - 1
                if isLast, part.contains(".") {
                    let octets = part.split(separator: ".", omittingEmptySubsequences: false)
                    guard octets.count == 4,
                        octets.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.utf8.allSatisfy(\.isDigit) && (UInt16($0) ?? 256) <= 255 })
                    else { return false }
                    groups += 2
                } else {
                    guard (1...4).contains(part.utf8.count), part.utf8.allSatisfy({ (byte: UInt8) in byte.isHexDigit }) else { return false }
                    groups += 1
                }
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }
}

// MARK: - Byte classes

extension UInt8 {
    var isDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
    var isLower: Bool { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) }
    var isAlpha: Bool { isLower || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) }
    var isAlphanumeric: Bool { isAlpha || isDigit }
    var isLowerAlphanumeric: Bool { isLower || isDigit }
    var isHexDigit: Bool { hexValue != nil }
    /// The value of a hex digit (either case), or nil.
    var hexValue: UInt8? {
        switch self {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): self &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): self &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): self &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }
    var isTokenByte: Bool { isAlphanumeric || self == UInt8(ascii: "-") || self == UInt8(ascii: "_") || self == UInt8(ascii: ".") }
    var isServernameByte: Bool { isLowerAlphanumeric || self == UInt8(ascii: "-") || self == UInt8(ascii: "_") || self == UInt8(ascii: ".") }
    var isExtensionByte: Bool { self > 0x20 && self < 0x7F && self != UInt8(ascii: ":") }
}
