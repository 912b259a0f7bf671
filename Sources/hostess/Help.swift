import HostessModel

// MARK: - Help

/// What `hostess help`, `hostess --help` and `hostess version` print.
enum Help {
    /// This client's release; `hostess version` adds the daemon's.
    static let version = "0.1.0"

    /// The general usage: the global options, the commands, what ids and times look like, exit statuses.
    static var general: String {
        """
        usage: hostess COMMAND [ARGUMENTS] [OPTIONS]
               hostess help [COMMAND] | hostess version | hostess --version

        Talks to hostessd over its Unix socket, or with --http to a (remote) hostessd's HTTP interface.

        global options, before or after the command:
          --socket PATH       the daemon's socket (else $HOSTESS_SOCKET, else the default path)
          --shm NAME          the shared-memory region get, list and query read while its writer lives
                              (else $HOSTESS_SHM, else the name the daemon reports)
          --via shm|socket    read only the region, or only the socket; a lookup the region misses is
                              confirmed over the socket
          --json              print the wire form for scripts instead of tables (times in milliseconds
                              since the Unix epoch)
          --http URL          talk to http://HOST:PORT instead of the socket
          --key-id K          sign --http requests with the key K; writes need a key
          --secret-file FILE  K's secret: the first line of FILE, readable by its owner only

        commands:
        \(commands.map { "  " + $0.name.padding(20) + $0.summary }.joined(separator: "\n"))

        IDs: an entry is named by its whole id, or by any start of its id or of its UUID that no other
        entry shares (like docker's short ids); reservations likewise by the start of their id. Tables cut
        ids after 8 hex digits of the UUID (more when two would look alike); --wide prints them whole.
        Times are local (TZ), with how long ago or from now; durations carry their unit.

        Run 'hostess help COMMAND' or 'hostess COMMAND --help' for a command's options.
        Exit status: 0 done, 1 refused or failed, 2 usage error.
        """
    }

    /// Whether no command has an option named like a global one; `hostess` checks this at start in debug
    /// builds, since such an option could never reach its command.
    static func optionsAreDistinct(_ commands: [Command]) -> Bool {
        commands.allSatisfy { $0.valued.union($0.flags).isDisjoint(with: GlobalOptions.names.union(["--help", "-h", "--version"])) }
    }

    /// `hostess help [COMMAND]`.
    @Sendable
    static func help(_ arguments: Arguments, _ context: Context) async throws {
        guard arguments.positionals.count <= 1 else { throw UsageError("expected at most one COMMAND, found \(arguments.positionals.count) arguments") }
        guard let name = arguments.positionals.first else { return print(general) }
        guard let command = commands.first(where: { $0.name == name }) else {
            let near = Suggestions.phrase(for: name, in: commands.map(\.name))
            throw UsageError("unknown command '\(name)'" + (near.isEmpty ? "; commands: \(commands.map(\.name).joined(separator: ", "))" : near))
        }
        print(command.usage)
    }

    /// `hostess version`: this client's release, then the daemon's as it reports it (exit 1, after the
    /// client's line, when no daemon answers).
    @Sendable
    static func versions(_ arguments: Arguments, _ context: Context) async throws {
        _ = try arguments.expect()
        if !context.json { print("hostess \(version)") }
        let status: JSONObject
        do {
            status = if let remote = context.remote { try remote.health() } else { try await context.client().status() }
        } catch {
            if context.json { print(JSONValue.object(["client": ["version": .string(version)], "server": .null]).jsonText) }
            throw error
        }
        let server = status["version"]?.stringValue ?? "?"
        if context.json {
            print(JSONValue.object(["client": ["version": .string(version)], "server": ["version": .string(server)]]).jsonText)
        } else {
            let place = context.remote?.address ?? status["socket"]?.stringValue ?? "?"
            print("hostessd \(server) at \(place)\(status["pid"].map { ", pid \(Output.plain($0))" } ?? "")")
        }
    }
}

extension String {
    /// The string followed by spaces up to `width` characters, and at least one.
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}
