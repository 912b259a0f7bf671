// MARK: - Base64

/// The base64 encoding of RFC 4648 §4 (the standard alphabet, with padding), which etcd's JSON gateway uses for
/// keys and values, since they are bytes.
///
/// Decoding is strict, so that one byte sequence has one spelling: the length is a multiple of 4, the padding
/// (`=` or `==`) is only at the end, the bits the padding leaves over are zero, and nothing else (no white
/// space, no URL-safe alphabet) is accepted. It is what Go's `encoding/base64.StdEncoding` writes, which etcd
/// uses; both directions are linear in their input.
public enum Base64 {
    /// Why text is not base64.
    public struct DecodingError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The offset of the first byte that is wrong (the length, when the length is).
        public var offset: Int
        /// What is wrong there.
        public var reason: String

        /// Creates an error.
        public init(offset: Int, reason: String) {
            self.offset = offset
            self.reason = reason
        }

        public var description: String { "not base64 at byte \(offset): \(reason)" }
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Each byte's 6-bit value in the alphabet, or 0xFF.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (value, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(value) }
        return table
    }()

    // MARK: Encoding

    /// The base64 text of `bytes`, padded.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: encodedBytes(bytes), as: UTF8.self)
    }

    /// The base64 text of `bytes`, padded, as ASCII bytes.
    public static func encodedBytes(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let group = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(group >> 18 & 0x3F)])
            output.append(alphabet[Int(group >> 12 & 0x3F)])
            output.append(alphabet[Int(group >> 6 & 0x3F)])
            output.append(alphabet[Int(group & 0x3F)])
            index += 3
        }
        let left = input.count - index
        if left > 0 {
            let group = UInt32(input[index]) << 16 | (left == 2 ? UInt32(input[index + 1]) << 8 : 0)
            output.append(alphabet[Int(group >> 18 & 0x3F)])
            output.append(alphabet[Int(group >> 12 & 0x3F)])
            output.append(left == 2 ? alphabet[Int(group >> 6 & 0x3F)] : UInt8(ascii: "="))
            output.append(UInt8(ascii: "="))
        }
        return output
    }

    // MARK: Decoding

    /// The bytes `text` encodes.
    /// - Throws: ``DecodingError`` naming the first byte that is not strict, padded base64.
    public static func decode(_ text: String) throws(DecodingError) -> [UInt8] {
        try decode(bytes: Array(text.utf8))
    }

    /// The bytes the base64 text `symbols` (ASCII bytes) encodes.
    /// - Throws: ``DecodingError`` naming the first byte that is not strict, padded base64.
    public static func decode(bytes symbols: some Collection<UInt8>) throws(DecodingError) -> [UInt8] {
        let input = Array(symbols)
        guard input.count % 4 == 0 else {
            throw DecodingError(offset: input.count, reason: "the length \(input.count) is not a multiple of 4")
        }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            // A last group may end in "=" or "==".
            let padding = isLast ? (input[index + 3] == UInt8(ascii: "=") ? (input[index + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            var group: UInt32 = 0
            for offset in 0..<(4 - padding) {
                let value = values[Int(input[index + offset])]
                guard value != 0xFF else {
                    let reason = input[index + offset] == UInt8(ascii: "=") ? "padding before the end" : "a byte outside the base64 alphabet"
                    throw DecodingError(offset: index + offset, reason: reason)
                }
                group = group << 6 | UInt32(value)
            }
            group <<= UInt32(6 * padding)
            // The padding leaves 4 (one byte) or 2 (two bytes) bits over: they must be zero.
            guard group & (padding == 2 ? 0xFFFF : padding == 1 ? 0xFF : 0) == 0 else {
                throw DecodingError(offset: index + 3 - padding, reason: "the bits before the padding are not zero")
            }
            output.append(UInt8(group >> 16))
            if padding < 2 { output.append(UInt8(group >> 8 & 0xFF)) }
            if padding < 1 { output.append(UInt8(group & 0xFF)) }
            index += 4
        }
        return output
    }
}
