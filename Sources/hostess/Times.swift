import Glibc

// MARK: - Times

/// Instants and spans of time as people read them. The wire form counts milliseconds since the Unix epoch
/// (`--json` prints those unchanged); tables and detail views show local time, by the process's `TZ`, with
/// how long ago or from now, and every duration with its unit.
enum Times {
    /// `2025-11-26 14:03:12 UTC (3 min ago)`: a detail view's instant, with the time zone's abbreviation.
    static func detail(_ milliseconds: Int64, now: Int64) -> String {
        "\(local(milliseconds, format: "%Y-%m-%d %H:%M:%S %Z")) (\(relative(milliseconds, now: now)))"
    }

    /// `14:03:12 (in 25 s)` for an instant of today's local date, `2025-11-25 09:00:00 (1 d ago)` for
    /// another day's: a table cell.
    static func cell(_ milliseconds: Int64, now: Int64) -> String {
        let day = "%Y-%m-%d"
        let sameDay = local(milliseconds, format: day) == local(now, format: day)
        return "\(local(milliseconds, format: sameDay ? "%H:%M:%S" : "\(day) %H:%M:%S")) (\(relative(milliseconds, now: now)))"
    }

    /// `in 25 s`, `3 min ago`, `2 h ago`, `in 4 d`, or `now` within a second: the distance from `now` in
    /// its largest whole unit.
    static func relative(_ milliseconds: Int64, now: Int64) -> String {
        let (delta, overflow) = milliseconds.subtractingReportingOverflow(now)
        guard !overflow else { return milliseconds > now ? "in the far future" : "long ago" }
        let seconds = delta.magnitude / 1000
        guard seconds > 0 else { return "now" }
        let span =
            switch seconds {
            case ..<60: "\(seconds) s"
            case ..<3600: "\(seconds / 60) min"
            case ..<86_400: "\(seconds / 3600) h"
            default: "\(seconds / 86_400) d"
            }
        return delta > 0 ? "in \(span)" : "\(span) ago"
    }

    /// `250 ms`, `1.5 s`, `30 s`, `1 min 30 s`, `1 h`, `2 d 3 h`: a span in its two largest units.
    static func duration(milliseconds: Int64) -> String {
        guard milliseconds >= 1000 else { return "\(milliseconds) ms" }
        if milliseconds < 60_000 && milliseconds % 1000 != 0 {
            let tenths = (milliseconds + 50) / 100
            return tenths % 10 == 0 ? "\(tenths / 10) s" : "\(tenths / 10).\(tenths % 10) s"
        }
        let seconds = milliseconds / 1000
        let parts: [(Int64, String)] = [(seconds / 86_400, "d"), (seconds % 86_400 / 3600, "h"), (seconds % 3600 / 60, "min"), (seconds % 60, "s")]
        guard let first = parts.firstIndex(where: { $0.0 > 0 }) else { return "0 s" }
        return parts[first...].prefix(2).filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }.joined(separator: " ")
    }

    /// A duration given in seconds, as ``duration(milliseconds:)`` writes it.
    static func duration(seconds: Double) -> String {
        guard seconds.isFinite, seconds.magnitude < 1e15 else { return "\(seconds) s" }
        return duration(milliseconds: Int64((seconds * 1000).rounded()))
    }

    /// `milliseconds` in local time as `strftime` writes `format`.
    private static func local(_ milliseconds: Int64, format: String) -> String {
        _ = zoneRead
        // Whole seconds toward the past, so that 999 ms before the epoch is still 1969.
        var seconds = time_t(milliseconds / 1000 - (milliseconds % 1000 < 0 ? 1 : 0))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return "\(milliseconds) ms since 1970" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads `TZ` (or /etc/localtime) once, before the first conversion.
    private static let zoneRead: Void = tzset()
}
