// MARK: - DropReason

/// Why a datagram was not taken into the peer table. The raw values are stable: hostessd uses them as metric
/// labels (`hostess_mesh_dropped_total{reason="bad_signature"}`).
public enum DropReason: String, Sendable, Hashable, CaseIterable {
    /// The datagram is longer than ``Announcement/maximumBytes``.
    case tooLarge = "too_large"
    /// Not JSON, not an object, a member missing, unknown, of the wrong type or out of its bounds.
    case malformed
    /// Keys are configured but the datagram has no signature trailer or no `keyId`.
    case unsigned
    /// The `keyId` names no accepted key.
    case unknownKey = "unknown_key"
    /// The signature trailer is not the HMAC of the JSON under the named key.
    case badSignature = "bad_signature"
    /// A signed announcement's timestamp is more than ``Announcement/clockSkewMilliseconds`` from now.
    case stale
    /// The sequence is not newer than the last one accepted from that Hostess (see ``PeerTable``).
    case replayed
    /// The announcement carries this Hostess's own id (multicast loops our packets back).
    case ownAnnouncement = "own_announcement"
    /// The announcement is from a new peer and the table holds ``PeerTable/maximumPeers`` peers, none stale.
    case tableFull = "table_full"
    /// Read from the fleet directory under another Hostess's key than the one the announcement names.
    case misfiled
}

// MARK: - AnnouncementError

/// Why a datagram was dropped: the reason (a metric label), the member concerned as a path
/// (`capabilities[2].capabilities[0]`) when there is one, and a sentence saying what was wrong.
public struct AnnouncementError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of drop.
    public var reason: DropReason
    /// The member concerned, as a path into the announcement, if any.
    public var field: String?
    /// What was wrong.
    public var message: String

    /// Creates an error.
    public init(_ reason: DropReason, _ message: String, field: String? = nil) {
        self.reason = reason
        self.message = message
        self.field = field
    }

    public var description: String {
        if let field { return "\(reason.rawValue): \(field): \(message)" }
        return "\(reason.rawValue): \(message)"
    }
}
