import HostessMesh
import HostessModel

// MARK: - Fixtures

/// The wall clock of the fixtures' announcements, milliseconds.
let wallNow: Int64 = 1_728_677_440_000

/// Peer ids: `uuid(1)` is `00000000-0000-4000-8000-000000000001`.
func uuid(_ number: Int) -> String {
    let digits = String(number, radix: 16)
    return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
}

/// The key the fixtures sign with.
let testKey = MeshKey(id: "k1", secret: Array("s3cret".utf8))!

/// Keys accepting `testKey` only.
let testKeys = MeshKeys(sending: testKey)

/// The small announcement whose bytes `AnnouncementTests.layout` pins.
func smallAnnouncement(
    hostessID: String = "6ba7b810-9dad-11d1-80b4-00c04fd430c8", fqdn: String = "machine-a.local", sequence: Int64 = 7, ttl: Int = 90,
    timestamp: Int64 = wallNow, capabilities: [CapabilitySummary] = [CapabilitySummary(classCode: ClassCode(2), totalCount: 1, availableCount: 1, capabilities: ["gpu", "h264"])],
    endpoint: String = "http://machine-a.local:8080",
    connectionMethods: [ConnectionMethod] = [ConnectionMethod(type: "http", endpoint: "http://machine-a.local:8080", latency: 8, testedAt: 1_728_677_400_000)]
) -> Announcement {
    do {
        return try Announcement(
            timestamp: timestamp, fqdn: fqdn, hostessID: hostessID, endpoint: endpoint, serverCount: 1, ttl: ttl, sequence: sequence,
            capabilities: capabilities, connectionMethods: connectionMethods)
    } catch {
        fatalError("fixture announcement is invalid: \(error)")
    }
}

/// A summary of `classes` classes, each with `names` capability names.
func bigSummary(classes: Int, names: Int) -> [CapabilitySummary] {
    (0..<classes).map { index in
        CapabilitySummary(
            classCode: ClassCode(UInt16(index + 1)), totalCount: 10, availableCount: 5,
            capabilities: (0..<names).map { "capability-\(index)-\($0)" })
    }
}

/// The JSON object of an unsigned datagram, for tests that mutate members.
func jsonObject(_ announcement: Announcement) -> JSONObject {
    guard case .object(let object)? = try? JSONParser.parse(announcement.encode(signingWith: nil)) else {
        fatalError("an encoded announcement is not a JSON object")
    }
    return object
}
