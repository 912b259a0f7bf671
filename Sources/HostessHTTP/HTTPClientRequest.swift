// MARK: - HTTPClientRequest

/// Requests a client sends, as bytes for the wire.
public enum HTTPClientRequest {
    /// An HTTP/1.1 request: `METHOD SP target SP HTTP/1.1 CRLF`, `Host`, each well-formed field of
    /// `headers` except `Host`, `Content-Length` and `Transfer-Encoding`, `Content-Length: <body.count>`, an
    /// empty line, then the body.
    ///
    /// Nothing a caller passes can split the request: characters that are not token characters are dropped
    /// from the method, characters outside visible ASCII from the target, control characters from the host,
    /// and fields that are not ``HTTPHeader/isWellFormed`` are left out.
    ///
    /// - Parameters:
    ///   - method: The method, e.g. `GET`.
    ///   - target: The origin-form target, already percent-encoded, e.g. `/servers/a%3Ab?x=1`.
    ///   - host: The `Host` value, e.g. `127.0.0.1:8080`.
    ///   - headers: More header fields, written in this order after `Host`.
    ///   - body: The body.
    /// - Returns: The bytes to send.
    public static func serialized(
        method: String, target: String, host: String, headers: [HTTPHeader] = [], body: [UInt8] = []
    ) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(64 + target.utf8.count + headers.count * 48 + body.count)
        output.append(contentsOf: method.utf8.filter(\.isTokenCharacter))
        output.append(.space)
        output.append(contentsOf: target.utf8.filter { (0x21...0x7E).contains($0) })
        output.append(contentsOf: " HTTP/1.1\r\nHost: ".utf8)
        output.append(contentsOf: host.utf8.filter(\.isFieldValueCharacter))
        output.append(contentsOf: [.cr, .lf])
        for header in headers where header.isWellFormed {
            let name = header.name.lowercased()
            if name == "host" || name == "content-length" || name == "transfer-encoding" { continue }
            output.append(contentsOf: header.name.utf8)
            output.append(contentsOf: ": ".utf8)
            output.append(contentsOf: header.value.utf8)
            output.append(contentsOf: [.cr, .lf])
        }
        output.append(contentsOf: "Content-Length: \(body.count)\r\n\r\n".utf8)
        output.append(contentsOf: body)
        return output
    }
}
