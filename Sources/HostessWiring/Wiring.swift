import HostessModel

// MARK: - Wiring

/// A wiring file: which servers' terminals connect to which, and what must run for it to make sense.
///
/// ```yaml
/// version: '1.0'
/// connections:
///   - source: {server: PATTERN | servers: [PATTERN…], terminal: NAME}
///     target: {server: PATTERN, terminal: NAME, mode: merge}    # or targets: [ … ]
/// validation:
///   required_servers:
///     - {class: '0x0002', count: 2}
/// ```
///
/// Decoding keeps every value's field path, so that each rule that fails names the line and column of the
/// value it is about (``WiringDiagnostic``).
public struct Wiring: Hashable, Sendable {
    /// The wiring format versions this code reads.
    public static let versions: Set<String> = ["1.0"]
    /// Most connections in one file.
    public static let maximumConnections = 1024
    /// Most sources or targets in one connection.
    public static let maximumEndpoints = 64
    /// Most required-server entries.
    public static let maximumRequirements = 256

    /// One end of a connection: a server pattern and a terminal name.
    public struct Endpoint: Hashable, Sendable {
        /// Which servers.
        public var pattern: ServerPattern
        /// Which of their terminals.
        public var terminal: String
        /// Where the endpoint is in the file (its field path), for diagnostics.
        public var path: String
    }

    /// One connection: its sources feed each of its targets.
    public struct Connection: Hashable, Sendable {
        /// The sending ends.
        public var sources: [Endpoint]
        /// The receiving ends, each with whether its sources merge into one stream.
        public var targets: [Target]
        /// The connection's field path.
        public var path: String
    }

    /// A receiving end.
    public struct Target: Hashable, Sendable {
        /// The endpoint.
        public var endpoint: Endpoint
        /// `mode: merge`: the sources are combined into one connection into this terminal.
        public var merges: Bool
    }

    /// "At least `count` servers of `classCode` must run."
    public struct Requirement: Hashable, Sendable {
        /// The class.
        public var classCode: ClassCode
        /// How many.
        public var count: Int
        /// The requirement's field path.
        public var path: String
    }

    /// The format version (`version`).
    public var version: String
    /// The connections, in file order.
    public var connections: [Connection]
    /// `validation.required_servers`.
    public var requiredServers: [Requirement]
}

// MARK: - Decoding

extension Wiring {
    /// Decodes a wiring document. Every connection and requirement is decoded on its own, so one mistake
    /// does not hide the others: the wiring holds what decoded (nil only when the document is not a mapping
    /// at all), and the diagnostics say what did not. A wiring with diagnostics is not to be applied; it is
    /// still validated, so that every broken rule is reported at once.
    public static func decode(_ document: SourceDocument) -> (wiring: Wiring?, diagnostics: [WiringDiagnostic]) {
        var diagnostics: [WiringDiagnostic] = []
        func report(_ error: HostessError) {
            diagnostics.append(WiringDiagnostic(document: document, path: error.field, rule: .schema, message: error.message))
        }
        let root: JSONReader
        do {
            root = try JSONReader(document.value, path: "")
            try rejectUnknown(root, allowed: ["version", "connections", "validation"], in: "a wiring")
        } catch {
            report(error)
            return (nil, diagnostics)
        }
        var version = "1.0"
        do throws(HostessError) {
            if let text = try root.string("version") {
                guard versions.contains(text) else {
                    throw HostessError(.badRequest, "wiring version '\(text)' is not one this Hostess reads (\(versions.sorted().joined(separator: ", ")))", field: "version")
                }
                version = text
            }
        } catch { report(error) }

        var connections: [Connection] = []
        do {
            let items = try list(root, "connections", required: true, maximum: maximumConnections)
            for (index, item) in items.enumerated() {
                let path = "connections[\(index)]"
                do { connections.append(try connection(item, path: path, diagnostics: &diagnostics, document: document)) } catch { report(error) }
            }
        } catch { report(error) }

        var requirements: [Requirement] = []
        do {
            if let validation = try root.reader("validation") {
                try rejectUnknown(validation, allowed: ["required_servers"], in: "validation")
                for (index, item) in try list(validation, "required_servers", required: false, maximum: maximumRequirements).enumerated() {
                    do { requirements.append(try requirement(item, path: "validation.required_servers[\(index)]")) } catch { report(error) }
                }
            }
        } catch { report(error) }

        return (Wiring(version: version, connections: connections, requiredServers: requirements), diagnostics)
    }

    private static func list(_ reader: JSONReader, _ key: String, required: Bool, maximum: Int) throws(HostessError) -> [JSONValue] {
        guard let value = reader.object[key], value != .null else {
            if required { throw HostessError(.badRequest, "missing: a list of \(key)", field: reader.fieldPath(key)) }
            return []
        }
        guard case .array(let items) = value else {
            throw HostessError(.badRequest, "expected a list, found \(value.typeName)", field: reader.fieldPath(key))
        }
        guard items.count <= maximum else {
            throw HostessError(.badRequest, "at most \(maximum) entries; found \(items.count)", field: reader.fieldPath(key))
        }
        return items
    }

