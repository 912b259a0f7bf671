import Dispatch
import HostessModel
import HostessSystem
import Synchronization

// MARK: - ReconnectPolicy

extension HostessClient {
    /// How a client's heartbeats get its registrations back after it lost hostessd (a restart, a crash).
    ///
    /// Attempts follow one another with exponential backoff: after the `n`-th failed attempt (from 0) the pause
    /// is `initialDelay × 2ⁿ`, at most `maximumDelay`, drawn at random from the upper half of that range
    /// (jitter: the clients of one restarted daemon do not come back in step).
    public struct ReconnectPolicy: Sendable, Equatable {
        /// Seconds of the first pause (default 0.1).
        public var initialDelay: Double
        /// The longest pause, in seconds (default 5): also the longest a returning daemon waits for an entry.
        public var maximumDelay: Double
        /// Seconds after which, if the registrations are still not back, the client stops trying, reports
        /// ``ConnectionEvent/gaveUp(socketPath:after:reason:registrations:)`` and forgets them; nil (the
        /// default) tries for as long as the client lives.
        public var giveUpAfter: Double?

        /// A policy; see the properties for the defaults.
        public init(initialDelay: Double = 0.1, maximumDelay: Double = 5, giveUpAfter: Double? = nil) {
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
            self.giveUpAfter = giveUpAfter
        }

        /// The pause after failed attempt `attempt` (from 0), in seconds.
        public func delay(attempt: Int) -> Double {
            let ceiling = max(0, min(maximumDelay, initialDelay * Double(1 << min(max(attempt, 0), 30))))
            return Double.random(in: ceiling / 2...ceiling)
        }
    }

    // MARK: - ConnectionEvent

    /// What happened to a client's connection: one `lost` per outage, then one `restored` or one `gaveUp`.
    public enum ConnectionEvent: Sendable, CustomStringConvertible {
        /// The connection to hostessd closed, or a registration could not be kept; reconnection begins.
        case lost(socketPath: String, reason: HostessError)
        /// A new connection is up and every registration is registered on it again (`reregistered`), after
        /// `after` seconds of outage.
        case restored(socketPath: String, after: Double, reregistered: [String])
        /// ``ReconnectPolicy/giveUpAfter`` passed without getting the registrations back: heartbeats stopped
        /// and `registrations` are forgotten. `reason` is the last failure.
        case gaveUp(socketPath: String, after: Double, reason: HostessError, registrations: [String])

        public var description: String {
            switch self {
            case .lost(let path, let reason) where reason.code == .disconnected:
                "lost hostessd at \(path) (\(reason.message)); reconnecting"
            case .lost(let path, let reason):
                "hostessd at \(path) refused to keep a registration (\(reason)); trying again"
            case .restored(let path, let after, let ids):
                "hostessd at \(path) is back after \(Self.rounded(after)) s" + (ids.isEmpty ? "" : "; registered again: \(ids.joined(separator: ", "))")
            case .gaveUp(let path, let after, let reason, let ids):
                "gave up after \(Self.rounded(after)) s without hostessd at \(path) (\(reason.message))"
                    + (ids.isEmpty ? "" : "; no longer registered: \(ids.joined(separator: ", "))")
            }
        }

        /// Seconds to one decimal.
        static func rounded(_ seconds: Double) -> Double { (seconds * 10).rounded() / 10 }
    }

    /// Writes `event` to standard error as one line, `hostess-client: …`: the default for ``init(socketPath:reconnect:events:)``.
    public static func logToStandardError(_ event: ConnectionEvent) {
        FileHandleWriter.standardError("hostess-client: \(event)\n")
    }
}

// MARK: - HeartbeatExecutor

/// Where a client's heartbeat loop runs: its own serial queue, not the shared cooperative pool, so an
/// application that keeps the pool's threads busy (or blocks them) does not starve its heartbeats and lose
/// its registrations to eviction. One per client; the loop's work is a few small writes per interval.
final class HeartbeatExecutor: TaskExecutor {
    let queue = DispatchQueue(label: "hostess.client.heartbeats")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { [self] in job.runSynchronously(on: asUnownedTaskExecutor()) }
    }
}

// MARK: - Doorbell

/// Ends the heartbeat loop's pause early: it sleeps until its timeout or until the connection closes, so an
/// outage is handled at once, not a heartbeat interval later.
final class Doorbell: Sendable {
    /// The queue the timer of a wait fires on.
    private let queue: DispatchQueue

    /// A doorbell whose waits time out on `queue`.
    init(queue: DispatchQueue) { self.queue = queue }

    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Wakes the waiter, or the next wait when none waits now.
    func ring() {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter else {
                state.rung = true
                return nil as CheckedContinuation<Void, Never>?
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns after `seconds`, or when rung (at once if rung since the last wait). One waiter at a time.
    func wait(seconds: Double) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let generation: UInt64? = state.withLock { state in
                if state.rung {
                    state.rung = false
                    return nil
                }
                state.generation += 1
                state.waiter = continuation
                return state.generation
            }
            guard let generation else { return continuation.resume() }
            queue.asyncAfter(deadline: .now() + max(0, seconds)) { [self] in
                let waiter = state.withLock { state in
                    guard state.generation == generation, let waiter = state.waiter else { return nil as CheckedContinuation<Void, Never>? }
                    state.waiter = nil
                    return waiter
                }
                waiter?.resume()
            }
        }
    }
}
