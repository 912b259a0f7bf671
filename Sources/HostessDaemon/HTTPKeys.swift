import Glibc
import HostessHTTP
import HostessModel
import HostessSystem

// MARK: - HTTPKeys

/// The keys that may sign HTTP requests, from `--secrets FILE`: one `KEY_ID SECRET [OWNER,OWNER…]` per line,
/// blank lines and `#` comments ignored. A key acts as the owners listed, or as the owner named like the key.
struct HTTPKeys: Sendable, Equatable {
    /// One signing key.
    struct Key: Sendable, Equatable {
        /// The id the `Authorization` header names.
        var id: String
        /// The shared secret (the bytes of the file's SECRET field).
        var secret: [UInt8]
        /// The owner names requests signed with this key may register and change.
        var owners: Set<String>
    }

    /// The keys by id.
    private(set) var keys: [String: Key] = [:]
    /// The id of the file's first key (the one hostessd signs its own announcements with).
    private(set) var firstID: String?

    /// No keys: every signed request is refused.
    init() {}

    /// Reads the file, refusing it when group or others may read it or when a line is malformed; messages
    /// name it by `flag`.
    init(path: String, flag: String = "--secrets") throws(ConfigurationError) {
        for (number, fields) in try SecretFile.lines(path, flag: flag) {
            guard fields.count == 2 || fields.count == 3 else {
                throw .usage("\(flag) \(path): line \(number): expected KEY_ID SECRET [OWNER,OWNER…], found \(fields.count) fields")
            }
            let id = try SecretFile.keyID(fields[0], flag: flag, path: path, line: number)
            let secret = try SecretFile.secret(fields[1], flag: flag, path: path, line: number, key: id)
            let owners = fields.count == 3 ? Set(fields[2].split(separator: ",").map(String.init)) : [id]
            guard !owners.isEmpty else { throw .usage("\(flag) \(path): line \(number): key \(id): the owner list is empty") }
            guard keys[id] == nil else { throw .usage("\(flag) \(path): line \(number): key \(id) is listed twice") }
            keys[id] = Key(id: id, secret: secret, owners: owners)
            if firstID == nil { firstID = id }
        }
    }

    /// The key named `id`.
    subscript(id: String) -> Key? { keys[id] }
}

// MARK: - PeerKeys

/// The keys peers gave this Hostess, from `--peer-keys FILE`: one `PEER KEY_ID SECRET` per line (PEER a
/// peer's host name or hostessId), the `--secrets` file rules. Requests this Hostess makes on a peer's guest
/// book (forwarded terminal changes, remote reservations) are signed with the peer's key, which the peer's
/// own `--secrets` lists as `KEY_ID SECRET OWNERS`.
struct PeerKeys: Sendable, Equatable {
    /// The keys by peer (host name or hostessId).
    private(set) var keys: [String: HTTPKeys.Key] = [:]

    /// No keys: no peer's guest book can be changed from here.
    init() {}

    /// Reads the file; messages name it by `--peer-keys`.
    init(path: String) throws(ConfigurationError) {
        let flag = "--peer-keys"
        for (number, fields) in try SecretFile.lines(path, flag: flag) {
            guard fields.count == 3 else {
                throw .usage("\(flag) \(path): line \(number): expected PEER KEY_ID SECRET (PEER a host name or hostessId), found \(fields.count) fields")
            }
            let peer = String(fields[0]).lowercased()
            // A hostessId (a UUID) has a host name's shape too.
            guard ServerName.isValidFQDN(peer) else {
                throw .usage("\(flag) \(path): line \(number): '\(fields[0])' is neither a host name nor a hostessId (a UUID)")
            }
            let id = try SecretFile.keyID(fields[1], flag: flag, path: path, line: number)
            let secret = try SecretFile.secret(fields[2], flag: flag, path: path, line: number, key: id)
            guard keys[peer] == nil else { throw .usage("\(flag) \(path): line \(number): peer \(peer) is listed twice") }
            keys[peer] = HTTPKeys.Key(id: id, secret: secret, owners: [])
        }
    }

    /// The key for a peer: the one listed under its hostessId, else under its host name.
    func key(hostessID: String, fqdn: String) -> HTTPKeys.Key? { keys[hostessID.lowercased()] ?? keys[fqdn.lowercased()] }
}

// MARK: - SecretFile

