// MARK: - EntryReply

/// A success reply of the line protocol that carries guest book entries, read straight from its bytes:
/// `{"id":…,"revision":…,"result":{"entries":[…]}}` (`listAll`, `query`) or `{…,"result":{"entry":…}}`
/// (`getServer`, `markInUse`, `markAvailable`).
///
/// Reading is one pass over the line that builds no JSON tree for the entries' structure; only free-form
/// metadata is handed to ``JSONParser``, one value at a time. It is a fast path for the replies hostessd writes,
/// not a second set of rules: at anything it does not expect (an error reply, another member, a duplicate, an
/// escape in a key, a number that is not an `Int64`, a name or terminal the model refuses, any malformation) it
/// gives up and returns nil. The caller then reads the line with ``JSONParser`` and ``GuestBookEntry/init(json:)``,
/// which accept whatever this accepts, give equal values, and name the field that is wrong.
public struct EntryReply: Sendable, Equatable {
    /// What a reply's `result` carries.
    public enum Payload: Sendable, Equatable {
        /// `result.entries`.
        case entries([GuestBookEntry])
        /// `result.entry`.
        case entry(GuestBookEntry)
    }

    /// The id of the request the reply answers.
    public var id: Int64
    /// The guest book revision when the daemon answered.
    public var revision: UInt64
    /// The entries the result carries.
    public var payload: Payload
}

extension EntryReply {
    /// Reads a reply line (without its newline).
    /// - Returns: nil when the line is anything but a well-formed success reply of this shape; read it as a
    ///   JSON tree then.
    public init?(line: some Collection<UInt8>) {
        guard let reply = EntryDecoder.document(line, { $0.reply() }) else { return nil }
        self = reply
    }
}

// MARK: - Entries from bytes

extension GuestBookEntry {
    /// Reads an entry from its wire form, a JSON document of one entry (the body of `GET /servers/{id}`), in one
    /// pass as ``EntryReply`` reads a reply.
    /// - Returns: nil when the fast path does not take the bytes; ``JSONParser`` and ``init(json:)`` then give the
    ///   verdict, and the precise error.
    public init?(wireForm bytes: some Collection<UInt8>) {
        guard let entry = EntryDecoder.document(bytes, { $0.entry(depth: 1) }) else { return nil }
        self = entry
    }

    /// Reads a JSON array of entries' wire forms (the body of `GET /servers` and `POST /query`), in one pass as
    /// ``EntryReply`` reads a reply.
    /// - Returns: nil when the fast path does not take the bytes; ``JSONParser`` and ``init(json:)`` then give the
    ///   verdict, and the precise error.
    public static func list(wireForm bytes: some Collection<UInt8>) -> [GuestBookEntry]? {
        EntryDecoder.document(bytes) { $0.entries(depth: 1) }
    }
}

// MARK: - EntryDecoder

/// A one-pass reader of entries' wire forms over a byte buffer.
///
/// It reads what ``JSONParser`` followed by ``GuestBookEntry/init(json:)`` reads, by the same rules: white space
/// between tokens, keys unique byte for byte, strings valid UTF-8 without control characters, members that are
/// `null` read as absent, integers exactly as the parser makes `.int`s of them. Each method returns nil at the
/// first byte it does not expect, and nothing it does traps on any input. What it does not read itself it hands
/// to ``JSONParser`` with its nesting depth: free-form metadata, strings with escapes, and the values of members
/// `GuestBookEntry(json:)` ignores (`fqdn`, `authentication`, `inUse`, …). The objects it reads itself have a
/// fixed set of members, and nest at most 7 deep, so the parser's limits on members and depth cannot be reached
/// in them; every check is linear in the input.
struct EntryDecoder {
    private let buffer: UnsafeBufferPointer<UInt8>
    private var index = 0

