import Foundation
import HostessDirectory
import HostessHTTP
import Testing

// MARK: - Against a real etcd

/// The requests and decoders against a private etcd 3.4 (`/usr/bin/etcd`, Debian's etcd-server), one per test.
@Suite("against a real etcd", .serialized, .timeLimit(.minutes(2)))
struct RealEtcdTests {
    private let layout = EtcdDirectoryLayout(prefix: "/hostess-test/")

    /// Runs `body` with a fresh etcd, stopped after.
    private func withEtcd(_ arguments: [String] = [], _ body: (EtcdServer) throws -> Void) throws {
        let etcd = try EtcdServer(arguments)
        defer { etcd.stop() }
        try body(etcd)
    }

    @Test("grant, put with the lease, range, keepalive, a watch from a revision sees a put and the revoke's delete, and resumes")
    func lifecycle() throws {
        let layout = try #require(layout)
        try withEtcd { etcd in
            let id = UUID().uuidString.lowercased()
            let key = try #require(layout.peerKey(id))
            let lease = try EtcdLease(grantReply: try etcd.send(.leaseGrant(ttl: 30)).body)
            #expect(lease.ttl == 30)
            let put = try EtcdHeader(reply: try etcd.send(.put(key: key, value: Array(#"{"n":1}"#.utf8), lease: lease.id)).body)
            #expect(put.clusterID == lease.header.clusterID)
            #expect(put.revision > lease.header.revision)

            let range = try EtcdRange(reply: try etcd.send(.range(key: layout.peersKey, rangeEnd: layout.peersRangeEnd)).body)
            #expect(range.header.revision == put.revision)
            #expect(range.count == 1)
            let stored = try #require(range.kvs.first)
            #expect(layout.hostessID(fromKey: stored.key) == id)
            #expect(stored.value == Array(#"{"n":1}"#.utf8))
            #expect(stored.lease == lease.id)
            #expect(stored.modRevision == put.revision)

            let kept = try EtcdLease(keepAliveReply: try etcd.send(.leaseKeepAlive(id: lease.id)).body)
            #expect(kept.id == lease.id && kept.ttl == 30)

            // A watch from the revision after the range's: created, then the next put, then the revoke's delete.
            var resume = range.header.revision + 1
            let watch = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: resume))
            let created = try watch.next()
            #expect(created.created && created.events.isEmpty)
            #expect(watch.head?.header("transfer-encoding") == "chunked")
            resume = created.resumeRevision(from: resume)

            let second = try EtcdHeader(reply: try etcd.send(.put(key: key, value: Array(#"{"n":2}"#.utf8), lease: lease.id)).body)
            let putEvent = try watch.nextEvents()
            #expect(putEvent.events.map(\.kind) == [.put])
            #expect(putEvent.events.first?.kv.value == Array(#"{"n":2}"#.utf8))
            #expect(putEvent.events.first?.kv.modRevision == second.revision)
            #expect(putEvent.events.first?.kv.lease == lease.id)
            resume = putEvent.resumeRevision(from: resume)
            #expect(resume == second.revision + 1)

            let revoked = try EtcdHeader(reply: try etcd.send(.leaseRevoke(id: lease.id)).body)
            let deleteEvent = try watch.nextEvents()
            #expect(deleteEvent.events.map(\.kind) == [.delete])
            #expect(deleteEvent.events.first?.kv.key == key)
            #expect(deleteEvent.events.first?.kv.modRevision == revoked.revision)
            resume = deleteEvent.resumeRevision(from: resume)

            // The lease is gone: keepalive and revoke say so.
            #expect(throws: EtcdError.leaseNotFound(id: lease.id)) { try EtcdLease(keepAliveReply: try etcd.send(.leaseKeepAlive(id: lease.id)).body) }
            #expect(throws: EtcdError.leaseNotFound(id: nil)) { try EtcdHeader(reply: try etcd.send(.leaseRevoke(id: lease.id)).body) }
            #expect(throws: EtcdError.leaseNotFound(id: nil)) { try EtcdHeader(reply: try etcd.send(.put(key: key, value: [1], lease: lease.id)).body) }
            #expect(try EtcdRange(reply: try etcd.send(.range(key: layout.peersKey, rangeEnd: layout.peersRangeEnd)).body).kvs.isEmpty)

            // A new watch from the resume revision sees what happened after the last event, and nothing twice.
            let other = try #require(layout.peerKey(UUID().uuidString.lowercased()))
            let third = try EtcdHeader(reply: try etcd.send(.put(key: other, value: [], lease: 0)).body)
            let resumed = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: resume))
            #expect(try resumed.next().created)
            let missed = try resumed.nextEvents()
            #expect(missed.events.map(\.kv.key) == [other])
            #expect(missed.events.first?.kv.modRevision == third.revision)
            #expect(missed.events.first?.kv.value == [], "an empty value, which etcd leaves out")
            #expect(try EtcdDeleteRange(reply: try etcd.send(.deleteRange(key: other)).body).deleted == 1)
            #expect(try resumed.nextEvents().events.map(\.kind) == [.delete])
        }
    }

    @Test("keepalives keep a 2 s lease alive past its TTL; without them it expires and the watch sees the delete")
    func expiry() throws {
        let layout = try #require(layout)
        try withEtcd { etcd in
            let key = try #require(layout.peerKey(UUID().uuidString.lowercased()))
            let lease = try EtcdLease(grantReply: try etcd.send(.leaseGrant(ttl: 2)).body)
            #expect(lease.ttl == 2)
            let put = try EtcdHeader(reply: try etcd.send(.put(key: key, value: [0x7B, 0x7D], lease: lease.id)).body)
            let watch = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: put.revision + 1))
            #expect(try watch.next().created)
            // Twice the TTL, with a keepalive every half second.
            for _ in 0..<8 {
                usleep(500_000)
                #expect(try EtcdLease(keepAliveReply: try etcd.send(.leaseKeepAlive(id: lease.id)).body).ttl == 2)
            }
            #expect(try EtcdRange(reply: try etcd.send(.range(key: key, rangeEnd: EtcdDirectoryLayout.rangeEnd(ofPrefix: key))).body).count == 1)
            // etcd expires leases on its own schedule: within a few seconds of the TTL.
            let expired = try watch.nextEvents(timeout: 15)
            #expect(expired.events.map(\.kind) == [.delete])
            #expect(expired.events.first?.kv.key == key)
            #expect(throws: EtcdError.leaseNotFound(id: lease.id)) { try EtcdLease(keepAliveReply: try etcd.send(.leaseKeepAlive(id: lease.id)).body) }
        }
    }

    @Test("a watch from a compacted revision is created, then canceled with the compaction's revision")
    func compaction() throws {
        let layout = try #require(layout)
        try withEtcd { etcd in
            let key = try #require(layout.peerKey(UUID().uuidString.lowercased()))
            var revision: Int64 = 0
            for value in 0..<3 { revision = try EtcdHeader(reply: try etcd.send(.put(key: key, value: [UInt8(value)], lease: 0)).body).revision }
            #expect(try etcd.post("/v3/kv/compaction", #"{"revision":"\#(revision)"}"#).status == 200)
            let watch = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: 1))
            var response = try watch.next()
            if response.created && !response.canceled { response = try watch.next() }
            #expect(response.canceled)
            #expect(response.cancellation == .compacted(compactRevision: revision))
            #expect(response.resumeRevision(from: 1) == 1)
        }
    }

