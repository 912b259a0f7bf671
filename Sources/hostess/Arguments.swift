// MARK: - Arguments

/// A command line split into positional arguments and options, with typed access and usage errors that name
/// the option. Options are `--name VALUE`, `--name=VALUE`, or flags; repeated options keep every value.
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
                throw UsageError("unknown option '\(name)'")
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
