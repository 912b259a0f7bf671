import Foundation
import Glibc
import HostessSystem
import Testing

/// Each user's hostessd meets its clients on its own socket and publishes under its own region name, so a
/// second user beside a root hostessd neither collides with it nor is told to remove it.
@Suite("defaults per user")
struct PerUserDefaultsTests {
    @Test("the default region name is /hostess-registry for root and carries the uid for anyone else; $HOSTESS_SHM overrides it")
    func defaultNames() {
        #expect(DefaultPaths.sharedMemoryName(uid: 0) == "/hostess-registry")
        #expect(DefaultPaths.sharedMemoryName(uid: 1000) == "/hostess-registry-1000")
        #expect(DefaultPaths.sharedMemoryName(uid: 65534) == "/hostess-registry-65534")
        #expect(DefaultPaths.sharedMemoryName(environment: ["HOSTESS_SHM": "/mine"]) == "/mine")
        #expect(DefaultPaths.sharedMemoryName(environment: ["HOSTESS_SHM": ""]) == DefaultPaths.sharedMemoryName(uid: getuid()))
    }

    /// A root hostessd, and a scratch directory with a subdirectory `nobody` may write its socket in.
    static func besideRoot() throws -> (root: DaemonProcess, scratch: ScratchDirectory, directory: String) {
        let root = try DaemonProcess()
        let scratch = try ScratchDirectory()
        let directory = scratch.path + "/nobody"
        mkdir(directory, 0o777)
        chmod(directory, 0o777)
        return (root, scratch, directory)
    }

    @Test("another user's hostessd given the name of root's live region is told whose it is and what to do, never to remove it")
    func liveRegionOfAnotherUser() throws {
        let (root, scratch, directory) = try Self.besideRoot()
        let binary = try CLI.copyForOtherUsers("hostessd", into: scratch)
        let started = try CLI.run(binary, ["--socket", directory + "/s.sock", "--shm", root.sharedMemoryName], asNobody: true, timeout: 10)
        #expect(started.status == 1, "\(started)")
        #expect(started.stderr.contains("region \(root.sharedMemoryName) is published by a running hostessd of uid 0 (root)"), "\(started)")
        #expect(started.stderr.contains("this hostessd runs as uid 65534"), "\(started)")
        #expect(started.stderr.contains("uid 65534's default is /hostess-registry-65534"), "\(started)")
        let refusal = started.stderr.split(separator: "\n").filter { $0.contains("error:") }.joined()
        #expect(!refusal.contains("rm ") && !refusal.contains("remove"), "never suggests removing a live region: \(refusal)")
        // Root's daemon and its region are untouched.
        #expect(try root.client().request("status").errorCode == nil)
        #expect(FileManager.default.fileExists(atPath: "/dev/shm" + root.sharedMemoryName))
    }

    @Test("without --shm, another user's hostessd publishes its own region, named for its uid, beside root's, and removes it when stopped")
    func ownRegionByDefault() throws {
        let (root, scratch, directory) = try Self.besideRoot()
        let binary = try CLI.copyForOtherUsers("hostessd", into: scratch)
        let hostess = try CLI.copyForOtherUsers("hostess", into: scratch)
        let region = "/dev/shm/hostess-registry-65534"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", binary, "--socket", directory + "/s.sock"]
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        // The socket's file exists once it is bound, before the region is installed and clients are let in:
        // wait until it accepts a connection.
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && process.isRunning {
            if let client = try? RawClient(path: directory + "/s.sock") {
                client.close()
                break
            }
            usleep(20_000)
        }
        var info = stat()
        #expect(stat(region, &info) == 0 && info.st_uid == 65534, "nobody's region is \(region)")
        let status = try CLI.run(hostess, ["--socket", directory + "/s.sock", "--json", "status"], asNobody: true)
        #expect(status.status == 0, "\(status)")
        #expect(status.stdout.contains(#""shm":"/hostess-registry-65534""#), "\(status)")
        // Root's daemon goes on publishing its own.
        #expect(try root.client().request("status").errorCode == nil)
        kill(process.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < stopDeadline { usleep(20_000) }
        #expect(!process.isRunning)
        #expect(!FileManager.default.fileExists(atPath: region), "a clean stop removes the region")
    }
    @Test("beside a root hostessd on its defaults, another user's client that finds no daemon of its own is told where the system's listens")
    func pointedAtTheSystemDaemon() throws {
        let scratch = try ScratchDirectory()
        let hostessd = try CLI.copyForOtherUsers("hostessd", into: scratch)
        let hostess = try CLI.copyForOtherUsers("hostess", into: scratch)
        // Private /run and /dev/shm, so root's daemon can use its real defaults without touching the machine's.
        let script = try scratch.write(
            "run.sh",
            """
            mount -t tmpfs -o mode=1777 tmpfs /dev/shm && mount -t tmpfs -o mode=0755 tmpfs /run || exit 90
            '\(hostessd)' > '\(scratch.path)/daemon.log' 2>&1 < /dev/null &
            daemon=$!
            for _ in $(seq 1 200); do [ -S /run/hostess/hostess.sock ] && break; sleep 0.05; done
            HOSTESS_SOCKET= XDG_RUNTIME_DIR= setpriv --reuid=nobody --regid=nogroup --clear-groups '\(hostess)' list
            echo "status $?"
            kill $daemon; wait $daemon
            """)
        let outcome = try CLI.run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/bash", script], timeout: 30)
        #expect(outcome.stdout.contains("status 1"), "\(outcome)")
        #expect(outcome.stderr.contains("cannot connect to /tmp/hostess-65534/hostess.sock"), "\(outcome)")
        #expect(
            outcome.stderr.contains("the system's hostessd listens on /run/hostess/hostess.sock: pass --socket /run/hostess/hostess.sock or set HOSTESS_SOCKET"),
            "\(outcome)")
    }
}
