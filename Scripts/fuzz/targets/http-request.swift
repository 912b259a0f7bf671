// Fuzz target `http-request`: the server's incremental HTTP/1.1 request parser (HostessHTTP's
// HTTPRequestParser, which hostessd's HTTP framing drives), over a stream of pipelined requests up to the
// request-line and header-block limits plus a body (32 KiB).
// Oracle: parsing the stream whole and parsing it as it trickles in (split at a point the input chooses,
// and in pieces of 1 to 16 bytes) give the same requests, consuming the same bytes, and the same failure.
//
// Input: byte 0 chooses the limits (bit 7: small ones, to reach each limit's refusal) and the piece size
// (bits 0-3), bytes 1-2 the split point; the rest is the stream.
import HostessHTTP

private typealias Result = HTTPRequestParser.ParseResult

/// Every result the parser gives for `stream` arriving in pieces that end at `cuts` (the last at the end),
/// until it needs more bytes at the end or fails.
private func results(_ stream: [UInt8], limits: HTTPRequestParser.Limits, cuts: [Int]) -> [Result] {
    var parser = HTTPRequestParser(limits: limits)
    var out: [Result] = []
    var received: [UInt8] = []
    var start = 0
    var previous = 0
    for cut in cuts + [stream.count] where cut >= previous {
        received += stream[previous..<cut]
        previous = cut
        parsing: while true {
            let result = parser.parse(received, from: start)
            switch result {
            case .incomplete: break parsing
            case .request(let request, let consumed):
                guard consumed > 0, start + consumed <= received.count else {
                    fatalError("http-request: consumed \(consumed) of \(received.count - start) bytes for \(request)")
                }
                out.append(result)
                start += consumed
            case .failure:
                out.append(result)
                // A failure is sticky: the parser must answer it again.
                guard parser.parse(received, from: start) == result else { fatalError("http-request: a failure did not stick") }
                return out
            }
        }
    }
    out.append(.incomplete)
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let control = data[0]
    let point = Int(data[1]) << 8 | Int(data[2])
    let stream = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let limits =
        control & 0x80 != 0
        ? HTTPRequestParser.Limits(requestLine: 64, headerBlock: 256, headerFields: 8, body: 512)
        : HTTPRequestParser.Limits()
    let whole = results(stream, limits: limits, cuts: [])
    let split = results(stream, limits: limits, cuts: [point % (stream.count + 1)])
    guard split == whole else { fatalError("http-request: split at \(point % (stream.count + 1)) gives \(split), whole \(whole)") }
    let piece = Int(control & 0x0F) + 1
    if stream.count <= 4096 || piece >= 8 {
        let pieces = results(stream, limits: limits, cuts: Array(stride(from: piece, to: stream.count, by: piece)))
        guard pieces == whole else { fatalError("http-request: pieces of \(piece) give \(pieces), whole \(whole)") }
    }
    for case .request(let request, _) in whole {
        _ = request.path
        _ = request.query
        _ = request.connectionOptions
        _ = request.header("host")
    }
    return 0
}
