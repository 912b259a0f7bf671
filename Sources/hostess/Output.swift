import HostessModel

// MARK: - Output

/// Tables and detail views for people; `--json` prints the wire form instead.
enum Output {
    /// Prints entries as a table, or as one JSON array.
    static func entries(_ entries: [GuestBookEntry], json: Bool) {
        if json {
            print(JSONValue.array(entries.map(\.json)).jsonText)
            return
        }
        let rows = entries.map { entry in
            [
                entry.id, entry.name.classCode.description,
                entry.terminals.map { "\($0.name)(\($0.inUse ? "in use" : "free"))" }.joined(separator: " "),
                entry.capabilities.joined(separator: ","),
            ]
        }
        print(table(header: ["ID", "CLASS", "TERMINALS", "CAPABILITIES"], rows: rows))
        print("\(entries.count) entr\(entries.count == 1 ? "y" : "ies")")
    }

    /// One entry, field by field.
    static func details(_ entry: GuestBookEntry) -> String {
        var lines = [
            "id:             \(entry.id)",
            "fqdn:           \(entry.name.fqdn)",
            "servername:     \(entry.name.servername)",
            "class:          \(entry.name.classCode)",
            "owner:          \(entry.name.owner)",
            "uuid:           \(entry.name.uuid)",
            "authentication: \(entry.name.authentication.rawValue) (\(entry.name.authMechanism))",
            "capabilities:   \(entry.capabilities.joined(separator: ", "))",
            "registeredAt:   \(entry.registeredAt)",
            "lastHeartbeat:  \(entry.lastHeartbeat)",
            "serial:         \(entry.serial)\(entry.session ? " (session)" : "")",
            "metadata:       \(JSONValue.object(entry.metadata).jsonText)",
            "terminals:",
        ]
        let rows = entry.terminals.map { terminal in
            [
                terminal.name, terminal.direction.rawValue, terminal.multiplexing.rawValue, terminal.protocol ?? "-",
                terminal.inUse ? "in use" : "free", terminal.connectedTo.joined(separator: ","),
            ]
        }
        lines.append(table(header: ["  NAME", "DIRECTION", "MULTIPLEXING", "PROTOCOL", "STATE", "CONNECTED TO"], rows: rows.map { ["  " + $0[0]] + $0[1...] }))
        return lines.joined(separator: "\n")
    }

    /// A value as plain text: strings bare, everything else as JSON.
    static func plain(_ value: JSONValue) -> String {
        if case .string(let string) = value { return string }
        return value.jsonText
    }

    /// Left-aligned columns separated by two spaces.
    static func table(header: [String], rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                if column == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[column] - cell.count + 2)
                }
            }
            return text
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}
