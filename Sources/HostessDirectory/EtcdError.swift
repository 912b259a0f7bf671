// MARK: - EtcdError

/// Why an exchange with etcd's JSON gateway did not give what was asked: what etcd reported, in the cases a
/// caller acts on differently, or that the reply is not one etcd sends.
///
/// Text from etcd (messages, cancel reasons) is kept without control characters and cut to
/// ``maximumMessageBytes``, so that a description is always one line fit for a log.
public enum EtcdError: Error, Sendable, Hashable, CustomStringConvertible {
    /// etcd has no lease with this id (nil when the reply did not say which): it expired, because no keepalive
    /// came within its TTL, or it was revoked. Its keys are gone; grant a new lease and put them again.
    case leaseNotFound(id: Int64?)
    /// etcd has compacted its history up to `compactRevision`, past the revision the watch asked to start from,
    /// and canceled the watch: read the prefix again (a range) and watch from the range's revision + 1.
    case compacted(compactRevision: Int64)
    /// Authentication is enabled and the request carried no token, or one etcd does not know (a simple token
    /// expires after five minutes without use): authenticate again and send the new token.
    case unauthenticated(message: String)
    /// etcd refused the user name and password of an authentication.
    case authenticationFailed(message: String)
    /// The authenticated user may not do this with these keys.
    case permissionDenied(message: String)
    /// etcd canceled the watch for a reason other than compaction or authentication.
    case watchCanceled(reason: String)
    /// Another error etcd reported: its gRPC status code and message.
    case server(code: Int, message: String)
    /// The reply is not one etcd's gateway sends: not JSON, or a field (a dotted path such as `header.revision`
    /// or `result.events[0].kv.key`; nil for the document as a whole) missing, of the wrong type or out of range.
    case badReply(field: String?, reason: String)
    /// One response of a watch stream is larger than the decoder's limit.
    case responseTooLarge(limit: Int)

    /// The most bytes of etcd's text an error keeps.
    public static let maximumMessageBytes = 256

    public var description: String {
        switch self {
        case .leaseNotFound(let id?):
            "etcd has no lease \(id) (it expired or was revoked): grant a new lease and put the keys again under it"
        case .leaseNotFound(nil):
            "etcd has no such lease (it expired or was revoked): grant a new lease and put the keys again under it"
        case .compacted(let revision):
            "etcd has compacted its history up to revision \(revision), past the watch's start: read the prefix again and watch from the range's revision + 1"
        case .unauthenticated(let message):
            "etcd wants a valid token (\(message)): authenticate again and send the new token"
        case .authenticationFailed(let message):
            "etcd refused the user name and password (\(message)): check the credentials configured for etcd"
        case .permissionDenied(let message):
            "etcd's user may not do this (\(message)): grant it read and write on the directory's prefix"
        case .watchCanceled(let reason):
            "etcd canceled the watch: \(reason)"
        case .server(let code, let message):
            "etcd answered gRPC status \(code) \(Self.statusName(code) ?? "(unknown)"): \(message)"
        case .badReply(let field?, let reason):
            "etcd's reply is not what its gateway sends: \(field): \(reason)"
        case .badReply(nil, let reason):
            "etcd's reply is not what its gateway sends: \(reason)"
        case .responseTooLarge(let limit):
            "a watch response is larger than the limit of \(limit) bytes: raise the limit or watch a smaller prefix"
        }
    }
}

// MARK: - What etcd reports

extension EtcdError {
    /// The error for a gRPC status `code` and etcd's `message`, as an error reply or a canceled watch reports
    /// them.
    ///
    /// etcd 3.4 reports a request without a token, when authentication is enabled, as `InvalidArgument`
    /// (3) "etcdserver: user name is empty", and refused credentials as `InvalidArgument` "etcdserver:
    /// authentication failed, invalid user ID or password"; an unknown or expired token as `Unauthenticated`
    /// (16), a missing permission as `PermissionDenied` (7), and a lease it does not have as `NotFound` (5)
    /// "etcdserver: requested lease not found".
    static func reported(code: Int, message: String) -> EtcdError {
        let message = clean(message)
        switch code {
        case 16: return .unauthenticated(message: message)
        case 7: return .permissionDenied(message: message)
        case 5 where message.hasSuffix("requested lease not found"): return .leaseNotFound(id: nil)
        case 3 where message == "etcdserver: user name is empty": return .unauthenticated(message: message)
        case 3 where message.hasPrefix("etcdserver: authentication failed"): return .authenticationFailed(message: message)
        default: return .server(code: code, message: message)
        }
    }

    /// The error for a watch's `cancel_reason`: etcd writes a gRPC error as `rpc error: code = NAME desc =
    /// MESSAGE`, read as ``reported(code:message:)`` reads it; any other reason is ``watchCanceled(reason:)``.
    static func canceled(reason: String) -> EtcdError {
        let prefix = "rpc error: code = "
        let separator = " desc = "
        if reason.hasPrefix(prefix), let range = reason.firstRange(of: separator) {
            let name = reason[reason.index(reason.startIndex, offsetBy: prefix.count)..<range.lowerBound]
            if let code = statusNames.firstIndex(where: { $0 == name }) {
                return reported(code: code, message: String(reason[range.upperBound...]))
            }
        }
        return .watchCanceled(reason: clean(reason))
    }

    /// The gRPC status codes' names, by code.
    private static let statusNames = [
        "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
        "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
        "Internal", "Unavailable", "DataLoss", "Unauthenticated",
    ]

    /// The name of gRPC status `code`, or nil for a code gRPC does not define.
    static func statusName(_ code: Int) -> String? {
        statusNames.indices.contains(code) ? statusNames[code] : nil
    }

    /// `text` without control characters, cut to ``maximumMessageBytes`` bytes (at a character boundary).
    static func clean(_ text: String) -> String {
        var kept = ""
        var bytes = 0
        for character in text where !character.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            bytes += character.utf8.count
            guard bytes <= maximumMessageBytes else { return kept + "…" }
            kept.append(character)
        }
        return kept
    }
}
