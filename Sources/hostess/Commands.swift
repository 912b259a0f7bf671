import Glibc
import HostessClient
import HostessModel
import HostessSystem

// MARK: - Command table

/// One CLI command: its usage, its options, and what it does.
struct Command: Sendable {
    let name: String
    let summary: String
    let usage: String
    let valued: Set<String>
    let flags: Set<String>
    let run: @Sendable (Arguments, Context) async throws -> Void
}

/// What every command gets: the output mode and a way to reach the daemon.
struct Context: Sendable {
    /// Where reads go.
    enum Via: String, Sendable { case shm, socket }

    let socketPath: String?
    let json: Bool
    /// `--via`, when given: otherwise reads use the region while its writer lives, else the socket.
    let via: Via?
    /// `--shm`, when given.
    let sharedMemoryName: String?
    /// Where SIGINT and SIGTERM arrive, when they are caught (for `register --keep-alive`).
    let signals: Int32?
    /// The HTTP interface to use instead of the socket (`--http`).
    let remote: RemoteHostess?

    /// A socket client for one command: an outage is an error the command reports, not a log line.
    func client() throws(HostessError) -> HostessClient { try HostessClient(socketPath: socketPath, events: { _ in }) }

    /// How `get`, `list` and `query` read: the region of the daemon at the socket (`--shm`, else
    /// `$HOSTESS_SHM`, else the one it reports in `status`) while its writer lives, else the socket; `--via`
    /// narrows that to one source. The writer's liveness is asked of the kernel once per command.
    func reader() -> GuestBookReader {
        let route: GuestBookReader.Route =
            switch via {
            case .shm: .sharedMemory
            case .socket: .socket
            case nil: .automatic
            }
        return GuestBookReader(
            socketPath: socketPath, sharedMemoryName: sharedMemoryName, route: route,
            warning: { FileHandleWriter.standardError("hostess: warning: \($0)\n") })
    }

    // MARK: Ids people type

    /// The server id `typed` names (``IDPrefix``): a whole id as it is, else the one entry whose id or UUID
    /// starts with it, looked up over `--http`, else as ``reader()`` reads.
    func serverID(_ typed: String) async throws -> String {
        if let name = try? ServerName(parsing: typed) { return name.description }
        let entries = if let remote { try remote.listAll() } else { try await reader().listAll() }
        return try IDPrefix.resolve(typed, kind: .entry, among: entries.map { ($0.id, $0.name.uuid) })
    }

    /// The server ids of a repeatable `option` (`--server`), each resolved as ``serverID(_:)`` does; none
    /// twice, at most ``ServerFilter/maximumServerIDs``; nil when none is given.
    func serverIDs(_ typed: [String], option: String) async throws -> [String]? {
        guard !typed.isEmpty else { return nil }
        guard typed.count <= ServerFilter.maximumServerIDs else { throw UsageError("\(option): at most \(ServerFilter.maximumServerIDs) ids") }
        var ids: [String] = []
        for text in typed {
            let id = try await serverID(text)
            guard !ids.contains(id) else { throw UsageError("\(option) \(text) names \(id), which is given already") }
            ids.append(id)
        }
        return ids
    }

    /// The reservation id `typed` names: a whole UUID as it is, else the one reservation (active, or ended
    /// within hostessd's retention) whose id starts with it.
    func reservationID(_ typed: String) async throws -> String {
        if IDPrefix.isUUID(typed) { return typed.lowercased() }
        let replies = if let remote { try remote.reservations() } else { try await client().reservations() }
        return try IDPrefix.resolve(typed, kind: .reservation, among: replies.map { ($0.reservation.id, $0.reservation.id) })
    }
}

