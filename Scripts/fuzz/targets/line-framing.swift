// Fuzz target `line-framing`: hostessd's line-protocol framing (HostessDaemon's LineFraming over an
// InputBuffer), as a LineSession drives it: bytes arrive in pieces, every complete line is taken, the
// buffer is compacted after each batch, and the end of input makes the last bytes a line.
// Oracles: the framing gives, however the bytes arrive, exactly the lines a plain split on '\n' gives (a
// '\r' before the newline dropped), stopping at the first line over the limit, with nothing left once the
// input ended; one byte at a time stays linear (the -timeout); a line that is JSON, framed as a reply, is
// one line that parses back equal.
//
// Input: byte 0 chooses the piece size (bits 0-5, plus 1) and the limit (bit 6: 16 + byte 1 bytes, to reach
// the refusal; otherwise Limits.lineBytes); the rest is the stream.
@testable import HostessDaemon
import HostessLoop
import HostessModel

private enum Outcome: Equatable {
    case line([UInt8])
    case tooLong
}

/// What a plain split finds in `stream` under `limit`: the lines, the tail as a last line, or a refusal.
private func expected(_ stream: ArraySlice<UInt8>, limit: Int) -> [Outcome] {
    var out: [Outcome] = []
    var rest = stream
    func content(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> { line.last == 0x0D ? line.dropLast() : line }
    while let newline = rest.firstIndex(of: 0x0A) {
        let line = content(rest[..<newline])
        if line.count > limit { return out + [.tooLong] }
        out.append(.line(Array(line)))
        rest = rest[(newline + 1)...]
    }
    if content(rest).count > limit { return out + [.tooLong] }
    if !rest.isEmpty { out.append(.line(Array(content(rest)))) }
    return out
}

/// What the framing gives for `stream` arriving `piece` bytes at a time.
private func framed(_ stream: ArraySlice<UInt8>, limit: Int, piece: Int) -> [Outcome] {
    var framing = LineFraming(maximum: limit)
    var input = InputBuffer()
    var out: [Outcome] = []
    var fed = stream.startIndex
    while true {
        let end = min(fed + piece, stream.endIndex)
        input.append(contentsOf: stream[fed..<end])
        fed = end
        let ended = fed == stream.endIndex
        reading: while true {
            switch framing.next(in: &input, inputEnded: ended) {
            case .line(let line):
                _ = LineFraming.isBlank(line)
                out.append(.line(Array(line)))
            case .tooLong: return out + [.tooLong]
            case .incomplete: break reading
            }
        }
        input.compact()
        if ended {
            guard input.isEmpty else { fatalError("line-framing: \(input.count) bytes left once the input ended") }
            return out
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 2 else { return 0 }
    let control = data[0]
    let limit = control & 0x40 != 0 ? 16 + Int(data[1]) : Limits.lineBytes
    let stream = Array(UnsafeBufferPointer(start: data + 2, count: size - 2))[...]
    let want = expected(stream, limit: limit)
    let whole = framed(stream, limit: limit, piece: max(1, stream.count))
    guard whole == want else { fatalError("line-framing: whole stream gives \(whole.count) outcomes, a plain split \(want.count)") }
    let piece = Int(control & 0x3F) + 1
    let pieces = framed(stream, limit: limit, piece: piece)
    guard pieces == want else { fatalError("line-framing: pieces of \(piece) give \(pieces.count) outcomes, a plain split \(want.count)") }
    for case .line(let line) in want {
        guard let value = try? JSONParser.parse(line) else { continue }
        var reply: [UInt8] = []
        LineFraming.frame(value, into: &reply)
        guard reply.last == 0x0A, reply.firstIndex(of: 0x0A) == reply.count - 1 else {
            fatalError("line-framing: a framed reply is not one line")
        }
        guard (try? JSONParser.parse(reply.dropLast())) == value else { fatalError("line-framing: a framed reply parses differently") }
    }
    return 0
}
