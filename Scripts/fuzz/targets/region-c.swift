// Fuzz target `region-c`: the C reader library (Sources/CHostessReader) over the same damaged regions as
// `region-swift` (Scripts/fuzz/support/region.swift gives the input's format), opened from the planted
// bytes (hostess_reader_open_bytes), next to the Swift reader opening them by name.
// Oracle: no trap, no out-of-bounds read (ASan covers the C library too), bounded time; where both readers
// answer (found or not found; OK), they answer the same: the same entries for every lookup by id, for the
// whole query, for each class and for the capability `gpu`, the same counts; and on the writer's own bytes
// both answer what the writer wrote.
import CHostessReader
import Glibc
import HostessModel
import HostessRegion
import HostessSystem

nonisolated(unsafe) private let template = RegionFixture.make()
nonisolated(unsafe) private let planted = PlantedRegion(template)

/// What the C reader answers for a lookup: the entry, nil for not found, or the status of an error.
/// The lookup buffer, allocated once (an entry is at most Limits.entryWireBytes, 64 KiB).
nonisolated(unsafe) private var buffer = [CChar](repeating: 0, count: 1 << 17)

private func cLookup(_ reader: OpaquePointer, _ id: String) -> Result<GuestBookEntry?, CError> {
    var info = hostess_entry_info()
    let status = id.utf8CString.withUnsafeBufferPointer { idBytes in
        hostess_reader_lookup(reader, idBytes.baseAddress, idBytes.count - 1, &buffer, buffer.count, &info)
    }
    switch status {
    case Int32(HOSTESS_OK.rawValue):
        let payload = buffer.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0).prefix(info.length)) }
        // The C reader checks only that a payload looks like an entry (an object starting with the id, strings
        // closed, nesting balanced, an integer lastHeartbeat: hostess_reader.c's scan_payload), so damaged bytes
        // inside it can pass: that is an answer the Swift reader may refuse, compared below.
        guard let value = try? JSONParser.parse(payload), let entry = try? GuestBookEntry(json: value) else {
            return .failure(CError(status: unparsable))
        }
        return .success(entry)
    case Int32(HOSTESS_NOT_FOUND.rawValue): return .success(nil)
    default: return .failure(CError(status: status))
    }
}

private struct CError: Error { let status: Int32 }

/// The "status" of a payload the C reader handed out that is not an entry.
private let unparsable: Int32 = 1000

/// Collects a C query's payloads as entries.
private final class Collected {
    var entries: [GuestBookEntry] = []
    var bad: String?
}

