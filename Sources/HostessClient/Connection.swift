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
public final class ProtocolConnection: Sendable {
    private struct State {
        var nextID: Int64 = 1
        var pending: [Int64: CheckedContinuation<Result<Reply, HostessError>, Never>] = [:]
        var closedReason: HostessError?
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
            let hint = error.errno == ENOENT || error.errno == ECONNREFUSED ? " (is hostessd running? start it with 'swift run hostessd')" : ""
            throw HostessError(.disconnected, "cannot connect to \(socketPath): \(error.reason)\(hint)")
        }
        let thread = DispatchQueue(label: "hostess.client.reader")
        thread.async { [self] in readLoop() }
    }

    deinit {
        Syscall.close(fd)
    }

    /// Sends `command` with `parameters` and waits for its reply.
    /// - Throws: the daemon's error, or `disconnected` when the connection is gone.
    public func request(_ command: String, _ parameters: JSONObject = [:]) async throws(HostessError) -> Reply {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Reply, HostessError>, Never>) in
            let id: Int64? = state.withLock { state in
                if state.closedReason != nil { return nil }
                let id = state.nextID
                state.nextID += 1
                state.pending[id] = continuation
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
        return try result.get()
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
            return (pending, first)
        }
        for continuation in pending.values { continuation.resume(returning: .failure(error)) }
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
        let continuation = state.withLock { $0.pending.removeValue(forKey: id) }
        continuation?.resume(returning: outcome)
        return nil
    }
}
