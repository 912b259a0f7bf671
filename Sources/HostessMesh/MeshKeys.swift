// MARK: - MeshKey

/// A named HMAC-SHA256 secret that signs announcements.
public struct MeshKey: Sendable, Hashable {
    /// The key's name, sent as the announcement's `keyId`.
    public let id: String
    /// The shared secret.
    public let secret: [UInt8]

    /// A key; nil when `id` is not a valid `keyId` (1 to ``Announcement/maximumKeyIDBytes`` printable ASCII
    /// bytes other than space, `,`, `"` and `\`) or `secret` is empty.
    public init?(id: String, secret: [UInt8]) {
        guard Check.isKeyID(id), !secret.isEmpty else { return nil }
        self.id = id
        self.secret = secret
    }
}

// MARK: - MeshKeys

/// The keys of a signed mesh: the one this Hostess signs with and those it accepts from peers.
public struct MeshKeys: Sendable, Hashable {
    /// The key our announcements are signed with. It is accepted too, so Hostesses sharing one key need no
    /// `accepted` entries.
    public var sending: MeshKey
    /// Secrets accepted from peers, by key id.
    public var accepted: [String: [UInt8]]

    /// Keys for a signed mesh.
    public init(sending: MeshKey, accepted: [String: [UInt8]] = [:]) {
        self.sending = sending
        self.accepted = accepted
    }

    /// The secret of key `id`, when it is accepted.
    public func secret(for id: String) -> [UInt8]? {
        if let secret = accepted[id] { return secret }
        return id == sending.id ? sending.secret : nil
    }
}
