// MARK: - JSONReader

/// Typed, path-aware access to the members of a JSON object.
///
/// Every failure is a ``HostessError`` with code `bad_request` that names the field by its dotted path,
/// so a client learns exactly which field was wrong and why.
public struct JSONReader: Sendable {
    /// The object being read.
    public let object: JSONObject
    /// The dotted path of this object inside the request ("" at the top).
    public let path: String

    /// A reader over `object`, found at `path`.
    public init(_ object: JSONObject, path: String = "") {
        self.object = object
        self.path = path
    }

    /// A reader over `value`, which must be an object.
    public init(_ value: JSONValue, path: String) throws(HostessError) {
        guard case .object(let object) = value else {
            throw HostessError(.badRequest, "expected an object, found \(value.typeName)", field: path.isEmpty ? nil : path)
        }
        self.init(object, path: path)
    }

    /// The dotted path of member `key`.
    public func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func mismatch(_ key: String, _ expected: String, _ value: JSONValue) -> HostessError {
        HostessError(.badRequest, "expected \(expected), found \(value.typeName)", field: fieldPath(key))
    }

    /// Whether `key` is present and not null.
    public func has(_ key: String) -> Bool {
        guard let value = object[key] else { return false }
        return value != .null
    }

    /// Refuses members other than `allowed`, naming the first unknown one.
    public func rejectUnknownKeys(allowed: Set<String>) throws(HostessError) {
        for key in object.keys where !allowed.contains(key) {
            throw HostessError(.badRequest, "unknown field", field: fieldPath(key))
        }
    }

    /// The value of `key`, or a `bad_request` error when it is absent or null.
    public func require(_ key: String) throws(HostessError) -> JSONValue {
        guard let value = object[key], value != .null else {
            throw HostessError(.badRequest, "required field is missing", field: fieldPath(key))
        }
        return value
    }

    /// An optional string member.
    public func string(_ key: String) throws(HostessError) -> String? {
        guard let value = object[key], value != .null else { return nil }
        guard case .string(let string) = value else { throw mismatch(key, "a string", value) }
        return string
    }

    /// A required string member.
    public func requireString(_ key: String) throws(HostessError) -> String {
        guard let string = try string(key) else { _ = try require(key); return "" }
        return string
    }

    /// An optional boolean member.
    public func bool(_ key: String) throws(HostessError) -> Bool? {
        guard let value = object[key], value != .null else { return nil }
        guard case .bool(let bool) = value else { throw mismatch(key, "true or false", value) }
        return bool
    }

    /// An optional integer member within `range`.
    public func int(_ key: String, in range: ClosedRange<Int64>) throws(HostessError) -> Int64? {
        guard let value = object[key], value != .null else { return nil }
        guard case .int(let integer) = value else { throw mismatch(key, "an integer", value) }
        guard range.contains(integer) else {
            throw HostessError(
                .badRequest, "\(integer) is outside \(range.lowerBound)...\(range.upperBound)", field: fieldPath(key))
        }
        return integer
    }

    /// An optional number member (integer or not) within `range`.
    public func number(_ key: String, in range: ClosedRange<Double>) throws(HostessError) -> Double? {
        guard let value = object[key], value != .null else { return nil }
        let number: Double
        switch value {
        case .int(let integer): number = Double(integer)
        case .double(let double): number = double
        default: throw mismatch(key, "a number", value)
        }
        guard range.contains(number) else {
            throw HostessError(
                .badRequest, "\(number) is outside \(range.lowerBound)...\(range.upperBound)", field: fieldPath(key))
        }
        return number
    }

    /// An optional array of strings.
    public func strings(_ key: String) throws(HostessError) -> [String]? {
        guard let value = object[key], value != .null else { return nil }
        guard case .array(let elements) = value else { throw mismatch(key, "an array of strings", value) }
        var result: [String] = []
        result.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            guard case .string(let string) = element else {
                throw HostessError(
                    .badRequest, "expected a string, found \(element.typeName)", field: "\(fieldPath(key))[\(position)]")
            }
            result.append(string)
        }
        return result
    }

    /// An optional object member.
    public func objectMember(_ key: String) throws(HostessError) -> JSONObject? {
        guard let value = object[key], value != .null else { return nil }
        guard case .object(let member) = value else { throw mismatch(key, "an object", value) }
        return member
    }

    /// An optional nested reader.
    public func reader(_ key: String) throws(HostessError) -> JSONReader? {
        try objectMember(key).map { JSONReader($0, path: fieldPath(key)) }
    }

    /// A required nested reader.
    public func requireReader(_ key: String) throws(HostessError) -> JSONReader {
        guard let reader = try reader(key) else { _ = try require(key); return self }
        return reader
    }
}
