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
}
