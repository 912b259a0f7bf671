import Foundation
import HostessModel
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

// MARK: - The doc's C code

/// Every C block of docs/shm-layout.md compiles with a plain C11 compiler and does what the doc says: the id
/// hash gives the vectors of §4.1, FNV-1a gives the fingerprint of §4.2, a read section and a futex wait
/// work against a running hostessd. (The usage example of the C library, §5.2a, is CReaderTests'.)
@Suite("the C code of docs/shm-layout.md")
struct DocumentedCTests {
    /// The C blocks of the doc, in order.
    static func blocks() throws -> [String] {
        let text = try String(contentsOfFile: DocumentedReaderTests.root + "/docs/shm-layout.md", encoding: .utf8)
        var blocks: [String] = []
        var rest = text[...]
        while let start = rest.range(of: "```c\n"), let end = rest.range(of: "\n```", range: start.upperBound..<rest.endIndex) {
            blocks.append(String(rest[start.upperBound..<end.lowerBound]) + "\n")
            rest = rest[end.upperBound...]
        }
        return blocks
    }

    /// The block that defines `symbol`.
    static func block(defining symbol: String) throws -> String {
        try #require(try blocks().first { $0.contains(symbol + "(") && $0.contains("{") }, "the doc defines \(symbol)")
    }

    /// Compiles `sources` (C text) into a program with cc -std=c11 -Wall -Wextra -Werror and runs it with `arguments`.
    static func compileAndRun(_ sources: [String], _ arguments: [String] = []) throws -> CLI.Outcome {
        let scratch = try ScratchDirectory()
        var files: [String] = []
        for (index, source) in sources.enumerated() { files.append(try scratch.write("part\(index).c", source)) }
        let program = scratch.path + "/program"
        let built = try CLI.run("/usr/bin/cc", ["-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-Wextra", "-Werror", "-o", program] + files, timeout: 60)
        try #require(built.status == 0, "\(built)")
        return try CLI.run(program, arguments, timeout: 30)
    }

    @Test("every C block compiles on its own with cc -std=c11 -Wall -Wextra -Werror")
    func everyBlockCompiles() throws {
        let blocks = try Self.blocks()
        #expect(blocks.count == 5, "\(blocks.count) C blocks")
        for block in blocks {
            let scratch = try ScratchDirectory()
            let file = try scratch.write("block.c", block)
            let include = DocumentedReaderTests.root + "/Sources/CHostessReader/include"
            let built = try CLI.run(
                "/usr/bin/cc", ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", "-I", include, "-c", file, "-o", scratch.path + "/block.o"],
                timeout: 60)
            #expect(built.status == 0, "\(block)\n\(built)")
        }
    }

    @Test("§4.1's hostess_id_hash gives the vectors of its table")
    func hashVectors() throws {
        let driver = """
            #include <stdint.h>
            #include <stdio.h>
            #include <string.h>
            uint64_t hostess_id_hash(const void *data, size_t length);
            int main(int argc, char **argv) {
                for (int i = 1; i < argc; i++) printf("0x%016llX\\n", (unsigned long long)hostess_id_hash(argv[i], strlen(argv[i])));
                return 0;
            }
            """
        let inputs = ["", "a", "abcdefgh", "abcdefghi", "vm:x:0x0001:root:no:none:569f1b4e-f1db-4a2c-8fb8-8a6b1ee8b9ff"]
        let outcome = try Self.compileAndRun([try Self.block(defining: "hostess_id_hash"), driver], inputs)
        let printed = outcome.stdout.split(separator: "\n").map(String.init)
        let text = try String(contentsOfFile: DocumentedReaderTests.root + "/docs/shm-layout.md", encoding: .utf8)
        for (input, value) in zip(inputs, printed) {
            let label = input.isEmpty ? "empty" : "`\(input)`"
            #expect(text.contains("| \(label) | `\(value)` |"), "the table gives \(value) for \(label)")
        }
        #expect(printed.count == inputs.count, "\(outcome)")
    }

