// Fuzz target `http-response`: the client's HTTP/1.1 response parsers, HTTPResponseParser (whole body) and
// HTTPResponseStreamParser (body as it arrives), over up to 32 KiB.
// Oracle: the stream parser, given the bytes in pieces the input chooses, reads what HTTPResponseParser reads
// of them at once (interim 1xx responses skipped, the input ending there): the same head, the same body put
// together, the same bytes consumed, or the same error. HTTPResponseParser itself gives the same result split
// at a point as whole.
//
// Input: byte 0 chooses the limits (bit 7: small ones), HEAD (bit 6) and the piece size (bits 0-3), bytes 1-2
// a split point; the rest is the response.
import HostessHTTP

private typealias Result = HTTPResponseParser.ParseResult
private typealias Limits = HTTPResponseParser.Limits

/// HTTPResponseParser over `bytes`, given up to `cut` first and then all of it with the input ending,
/// interim 1xx responses skipped as a client skips them (their bytes counted in `consumed`).
private func wholeResult(_ bytes: [UInt8], limits: Limits, head: Bool, cut: Int? = nil) -> Result {
    var parser = HTTPResponseParser(limits: limits, requestWasHead: head)
    var start = 0
    if let cut {
        // What arrives first; complete interim responses (or the final one) may already be there.
        let first = Array(bytes[..<cut])
        reading: while true {
            switch parser.parse(first, from: start, atEndOfInput: false) {
            case .response(let response, let consumed):
                start += consumed
                if response.status >= 200 { return .response(response, consumed: start) }
            case .failure(let error): return .failure(error)
            case .incomplete: break reading
            }
        }
    }
    while true {
        let result = parser.parse(bytes, from: start, atEndOfInput: true)
        guard case .response(let response, let consumed) = result else { return result }
        start += consumed
        if response.status >= 200 { return .response(response, consumed: start) }
    }
}

/// HTTPResponseStreamParser over `bytes` in pieces of `piece` bytes after a first one of `first`, the last
/// call ending the input, as the result HTTPResponseParser should give.
private func streamedResult(_ bytes: [UInt8], limits: Limits, head: Bool, first: Int, piece: Int) -> Result {
    var parser = HTTPResponseStreamParser(limits: limits, requestWasHead: head)
    var response: HTTPClientResponse?
    var body: [UInt8] = []
    var consumed = 0
    var offset = 0
    var size = first
    repeat {
        size = min(size, bytes.count - offset)
        let chunk = bytes[offset..<(offset + size)]
        offset += size
        let output: HTTPResponseStreamParser.Output
        do { output = try parser.parse(chunk, atEndOfInput: offset == bytes.count) } catch { return .failure(error) }
        if let arrived = output.head {
            guard response == nil else { fatalError("http-response: a second head") }
            guard arrived.body.isEmpty else { fatalError("http-response: a head with a body") }
            response = arrived
        }
        body += output.body
        consumed += output.consumed
        if output.isComplete {
            guard var complete = response else { fatalError("http-response: complete without a head") }
            complete.body = body
            return .response(complete, consumed: consumed)
        }
        guard output.consumed == size else { fatalError("http-response: an incomplete response took \(output.consumed) of \(size) bytes") }
        size = piece
    } while offset < bytes.count
    return .incomplete
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let control = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let point = (Int(data[1]) << 8 | Int(data[2])) % (bytes.count + 1)
    let head = control & 0x40 != 0
    // The stream parser has no body limit, so HTTPResponseParser's is out of reach here as in the unit tests.
    let limits =
        control & 0x80 != 0
        ? Limits(statusLine: 128, headerBlock: 256, headerFields: 8, body: .max, chunkSizeLine: 16)
        : Limits(body: .max)
    let whole = wholeResult(bytes, limits: limits, head: head)
    guard whole != .incomplete else { fatalError("http-response: incomplete at the end of the input") }
    let wholeSplit = wholeResult(bytes, limits: limits, head: head, cut: point)
    guard wholeSplit == whole else { fatalError("http-response: HTTPResponseParser split at \(point): \(wholeSplit), whole \(whole)") }
    let once = streamedResult(bytes, limits: limits, head: head, first: bytes.count, piece: bytes.count)
    guard once == whole else { fatalError("http-response: streamed at once \(once), whole \(whole)") }
    let piece = Int(control & 0x0F) + 1
    let streamed = streamedResult(bytes, limits: limits, head: head, first: point, piece: bytes.count <= 4096 ? piece : 4096)
    guard streamed == whole else { fatalError("http-response: streamed from \(point) by \(piece): \(streamed), whole \(whole)") }
    // The default limits, with the body limit, must not trap either.
    var parser = HTTPResponseParser(requestWasHead: head)
    _ = parser.parse(bytes, atEndOfInput: true)
    return 0
}
