import Glibc

// MARK: - DefaultPaths

/// Where hostessd and its clients meet when no path is given.
public enum DefaultPaths {
    /// `$HOSTESS_SOCKET` when set; else `/run/hostess/hostess.sock` for root; else
    /// `$XDG_RUNTIME_DIR/hostess/hostess.sock`, falling back to `/tmp/hostess-UID/hostess.sock`.
    public static func socket(environment: [String: String]) -> String {
        if let path = environment["HOSTESS_SOCKET"], !path.isEmpty { return path }
        if getuid() == 0 { return "/run/hostess/hostess.sock" }
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") { return runtime + "/hostess/hostess.sock" }
        return "/tmp/hostess-\(getuid())/hostess.sock"
    }

    /// The socket a hostessd running as root listens on by default.
    public static let systemSocket = "/run/hostess/hostess.sock"

    /// `$HOSTESS_SHM` when set; else `/hostess-registry` for root and `/hostess-registry-UID` for anyone else,
    /// so that each user's hostessd publishes under its own name, as it listens on its own socket.
    public static func sharedMemoryName(environment: [String: String]) -> String {
        if let name = environment["HOSTESS_SHM"], !name.isEmpty { return name }
        return sharedMemoryName(uid: getuid())
    }

    /// The default region name of a hostessd running as `uid` (without `--shm` or `$HOSTESS_SHM`).
    public static func sharedMemoryName(uid: UInt32) -> String { uid == 0 ? "/hostess-registry" : "/hostess-registry-\(uid)" }
}
