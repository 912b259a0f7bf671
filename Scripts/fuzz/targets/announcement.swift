// Fuzz target `announcement`: the mesh's announcement datagram (HostessMesh's Announcement.decode), up to
// Announcement.maximumBytes (1,200), with and without keys.
// Oracle: a datagram that decodes re-encodes (unsigned, and signed with the key) to one that decodes to an
// equal announcement, the signed one naming the key; a datagram that decodes with keys decodes without them
// too, to the same announcement.
import HostessMesh
import HostessModel

private let key1 = MeshKey(id: "k1", secret: Array("fuzz-secret-one".utf8))!
private let key2 = MeshKey(id: "k2", secret: Array("fuzz-secret-two".utf8))!
private let keys = MeshKeys(sending: key1, accepted: ["k1": key1.secret, "k2": key2.secret])

/// Whether `b` is `a` re-encoded: equal, or equal but for a summary the encoder had to leave out.
private func same(_ a: Announcement, _ b: Announcement) -> Bool {
    if a == b { return true }
    return b.capabilities == nil && a.timestamp == b.timestamp && a.fqdn == b.fqdn && a.hostessID == b.hostessID
        && a.endpoint == b.endpoint && a.serverCount == b.serverCount && a.ttl == b.ttl && a.sequence == b.sequence
        && a.digest == b.digest && b.connectionMethods.count <= a.connectionMethods.count
        && Array(a.connectionMethods.prefix(b.connectionMethods.count)) == b.connectionMethods
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let datagram = Array(UnsafeBufferPointer(start: data, count: size))
    let unsigned = try? Announcement.decode(datagram, keys: nil, now: 0)
    // With keys, at the announcement's own time so that only the signature can refuse it.
    let now = unsigned?.announcement.timestamp ?? 1_700_000_000_000
    if let signed = try? Announcement.decode(datagram, keys: keys, now: now) {
        guard let unsigned, unsigned.announcement == signed.announcement, signed.keyID != nil else {
            fatalError("announcement: decodes with keys but not the same without them")
        }
    }
    guard let decoded = unsigned?.announcement else { return 0 }
    guard unsigned?.keyID == nil else { fatalError("announcement: a key id without keys") }
    _ = decoded.summaryTruncated
    let plain = decoded.encode(signingWith: nil)
    guard plain.count <= Announcement.maximumBytes else { fatalError("announcement: encoded \(plain.count) bytes") }
    do {
        let again = try Announcement.decode(plain, keys: nil, now: 0)
        guard same(decoded, again.announcement) else {
            fatalError("announcement: round trip changed \(decoded) -> \(again.announcement)")
        }
    } catch { fatalError("announcement: the re-encoded datagram is refused: \(error); \(String(decoding: plain, as: UTF8.self))") }
    let signedBytes = decoded.encode(signingWith: key2)
    guard signedBytes.count <= Announcement.maximumBytes else { fatalError("announcement: signed \(signedBytes.count) bytes") }
    do {
        let again = try Announcement.decode(signedBytes, keys: keys, now: decoded.timestamp)
        guard same(decoded, again.announcement), again.keyID == "k2" else {
            fatalError("announcement: signed round trip changed \(decoded) -> \(again)")
        }
    } catch { fatalError("announcement: the signed datagram is refused: \(error)") }
    return 0
}
