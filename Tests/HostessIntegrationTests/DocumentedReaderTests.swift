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

    @Test("idHash gives the documented values for every block and tail length", arguments: [
        (0, 0xC7B0_2ABF_6AD0_1E50), (1, 0x8184_542E_76A1_C1F5), (7, 0x8CED_9F31_D006_02E4), (8, 0x86BD_9C9F_4183_9207),
        (9, 0x4F79_EABA_AF30_306B), (15, 0xAAF7_9C1D_7297_0C12), (16, 0x7E2F_E5FB_E7D9_FD26), (17, 0x5939_7018_B5D1_25E7),
        (24, 0x5B28_DBAA_97CB_3817), (31, 0xDB15_1382_946D_FBD0), (32, 0xDA9C_B156_230B_760F), (33, 0xEEEF_FA2D_773F_211E),
        (40, 0x64C6_E4C7_0142_5EE2), (63, 0x9960_AACB_AFD5_F725), (64, 0x6267_78D3_3258_BF8C), (82, 0x354C_75F8_4571_4932),
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
