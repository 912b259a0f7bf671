import HostessModel
import HostessSystem

// MARK: - ConfigurationFile

/// hostessd's JSON config file (`--config PATH`): read with the JSON parser's limits, every key checked, each
/// error naming the file and the field.
struct ConfigurationFile {
    /// Where the file is.
    let path: String

    /// Reads a JSON config file:
    /// `{"socket", "ttl", "heartbeatInterval", "clientTimeout", "idleTimeout", "maxConnections", "shm", "capacity",
    ///   "entryBytes", "http", "secrets", "httpAuthReads", "httpMaxConnections", "httpRequestTimeout",
    ///   "maxConnectionsPerUid", "maxWatchesPerConnection", "maxWatchesPerUid", "reservationDefaultDuration",
    ///   "reservationMaxDuration", "reservationPriorityLimit", "maxReservationsPerHolder",
    ///   "maxReservedServersPerHolder", "maxCapabilitiesPerUid", "reservationPrivileged": ["alice", "1001", "key:peer-a"],
    ///   "owners": {"alice": ["system"], "1001": ["builder"]}, "mesh": {…}}`; `owners` keys are user names or
    ///   numeric uids; `mesh` holds the mesh flags (``MeshConfiguration/apply(file:)``).
    func apply(to configuration: inout Configuration, ttlGiven: inout Bool, intervalGiven: inout Bool) throws(ConfigurationError) {
        let bytes: [UInt8]
        do { bytes = try FileContents.read(path, limit: 1 << 20) } catch {
            throw .file(path, "cannot read it: \(error)")
        }
        do {
            let document = try JSONParser.parse(bytes)
            guard case .object(let object) = document else {
                throw HostessError(.badRequest, "expected a JSON object, found \(document.typeName)")
            }
            let reader = JSONReader(object)
            try reader.rejectUnknownKeys(
                allowed: ["socket", "ttl", "heartbeatInterval", "clientTimeout", "idleTimeout", "maxConnections", "owners", "shm", "capacity", "entryBytes",
                    "http", "secrets", "httpAuthReads", "httpMaxConnections", "httpRequestTimeout", "reservationsFile",
                    "reservationRetention", "maxConnectionsPerUid", "maxWatchesPerConnection", "maxWatchesPerUid",
                    "reservationDefaultDuration", "reservationMaxDuration", "reservationPriorityLimit", "maxReservationsPerHolder",
                    "maxReservedServersPerHolder", "reservationPrivileged", "maxCapabilitiesPerUid", "mesh", "directory",
                ])
            if let name = try reader.string("shm") {
                guard (try? SharedMemory.path(of: name)) != nil else {
                    throw HostessError(.badRequest, "expected /NAME with no other '/'", field: "shm")
                }
                configuration.sharedMemoryName = name
                configuration.regionNamed = true
            }
            if let value = try reader.int("capacity", in: 1...1_000_000) { configuration.capacity = Int(value) }
            if let value = try reader.int("entryBytes", in: 1024...65536) { configuration.entryBytes = Int(value) }
            if let socket = try reader.string("socket") { configuration.socketPath = socket }
            if let address = try reader.string("http") { configuration.httpAddress = address }
            if let secrets = try reader.string("secrets") { configuration.secretsPath = secrets }
            if let value = try reader.bool("httpAuthReads") { configuration.httpAuthenticateReads = value }
            if let value = try reader.int("httpMaxConnections", in: 1...1_000_000) { configuration.httpMaxConnections = Int(value) }
            if let value = try reader.number("httpRequestTimeout", in: 0.001...86_400) { configuration.httpRequestTimeout = value }
            if let path = try reader.string("reservationsFile") { configuration.reservationsPath = path }
            if let value = try reader.number("reservationRetention", in: 0.001...86_400) { configuration.reservationRetention = value }
            if let value = try reader.int("maxCapabilitiesPerUid", in: 1...1_000_000) { configuration.maxCapabilitiesPerUID = Int(value) }
            if let value = try reader.number("ttl", in: 0.001...86_400) {
                configuration.ttl = value
                ttlGiven = true
            }
            if let value = try reader.number("heartbeatInterval", in: 0.001...86_400) {
                configuration.heartbeatInterval = value
                intervalGiven = true
            }
            if let value = try reader.number("clientTimeout", in: 0.001...86_400) { configuration.clientTimeout = value }
            if let value = try reader.number("idleTimeout", in: 0.001...86_400) { configuration.idleTimeout = value }
            if let value = try reader.int("maxConnections", in: 1...1_000_000) { configuration.maxConnections = Int(value) }
            if let value = try reader.int("maxConnectionsPerUid", in: 1...1_000_000) { configuration.maxConnectionsPerUID = Int(value) }
            if let value = try reader.int("maxWatchesPerConnection", in: 1...1_000_000) { configuration.maxWatchesPerConnection = Int(value) }
            if let value = try reader.int("maxWatchesPerUid", in: 1...1_000_000) { configuration.maxWatchesPerUID = Int(value) }
            try applyReservationPolicy(reader, to: &configuration)
            if let mesh = try reader.reader("mesh") { try configuration.mesh.apply(file: mesh) }
            if let directory = try reader.reader("directory") { try configuration.directory.apply(file: directory) }
            if let owners = try reader.reader("owners") {
                for member in owners.object {
                    let uid: UInt32
                    if let number = UInt32(member.key) {
                        uid = number
                    } else if let looked = Syscall.userID(name: member.key) {
                        uid = looked
                    } else {
                        throw HostessError(.badRequest, "no user '\(member.key)' on this machine", field: owners.fieldPath(member.key))
                    }
                    guard let names = try owners.strings(member.key) else { continue }
                    configuration.ownerNames[uid, default: []].formUnion(names)
                }
            }
        } catch let error as JSONParseError {
            throw .file(path, error.description)
        } catch let error as HostessError {
            throw .file(path, "\(error.field ?? "document"): \(error.message)")
        } catch {
            throw .file(path, "\(error)")
        }
    }

