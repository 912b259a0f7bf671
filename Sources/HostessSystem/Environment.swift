import CShim
import Glibc

// MARK: - Environment

/// The process environment as a dictionary.
public enum EnvironmentVariables {
    /// The current environment; an entry without '=' is skipped.
    public static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

// MARK: - Standard streams

/// Unbuffered writes to the standard streams.
public enum FileHandleWriter {
    /// Writes `text` to standard error.
    public static func standardError(_ text: String) {
        try? Syscall.writeAll(STDERR_FILENO, Array(text.utf8), socket: false)
    }

    /// Makes `print` line-buffered even into a pipe or a file.
    public static func lineBufferStandardOutput() {
        cshim_line_buffer_stdout()
    }

}
