import Glibc
import HostessHTTP
import HostessModel
import HostessSystem

// MARK: - RemoteHostess

/// A client of a Hostess's HTTP interface (`hostessd --http`), for remote peers and operators.
///
/// Each call is one HTTP/1.1 request on its own TCP connection, answered in full. Writes are signed with the
/// key given (`Authorization: Hostess-HMAC-SHA256 …`); reads are signed too when a key is given, so the
/// client also works against a daemon started with `--http-auth-reads`.
public final class RemoteHostess: Sendable {
    /// The daemon's address.
    public let address: String
    private let resolved: InternetSocketAddress
    private let key: (id: String, secret: [UInt8])?
    private let timeout: Double

    /// A client for `url` (`http://HOST:PORT`, an IPv6 host in brackets; a path is not allowed).
    /// - Parameters:
    ///   - keyID: the key id to sign with; with `secret`, or neither.
    ///   - secret: the key's secret.
    ///   - timeout: seconds each request may take.
    public init(url: String, keyID: String? = nil, secret: [UInt8]? = nil, timeout: Double = 30) throws(HostessError) {
        guard url.hasPrefix("http://") else {
            throw HostessError(.badRequest, "expected http://HOST:PORT, found '\(url)' (https is not served; put a TLS proxy in front)", field: "url")
        }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") else { throw HostessError(.badRequest, "expected http://HOST:PORT without a path, found '\(url)'", field: "url") }
        do { resolved = try InternetSocketAddress(parsing: String(rest)) } catch {
            throw HostessError(.badRequest, error.call, field: "url")
        }
        switch (keyID, secret) {
        case (let id?, let secret?): key = (id, secret)
        case (nil, nil): key = nil
        default: throw HostessError(.badRequest, "a key id needs its secret, and a secret its key id", field: "keyId")
        }
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw HostessError(.badRequest, "expected a timeout from 0 to 86400 seconds, found \(timeout)", field: "timeout")
        }
        address = String(rest)
        self.timeout = timeout
    }

    // MARK: Guest book

    /// Every entry (`GET /servers`), or those matching `filter`.
    public func query(_ filter: ServerFilter = ServerFilter()) throws(HostessError) -> [GuestBookEntry] {
        try entries("POST", "/query", body: filter.json)
    }

    /// Every entry.
    public func listAll() throws(HostessError) -> [GuestBookEntry] { try entries("GET", "/servers") }

    /// The entry `id` names (`GET /servers/{id}`); `not_found` when there is none.
    public func getServer(_ id: String) throws(HostessError) -> GuestBookEntry {
        let target = "/servers/" + PercentEncoding.pathSegment(id)
        let (status, answer) = try perform("GET", target, body: nil)
        // The entry straight from the body's bytes; a body the fast path does not take is read as a tree.
        if (200..<300).contains(status), let entry = GuestBookEntry(wireForm: answer) { return entry }
        return try GuestBookEntry(json: try Self.value(of: answer, status: status, "GET", target))
    }

    /// Registers or updates an entry (`POST /register`); the key's owners must include its owner.
    @discardableResult
    public func register(_ registration: Registration) throws(HostessError) -> GuestBookEntry {
        let result = try send("POST", "/register", body: registration.json)
        return try GuestBookEntry(json: result.objectValue?["entry"] ?? .null)
    }

    /// Removes an entry (`DELETE /servers/{id}`).
    public func unregister(_ id: String) throws(HostessError) { _ = try send("DELETE", "/servers/" + PercentEncoding.pathSegment(id)) }

    /// Refreshes an entry's liveness (`POST /servers/{id}/heartbeat`).
    public func heartbeat(_ id: String) throws(HostessError) { _ = try send("POST", "/servers/\(PercentEncoding.pathSegment(id))/heartbeat") }

    /// Records that `connectomeID` uses a terminal.
    @discardableResult
    public func markInUse(_ id: String, terminal: String, connectomeID: String) throws(HostessError) -> GuestBookEntry {
        let result = try send(
            "POST", "/servers/\(PercentEncoding.pathSegment(id))/terminals/\(PercentEncoding.pathSegment(terminal))/in-use", body: ["connectomeId": .string(connectomeID)])
        return try GuestBookEntry(json: result.objectValue?["entry"] ?? .null)
    }

    /// Clears a terminal's connections (only `connectomeID`'s when given).
    @discardableResult
    public func markAvailable(_ id: String, terminal: String, connectomeID: String? = nil) throws(HostessError) -> GuestBookEntry {
        let body: JSONValue? = connectomeID.map { ["connectomeId": .string($0)] }
        let result = try send("POST", "/servers/\(PercentEncoding.pathSegment(id))/terminals/\(PercentEncoding.pathSegment(terminal))/available", body: body)
        return try GuestBookEntry(json: result.objectValue?["entry"] ?? .null)
    }

    /// The per-class capability summary of the entries matching `filter` (`POST /capabilities`).
    public func capabilities(_ filter: ServerFilter = ServerFilter()) throws(HostessError) -> [JSONValue] {
        guard case .array(let summaries) = try send("POST", "/capabilities", body: filter.json) else {
            throw HostessError(.internal, "POST /capabilities did not answer an array")
        }
        return summaries
    }

    // MARK: Reservations

    /// Reserves servers (`POST /reserve`), all or none.
    public func reserve(_ request: ReservationRequest) throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try send("POST", "/reserve", body: request.json))
    }

    /// Reservations (`GET /reservations`), optionally only those with `status`.
    public func reservations(status: Reservation.Status? = nil) throws(HostessError) -> [ReservationReply] {
        guard case .array(let items) = try send("GET", "/reservations" + (status.map { "?status=\($0.rawValue)" } ?? "")) else {
            throw HostessError(.internal, "GET /reservations did not answer an array")
        }
        var result: [ReservationReply] = []
        for item in items { result.append(try ReservationReply(json: item)) }
        return result
    }

    /// One reservation (`GET /reservations/{id}`).
    public func reservation(_ id: String) throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try send("GET", "/reservations/" + PercentEncoding.pathSegment(id)))
    }

    /// Cancels a reservation (`DELETE /reservations/{id}`); only the key that made it may.
    @discardableResult
    public func cancelReservation(_ id: String) throws(HostessError) -> ReservationReply {
        try ReservationReply(json: try send("DELETE", "/reservations/" + PercentEncoding.pathSegment(id)))
    }

    // MARK: Connectomes

    /// Every recorded connectome (`GET /connectomes`), oldest first, with its state as of now.
    public func peers() throws(HostessError) -> (announcing: Bool, peers: [JSONValue]) {
        let reply = try send("GET", "/peers").objectValue
        guard case .array(let peers)? = reply?["peers"], case .bool(let announcing)? = reply?["announcing"] else {
            throw HostessError(.internal, "GET /peers did not answer a peers array")
        }
        return (announcing, peers)
    }

    /// Every recorded connectome (`GET /connectomes`), oldest first, each with its state as of now.
    public func connectomes() throws(HostessError) -> [ConnectomeRecord] {
        guard case .array(let items)? = try send("GET", "/connectomes").objectValue?["connectomes"] else {
            throw HostessError(.internal, "GET /connectomes did not answer a connectomes array")
        }
        var result: [ConnectomeRecord] = []
        for item in items { result.append(try ConnectomeRecord(json: item)) }
        return result
    }

    /// One recorded connectome (`GET /connectomes/{id}`), with its state as of now.
    /// - Throws: `not_found` when none is recorded under `id`.
    public func connectome(id: String) throws(HostessError) -> ConnectomeRecord {
        try ConnectomeRecord(json: try send("GET", "/connectomes/" + PercentEncoding.pathSegment(id)).objectValue?["connectome"] ?? .null)
    }

    /// The daemon's health (`GET /health`): instance id, revision, uptime.
    public func health() throws(HostessError) -> JSONObject {
        guard case .object(let object) = try send("GET", "/health") else { throw HostessError(.internal, "GET /health did not answer an object") }
        return object
    }

    // MARK: Requests

    /// Sends one request and returns the JSON body of a 2xx answer, or throws the error the body carries.
    public func send(_ method: String, _ target: String, body: JSONValue? = nil) throws(HostessError) -> JSONValue {
        let (status, answer) = try perform(method, target, body: body)
        return try Self.value(of: answer, status: status, method, target)
    }

    /// Sends a request answered with an array of entries; they are read straight from the body's bytes
    /// (``GuestBookEntry/list(wireForm:)``), and a body the fast path does not take is read as ``send(_:_:body:)``
    /// reads it, with its errors.
    private func entries(_ method: String, _ target: String, body: JSONValue? = nil) throws(HostessError) -> [GuestBookEntry] {
        let (status, answer) = try perform(method, target, body: body)
        if (200..<300).contains(status), let entries = GuestBookEntry.list(wireForm: answer) { return entries }
        guard case .array(let items) = try Self.value(of: answer, status: status, method, target) else {
            throw HostessError(.internal, "expected an array of entries")
        }
        var entries: [GuestBookEntry] = []
        for item in items { entries.append(try GuestBookEntry(json: item)) }
        return entries
    }

    /// Signs and sends one request; returns the answer's status and body.
    private func perform(_ method: String, _ target: String, body: JSONValue?) throws(HostessError) -> (Int, [UInt8]) {
        let bytes = body?.jsonBytes ?? []
        var headers = [HTTPHeader(name: "Connection", value: "close"), HTTPHeader(name: "Accept", value: "application/json")]
        if body != nil { headers.append(HTTPHeader(name: "Content-Type", value: "application/json")) }
        if let key {
            let signature = RequestSignature.sign(
                keyID: key.id, secret: key.secret, method: method, target: target, body: bytes,
                timestamp: SystemClock.wallMilliseconds() / 1000)
            headers.append(HTTPHeader(name: "Authorization", value: signature.headerValue))
        }
        let request = HTTPClientRequest.serialized(method: method, target: target, host: address, headers: headers, body: bytes)
        return try exchange(request, head: method == "HEAD")
    }

    /// The JSON body of a 2xx answer; otherwise the error the body carries.
    private static func value(of answer: [UInt8], status: Int, _ method: String, _ target: String) throws(HostessError) -> JSONValue {
        let value: JSONValue
        do { value = try JSONParser.parse(answer) } catch {
            throw HostessError(.internal, "\(method) \(target): HTTP \(status) with a body that is not JSON: \(error)")
        }
        guard (200..<300).contains(status) else {
            if let error = value.objectValue?["error"].flatMap(HostessError.init(json:)) { throw error }
            throw HostessError(.internal, "\(method) \(target): HTTP \(status)")
        }
        return value
    }

    /// Writes the request and reads the response (interim 1xx ones skipped): its status and body.
    private func exchange(_ request: [UInt8], head: Bool) throws(HostessError) -> (Int, [UInt8]) {
        let fd: Int32
        do { fd = try Syscall.tcpConnect(resolved) } catch {
            throw HostessError(.disconnected, "cannot reach the Hostess at \(address): \(error)")
        }
        defer { Syscall.close(fd) }
        Syscall.setTimeouts(fd, seconds: timeout)
        do { try Syscall.writeAll(fd, request, socket: true) } catch {
            throw HostessError(.disconnected, "sending to \(address): \(error)")
        }
        var parser = HTTPResponseParser(limits: HTTPResponseParser.Limits(body: Self.maximumBody), requestWasHead: head)
        var response: [UInt8] = []
        var start = 0
        var ended = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            switch parser.parse(response, from: start, atEndOfInput: ended) {
            case .response(let answer, let consumed) where (100...199).contains(answer.status) && answer.status != 101:
                start += consumed
                continue
            case .response(let answer, _):
                return (answer.status, answer.body)
            case .failure(let error) where error.code == .tooLarge:
                throw HostessError(.tooLarge, "the answer from \(address) is too large: \(error.message)")
            case .failure(let error) where ended:
                throw HostessError(.disconnected, "\(address) closed the connection before a complete answer: \(error.message)")
            case .failure(let error):
                throw HostessError(.internal, "\(address) answered something that is not acceptable HTTP/1.x: \(error.message)")
            case .incomplete:
                break
            }
            let result = buffer.withUnsafeMutableBytes { raw -> Result<Int?, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try Syscall.read(fd, into: base, count: raw.count) }
            }
            switch result {
            case .failure(let error): throw HostessError(.disconnected, "reading from \(address): \(error)")
            case .success(nil): throw HostessError(.timeout, "no answer from \(address) within \(timeout) s")
            case .success(0): ended = true
            case .success(let count?): response += buffer[..<count]
            }
        }
    }

    /// The largest body accepted in an answer: 64 MiB.
    private static let maximumBody = 64 << 20
}
