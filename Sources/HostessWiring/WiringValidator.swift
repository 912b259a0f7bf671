import HostessModel

// MARK: - WiringValidator

/// The rules a wiring keeps against the servers it wires: the manifests at build time, the running servers
/// when it is applied. Every broken rule is reported, each at the place in the file it concerns.
///
/// - **required**: every `required_servers` class is defined by a manifest.
/// - **pattern**: every server pattern matches a manifest.
/// - **terminal**: the terminal exists on every server the pattern can mean.
/// - **direction**: sources send (`output`, `bidirectional`), targets receive (`input`, `bidirectional`).
/// - **multiplexing**: a terminal that sends on more than one connection is `fanout`; one that receives on
///   more than one is `fanin` (sources merged with `mode: merge` are one connection); `none` takes one
///   connection in all.
/// - **ordinal**: an ordinal `:N` is at most the count `required_servers` gives the pattern's class.
public enum WiringValidator {
    /// A server a pattern can mean: a manifest, or a running server.
    public struct Candidate: Sendable {
        /// How messages name it (`gpu-renderer (0x0002, gpu-renderer.manifest.json)`).
        public var label: String
        /// Its class.
        public var classCode: ClassCode
        /// Its terminals.
        public var terminals: [Terminal]

        /// A candidate from its parts.
        public init(label: String, classCode: ClassCode, terminals: [Terminal]) {
            self.label = label
            self.classCode = classCode
            self.terminals = terminals
        }
    }

    /// One server a wiring names: a pattern's group and ordinal.
    public struct Slot: Hashable, Sendable, Comparable, CustomStringConvertible {
        /// The pattern without its ordinal.
        public var group: String
        /// The ordinal.
        public var ordinal: Int

        /// The slot an endpoint names.
        public init(_ pattern: ServerPattern) {
            group = pattern.group
            ordinal = pattern.ordinal
        }

        public var description: String { "\(group):\(ordinal)" }

        public static func < (lhs: Slot, rhs: Slot) -> Bool { (lhs.group, lhs.ordinal) < (rhs.group, rhs.ordinal) }
    }

    /// Checks `wiring` (decoded from `document`) against the manifests that define its servers.
    public static func validate(_ wiring: Wiring, in document: SourceDocument, manifests: [ManifestFile]) -> [WiringDiagnostic] {
        var diagnostics: [WiringDiagnostic] = []
        let listed = manifests.isEmpty ? "no manifests were given" : "manifests: " + manifests.map(\.summary).joined(separator: ", ")
        var counts: [ClassCode: Int] = [:]
        for requirement in wiring.requiredServers {
            counts[requirement.classCode] = max(counts[requirement.classCode] ?? 0, requirement.count)
            if !manifests.contains(where: { $0.manifest.classCode == requirement.classCode }) {
                diagnostics.append(
                    WiringDiagnostic(
                        document: document, path: requirement.path + ".class", rule: .required,
                        message: "required_servers asks for \(requirement.count) of class \(requirement.classCode), but no manifest defines that class (\(listed))"))
            }
        }
        diagnostics += check(wiring, in: document) { endpoint in
            let matching = manifests.filter { endpoint.pattern.matches($0.manifest) }
            if matching.isEmpty {
                return .failure(
                    WiringDiagnostic(
                        document: document, path: endpoint.path, rule: .pattern, message: "'\(endpoint.pattern)' matches no manifest (\(listed))"))
            }
            for classCode in Set(matching.map(\.manifest.classCode)) where endpoint.pattern.ordinal > 1 || counts[classCode] != nil {
                guard let count = counts[classCode] else {
                    return .failure(
                        WiringDiagnostic(
                            document: document, path: endpoint.path, rule: .ordinal,
                            message: "ordinal \(endpoint.pattern.ordinal) of '\(endpoint.pattern)' needs a required_servers entry for class \(classCode) with count \(endpoint.pattern.ordinal) or more"))
                }
                if endpoint.pattern.ordinal > count {
                    return .failure(
                        WiringDiagnostic(
                            document: document, path: endpoint.path, rule: .ordinal,
                            message: "ordinal \(endpoint.pattern.ordinal) of '\(endpoint.pattern)' is beyond the \(count) servers of class \(classCode) that required_servers asks for"))
                }
            }
            return .success(matching.map { Candidate(label: $0.summary, classCode: $0.manifest.classCode, terminals: $0.manifest.terminals) })
        }
        return diagnostics.sorted()
    }

