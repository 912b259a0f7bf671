import HostessSystem

// MARK: - ProbeSecrets

/// The hashes and MACs of the probe protocol (docs/probing.md). The passphrase never crosses the wire
/// between probe and beacon: each side proves it knows it by a hash or an HMAC over values the other sent.
public enum ProbeSecrets {
    /// Hex digits of a probe hash the Executor makes (32 random bytes).
    public static let hashDigits = 64
    /// Hex digits of a beacon's per-connection nonce (16 random bytes).
    public static let nonceDigits = 32

    /// The beacon's answer to a probe hash: lower-case hex SHA-256 of `probeHash + passphrase` (the bytes
    /// of both strings, concatenated), which is the probe's `EXPECTED_RESPONSE_HASH`.
    public static func responseHash(probeHash: String, passphrase: String) -> String {
        Crypto.hex(Crypto.sha256(Array((probeHash + passphrase).utf8)))
    }

    /// The hash a `TERMINATE` carries: lower-case hex SHA-256 of `"terminate" + passphrase`.
    public static func terminateHash(passphrase: String) -> String {
        Crypto.hex(Crypto.sha256(Array(("terminate" + passphrase).utf8)))
    }

    /// The MAC that binds a message to one connection: lower-case hex HMAC-SHA256, keyed with the
    /// passphrase, of `nonce + "\n" + text` (the nonce the beacon sent on that connection).
    public static func mac(passphrase: String, nonce: String, _ text: some Collection<UInt8>) -> String {
        Crypto.hex(Crypto.hmacSHA256(key: Array(passphrase.utf8), message: Array(nonce.utf8) + [0x0A] + Array(text)))
    }

    /// Whether `given` is the MAC of `text` on the connection with `nonce`, compared in constant time.
    public static func verify(mac given: String, passphrase: String, nonce: String, _ text: some Collection<UInt8>) -> Bool {
        Crypto.constantTimeEqual(Array(given.utf8), Array(mac(passphrase: passphrase, nonce: nonce, text).utf8))
    }

    /// Whether two hashes (hex text) are equal, compared in constant time.
    public static func equal(_ a: String, _ b: String) -> Bool { Crypto.constantTimeEqual(Array(a.utf8), Array(b.utf8)) }

    /// A fresh random value as lower-case hex: `bytes` random bytes.
    public static func random(bytes: Int) -> String { Crypto.hex(Syscall.randomBytes(bytes)) }
}
