// MARK: - Errors

/// Why a path segment or query component cannot be percent-decoded.
public struct PercentDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The component as it was sent, e.g. `a%zz`.
    public var component: String
    /// What was wrong with it.
    public var reason: String

    /// Creates an error.
    public init(component: String, reason: String) {
        self.component = component
        self.reason = reason
    }

    public var description: String { "cannot percent-decode '\(component)': \(reason)" }
}

// MARK: - PercentDecoding

/// Strict percent-decoding of request-target components (RFC 3986 §2.1).
///
/// Every `%` must be followed by two hex digits, and the decoded bytes must be valid UTF-8; anything else is an
/// error naming the component. A `+` is a space only where ``Mode/query`` says so (form encoding, in query
/// names and values), never in a path segment.
public enum PercentDecoding {
    /// Where a component comes from, which decides what `+` means.
    public enum Mode: Sendable, Hashable {
        /// A path segment: `+` is a plus sign.
        case pathSegment
        /// A query name or value (`application/x-www-form-urlencoded`): `+` is a space.
        case query
    }

    /// Decodes one component.
    ///
    /// - Parameters:
    ///   - component: The raw text, e.g. `a%3Ab` or `gpu+h264`.
    ///   - mode: Whether `+` stays a plus sign (``Mode/pathSegment``, the default) or is a space (``Mode/query``).
    /// - Returns: The decoded text.
    /// - Throws: ``PercentDecodingError`` for a `%` not followed by two hex digits, or bytes that are not UTF-8.
    public static func decode(
        _ component: some StringProtocol, as mode: Mode = .pathSegment
    ) throws(PercentDecodingError) -> String {
        guard component.utf8.contains(where: { $0 == UInt8(ascii: "%") || (mode == .query && $0 == UInt8(ascii: "+")) }) else {
            return String(component)
        }
        let raw = Array(component.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            switch byte {
            case UInt8(ascii: "%"):
                guard raw.count - index >= 3, let high = hexValue(raw[index + 1]), let low = hexValue(raw[index + 2])
                else {
                    throw PercentDecodingError(
                        component: String(component), reason: "'%' at byte \(index) is not followed by two hex digits")
                }
                bytes.append(high << 4 | low)
                index += 3
            case UInt8(ascii: "+") where mode == .query:
                bytes.append(UInt8(ascii: " "))
                index += 1
            default:
                bytes.append(byte)
                index += 1
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PercentDecodingError(component: String(component), reason: "the decoded bytes are not valid UTF-8")
        }
        return text
    }

    /// Splits a raw path on `/` and decodes each segment (`+` stays a plus sign).
    ///
    /// `/servers/a%2Fb/heartbeat` is `["servers", "a/b", "heartbeat"]`: an encoded slash is part of a segment.
    /// `/` and the empty path are `[]`. Other empty segments (`//`, a trailing `/`) are returned as `""`, and
    /// `.` and `..` are returned as they are: nothing is resolved, a router simply matches no route.
    ///
    /// - Parameter path: The raw path, normally starting with `/`.
    /// - Returns: The decoded segments.
    /// - Throws: ``PercentDecodingError`` naming the first segment that does not decode.
    public static func pathSegments(_ path: some StringProtocol) throws(PercentDecodingError) -> [String] {
        // Cut on the bytes: '/' is ASCII, so every cut is a character boundary.
        let slash = UInt8(ascii: "/")
        let utf8 = path.utf8
        var start = utf8.startIndex
        if utf8.first == slash { start = utf8.index(after: start) }
        if start == utf8.endIndex { return [] }
        var segments: [String] = []
        var index = start
        while index < utf8.endIndex {
            if utf8[index] == slash {
                segments.append(try decode(path[start..<index], as: .pathSegment))
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        segments.append(try decode(path[start...], as: .pathSegment))
        return segments
    }

    /// Splits a raw query on `&`, then each item on its first `=`, and decodes both sides (`+` is a space).
    ///
    /// `capability=gpu&capability=h264&x` is `[("capability", "gpu"), ("capability", "h264"), ("x", "")]`:
    /// items keep their order and repeat, a bare name has the empty value, and empty items (`a=1&&b=2`, a
    /// trailing `&`) are skipped.
    ///
    /// - Parameter query: The raw query, without the `?`.
    /// - Returns: The decoded items in order.
    /// - Throws: ``PercentDecodingError`` naming the first name or value that does not decode.
    public static func queryItems(
        _ query: some StringProtocol
    ) throws(PercentDecodingError) -> [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        for item in Substring(query).split(separator: "&", omittingEmptySubsequences: true) {
            if let equals = item.utf8.firstIndex(of: UInt8(ascii: "=")) {
                let name = try decode(item[..<equals], as: .query)
                let value = try decode(item[item.index(after: equals)...], as: .query)
                items.append((name: name, value: value))
            } else {
                items.append((name: try decode(item, as: .query), value: ""))
            }
        }
        return items
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

// MARK: - PercentEncoding

/// Percent-encoding for the request-targets Hostess sends (RFC 3986 §2.1).
public enum PercentEncoding {
    /// `text` percent-encoded for one path segment: unreserved characters and ':' kept, every other byte
    /// as `%XX` (upper-case hex).
    public static func pathSegment(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return encoded
    }
}
