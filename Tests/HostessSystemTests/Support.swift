import Glibc
import HostessSystem

// MARK: - SplitMix64

/// A seeded pseudo-random generator, so a failing random test fails the same way again.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    mutating func below(_ bound: UInt64) -> UInt64 { UInt64.random(in: 0..<bound, using: &self) }
}

// MARK: - Waiting

/// Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `milliseconds` pass; returns whether it is.
func waitUntilReady(_ fd: Int32, events: Int32, milliseconds: Int32) -> Bool {
    var poller = pollfd(fd: fd, events: Int16(events), revents: 0)
    return poll(&poller, 1, milliseconds) > 0
}