let commands: [Command] = [
    Command(
        name: "register", summary: "sign the guest book; prints the new entry's id",
        usage: """
            usage: hostess register --manifest FILE.json [--fqdn FQDN] [--uuid UUID] [--keep-alive [--give-up-after SECONDS]]
                   hostess register --name NAME --class 0xNNNN --owner OWNER [--fqdn FQDN]
                                    [--auth yes|no|optional] [--auth-mechanism MECH]
                                    [--capability C]... [--terminal NAME:DIRECTION:MULTIPLEXING[:PROTOCOL]]...
                                    [--metadata KEY=VALUE]... [--uuid UUID] [--keep-alive [--give-up-after SECONDS]]

            DIRECTION is input, output or bidirectional; MULTIPLEXING is none, fanout or fanin.
            --fqdn defaults to this host's name, --uuid to a fresh random UUID.
            Entries live for the daemon's TTL unless heartbeated: --keep-alive stays in the foreground,
            heartbeating, and unregisters the entry on SIGINT or SIGTERM. When hostessd goes away it
            reconnects with backoff and registers the entry again (one line on stderr when lost, one when
            back); if that has not worked within --give-up-after seconds (default \(Int(defaultGiveUpAfter))), it exits 1.
            """,
        valued: [
            "--manifest", "--name", "--class", "--owner", "--fqdn", "--auth", "--auth-mechanism", "--capability",
            "--terminal", "--metadata", "--uuid", "--give-up-after",
        ],
        flags: ["--keep-alive"], run: register),
    Command(
        name: "unregister", summary: "remove an entry", usage: "usage: hostess unregister ID\n\n\(idHelp)", valued: [], flags: [],
        run: { arguments, context in
            let id = try await context.serverID(arguments.expect("id")[0])
            if let remote = context.remote { try remote.unregister(id) } else { try await context.client().unregister(id) }
            if !context.json { print("unregistered \(id)") } else { print(JSONValue.object(["unregistered": .string(id)]).jsonText) }
        }),
    Command(
        name: "heartbeat", summary: "refresh an entry's liveness once", usage: "usage: hostess heartbeat ID\n\n\(idHelp)", valued: [],
        flags: [],
        run: { arguments, context in
            let id = try await context.serverID(arguments.expect("id")[0])
            if let remote = context.remote { try remote.heartbeat(id) } else { try await context.client().heartbeat(id) }
            if !context.json { print("heartbeat \(id)") } else { print(JSONValue.object(["heartbeat": .string(id)]).jsonText) }
        }),
    Command(
        name: "get", summary: "show one entry",
        usage: """
            usage: hostess get ID [--via shm|socket]

            \(idHelp)
            Times are local (TZ) with how long ago; --json prints the entry's wire form (milliseconds).
            """,
        valued: [], flags: [],
        run: { arguments, context in
            let id = try await context.serverID(arguments.expect("id")[0])
            let entry = if let remote = context.remote { try remote.getServer(id) } else { try await context.reader().getServer(id) }
            print(context.json ? entry.json.jsonText : Output.details(entry))
        }),
    Command(
        name: "list", summary: "list every entry",
        usage: """
            usage: hostess list [--wide] [--via shm|socket]

            The table cuts ids after 8 hex digits of the UUID (more when two would look alike), which any
            command taking an ID accepts; --wide prints whole ids.
            """,
        valued: [], flags: ["--wide"],
        run: { arguments, context in
            _ = try arguments.expect()
            let entries = if let remote = context.remote { try remote.listAll() } else { try await context.reader().listAll() }
            Output.entries(entries, json: context.json, wide: arguments.flag("--wide"))
        }),
    Command(
        name: "query", summary: "list the entries matching a filter",
        usage: """
            usage: hostess query [--fqdn FQDN] [--servername NAME] [--class 0xNNNN] [--owner OWNER]
                                 [--capability C]... [--available-terminals N] [--unreserved] [--server ID]...
                                 [--scope local|remote|all] [--wide] [--via shm|socket]

            --scope remote asks the live peer Hostesses (hostess peers) whose summary can match, all adds this
            one's own; each entry says where it lives, and the peers that did not answer in time are listed.
            Every criterion given must hold; --capability may repeat and all must be present; --unreserved
            leaves out servers a reservation holds; --server may repeat and keeps only the servers with those
            ids (an id, or the start of one or of its UUID). get, list and query read the daemon's
            shared-memory region while its writer lives, else the socket (--via shm insists on the region,
            --via socket skips it). --wide prints whole ids.
            """,
        valued: ["--fqdn", "--servername", "--class", "--owner", "--capability", "--available-terminals", "--server", "--scope"],
        flags: ["--unreserved", "--wide"],
        run: { arguments, context in
            _ = try arguments.expect()
            var filter = try serverFilter(arguments)
            filter.serverIDs = try await context.serverIDs(arguments.all("--server"), option: "--server")
            if let text = arguments.value("--scope") {
                guard let scope = ServerFilter.Scope(rawValue: text) else { throw UsageError("--scope: expected local, remote or all, found '\(text)'") }
                filter.scope = scope
            }
            if filter.scope != .local {
                guard context.remote == nil else { throw UsageError("--scope \(filter.scope.rawValue) asks the local hostessd; leave out --http") }
                let answer = try await context.client().queryAcross(filter)
                if context.json {
                    print(JSONValue.object(["entries": .array(answer.entries), "unanswered": .array(answer.unanswered), "asked": .int(Int64(answer.asked))]).jsonText)
                } else {
                    print(Output.acrossTable(answer.entries, unanswered: answer.unanswered, asked: answer.asked, wide: arguments.flag("--wide")))
                }
                return
            }
            let entries = if let remote = context.remote { try remote.query(filter) } else { try await context.reader().query(filter) }
            Output.entries(entries, json: context.json, wide: arguments.flag("--wide"))
        }),
    Command(
        name: "mark-in-use", summary: "record that a connectome uses a terminal",
        usage: "usage: hostess mark-in-use ID TERMINAL CONNECTOME\n\n\(idHelp)", valued: [], flags: [],
        run: { arguments, context in
            let parts = try arguments.expect("id", "terminal", "connectome")
            let id = try await context.serverID(parts[0])
            let entry =
                if let remote = context.remote {
                    try remote.markInUse(id, terminal: parts[1], connectomeID: parts[2])
                } else {
                    try await context.client().markInUse(id, terminal: parts[1], connectomeID: parts[2])
                }
            if context.json { print(entry.json.jsonText) } else { print("terminal \(parts[1]) of \(id) is in use by \(parts[2])") }
        }),
    Command(
        name: "mark-available", summary: "clear a terminal's connections",
        usage: "usage: hostess mark-available ID TERMINAL [--connectome CONNECTOME]\n\nWith --connectome only that connection is removed.\n\(idHelp)",
        valued: ["--connectome"], flags: [],
        run: { arguments, context in
            let parts = try arguments.expect("id", "terminal")
            let id = try await context.serverID(parts[0])
            let entry =
                if let remote = context.remote {
                    try remote.markAvailable(id, terminal: parts[1], connectomeID: arguments.value("--connectome"))
                } else {
                    try await context.client().markAvailable(id, terminal: parts[1], connectomeID: arguments.value("--connectome"))
                }
            if context.json { print(entry.json.jsonText) } else { print("terminal \(parts[1]) of \(id) is available") }
        }),
    Command(
        name: "watch", summary: "print guest book changes as they happen",
        usage: """
            usage: hostess watch [--since REVISION] [--timeout SECONDS] [--count N]

            Waits for changes after REVISION (default: the current revision) and prints each one.
            --count stops after N changes; --timeout stops after that long without a change (exit 0).
            """,
        valued: ["--since", "--timeout", "--count"], flags: [], run: watch),
    Command(
        name: "capabilities", summary: "what the matching servers offer, per class",
        usage: """
            usage: hostess capabilities [--class 0xNNNN] [--capability C]... [--available-terminals N]
                                        [--fqdn FQDN] [--servername NAME] [--owner OWNER] [--unreserved]

            Per class: how many servers match (totalCount), how many have a free terminal (availableCount),
            and the union of their capabilities: what this Hostess can offer (the design's queryCapabilities).
            """,
        valued: ["--fqdn", "--servername", "--class", "--owner", "--capability", "--available-terminals"], flags: ["--unreserved"],
        run: { arguments, context in
            _ = try arguments.expect()
            let filter = try serverFilter(arguments)
            let summaries: [JSONValue]
            if let remote = context.remote { summaries = try remote.capabilities(filter) } else {
                summaries = try await context.client().queryCapabilities(filter)
            }
            if context.json {
                print(JSONValue.array(summaries).jsonText)
                return
            }
            let rows = summaries.compactMap(\.objectValue).map { summary in
                [
                    Output.plain(summary["class"] ?? .null), Output.plain(summary["totalCount"] ?? .null),
                    Output.plain(summary["availableCount"] ?? .null),
                    { if case .array(let names)? = summary["capabilities"] { names.map(Output.plain).joined(separator: ",") } else { "" } }(),
                ]
            }
            print(Output.table(header: ["CLASS", "SERVERS", "AVAILABLE", "CAPABILITIES"], rows: rows))
        }),
    Command(
        name: "reserve", summary: "hold servers matching a filter, all or none",
        usage: """
            usage: hostess reserve --count N [--class 0xNNNN] [--capability C]... [--available-terminals N]
                                   [--fqdn FQDN] [--servername NAME] [--owner OWNER] [--server ID]...
                                   [--duration SECONDS] [--priority P] [--requested-by WHO] [--session]
                                   [--allow-remote]

            Holds N servers that match and no other reservation holds, or fails saying how many matched and
            how many were free. --server (repeatable; an id, or the start of one or of its UUID) names the
            servers exactly: with --count equal to the number of --server ids, it holds exactly those, all or
            none. A higher --priority may preempt lower-priority reservations.
            A reservation ends at 'hostess cancel ID' or after --duration seconds (at most 30 days; hostessd
            lets only root pass its --reservation-max-duration, 1 day unless configured). Without --duration
            hostessd's default applies (--reservation-default-duration, 1 hour unless configured): the output
            says so, and when it expires. No reservation lasts for ever.
            --session stays in the foreground after printing the reservation, and the reservation ends when
            this command exits (SIGINT or SIGTERM), or when its duration runs out.
            --allow-remote lets peer Hostesses (hostessd --peer-keys) hold what this one lacks, all or none:
            the reservation lists which Hostess holds which servers, and cancelling it cancels their parts.
            Prints what it holds until when, then the reservation; --json prints the reservation's wire form.
            """,
        valued: [
            "--count", "--class", "--capability", "--available-terminals", "--fqdn", "--servername", "--owner", "--duration", "--priority",
            "--requested-by", "--server",
        ],
        flags: ["--session", "--allow-remote"],
        run: { arguments, context in
            _ = try arguments.expect()
            guard let count = try arguments.integer("--count", in: Int.min...Int.max) else { throw UsageError("--count N is required") }
            var filter = try serverFilter(arguments)
            var duration: Int64?
            if let text = arguments.value("--duration") {
                guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds * 1000 <= Double(ReservationRequest.maximumDuration) else {
                    throw UsageError("--duration: expected seconds greater than 0 and at most 30 days (2592000), found '\(text)'")
                }
                duration = Int64((seconds * 1000).rounded(.up))
            }
            filter.serverIDs = try await context.serverIDs(arguments.all("--server"), option: "--server")
            let request = ReservationRequest(
                requestedBy: arguments.value("--requested-by"), filter: filter, count: count, duration: duration,
                priority: try arguments.integer("--priority", in: ReservationRequest.priorities) ?? 0, session: arguments.flag("--session"),
                allowRemote: arguments.flag("--allow-remote"))
            if request.session && context.remote != nil { throw UsageError("--session needs the socket; over --http give --duration") }
            if request.allowRemote && context.remote != nil { throw UsageError("--allow-remote needs the socket: a peer's reservation is served from its own guest book") }
            func show(_ reply: ReservationReply) {
                if context.json {
                    print(reply.reservation.json(servers: reply.servers).jsonText)
                } else {
                    print(Output.reserved(reply, session: request.session))
                    print(Output.reservation(reply, duration: duration == nil ? .daemonDefault : .stated))
                }
            }
            let reply: ReservationReply
            if let remote = context.remote { reply = try remote.reserve(request) } else {
                let client = try context.client()
                reply = try await client.reserve(request)
                if request.session, let signals = context.signals {
                    show(reply)
                    let signal = await SignalWaiter.wait(descriptor: signals)
                    client.close()
                    FileHandleWriter.standardError("hostess: received signal \(signal); reservation \(reply.reservation.id) ends with this connection\n")
                    return
                }
            }
            show(reply)
        }),
    Command(
        name: "reservations", summary: "list reservations, or show one",
        usage: """
            usage: hostess reservations [--status active|expired|cancelled|preempted|lost] [--wide]
                   hostess reservations ID

            The table cuts reservation ids after 8 hex digits and server ids after 8 hex digits of their
            UUID (more when two would look alike); --wide prints them whole. ID is a reservation's id or the
            start of one; its servers are shown whole. Times are local (TZ).
            """,
        valued: ["--status"], flags: ["--wide"],
        run: { arguments, context in
            var status: Reservation.Status?
            if let text = arguments.value("--status") {
                guard let known = Reservation.Status(rawValue: text) else {
                    throw UsageError(
                        "--status: expected active, expired, cancelled, preempted or lost, found '\(text)'"
                            + Suggestions.phrase(for: text, in: Reservation.Status.allCases.map(\.rawValue)))
                }
                status = known
            }
            if arguments.positionals.count == 1 {
                let id = try await context.reservationID(arguments.positionals[0])
                let reply: ReservationReply
                if let remote = context.remote { reply = try remote.reservation(id) } else { reply = try await context.client().reservation(id) }
                print(context.json ? reply.reservation.json(servers: reply.servers).jsonText : Output.reservation(reply))
                return
            }
            _ = try arguments.expect()
            let replies: [ReservationReply]
            if let remote = context.remote { replies = try remote.reservations(status: status) } else {
                replies = try await context.client().reservations(status: status)
            }
            Output.reservations(replies, json: context.json, wide: arguments.flag("--wide"))
        }),
    Command(
        name: "cancel", summary: "cancel a reservation",
        usage: "usage: hostess cancel ID\n\nID is a reservation's id or the start of one. Prints the reservation cancelled and how many servers it released.",
        valued: [], flags: [],
        run: { arguments, context in
            let id = try await context.reservationID(arguments.expect("id")[0])
            let reply: ReservationReply
            if let remote = context.remote { reply = try remote.cancelReservation(id) } else { reply = try await context.client().cancelReservation(id) }
            print(context.json ? reply.reservation.json(servers: reply.servers).jsonText : Output.cancelled(reply))
        }),
    Command(
        name: "peers", summary: "list the other Hostesses heard from on the mesh",
        usage: """
            usage: hostess peers [--json]

            The Hostesses hostessd heard announce themselves (hostessd --announce): where they are, their
            state (live; stale once they missed their ttl: shown, never chosen), their servers by class.
            --json prints the array of peers as the daemon reports them (docs/mesh.md).
            """,
        valued: [], flags: [],
        run: { arguments, context in
            _ = try arguments.expect()
            let (announcing, peers) = if let remote = context.remote { try remote.peers() } else { try await context.client().peers() }
            if context.json {
                print(JSONValue.array(peers).jsonText)
            } else {
                print(Output.peerTable(peers, announcing: announcing))
            }
        }),
    Command(
        name: "probe", summary: "learn which address:port paths reach this machine (Executor/Probe/Beacon)",
        usage: """
            usage: hostess probe [--targets IP,IP...] [--ports A-B] [--from PEER] [--json]

            hostessd starts a beacon on every free port of the range on each target address and a probe that
            tries every address × port, both authenticated by a passphrase that never crosses the wire
            (docs/probing.md). The table shows, per address, how many pairs worked and the best latency; then
            the failures by reason and this Hostess's connection methods, which its announcements carry.
            Defaults: every address of this machine, ports 10000-65535. With --from PEER (a host name or
            hostessId from 'hostess peers', with a key in hostessd's --peer-keys) the peer runs the probe
            toward the address of this machine that faces it: what works is reachable from outside.
            Only root and hostessd's user may.
            --json prints the design's PROBE_RESULTS object (results, testedMatrix, failures, windows).
            """,
        valued: ["--targets", "--ports", "--from"], flags: [],
        run: { arguments, context in
            _ = try arguments.expect()
            let targets = arguments.value("--targets").map { $0.split(separator: ",").map(String.init) }
            let report = try await context.client().probe(targets: targets, ports: arguments.value("--ports"), from: arguments.value("--from"))
            if context.json {
                print(JSONValue.object(report).jsonText)
            } else {
                print(Output.probeSummary(report))
            }
        }),
    Command(
        name: "connection-methods", summary: "the tested ways to reach this Hostess and its peers",
        usage: """
            usage: hostess connection-methods [FQDN] [--json]

            What probe runs found for this Hostess, and what each peer announces, lowest latency first; a
            method is fresh for hostessd's --probe-cache-ttl (default 300 s) after it was tested.
            """,
        valued: [], flags: [],
        run: { arguments, context in
            guard arguments.positionals.count <= 1 else { throw UsageError("expected at most one FQDN, found \(arguments.positionals.count) arguments") }
            let hosts = try await context.client().connectionMethods(fqdn: arguments.positionals.first)
            if context.json {
                print(JSONValue.array(hosts).jsonText)
            } else {
                print(Output.connectionMethodTable(hosts))
            }
        }),
    Command(
        name: "connectomes", summary: "list the recorded connectomes, one row per link endpoint pair",
        usage: """
            usage: hostess connectomes [--wide] [--json]

            One row per source and target of each link of each recorded connectome, with the state the
            guest book gives it now: active, or degraded and why (server_gone, terminal_gone, not_marked).
            Server ids are cut after 8 hex digits of their UUID; --wide prints them whole.
            --json prints the connectomes as the daemon reports them.
            """,
        valued: [], flags: ["--wide"],
        run: { arguments, context in
            _ = try arguments.expect()
            let records = if let remote = context.remote { try remote.connectomes() } else { try await context.client().connectomes() }
            print(context.json ? JSONValue.array(records.map(\.json)).jsonText : Output.connectomeTable(records, wide: arguments.flag("--wide")))
        }),
    Command(
        name: "connectome", summary: "show one recorded connectome",
        usage: "usage: hostess connectome ID [--json]\n\nShows the connectome, its links and its problems; --json prints it as the daemon reports it.",
        valued: [], flags: [],
        run: { arguments, context in
            let id = try arguments.expect("id")[0]
            let record = if let remote = context.remote { try remote.connectome(id: id) } else { try await context.client().connectome(id: id) }
            print(context.json ? record.json.jsonText : Output.connectome(record))
        }),
    Command(
        name: "status", summary: "show the daemon's status and who it thinks you are",
        usage: """
            usage: hostess status

            The daemon's version and pid, where it listens, its entries and revision, its ttl and heartbeat
            interval, its counters, and the uid and owner names it takes you for (caller). Over --http, what
            GET /health tells. --json prints the daemon's status object.
            """,
        valued: [], flags: [],
        run: { arguments, context in
            _ = try arguments.expect()
            let status: JSONObject
            if let remote = context.remote { status = try remote.health() } else { status = try await context.client().status() }
            print(context.json ? JSONValue.object(status).jsonText : Output.status(status))
        }),
    wiringCommand,
    Command(
        name: "help", summary: "show the commands and global options, or one command's usage",
        usage: "usage: hostess help [COMMAND]", valued: [], flags: [], run: Help.help),
    Command(
        name: "version", summary: "show this client's version and the daemon's",
        usage: "usage: hostess version\n\nhostess --version prints this client's version only, without asking the daemon.",
        valued: [], flags: [], run: Help.versions),
]