private func cQuery(_ reader: OpaquePointer, classCode: UInt16? = nil, capability: String? = nil) -> [GuestBookEntry]? {
    let collected = Collected()
    let context = Unmanaged.passUnretained(collected).toOpaque()
    let callback: hostess_entry_callback = { context, payload, length, _ in
        let collected = Unmanaged<Collected>.fromOpaque(context!).takeUnretainedValue()
        let bytes = UnsafeRawBufferPointer(start: payload, count: length)
        if let value = try? JSONParser.parse(bytes), let entry = try? GuestBookEntry(json: value) {
            collected.entries.append(entry)
        } else {
            collected.bad = String(decoding: bytes, as: UTF8.self)
        }
        return 0
    }
    var count = 0
    let status: Int32
    if let classCode {
        status = hostess_reader_query_class(reader, classCode, callback, context, &count)
    } else if let capability {
        status = capability.withCString { hostess_reader_query_capability(reader, $0, callback, context, &count) }
    } else {
        status = hostess_reader_query(reader, nil, callback, context, &count)
    }
    // As for lookups: a payload that only looks like an entry makes the answer incomparable.
    if collected.bad != nil { return nil }
    guard status == Int32(HOSTESS_OK.rawValue) else { return nil }
    guard count == collected.entries.count else { fatalError("region-c: query count \(count), delivered \(collected.entries.count)") }
    return collected.entries
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let sound = !planted.damage(UnsafeBufferPointer(start: data, count: size))
    defer { planted.restore() }
    let swift = try? RegionReader(name: planted.name)
    if sound && swift == nil { fatalError("region-c: the Swift reader refuses the writer's region") }

    var handle: OpaquePointer?
    var failure = hostess_open_failure()
    let opened = hostess_reader_open_bytes(planted.bytes.baseAddress, planted.bytes.count, &handle, &failure)
    guard opened == Int32(HOSTESS_OK.rawValue), let reader = handle else {
        if sound { fatalError("region-c: the C reader refuses the writer's region: \(String(cString: hostess_reader_strerror(opened)))") }
        return 0
    }
    defer { hostess_reader_close(reader) }
    var info = hostess_region_info()
    _ = hostess_reader_region_info(reader, &info)
    _ = hostess_reader_max_payload_bytes(reader)
    _ = hostess_reader_revision(reader)
    var revision: UInt64 = 0
    _ = hostess_reader_stable_revision(reader, &revision)
    _ = hostess_reader_is_closed(reader)
    _ = hostess_reader_check_size(reader)
    var filter = hostess_filter()
    filter.min_available_terminals = 2
    filter.unreserved = 1
    var filtered = 0
    _ = hostess_reader_count(reader, &filter, &filtered)
    var scratch = [UInt8](repeating: 0, count: 512)
    var needed = 0
    _ = hostess_reader_query_buffer(reader, nil, &scratch, scratch.count, nil, nil, nil, &needed)

    // The ids, the removed one, and the first with its hexcode and UUID in upper case (found under its canonical spelling).
    let first = template.entries[0].id
    let upper = first.split(separator: ":", omittingEmptySubsequences: false).enumerated()
        .map { $0.offset == 2 || $0.offset == 6 ? $0.element.uppercased() : String($0.element) }.joined(separator: ":")
    for id in template.entries.map(\.id) + [template.removed, upper] {
        let c = cLookup(reader, id)
        if sound {
            let expected = id == upper ? template.entries[0] : template.entries.first { $0.id == id }
            guard case .success(let entry) = c, entry == expected else { fatalError("region-c: lookup \(id) is not the writer's: \(c)") }
        }
        if case .failure(let error) = c, error.status == unparsable, let swift,
            case .success(let swiftEntry?) = Result(catching: { () throws(RegionError) in try swift.getServer(id) })
        {
            fatalError("region-c: lookup \(id): the Swift reader reads the entry, the C reader a payload that is not it: \(swiftEntry)")
        }
        guard let swift, case .success(let cEntry) = c,
            case .success(let swiftEntry) = Result(catching: { () throws(RegionError) in try swift.getServer(id) })
        else { continue }
        guard cEntry == swiftEntry else {
            fatalError("region-c: lookup \(id): C \(String(describing: cEntry?.id)), Swift \(String(describing: swiftEntry?.id))")
        }
    }
    let queries: [(UInt16?, String?, ServerFilter)] = [
        (nil, nil, ServerFilter()), (1, nil, ServerFilter(classCode: ClassCode(1))), (2, nil, ServerFilter(classCode: ClassCode(2))),
        (nil, "gpu", ServerFilter(capabilities: ["gpu"])),
    ]
    for (classCode, capability, swiftFilter) in queries {
        let c = cQuery(reader, classCode: classCode, capability: capability)
        if sound {
            guard c == template.entries.filter(swiftFilter.matches) else { fatalError("region-c: query \(swiftFilter) is not the writer's") }
        }
        guard let swift, let c, let answer = try? swift.query(swiftFilter) else { continue }
        guard c == answer else {
            fatalError("region-c: query \(swiftFilter): C \(c.map(\.id)), Swift \(answer.map(\.id))")
        }
    }
    var all = 0
    if hostess_reader_count(reader, nil, &all) == Int32(HOSTESS_OK.rawValue), let swift, let count = try? swift.count(ServerFilter()) {
        guard all == count else { fatalError("region-c: count C \(all), Swift \(count)") }
    }
    return 0
}
