// MARK: - Suggestions

/// "Did you mean …?" for a mistyped command, option or word: the known names closest to what was typed,
/// by edit distance (insertions, deletions, substitutions and swaps of two neighbours each count one).
enum Suggestions {
    /// The names in `known` nearest to `typed`, when they are near enough to be what was meant: at most one
    /// edit for a word of up to five characters, two up to eight, three beyond. Several names come back
    /// only when they are equally near; none when nothing is near.
    static func nearest(to typed: String, in known: some Sequence<String>) -> [String] {
        let allowed = typed.count <= 5 ? 1 : typed.count <= 8 ? 2 : 3
        var best = allowed + 1
        var found: [String] = []
        for name in Set(known).sorted() {
            let distance = editDistance(typed, name, limit: best)
            if distance < best {
                best = distance
                found = [name]
            } else if distance == best {
                found.append(name)
            }
        }
        return best <= allowed ? found : []
    }

    /// `; did you mean 'list'?` (or `'a' or 'b'`) when something in `known` is near `typed`, else "".
    static func phrase(for typed: String, in known: some Sequence<String>) -> String {
        let names = nearest(to: typed, in: known)
        guard !names.isEmpty else { return "" }
        return "; did you mean " + names.map { "'\($0)'" }.joined(separator: " or ") + "?"
    }

    /// The optimal-string-alignment distance between `a` and `b`, or any number above `limit` once it is
    /// certain to exceed it.
    static func editDistance(_ a: String, _ b: String, limit: Int) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard abs(a.count - b.count) <= limit else { return limit + 1 }
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        // Three rows of the dynamic-programming table: two rows back (for swaps), the last, and this one.
        var before = [Int](repeating: 0, count: b.count + 1)
        var last = Array(0...b.count)
        var row = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            var smallest = row[0]
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                row[j] = min(last[j] + 1, row[j - 1] + 1, last[j - 1] + cost)
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] { row[j] = min(row[j], before[j - 2] + 1) }
                smallest = min(smallest, row[j])
            }
            guard smallest <= limit else { return limit + 1 }
            (before, last, row) = (last, row, before)
        }
        return last[b.count]
    }
}