/// How a command taking a server ID reads it, for its usage text.
let idHelp = """
    ID is an entry's whole id, or the start of its id or of its UUID that no other entry shares (as the
    tables show it: cut after 8 hex digits of the UUID).
    """

// MARK: - register

@Sendable
func register(_ arguments: Arguments, _ context: Context) async throws {
    _ = try arguments.expect()
    var manifest: ServerManifest
    if let path = arguments.value("--manifest") {
        for option in ["--name", "--class", "--owner", "--auth", "--auth-mechanism", "--capability", "--terminal", "--metadata"]
        where arguments.value(option) != nil {
            throw UsageError("\(option) cannot be combined with --manifest; put it in the manifest file")
        }
        let bytes: [UInt8]
        do { bytes = try FileContents.read(path, limit: 1 << 20) } catch { throw UsageError("--manifest \(path): \(error)") }
        do { manifest = try ServerManifest(json: try JSONParser.parse(bytes)) } catch let error as JSONParseError {
            throw UsageError("--manifest \(path): \(error)")
        } catch let error as HostessError {
            throw UsageError("--manifest \(path): \(error.field.map { "\($0): " } ?? "")\(error.message)")
        }
    } else {
        guard let name = arguments.value("--name"), let classText = arguments.value("--class"),
            let owner = arguments.value("--owner")
        else { throw UsageError("register needs --manifest FILE, or --name, --class and --owner") }
        let classCode = try parseClass(classText)
        var authentication = AuthenticationRequirement.no
        if let auth = arguments.value("--auth") {
            guard let value = AuthenticationRequirement(rawValue: auth) else {
                throw UsageError("--auth: expected yes, no or optional, found '\(auth)'")
            }
            authentication = value
        }
        var metadata = JSONObject()
        for pair in arguments.all("--metadata") {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw UsageError("--metadata: expected KEY=VALUE, found '\(pair)'")
            }
            metadata[String(pair[..<equals])] = .string(String(pair[pair.index(after: equals)...]))
        }
        manifest = ServerManifest(
            name: name, classCode: classCode, owner: owner, authentication: authentication,
            authMechanism: arguments.value("--auth-mechanism") ?? "none",
            terminals: try arguments.all("--terminal").map(parseTerminal), capabilities: arguments.all("--capability"),
            metadata: metadata)
    }
    let giveUpAfter = try arguments.seconds("--give-up-after", in: 0.1...86_400)
    if giveUpAfter != nil && !arguments.flag("--keep-alive") { throw UsageError("--give-up-after goes with --keep-alive") }
    if let remote = context.remote {
        guard !arguments.flag("--keep-alive") else { throw UsageError("--keep-alive needs the socket; over --http, send heartbeats with 'hostess heartbeat ID'") }
        let registration = try manifest.registration(
            fqdn: arguments.value("--fqdn") ?? HostIdentity.hostName(), uuid: arguments.value("--uuid") ?? HostIdentity.randomUUID())
        let entry = try remote.register(registration)
        print(context.json ? entry.json.jsonText : entry.id)
        return
    }
    guard arguments.flag("--keep-alive") else {
        let entry = try await context.client().register(manifest: manifest, fqdn: arguments.value("--fqdn"), uuid: arguments.value("--uuid"))
        print(context.json ? entry.json.jsonText : entry.id)
        return
    }
    // Stay in the foreground: the client heartbeats in the background, and registers the entry again after
    // hostessd restarts, until a signal arrives or it gives up.
    let limit = giveUpAfter ?? defaultGiveUpAfter
    let limitText = limit == limit.rounded() ? "\(Int(limit))" : "\(limit)"
    let client = try HostessClient(
        socketPath: context.socketPath, reconnect: HostessClient.ReconnectPolicy(giveUpAfter: limit),
        events: { event in
            guard case .gaveUp(let path, _, let reason, _) = event else { return FileHandleWriter.standardError("hostess: \(event)\n") }
            FileHandleWriter.standardError(
                "hostess: gave up: could not register the entry again with hostessd at \(path) within \(limitText) s (--give-up-after): \(reason.message)\n")
            exit(1)
        })
    let entry = try await client.register(manifest: manifest, fqdn: arguments.value("--fqdn"), uuid: arguments.value("--uuid"))
    print(context.json ? entry.json.jsonText : entry.id)
    guard let signals = context.signals else { return }
    let signal = await SignalWaiter.wait(descriptor: signals)
    try await client.unregister(entry.id)
    FileHandleWriter.standardError("hostess: received signal \(signal); unregistered \(entry.id)\n")
}

