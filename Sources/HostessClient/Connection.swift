import Dispatch
import Glibc
import HostessModel
import HostessSystem
import Synchronization

// MARK: - Reply

/// A successful reply: its result object and the guest book revision it reflects.
public struct Reply: Sendable {
    /// The `result` object.
    public var result: JSONObject
    /// The guest book revision when the daemon answered.
    public var revision: UInt64
}

// MARK: - ProtocolConnection

/// One connection to hostessd speaking the line protocol: requests are numbered, written in order, and
/// matched to their replies by id, so any number may be in flight at once (a `watch` does not block others).
///
/// A background thread reads replies; writes are serialized. Closing fails every request in flight.
///
/// A request for entries (``requestEntries(_:_:)``, ``requestEntry(_:_:)``) has them read straight from the reply
/// line's bytes (``EntryReply``), without a JSON tree; any other line, and a reply it does not take, is read as a
/// tree as before, with the same errors.
public final class ProtocolConnection: Sendable {
    /// A request waiting for its reply, by what it asked for.
    private enum Waiter {
        /// The reply, as a tree.
        case reply(CheckedContinuation<Result<Reply, HostessError>, Never>)
        /// The reply's `result.entries`.
        case entries(CheckedContinuation<Result<[GuestBookEntry], HostessError>, Never>)
        /// The reply's `result.entry`.
        case entry(CheckedContinuation<Result<GuestBookEntry, HostessError>, Never>)

        /// Resumes the request with a reply read as a tree (its entries, for a request of them), or the failure.
        func resume(_ outcome: Result<Reply, HostessError>) {
            switch self {
            case .reply(let continuation): continuation.resume(returning: outcome)
            case .entries(let continuation): continuation.resume(returning: outcome.flatMap { reply in Result { () throws(HostessError) in try reply.entries() } })
            case .entry(let continuation): continuation.resume(returning: outcome.flatMap { reply in Result { () throws(HostessError) in try reply.entry() } })
            }
        }

        /// Whether the request asked for entries (and so counts in `State.entryRequests`).
        var wantsEntries: Bool {
            if case .reply = self { return false }
            return true
        }
    }

    private struct State {
        var nextID: Int64 = 1
        var pending: [Int64: Waiter] = [:]
        /// How many of `pending` asked for entries: while none has, no line is tried as an ``EntryReply``.
        var entryRequests = 0
        var closedReason: HostessError?

        /// Takes the request `id` out of `pending`, keeping `entryRequests`.
        mutating func remove(_ id: Int64) -> Waiter? {
            guard let waiter = pending.removeValue(forKey: id) else { return nil }
            if waiter.wantsEntries { entryRequests -= 1 }
            return waiter
        }
    }

    /// The socket path connected to.
    public let socketPath: String
    private let fd: Int32
    private let state = Mutex(State())
    private let writeLock = Mutex(())
    private let onClose: (@Sendable (HostessError) -> Void)?

    /// Connects to the daemon's socket.
    /// - Parameter onClose: called once when the connection closes, whichever side closed it.
    /// - Throws: `disconnected` naming the path and the reason when the daemon cannot be reached.
    public init(socketPath: String, onClose: (@Sendable (HostessError) -> Void)? = nil) throws(HostessError) {
        self.socketPath = socketPath
        self.onClose = onClose
        do throws(SystemError) {
            let address = try UnixSocketAddress(path: socketPath)
            let fd = try Syscall.unixStreamSocket(nonBlocking: false)
            do { try Syscall.connect(fd, to: address) } catch {
                Syscall.close(fd)
                throw error
            }
            self.fd = fd
        } catch {
            throw HostessError(.disconnected, "cannot connect to \(socketPath): \(error.reason)\(Self.hint(for: error, socketPath: socketPath))")
        }
        let thread = DispatchQueue(label: "hostess.client.reader")
        thread.async { [self] in readLoop() }
    }

    deinit {
        Syscall.close(fd)
    }

    /// What to do when nothing listens at `socketPath`: start a hostessd, or, for a user other than root whose
    /// own default socket is missing while the system's hostessd listens, use that one.
    private static func hint(for error: SystemError, socketPath: String) -> String {
        guard error.errno == ENOENT || error.errno == ECONNREFUSED else { return "" }
        var status = stat()
        if getuid() != 0, socketPath != DefaultPaths.systemSocket, stat(DefaultPaths.systemSocket, &status) == 0,
            status.st_mode & S_IFMT == S_IFSOCK
        {
            return " (no hostessd of yours listens there; the system's hostessd listens on \(DefaultPaths.systemSocket):"
                + " pass --socket \(DefaultPaths.systemSocket) or set HOSTESS_SOCKET, or start your own with 'swift run hostessd')"
        }
        return " (is hostessd running? start it with 'swift run hostessd')"
    }

    /// Sends `command` with `parameters` and waits for its reply.
    /// - Throws: the daemon's error, or `disconnected` when the connection is gone.
    public func request(_ command: String, _ parameters: JSONObject = [:]) async throws(HostessError) -> Reply {
        try await send(command, parameters, waiting: Waiter.reply).get()
    }

    /// Sends a command answered with `result.entries` (`listAll`, `query`) and waits for the entries.
    /// - Throws: the daemon's error; `bad_request` naming the field of an entry that does not read; `disconnected`
    ///   when the connection is gone.
    func requestEntries(_ command: String, _ parameters: JSONObject = [:]) async throws(HostessError) -> [GuestBookEntry] {
        try await send(command, parameters, waiting: Waiter.entries).get()
    }

