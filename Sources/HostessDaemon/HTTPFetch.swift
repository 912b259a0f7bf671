import HostessHTTP
import HostessLoop
import HostessModel
import HostessSystem

// MARK: - HTTPFetch

/// One outbound HTTP/1.1 exchange on the loop: connect (non-blocking, with a deadline), write the request,
/// read the response with ``HTTPResponseParser``, and hand the completion the response or why there is none.
/// `Connection: close`: one request per connection, which is what polling a peer a few times a minute needs.
///
/// The whole exchange, connect included, must finish within `timeout`; a peer that accepts and then says
/// nothing costs a descriptor and a heap entry until then, never loop time. A failure before the connection
/// was made has `field` `connect` (nothing was sent: ``PeerConnector`` may try another path).
final class HTTPFetch: StreamChannelDelegate {
    /// What a fetch comes to.
    typealias Completion = (Result<HTTPClientResponse, HostessError>) -> Void

    /// The most response bytes a fetch reads.
    static let maximumResponseBytes = 1 << 20

    private let request: [UInt8]
    private let what: String
    private var parser: HTTPResponseParser
    private var completion: Completion?
    private var connected = false

    private init(request: [UInt8], what: String, maximumResponseBytes: Int, completion: @escaping Completion) {
        self.request = request
        self.what = what
        parser = HTTPResponseParser(limits: HTTPResponseParser.Limits(body: maximumResponseBytes))
        self.completion = completion
    }

    /// Starts `method target` at `address` (with a JSON `body` when one is given, signed with `key` when
    /// one is given, with `extraHeaders` after the others); `completion` runs exactly once, on the loop.
    /// - Parameter maximumResponseBytes: the largest body accepted (``maximumResponseBytes`` unless given).
    /// - Returns: false when the connect failed at once (the completion has run with the reason).
    @discardableResult
    static func start(
        _ method: String, _ target: String, at address: InternetSocketAddress, host: String, body: [UInt8]? = nil, signedWith key: HTTPKeys.Key? = nil,
        extraHeaders: [HTTPHeader] = [], maximumResponseBytes: Int = HTTPFetch.maximumResponseBytes, timeout seconds: Double, loop: Loop,
        completion: @escaping Completion
    ) -> Bool {
        var headers = [HTTPHeader(name: "Connection", value: "close"), HTTPHeader(name: "Accept", value: "*/*")]
        if body != nil { headers.append(HTTPHeader(name: "Content-Type", value: "application/json")) }
        headers += extraHeaders
        if let key {
            let signature = RequestSignature.sign(
                keyID: key.id, secret: key.secret, method: method, target: target, body: body ?? [], timestamp: SystemClock.wallMilliseconds() / 1000)
            headers.append(HTTPHeader(name: "Authorization", value: signature.headerValue))
        }
        let request = HTTPClientRequest.serialized(method: method, target: target, host: host, headers: headers, body: body ?? [])
        let fetch = HTTPFetch(request: request, what: "\(method) http://\(host)\(target)", maximumResponseBytes: maximumResponseBytes, completion: completion)
        let nanoseconds = UInt64(seconds * 1e9)
        do {
            // The channel owns the fetch from here on (its delegate), until it closes.
            _ = try StreamChannel(
                connectingTo: address, label: fetch.what, loop: loop,
                timeouts: StreamDeadlines.Timeouts(request: nanoseconds, idle: nanoseconds, write: nanoseconds),
                inputLimit: maximumResponseBytes + 65536, delegate: fetch)
            return true
        } catch {
            fetch.finish(.failure(HostessError(.disconnected, "\(fetch.what): \(error)", field: "connect")))
            return false
        }
    }

    /// The address of an `http://HOST:PORT` endpoint (a peer's, as it announces it) and its authority for the
    /// `Host` header, when HOST is a numeric address; nil otherwise: resolving a name would block the loop.
    static func numericEndpoint(_ endpoint: String) -> (address: InternetSocketAddress, authority: String)? {
        guard endpoint.hasPrefix("http://") else { return nil }
        let authority = String(endpoint.dropFirst("http://".count))
        let host = authority.hasPrefix("[") ? authority : String(authority.prefix { $0 != ":" })
        guard host.hasPrefix("[") || host.allSatisfy({ $0.isNumber || $0 == "." }), let address = try? InternetSocketAddress(parsing: authority) else {
            return nil
        }
        return (address, authority)
    }

    private func finish(_ result: Result<HTTPClientResponse, HostessError>) {
        guard let completion else { return }
        self.completion = nil
        if case .failure(var error) = result, !connected {
            error.field = "connect"
            return completion(.failure(error))
        }
        completion(result)
    }

    // MARK: Channel events

    func channelConnected(_ channel: StreamChannel) {
        connected = true
        channel.enqueue { $0.append(contentsOf: request) }
        channel.deadlines.requestStartedAt = channel.deadlines.lastWriteProgress
    }

    func channelRead(_ channel: StreamChannel, received: Int) {
        switch parser.parse(channel.input.bytes, from: channel.input.start, atEndOfInput: channel.inputClosed) {
        case .incomplete:
            if channel.inputClosed { fail(channel, "\(what): the connection closed before a complete response") }
        case .response(let response, _):
            finish(.success(response))
            channel.close(reason: nil)
        case .failure(let error):
            fail(channel, "\(what): not an acceptable HTTP response: \(error)")
        }
    }

    func channel(_ channel: StreamChannel, timedOut deadline: StreamDeadlines.Kind) {
        finish(.failure(HostessError(.timeout, "\(what): no complete response in time")))
        channel.close(reason: "timed out")
    }

    func channelClosed(_ channel: StreamChannel, reason: String?) {
        finish(.failure(HostessError(.disconnected, "\(what): \(reason ?? "the connection closed before a response")")))
    }

    private func fail(_ channel: StreamChannel, _ message: String) {
        finish(.failure(HostessError(.disconnected, message)))
        channel.close(reason: message)
    }
}