/// Seconds `register --keep-alive` tries to register its entry again after losing hostessd: long enough for
/// a restart (systemd restarts a failed hostessd within a second), short enough for a supervisor to notice.
let defaultGiveUpAfter = 60.0

/// The filter that `--fqdn`, `--servername`, `--class`, `--owner`, `--capability` (repeatable),
/// `--available-terminals` and `--unreserved` spell (each command lists the ones it takes); the commands
/// taking `--server` resolve its ids with ``Context/serverIDs(_:option:)``.
func serverFilter(_ arguments: Arguments) throws(UsageError) -> ServerFilter {
    var filter = ServerFilter(
        fqdn: arguments.value("--fqdn"), servername: arguments.value("--servername"), owner: arguments.value("--owner"),
        capabilities: arguments.all("--capability"),
        availableTerminals: try arguments.integer("--available-terminals", in: 0...Limits.terminals), unreserved: arguments.flag("--unreserved"))
    if let classText = arguments.value("--class") { filter.classCode = try parseClass(classText) }
    return filter
}

/// Parses a `--class` value.
func parseClass(_ text: String) throws(UsageError) -> ClassCode {
    do { return try ClassCode(parsing: text) } catch { throw UsageError("--class: \(error.message)") }
}

/// Parses `NAME:DIRECTION:MULTIPLEXING[:PROTOCOL]`.
func parseTerminal(_ text: String) throws -> Terminal {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard (3...4).contains(parts.count) else {
        throw UsageError("--terminal: expected NAME:DIRECTION:MULTIPLEXING[:PROTOCOL], found '\(text)'")
    }
    guard let direction = Terminal.Direction(rawValue: parts[1]) else {
        throw UsageError("--terminal \(text): direction must be input, output or bidirectional, found '\(parts[1])'")
    }
    guard let multiplexing = Terminal.Multiplexing(rawValue: parts[2]) else {
        throw UsageError("--terminal \(text): multiplexing must be none, fanout or fanin, found '\(parts[2])'")
    }
    do {
        return try Terminal(name: parts[0], direction: direction, multiplexing: multiplexing, protocol: parts.count == 4 ? parts[3] : nil)
    } catch {
        throw UsageError("--terminal \(text): \(error.message)")
    }
}