    /// Sends a command answered with `result.entry` (`getServer`, `markInUse`, `markAvailable`) and waits for the
    /// entry; it throws as ``requestEntries(_:_:)`` does.
    func requestEntry(_ command: String, _ parameters: JSONObject = [:]) async throws(HostessError) -> GuestBookEntry {
        try await send(command, parameters, waiting: Waiter.entry).get()
    }

    /// Writes the request and waits until `waiter`, made from the continuation, is resumed.
    private func send<Answer: Sendable>(
        _ command: String, _ parameters: JSONObject,
        waiting waiter: (CheckedContinuation<Result<Answer, HostessError>, Never>) -> Waiter
    ) async -> Result<Answer, HostessError> {
        await withCheckedContinuation { (continuation: CheckedContinuation<Result<Answer, HostessError>, Never>) in
            let id: Int64? = state.withLock { state in
                if state.closedReason != nil { return nil }
                let id = state.nextID
                state.nextID += 1
                let waiting = waiter(continuation)
                if waiting.wantsEntries { state.entryRequests += 1 }
                state.pending[id] = waiting
                return id
            }
            guard let id else {
                continuation.resume(returning: .failure(closedError()))
                return
            }
            var request: JSONObject = ["id": .int(id), "command": .string(command)]
            for member in parameters { request[member.key] = member.value }
            var bytes = JSONValue.object(request).jsonBytes
            bytes.append(0x0A)
            let written: Result<Void, SystemError> = writeLock.withLock { _ in
                Result { () throws(SystemError) in try Syscall.writeAll(fd, bytes, socket: true) }
            }
            if case .failure(let error) = written {
                fail(HostessError(.disconnected, "lost the connection to \(socketPath): \(error.reason)"))
            }
        }
    }

    /// Closes the connection; requests in flight fail with `disconnected`.
    public func close() {
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Why the connection closed, or nil while it is open. Requests on a closed connection fail with this.
    public var closedReason: HostessError? { state.withLock { $0.closedReason } }

    private func closedError() -> HostessError {
        state.withLock { $0.closedReason } ?? HostessError(.disconnected, "the connection to \(socketPath) is closed")
    }

    private func fail(_ error: HostessError) {
        let (pending, first) = state.withLock { state in
            let first = state.closedReason == nil
            if first { state.closedReason = error }
            let pending = state.pending
            state.pending = [:]
            state.entryRequests = 0
            return (pending, first)
        }
        for waiter in pending.values { waiter.resume(.failure(error)) }
        if first { onClose?(error) }
    }

    // MARK: Reading replies

    private func readLoop() {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var lastNotice: HostessError?
        while true {
            let result = chunk.withUnsafeMutableBytes { raw -> Result<Int?, SystemError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemError) in try Syscall.read(fd, into: base, count: raw.count) }
            }
            guard case .success(let count?) = result, count > 0 else { break }
            var start = buffer.count
            buffer.append(contentsOf: chunk[..<count])
            var lineStart = 0
            while let newline = buffer[start...].firstIndex(of: 0x0A) {
                if let notice = deliver(buffer[lineStart..<newline]) { lastNotice = notice }
                lineStart = newline + 1
                start = lineStart
            }
            buffer.removeSubrange(..<lineStart)
        }
        let reason = lastNotice.map { HostessError(.disconnected, "hostessd closed the connection: \($0.message)") }
        fail(reason ?? HostessError(.disconnected, "hostessd closed the connection at \(socketPath)"))
    }

    /// Resumes the request a reply answers. Returns a reply that answers no request (the daemon's notice
    /// before it closes a connection), if this is one.
    private func deliver(_ line: ArraySlice<UInt8>) -> HostessError? {
        if state.withLock({ $0.entryRequests > 0 }), let reply = EntryReply(line: line), resume(decoded: reply) { return nil }
        guard case .object(let object)? = try? JSONParser.parse(line) else { return nil }
        let revision: UInt64
        if case .int(let value)? = object["revision"], value >= 0 { revision = UInt64(value) } else { revision = 0 }
        let outcome: Result<Reply, HostessError>
        if let error = object["error"].flatMap(HostessError.init(json:)) {
            outcome = .failure(error)
        } else {
            outcome = .success(Reply(result: object["result"]?.objectValue ?? [:], revision: revision))
        }
        guard case .int(let id)? = object["id"] else {
            if case .failure(let error) = outcome { return error }
            return nil
        }
        state.withLock { $0.remove(id) }?.resume(outcome)
        return nil
    }

    /// Resumes the request `reply` answers when it asked for what the reply carries; false when none did (the line
    /// is then read as a tree, for whichever request it answers).
    private func resume(decoded reply: EntryReply) -> Bool {
        let resumption: (@Sendable () -> Void)? = state.withLock { state in
            switch (state.pending[reply.id], reply.payload) {
            case (.entries(let continuation)?, .entries(let entries)):
                _ = state.remove(reply.id)
                return { continuation.resume(returning: .success(entries)) }
            case (.entry(let continuation)?, .entry(let entry)):
                _ = state.remove(reply.id)
                return { continuation.resume(returning: .success(entry)) }
            default:
                return nil
            }
        }
        resumption?()
        return resumption != nil
    }
}

// MARK: - Entries of a reply

extension Reply {
    /// The entries of `result.entries`, read from the tree.
    func entries() throws(HostessError) -> [GuestBookEntry] {
        guard case .array(let elements)? = result["entries"] else {
            throw HostessError(.internal, "reply has no entries array")
        }
        var entries: [GuestBookEntry] = []
        entries.reserveCapacity(elements.count)
        for element in elements { entries.append(try GuestBookEntry(json: element)) }
        return entries
    }

    /// The entry of `result.entry`, read from the tree.
    func entry() throws(HostessError) -> GuestBookEntry {
        try GuestBookEntry(json: result["entry"] ?? .null)
    }
}