    private static func connection(
        _ value: JSONValue, path: String, diagnostics: inout [WiringDiagnostic], document: SourceDocument
    ) throws(HostessError) -> Connection {
        let reader = try JSONReader(value, path: path)
        try rejectUnknown(reader, allowed: ["source", "target", "targets", "mode"], in: "a connection")
        let connectionMerges = try mode(reader)
        guard let source = try reader.reader("source") else {
            throw HostessError(.badRequest, "missing: the source (server or servers, and terminal)", field: reader.fieldPath("source"))
        }
        try rejectUnknown(source, allowed: ["server", "servers", "terminal"], in: "a source")
        let terminal = try terminalName(source)
        var sources: [Endpoint] = []
        switch (source.object["server"], source.object["servers"]) {
        case (.some, .some):
            throw HostessError(.badRequest, "give either server or servers, not both", field: source.fieldPath("servers"))
        case (.some, nil):
            sources = [try endpoint(try source.requireString("server"), terminal: terminal, path: source.fieldPath("server"))]
        case (nil, .some):
            let items = try list(source, "servers", required: true, maximum: maximumEndpoints)
            guard !items.isEmpty else { throw HostessError(.badRequest, "servers is empty", field: source.fieldPath("servers")) }
            for (index, item) in items.enumerated() {
                let itemPath = "\(source.fieldPath("servers"))[\(index)]"
                guard case .string(let text) = item else {
                    throw HostessError(.badRequest, "expected a server pattern, found \(item.typeName)", field: itemPath)
                }
                sources.append(try endpoint(text, terminal: terminal, path: itemPath))
            }
        case (nil, nil):
            throw HostessError(.badRequest, "missing: server (one pattern) or servers (a list)", field: source.path)
        }

        var targets: [Target] = []
        switch (reader.object["target"], reader.object["targets"]) {
        case (.some, .some):
            throw HostessError(.badRequest, "give either target or targets, not both", field: reader.fieldPath("targets"))
        case (.some, nil):
            targets = [try target(try JSONReader(reader.object["target"] ?? .null, path: reader.fieldPath("target")), merges: connectionMerges)]
        case (nil, .some):
            let items = try list(reader, "targets", required: true, maximum: maximumEndpoints)
            guard !items.isEmpty else { throw HostessError(.badRequest, "targets is empty", field: reader.fieldPath("targets")) }
            for (index, item) in items.enumerated() {
                do {
                    targets.append(try target(try JSONReader(item, path: "\(reader.fieldPath("targets"))[\(index)]"), merges: connectionMerges))
                } catch {
                    diagnostics.append(WiringDiagnostic(document: document, path: error.field, rule: .schema, message: error.message))
                }
            }
        case (nil, nil):
            throw HostessError(.badRequest, "missing: target (one) or targets (a list)", field: path)
        }
        return Connection(sources: sources, targets: targets, path: path)
    }

    private static func target(_ reader: JSONReader, merges connectionMerges: Bool) throws(HostessError) -> Target {
        try rejectUnknown(reader, allowed: ["server", "terminal", "mode"], in: "a target")
        let merges = try mode(reader)
        let endpoint = try endpoint(try reader.requireString("server"), terminal: try terminalName(reader), path: reader.fieldPath("server"))
        return Target(endpoint: endpoint, merges: merges || connectionMerges)
    }

    /// Refuses a member `allowed` does not name, saying which members `what` takes.
    private static func rejectUnknown(_ reader: JSONReader, allowed: [String], in what: String) throws(HostessError) {
        for member in reader.object where !allowed.contains(member.key) {
            throw HostessError(
                .badRequest, "unknown member '\(member.key)'; \(what) takes \(allowed.joined(separator: ", "))", field: reader.fieldPath(member.key))
        }
    }

    private static func mode(_ reader: JSONReader) throws(HostessError) -> Bool {
        guard let mode = try reader.string("mode") else { return false }
        guard mode == "merge" else {
            throw HostessError(.badRequest, "the only mode is 'merge' (many sources combined into one connection); found '\(mode)'", field: reader.fieldPath("mode"))
        }
        return true
    }

    private static func terminalName(_ reader: JSONReader) throws(HostessError) -> String {
        let name = try reader.requireString("terminal")
        do { _ = try Terminal(name: name, direction: .input, multiplexing: .none) } catch {
            throw HostessError(.badRequest, error.message, field: reader.fieldPath("terminal"))
        }
        return name
    }

    private static func endpoint(_ text: String, terminal: String, path: String) throws(HostessError) -> Endpoint {
        do { return Endpoint(pattern: try ServerPattern(parsing: text), terminal: terminal, path: path) } catch {
            throw HostessError(.badRequest, error.message, field: path)
        }
    }

    private static func requirement(_ value: JSONValue, path: String) throws(HostessError) -> Requirement {
        let reader = try JSONReader(value, path: path)
        try rejectUnknown(reader, allowed: ["class", "count"], in: "a required server")
        let classCode: ClassCode
        do { classCode = try ClassCode(parsing: try reader.requireString("class")) } catch {
            throw HostessError(.badRequest, error.message, field: reader.fieldPath("class"))
        }
        guard let count = try reader.int("count", in: 1...Int64(ServerPattern.maximumOrdinal)) else {
            throw HostessError(.badRequest, "missing: how many servers of class \(classCode) must run", field: reader.fieldPath("count"))
        }
        return Requirement(classCode: classCode, count: Int(count), path: path)
    }
}