    private init(buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    /// Reads `bytes` as one document (white space around it allowed) with `read`.
    static func document<Bytes: Collection<UInt8>, Value>(_ bytes: Bytes, _ read: (inout EntryDecoder) -> Value?) -> Value? {
        func whole(_ buffer: UnsafeBufferPointer<UInt8>) -> Value? {
            var decoder = EntryDecoder(buffer: buffer)
            decoder.skipWhitespace()
            guard let value = read(&decoder) else { return nil }
            decoder.skipWhitespace()
            return decoder.index == buffer.count ? value : nil
        }
        if let value = bytes.withContiguousStorageIfAvailable(whole) { return value }
        return Array(bytes).withUnsafeBufferPointer(whole)
    }

    // MARK: Documents

    /// A reply line: an object of `id`, `revision` and `result`, the result holding `entries` or `entry`.
    mutating func reply() -> EntryReply? {
        var id: Int64?
        var revision: UInt64?
        var payload: EntryReply.Payload?
        let closed = object { (decoder: inout EntryDecoder, member: ReplyMember) -> Bool in
            switch member {
            case .id:
                id = decoder.integer()
                return id != nil
            case .revision:
                guard let value = decoder.integer(), value >= 0 else { return false }
                revision = UInt64(value)
                return true
            case .result:
                payload = decoder.result()
                return payload != nil
            }
        }
        guard closed, let id, let revision, let payload else { return nil }
        return EntryReply(id: id, revision: revision, payload: payload)
    }

    /// A reply's `result`, at depth 2: an object of exactly one member, `entries` or `entry`.
    private mutating func result() -> EntryReply.Payload? {
        var payload: EntryReply.Payload?
        let closed = object { (decoder: inout EntryDecoder, member: ResultMember) -> Bool in
            guard payload == nil else { return false }
            switch member {
            case .entries: payload = decoder.entries(depth: 3).map(EntryReply.Payload.entries)
            case .entry: payload = decoder.entry(depth: 3).map(EntryReply.Payload.entry)
            }
            return payload != nil
        }
        return closed ? payload : nil
    }

    /// An array of entries, itself at `depth`.
    mutating func entries(depth: Int) -> [GuestBookEntry]? {
        var entries: [GuestBookEntry] = []
        let closed = array { (decoder: inout EntryDecoder) -> Bool in
            guard let entry = decoder.entry(depth: depth + 1) else { return false }
            entries.append(consume entry)
            return true
        }
        return closed ? entries : nil
    }

    // MARK: Entries

    /// An entry, an object at `depth`, read as ``GuestBookEntry/init(json:)`` reads it: `id` required, the other
    /// members optional, the identity members (`fqdn`, `class`, …) checked as JSON and otherwise ignored.
    mutating func entry(depth: Int) -> GuestBookEntry? {
        var name: ServerName?
        var terminals: [Terminal] = []
        var capabilities: [String] = []
        var metadata = JSONObject()
        var registeredAt: Int64 = 0
        var lastHeartbeat: Int64 = 0
        var serial: UInt64 = 0
        var session = false
        var reservedBy: String?
        let closed = object { (decoder: inout EntryDecoder, member: EntryMember) -> Bool in
            switch member {
            case .id:
                name = decoder.serverName()
                return name != nil
            case .fqdn, .servername, .class, .owner, .uuid:
                return decoder.skipValue(depth: depth)
            case .authentication:
                return decoder.skipAuthentication(depth: depth)
            case .terminals:
                guard !decoder.null() else { return true }
                guard let read = decoder.terminals(depth: depth + 1) else { return false }
                terminals = read
            case .registeredAt:
                guard !decoder.null() else { return true }
                guard let value = decoder.integer() else { return false }
                registeredAt = value
            case .lastHeartbeat:
                guard !decoder.null() else { return true }
                guard let value = decoder.integer() else { return false }
                lastHeartbeat = value
            case .metadata:
                guard !decoder.null() else { return true }
                guard let read = decoder.objectValue(depth: depth) else { return false }
                metadata = read
            case .capabilities:
                guard !decoder.null() else { return true }
                guard let read = decoder.strings() else { return false }
                capabilities = read
            case .serial:
                guard !decoder.null() else { return true }
                guard let value = decoder.integer(), value >= 0 else { return false }
                serial = UInt64(value)
            case .session:
                guard !decoder.null() else { return true }
                guard let value = decoder.bool() else { return false }
                session = value
            case .reservedBy:
                guard !decoder.null() else { return true }
                reservedBy = decoder.string()
                return reservedBy != nil
            }
            return true
        }
        guard closed, let name else { return nil }
        var entry = GuestBookEntry(
            name: name, terminals: terminals, capabilities: capabilities, metadata: metadata, registeredAt: registeredAt,
            lastHeartbeat: lastHeartbeat, serial: serial, session: session)
        entry.reservedBy = reservedBy
        return entry
    }

    /// An entry's `id`: a string that is a valid server name. A plain ASCII one is read by
    /// ``ServerName/init(asciiBytes:)``; one that declines, and any other, by ``ServerName/init(parsing:)``.
    private mutating func serverName() -> ServerName? {
        let start = index
        if case .plain(let range, isASCII: true)? = scanString(), let name = ServerName(asciiBytes: UnsafeBufferPointer(rebasing: buffer[range])) {
            return name
        }
        index = start
        guard let text = string() else { return nil }
        return try? ServerName(parsing: text)
    }

    /// An entry's `terminals` in the guest book's form, an object at `depth` keyed by terminal name (the manifest's
    /// form, an array, is left to the tree), checked as ``Terminal/list(from:path:keepState:)`` checks it.
    private mutating func terminals(depth: Int) -> [Terminal]? {
        guard current == UInt8(ascii: "{") else { return nil }
        index += 1
        var terminals: [Terminal] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return terminals
        }
        while true {
            skipWhitespace()
            // A name longer than a token, or past the last terminal allowed, is refused by the model anyway; a
            // name is compared with the few before it, so the duplicate check stays linear.
            guard let key = key(), key.count <= Limits.tokenBytes, terminals.count < Limits.terminals else { return nil }
            let keyBytes = UnsafeBufferPointer(rebasing: buffer[key])
            guard !terminals.contains(where: { $0.name.utf8.count == keyBytes.count && $0.name.utf8.elementsEqual(keyBytes) }), colon(),
                let terminal = terminal(named: String(decoding: keyBytes, as: UTF8.self), depth: depth + 1)
            else { return nil }
            if terminals.isEmpty { terminals.reserveCapacity(4) }
            terminals.append(terminal)
            guard let more = next(UInt8(ascii: "}")) else { return nil }
            if !more { return terminals }
        }
    }