/// The rules every file of secrets follows (`--secrets`, `--mesh-secret-file`, `--peer-keys`): a regular
/// file, not a symbolic link, at most 1 MiB of UTF-8, mode 600 or stricter, owned by hostessd's user or
/// root; fields separated by blanks; blank lines and `#` comments ignored.
enum SecretFile {
    /// The lines that hold something, numbered from 1, split into fields.
    static func lines(_ path: String, flag: String) throws(ConfigurationError) -> [(number: Int, fields: [Substring])] {
        let file: (bytes: [UInt8], owner: uid_t, mode: mode_t)
        do { file = try FileContents.readRegularFile(path, limit: 1 << 20) } catch {
            throw .usage("\(flag) \(path): cannot read it (a regular file, not a symbolic link): \(error)")
        }
        guard file.mode & 0o077 == 0 else {
            throw .usage("\(flag) \(path): group or others have access to it (mode \(String(file.mode & 0o777, radix: 8))); run chmod 600 \(path)")
        }
        guard file.owner == geteuid() || file.owner == 0 else {
            throw .usage("\(flag) \(path): owned by uid \(file.owner), not by hostessd's user (\(geteuid())) or root")
        }
        guard let text = String(validating: file.bytes, as: UTF8.self) else { throw .usage("\(flag) \(path): not UTF-8 text") }
        var lines: [(number: Int, fields: [Substring])] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            lines.append((index + 1, fields))
        }
        return lines
    }

    /// A key id: at most 128 characters, without ',' or '=' (which the Authorization header separates with).
    static func keyID(_ field: Substring, flag: String, path: String, line: Int) throws(ConfigurationError) -> String {
        guard field.utf8.count <= 128, !field.contains(","), !field.contains("=") else {
            throw .usage("\(flag) \(path): line \(line): a key id is at most 128 characters without ',' or '='")
        }
        return String(field)
    }

    /// A secret: at least 16 characters.
    static func secret(_ field: Substring, flag: String, path: String, line: Int, key: String) throws(ConfigurationError) -> [UInt8] {
        guard field.utf8.count >= 16 else { throw .usage("\(flag) \(path): line \(line): key \(key): the secret must be at least 16 characters") }
        return Array(field.utf8)
    }
}

// MARK: - HTTPAuthenticator

/// Checks signed requests: a known key, a timestamp within the window, a valid MAC (compared in constant
/// time), and a nonce not seen within the window. Only requests whose MAC checks out are remembered, so
/// nobody without a key can fill the nonce memory.
struct HTTPAuthenticator: Sendable {
    /// How far a request's timestamp may be from the daemon's clock, in seconds.
    static let windowSeconds: Int64 = 300
    /// Most nonces remembered at once. Forgetting one early would let its request be replayed, so past this
    /// signed requests are refused (503) until old nonces leave the window.
    static let maximumNonces = 1_000_000

    let keys: HTTPKeys
    /// Nonces seen (key id + nonce) with their timestamps, and the order they arrived in, for pruning.
    private var seen: [String: Int64] = [:]
    private var arrivals: [(key: String, timestamp: Int64)] = []
    private var arrivalsStart = 0

    init(keys: HTTPKeys) { self.keys = keys }

    /// Who signed the request, or why it is refused (a sentence for the 401's body).
    mutating func authenticate(
        authorization: String?, method: String, target: String, body: [UInt8], nowSeconds: Int64
    ) -> Result<HTTPKeys.Key, HostessError> {
        guard let authorization else {
            return .failure(HostessError(.unauthorized, "this request must be signed: send Authorization: \(RequestSignature.scheme) keyId=…, ts=…, nonce=…, sig=…"))
        }
        let signature: RequestSignature
        do { signature = try RequestSignature(parsing: authorization) } catch {
            return .failure(HostessError(.unauthorized, "malformed Authorization header: \(error.message)", field: "Authorization"))
        }
        guard let key = keys[signature.keyID] else {
            return .failure(HostessError(.unauthorized, "unknown key id '\(signature.keyID)'", field: "Authorization"))
        }
        let skew = signature.timestamp > nowSeconds ? signature.timestamp - nowSeconds : nowSeconds - signature.timestamp
        guard skew <= Self.windowSeconds else {
            return .failure(
                HostessError(
                    .unauthorized,
                    "ts \(signature.timestamp) is \(skew) s from this daemon's clock (\(nowSeconds)); the window is ±\(Self.windowSeconds) s",
                    field: "Authorization"))
        }
        guard signature.verifies(secret: key.secret, method: method, target: target, body: body) else {
            return .failure(HostessError(.unauthorized, "the signature does not match the request", field: "Authorization"))
        }
        prune(nowSeconds: nowSeconds)
        guard seen.count < Self.maximumNonces else {
            return .failure(
                HostessError(.unavailable, "more than \(Self.maximumNonces) signed requests within \(Self.windowSeconds) s; try again later"))
        }
        let nonceKey = key.id + " " + signature.nonce.lowercased()
        guard seen[nonceKey] == nil else {
            return .failure(HostessError(.unauthorized, "nonce already used within the last \(Self.windowSeconds) s (a replay)", field: "Authorization"))
        }
        seen[nonceKey] = signature.timestamp
        arrivals.append((nonceKey, signature.timestamp))
        return .success(key)
    }

    /// Forgets nonces whose timestamps have left the window (they would be refused by age anyway), oldest
    /// arrival first.
    private mutating func prune(nowSeconds: Int64) {
        while arrivalsStart < arrivals.count {
            let oldest = arrivals[arrivalsStart]
            let expired = oldest.timestamp < nowSeconds - Self.windowSeconds
            guard expired else { break }
            if seen[oldest.key] == oldest.timestamp { seen.removeValue(forKey: oldest.key) }
            arrivalsStart += 1
        }
        if arrivalsStart > 4096 && arrivalsStart * 2 > arrivals.count {
            arrivals.removeFirst(arrivalsStart)
            arrivalsStart = 0
        }
    }
}
