import Glibc
import HostessSystem

// MARK: - Waiting

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `milliseconds` pass; returns whether it is.
func waitUntilReady(_ fd: Int32, events: Int32, milliseconds: Int32) -> Bool {
    var poller = pollfd(fd: fd, events: Int16(events), revents: 0)
    return poll(&poller, 1, milliseconds) > 0
}
