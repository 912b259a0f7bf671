import Foundation
import HostessRegion
import Testing

/// docs/shm-layout.md §3.1 gives the region's map for the default configuration; a reader written from the
/// doc alone relies on those numbers, so they must be the ones a hostessd with its defaults writes.
@Suite("documented region map")
struct DocumentedLayoutTests {
    /// The rows of the Markdown table that follows `heading` in the doc: each row's cells, trimmed.
    static func table(after heading: String) throws -> [[String]] {
        let text = try String(contentsOfFile: DocumentedReaderTests.root + "/docs/shm-layout.md", encoding: .utf8)
        let start = try #require(text.range(of: heading), "the doc has '\(heading)'")
        var rows: [[String]] = []
        for line in text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropFirst() {
            if line.hasPrefix("|") {
                rows.append(line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) })
            } else if !rows.isEmpty {
                break
            }
        }
        return Array(rows.dropFirst(2))  // the header row and the separator
    }

    /// The first number in a cell ("131072 (4096 × 32)" → 131072).
    static func number(_ cell: String) -> Int? { Int(cell.prefix { $0.isNumber }) }

    @Test("§3.1's default map is what a hostessd started with its defaults writes")
    func defaultMap() throws {
        let daemon = try DaemonProcess()
        let layout = try RegionReader(name: daemon.sharedMemoryName).layout
        #expect(layout.capacity == 4096 && layout.arenaBytes == 4096 * 4096, "the defaults: --capacity 4096 --entry-bytes 4096")
        let region = try Self.table(after: "Example with the defaults, `--capacity 4096 --entry-bytes 4096`")
        let expected: [String: (offset: Int, size: Int?)] = [
            "header": (0, RegionLayout.headerSize), "capability table": (layout.capabilityTableOffset, RegionLayout.capabilityCapacity * 80),
            "heartbeat array": (layout.heartbeatsOffset, layout.capacity * 8), "copy 0": (layout.copy0Offset, layout.copySize),
            "copy 1": (layout.copy1Offset, layout.copySize), "end": (layout.regionSize, nil),
        ]
        for (part, (offset, size)) in expected {
            let row = try #require(region.first { $0.first == part }, "§3.1 lists \(part)")
            #expect(Self.number(row[1]) == offset, "\(part) offset: the doc says \(row[1]), the daemon \(offset)")
            if let size { #expect(Self.number(row[2]) == size, "\(part) size: the doc says \(row[2]), the daemon \(size)") }
        }
        let copy = try Self.table(after: "Inside each copy, with the defaults:")
        let inCopy: [String: (offset: Int, size: Int)] = [
            "copy header": (0, RegionLayout.copyHeaderSize),
            "summaries": (layout.summariesOffsetInCopy, layout.capacity * RegionLayout.summarySize),
            "records": (layout.recordsOffsetInCopy, layout.capacity * RegionLayout.recordSize),
            "index": (layout.indexOffsetInCopy, layout.indexSlots * RegionLayout.indexSlotSize),
            "arena": (layout.arenaOffsetInCopy, layout.arenaBytes),
            "class heads": (layout.classHeadsOffsetInCopy, RegionLayout.classBuckets * 4),
            "class links": (layout.classLinksOffsetInCopy, layout.capacity * 4),
        ]
        for (part, (offset, size)) in inCopy {
            let row = try #require(copy.first { $0.first == part }, "§3.1 lists \(part) inside a copy")
            #expect(Self.number(row[1]) == offset, "\(part) copy offset: the doc says \(row[1]), the daemon \(offset)")
            #expect(Self.number(row[2]) == size, "\(part) size: the doc says \(row[2]), the daemon \(size)")
        }
        let padding = try #require(copy.first { $0.first == "(padding)" })
        #expect(Self.number(padding[1]) == layout.classLinksOffsetInCopy + layout.capacity * 4)
        #expect(Self.number(padding[2]) == layout.copySize - layout.classLinksOffsetInCopy - layout.capacity * 4)
    }
}

extension DocumentedLayoutTests {
    @Test("§11's Python reader is docs/examples/shm_reader.py, the file the reader tests run, to the byte")
    func pythonReaderIsTheTestedFile() throws {
        let text = try String(contentsOfFile: DocumentedReaderTests.root + "/docs/shm-layout.md", encoding: .utf8)
        let start = try #require(text.range(of: "```python\n"))
        let end = try #require(text.range(of: "\n```", range: start.upperBound..<text.endIndex))
        let file = try String(contentsOfFile: DocumentedReaderTests.root + "/docs/examples/shm_reader.py", encoding: .utf8)
        #expect(String(text[start.upperBound..<end.lowerBound]) + "\n" == file)
    }
}
