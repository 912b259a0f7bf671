// Fuzz target `http-framing`: hostessd's HTTP/1.1 server framing (HostessDaemon's HTTPServerFraming over an
// InputBuffer), as an HTTPSession drives it: bytes arrive in pieces, requests are taken until the
// connection is to close, the buffer is compacted after each batch, each request gets a framed response.
// Oracles: however the bytes arrive, the framing gives the requests, and the same end (a failure, a truncated
// request, or nothing left), that HTTPRequestParser gives on the whole stream, stopping after a request that
// closes the connection; `100 Continue` is asked for at most once a request, only when its complete head
// says `Expect: 100-continue` in HTTP/1.1, and always when that head completed in an earlier piece than its
// body; a framed response says `Connection: close` exactly when the connection closes after it, and
// `keep-alive` to an HTTP/1.0 client that keeps it.
//
// Input: byte 0 chooses the piece size (bits 0-5, plus 1); the rest is the stream.
@testable import HostessDaemon
import HostessHTTP
import HostessLoop

private enum End: Equatable {
    case failure(HTTPParseError)
    case truncated
    case closed
    case drained
}

private let crlf2: [UInt8] = [13, 10, 13, 10]

/// The head of a request starting at `start` (after its empty lines, up to the blank line), and where it ends
/// (after the blank line), if complete before `end`.
private func head(_ stream: ArraySlice<UInt8>, from start: Int, to end: Int) -> (head: ArraySlice<UInt8>, end: Int)? {
    var first = start
    while first + 2 <= end, stream[first] == 13, stream[first + 1] == 10 { first += 2 }
    var index = first
    while index + 4 <= end {
        if stream[index..<(index + 4)].elementsEqual(crlf2) { return (stream[first..<index], index + 4) }
        index += 1
    }
    return nil
}

/// The reference: HTTPRequestParser over the whole stream.
private func reference(_ stream: ArraySlice<UInt8>) -> (requests: [HTTPRequest], end: End) {
    var parser = HTTPRequestParser()
    let bytes = Array(stream)
    var start = 0
    var requests: [HTTPRequest] = []
    while true {
        switch parser.parse(bytes, from: start) {
        case .failure(let error): return (requests, .failure(error))
        case .incomplete: return (requests, start == bytes.count ? .drained : .truncated)
        case .request(let request, let consumed):
            requests.append(request)
            start += consumed
            parser.reset()
            if !request.keepAlive { return (requests, .closed) }
        }
    }
}

/// The framing over `stream` arriving `piece` bytes at a time.
private func framed(_ stream: ArraySlice<UInt8>, piece: Int) -> (requests: [HTTPRequest], end: End) {
    var framing = HTTPServerFraming()
    var input = InputBuffer()
    var requests: [HTTPRequest] = []
    var fed = stream.startIndex
    // The stream offset where the request being received starts, and whether it was sent `100 Continue`.
    var requestStart = stream.startIndex
    var continued = false
    while true {
        let end = min(fed + piece, stream.endIndex)
        input.append(contentsOf: stream[fed..<end])
        fed = end
        let ended = fed == stream.endIndex
        reading: while !framing.closesAfterResponse {
            switch framing.next(in: &input, inputEnded: ended) {
            case .incomplete(let sendContinue):
                guard sendContinue else { break reading }
                guard !continued else { fatalError("http-framing: 100 Continue twice for the request at \(requestStart)") }
                guard let (head, _) = head(stream, from: requestStart, to: fed), HTTPServerFraming.expectsContinue(head: head) else {
                    fatalError("http-framing: 100 Continue for a request at \(requestStart) whose head does not ask for it")
                }
                continued = true
            case .request(let request):
                let requestEnd = fed - input.count
                if !continued, let (head, headEnd) = head(stream, from: requestStart, to: requestEnd),
                    HTTPServerFraming.expectsContinue(head: head),
                    (headEnd - 1 - stream.startIndex) / piece < (requestEnd - 1 - stream.startIndex) / piece
                {
                    fatalError("http-framing: no 100 Continue for the request at \(requestStart), its head complete a piece before its body")
                }
                requests.append(request)
                var response: [UInt8] = []
                framing.frame(HTTPResponse(status: .ok, body: Array("ok".utf8)), head: request.method == "HEAD", into: &response)
                let text = String(decoding: response, as: UTF8.self).lowercased()
                guard text.contains("\r\nconnection: close\r\n") == framing.closesAfterResponse,
                    text.contains("\r\nconnection: keep-alive\r\n")
                        == (!framing.closesAfterResponse && request.version == .http1_0 && request.keepAlive)
                else { fatalError("http-framing: the response's Connection header is wrong for \(request)") }
                requestStart = requestEnd
                continued = false
            case .truncated: return (requests, .truncated)
            case .failure(let error):
                guard input.isEmpty else { fatalError("http-framing: a failure left \(input.count) bytes") }
                return (requests, .failure(error))
            }
        }
        input.compact()
        if framing.closesAfterResponse { return (requests, .closed) }
        if ended { return (requests, input.isEmpty ? .drained : .truncated) }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let stream = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))[...]
    let want = reference(stream)
    let whole = framed(stream, piece: max(1, stream.count))
    guard whole.requests == want.requests, whole.end == want.end else {
        fatalError("http-framing: whole stream gives \(whole.requests.count) requests, \(whole.end); the parser \(want.requests.count), \(want.end)")
    }
    let piece = Int(data[0] & 0x3F) + 1
    let pieces = framed(stream, piece: piece)
    guard pieces.requests == want.requests, pieces.end == want.end else {
        fatalError("http-framing: pieces of \(piece) give \(pieces.requests.count) requests, \(pieces.end); the parser \(want.requests.count), \(want.end)")
    }
    return 0
}
