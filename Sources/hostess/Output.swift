import HostessModel
import HostessSystem

// MARK: - Output

/// Tables and detail views for people; `--json` prints the wire form instead.
enum Output {
    /// Prints entries as a table, or as one JSON array.
    static func entries(_ entries: [GuestBookEntry], json: Bool) {
        if json {
            print(JSONValue.array(entries.map(\.json)).jsonText)
            return
        }
        let rows = entries.map { entry in
            [
                entry.id, entry.name.classCode.description,
                entry.terminals.map { "\($0.name)(\($0.inUse ? "in use" : "free"))" }.joined(separator: " "),
                entry.capabilities.joined(separator: ","),
            ]
        }
        print(table(header: ["ID", "CLASS", "TERMINALS", "CAPABILITIES"], rows: rows))
        print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies")")
    }

    /// Prints reservations as a table, or as one JSON array.
    static func reservations(_ replies: [ReservationReply], json: Bool) {
        if json {
            print(JSONValue.array(replies.map { $0.reservation.json(servers: $0.servers) }).jsonText)
            return
        }
        let rows = replies.map { reply in
            let reservation = reply.reservation
            return [
                reservation.id, reservation.status.rawValue, String(reservation.priority), String(reservation.token),
                reservation.expiresAt.map { String($0) } ?? "-", reservation.requestedBy,
                (reservation.serverIDs + reservation.remote.flatMap { part in part.serverIDs.map { "\($0)@\(part.fqdn)" } }).joined(separator: " "),
            ]
        }
        print(table(header: ["ID", "STATUS", "PRIORITY", "TOKEN", "EXPIRES AT (ms)", "REQUESTED BY", "SERVERS"], rows: rows))
        print("\(replies.count) reservation\(replies.count == 1 ? "" : "s")")
    }

    /// One reservation, for people.
    static func reservation(_ reply: ReservationReply) -> String {
        let reservation = reply.reservation
        var lines = [
            "id:           \(reservation.id)",
            "status:       \(reservation.status.rawValue)\(reservation.reason.map { " (\($0))" } ?? "")",
            "requestedBy:  \(reservation.requestedBy) (\(reservation.holder))",
            "priority:     \(reservation.priority)",
            "token:        \(reservation.token)",
            "createdAt:    \(reservation.createdAt)",
            "expiresAt:    \(reservation.expiresAt.map { String($0) } ?? "until cancelled")",
            "servers:",
        ]
        lines += reservation.serverIDs.map { "  " + $0 }
        for release in reservation.released { lines.append("  (released \(release.serverID): \(release.reason))") }
        for part in reservation.remote {
            lines.append("  on \(part.fqdn) (\(part.endpoint)), its reservation \(part.reservationID), \(part.state.rawValue)\(part.reason.map { ": \($0)" } ?? ""):")
            lines += part.serverIDs.map { "    " + $0 }
        }
        if let remoteFqdn = reservation.remoteFqdn {
            lines.append("for Hostess:  \(remoteFqdn)\(reservation.connectionInfo?.endpoint.map { " at \($0)" } ?? "")")
        }
        return lines.joined(separator: "\n")
    }

    /// Recorded connectomes as a table, one row per source and target of each link (CONNECTOME, LINK, MODE,
    /// FROM and TO as `serverId.terminal`, STATE), then a count line. STATE is the row's: `active`, or
    /// `degraded` with the reasons its endpoints are not as recorded. `hostess wiring apply` prints this too.
    static func connectomeTable(_ connectomes: [ConnectomeRecord]) -> String {
        var rows: [[String]] = []
        var links = 0
        for record in connectomes {
            for link in record.connectome.links {
                links += 1
                let problems = record.problems.filter { $0.linkID == link.id }
                func reasons(_ endpoint: Connectome.Endpoint) -> [String] {
                    problems.filter { $0.serverID == endpoint.serverID.description && $0.terminal == endpoint.terminal }.map(\.reason.rawValue)
                }
                for source in link.sources {
                    for target in link.targets {
                        let found = reasons(source).map { "from \($0)" } + reasons(target).map { "to \($0)" }
                        let state = found.isEmpty ? ConnectomeRecord.State.active.rawValue : "degraded (\(found.joined(separator: ", ")))"
                        rows.append([record.connectome.id, link.id, link.mode.rawValue, source.description, target.description, state])
                    }
                }
            }
        }
        let count = "\(connectomes.count) connectome\(connectomes.count == 1 ? "" : "s"), \(links) link\(links == 1 ? "" : "s")"
        return table(header: ["CONNECTOME", "LINK", "MODE", "FROM", "TO", "STATE"], rows: rows) + "\n" + count
    }

    /// One recorded connectome, for people: its facts, its links as ``connectomeTable(_:)`` shows them, and
    /// its problems.
    static func connectome(_ record: ConnectomeRecord) -> String {
        let connectome = record.connectome
        var lines = [
            "id:            \(connectome.id)",
            "state:         \(record.state.rawValue)",
            "source:        \(connectome.source ?? "-")",
            "reservationId: \(connectome.reservationID ?? "-")",
            "createdBy:     \(record.createdBy)",
            "createdAt:     \(record.createdAt)",
            "links:",
            connectomeTable([record]),
        ]
        if !record.problems.isEmpty {
            lines.append("problems:")
            lines += record.problems.map { "  \($0.serverID).\($0.terminal) (link \($0.linkID)): \($0.reason.rawValue)" }
        }
        return lines.joined(separator: "\n")
    }

    /// One entry, field by field.
    static func details(_ entry: GuestBookEntry) -> String {
        var lines = [
            "id:             \(entry.id)",
            "fqdn:           \(entry.name.fqdn)",
            "servername:     \(entry.name.servername)",
            "class:          \(entry.name.classCode)",
            "owner:          \(entry.name.owner)",
            "uuid:           \(entry.name.uuid)",
            "authentication: \(entry.name.authentication.rawValue) (\(entry.name.authMechanism))",
            "capabilities:   \(entry.capabilities.joined(separator: ", "))",
            "registeredAt:   \(entry.registeredAt)",
            "lastHeartbeat:  \(entry.lastHeartbeat)",
            "serial:         \(entry.serial)\(entry.session ? " (session)" : "")",
            "reservedBy:     \(entry.reservedBy ?? "-")",
            "metadata:       \(JSONValue.object(entry.metadata).jsonText)",
            "terminals:",
        ]
        let rows = entry.terminals.map { terminal in
            [
                terminal.name, terminal.direction.rawValue, terminal.multiplexing.rawValue, terminal.protocol ?? "-",
                terminal.inUse ? "in use" : "free", terminal.connectedTo.joined(separator: ","),
            ]
        }
        lines.append(table(header: ["  NAME", "DIRECTION", "MULTIPLEXING", "PROTOCOL", "STATE", "CONNECTED TO"], rows: rows.map { ["  " + $0[0]] + $0[1...] }))
        return lines.joined(separator: "\n")
    }

    /// A value as plain text: strings bare, everything else as JSON.
    static func plain(_ value: JSONValue) -> String {
        if case .string(let string) = value { return string }
        return value.jsonText
    }

    /// Left-aligned columns separated by two spaces.
    /// The answer of a query across the mesh: a row per entry with the Hostess it lives on, a count line, and
    /// a line per peer that did not answer.
    static func acrossTable(_ entries: [JSONValue], unanswered: [JSONValue], asked: Int) -> String {
        let rows = entries.compactMap(\.objectValue).map { entry -> [String] in
            let hostess = entry["hostess"]?.objectValue
            let place = hostess?["local"] == true ? "(this Hostess)" : hostess?["fqdn"]?.stringValue ?? "?"
            return [place, entry["id"]?.stringValue ?? "?", entry["class"]?.stringValue ?? "?"]
        }
        var lines = [table(header: ["HOSTESS", "ID", "CLASS"], rows: rows)]
        lines.append("\(rows.count) entr\(rows.count == 1 ? "y" : "ies"); \(asked) peer\(asked == 1 ? "" : "s") asked, \(unanswered.count) did not answer")
        for item in unanswered.compactMap(\.objectValue) {
            lines.append("not answered: \(item["fqdn"]?.stringValue ?? "?") (\(item["hostessId"]?.stringValue ?? "?")) at \(item["endpoint"]?.stringValue ?? "?"): \(item["reason"]?.stringValue ?? "?")")
        }
        return lines.joined(separator: "\n")
    }

    /// The peers `hostess peers` shows: one row each, then a count line (or why there are none).
    static func peerTable(_ peers: [JSONValue], announcing: Bool) -> String {
        let now = SystemClock.wallMilliseconds()
        let rows = peers.compactMap(\.objectValue).map { peer -> [String] in
            let seen = peer["lastSeen"].flatMap { value -> Int64? in if case .int(let ms) = value { ms } else { nil } }
            let age = seen.map { "\(max(0, now - $0) / 1000) s ago" } ?? "-"
            let classes: String
            if case .array(let summary)? = peer["capabilities"] {
                classes = summary.compactMap(\.objectValue).map { item in
                    "\(item["class"]?.stringValue ?? "?")×\(plain(item["totalCount"] ?? .null))"
                }.joined(separator: " ")
            } else {
                classes = "(not in the announcement)"
            }
            return [
                peer["fqdn"]?.stringValue ?? "?", peer["hostessId"]?.stringValue ?? "?", peer["endpoint"]?.stringValue ?? "?",
                peer["state"]?.stringValue ?? "?", plain(peer["serverCount"] ?? .null), age, classes,
            ]
        }
        let count = announcing ? "\(rows.count) peer\(rows.count == 1 ? "" : "s")" : "0 peers: hostessd does not announce (start it with --announce)"
        return table(header: ["FQDN", "HOSTESS ID", "ENDPOINT", "STATE", "SERVERS", "LAST SEEN", "CLASSES"], rows: rows) + "\n" + count
    }

    /// What `hostess probe` shows: per address, the pairs that worked and the best latency; the failures by
    /// reason; the windows; this Hostess's connection methods.
    static func probeSummary(_ report: JSONObject) -> String {
        let matrix = report["testedMatrix"]?.objectValue ?? [:]
        var working: [String: (count: Int, best: Double)] = [:]
        if case .array(let results)? = report["results"] {
            for result in results.compactMap(\.objectValue) {
                guard let ip = result["ip"]?.stringValue else { continue }
                let latency: Double = if case .double(let value)? = result["latency"] { value } else if case .int(let value)? = result["latency"] { Double(value) } else { 0 }
                let seen = working[ip] ?? (0, .infinity)
                working[ip] = (seen.count + 1, min(seen.best, latency))
            }
        }
        let ips: [String] = if case .array(let list)? = matrix["ips"] { list.compactMap(\.stringValue) } else { [] }
        let rows = ips.map { ip -> [String] in
            let found = working[ip]
            return [ip, String(found?.count ?? 0), found.map { "\(($0.best * 1000).rounded() / 1000) ms" } ?? "-"]
        }
        var lines = [table(header: ["ADDRESS", "WORKING", "BEST LATENCY"], rows: rows)]
        let failures = (report["failures"]?.objectValue).map { object in
            object.filter { $0.value != .int(0) }.map { "\($0.key) \(plain($0.value))" }.joined(separator: ", ")
        } ?? ""
        let windows = if case .array(let list)? = report["windows"] { list.count } else { 0 }
        lines.append(
            "\(plain(matrix["successfulTests"] ?? .null)) of \(plain(matrix["totalTests"] ?? .null)) tests worked (ports \(plain(matrix["portRange"] ?? .null))) in \(windows) window\(windows == 1 ? "" : "s"), \(plain(report["seconds"] ?? .null)) s"
                + (failures.isEmpty ? "" : "; failed: \(failures)"))
        if let killed = report["killed"]?.stringValue { lines.append("killed: \(killed)") }
        if case .array(let methods)? = report["connectionMethods"], !methods.isEmpty {
            lines.append("connection methods: " + methods.compactMap(\.objectValue).map { "\($0["endpoint"]?.stringValue ?? "?") (\(plain($0["latency"] ?? .null)) ms)" }.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// What `hostess connection-methods` shows: one row per method of each host.
    static func connectionMethodTable(_ hosts: [JSONValue]) -> String {
        var rows: [[String]] = []
        for host in hosts.compactMap(\.objectValue) {
            let name = (host["fqdn"]?.stringValue ?? "?") + (host["local"] == true ? " (this Hostess)" : "")
            guard case .array(let methods)? = host["methods"], !methods.isEmpty else {
                rows.append([name, "-", "(none tested)", "-", "-"])
                continue
            }
            for method in methods.compactMap(\.objectValue) {
                rows.append([
                    name, method["type"]?.stringValue ?? "?", method["endpoint"]?.stringValue ?? "?", plain(method["latency"] ?? .null) + " ms",
                    method["fresh"] == true ? "fresh" : "stale",
                ])
            }
        }
        return table(header: ["HOST", "TYPE", "ENDPOINT", "LATENCY", "STATE"], rows: rows)
    }

    static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                if column == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[column] - cell.count + 2)
                }
            }
            return text
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