    /// The terminal, direction and multiplexing rules, with `candidates` saying which servers each endpoint
    /// can mean (or why it means none, already as a diagnostic).
    public static func check(
        _ wiring: Wiring, in document: SourceDocument, candidates: (Wiring.Endpoint) -> Result<[Candidate], WiringDiagnostic>
    ) -> [WiringDiagnostic] {
        var diagnostics: [WiringDiagnostic] = []
        /// Per slot and terminal: connections sending and receiving so far, and the first place of each.
        var sending: [Uses.Key: Uses] = [:]
        var receiving: [Uses.Key: Uses] = [:]
        for connection in wiring.connections {
            var resolved: [Wiring.Endpoint: [Candidate]] = [:]
            for endpoint in connection.sources + connection.targets.map(\.endpoint) where resolved[endpoint] == nil {
                switch candidates(endpoint) {
                case .success(let found): resolved[endpoint] = found
                case .failure(let diagnostic):
                    diagnostics.append(diagnostic)
                    resolved[endpoint] = []
                }
            }
            for endpoint in connection.sources {
                let outgoing = connection.targets.count
                diagnostics += terminalRules(
                    endpoint, candidates: resolved[endpoint] ?? [], sends: true, connections: outgoing, uses: &sending, document: document)
            }
            for target in connection.targets {
                if target.merges && connection.sources.count < 2 {
                    diagnostics.append(
                        WiringDiagnostic(
                            document: document, path: target.endpoint.path, rule: .multiplexing,
                            message: "mode merge combines several sources into one connection, but this connection has one source"))
                }
                let incoming = target.merges ? 1 : connection.sources.count
                diagnostics += terminalRules(
                    target.endpoint, candidates: resolved[target.endpoint] ?? [], sends: false, connections: incoming, uses: &receiving,
                    document: document)
            }
            var seen = Set<Uses.Key>()
            for endpoint in connection.sources + connection.targets.map(\.endpoint) {
                let key = Uses.Key(slot: Slot(endpoint.pattern), terminal: endpoint.terminal)
                if !seen.insert(key).inserted {
                    diagnostics.append(
                        WiringDiagnostic(
                            document: document, path: endpoint.path, rule: .schema,
                            message: "'\(endpoint.pattern)' terminal \(endpoint.terminal) appears twice in this connection"))
                }
            }
        }
        // `none` takes one connection in all, whichever way.
        for (key, sent) in sending {
            guard let received = receiving[key], sent.multiplexing == Terminal.Multiplexing.none else { continue }
            diagnostics.append(
                WiringDiagnostic(
                    document: document, path: received.firstPath, rule: .multiplexing,
                    message: "terminal \(key.terminal) of '\(key.slot)' has multiplexing none and takes one connection; it already sends on one (at line \(document.location(of: sent.firstPath).line))"))
        }
        return diagnostics
    }

    /// What one slot's terminal carries so far in one direction.
    struct Uses {
        struct Key: Hashable {
            var slot: Slot
            var terminal: String
        }
        var count: Int
        var firstPath: String
        var multiplexing: Terminal.Multiplexing
    }

    private static func terminalRules(
        _ endpoint: Wiring.Endpoint, candidates: [Candidate], sends: Bool, connections: Int, uses: inout [Uses.Key: Uses],
        document: SourceDocument
    ) -> [WiringDiagnostic] {
        var diagnostics: [WiringDiagnostic] = []
        let place = terminalPath(of: endpoint)
        func report(_ rule: WiringDiagnostic.Rule, _ message: String) {
            diagnostics.append(WiringDiagnostic(document: document, path: place, rule: rule, message: message))
        }
        let key = Uses.Key(slot: Slot(endpoint.pattern), terminal: endpoint.terminal)
        let previous = uses[key]
        let total = (previous?.count ?? 0) + connections
        for candidate in candidates {
            guard let terminal = candidate.terminals.first(where: { $0.name == endpoint.terminal }) else {
                let names = candidate.terminals.map(\.name).joined(separator: ", ")
                report(.terminal, "\(candidate.label) has no terminal '\(endpoint.terminal)' (it has: \(names.isEmpty ? "none" : names))")
                continue
            }
            let allowed: Set<Terminal.Direction> = sends ? [.output, .bidirectional] : [.input, .bidirectional]
            if !allowed.contains(terminal.direction) {
                report(
                    .direction,
                    "terminal \(terminal.name) of \(candidate.label) is \(terminal.direction.rawValue); a \(sends ? "source" : "target") must be \(sends ? "output or bidirectional" : "input or bidirectional")")
            }
            let needed: Terminal.Multiplexing = sends ? .fanout : .fanin
            if total > 1 && terminal.multiplexing != needed {
                let earlier = previous.map { " (with the one at line \(document.location(of: $0.firstPath).line))" } ?? ""
                let what = sends ? "sends on \(total) connections\(earlier), which needs fanout" : "receives on \(total) connections\(earlier), which needs fanin or mode: merge"
                report(.multiplexing, "terminal \(terminal.name) of \(candidate.label) has multiplexing \(terminal.multiplexing.rawValue) but \(what)")
            }
            if uses[key] == nil { uses[key] = Uses(count: 0, firstPath: place, multiplexing: terminal.multiplexing) }
        }
        if uses[key] != nil { uses[key]?.count = total }
        return diagnostics
    }

    /// The field path of an endpoint's `terminal` member: beside its `server`, or for one of `servers`, beside the list.
    static func terminalPath(of endpoint: Wiring.Endpoint) -> String {
        var path = endpoint.path
        if path.hasSuffix("]"), let open = path.lastIndex(of: "[") { path = String(path[..<open]) }
        guard let dot = path.lastIndex(of: ".") else { return "terminal" }
        return String(path[..<dot]) + ".terminal"
    }
}
