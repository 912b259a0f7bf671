import HostessModel

// MARK: - WiringPlan

/// A wiring resolved against the running servers: which server each pattern and ordinal means, and the
/// links (connections) to make, each with the connectome id its terminals are marked with.
///
/// Ordinal N of a pattern is the Nth server the pattern matches, in registration order, among the servers
/// no other reservation holds (a server held by `heldBy`, the reservation of this wiring, still counts).
/// Links are numbered in file order: for each connection and each target, one link that carries all the
/// sources when they merge, else one link per source.
public struct WiringPlan: Hashable, Sendable {
    /// The wiring's connectome id.
    public var connectomeID: String
    /// Which server each slot means.
    public var servers: [WiringValidator.Slot: String]
    /// The links, in file order; each link's id is the connectome id its terminals are marked with: the
    /// wiring's id, `.`, the link's number.
    public var links: [Connectome.Link]

    /// Every distinct server the plan uses, in the order its links first use them.
    public var serverIDs: [String] {
        var seen = Set<String>()
        return links.flatMap(\.endpoints).map(\.serverID.description).filter { seen.insert($0).inserted }
    }

    /// The marks the plan makes: each (server, terminal, link id), sources first, each once.
    public var marks: [(endpoint: Connectome.Endpoint, linkID: String)] {
        links.flatMap { link in link.endpoints.map { (endpoint: $0, linkID: link.id) } }
    }

    /// The connectome to record once the marks are made.
    public func connectome(source: String?, reservationID: String?) -> Connectome {
        Connectome(id: connectomeID, source: source, reservationID: reservationID, links: links)
    }

    /// Resolves `wiring` against `entries` (the live guest book).
    /// - Parameters:
    ///   - heldBy: the reservation that already holds this wiring's servers (a second apply), if any.
    /// - Throws: every reason the plan cannot be made (too few servers, rules the running servers break).
    public static func make(
        _ wiring: Wiring, in document: SourceDocument, entries: [GuestBookEntry], connectomeID: String, heldBy: String? = nil
    ) throws(WiringRejection) -> WiringPlan {
        let eligible = entries.filter { $0.reservedBy == nil || $0.reservedBy == heldBy }.sorted { $0.serial < $1.serial }
        var diagnostics: [WiringDiagnostic] = []
        for requirement in wiring.requiredServers {
            let running = entries.filter { $0.name.classCode == requirement.classCode }.count
            let free = eligible.filter { $0.name.classCode == requirement.classCode }.count
            if free < requirement.count {
                diagnostics.append(
                    WiringDiagnostic(
                        document: document, path: requirement.path + ".count", rule: .required,
                        message: "required_servers asks for \(requirement.count) of class \(requirement.classCode); \(running) run, \(free) of them not held by another reservation"))
            }
        }
        var servers: [WiringValidator.Slot: GuestBookEntry] = [:]
        /// Each pattern group's servers, matched once however many endpoints and ordinals name the group.
        var groups: [String: [GuestBookEntry]] = [:]
        let endpoints = wiring.connections.flatMap { $0.sources + $0.targets.map(\.endpoint) }
        for endpoint in endpoints {
            let slot = WiringValidator.Slot(endpoint.pattern)
            guard servers[slot] == nil else { continue }
            let matching = groups[slot.group] ?? eligible.filter { endpoint.pattern.matches($0.name) }
            groups[slot.group] = matching
            guard endpoint.pattern.ordinal <= matching.count else {
                diagnostics.append(
                    WiringDiagnostic(
                        document: document, path: endpoint.path, rule: .pattern,
                        message: "'\(endpoint.pattern)' means server \(endpoint.pattern.ordinal) of those matching '\(endpoint.pattern.group)'; \(matching.count) run and are not held by another reservation"))
                continue
            }
            servers[slot] = matching[endpoint.pattern.ordinal - 1]
        }
        diagnostics += WiringValidator.check(wiring, in: document) { endpoint in
            guard let entry = servers[WiringValidator.Slot(endpoint.pattern)] else { return .success([]) }
            return .success([WiringValidator.Candidate(label: "\(entry.name.servername) \(entry.id)", classCode: entry.name.classCode, terminals: entry.terminals)])
        }
        guard diagnostics.isEmpty else { throw WiringRejection(diagnostics) }

        var links: [Connectome.Link] = []
        func endpoint(_ wired: Wiring.Endpoint) -> Connectome.Endpoint? {
            servers[WiringValidator.Slot(wired.pattern)].map { Connectome.Endpoint(serverID: $0.name, terminal: wired.terminal) }
        }
        for connection in wiring.connections {
            // Every slot has a server here: a slot without one was a diagnostic above.
            let sources = connection.sources.compactMap(endpoint)
            for target in connection.targets {
                guard let to = endpoint(target.endpoint) else { continue }
                if target.merges {
                    links.append(Connectome.Link(id: "\(connectomeID).\(links.count + 1)", mode: .merge, sources: sources, targets: [to]))
                    continue
                }
                let mode: Connectome.Mode = sources.count > 1 ? .fanin : connection.targets.count > 1 ? .fanout : .direct
                for source in sources {
                    links.append(Connectome.Link(id: "\(connectomeID).\(links.count + 1)", mode: mode, sources: [source], targets: [to]))
                }
            }
        }
        return WiringPlan(connectomeID: connectomeID, servers: servers.mapValues(\.id), links: links)
    }

    /// The connectome id of a wiring document: `wiring-` and 16 hex digits of a 64-bit FNV-1a hash of its
    /// canonical JSON, so that applying the same file again names the same connectome.
    public static func connectomeID(of document: SourceDocument) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in document.value.jsonBytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return "wiring-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
