import Foundation
import Glibc

// MARK: - NamespaceLab

/// A few network namespaces joined by a Linux bridge: "machines" for multi-machine tests, on one host.
///
/// Layout for a lab tagged `hst-1a2b3c` with three machines:
///
///     hst-1a2b3c-br   bridge br0, ports p0 p1 p2           (its own namespace, never the host's)
///     hst-1a2b3c-a    lo, eth0 = 10.213.X.1/24  <-veth-> p0
///     hst-1a2b3c-b    lo, eth0 = 10.213.X.2/24  <-veth-> p1
///     hst-1a2b3c-c    lo, eth0 = 10.213.X.3/24  <-veth-> p2
///
/// `X` is random per lab. IPv4 lives only inside the namespaces; IPv6 link-local addresses come for free (with
/// duplicate address detection off, so they are usable at once). Each `eth0` has multicast on and routes for
/// `224.0.0.0/4` and `ff00::/8`, so a multicast send has an interface without a default route. The bridge does no
/// IGMP/MLD snooping and no STP, so multicast floods to every port at once.
///
/// Every `ip` command the lab runs names one of its own namespaces (`ip netns add|del NAME`, `ip -n NAME ...`,
/// `ip netns exec NAME ...`): the host's root namespace and its interfaces are never touched. `close()` (also
/// run by `deinit`, and by `init` when set-up fails half way) kills what runs inside the namespaces and deletes
/// them, which deletes their links too.
final class NamespaceLab: @unchecked Sendable {
    /// The interface each machine has on the bridge.
    static let interfaceName = "eth0"
    /// How long one `ip` command may take.
    static let commandTimeout: Double = 10

    /// The lab's unique prefix, `hst-` and 6 random hex digits.
    let tag: String
    /// The third octet of the lab's subnet, `10.213.<subnet>.0/24`.
    let subnet: Int
    /// The namespace holding the bridge.
    let bridgeNamespace: String
    /// The machines' namespaces, in order.
    let namespaces: [String]
    /// What set-up could not do with IPv6 (nil when IPv6 was set up fully).
    private(set) var ipv6Note: String?

    private let lock = NSLock()
    /// Namespaces this lab created and has not deleted yet.
    private var created: [String] = []
    /// Processes started by `spawn`, killed by `close()`.
    private var spawned: [Process] = []
    private var closed = false

    // MARK: Set-up

    /// Creates `count` (1–26) machines on one bridge. Throws (after removing whatever it made) when a step fails.
    init(count: Int = 3) throws {
        guard (1...26).contains(count) else { throw TestFailure("NamespaceLab: count \(count) is not in 1...26") }
        let tag = "hst-" + String(format: "%06x", UInt32.random(in: 0...0xFF_FFFF))
        self.tag = tag
        subnet = Int.random(in: 0...255)
        bridgeNamespace = tag + "-br"
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        namespaces = (0..<count).map { "\(tag)-\(letters[$0])" }
        do { try build() } catch {
            close()
            throw error
        }
    }

