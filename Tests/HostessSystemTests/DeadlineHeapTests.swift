import HostessSystem
import HostessTestSupport
import Testing

@Suite struct DeadlineHeapTests {
    // MARK: Ordering

    @Test("deadlines come out earliest first; equal deadlines in the order scheduled")
    func ordering() {
        var heap = DeadlineHeap<String>()
        #expect(heap.isEmpty)
        #expect(heap.nextDeadline == nil)
        for (deadline, token) in [(50, "e"), (10, "a"), (30, "c"), (20, "b1"), (40, "d"), (20, "b2")] {
            heap.schedule(at: UInt64(deadline), token)
        }
        #expect(heap.count == 6)
        #expect(heap.nextDeadline == 10)
        #expect(heap.popExpired(upTo: 9).isEmpty)
        let due = heap.popExpired(upTo: 30)
        #expect(due.map(\.token) == ["a", "b1", "b2", "c"])
        #expect(due.map(\.deadline) == [10, 20, 20, 30])
        #expect(heap.nextDeadline == 40)
        #expect(heap.popExpired(upTo: .max, limit: 1).map(\.token) == ["d"])
        #expect(heap.popFirst(dueBy: 49) == nil)
        #expect(heap.popFirst(dueBy: 50)?.token == "e")
        #expect(heap.isEmpty)
    }

    @Test("the epoll timeout: rounded up to whole milliseconds, 0 when due, capped, the cap when empty")
    func millisecondsUntilNextDeadline() {
        var heap = DeadlineHeap<Int>()
        #expect(heap.millisecondsUntilNextDeadline(now: 0, maximum: 250) == 250)
        let handle = heap.schedule(at: 5_000_001, 1)
        #expect(heap.millisecondsUntilNextDeadline(now: 0, maximum: 250) == 6)
        #expect(heap.millisecondsUntilNextDeadline(now: 1_000_001, maximum: 250) == 4)
        #expect(heap.millisecondsUntilNextDeadline(now: 9_000_000, maximum: 250) == 0)
        heap.reschedule(handle, to: 10_000_000_000)
        #expect(heap.millisecondsUntilNextDeadline(now: 0, maximum: 250) == 250)
    }

    // MARK: Cancelling and rescheduling

    @Test("cancel removes one deadline, returns its token, and a stale handle changes nothing")
    func cancel() {
        var heap = DeadlineHeap<String>()
        let a = heap.schedule(at: 10, "a")
        let b = heap.schedule(at: 20, "b")
        let c = heap.schedule(at: 30, "c")
        #expect(heap.cancel(a) == "a")
        #expect(heap.cancel(a) == nil)
        #expect(heap.deadline(of: a) == nil)
        #expect(heap.nextDeadline == 20)
        #expect(heap.token(of: c) == "c")
        // The freed slot is reused; the old handle must not reach the new deadline.
        let d = heap.schedule(at: 5, "d")
        #expect(heap.cancel(a) == nil)
        #expect(heap.reschedule(a, to: 1) == false)
        #expect(heap.token(of: d) == "d")
        #expect(heap.popExpired(upTo: 100).map(\.token) == ["d", "b", "c"])
        #expect(heap.cancel(b) == nil)
        #expect(heap.isEmpty)
    }

    @Test("reschedule moves a deadline either way and keeps its handle; a fired handle is stale")
    func reschedule() {
        var heap = DeadlineHeap<String>()
        let a = heap.schedule(at: 10, "a")
        let b = heap.schedule(at: 20, "b")
        heap.schedule(at: 30, "c")
        #expect(heap.reschedule(a, to: 25) == true)
        #expect(heap.deadline(of: a) == 25)
        #expect(heap.nextDeadline == 20)
        #expect(heap.reschedule(b, to: 40) == true)
        #expect(heap.reschedule(a, to: 30) == true)  // after "c", scheduled for 30 earlier
        #expect(heap.popExpired(upTo: 100).map(\.token) == ["c", "a", "b"])
        #expect(heap.reschedule(a, to: 1) == false)
        #expect(heap.isEmpty)
    }

    // MARK: Against a model

    @Test("100,000 random operations agree with a sorted-array model")
    func randomOperations() throws {
        /// The model: (deadline, sequence, id) kept sorted; the same tie-break as the heap.
        struct Entry { var deadline: UInt64; var sequence: Int; var id: Int }
        var heap = DeadlineHeap<Int>()
        var model: [Entry] = []
        var handles: [Int: DeadlineHeap<Int>.Handle] = [:]
        var retired: [DeadlineHeap<Int>.Handle] = []
        var random = SplitMix64(seed: 0x11_C4A7_7E15)
        var sequence = 0
        var now: UInt64 = 0

        func insert(_ entry: Entry) {
            let index = model.firstIndex { ($0.deadline, $0.sequence) > (entry.deadline, entry.sequence) } ?? model.count
            model.insert(entry, at: index)
        }

        for id in 0..<100_000 {
            let live = model.count
            switch random.below(100) {
            case 0..<40:
                let deadline = now + random.below(10_000)
                handles[id] = heap.schedule(at: deadline, id)
                insert(Entry(deadline: deadline, sequence: sequence, id: id))
                sequence += 1
            case 40..<55 where live > 0:
                let victim = model.remove(at: Int(random.below(UInt64(live))))
                let removed = handles.removeValue(forKey: victim.id)
                let handle = try #require(removed)
                #expect(heap.cancel(handle) == victim.id)
                retired.append(handle)
            case 55..<75 where live > 0:
                let index = Int(random.below(UInt64(live)))
                var entry = model.remove(at: index)
                entry.deadline = now + random.below(10_000)
                entry.sequence = sequence
                sequence += 1
                insert(entry)
                let handle = try #require(handles[entry.id])
                #expect(heap.reschedule(handle, to: entry.deadline) == true)
            case 75..<80 where !retired.isEmpty:
                let stale = retired[Int(random.below(UInt64(retired.count)))]
                #expect(heap.cancel(stale) == nil)
                #expect(heap.reschedule(stale, to: now) == false)
            default:
                now += random.below(500)
                let limit = Int(random.below(8)) + 1
                let popped = heap.popExpired(upTo: now, limit: limit)
                let expected = Array(model.prefix { $0.deadline <= now }.prefix(limit))
                #expect(popped.map(\.token) == expected.map(\.id))
                #expect(popped.map(\.deadline) == expected.map(\.deadline))
                model.removeFirst(min(popped.count, expected.count))
                for entry in expected {
                    if let handle = handles.removeValue(forKey: entry.id) { retired.append(handle) }
                }
            }
            if retired.count > 1_000 { retired.removeFirst(500) }
            #expect(heap.count == model.count)
            #expect(heap.nextDeadline == model.first?.deadline)
        }
        let rest = heap.popExpired(upTo: .max)
        #expect(rest.map(\.token) == model.map(\.id))
        #expect(heap.isEmpty)
    }
}