    /// Reads the reservation limits of a config file. Durations are in seconds; `reservationPrivileged` names
    /// who may use priorities above the limit: user names, numeric uids, or `key:ID` for an HTTP key.
    private func applyReservationPolicy(_ reader: JSONReader, to configuration: inout Configuration) throws(HostessError) {
        let longest = Double(ReservationRequest.maximumDuration / 1000)
        if let value = try reader.number("reservationDefaultDuration", in: 0.001...longest) {
            configuration.reservationPolicy.defaultDuration = Int64(value * 1000)
        }
        if let value = try reader.number("reservationMaxDuration", in: 0.001...longest) {
            configuration.reservationPolicy.maximumDuration = Int64(value * 1000)
        }
        let priorities = Int64(ReservationRequest.priorities.lowerBound)...Int64(ReservationRequest.priorities.upperBound)
        if let value = try reader.int("reservationPriorityLimit", in: priorities) { configuration.reservationPolicy.priorityLimit = Int(value) }
        if let value = try reader.int("maxReservationsPerHolder", in: 1...Int64(GuestBook.maximumReservations)) {
            configuration.reservationPolicy.maximumActivePerHolder = Int(value)
        }
        if let value = try reader.int("maxReservedServersPerHolder", in: 1...1_000_000) {
            configuration.reservationPolicy.maximumServersPerHolder = Int(value)
        }
        for (position, name) in (try reader.strings("reservationPrivileged") ?? []).enumerated() {
            if name.hasPrefix("key:"), name.count > 4 {
                configuration.reservationPolicy.privilegedHolders.insert(.key(String(name.dropFirst(4))))
            } else if let uid = UInt32(name) ?? Syscall.userID(name: name) {
                configuration.reservationPolicy.privilegedHolders.insert(.user(uid: uid))
            } else {
                throw HostessError(
                    .badRequest, "no user '\(name)' on this machine (give a user name, a uid, or key:ID)",
                    field: "reservationPrivileged[\(position)]")
            }
        }
    }
}
