// MARK: - EtcdDirectoryLayout

/// Where the fleet directory keeps its keys in etcd: each Hostess's announcement at `PREFIX` + `peers/` +
/// its hostessId (`/hostess/peers/6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13`), attached to its lease.
public struct EtcdDirectoryLayout: Sendable, Hashable {
    /// The prefix every key of the directory starts with: empty, or ending in `/`.
    public let prefix: [UInt8]

    /// The layout under `prefix`.
    ///
    /// - Parameter prefix: Empty, or ending in `/` (e.g. `/hostess/`), so that the keys read as paths and one
    ///   directory's range never takes in another's (`/hostess` would hold `/hostess2/…` too).
    /// - Returns: nil when `prefix` is not empty and does not end in `/`.
    public init?(prefix: String) {
        guard prefix.isEmpty || prefix.utf8.last == UInt8(ascii: "/") else { return nil }
        self.prefix = Array(prefix.utf8)
    }

    // MARK: Keys

    /// The first key of the peers' range, and the prefix of every peer's key: `PREFIX` + `peers/`.
    public var peersKey: [UInt8] { prefix + Array("peers/".utf8) }

    /// The end of the peers' range (excluded), for a range or a watch of every peer.
    public var peersRangeEnd: [UInt8] { Self.rangeEnd(ofPrefix: peersKey) }

    /// The key of the Hostess `hostessID`, or nil when that is not a hostessId (a UUID in lower case, as an
    /// announcement carries it).
    public func peerKey(_ hostessID: String) -> [UInt8]? {
        let id = Array(hostessID.utf8)
        guard Self.isHostessID(id[...]) else { return nil }
        return peersKey + id
    }

    /// The hostessId a key of the peers' range names, or nil when the key is outside the layout: not under
    /// ``peersKey``, or not followed by a hostessId and nothing else.
    public func hostessID(fromKey key: some Collection<UInt8>) -> String? {
        let peers = peersKey
        guard key.starts(with: peers) else { return nil }
        let id = Array(key.dropFirst(peers.count))
        guard Self.isHostessID(id[...]) else { return nil }
        return String(decoding: id, as: UTF8.self)
    }

    /// The end of the range of every key that starts with `prefix`, as etcd's clients compute it: the prefix with
    /// its last byte below 0xFF increased by one and the bytes after it dropped; `[0]` (every key from the
    /// prefix on) when there is no such byte.
    public static func rangeEnd(ofPrefix prefix: [UInt8]) -> [UInt8] {
        guard let last = prefix.lastIndex(where: { $0 < 0xFF }) else { return [0] }
        var end = Array(prefix[...last])
        end[last] += 1
        return end
    }

    /// Whether `bytes` are a hostessId: 8-4-4-4-12 lower-case hexadecimal digits.
    private static func isHostessID(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.count == 36 else { return false }
        for (position, byte) in bytes.enumerated() {
            let isDash = position == 8 || position == 13 || position == 18 || position == 23
            let isHex = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
            guard isDash ? byte == UInt8(ascii: "-") : isHex else { return false }
        }
        return true
    }
}