    /// One terminal, an object at `depth`, read as ``Terminal/init(name:reader:keepState:)`` reads it with its
    /// state kept.
    private mutating func terminal(named name: String, depth: Int) -> Terminal? {
        var direction: Terminal.Direction?
        var multiplexing = Terminal.Multiplexing.none
        var `protocol`: String?
        var metadata = JSONObject()
        var connectedTo: [String] = []
        let closed = object { (decoder: inout EntryDecoder, member: TerminalMember) -> Bool in
            switch member {
            case .direction:
                direction = decoder.enumeration()
                return direction != nil
            case .multiplexing:
                guard !decoder.null() else { return true }
                guard let value: Terminal.Multiplexing = decoder.enumeration() else { return false }
                multiplexing = value
            case .protocol:
                guard !decoder.null() else { return true }
                `protocol` = decoder.string()
                return `protocol` != nil
            case .inUse:
                return decoder.skipValue(depth: depth)
            case .connectedTo:
                guard !decoder.null() else { return true }
                guard let read = decoder.strings() else { return false }
                connectedTo = read
            case .metadata:
                guard !decoder.null() else { return true }
                guard let read = decoder.objectValue(depth: depth) else { return false }
                metadata = read
            case .name:
                guard !decoder.null() else { return true }
                return decoder.string() == name
            }
            return true
        }
        guard closed, let direction else { return nil }
        return try? Terminal(
            name: name, direction: direction, multiplexing: multiplexing, protocol: `protocol`, metadata: metadata,
            connectedTo: connectedTo)
    }

