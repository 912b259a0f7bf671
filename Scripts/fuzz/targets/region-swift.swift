// Fuzz target `region-swift`: the shared-memory guest book's Swift reader (HostessRegion's RegionReader)
// over arbitrary region bytes, planted as a shared-memory object the reader opens by name.
//
// The region is the writer's, damaged in place as the input says (Scripts/fuzz/support/region.swift gives
// the input's format). Then every answer the reader gives is asked for.
// Oracle: no trap, no out-of-bounds read (ASan), bounded time; and where the bytes are the writer's (the
// patches change nothing), the reader's answers are the writer's entries.
import Glibc
import HostessModel
import HostessRegion
import HostessSystem

nonisolated(unsafe) private let template = RegionFixture.make()
nonisolated(unsafe) private let planted = PlantedRegion(template)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let sound = !planted.damage(UnsafeBufferPointer(start: data, count: size))
    defer { planted.restore() }
    let reader: RegionReader
    do { reader = try RegionReader(name: planted.name) } catch {
        if sound { fatalError("region: the writer's region does not open: \(error)") }
        return 0
    }
    _ = reader.liveness()
    _ = try? reader.stableRevision()
    _ = try? reader.checkNotTruncated()
    var found: [GuestBookEntry?] = []
    for expected in template.entries {
        found.append(try? reader.getServer(expected.id))
        _ = try? reader.withEntry(id: expected.id) { view in view.map { _ in 1 } }
    }
    _ = try? reader.getServer(template.removed)
    let all = try? reader.listAll()
    let filters = [
        ServerFilter(classCode: ClassCode(1)), ServerFilter(classCode: ClassCode(2)), ServerFilter(capabilities: ["gpu"]),
        ServerFilter(fqdn: "host-2", servername: "server-2", owner: "alice"), ServerFilter(availableTerminals: 2, unreserved: true),
    ]
    var queried: [[GuestBookEntry]?] = []
    for filter in filters {
        let answer = try? reader.query(filter)
        queried.append(answer)
        if let answer, let count = try? reader.count(filter), count != answer.count, sound {
            fatalError("region: count \(count) but query \(answer.count)")
        }
    }
    if sound {
        guard all == template.entries else { fatalError("region: listAll \(String(describing: all?.map(\.id))) is not the writer's") }
        guard found == template.entries.map(Optional.some) else { fatalError("region: getServer is not the writer's") }
        for (filter, answer) in zip(filters, queried) where answer != template.entries.filter(filter.matches) {
            fatalError("region: query \(filter) is \(String(describing: answer?.map(\.id)))")
        }
        guard (try? reader.getServer(template.removed)) == .some(nil) else { fatalError("region: the removed entry is found") }
    }
    return 0
}
