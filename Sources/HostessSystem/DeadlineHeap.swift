// MARK: - DeadlineHeap

/// Deadlines (monotonic nanoseconds, as ``SystemClock/monotonicNanoseconds()`` reads) with a token each, earliest
/// first: what an event loop waits for between its descriptors' events.
///
/// An index-tracking binary min-heap. Each scheduled deadline lives in a slot of a side table that records
/// its position in the heap; the heap moves keep that position current, so ``cancel(_:)`` and
/// ``reschedule(_:to:)`` find their entry in O(1) and restore the heap in O(log n), with no linear scan and no
/// cancelled entries left behind (lazy deletion would keep them, and their memory, until they reach the top).
/// A ``Handle`` names a slot and the slot's generation, which changes whenever the slot is freed: a handle
/// kept after its deadline fired or was cancelled matches nothing, even once the slot is reused.
///
/// Equal deadlines come out in the order they were scheduled (or last rescheduled).
/// `schedule`, `cancel`, `reschedule` and each popped deadline cost O(log n); ``nextDeadline`` costs O(1).
public struct DeadlineHeap<Token> {
    /// Names one scheduled deadline until it fires or is cancelled.
    public struct Handle: Hashable, Sendable {
        /// The slot in the side table.
        @usableFromInline let slot: Int32
        /// The slot's generation when this deadline was scheduled.
        @usableFromInline let generation: UInt32

        @inlinable init(slot: Int32, generation: UInt32) {
            self.slot = slot
            self.generation = generation
        }
    }

    /// A deadline that has come, with its token.
    public struct Expired {
        /// When it was due.
        public var deadline: UInt64
        /// The token it was scheduled with.
        public var token: Token

        @inlinable init(deadline: UInt64, token: Token) {
            self.deadline = deadline
            self.token = token
        }
    }

    /// One heap position: the ordering key and the slot it belongs to.
    @usableFromInline struct Node: Sendable {
        @usableFromInline var deadline: UInt64
        /// Breaks ties between equal deadlines: first scheduled, first out.
        @usableFromInline var sequence: UInt64
        @usableFromInline var slot: Int32

        @inlinable init(deadline: UInt64, sequence: UInt64, slot: Int32) {
            self.deadline = deadline
            self.sequence = sequence
            self.slot = slot
        }

        @inlinable func precedes(_ other: Node) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    /// One side-table entry: where its node is in the heap (-1 when free), and its token.
    @usableFromInline struct Slot {
        @usableFromInline var position: Int32
        @usableFromInline var generation: UInt32
        @usableFromInline var token: Token?

        @inlinable init(position: Int32, generation: UInt32, token: Token?) {
            self.position = position
            self.generation = generation
            self.token = token
        }
    }

    // The heap is generic over its token and used from other modules: its code is inlinable so that each
    // user gets it specialized, not the unspecialized form that looks type metadata up on every call.
    @usableFromInline var nodes: [Node] = []
    @usableFromInline var slots: [Slot] = []
    @usableFromInline var freeSlots: [Int32] = []
    @usableFromInline var nextSequence: UInt64 = 0

    /// An empty heap.
    @inlinable public init() {}

    // MARK: Reading

    /// How many deadlines are scheduled.
    @inlinable public var count: Int { nodes.count }

    /// Whether no deadline is scheduled.
    @inlinable public var isEmpty: Bool { nodes.isEmpty }

    /// The earliest scheduled deadline, or nil when none is.
    @inlinable public var nextDeadline: UInt64? { nodes.first?.deadline }

    /// The deadline `handle` is scheduled for, or nil when it already fired or was cancelled.
    @inlinable public func deadline(of handle: Handle) -> UInt64? {
        guard let position = position(of: handle) else { return nil }
        return nodes[position].deadline
    }

    /// The token `handle` was scheduled with, or nil when it already fired or was cancelled.
    @inlinable public func token(of handle: Handle) -> Token? {
        guard position(of: handle) != nil else { return nil }
        return slots[Int(handle.slot)].token
    }

    /// What to give `epoll_wait`: whole milliseconds from `now` until the next deadline, rounded up so the
    /// loop never wakes just before it, and at most `maximum` (also the answer when nothing is scheduled).
    @inlinable public func millisecondsUntilNextDeadline(now: UInt64, maximum: Int32) -> Int32 {
        guard let next = nextDeadline else { return maximum }
        let wait = next > now ? next - now : 0
        let milliseconds = wait / 1_000_000 + (wait % 1_000_000 == 0 ? 0 : 1)
        return milliseconds < UInt64(maximum) ? Int32(milliseconds) : maximum
    }

    // MARK: Changing