    /// Passes over an entry's `authentication`, which `GuestBookEntry(json:)` ignores: the object it always is,
    /// `required` and `mechanism` with values checked and passed over, here; any other value by ``JSONParser``.
    private mutating func skipAuthentication(depth: Int) -> Bool {
        let start = index
        if object({ (decoder: inout EntryDecoder, _: AuthenticationMember) in decoder.skipValue(depth: depth + 1) }) { return true }
        index = start
        return (try? JSONParser.parseValue(in: buffer, at: &index, depth: depth)) != nil
    }

    // MARK: Objects and arrays

    /// An object of `Member`'s members, each at most once, in any order; `read` reads a member's value (the index
    /// at its first byte) and returns whether it could. Returns whether the object was read to its closing brace.
    private mutating func object<Member: WireMember>(_ read: (inout EntryDecoder, Member) -> Bool) -> Bool {
        guard current == UInt8(ascii: "{") else { return false }
        index += 1
        var seen: UInt32 = 0
        var previous: Member?
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return true
        }
        while true {
            skipWhitespace()
            guard let member = memberKey(after: previous) else { return false }
            let bit = UInt32(1) << UInt32(member.rawValue)
            guard seen & bit == 0, colon(), read(&self, member) else { return false }
            seen |= bit
            previous = member
            guard let more = next(UInt8(ascii: "}")) else { return false }
            if !more { return true }
        }
    }

    /// An array; `read` reads an element (the index at its first byte) and returns whether it could. Returns
    /// whether the array was read to its closing bracket.
    private mutating func array(_ read: (inout EntryDecoder) -> Bool) -> Bool {
        guard current == UInt8(ascii: "[") else { return false }
        index += 1
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return true
        }
        while true {
            skipWhitespace()
            guard read(&self), let more = next(UInt8(ascii: "]")) else { return false }
            if !more { return true }
        }
    }

    /// The key of an object's next member: the one written after `previous` when the bytes are it (compared in
    /// place, the common case), else whichever of `Member`'s keys the key is.
    private mutating func memberKey<Member: WireMember>(after previous: Member?) -> Member? {
        if let expected = Member(rawValue: (previous?.rawValue ?? -1) + 1) {
            let key = expected.key
            let count = key.utf8CodeUnitCount
            if buffer.count - index >= count + 2, buffer[index] == UInt8(ascii: "\""), buffer[index + count + 1] == UInt8(ascii: "\""),
                bytes(index + 1..<index + count + 1, are: key)
            {
                index += count + 2
                return expected
            }
        }
        guard let range = key() else { return nil }
        return Member.allCases.first { bytes(range, are: $0.key) }
    }

    /// Whether the bytes at `range` are `literal`'s, compared a word at a time.
    @inline(__always)
    private func bytes(_ range: Range<Int>, are literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard count == range.count, let base = buffer.baseAddress else { return count == range.count }
        let bytes = UnsafeRawPointer(base + range.lowerBound)
        let text = UnsafeRawPointer(literal.utf8Start)
        var offset = 0
        while count - offset >= 8 {
            guard bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == text.loadUnaligned(fromByteOffset: offset, as: UInt64.self) else {
                return false
            }
            offset += 8
        }
        while offset < count {
            guard bytes.load(fromByteOffset: offset, as: UInt8.self) == text.load(fromByteOffset: offset, as: UInt8.self) else { return false }
            offset += 1
        }
        return true
    }

    /// After a value: true past a `,`, false past `close`, nil at anything else.
    private mutating func next(_ close: UInt8) -> Bool? {
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","):
            index += 1
            return true
        case close:
            index += 1
            return false
        default:
            return nil
        }
    }

    /// Passes over the `:` after a key and the white space around it.
    private mutating func colon() -> Bool {
        skipWhitespace()
        guard current == UInt8(ascii: ":") else { return false }
        index += 1
        skipWhitespace()
        return true
    }

    // MARK: Values

    private var current: UInt8? { index < buffer.count ? buffer[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
    }

    /// Passes over `literal` when the bytes at the index are it.
    private mutating func literal(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard buffer.count - index >= count else { return false }
        let start = literal.utf8Start
        for offset in 0..<count where buffer[index + offset] != start[offset] { return false }
        index += count
        return true
    }

    /// Passes over `null`; true when the value was `null`, which a reader takes for an absent member.
    private mutating func null() -> Bool {
        current == UInt8(ascii: "n") && literal("null")
    }

    private mutating func bool() -> Bool? {
        if literal("true") { return true }
        if literal("false") { return false }
        return nil
    }

    /// An integer the parser reads as `.int`: no fraction and no exponent, within `Int64`. nil for any other
    /// number, and for a leading zero, which the parser refuses.
    private mutating func integer() -> Int64? {
        var position = index
        let negative = current == UInt8(ascii: "-")
        if negative { position += 1 }
        guard position < buffer.count, buffer[position].isDigit else { return nil }
        var value: Int64 = 0
        if buffer[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while position < buffer.count, buffer[position].isDigit {
                let digit = Int64(buffer[position] &- UInt8(ascii: "0"))
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, carry) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
                guard !overflow, !carry else { return nil }
                value = sum
                position += 1
            }
        }
        if position < buffer.count {
            let byte = buffer[position]
            guard !byte.isDigit, byte != UInt8(ascii: "."), byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") else { return nil }
        }
        index = position
        return value
    }

    /// An object value at `depth`, built by ``JSONParser``: free-form metadata. An empty one (most terminals')
    /// is made here.
    private mutating func objectValue(depth: Int) -> JSONObject? {
        guard current == UInt8(ascii: "{") else { return nil }
        let start = index
        index += 1
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return JSONObject()
        }
        index = start
        guard case .object(let object)? = try? JSONParser.parseValue(in: buffer, at: &index, depth: depth) else {
            return nil
        }
        return object
    }

    /// Passes over a value a reader ignores, checked as the parser checks it: a string or a literal here, anything
    /// else by ``JSONParser`` (at `depth`, so that its nesting counts from the document's top).
    private mutating func skipValue(depth: Int) -> Bool {
        switch current {
        case UInt8(ascii: "\""): skipString()
        case UInt8(ascii: "t"): literal("true")
        case UInt8(ascii: "f"): literal("false")
        case UInt8(ascii: "n"): literal("null")
        default: (try? JSONParser.parseValue(in: buffer, at: &index, depth: depth)) != nil
        }
    }

    // MARK: Strings

    /// What a scan from a string's opening quote found.
    private enum ScannedString {
        /// A string without escapes, its content at `range` (not yet checked to be UTF-8 unless ASCII); the index
        /// is past its closing quote.
        case plain(Range<Int>, isASCII: Bool)
        /// A string with an escape; the index is still at its opening quote.
        case escaped
    }

    /// Scans a string from its opening quote; nil when there is none, or the string has a control character or no
    /// end (the parser refuses both).
    private mutating func scanString() -> ScannedString? {
        guard current == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var end = start
        // Eight bytes at a time while a word certainly holds no quote, backslash or control character (a zero
        // byte of the word XOR the byte's pattern, or a byte below 0x20, sets a high bit); the byte loop below
        // finds which byte it was, and decides.
        var wide: UInt64 = 0
        if let base = buffer.baseAddress {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            while buffer.count - end >= 8 {
                let word = UnsafeRawPointer(base + end).loadUnaligned(as: UInt64.self)
                let quotes = word ^ (ones &* 0x22)
                let backslashes = word ^ (ones &* 0x5C)
                let stops = (quotes &- ones) & ~quotes | (backslashes &- ones) & ~backslashes | (word &- ones &* 0x20) & ~word
                guard stops & highs == 0 else { break }
                wide |= word
                end += 8
            }
        }
        var bits: UInt8 = wide & 0x8080_8080_8080_8080 == 0 ? 0 : 0x80
        while end < buffer.count {
            let byte = buffer[end]
            if byte == UInt8(ascii: "\"") {
                index = end + 1
                return .plain(start..<end, isASCII: bits < 0x80)
            }
            if byte == UInt8(ascii: "\\") { return .escaped }
            if byte < 0x20 { return nil }
            bits |= byte
            end += 1
        }
        return nil
    }

    /// A string value: an ASCII one made from its bytes at once, other plain ones validated as UTF-8 the way the
    /// parser does, one with escapes decoded by the parser.
    private mutating func string() -> String? {
        switch scanString() {
        case .plain(let range, isASCII: true)?: return String(decoding: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self)
        case .plain(let range, isASCII: false)?: return String(validating: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self)
        case .escaped?: return (try? JSONParser.parseValue(in: buffer, at: &index, depth: 0))?.stringValue
        case nil: return nil
        }
    }

    /// Passes over a string value, checked as ``string()`` reads it, without making it.
    private mutating func skipString() -> Bool {
        switch scanString() {
        case .plain(_, isASCII: true)?: return true
        case .plain(let range, isASCII: false)?: return String(validating: UnsafeBufferPointer(rebasing: buffer[range]), as: UTF8.self) != nil
        case .escaped?: return (try? JSONParser.parseValue(in: buffer, at: &index, depth: 0)) != nil
        case nil: return false
        }
    }

    /// A string that is one of `Value`'s raw values: a plain one compared as bytes, any other made first.
    private mutating func enumeration<Value: CaseIterable & RawRepresentable<String>>() -> Value? {
        let start = index
        if case .plain(let range, isASCII: true)? = scanString() {
            let bytes = UnsafeBufferPointer(rebasing: buffer[range])
            return Value.allCases.first { value in
                value.rawValue.utf8.withContiguousStorageIfAvailable { $0.elementsEqual(bytes) } ?? value.rawValue.utf8.elementsEqual(bytes)
            }
        }
        index = start
        return string().flatMap(Value.init(rawValue:))
    }

    /// An array of strings (`capabilities`, `connectedTo`).
    private mutating func strings() -> [String]? {
        var strings: [String] = []
        let closed = array { (decoder: inout EntryDecoder) -> Bool in
            guard let string = decoder.string() else { return false }
            if strings.isEmpty { strings.reserveCapacity(4) }
            strings.append(string)
            return true
        }
        return closed ? strings : nil
    }

    /// A key: where the content of a plain ASCII string lies. Any other key is nil: every key a reader knows is
    /// ASCII, and one written with an escape is left to the parser, which decodes it before comparing.
    private mutating func key() -> Range<Int>? {
        guard case .plain(let range, isASCII: true)? = scanString() else { return nil }
        return range
    }
}

