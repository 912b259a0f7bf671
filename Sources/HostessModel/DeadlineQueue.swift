// MARK: - DeadlineQueue

/// The entries' liveness deadlines, earliest first, so that eviction costs what it evicts and a heartbeat a
/// logarithm, never a pass over every entry.
///
/// A binary min-heap of (deadline, id) with lazy deletion: a heartbeat pushes the new deadline and leaves the
/// old one in place; ``popExpired(before:isCurrent:)`` drops items that no longer match their entry. The heap
/// is rebuilt from the entries when stale items outnumber the live ones, so it stays within twice the guest
/// book plus a constant.
struct DeadlineQueue: Sendable {
    private var items: [(deadline: UInt64, id: String)] = []

    /// Items held, stale ones included.
    var count: Int { items.count }

    /// Adds `id`'s new deadline.
    mutating func push(_ deadline: UInt64, _ id: String) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].deadline < items[parent].deadline else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the ids whose deadline is before `now` and still current (`isCurrent(id, deadline)`:
    /// the entry exists and has that deadline), earliest first.
    mutating func popExpired(before now: UInt64, isCurrent: (String, UInt64) -> Bool) -> [String] {
        var expired: [String] = []
        while let first = items.first, first.deadline < now {
            removeFirst()
            if isCurrent(first.id, first.deadline) { expired.append(first.id) }
        }
        return expired
    }

    /// Whether stale items outnumber `live` ones enough (more than twice `live`, plus 1024) to rebuild.
    func needsCompaction(live: Int) -> Bool { items.count > 2 * live + 1024 }

    /// Rebuilds the heap from the live deadlines.
    mutating func rebuild(from deadlines: [(UInt64, String)]) {
        items = deadlines.map { (deadline: $0.0, id: $0.1) }
        guard items.count > 1 else { return }
        for start in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(start) }
    }

    private mutating func removeFirst() {
        let last = items.removeLast()
        guard !items.isEmpty else { return }
        items[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { return }
            var smallest = left
            if left + 1 < items.count, items[left + 1].deadline < items[left].deadline { smallest = left + 1 }
            guard items[smallest].deadline < items[parent].deadline else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
