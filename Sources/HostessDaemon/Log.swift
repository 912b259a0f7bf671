import Glibc
import HostessSystem

// MARK: - Log

/// hostessd's log: one line per event on standard error, `TIME hostessd[PID] LEVEL: message`, with the time
/// in UTC (RFC 3339, milliseconds). Journald and log shippers read it as it is.
public enum Log {
    /// How much an event matters.
    public enum Level: String, Sendable { case info, warning, error }

    /// Writes one event line. Newlines in `message` are escaped so an event stays one line.
    public static func write(_ level: Level, _ message: String) {
        let safe = message.replacingNewlines()
        let line = "\(timestamp()) hostessd[\(getpid())] \(level.rawValue): \(safe)\n"
        try? Syscall.writeAll(STDERR_FILENO, Array(line.utf8), socket: false)
    }

    /// Writes an info event.
    public static func info(_ message: String) { write(.info, message) }
    /// Writes a warning event.
    public static func warning(_ message: String) { write(.warning, message) }
    /// Writes an error event.
    public static func error(_ message: String) { write(.error, message) }

    private static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = Int32(spec.tv_nsec / 1_000_000)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(millis, 3))Z"
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        guard utf8.contains(0x0A) || utf8.contains(0x0D) else { return self }
        return String(self.map { $0 == "\n" ? "⏎" : $0 == "\r" ? "⏎" : $0 })
    }
}

// MARK: - Systemd readiness

/// The systemd notification protocol (`sd_notify`): a datagram to `$NOTIFY_SOCKET`.
public enum SystemdNotifier {
    /// Sends `state` (e.g. `READY=1`) when `NOTIFY_SOCKET` is set; does nothing otherwise.
    public static func notify(_ state: String, environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty else { return }
        do {
            try Syscall.sendDatagram(Array(state.utf8), to: try UnixSocketAddress(path: path))
        } catch {
            Log.warning("could not notify systemd at \(path): \(error)")
        }
    }
}