// MARK: - watch

@Sendable
func watch(_ arguments: Arguments, _ context: Context) async throws {
    _ = try arguments.expect()
    guard context.remote == nil else { throw UsageError("watch needs the socket; over HTTP use GET /servers?index=N&wait=30s") }
    var since = try arguments.integer("--since", in: 0...Int.max).map(UInt64.init)
    let timeout = try arguments.seconds("--timeout", in: 0.001...86_400)
    let limit = try arguments.integer("--count", in: 1...Int.max)
    let client = try context.client()
    if since == nil { since = UInt64(clamping: (try await client.connection.request("status")).revision) }
    var printed = 0
    let started = SystemClock.monotonicNanoseconds()
    while true {
        var wait = 300.0
        if let timeout {
            let elapsed = Double(SystemClock.monotonicNanoseconds() - started) / 1e9
            if elapsed >= timeout { return }
            wait = min(wait, timeout - elapsed)
        }
        let result = try await client.watch(since: since, timeout: wait)
        guard result.changed else { continue }
        let changes = result.changes ?? [Change(revision: result.revision, kind: .updated, id: "*")]
        for change in changes {
            if context.json {
                print(change.json.jsonText)
            } else {
                print("\(change.revision)\t\(change.kind.rawValue)\t\(change.id)")
            }
            printed += 1
            if let limit, printed >= limit { return }
        }
        since = result.revision
    }
}