    @Test("progress notifications move the resume revision past writes outside the watched range")
    func progress() throws {
        let layout = try #require(layout)
        try withEtcd(["--experimental-watch-progress-notify-interval", "1s"]) { etcd in
            let range = try EtcdRange(reply: try etcd.send(.range(key: layout.peersKey, rangeEnd: layout.peersRangeEnd)).body)
            var resume = range.header.revision + 1
            let watch = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: resume, progressNotify: true))
            #expect(try watch.next().created)
            let elsewhere = try EtcdHeader(reply: try etcd.send(.put(key: Array("/elsewhere".utf8), value: [1], lease: 0)).body)
            var notifications = 0
            while resume <= elsewhere.revision && notifications < 10 {
                let response = try watch.next(timeout: 5)
                #expect(response.events.isEmpty && !response.created && !response.canceled)
                resume = response.resumeRevision(from: resume)
                notifications += 1
            }
            #expect(resume == elsewhere.revision + 1)
        }
    }

    @Test("with authentication on: refused credentials, a token, requests and watches without it or with a bad one")
    func authentication() throws {
        let layout = try #require(layout)
        try withEtcd { etcd in
            for (target, body) in [
                ("/v3/auth/user/add", #"{"name":"root","password":"root-secret"}"#), ("/v3/auth/role/add", #"{"name":"root"}"#),
                ("/v3/auth/user/grant", #"{"user":"root","role":"root"}"#), ("/v3/auth/enable", "{}"),
            ] {
                #expect(try etcd.post(target, body).status == 200, "\(target)")
            }
            let refused = try etcd.send(.authenticate(name: "root", password: "wrong"))
            #expect(throws: EtcdError.authenticationFailed(message: "etcdserver: authentication failed, invalid user ID or password")) {
                try EtcdAuthentication(reply: refused.body)
            }
            let token = try EtcdAuthentication(reply: try etcd.send(.authenticate(name: "root", password: "root-secret")).body).token
            let rangeRequest = EtcdRequest.range(key: layout.peersKey, rangeEnd: layout.peersRangeEnd)
            #expect(try EtcdRange(reply: try etcd.send(rangeRequest, token: token).body).kvs.isEmpty)
            #expect(throws: EtcdError.unauthenticated(message: "etcdserver: user name is empty")) { try EtcdRange(reply: try etcd.send(rangeRequest).body) }
            #expect(throws: EtcdError.unauthenticated(message: "etcdserver: invalid auth token")) {
                try EtcdRange(reply: try etcd.send(rangeRequest, token: token + "x").body)
            }
            let lease = try EtcdLease(grantReply: try etcd.send(.leaseGrant(ttl: 10), token: token).body)
            let key = try #require(layout.peerKey(UUID().uuidString.lowercased()))
            _ = try EtcdHeader(reply: try etcd.send(.put(key: key, value: [1], lease: lease.id), token: token).body)

            let refusedWatch = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: 0))
            #expect(try refusedWatch.next().cancellation == .unauthenticated(message: "etcdserver: user name is empty"))
            let watch = try EtcdWatchStream(etcd, .watch(key: layout.peersKey, rangeEnd: layout.peersRangeEnd, startRevision: 1), token: token)
            #expect(try watch.next().created)
            #expect(try watch.nextEvents().events.map(\.kv.key) == [key])
        }
    }
}
