import HostessModel

// MARK: - Short ids

/// How tables shorten ids, as docker shortens its 64-digit ids to 12: a server id is cut after the first
/// 8 hex digits of its UUID (`machine-a.local:gpu-renderer:0x0002:root:no:none:2f0c8a1b`), a reservation
/// id (a UUID) after its first 8. A short id is a prefix of the whole id, so it can be typed back (see
/// ``IDPrefix``); when two ids of one table would be cut alike, both keep as many more digits as tell
/// them apart. `--wide` prints whole ids instead.
enum ShortIDs {
    /// The hex digits of a UUID a short id keeps at least.
    static let uuidDigits = 8

    /// The short form of each server id in `ids`; an id that is not a valid name stays whole.
    static func servers(_ ids: some Sequence<String>) -> [String: String] {
        shorten(ids) { id in
            guard let name = try? ServerName(parsing: id) else { return nil }
            let head = "\(name.fqdn):\(name.servername):\(name.classCode):\(name.owner):\(name.authentication.rawValue):\(name.authMechanism):"
            guard id.hasPrefix(head) else { return nil }
            return (head, String(id.dropFirst(head.count)))
        }
    }

    /// The short form of each reservation id (a UUID) in `ids`.
    static func uuids(_ ids: some Sequence<String>) -> [String: String] {
        shorten(ids) { id in ("", id) }
    }

    /// Cuts each id into a head kept whole and a tail kept for ``uuidDigits`` characters, or as many more as
    /// tell it from the tails of the other ids with the same head.
    private static func shorten(_ ids: some Sequence<String>, split: (String) -> (head: String, tail: String)?) -> [String: String] {
        var groups: [String: Set<String>] = [:]
        var short: [String: String] = [:]
        for id in ids {
            guard let (head, tail) = split(id) else {
                short[id] = id
                continue
            }
            groups[head, default: []].insert(tail)
        }
        for (head, tails) in groups {
            // Sorted, each tail shares its longest common prefix with a neighbour.
            let sorted = tails.sorted()
            for (index, tail) in sorted.enumerated() {
                var keep = uuidDigits
                for neighbour in [index - 1, index + 1] where sorted.indices.contains(neighbour) {
                    keep = max(keep, commonPrefixLength(tail, sorted[neighbour]) + 1)
                }
                short[head + tail] = keep >= tail.count ? head + tail : head + String(tail.prefix(keep))
            }
        }
        return short
    }

    /// How many leading characters `a` and `b` share.
    private static func commonPrefixLength(_ a: String, _ b: String) -> Int {
        zip(a, b).prefix(while: { $0 == $1 }).count
    }
}

// MARK: - Typed ids

/// What a person typed for an id, resolved as docker resolves short ids: a whole id is taken as it is;
/// anything else must be the start of exactly one existing id, or of its UUID (in either case).
enum IDPrefix {
    /// What the ids name, for messages.
    enum Kind: String, Sendable {
        case entry, reservation

        /// `entries`, `reservations`.
        var plural: String { self == .entry ? "entries" : "reservations" }
    }

    /// Whether `text` is a whole UUID (8-4-4-4-12 hex digits, either case).
    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        return bytes.enumerated().allSatisfy { position, byte in
            [8, 13, 18, 23].contains(position) ? byte == UInt8(ascii: "-") : Character(Unicode.Scalar(byte)).isHexDigit
        }
    }

    /// The one candidate `typed` names: the candidate whose id is `typed`, else the only one whose id or
    /// UUID starts with it.
    ///
    /// - Throws: `not_found` when none matches, ``AmbiguousID`` when several do (both exit status 1: the
    ///   answer depends on what the guest book holds now, not on the command line's form).
    static func resolve(_ typed: String, kind: Kind, among candidates: [(id: String, uuid: String)]) throws -> String {
        if candidates.contains(where: { $0.id == typed }) { return typed }
        let lowered = typed.lowercased()
        let matches = candidates.filter { $0.id.hasPrefix(typed) || $0.uuid.hasPrefix(lowered) }.map(\.id)
        switch matches.count {
        case 1: return matches[0]
        case 0:
            let what = kind == .entry ? "entry's id or UUID" : "reservation's id"
            throw HostessError(.notFound, "no \(what) starts with '\(typed)'; 'hostess \(kind == .entry ? "list" : "reservations")' shows them")
        default:
            throw AmbiguousID(typed: typed, kind: kind, candidates: matches.sorted())
        }
    }
}

/// A typed id prefix that starts several ids: exit status 1, listing them.
struct AmbiguousID: Error, CustomStringConvertible {
    /// Candidates listed at most; a count says how many more there are.
    static let listed = 10

    /// What was typed.
    let typed: String
    /// What the ids name.
    let kind: IDPrefix.Kind
    /// Every id it starts, sorted.
    let candidates: [String]

    var description: String {
        let what = kind == .entry ? "ids or UUIDs" : "ids"
        var lines = ["'\(typed)' is ambiguous: \(candidates.count) \(kind.plural)' \(what) start with it:"]
        lines += candidates.prefix(Self.listed).map { "  " + $0 }
        if candidates.count > Self.listed { lines.append("  … and \(candidates.count - Self.listed) more") }
        lines.append("type more of the id (or the whole id) to choose one")
        return lines.joined(separator: "\n")
    }
}
