import HostessSystem

// MARK: - RequestSignature

/// Hostess's signature for HTTP writes:
///
///     Authorization: Hostess-HMAC-SHA256 keyId=K, ts=UNIX_SECONDS, nonce=HEX, sig=HEX
///
/// where `sig` is the lower-case hex HMAC-SHA256, under the key's secret, of
/// `METHOD + "\n" + PATH_WITH_QUERY + "\n" + ts + "\n" + nonce + "\n" + hex(SHA-256(body))`.
public struct RequestSignature: Sendable, Equatable {
    /// The scheme word of the `Authorization` header.
    public static let scheme = "Hostess-HMAC-SHA256"
    /// The shortest and longest nonce, in hex digits.
    public static let nonceDigits = 16...128

    /// The key's id.
    public var keyID: String
    /// Unix seconds when the request was signed.
    public var timestamp: Int64
    /// A random value, never reused by the signer, in lower- or upper-case hex.
    public var nonce: String
    /// The MAC (32 bytes).
    public var signature: [UInt8]

    /// A signature with the given parts.
    public init(keyID: String, timestamp: Int64, nonce: String, signature: [UInt8]) {
        self.keyID = keyID
        self.timestamp = timestamp
        self.nonce = nonce
        self.signature = signature
    }

    /// Signs a request: the header value for `Authorization`.
    /// - Parameters:
    ///   - target: the request-target exactly as it will be sent (path and query).
    ///   - nonce: fresh random hex; by default 16 random bytes.
    public static func sign(
        keyID: String, secret: [UInt8], method: String, target: String, body: [UInt8], timestamp: Int64,
        nonce: String = Crypto.hex(Syscall.randomBytes(16))
    ) -> RequestSignature {
        let mac = Crypto.hmacSHA256(
            key: secret, message: stringToSign(method: method, target: target, timestamp: timestamp, nonce: nonce, body: body))
        return RequestSignature(keyID: keyID, timestamp: timestamp, nonce: nonce, signature: mac)
    }

    /// The bytes the MAC covers.
    public static func stringToSign(method: String, target: String, timestamp: Int64, nonce: String, body: [UInt8]) -> [UInt8] {
        Array("\(method)\n\(target)\n\(timestamp)\n\(nonce)\n\(Crypto.hex(Crypto.sha256(body)))".utf8)
    }

    /// Whether `signature` is the MAC of the request under `secret`, compared in constant time.
    public func verifies(secret: [UInt8], method: String, target: String, body: [UInt8]) -> Bool {
        let expected = Crypto.hmacSHA256(
            key: secret, message: Self.stringToSign(method: method, target: target, timestamp: timestamp, nonce: nonce, body: body))
        return Crypto.constantTimeEqual(expected, signature)
    }

    /// The `Authorization` header's value.
    public var headerValue: String {
        "\(Self.scheme) keyId=\(keyID), ts=\(timestamp), nonce=\(nonce), sig=\(Crypto.hex(signature))"
    }

    /// Reads an `Authorization` header's value.
    /// - Throws: a sentence saying what is wrong with it.
    public init(parsing header: String) throws(SignatureFormatError) {
        guard header.hasPrefix(Self.scheme + " ") else {
            throw SignatureFormatError("the Authorization scheme must be \(Self.scheme)")
        }
        var parameters: [String: String] = [:]
        for part in header.dropFirst(Self.scheme.count + 1).split(separator: ",", omittingEmptySubsequences: false) {
            let pair = String(part.trimmingOptionalWhitespace())
            guard let equals = pair.firstIndex(of: "=") else {
                throw SignatureFormatError("expected name=value parameters separated by commas, found '\(pair)'")
            }
            let name = String(pair[..<equals])
            let value = String(pair[pair.index(after: equals)...])
            guard ["keyId", "ts", "nonce", "sig"].contains(name) else {
                throw SignatureFormatError("unknown parameter '\(name)'; expected keyId, ts, nonce and sig")
            }
            guard parameters.updateValue(value, forKey: name) == nil else {
                throw SignatureFormatError("parameter \(name) is given twice")
            }
        }
        guard let keyID = parameters["keyId"], !keyID.isEmpty, keyID.utf8.count <= 128,
            keyID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") })
        else { throw SignatureFormatError("keyId is missing or not 1 to 128 printable characters") }
        // Signed as the number it is, so it must be written one way: digits, no leading zero.
        guard let tsText = parameters["ts"], let timestamp = Int64(tsText), timestamp >= 0, tsText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            tsText == String(timestamp)
        else { throw SignatureFormatError("ts is missing or not whole Unix seconds (digits, no leading zeros)") }
        guard let nonce = parameters["nonce"], Self.nonceDigits.contains(nonce.utf8.count), Crypto.bytes(hex: nonce) != nil else {
            throw SignatureFormatError("nonce is missing or not \(Self.nonceDigits.lowerBound) to \(Self.nonceDigits.upperBound) hex digits")
        }
        guard let sigText = parameters["sig"], sigText.utf8.count == 64, let signature = Crypto.bytes(hex: sigText) else {
            throw SignatureFormatError("sig is missing or not 64 hex digits (an HMAC-SHA256)")
        }
        self.init(keyID: keyID, timestamp: timestamp, nonce: nonce, signature: signature)
    }
}

/// Why an `Authorization` header is not a Hostess signature.
public struct SignatureFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
