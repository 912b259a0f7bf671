import CShim

// MARK: - Crypto

/// SHA-256, HMAC-SHA256 and constant-time comparison, from the system's libcrypto (OpenSSL).
public enum Crypto {
    /// SHA-256 of `bytes` (32 bytes).
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let status = withNonNullBytes(bytes) { data, count in cshim_sha256(data, count, &digest) }
        precondition(status == 0, "libcrypto failed to compute SHA-256")
        return digest
    }

    /// HMAC-SHA256 of `message` under `key` (32 bytes).
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        let status = withNonNullBytes(key) { keyData, keyCount in
            withNonNullBytes(message) { data, count in cshim_hmac_sha256(keyData, keyCount, data, count, &mac) }
        }
        precondition(status == 0, "libcrypto failed to compute HMAC-SHA256")
        return mac
    }

    /// Whether `a` and `b` hold the same bytes. When their lengths match, the time taken does not depend on
    /// where they differ; a length mismatch returns at once (lengths are not secret here: a MAC's is fixed).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return withNonNullBytes(a) { left, count in withNonNullBytes(b) { right, _ in cshim_equal_constant_time(left, right, count) } } == 1
    }

    /// Lower-case hexadecimal.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes `text` spells in hexadecimal (either case), or nil when it is not an even run of hex digits.
    public static func bytes(hex text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    /// Calls `body` with a non-null pointer to `bytes` (libcrypto wants one even for zero bytes).
    private static func withNonNullBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawPointer, Int) -> R) -> R {
        var placeholder: UInt8 = 0
        if bytes.isEmpty { return withUnsafePointer(to: &placeholder) { body(UnsafeRawPointer($0), 0) } }
        return bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return withUnsafePointer(to: &placeholder) { body(UnsafeRawPointer($0), 0) } }
            return body(base, raw.count)
        }
    }
}