// MARK: - Members

/// The members an object of the wire form may have, numbered in the order they are written.
private protocol WireMember: CaseIterable, RawRepresentable where RawValue == Int {
    /// The member's key.
    var key: StaticString { get }
}

/// A reply line's members (an error reply's `error` is not one: it is left to the tree).
private enum ReplyMember: Int, WireMember {
    case id, revision, result

    var key: StaticString {
        switch self {
        case .id: "id"
        case .revision: "revision"
        case .result: "result"
        }
    }
}

/// The members of a reply's `result` that carry entries.
private enum ResultMember: Int, WireMember {
    case entries, entry

    var key: StaticString {
        switch self {
        case .entries: "entries"
        case .entry: "entry"
        }
    }
}

/// The members of an entry's `authentication`, in the order ``GuestBookEntry/json`` writes them.
private enum AuthenticationMember: Int, WireMember {
    case required, mechanism

    var key: StaticString {
        switch self {
        case .required: "required"
        case .mechanism: "mechanism"
        }
    }
}

/// An entry's members, in the order ``GuestBookEntry/json`` writes them.
private enum EntryMember: Int, WireMember {
    case id, fqdn, servername, `class`, owner, uuid, authentication, terminals, registeredAt, lastHeartbeat, metadata, capabilities
    case serial, session, reservedBy