// MARK: - HTTP

/// The HTTP client `--http`, `--key-id` and `--secret-file` ask for, or nil without `--http`.
func remoteHostess(url: String?, keyID: String?, secretFile: String?) throws -> RemoteHostess? {
    guard let url else {
        if keyID != nil || secretFile != nil { throw UsageError("--key-id and --secret-file go with --http") }
        return nil
    }
    var secret: [UInt8]?
    if let secretFile {
        var info = stat()
        guard stat(secretFile, &info) == 0 else { throw UsageError("--secret-file \(secretFile): \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o044 == 0 else {
            throw UsageError("--secret-file \(secretFile): group or others can read it; run chmod 600 \(secretFile)")
        }
        let bytes: [UInt8]
        do { bytes = try FileContents.read(secretFile, limit: 4096) } catch { throw UsageError("--secret-file \(secretFile): \(error)") }
        let line = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).first ?? []
        secret = Array(line.last == 0x0D ? line.dropLast() : line)
        guard secret?.isEmpty == false else { throw UsageError("--secret-file \(secretFile): the first line (the secret) is empty") }
    }
    guard (keyID == nil) == (secret == nil) else { throw UsageError("--key-id and --secret-file go together") }
    return try RemoteHostess(url: url, keyID: keyID, secret: secret)
}