    private func build() throws {
        let bridge = bridgeNamespace
        try addNamespace(bridge)
        try ip(["-n", bridge, "link", "set", "lo", "up"])
        try ip(["-n", bridge, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"])
        try ip(["-n", bridge, "link", "set", "br0", "up"])
        let eth = Self.interfaceName
        for (index, ns) in namespaces.enumerated() {
            try addNamespace(ns)
            // Before the veth arrives, so its link-local address skips duplicate address detection.
            disableDAD(ns, interfaces: ["all", "default"])
            let port = "p\(index)"
            // Made inside the bridge's namespace, the peer moved straight into the machine's: never in the root.
            try ip(["-n", bridge, "link", "add", port, "type", "veth", "peer", "name", eth, "netns", ns])
            try ip(["-n", bridge, "link", "set", port, "master", "br0"])
            try ip(["-n", bridge, "link", "set", port, "up"])
            disableDAD(ns, interfaces: [eth])
            try ip(["-n", ns, "link", "set", "lo", "up"])
            try ip(["-n", ns, "addr", "add", address(of: index) + "/24", "dev", eth])
            try ip(["-n", ns, "link", "set", eth, "multicast", "on"])
            try ip(["-n", ns, "link", "set", eth, "up"])
            try ip(["-n", ns, "route", "add", "224.0.0.0/4", "dev", eth])
            if let failure = try? Self.ipCommand(["-6", "-n", ns, "route", "replace", "ff00::/8", "dev", eth]), failure.status != 0 {
                ipv6Note = "ip -6 route ff00::/8 in \(ns): \(failure.stderr)"
            }
        }
        try waitForLinkLocal()
    }

    /// Turns IPv6 duplicate address detection off for `interfaces` in `ns` (a no-op where IPv6 is missing).
    private func disableDAD(_ ns: String, interfaces: [String]) {
        let writes = interfaces.map { "echo 0 > /proc/sys/net/ipv6/conf/\($0)/accept_dad" }.joined(separator: "; ")
        _ = try? Self.ipCommand(["netns", "exec", ns, "/bin/sh", "-c", writes + " 2>/dev/null; true"])
    }

    /// Waits (at most 3 s) until every machine has a link-local address that is no longer tentative.
    private func waitForLinkLocal() throws {
        let deadline = Date().addingTimeInterval(3)
        var pending = Array(namespaces.indices)
        while !pending.isEmpty && Date() < deadline {
            pending = pending.filter { index in
                guard let outcome = try? Self.ipCommand(["-6", "-o", "-n", namespaces[index], "addr", "show", "dev", Self.interfaceName, "scope", "link"])
                else { return true }
                return !(outcome.stdout.contains("fe80:") && !outcome.stdout.contains("tentative"))
            }
            if !pending.isEmpty { usleep(50_000) }
        }
        if !pending.isEmpty && ipv6Note == nil {
            ipv6Note = "no usable IPv6 link-local address on \(pending.map { namespaces[$0] }) within 3 s"
        }
    }

    private func addNamespace(_ ns: String) throws {
        try ip(["netns", "add", ns])
        lock.withLock { created.append(ns) }
    }

    /// Runs `ip arguments` (which name one of this lab's namespaces) and throws unless it succeeds.
    private func ip(_ arguments: [String]) throws {
        let outcome = try Self.ipCommand(arguments)
        guard outcome.status == 0 else { throw TestFailure("NamespaceLab \(tag): ip \(arguments.joined(separator: " ")) failed: \(outcome)") }
    }

    // MARK: Machines

    /// The name of machine `ns`'s namespace.
    func name(of ns: Int) -> String {
        precondition(namespaces.indices.contains(ns), "NamespaceLab has no machine \(ns)")
        return namespaces[ns]
    }

    /// Machine `ns`'s interface on the bridge.
    func interface(of ns: Int) -> String {
        precondition(namespaces.indices.contains(ns), "NamespaceLab has no machine \(ns)")
        return Self.interfaceName
    }

    /// Machine `ns`'s IPv4 address (without prefix length), `10.213.<subnet>.<ns + 1>`.
    func address(of ns: Int) -> String {
        precondition(namespaces.indices.contains(ns), "NamespaceLab has no machine \(ns)")
        return "10.213.\(subnet).\(ns + 1)"
    }

    /// Machine `ns`'s IPv6 link-local address on its interface (without `%scope`), nil when it has none.
    func linkLocalAddress(of ns: Int) -> String? {
        guard let outcome = try? Self.ipCommand(["-6", "-o", "-n", name(of: ns), "addr", "show", "dev", Self.interfaceName, "scope", "link"]),
            outcome.status == 0
        else { return nil }
        // "2: eth0    inet6 fe80::1c2d:.../64 scope link \       valid_lft ..."
        let words = outcome.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let at = words.firstIndex(of: "inet6"), words.index(after: at) < words.endIndex else { return nil }
        return words[words.index(after: at)].split(separator: "/").first.map(String.init)
    }

    // MARK: Running processes inside

    /// The `ip netns exec` prefix that runs a command in `namespace`.
    static func execPrefix(_ namespace: String) -> (executable: String, arguments: [String]) {
        (ipPath ?? "/usr/sbin/ip", ["netns", "exec", namespace])
    }

    /// Runs `executable arguments` inside machine `ns` and waits at most `timeout` seconds for it.
    func run(_ ns: Int, _ executable: String, _ arguments: [String], timeout: Double = 30) throws -> CLI.Outcome {
        guard namespaces.indices.contains(ns) else { throw TestFailure("NamespaceLab has no machine \(ns)") }
        guard !lock.withLock({ closed }) else { throw TestFailure("NamespaceLab \(tag) is closed") }
        let prefix = Self.execPrefix(namespaces[ns])
        return try CLI.run(prefix.executable, prefix.arguments + [executable] + arguments, timeout: timeout)
    }

    /// Starts `executable arguments` inside machine `ns` without waiting; `close()` kills it if it still runs.
    /// Output goes to the given handles (nowhere when nil). The child inherits the test process's signal mask,
    /// where SIGTERM and SIGINT are blocked: stop it with SIGKILL unless it unblocks them (hostessd reads its
    /// signals through a signalfd, so SIGTERM does stop it).
    func spawn(_ ns: Int, executable: String, arguments: [String], stdout: FileHandle? = nil, stderr: FileHandle? = nil) throws -> Process {
        guard namespaces.indices.contains(ns) else { throw TestFailure("NamespaceLab has no machine \(ns)") }
        let prefix = Self.execPrefix(namespaces[ns])
        let process = Process()
        process.executableURL = URL(fileURLWithPath: prefix.executable)
        process.arguments = prefix.arguments + [executable] + arguments
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = stderr ?? FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try lock.withLock {
            guard !closed else { throw TestFailure("NamespaceLab \(tag) is closed") }
            try process.run()
            spawned.append(process)
        }
        return process
    }

    /// Waits at most `timeout` seconds for `process` to exit; returns its status, or nil (after SIGKILL) when it
    /// did not.
    @discardableResult
    static func wait(_ process: Process, timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    // MARK: Tear-down

    /// Kills whatever still runs in the lab's namespaces and deletes them (and with them every link the lab made).
    /// Idempotent; safe after a failed set-up.
    func close() {
        let (processes, names): ([Process], [String]) = lock.withLock {
            closed = true
            defer { spawned = []; created = [] }
            return (spawned, created)
        }
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        for process in processes { Self.wait(process, timeout: 2) }
        // Anything else left inside (a run() child, a DaemonProcess) would keep a deleted namespace alive.
        for ns in names {
            guard let pids = try? Self.ipCommand(["netns", "pids", ns]), pids.status == 0 else { continue }
            for pid in pids.stdout.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) where pid > 1 {
                kill(pid, SIGKILL)
            }
        }
        // Machines first, the bridge last: deleting a machine's namespace deletes its veth pair.
        for ns in names.reversed() {
            _ = try? Self.ipCommand(["netns", "del", ns])
        }
    }

    deinit { close() }

    // MARK: Availability

    /// The `ip` binary, nil when there is none.
    static let ipPath: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs `ip arguments`, at most `commandTimeout` seconds.
    static func ipCommand(_ arguments: [String]) throws -> CLI.Outcome {
        guard let ipPath else { throw TestFailure("no ip binary (iproute2) on this machine") }
        return try CLI.run(ipPath, arguments, timeout: commandTimeout)
    }

    /// Whether labs can be made here, and why not when they cannot: creates a namespace with a bridge and a veth
    /// pair inside it, runs `true` in it, and deletes it. Checked once per test process.
    static var available: (Bool, String) { probe }

    private static let probe: (Bool, String) = {
        guard ipPath != nil else { return (false, "no ip binary (install iproute2)") }
        let ns = "hst-" + String(format: "%06x", UInt32.random(in: 0...0xFF_FFFF)) + "-probe"
        defer { _ = try? ipCommand(["netns", "del", ns]) }
        let steps: [[String]] = [
            ["netns", "add", ns],
            ["-n", ns, "link", "add", "br0", "type", "bridge"],
            ["-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
            ["-n", ns, "link", "set", "v0", "master", "br0"],
            ["netns", "exec", ns, "true"],
        ]
        for step in steps {
            do {
                let outcome = try ipCommand(step)
                guard outcome.status == 0 else {
                    return (false, "network namespaces unavailable: ip \(step.joined(separator: " ")): \(outcome.stderr)")
                }
            } catch {
                return (false, "network namespaces unavailable: ip \(step.joined(separator: " ")): \(error)")
            }
        }
        return (true, "network namespaces available")
    }()
}
