import Foundation
import HostessModel
import HostessRegion
import Testing

/// docs/shm-layout.md is a contract: a reader written from it alone (docs/examples/shm_reader.py) must find
/// and print the same entries as the socket, and the documented hash must stay the one the writer uses.
@Suite("documented shared-memory reader")
struct DocumentedReaderTests {
    /// The repository's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let sampleID = "host.example.com:printer:1a2b:alice:none:none:550e8400-e29b-41d4-a716-446655440000"

    @Test("idHash gives the documented values for every tail length", arguments: [
        (0, 0xE220_A839_7B1D_CDAF), (1, 0x6AF9_2512_BE58_BD7D), (7, 0xD85A_16EC_D282_BD9E), (8, 0x7030_7878_E161_9079),
        (9, 0x001D_0442_2C10_3395), (15, 0x66E0_1513_6AE2_1F5A), (16, 0xBE58_6760_2B24_98BE), (17, 0x1433_A497_2C1C_9A37),
        (82, 0x893B_C9D2_047F_6B50),
    ] as [(Int, UInt64)])
    func hashVectors(length: Int, expected: UInt64) {
        let bytes = Array(Self.sampleID.utf8.prefix(length))
        #expect(bytes.withUnsafeBytes { idHash($0) } == expected)
    }

    @Test("the Python reader from docs/ prints what the socket answers")
    func pythonReader() throws {
        let daemon = try DaemonProcess()
        let client = try daemon.client()
        var ids: [String] = []
        for index in 0..<40 {
            // Every tenth id is too long to stay inline in its record: the reader finds it in the arena.
            let fqdn = index % 10 == 7 ? "node-\(index).rack-0042.east.datacenter.arena-id.long-hostnames.example.internal" : "localhost"
            let id = Fixture.id(servername: "srv-\(index)", classCode: index % 2 == 0 ? "0x0001" : "0x00ff", fqdn: fqdn)
            #expect((id.utf8.count > RegionLayout.maximumInlineIDBytes) == (index % 10 == 7), "\(id)")
            #expect(try client.request("register", ["entry": Fixture.entry(id: id)]).errorCode == nil)
            ids.append(id)
        }
        _ = try client.request("markInUse", ["serverId": .string(ids[3]), "terminal": "stdin", "connectomeId": "c1"])
        let script = Self.root + "/docs/examples/shm_reader.py"
        for id in [ids[0], ids[3], ids[7], ids[39]] {
            let printed = try CLI.run("/usr/bin/python3", [script, "--shm", daemon.sharedMemoryName, "get", id])
            #expect(printed.status == 0, "\(printed)")
            let viaSocket = try client.request("getServer", ["serverId": .string(id)]).result?["entry"]
            #expect(try JSONParser.parse(Array(printed.stdout.utf8)) == viaSocket, "\(id)")
        }
        let missing = try CLI.run("/usr/bin/python3", [script, "--shm", daemon.sharedMemoryName, "get", Fixture.id(servername: "absent")])
        #expect(missing.status == 1, "\(missing)")
        let listed = try CLI.run("/usr/bin/python3", [script, "--shm", daemon.sharedMemoryName, "list"])
        let lines = try listed.stdout.split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
        #expect(.array(lines) == (try client.request("listAll").result?["entries"]))
    }
}
