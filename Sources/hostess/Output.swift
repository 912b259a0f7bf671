import HostessModel
import HostessSystem

// MARK: - Output

/// Tables and detail views for people; `--json` prints the wire form instead.
enum Output {
    /// Prints entries as a table (ids shortened unless `wide`), or as one JSON array.
    static func entries(_ entries: [GuestBookEntry], json: Bool, wide: Bool) {
        if json {
            print(JSONValue.array(entries.map(\.json)).jsonText)
            return
        }
        let now = SystemClock.wallMilliseconds()
        let ids = serverIDs(entries.map(\.id), wide: wide)
        let rows = entries.map { entry in
            [
                ids(entry.id), entry.name.classCode.description,
                entry.terminals.map { "\($0.name)(\($0.inUse ? "in use" : "free"))" }.joined(separator: " "),
                Times.cell(entry.lastHeartbeat, now: now), entry.capabilities.joined(separator: ","),
            ]
        }
        print(table(header: ["ID", "CLASS", "TERMINALS", "LAST HEARTBEAT", "CAPABILITIES"], rows: rows))
        print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies")")
    }

    /// Prints reservations as a table (ids shortened unless `wide`), or as one JSON array.
    static func reservations(_ replies: [ReservationReply], json: Bool, wide: Bool) {
        if json {
            print(JSONValue.array(replies.map { $0.reservation.json(servers: $0.servers) }).jsonText)
            return
        }
        let now = SystemClock.wallMilliseconds()
        let reservationIDs = wide ? [:] : ShortIDs.uuids(replies.map(\.reservation.id))
        let servers = serverIDs(replies.flatMap(\.reservation.serverIDs), wide: wide)
        let rows = replies.map { reply in
            let reservation = reply.reservation
            return [
                reservationIDs[reservation.id] ?? reservation.id, reservation.status.rawValue, String(reservation.priority), String(reservation.token),
                reservation.status != .active ? "-" : reservation.expiresAt.map { Times.cell($0, now: now) } ?? "never (until cancelled)",
                reservation.requestedBy,
                (reservation.serverIDs.map(servers) + reservation.remote.flatMap { part in part.serverIDs.map { "\($0)@\(part.fqdn)" } })
                    .joined(separator: " "),
            ]
        }
        print(table(header: ["ID", "STATUS", "PRIORITY", "TOKEN", "EXPIRES", "REQUESTED BY", "SERVERS"], rows: rows))
        print("\(replies.count) reservation\(replies.count == 1 ? "" : "s")")
    }

    /// Where a reservation's duration came from, for the detail view.
    enum DurationSource {
        /// Asked for, or not known (a reservation read back).
        case stated
        /// The daemon's default: the request named none.
        case daemonDefault
    }

    /// One reservation, for people: `requestedBy` with the holder only when they differ, local times with
    /// how far away they are, the duration with its unit and, when the daemon chose it, saying so.
    static func reservation(_ reply: ReservationReply, duration source: DurationSource = .stated) -> String {
        let reservation = reply.reservation
        let now = SystemClock.wallMilliseconds()
        let holder = reservation.holder.description
        let duration = reservation.duration.map { Times.duration(milliseconds: $0) } ?? "none: it lasts until cancelled"
        var lines = [
            "id:           \(reservation.id)",
            "status:       \(reservation.status.rawValue)\(reservation.reason.map { " (\($0))" } ?? "")",
            "requestedBy:  \(reservation.requestedBy)\(reservation.requestedBy == holder ? "" : " (made by \(holder))")",
            "priority:     \(reservation.priority)",
            "token:        \(reservation.token)",
            "createdAt:    \(Times.detail(reservation.createdAt, now: now))",
            "duration:     \(duration)\(source == .daemonDefault ? " (hostessd's default, as no --duration was given)" : "")",
            "expiresAt:    \(reservation.expiresAt.map { Times.detail($0, now: now) } ?? "never (until cancelled)")",
        ]
        if reservation.session { lines.append("session:      yes: it ends when the connection that made it closes") }
        if let endedAt = reservation.endedAt { lines.append("endedAt:      \(Times.detail(endedAt, now: now))") }
        if let preemptedBy = reservation.preemptedBy { lines.append("preemptedBy:  \(preemptedBy)") }
        lines.append("servers:")
        lines += reservation.serverIDs.map { "  " + $0 }
        for release in reservation.released {
            lines.append("  (released \(release.serverID): \(release.reason), \(Times.detail(release.at, now: now)))")
        }
        for part in reservation.remote {
            lines.append("  on \(part.fqdn) (\(part.endpoint)), its reservation \(part.reservationID), \(part.state.rawValue)\(part.reason.map { ": \($0)" } ?? ""):")
            lines += part.serverIDs.map { "    " + $0 }
        }
        if let remoteFqdn = reservation.remoteFqdn {
            lines.append("for Hostess:  \(remoteFqdn)\(reservation.connectionInfo?.endpoint.map { " at \($0)" } ?? "")")
        }
        return lines.joined(separator: "\n")
    }

    /// The line `hostess reserve` prints above the reservation: what it holds, for whom and until when.
    static func reserved(_ reply: ReservationReply, session: Bool) -> String {
        let reservation = reply.reservation
        let count = reservation.heldCount
        let until =
            if let expiresAt = reservation.expiresAt {
                "until \(Times.detail(expiresAt, now: SystemClock.wallMilliseconds()))"
            } else {
                "until cancelled"
            }
        let held = "reserved \(count) server\(count == 1 ? "" : "s") for \(reservation.requestedBy)"
        return session ? "\(held) while this command runs (SIGINT or SIGTERM ends it), at most \(until)" : "\(held) \(until)"
    }

    /// What `hostess cancel` prints: the reservation it ended and the servers that are free again.
    static func cancelled(_ reply: ReservationReply) -> String {
        let reservation = reply.reservation
        let count = reservation.serverIDs.count + reservation.remote.reduce(0) { $0 + $1.serverIDs.count }
        return "cancelled reservation \(reservation.id) of \(reservation.requestedBy): \(count) server\(count == 1 ? "" : "s") released"
    }

    /// A function giving each of `ids` as a table shows it: shortened (``ShortIDs``), or whole when `wide`.
    static func serverIDs(_ ids: [String], wide: Bool) -> (String) -> String {
        guard !wide else { return { $0 } }
        let short = ShortIDs.servers(ids)
        return { short[$0] ?? $0 }
    }

    /// Recorded connectomes as a table, one row per source and target of each link (CONNECTOME, LINK, MODE,
    /// FROM and TO as `serverId.terminal` with the server ids shortened unless `wide`, STATE), then a count
    /// line. STATE is the row's: `active`, or `degraded` with the reasons its endpoints are not as recorded.
    /// `hostess wiring apply` prints this too.
    static func connectomeTable(_ connectomes: [ConnectomeRecord], wide: Bool) -> String {
        var rows: [[String]] = []
        var links = 0
        let ids = serverIDs(
            connectomes.flatMap { $0.connectome.links.flatMap { ($0.sources + $0.targets).map(\.serverID.description) } }, wide: wide)
        func shown(_ endpoint: Connectome.Endpoint) -> String { "\(ids(endpoint.serverID.description)).\(endpoint.terminal)" }
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
                        rows.append([record.connectome.id, link.id, link.mode.rawValue, shown(source), shown(target), state])
                    }
                }
            }
        }
        let count = "\(connectomes.count) connectome\(connectomes.count == 1 ? "" : "s"), \(links) link\(links == 1 ? "" : "s")"
        return table(header: ["CONNECTOME", "LINK", "MODE", "FROM", "TO", "STATE"], rows: rows) + "\n" + count
    }

    /// One recorded connectome, for people: its facts, its links as ``connectomeTable(_:wide:)`` shows them
    /// with whole ids, and its problems.
    static func connectome(_ record: ConnectomeRecord) -> String {
        let connectome = record.connectome
        var lines = [
            "id:            \(connectome.id)",
            "state:         \(record.state.rawValue)",
            "source:        \(connectome.source ?? "-")",
            "reservationId: \(connectome.reservationID ?? "-")",
            "createdBy:     \(record.createdBy)",
            "createdAt:     \(Times.detail(record.createdAt, now: SystemClock.wallMilliseconds()))",
            "links:",
            connectomeTable([record], wide: true),
        ]
        if !record.problems.isEmpty {
            lines.append("problems:")
            lines += record.problems.map { "  \($0.serverID).\($0.terminal) (link \($0.linkID)): \($0.reason.rawValue)" }
        }
        return lines.joined(separator: "\n")
    }

    /// One entry, field by field, its times local with how long ago.
    static func details(_ entry: GuestBookEntry) -> String {
        let now = SystemClock.wallMilliseconds()
        var lines = [
            "id:             \(entry.id)",
            "fqdn:           \(entry.name.fqdn)",
            "servername:     \(entry.name.servername)",
            "class:          \(entry.name.classCode)",
            "owner:          \(entry.name.owner)",
            "uuid:           \(entry.name.uuid)",
            "authentication: \(entry.name.authentication.rawValue) (\(entry.name.authMechanism))",
            "capabilities:   \(entry.capabilities.joined(separator: ", "))",
            "registeredAt:   \(Times.detail(entry.registeredAt, now: now))",
            "lastHeartbeat:  \(Times.detail(entry.lastHeartbeat, now: now))",
            "serial:         \(entry.serial)\(entry.session ? " (session)" : "")",
            "reservedBy:     \(entry.reservedBy ?? "-")",
            "metadata:       \(entry.metadata.isEmpty ? "-" : entry.metadata.map { "\($0.key)=\(plain($0.value))" }.joined(separator: ", "))",
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

    /// The fleet directory's line of `hostess status`: `connected to etcd 127.0.0.1:2379 since 14:03:12 (3 min
    /// ago); 99 other Hostesses listed; lease ttl 120 s; revision 4411`, or the state and why.
    static func directory(_ directory: JSONObject) -> String {
        let state = directory["state"].map(plain) ?? "?"
        let endpoint = directory["endpoint"].map(plain) ?? "?"
        var text = state == "connected" ? "connected to etcd \(endpoint)" : "\(state) (etcd \(endpoint))"
        if case .int(let since)? = directory["since"] { text += " since \(Times.cell(since, now: SystemClock.wallMilliseconds()))" }
        if let error = directory["error"] { text += ": \(plain(error))" }
        if let peers = directory["peers"] { text += "; \(plain(peers)) other Hostess\(peers == .int(1) ? "" : "es") listed" }
        if case .int(let ttl)? = directory["ttl"], ttl > 0 { text += "; lease ttl \(ttl) s" }
        if let revision = directory["revision"] { text += "; revision \(plain(revision))" }
        return text
    }

    /// What `hostess status` prints: the daemon, where it listens, its guest book, its timings with their
    /// units, its counters and who it takes the caller for, one fact a line; members it does not know (a newer
    /// daemon's) follow as `name: value`, objects flattened to `name.member: value`. Over `--http` the same
    /// from `GET /health`.
    static func status(_ status: JSONObject) -> String {
        var rest = status
        func take(_ key: String) -> JSONValue? {
            defer { rest[key] = nil }
            return rest[key]
        }
        func number(_ value: JSONValue?) -> Double? {
            switch value {
            case .int(let number)?: Double(number)
            case .double(let number)?: number
            default: nil
            }
        }
        var lines: [(String, String)] = []
        var daemon = "hostessd \(take("version").map(plain) ?? "?")"
        if let pid = take("pid") { daemon += ", pid \(plain(pid))" }
        if let state = take("status") { daemon += ", \(plain(state))" }
        lines.append(("daemon", daemon))
        if let instance = take("instanceId") { lines.append(("instanceId", plain(instance))) }
        if let uptime = number(take("uptime")) { lines.append(("uptime", Times.duration(seconds: uptime))) }
        if let socket = take("socket") { lines.append(("socket", socket == .null ? "none (standard input and output)" : plain(socket))) }
        if let shm = take("shm") { lines.append(("shm", shm == .null ? "none (--no-shm)" : plain(shm))) }
        if let http = take("http") { lines.append(("http", plain(http))) }
        if let entries = take("entries") {
            lines.append(("entries", plain(entries) + (take("revision").map { " at revision \(plain($0))" } ?? "")))
        }
        if let ttl = number(take("ttl")) { lines.append(("ttl", "\(Times.duration(seconds: ttl)) (an entry without a heartbeat for that long is evicted)")) }
        if let interval = number(take("heartbeatInterval")) { lines.append(("heartbeatInterval", "\(Times.duration(seconds: interval))")) }
        if let requests = take("requests") {
            let counts = [("registrations", "registration"), ("evictions", "eviction"), ("sessionEnds", "session end")].compactMap { key, word in
                take(key).map { "\(plain($0)) \(word)\($0 == .int(1) ? "" : "s")" }
            }
            lines.append(("requests", plain(requests) + (counts.isEmpty ? "" : " (\(counts.joined(separator: ", ")))")))
        }
        if let caller = take("caller")?.objectValue {
            let owners: String
            if case .array(let names)? = caller["ownerNames"] {
                owners = names.isEmpty ? "none" : names.map(plain).joined(separator: ", ")
            } else {
                owners = "?"
            }
            lines.append(("caller", "uid \(caller["uid"].map(plain) ?? "?"); may register as owner: \(owners)"))
        }
        if let directory = take("directory")?.objectValue { lines.append(("directory", Self.directory(directory))) }
        func flatten(_ key: String, _ value: JSONValue) {
            if case .object(let object) = value, !object.isEmpty {
                for member in object { flatten("\(key).\(member.key)", member.value) }
            } else if case .array(let items) = value, items.allSatisfy({ $0.objectValue == nil }) {
                lines.append((key, items.isEmpty ? "-" : items.map(plain).joined(separator: ", ")))
            } else if case .array(let items) = value {
                for (index, item) in items.enumerated() { flatten("\(key)[\(index)]", item) }
            } else {
                lines.append((key, value == .null ? "-" : plain(value)))
            }
        }
        for member in rest { flatten(member.key, member.value) }
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { "\($0.0):".padding(width + 2) + $0.1 }.joined(separator: "\n")
    }

    /// A value as plain text: strings bare, everything else as JSON.
    static func plain(_ value: JSONValue) -> String {
        if case .string(let string) = value { return string }
        return value.jsonText
    }

    /// The answer of a query across the mesh: a row per entry with the Hostess it lives on (ids shortened
    /// unless `wide`), a count line, and a line per peer that did not answer.
    static func acrossTable(_ entries: [JSONValue], unanswered: [JSONValue], asked: Int, wide: Bool) -> String {
        let objects = entries.compactMap(\.objectValue)
        let ids = serverIDs(objects.compactMap { $0["id"]?.stringValue }, wide: wide)
        let rows = objects.map { entry -> [String] in
            let hostess = entry["hostess"]?.objectValue
            let place = hostess?["local"] == true ? "(this Hostess)" : hostess?["fqdn"]?.stringValue ?? "?"
            return [place, entry["id"]?.stringValue.map(ids) ?? "?", entry["class"]?.stringValue ?? "?"]
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
            let age = seen.map { Times.relative(min($0, now), now: now) } ?? "-"
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

    /// Left-aligned columns separated by two spaces.
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
