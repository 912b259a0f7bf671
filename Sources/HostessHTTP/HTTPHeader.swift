// MARK: - HTTPHeader

/// One header field line: a name and a value, in the order they appeared (or will be written).
///
/// In a parsed ``HTTPRequest`` the name is lower-cased and the value has its surrounding optional white space
/// removed. In an ``HTTPResponse`` the name is written as given.
public struct HTTPHeader: Sendable, Hashable, CustomStringConvertible {
    /// The field name, e.g. `content-type`.
    public var name: String
    /// The field value, e.g. `application/json`.
    public var value: String

    /// Creates a header field.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name): \(value)" }

    /// Whether this field can be written to a response as is: the name is a non-empty token (RFC 9110 §5.1)
    /// and the value holds no control character other than HTAB (so no CR, LF or NUL: no response splitting).
    public var isWellFormed: Bool {
        !name.isEmpty && name.utf8.allSatisfy(\.isTokenCharacter) && value.utf8.allSatisfy(\.isFieldValueCharacter)
    }
}

// MARK: - Character classes

extension UInt8 {
    /// CR.
    static let cr: UInt8 = 0x0D
    /// LF.
    static let lf: UInt8 = 0x0A
    /// SP.
    static let space: UInt8 = 0x20
    /// HTAB.
    static let tab: UInt8 = 0x09

    /// `tchar` (RFC 9110 §5.6.2): the characters of a method or a field name.
    var isTokenCharacter: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// SP or HTAB: optional white space (RFC 9110 §5.6.3).
    var isOptionalWhitespace: Bool { self == .space || self == .tab }

    /// A byte allowed in a field value (RFC 9110 §5.5): VCHAR, obs-text, SP and HTAB; no other control
    /// character and no DEL.
    var isFieldValueCharacter: Bool { self == .tab || (self >= 0x20 && self != 0x7F) }

    /// The byte with ASCII upper-case letters lower-cased.
    var asciiLowercased: UInt8 { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self) ? self | 0x20 : self }
}

// MARK: - Describing untrusted bytes

/// Renders bytes from the network for an error message: printable ASCII as is, anything else as `\xHH`,
/// cut after `limit` bytes, so that a message never carries control characters or invalid UTF-8.
func describe<Bytes: Collection<UInt8>>(_ bytes: Bytes, limit: Int = 64) -> String {
    let hexDigits = Array("0123456789ABCDEF".utf8)
    var text: [UInt8] = []
    for (position, byte) in bytes.enumerated() {
        if position == limit {
            text.append(contentsOf: "...".utf8)
            break
        }
        if (0x20...0x7E).contains(byte) && byte != UInt8(ascii: "\\") {
            text.append(byte)
        } else {
            text.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "x")])
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0F)])
        }
    }
    return String(decoding: text, as: UTF8.self)
}
