// MARK: - ReservationPolicy

/// The operator's limits on reservations, so that no one holder can take the servers for good: how many
/// reservations and servers a holder may hold, how long a reservation lasts when it names no duration and
/// at most, and who may use a priority high enough to preempt others at will. Root is exempt from all of it.
public struct ReservationPolicy: Sendable, Equatable {
    /// Active reservations one holder may have at once.
    public var maximumActivePerHolder: Int
    /// Servers one holder's active reservations may hold together.
    public var maximumServersPerHolder: Int
    /// The duration, in milliseconds, of a reservation that names none.
    public var defaultDuration: Int64
    /// The longest duration, in milliseconds, a holder other than root may ask for.
    public var maximumDuration: Int64
    /// The highest priority every holder may use; above it only root and ``privilegedHolders``.
    public var priorityLimit: Int
    /// Holders allowed priorities above ``priorityLimit``.
    public var privilegedHolders: Set<Reservation.Holder>

    /// A policy.
    public init(
        maximumActivePerHolder: Int = 256, maximumServersPerHolder: Int = 1024, defaultDuration: Int64 = 3_600_000,
        maximumDuration: Int64 = 86_400_000, priorityLimit: Int = 100, privilegedHolders: Set<Reservation.Holder> = []
    ) {
        self.maximumActivePerHolder = maximumActivePerHolder
        self.maximumServersPerHolder = maximumServersPerHolder
        self.defaultDuration = defaultDuration
        self.maximumDuration = maximumDuration
        self.priorityLimit = priorityLimit
        self.privilegedHolders = privilegedHolders
    }

    /// The defaults hostessd starts with: 256 active reservations and 1,024 servers per holder, one hour when
    /// no duration is given, one day at most, priorities up to 100 for everyone.
    public static let standard = ReservationPolicy()

    /// Refuses what `request` asks beyond the policy for `holder`, who already holds `active` reservations
    /// with `servers` servers in all; returns the duration the reservation gets.
    func admit(_ request: ReservationRequest, holder: Reservation.Holder, active: Int, servers: Int) throws(HostessError) -> Int64 {
        let duration = request.duration ?? defaultDuration
        guard holder != .user(uid: 0) else { return duration }
        guard active < maximumActivePerHolder else {
            throw HostessError(
                .capacity, "\(holder) holds \(active) active reservations, the most one holder may (\(maximumActivePerHolder)); cancel some first",
                field: "count")
        }
        guard servers + request.count <= maximumServersPerHolder else {
            throw HostessError(
                .capacity,
                "\(holder) holds \(servers) servers; \(request.count) more would pass the \(maximumServersPerHolder) one holder may hold",
                field: "count")
        }
        guard duration <= maximumDuration else {
            throw HostessError(
                .forbidden, "\(holder) may reserve for at most \(maximumDuration) ms; only root may ask for more", field: "duration")
        }
        guard request.priority <= priorityLimit || privilegedHolders.contains(holder) else {
            throw HostessError(
                .forbidden,
                "priority \(request.priority) is above \(priorityLimit), which only root and the holders the configuration names (reservationPrivileged) may use",
                field: "priority")
        }
        return duration
    }
}
