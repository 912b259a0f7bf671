// MARK: - Arguments

/// A command's arguments split into positional arguments and options, with typed access and usage errors that
/// name the option. Options are `--name VALUE`, `--name=VALUE`, or flags; repeated options keep every value.
/// The global options (``GlobalOptions``) are taken out before.
struct Arguments {
    private(set) var positionals: [String] = []
    private var values: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// Splits `arguments` given which options take a value and which are flags.
    init(_ arguments: [String], valued: Set<String>, flags allowedFlags: Set<String>) throws(UsageError) {
        var index = 0
        var onlyPositionals = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if onlyPositionals || !argument.hasPrefix("-") || argument == "-" {
                positionals.append(argument)
                continue
            }
            if argument == "--" {
                onlyPositionals = true
                continue
            }
            var name = argument
            var value: String?
            if let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            if allowedFlags.contains(name) {
                guard value == nil else { throw UsageError("\(name) takes no value") }
                flags.insert(name)
            } else if valued.contains(name) {
                if value == nil {
                    guard index < arguments.count else { throw UsageError("\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
                values[name, default: []].append(value ?? "")
            } else {
                let known = valued.union(allowedFlags).union(GlobalOptions.names).union(["--help"])
                throw UsageError("unknown option '\(name)'\(Suggestions.phrase(for: name, in: known))")
            }
        }
    }

    /// Whether a flag was given.
    func flag(_ name: String) -> Bool { flags.contains(name) }

    /// The last value of an option, if given.
    func value(_ name: String) -> String? { values[name]?.last }

    /// Every value of a repeatable option.
    func all(_ name: String) -> [String] { values[name] ?? [] }

    /// A whole number option within `range`.
    func integer(_ name: String, in range: ClosedRange<Int>) throws(UsageError) -> Int? {
        guard let text = value(name) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw UsageError("\(name): expected a whole number from \(range.lowerBound) to \(range.upperBound), found '\(text)'")
        }
        return number
    }

    /// A seconds option within `range`.
    func seconds(_ name: String, in range: ClosedRange<Double>) throws(UsageError) -> Double? {
        guard let text = value(name) else { return nil }
        guard let number = Double(text), range.contains(number) else {
            throw UsageError("\(name): expected seconds from \(range.lowerBound) to \(range.upperBound), found '\(text)'")
        }
        return number
    }

    /// Exactly `names.count` positional arguments.
    func expect(_ names: String...) throws(UsageError) -> [String] {
        guard positionals.count == names.count else {
            let wanted = names.map { $0.uppercased() }.joined(separator: " ")
            throw UsageError("expected \(names.isEmpty ? "no arguments" : wanted), found \(positionals.count) argument\(positionals.count == 1 ? "" : "s")")
        }
        return positionals
    }
}

// MARK: - UsageError

/// A mistake on the command line; exit status 2.
struct UsageError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

// MARK: - GlobalOptions

/// The options every command takes, before or after its name, as kubectl and docker take theirs: where the
/// daemon is, how reads go, and `--json`. No command has an option of the same name (`hostess` checks that
/// at start in debug builds), so `hostess list --json` and `hostess --json list` are the same command.
struct GlobalOptions {
    /// `--socket PATH`.
    var socketPath: String?
    /// `--shm NAME`.
    var sharedMemoryName: String?
    /// `--via shm|socket`.
    var via: Context.Via?
    /// `--json`.
    var json = false
    /// `--http URL`.
    var httpURL: String?
    /// `--key-id K`.
    var keyID: String?
    /// `--secret-file FILE`.
    var secretFile: String?

    /// The global options that take a value.
    static let valued: Set<String> = ["--socket", "--shm", "--via", "--http", "--key-id", "--secret-file"]
    /// The global flags.
    static let flags: Set<String> = ["--json"]
    /// Every global option's name.
    static let names = valued.union(flags)

    /// Takes option `name` (with its `inline` value after `=`, else the next of `remaining`) if it is global;
    /// returns whether it was.
    mutating func take(_ name: String, inline: String?, from remaining: inout ArraySlice<String>) throws(UsageError) -> Bool {
        if Self.flags.contains(name) {
            guard inline == nil else { throw UsageError("\(name) takes no value") }
            json = true
            return true
        }
        guard Self.valued.contains(name) else { return false }
        guard let value = inline ?? remaining.popFirst() else { throw UsageError("\(name) needs \(Self.valueName(name))") }
        switch name {
        case "--socket": socketPath = value
        case "--shm": sharedMemoryName = value
        case "--via":
            guard let route = Context.Via(rawValue: value) else { throw UsageError("--via: expected shm or socket, found '\(value)'") }
            via = route
        case "--http": httpURL = value
        case "--key-id": keyID = value
        default: secretFile = value
        }
        return true
    }

    /// What option `name` takes, for messages.
    private static func valueName(_ name: String) -> String {
        switch name {
        case "--socket": "a path"
        case "--shm": "a region name"
        case "--via": "shm or socket"
        case "--http": "a URL (http://HOST:PORT)"
        case "--key-id": "a key id"
        default: "a file"
        }
    }
}

// MARK: - Invocation

/// A whole command line: the global options, the command, and the command's own arguments, with `--help`,
/// `-h` and `--version` noted wherever they are. A command's option that takes a value keeps the word after
/// it even when that word looks like a global option (`--name --json` names a server `--json`); after `--`
/// every word is the command's.
struct Invocation {
    /// The global options given.
    var global = GlobalOptions()
    /// The command named, if any.
    var command: Command?
    /// The command's own arguments, in order.
    var arguments: [String] = []
    /// Whether `--help` or `-h` was given.
    var help = false
    /// Whether `--version` was given.
    var version = false

    /// Splits `words` (the command line without the program name) against `commands`.
    init(_ words: [String], commands: [Command]) throws(UsageError) {
        var remaining = words[...]
        while let word = remaining.popFirst() {
            if word == "--" && command != nil {
                arguments.append(word)
                arguments += remaining
                break
            }
            if word == "--help" || word == "-h" {
                help = true
                continue
            }
            if word == "--version" {
                version = true
                continue
            }
            if word.hasPrefix("--") {
                let (name, inline) = Self.split(word)
                if try global.take(name, inline: inline, from: &remaining) { continue }
            }
            guard let command else {
                guard !word.hasPrefix("-") || word == "-" else {
                    let known = GlobalOptions.names.union(["--help", "--version"])
                    var message = "unknown option '\(word)'\(Suggestions.phrase(for: Self.split(word).name, in: known))"
                    if commands.contains(where: { $0.valued.contains(Self.split(word).name) || $0.flags.contains(word) }) {
                        message += " (a command's own options go after its name: hostess COMMAND \(word) …)"
                    }
                    throw UsageError(message)
                }
                guard let named = commands.first(where: { $0.name == word }) else {
                    let near = Suggestions.phrase(for: word, in: commands.map(\.name))
                    throw UsageError(
                        "unknown command '\(word)'" + (near.isEmpty ? "; commands: \(commands.map(\.name).joined(separator: ", "))" : near))
                }
                self.command = named
                continue
            }
            arguments.append(word)
            if command.valued.contains(word), let value = remaining.popFirst() { arguments.append(value) }
        }
    }

    /// `--name=value` as its name and value; a word without `=` is all name.
    private static func split(_ word: String) -> (name: String, value: String?) {
        guard let equals = word.firstIndex(of: "=") else { return (word, nil) }
        return (String(word[..<equals]), String(word[word.index(after: equals)...]))
    }
}
