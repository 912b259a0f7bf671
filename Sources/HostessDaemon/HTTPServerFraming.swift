import HostessHTTP
import HostessLoop

// MARK: - HTTPServerFraming

/// HTTP/1.1 server framing over a byte stream: requests out of an ``InputBuffer`` (the incremental parser with
/// its hard limits, `Expect: 100-continue`, keep-alive, pipelining), responses into bytes with the
/// `Connection` header the exchange calls for.
///
/// Holds no descriptor, so it is tested with bytes alone.
struct HTTPServerFraming {
    /// What the input holds next.
    enum Next {
        /// A complete request (consumed from the input).
        case request(HTTPRequest)
        /// Not complete yet. `sendContinue`: the header block just completed and asks for `100 Continue`,
        /// which the caller writes at once (see ``continueLine``).
        case incomplete(sendContinue: Bool)
        /// The input ended in the middle of a request: nothing to answer; close.
        case truncated
        /// Not an acceptable request: answer with the error's status and close (the input is dropped).
        case failure(HTTPParseError)
    }

    /// The interim response to `Expect: 100-continue`.
    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Bytes buffered from one client beyond which it is not read: more than the largest request the parser
    /// accepts (empty lines, request line, header block, body), so a request is always complete or refused
    /// before the buffer fills.
    static let inputLimit: Int = {
        let limits = HTTPRequestParser.Limits()
        return limits.requestLine * 2 + limits.headerBlock + limits.body + 65536
    }()

    /// Set once the connection is to close after the response being written: the client asked
    /// (`Connection: close`, HTTP/1.0 without keep-alive), or its request could not be read.
    private(set) var closesAfterResponse = false
    /// Whether responses say `Connection: keep-alive` (an HTTP/1.0 client that asked for it).
    private var announcesKeepAlive = false
    private var parser = HTTPRequestParser()
    /// Whether the request being received was checked for `Expect: 100-continue` (once its header block is in).
    private var continueDecided = false
    /// How far into the request being received the end of its header block was looked for.
    private var headerSearchedTo = 0

    /// A framing at the start of a connection.
    init() {}

    // MARK: Requests

    /// Takes the next request from `input`. `inputEnded`: the client finished sending.
    mutating func next(in input: inout InputBuffer, inputEnded: Bool) -> Next {
        guard !input.isEmpty else { return .incomplete(sendContinue: false) }
        switch parser.parse(input.bytes, from: input.start) {
        case .incomplete:
            if inputEnded {
                closesAfterResponse = true
                return .truncated
            }
            return .incomplete(sendContinue: !continueDecided && decideContinue(input.unconsumed))
        case .failure(let error):
            closesAfterResponse = true
            input.consume(input.count)
            return .failure(error)
        case .request(let request, let length):
            input.consume(length)
            parser.reset()
            continueDecided = false
            headerSearchedTo = 0
            if !request.keepAlive { closesAfterResponse = true }
            // HTTP/1.0 closes by default: a 1.0 client that asked to keep the connection is told it is kept.
            announcesKeepAlive = request.version == .http1_0 && request.keepAlive
            return .request(request)
        }
    }

    /// Marks the connection to close after the response being written (a 408, say).
    mutating func closeAfterResponse() { closesAfterResponse = true }

    /// Whether the header block of the request being received is complete, and that request asks for
    /// `100 Continue`. Each byte is searched once, however slowly the request arrives.
    private mutating func decideContinue(_ bytes: ArraySlice<UInt8>) -> Bool {
        let end: [UInt8] = [13, 10, 13, 10]
        // Empty lines before the request line (RFC 9112 §2.2, skipped by the parser) are not part of the head.
        var first = bytes.startIndex
        while first + 2 <= bytes.endIndex, bytes[first] == 13, bytes[first + 1] == 10 { first += 2 }
        var index = max(first, bytes.startIndex + max(0, headerSearchedTo - 3))
        while index + 4 <= bytes.endIndex {
            if bytes[index] == 13 && bytes[index..<(index + 4)].elementsEqual(end) {
                continueDecided = true
                return Self.expectsContinue(head: bytes[first..<index])
            }
            index += 1
        }
        headerSearchedTo = bytes.count
        return false
    }

    /// Whether a header block asks for `Expect: 100-continue` in an HTTP/1.1 request. An HTTP/1.0 request's
    /// expectation is ignored (RFC 9110 §10.1.1).
    static func expectsContinue(head bytes: ArraySlice<UInt8>) -> Bool {
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { $0.last == 13 ? $0.dropLast() : $0 }
        guard let requestLine = lines.first, requestLine.suffix(9).elementsEqual(" HTTP/1.1".utf8) else { return false }
        func isOWS(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }
        func lowered(_ bytes: ArraySlice<UInt8>) -> [UInt8] { bytes.map { (65...90).contains($0) ? $0 + 32 : $0 } }
        return lines.dropFirst().contains { line in
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return false }
            var value = line[(colon + 1)...]
            while let byte = value.first, isOWS(byte) { value = value.dropFirst() }
            while let byte = value.last, isOWS(byte) { value = value.dropLast() }
            return lowered(line[..<colon]).elementsEqual("expect".utf8) && lowered(value).elementsEqual("100-continue".utf8)
        }
    }

    // MARK: Responses

    /// Appends `response` (without its body for `HEAD`), saying `Connection: close` when the connection ends
    /// after it and `Connection: keep-alive` to an HTTP/1.0 client that keeps it.
    func frame(_ response: HTTPResponse, head: Bool, into bytes: inout [UInt8]) {
        var response = response
        if closesAfterResponse && response.header("connection") == nil {
            response.headers.append(HTTPHeader(name: "Connection", value: "close"))
        } else if announcesKeepAlive && response.header("connection") == nil {
            response.headers.append(HTTPHeader(name: "Connection", value: "keep-alive"))
        }
        bytes += response.serialized(includeBody: !head)
    }
}
