import HostessModel

// MARK: - ReplyFields

/// Typed access to the members of an object in an etcd reply, every failure an ``EtcdError/badReply(field:reason:)``
/// naming the member by its dotted path.
///
/// The gateway writes protobuf messages as proto3 JSON: a member whose value is the type's default (0, false,
/// an empty string, list or byte string) is left out, so an absent member reads as that default unless the
/// reader requires it; `null` reads as absent. 64-bit integers are decimal strings (`"revision":"7"`); a JSON
/// integer is accepted too, as proto3 JSON parsers accept both. Members the reader does not ask for are
/// ignored: newer etcds add some.
struct ReplyFields {
    /// The object.
    let object: JSONObject
    /// Its dotted path in the reply ("" at the top).
    let path: String

    init(_ object: JSONObject, path: String) {
        self.object = object
        self.path = path
    }

    /// The whole reply: JSON text that is an object; an error reply (an `error` member) throws the error etcd
    /// reported.
    init(reply body: some Collection<UInt8>) throws(EtcdError) {
        let value: JSONValue
        do { value = try JSONParser.parse(body) } catch { throw .badReply(field: nil, reason: error.description) }
        try self.init(document: value)
    }

    /// A parsed reply, or one object of a stream, as ``init(reply:)`` reads it.
    init(document value: JSONValue) throws(EtcdError) {
        guard case .object(let object) = value else {
            throw .badReply(field: nil, reason: "expected a JSON object, found \(value.typeName)")
        }
        self.init(object, path: "")
        if has("error") { throw try reportedError() }
    }

    /// The dotted path of member `key`.
    func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func mismatch(_ key: String, _ expected: String, _ value: JSONValue) -> EtcdError {
        .badReply(field: fieldPath(key), reason: "expected \(expected), found \(value.typeName)")
    }

    /// The value of `key`, nil when it is absent or null.
    private func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    private func missing(_ key: String) -> EtcdError { .badReply(field: fieldPath(key), reason: "required field is missing") }

    /// Whether `key` is present and not null.
    func has(_ key: String) -> Bool { value(key) != nil }

    // MARK: Members

    /// An object member, nil when absent.
    func reader(_ key: String) throws(EtcdError) -> ReplyFields? {
        guard let value = value(key) else { return nil }
        guard case .object(let member) = value else { throw mismatch(key, "an object", value) }
        return ReplyFields(member, path: fieldPath(key))
    }

    /// A required object member.
    func requireReader(_ key: String) throws(EtcdError) -> ReplyFields {
        guard let reader = try reader(key) else { throw missing(key) }
        return reader
    }

    /// An array of objects, empty when absent.
    func readers(_ key: String) throws(EtcdError) -> [ReplyFields] {
        guard let value = value(key) else { return [] }
        guard case .array(let elements) = value else { throw mismatch(key, "an array", value) }
        var readers: [ReplyFields] = []
        readers.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            guard case .object(let member) = element else {
                throw .badReply(field: "\(fieldPath(key))[\(position)]", reason: "expected an object, found \(element.typeName)")
            }
            readers.append(ReplyFields(member, path: "\(fieldPath(key))[\(position)]"))
        }
        return readers
    }

    /// A boolean, false when absent.
    func bool(_ key: String) throws(EtcdError) -> Bool {
        guard let value = value(key) else { return false }
        guard case .bool(let bool) = value else { throw mismatch(key, "true or false", value) }
        return bool
    }

    /// A string, nil when absent.
    func string(_ key: String) throws(EtcdError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let string) = value else { throw mismatch(key, "a string", value) }
        return string
    }

    /// A byte string (base64), empty when absent.
    func bytes(_ key: String) throws(EtcdError) -> [UInt8] {
        guard let text = try string(key) else { return [] }
        do { return try Base64.decode(text) } catch { throw .badReply(field: fieldPath(key), reason: error.description) }
    }

    /// A required, non-empty byte string (base64).
    func requireBytes(_ key: String) throws(EtcdError) -> [UInt8] {
        let bytes = try bytes(key)
        guard !bytes.isEmpty else { throw missing(key) }
        return bytes
    }

    /// An `int64` within `range`; absent, it is 0, which must be in `range` (a range without 0 makes the
    /// member required).
    func int64(_ key: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(EtcdError) -> Int64 {
        let number: Int64
        switch value(key) {
        case nil:
            guard range.contains(0) else { throw missing(key) }
            return 0
        case .int(let integer)?:
            number = integer
        case .string(let text)?:
            guard Self.isDecimal(text, signed: true), let read = Int64(text) else {
                throw .badReply(field: fieldPath(key), reason: "'\(EtcdError.clean(text))' is not a decimal int64")
            }
            number = read
        case let other?:
            throw mismatch(key, "an int64 (a decimal string)", other)
        }
        guard range.contains(number) else {
            throw .badReply(field: fieldPath(key), reason: "\(number) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// A `uint64`, 0 when absent.
    func uint64(_ key: String) throws(EtcdError) -> UInt64 {
        switch value(key) {
        case nil:
            return 0
        case .int(let integer)? where integer >= 0:
            return UInt64(integer)
        case .string(let text)?:
            guard Self.isDecimal(text, signed: false), let read = UInt64(text) else {
                throw .badReply(field: fieldPath(key), reason: "'\(EtcdError.clean(text))' is not a decimal uint64")
            }
            return read
        case let other?:
            throw mismatch(key, "a uint64 (a decimal string)", other)
        }
    }

    /// Whether `text` is a decimal integer as protobuf writes one: digits without leading zeros, after a `-`
    /// when `signed` (and then not `-0`). Whether it fits is for the caller's conversion to say.
    private static func isDecimal(_ text: String, signed: Bool) -> Bool {
        var digits = Substring(text).utf8
        if signed && digits.first == UInt8(ascii: "-") { digits = digits.dropFirst() }
        guard (1...20).contains(digits.count), digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return false
        }
        return digits.first != UInt8(ascii: "0") || (digits.count == 1 && digits.count == text.utf8.count)
    }

    // MARK: Errors

    /// The error an error reply reports: `{"error":"…","code":N,"message":"…"}` as the gateway answers a
    /// request, or `{"error":{"grpc_code":N,"http_code":N,"message":"…"}}` as it ends a stream.
    private func reportedError() throws(EtcdError) -> EtcdError {
        let codes = Int64(1)...Int64(Int32.max)
        switch object["error"] {
        case .object(let member)?:
            let stream = ReplyFields(member, path: fieldPath("error"))
            let code = try stream.int64("grpc_code", in: codes)
            return EtcdError.reported(code: Int(code), message: try stream.string("message") ?? "")
        case .string(let text)?:
            let code = try int64("code", in: codes)
            return EtcdError.reported(code: Int(code), message: try string("message") ?? text)
        case let other:
            throw mismatch("error", "a string or an object", other ?? .null)
        }
    }
}