    @Test("§4.2's fnv1a64 of the fingerprint text is the value the doc gives and hostessd writes")
    func fingerprint() throws {
        let text = try String(contentsOfFile: DocumentedReaderTests.root + "/docs/shm-layout.md", encoding: .utf8)
        let start = try #require(text.range(of: "### 4.2 Fingerprint"))
        let fence = try #require(text.range(of: "```\n", range: start.upperBound..<text.endIndex))
        let end = try #require(text.range(of: "\n```", range: fence.upperBound..<text.endIndex))
        let description = String(text[fence.upperBound..<end.lowerBound])
        let driver = """
            #include <stdint.h>
            #include <stdio.h>
            #include <string.h>
            uint64_t fnv1a64(const void *data, size_t length);
            int main(int argc, char **argv) { (void)argc; printf("0x%016llX %zu\\n", (unsigned long long)fnv1a64(argv[1], strlen(argv[1])), strlen(argv[1])); return 0; }
            """
        let outcome = try Self.compileAndRun([try Self.block(defining: "fnv1a64"), driver], [description])
        let expected = String(format: "0x%016llX", RegionLayout.fingerprint)
        #expect(outcome.stdout == "\(expected) \(description.utf8.count)\n", "\(outcome)")
        #expect(text.contains("**Value: `\(expected)`**"))
        #expect(text.contains("of this exact ASCII text, \(description.utf8.count) bytes"))
    }

    @Test("§5.2's read section and §7's futex wait work against a running hostessd")
    func readSectionAndWait() throws {
        let daemon = try DaemonProcess()
        let layout = try RegionReader(name: daemon.sharedMemoryName).layout
        let driver = """
            #include <fcntl.h>
            #include <stdint.h>
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/mman.h>
            #include <sys/stat.h>
            long hostess_read_section(const unsigned char *, uint64_t, uint64_t, long (*)(const unsigned char *, void *), void *);
            uint64_t hostess_wait_for_revision(const unsigned char *base, uint64_t after, int64_t timeout_ns);
            /* The copy header's live-entry count (u32 at copy offset 8), as a read section's body. */
            static long count(const unsigned char *copy, void *context) { (void)context; uint32_t n; memcpy(&n, copy + 8, 4); return (long)n; }
            int main(int argc, char **argv) {
                (void)argc;
                int fd = open(argv[1], O_RDONLY);
                struct stat status;
                if (fd < 0 || fstat(fd, &status) != 0) return 3;
                const unsigned char *base = mmap(NULL, (size_t)status.st_size, PROT_READ, MAP_SHARED, fd, 0);
                if (base == MAP_FAILED) return 3;
                uint64_t copy0 = strtoull(argv[2], NULL, 10), copy1 = strtoull(argv[3], NULL, 10), after = strtoull(argv[4], NULL, 10);
                printf("count %ld\\n", hostess_read_section(base, copy0, copy1, count, NULL));
                fflush(stdout);
                printf("revision %llu\\n", (unsigned long long)hostess_wait_for_revision(base, after, 5000000000LL));
                return 0;
            }
            """
        let client = try daemon.client()
        for _ in 0..<3 { _ = try client.request("register", ["entry": Fixture.entry(id: Fixture.id())]) }
        let revision = UInt64(try #require(try client.request("status").revision))
        // While the program waits, one more change: it returns the new revision, well before its 5 s timeout.
        let registering = Thread {
            usleep(300_000)
            _ = try? daemon.client().request("register", ["entry": Fixture.entry(id: Fixture.id())])
        }
        registering.start()
        let started = Date()
        let outcome = try Self.compileAndRun(
            [try Self.block(defining: "hostess_read_section"), try Self.block(defining: "hostess_wait_for_revision"), driver],
            ["/dev/shm" + daemon.sharedMemoryName, "\(layout.copy0Offset)", "\(layout.copy1Offset)", "\(revision)"])
        #expect(outcome.stdout.hasPrefix("count 3\n"), "\(outcome)")
        #expect(outcome.stdout.contains("revision \(revision + 1)\n"), "\(outcome)")
        #expect(Date().timeIntervalSince(started) < 4.5, "woken by the change, not by the timeout")
    }
}