    /// Schedules `token` for `deadline`; returns the handle that cancels or moves it.
    @discardableResult
    @inlinable public mutating func schedule(at deadline: UInt64, _ token: Token) -> Handle {
        let slot: Int32
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[Int(slot)].token = token
        } else {
            slot = Int32(slots.count)
            slots.append(Slot(position: -1, generation: 0, token: token))
        }
        nodes.append(Node(deadline: deadline, sequence: takeSequence(), slot: slot))
        slots[Int(slot)].position = Int32(nodes.count - 1)
        siftUp(nodes.count - 1)
        return Handle(slot: slot, generation: slots[Int(slot)].generation)
    }

    /// Removes the deadline `handle` names and returns its token; nil (and no change) when it already fired
    /// or was cancelled.
    @discardableResult
    @inlinable public mutating func cancel(_ handle: Handle) -> Token? {
        guard let position = position(of: handle) else { return nil }
        return remove(at: position).token
    }

    /// Moves the deadline `handle` names to `deadline`, keeping its handle and token. It then ranks after
    /// deadlines already scheduled for the same time. Returns false (and changes nothing) when it already
    /// fired or was cancelled.
    @discardableResult
    @inlinable public mutating func reschedule(_ handle: Handle, to deadline: UInt64) -> Bool {
        guard let position = position(of: handle) else { return false }
        nodes[position].deadline = deadline
        nodes[position].sequence = takeSequence()
        restore(position)
        return true
    }

    /// Removes and returns the earliest deadline if it is due by `now` (at or before it), else nil.
    @inlinable public mutating func popFirst(dueBy now: UInt64) -> Expired? {
        guard let first = nodes.first, first.deadline <= now else { return nil }
        return remove(at: 0)
    }

    /// Removes and returns, earliest first, every deadline due by `now`, at most `limit` of them (a loop
    /// bounds the work of one turn; the rest stay due for the next).
    @inlinable public mutating func popExpired(upTo now: UInt64, limit: Int = .max) -> [Expired] {
        var expired: [Expired] = []
        while expired.count < limit, let next = popFirst(dueBy: now) { expired.append(next) }
        return expired
    }

    // MARK: Heap order

    /// The heap position of a live handle's node, or nil for a stale or foreign handle.
    @inlinable func position(of handle: Handle) -> Int? {
        guard handle.slot >= 0, Int(handle.slot) < slots.count else { return nil }
        let slot = slots[Int(handle.slot)]
        guard slot.generation == handle.generation, slot.position >= 0 else { return nil }
        return Int(slot.position)
    }

    @inlinable mutating func takeSequence() -> UInt64 {
        defer { nextSequence &+= 1 }
        return nextSequence
    }

    /// Takes the node at `position` out, frees its slot (a new generation) and restores the heap.
    @inlinable mutating func remove(at position: Int) -> Expired {
        let node = nodes[position]
        let slot = Int(node.slot)
        let token = slots[slot].token
        slots[slot].token = nil
        slots[slot].position = -1
        slots[slot].generation &+= 1
        freeSlots.append(node.slot)
        let last = nodes.count - 1
        if position != last {
            move(last, to: position)
            nodes.removeLast()
            restore(position)
        } else {
            nodes.removeLast()
        }
        // Every live slot holds a token; `schedule` set it and only this function clears it.
        guard let token else { preconditionFailure("DeadlineHeap: a scheduled slot without its token") }
        return Expired(deadline: node.deadline, token: token)
    }

    /// Puts the node at `position` where it belongs after its key changed either way.
    @inlinable mutating func restore(_ position: Int) {
        if position > 0 && nodes[position].precedes(nodes[(position - 1) / 2]) {
            siftUp(position)
        } else {
            siftDown(position)
        }
    }

    @inlinable mutating func siftUp(_ start: Int) {
        var position = start
        let node = nodes[position]
        while position > 0 {
            let parent = (position - 1) / 2
            guard node.precedes(nodes[parent]) else { break }
            move(parent, to: position)
            position = parent
        }
        place(node, at: position)
    }

    @inlinable mutating func siftDown(_ start: Int) {
        var position = start
        let node = nodes[position]
        while true {
            let left = 2 * position + 1
            guard left < nodes.count else { break }
            let right = left + 1
            let child = right < nodes.count && nodes[right].precedes(nodes[left]) ? right : left
            guard nodes[child].precedes(node) else { break }
            move(child, to: position)
            position = child
        }
        place(node, at: position)
    }

    /// Copies the node at `source` to `destination` and records its new position in its slot.
    @inlinable mutating func move(_ source: Int, to destination: Int) {
        place(nodes[source], at: destination)
    }

    @inlinable mutating func place(_ node: Node, at position: Int) {
        nodes[position] = node
        slots[Int(node.slot)].position = Int32(position)
    }
}

extension DeadlineHeap: Sendable where Token: Sendable {}
extension DeadlineHeap.Slot: Sendable where Token: Sendable {}
extension DeadlineHeap.Expired: Sendable where Token: Sendable {}
extension DeadlineHeap.Expired: Equatable where Token: Equatable {}
