import HostessMesh
import HostessModel
import HostessSystem

// MARK: - HTTPMetrics

/// Counters and latency histograms for the HTTP interface, and the Prometheus text exposition (format 0.0.4)
/// of everything `GET /metrics` reports.
struct HTTPMetrics {
    /// Upper bounds of the latency buckets, in seconds.
    static let bucketBounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    private struct Histogram {
        var counts = [UInt64](repeating: 0, count: HTTPMetrics.bucketBounds.count)
        var count: UInt64 = 0
        var sum = 0.0
    }

    private var requests: [HTTPEndpoint: [Int: UInt64]] = [:]
    private var latencies: [HTTPEndpoint: Histogram] = [:]

    /// Counts a response and how long the request took (from complete request to response queued).
    mutating func record(_ endpoint: HTTPEndpoint, status: Int, seconds: Double) {
        requests[endpoint, default: [:]][status, default: 0] += 1
        var histogram = latencies[endpoint] ?? Histogram()
        histogram.count += 1
        histogram.sum += seconds
        for (index, bound) in Self.bucketBounds.enumerated() where seconds <= bound { histogram.counts[index] += 1 }
        latencies[endpoint] = histogram
    }

    /// The exposition text.
    func exposition(service: Service, facts: HTTPRouter.Facts) -> [UInt8] {
        var text = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name)\(sample.labels) \(sample.value)\n" }
        }
        let uptime = Double(SystemClock.monotonicNanoseconds() &- facts.startedAt) / 1e9
        metric("hostess_entries", "gauge", "Entries in the guest book.", [("", String(service.book.count))])
        metric("hostess_revision", "gauge", "The guest book's revision.", [("", String(service.book.revision))])
        metric("hostess_registrations_total", "counter", "Registrations that created an entry.", [("", String(service.counters.registrations))])
        metric("hostess_evictions_total", "counter", "Entries removed because their heartbeats stopped.", [("", String(service.counters.evictions))])
        metric("hostess_session_ends_total", "counter", "Entries removed because their session connection closed.", [("", String(service.counters.sessionEnds))])
        metric("hostess_requests_total", "counter", "Protocol commands handled, from the socket and HTTP writes.", [("", String(service.counters.requests))])
        metric("hostess_shm_publications_total", "counter", "Revisions published to the shared-memory region.", [("", String(facts.publications))])
        metric(
            "hostess_connections", "gauge", "Open client connections by interface.",
            [("{interface=\"unix\"}", String(facts.unixConnections)), ("{interface=\"http\"}", String(facts.httpConnections))])
        metric("hostess_uptime_seconds", "gauge", "Seconds since hostessd started.", [("", String(format3(uptime)))])
        if let peers = service.peers {
            let sent = facts.announcements ?? (0, 0)
            metric(
                "hostess_mesh_announcements_sent_total", "counter", "Announcement datagrams sent, and sends that failed.",
                [("{result=\"sent\"}", String(sent.sent)), ("{result=\"failed\"}", String(sent.failed))])
            metric("hostess_mesh_packets_received_total", "counter", "Announcement datagrams received.", [("", String(peers.received))])
            metric("hostess_mesh_packets_accepted_total", "counter", "Announcement datagrams that passed every check.", [("", String(peers.accepted))])
            metric(
                "hostess_mesh_packets_dropped_total", "counter", "Announcement datagrams dropped, by reason.",
                DropReason.allCases.map { ("{reason=\"\($0.rawValue)\"}", String(peers.dropped[$0] ?? 0)) })
            let live = peers.livePeers.count
            metric(
                "hostess_mesh_peers", "gauge", "Peer Hostesses by state.",
                [("{state=\"live\"}", String(live)), ("{state=\"stale\"}", String(peers.peers.count - live))])
        }
        if let directory = service.directory {
            metric(
                "hostess_directory_state", "gauge", "The fleet directory's state (1 for the current one).",
                DirectoryStatus.State.allCases.map { ("{state=\"\($0.rawValue)\"}", directory.state == $0 ? "1" : "0") })
            metric(
                "hostess_directory_requests_total", "counter", "Exchanges with etcd by result (failed: no answer, or an error).",
                [("{result=\"ok\"}", String(directory.requestsOK)), ("{result=\"failed\"}", String(directory.requestsFailed))])
            metric("hostess_directory_watch_events_total", "counter", "Events read from the watch of the directory's prefix.", [("", String(directory.watchEvents))])
            metric(
                "hostess_directory_reconnects_total", "counter", "Times the directory connected again after the etcd member in use failed.",
                [("", String(directory.reconnects))])
            metric("hostess_directory_peers", "gauge", "Other Hostesses the directory lists, as last read.", [("", String(directory.peers))])
        }
        if let paths = facts.connectPaths {
            var samples: [(String, String)] = []
            for source in PeerConnector.Source.allCases {
                let count = paths[source] ?? (0, 0)
                samples.append(("{path=\"\(source.rawValue)\",result=\"ok\"}", String(count.ok)))
                samples.append(("{path=\"\(source.rawValue)\",result=\"failed\"}", String(count.failed)))
            }
            metric("hostess_connect_path_total", "counter", "Connections to peers by the path tried (measured, announced method, endpoint) and result.", samples)
        }
        var requestSamples: [(String, String)] = []
        for endpoint in HTTPEndpoint.allCases {
            for (status, count) in (requests[endpoint] ?? [:]).sorted(by: { $0.key < $1.key }) {
                requestSamples.append(("{endpoint=\"\(endpoint.rawValue)\",status=\"\(status)\"}", String(count)))
            }
        }
        metric("hostess_http_requests_total", "counter", "HTTP requests answered, by endpoint and status.", requestSamples)
        text += "# HELP hostess_http_request_duration_seconds Time from a complete HTTP request to its response, by endpoint.\n"
        text += "# TYPE hostess_http_request_duration_seconds histogram\n"
        for endpoint in HTTPEndpoint.allCases {
            guard let histogram = latencies[endpoint] else { continue }
            let label = "endpoint=\"\(endpoint.rawValue)\""
            for (index, bound) in Self.bucketBounds.enumerated() {
                text += "hostess_http_request_duration_seconds_bucket{\(label),le=\"\(bound)\"} \(histogram.counts[index])\n"
            }
            text += "hostess_http_request_duration_seconds_bucket{\(label),le=\"+Inf\"} \(histogram.count)\n"
            text += "hostess_http_request_duration_seconds_sum{\(label)} \(histogram.sum)\n"
            text += "hostess_http_request_duration_seconds_count{\(label)} \(histogram.count)\n"
        }
        return Array(text.utf8)
    }

    private func format3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}
