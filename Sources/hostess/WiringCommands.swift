import Glibc
import HostessClient
import HostessModel
import HostessSystem
import HostessWiring

// MARK: - hostess wiring

/// `hostess wiring validate|apply|release`: the StateManager's half of static wiring.
let wiringCommand = Command(
    name: "wiring", summary: "validate a wiring file, apply it to the running servers, release it",
    usage: """
        usage: hostess wiring validate FILE --manifests DIR|FILE [--manifests …]
               hostess wiring apply FILE [--reserve-for SECONDS] [--manifests DIR|FILE]… [--wide]
               hostess wiring release FILE|CONNECTOME

        FILE is a wiring in JSON or (.yaml, .yml) the block subset of YAML docs/wiring.md describes.
        validate checks it against server manifests (*.manifest.json in each DIR): patterns, terminals,
        directions, multiplexing, ordinals, required servers. Every broken rule is printed as
        FILE:LINE:COLUMN: error: MESSAGE [RULE]. Exit status 0 valid, 1 invalid, 2 usage error.
        apply resolves it against the running servers (the shared-memory region while its writer lives,
        else the socket), reserves them all or none (for --reserve-for seconds, else the daemon's default
        duration), marks every terminal in use with its link's connectome id and records the connectome
        with hostessd. Any failure undoes what it did. Applying the same file again changes nothing. It
        prints the connectome as 'hostess connectomes' does (--wide: whole server ids).
        release marks the terminals available, cancels the reservation and removes the record.
        """,
    valued: ["--manifests", "--reserve-for"], flags: ["--wide"],
    run: { arguments, context in
        guard let verb = arguments.positionals.first else { throw UsageError("expected validate, apply or release") }
        let operands = Array(arguments.positionals.dropFirst())
        guard operands.count == 1 else { throw UsageError("\(verb) takes one FILE, found \(operands.count) arguments") }
        switch verb {
        case "validate":
            guard !arguments.all("--manifests").isEmpty else { throw UsageError("validate needs --manifests DIR (the servers' *.manifest.json)") }
            try validateWiring(operands[0], manifests: arguments.all("--manifests"), context: context)
        case "apply":
            let seconds = try arguments.seconds("--reserve-for", in: 0.001...(30 * 86400))
            try await applyWiring(operands[0], manifests: arguments.all("--manifests"), reserveFor: seconds, wide: arguments.flag("--wide"), context: context)
        case "release":
            try await releaseWiring(operands[0], context: context)
        default:
            throw UsageError("unknown wiring command '\(verb)'\(Suggestions.phrase(for: verb, in: ["validate", "apply", "release"])); expected validate, apply or release")
        }
    })

/// Why a wiring was refused: its diagnostics were printed already; exit status 1.
struct WiringRefused: Error, CustomStringConvertible {
    var description: String
}

// MARK: - Reading files

/// Reads a wiring or manifest file for the check, as the check's diagnostics name it.
private func fileBytes(_ path: String) throws(WiringRefused) -> [UInt8] {
    do { return try FileContents.read(path, limit: WiringCheck.maximumFileBytes) } catch {
        throw WiringRefused(description: "\(path): \(error.reason)")
    }
}

/// The manifest files `--manifests` names: each `*.manifest.json` in a directory, or a file itself.
private func manifestFiles(_ places: [String]) throws(WiringRefused) -> [(file: String, bytes: [UInt8])] {
    var files: [(file: String, bytes: [UInt8])] = []
    for place in places {
        var info = stat()
        guard stat(place, &info) == 0 else { throw WiringRefused(description: "\(place): \(String(cString: strerror(errno)))") }
        if info.st_mode & S_IFMT == S_IFDIR {
            let names: [String]
            do { names = try FileContents.directoryNames(place, limit: 4096) } catch { throw WiringRefused(description: "\(error)") }
            let directory = place.hasSuffix("/") ? place : place + "/"
            for name in names where name.hasSuffix(ManifestFile.suffix) { files.append((directory + name, try fileBytes(directory + name))) }
        } else {
            files.append((place, try fileBytes(place)))
        }
    }
    return files
}

/// Prints a check's diagnostics and a count line to standard error.
private func report(_ diagnostics: [WiringDiagnostic]) {
    for diagnostic in diagnostics { FileHandleWriter.standardError("\(diagnostic)\n") }
}

// MARK: - validate

private func validateWiring(_ path: String, manifests places: [String], context: Context) throws {
    let manifests = try manifestFiles(places)
    let check = WiringCheck(manifests: manifests, wirings: [(path, try fileBytes(path))])
    if context.json {
        let problems = check.diagnostics.map { diagnostic -> JSONValue in
            [
                "file": .string(diagnostic.file), "line": .int(Int64(diagnostic.location.line)),
                "column": .int(Int64(diagnostic.location.column)), "rule": .string(diagnostic.rule.rawValue), "message": .string(diagnostic.message),
            ]
        }
        print(JSONValue.object(["valid": .bool(check.diagnostics.isEmpty), "diagnostics": .array(problems)]).jsonText)
    } else {
        report(check.diagnostics)
    }
    guard check.diagnostics.isEmpty else {
        let count = check.diagnostics.count
        throw WiringRefused(description: "\(path): \(count) error\(count == 1 ? "" : "s")")
    }
    if !context.json {
        let connections = check.wirings.first?.wiring.connections.count ?? 0
        print("\(path): valid (\(connections) connection\(connections == 1 ? "" : "s") against \(check.manifests.count) manifest\(check.manifests.count == 1 ? "" : "s"))")
    }
}

// MARK: - apply