    var key: StaticString {
        switch self {
        case .id: "id"
        case .fqdn: "fqdn"
        case .servername: "servername"
        case .class: "class"
        case .owner: "owner"
        case .uuid: "uuid"
        case .authentication: "authentication"
        case .terminals: "terminals"
        case .registeredAt: "registeredAt"
        case .lastHeartbeat: "lastHeartbeat"
        case .metadata: "metadata"
        case .capabilities: "capabilities"
        case .serial: "serial"
        case .session: "session"
        case .reservedBy: "reservedBy"
        }
    }
}

/// A terminal's members, in the order ``Terminal/json`` writes them, then `name`, which a terminal may repeat.
private enum TerminalMember: Int, WireMember {
    case direction, multiplexing, `protocol`, inUse, connectedTo, metadata, name

    var key: StaticString {
        switch self {
        case .direction: "direction"
        case .multiplexing: "multiplexing"
        case .protocol: "protocol"
        case .inUse: "inUse"
        case .connectedTo: "connectedTo"
        case .metadata: "metadata"
        case .name: "name"
        }
    }
}

// MARK: - Server names from bytes

extension ServerName {
    /// A name read from its bytes by the rules of ``init(parsing:)``, without substrings or Characters: the fields
    /// split at each `:`, each checked byte by byte. It takes only names whose every byte those rules allow, so that
    /// splitting bytes and splitting Characters agree; it declines (nil) a bracketed IPv6 fqdn, and any name those
    /// rules refuse, for ``init(parsing:)`` to read or refuse.
    init?(asciiBytes bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count <= Limits.nameBytes, bytes.first != UInt8(ascii: "[") else { return nil }
        let text = { (range: Range<Int>) in String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) }
        var fqdn = ""
        var servername = ""
        var classCode: UInt16 = 0
        var owner = ""
        var authentication = AuthenticationRequirement.no
        var authMechanism = ""
        var uuid = ""
        var extensions: [String] = []
        var field = 0
        var start = 0
        while true {
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: ":") { end += 1 }
            let range = start..<end
            switch field {
            case 0:
                guard Self.isHostnameOrIPv4(bytes, range) else { return nil }
                fqdn = text(range)
            case 1:
                guard Self.isToken(bytes, range, first: \.isLowerAlphanumeric, rest: \.isServernameByte) else { return nil }
                servername = text(range)
            case 2:
                guard let value = ClassCode(bytes: bytes[range]) else { return nil }
                classCode = value.value
            case 3:
                guard Self.isToken(bytes, range, first: \.isAlphanumeric, rest: \.isTokenByte) else { return nil }
                owner = text(range)
            case 4:
                guard let value = AuthenticationRequirement(rawValue: text(range)) else { return nil }
                authentication = value
            case 5:
                guard Self.isToken(bytes, range, first: \.isAlphanumeric, rest: \.isTokenByte) else { return nil }
                authMechanism = text(range)
            case 6:
                guard let value = Self.lowerCaseUUID(bytes, range) else { return nil }
                uuid = value
            default:
                guard extensions.count < Limits.extensions, Self.isToken(bytes, range, first: \.isExtensionByte, rest: \.isExtensionByte)
                else { return nil }
                extensions.append(text(range))
            }
            field += 1
            guard end < bytes.count else { break }
            start = end + 1
        }
        guard field >= 7 else { return nil }
        // Every field is as long as its canonical form, so the name's description is as long as `bytes`: within
        // Limits.nameBytes, as init(fqdn:…) requires.
        self.fqdn = fqdn
        self.servername = servername
        self.classCode = ClassCode(classCode)
        self.owner = owner
        self.authentication = authentication
        self.authMechanism = authMechanism
        self.uuid = uuid
        self.extensions = extensions
        description = Self.format(
            fqdn: fqdn, servername: servername, classCode: self.classCode, rest: [owner, authentication.rawValue, authMechanism, uuid] + extensions)
    }

    /// A token: 1 to ``Limits/tokenBytes`` bytes, the first `first`, the others `rest`.
    private static func isToken(
        _ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, first: (UInt8) -> Bool, rest: (UInt8) -> Bool
    ) -> Bool {
        guard !range.isEmpty, range.count <= Limits.tokenBytes, first(bytes[range.lowerBound]) else { return false }
        return bytes[range.dropFirst()].allSatisfy(rest)
    }

    /// An fqdn as `NameField.fqdn` checks one that is not bracketed: four all-digit labels are a dotted IPv4
    /// address, anything else hostname labels.
    private static func isHostnameOrIPv4(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty, range.count <= Limits.fqdnBytes else { return false }
        var labels = 0
        let digitLabels = eachLabel(of: range, in: bytes) { label in
            labels += 1
            return !label.isEmpty && bytes[label].allSatisfy(\.isDigit)
        }
        if digitLabels && labels == 4 {
            return eachLabel(of: range, in: bytes) { label in
                label.count <= 3 && !(label.count > 1 && bytes[label.lowerBound] == UInt8(ascii: "0"))
                    && bytes[label].reduce(0) { $0 * 10 + Int($1 &- UInt8(ascii: "0")) } <= 255
            }
        }
        return eachLabel(of: range, in: bytes) { label in
            !label.isEmpty && label.count <= 63 && bytes[label].allSatisfy { $0.isAlphanumeric || $0 == UInt8(ascii: "-") }
                && bytes[label.lowerBound] != UInt8(ascii: "-") && bytes[label.upperBound - 1] != UInt8(ascii: "-")
        }
    }

    /// Whether `check` holds for each `.`-separated label of `range` (empty ones too), asked in order until one fails.
    private static func eachLabel(
        of range: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>, _ check: (Range<Int>) -> Bool
    ) -> Bool {
        var start = range.lowerBound
        while true {
            var end = start
            while end < range.upperBound, bytes[end] != UInt8(ascii: ".") { end += 1 }
            guard check(start..<end) else { return false }
            guard end < range.upperBound else { return true }
            start = end + 1
        }
    }

    /// A UUID as `canonicalUUID` reads one, lower-cased: 36 bytes, hex digits in groups of 8, 4, 4, 4 and 12
    /// with a `-` between them.
    private static func lowerCaseUUID(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String? {
        guard range.count == 36 else { return nil }
        let start = range.lowerBound
        // Without a branch per digit: random hex digits would mispredict most of them.
        var valid: UInt8 = 1
        var upper: UInt8 = 0
        for (from, to) in [(0, 8), (9, 13), (14, 18), (19, 23), (24, 36)] {
            guard from == 0 || bytes[start + from - 1] == UInt8(ascii: "-") else { return nil }
            for byte in bytes[(start + from)..<(start + to)] {
                let digit: UInt8 = byte &- UInt8(ascii: "0") < 10 ? 1 : 0
                let letter: UInt8 = (byte | 0x20) &- UInt8(ascii: "a") < 6 ? 1 : 0
                valid &= digit | letter
                upper |= byte &- UInt8(ascii: "A") < 6 ? 1 : 0
            }
        }
        guard valid == 1 else { return nil }
        let field = UnsafeBufferPointer(rebasing: bytes[range])
        guard upper == 1 else { return String(decoding: field, as: UTF8.self) }
        return String(decoding: field.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

