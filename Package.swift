// swift-tools-version:6.0
// Hostess: a service registry for Linux machines.
// No package dependencies: the toolchain, Glibc and the C shim only.

import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Hostess",
    products: [
        .library(name: "HostessModel", targets: ["HostessModel"]),
        .library(name: "HostessClient", targets: ["HostessClient"]),
        .library(name: "HostessRegion", targets: ["HostessRegion"]),
        /// The shared-memory reader in C11 (one header, libc only), for servers in C, C++, Rust, Go, ….
        .library(name: "CHostessReader", targets: ["CHostessReader"]),
        .executable(name: "hostessd", targets: ["hostessd"]),
        .executable(name: "hostess", targets: ["hostess"]),
        .executable(name: "shmdump", targets: ["shmdump"]),
        /// Compiles a target's `*.manifest.json` into it and checks its wiring files when it builds.
        .plugin(name: "HostessManifests", targets: ["HostessManifests"]),
    ],
    dependencies: [],
    targets: [
        // MARK: - C shim

        /// Linux headers Swift's Glibc module does not export (epoll, signalfd, SO_PEERCRED), and libcrypto
        /// (SHA-256, HMAC, constant-time compare) for signed HTTP writes.
        .target(name: "CShim", path: "CShim", linkerSettings: [.linkedLibrary("crypto")]),
        /// The shared-memory guest book's reader in C11 for other languages' servers: open with every check, lookup
        /// by id, queries, liveness, futex waits (docs/shm-layout.md). libc and Linux headers only; also builds
        /// with a plain `cc -std=c11 -c`.
        .target(name: "CHostessReader", path: "Sources/CHostessReader"),

        // MARK: - Libraries

        /// The model and the guest book's rules. No I/O.
        .target(name: "HostessModel", swiftSettings: strict),
        /// Thin, EINTR-retrying wrappers over the syscalls the daemon and the client use.
        .target(name: "HostessSystem", dependencies: ["CShim"], swiftSettings: strict),
        /// The event loop: epoll, a deadline heap, signals, stream and datagram channels, the acceptor. No protocol.
        .target(name: "HostessLoop", dependencies: ["HostessSystem"], swiftSettings: strict),
        /// Static wiring: manifests and wiring files (JSON, and a block subset of YAML) with source locations,
        /// server patterns, and the rules a wiring must keep. No I/O.
        .target(name: "HostessWiring", dependencies: ["HostessModel"], swiftSettings: strict),
        /// The shared-memory guest book: layout, the writer (hostessd) and the zero-copy reader.
        .target(name: "HostessRegion", dependencies: ["HostessModel", "HostessSystem", "CShim"], swiftSettings: strict),
        /// hostessd's interfaces: event loop, Unix socket and stdio protocol servers, configuration.
        .target(
            name: "HostessDaemon",
            dependencies: ["HostessModel", "HostessSystem", "HostessRegion", "HostessHTTP", "HostessLoop", "HostessMesh", "HostessProbing", "HostessDirectory"],
            swiftSettings: strict),
        /// What a server links to talk to hostessd.
        .target(
            name: "HostessClient", dependencies: ["HostessModel", "HostessSystem", "HostessRegion", "HostessHTTP"], swiftSettings: strict),
        /// HTTP/1.1 messages with hard limits, percent-decoding, and the request signature (HMAC-SHA256).
        .target(name: "HostessHTTP", dependencies: ["HostessSystem"], swiftSettings: strict),
        /// The mesh between Hostesses: the signed announcement datagram and the table of peers heard. No I/O,
        /// no sockets, no clocks (time is passed in).
        .target(name: "HostessMesh", dependencies: ["HostessModel", "HostessSystem"], swiftSettings: strict),
        /// Connection probing: the probe/beacon protocol's messages, hashes and MACs, instructions and reports.
        /// No I/O.
        .target(name: "HostessProbing", dependencies: ["HostessModel", "HostessSystem"], swiftSettings: strict),
        /// The fleet directory's protocol with etcd's v3 JSON gateway: request bodies, typed replies and errors,
        /// the watch stream's decoder, the keys' layout, base64. No I/O.
        .target(name: "HostessDirectory", dependencies: ["HostessModel", "HostessHTTP"], swiftSettings: strict),

        // MARK: - Executables

        .executableTarget(name: "hostessd", dependencies: ["HostessDaemon", "HostessSystem"], swiftSettings: strict),
        .executableTarget(name: "hostess", dependencies: ["HostessClient", "HostessModel", "HostessSystem", "HostessWiring"], swiftSettings: strict),
        .executableTarget(name: "shmdump", dependencies: ["HostessModel", "HostessRegion", "HostessSystem"], swiftSettings: strict),
        /// The Beacon and the Probe of connection probing (docs/probing.md), each its own process.
        .executableTarget(
            name: "hostess-beacon", dependencies: ["HostessClient", "HostessLoop", "HostessModel", "HostessProbing", "HostessSystem"],
            swiftSettings: strict),
        .executableTarget(
            name: "hostess-probe", dependencies: ["HostessClient", "HostessLoop", "HostessModel", "HostessProbing", "HostessSystem"],
            swiftSettings: strict),
        .executableTarget(
            name: "hostess-example-server", dependencies: ["HostessClient", "HostessModel"], swiftSettings: strict,
            plugins: ["HostessManifests"]),

        // MARK: - Build tools

        /// The HostessManifests plugin's worker: checks manifests and wiring, writes `CompiledManifests`.
        .executableTarget(name: "hostess-manifest-tool", dependencies: ["HostessWiring", "HostessModel"], swiftSettings: strict),
        .plugin(
            name: "HostessManifests", capability: .buildTool(), dependencies: ["hostess-manifest-tool"],
            path: "Sources/HostessManifestsPlugin"),

        // MARK: - Benchmarks

        .executableTarget(
            name: "hostess-bench", dependencies: ["HostessModel", "HostessSystem", "HostessRegion"],
            path: "Benchmarks/hostess-bench", swiftSettings: strict),

        // MARK: - Tests

        /// What several test targets share: the seeded generator of their random and fuzz tests.
        .target(name: "HostessTestSupport", path: "Tests/HostessTestSupport", swiftSettings: strict),
        .testTarget(name: "HostessModelTests", dependencies: ["HostessModel", "HostessTestSupport"], swiftSettings: strict),
        .testTarget(name: "HostessWiringTests", dependencies: ["HostessWiring", "HostessModel", "HostessTestSupport"], swiftSettings: strict),
        .testTarget(name: "HostessHTTPTests", dependencies: ["HostessHTTP", "HostessTestSupport"], swiftSettings: strict),
        /// Announcements byte by byte (layout, truncation, signatures, every refusal, fuzzing) and the peer table.
        .testTarget(
            name: "HostessMeshTests", dependencies: ["HostessMesh", "HostessModel", "HostessSystem", "HostessTestSupport"],
            swiftSettings: strict),
        /// Probe/beacon messages, hashes and MACs, report checks, instructions from the environment, line splitting, fuzzing.
        .testTarget(
            name: "HostessProbingTests", dependencies: ["HostessProbing", "HostessModel", "HostessSystem", "HostessTestSupport"],
            swiftSettings: strict),
        /// etcd's replies byte by byte (fixtures captured from a real etcd, every cut and mutation), the watch
        /// decoder split at every byte and in linear time, and the whole protocol against a private real etcd.
        .testTarget(
            name: "HostessDirectoryTests", dependencies: ["HostessDirectory", "HostessHTTP", "HostessModel", "HostessSystem", "HostessTestSupport"],
            exclude: ["Fixtures"], swiftSettings: strict),
        /// hostessd's decoding, executor, HTTP routes and configuration, without sockets or processes.
        .testTarget(
            name: "HostessDaemonTests", dependencies: ["HostessDaemon", "HostessModel", "HostessHTTP", "HostessLoop", "HostessProbing", "HostessTestSupport"],
            swiftSettings: strict),
        /// The syscall wrappers against loopback peers: the deadline heap, datagram sockets, outbound connects.
        .testTarget(name: "HostessSystemTests", dependencies: ["HostessSystem", "HostessTestSupport"], swiftSettings: strict),
        /// The loop's channels against loopback echo peers: outbound streams, datagrams, deadlines.
        .testTarget(name: "HostessLoopTests", dependencies: ["HostessLoop", "HostessSystem"], swiftSettings: strict),
        .testTarget(
            name: "HostessIntegrationTests",
            dependencies: [
                "HostessModel", "HostessSystem", "HostessRegion", "HostessClient", "hostessd", "hostess", "hostess-example-server", "shmdump",
                "hostess-beacon", "hostess-probe", "HostessProbing",
                "HostessTestSupport", "CHostessReader",
            ],
            // Run by the tests with python3 (standard library only), found next to their Swift callers; the C reader's
            // test driver, compiled by CReaderTests with the sanitizers.
            exclude: [
                "Support/http_client.py", "Support/netns_probe.py", "Support/mesh_packets.py", "Support/probe_impostor.py", "Support/fake_etcd.py",
                "CReaderDriver",
            ],
            swiftSettings: strict
        ),
    ]
)