/// Reads and decodes a wiring file, printing why when it is not one.
private func readWiring(_ path: String) throws(WiringRefused) -> (document: SourceDocument, wiring: Wiring) {
    let document: SourceDocument
    do { document = try WiringCheck.document(file: path, bytes: try fileBytes(path)) } catch let error as SourceError {
        report([WiringDiagnostic(error)])
        throw WiringRefused(description: "\(path): not a wiring file")
    } catch {
        throw WiringRefused(description: "\(error)")
    }
    let (wiring, diagnostics) = Wiring.decode(document)
    guard let wiring, diagnostics.isEmpty else {
        report(diagnostics)
        throw WiringRefused(description: "\(path): \(diagnostics.count) error\(diagnostics.count == 1 ? "" : "s")")
    }
    return (document, wiring)
}

private func applyWiring(_ path: String, manifests places: [String], reserveFor seconds: Double?, wide: Bool, context: Context) async throws {
    guard context.remote == nil else { throw UsageError("wiring apply talks to the local hostessd; leave out --http") }
    let (document, wiring) = try readWiring(path)
    if !places.isEmpty {
        let check = WiringCheck(manifests: try manifestFiles(places), wirings: [(path, try fileBytes(path))])
        guard check.diagnostics.isEmpty else {
            report(check.diagnostics)
            throw WiringRefused(description: "\(path): \(check.diagnostics.count) error\(check.diagnostics.count == 1 ? "" : "s") against the manifests")
        }
    }
    let id = WiringPlan.connectomeID(of: document)
    let client = try context.client()
    if let existing = try await recorded(id, client: client) {
        guard existing.state == .active else {
            throw WiringRefused(
                description: "\(path) is applied as connectome \(id), which is degraded (\(problems(of: existing))); release it (hostess wiring release \(path)) and apply it again")
        }
        printConnectome(existing, note: "already applied; nothing changed", wide: wide, context: context)
        return
    }
    let plan: WiringPlan
    do { plan = try WiringPlan.make(wiring, in: document, entries: try await context.reader().listAll(), connectomeID: id) } catch let rejection as WiringRejection {
        report(rejection.diagnostics)
        throw WiringRefused(description: "\(path) cannot be applied to the servers running now; nothing was changed")
    }
    var filter = ServerFilter()
    filter.serverIDs = plan.serverIDs
    let request = ReservationRequest(
        requestedBy: "hostess wiring \(id)", filter: filter, count: plan.serverIDs.count, duration: seconds.map { Int64(($0 * 1000).rounded(.up)) })
    let reservation: ReservationReply
    do { reservation = try await client.reserve(request) } catch {
        throw HostessError(error.code, "reserving the \(plan.serverIDs.count) servers of \(path) failed, nothing was changed: \(error.message)", field: error.field)
    }
    var marked: [(endpoint: Connectome.Endpoint, linkID: String)] = []
    do {
        for mark in plan.marks {
            _ = try await client.markInUse(mark.endpoint.serverID.description, terminal: mark.endpoint.terminal, connectomeID: mark.linkID)
            marked.append(mark)
        }
        let record = try await client.recordConnectome(plan.connectome(source: path, reservationID: reservation.reservation.id))
        printConnectome(record.record, note: "applied (reservation \(reservation.reservation.id))", wide: wide, context: context)
    } catch {
        for mark in marked.reversed() {
            _ = try? await client.markAvailable(mark.endpoint.serverID.description, terminal: mark.endpoint.terminal, connectomeID: mark.linkID)
        }
        _ = try? await client.cancelReservation(reservation.reservation.id)
        throw HostessError(error.code, "applying \(path) failed and was undone (\(marked.count) marks removed, reservation cancelled): \(error.message)", field: error.field)
    }
}

// MARK: - release

private func releaseWiring(_ operand: String, context: Context) async throws {
    guard context.remote == nil else { throw UsageError("wiring release talks to the local hostessd; leave out --http") }
    var info = stat()
    let id = stat(operand, &info) == 0 ? WiringPlan.connectomeID(of: try readWiring(operand).document) : operand
    let client = try context.client()
    guard let record = try await recorded(id, client: client) else {
        throw HostessError(.notFound, "no connectome '\(id)' is recorded\(id == operand ? "" : " for \(operand)"); nothing to release")
    }
    var freed = 0
    for link in record.connectome.links {
        for endpoint in link.endpoints {
            if (try? await client.markAvailable(endpoint.serverID.description, terminal: endpoint.terminal, connectomeID: link.id)) != nil { freed += 1 }
        }
    }
    var cancelled = ""
    if let reservation = record.connectome.reservationID, (try? await client.cancelReservation(reservation)) != nil { cancelled = ", reservation \(reservation) cancelled" }
    let removed = try await client.removeConnectome(id: id)
    if context.json {
        print(removed.json.jsonText)
    } else {
        print("released \(id): \(freed) terminal mark\(freed == 1 ? "" : "s") removed\(cancelled)")
    }
}

/// Prints a connectome as `hostess connectomes` does, under a line saying what happened.
private func printConnectome(_ record: ConnectomeRecord, note: String, wide: Bool, context: Context) {
    if context.json {
        print(record.json.jsonText)
    } else {
        print("connectome \(record.connectome.id): \(note)")
        print(Output.connectomeTable([record], wide: wide))
    }
}

/// The connectome recorded as `id`, or nil when there is none.
private func recorded(_ id: String, client: HostessClient) async throws(HostessError) -> ConnectomeRecord? {
    do { return try await client.connectome(id: id) } catch where error.code == .notFound { return nil }
}

/// What is wrong with a degraded connectome, in a few words: `server_gone: ID.output, …`.
private func problems(of record: ConnectomeRecord) -> String {
    record.problems.map { "\($0.reason.rawValue): \($0.serverID).\($0.terminal)" }.joined(separator: ", ")
}
