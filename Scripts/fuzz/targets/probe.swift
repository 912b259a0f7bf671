// Fuzz target `probe`: connection probing's messages (HostessProbing), over a buffer of lines up to 64 KiB
// (a PROBE_RESULTS line may be long; every other line is at most ProbeMessage.maximumLineBytes).
// Oracles: ProbeLines splits the buffer into the lines a plain split on '\n' gives (within its limit), however
// the bytes arrive; a line that decodes as a message re-encodes (ProbeMessage.line) to one that decodes
// equal, a report's MAC covering what reportCovers says; a POST /probe body that decodes as ProbeInstructions
// re-encodes (json) to an equal one; a port range's description parses back equal.
import HostessModel
import HostessProbing

private let passphrase = "fuzz-passphrase"
private let nonce = String(repeating: "ab", count: 16)

private func check(line: ArraySlice<UInt8>) {
    if let message = try? ProbeMessage(line: line) {
        let encoded = ProbeMessage.line(message)
        guard encoded.last == 0x0A, !encoded.dropLast().contains(0x0A) else { fatalError("probe: an encoded message is not one line") }
        let again: ProbeMessage
        do { again = try ProbeMessage(line: encoded.dropLast()) } catch {
            fatalError("probe: the re-encoded \(message) is refused: \(error)")
        }
        guard again == message else { fatalError("probe: round trip changed \(message) -> \(again)") }
        if case .results(let report, _) = message {
            let signed = ProbeMessage.report(report, passphrase: passphrase, nonce: nonce)
            guard let covered = ProbeMessage.reportCovers(signed.dropLast()),
                case .results(let signedReport, let mac)? = try? ProbeMessage(line: signed.dropLast()), signedReport == report,
                ProbeSecrets.verify(mac: mac, passphrase: passphrase, nonce: nonce, covered)
            else { fatalError("probe: a signed report does not verify: \(report)") }
        }
    }
    _ = ProbeMessage.reportCovers(line)
    if let value = try? JSONParser.parse(line), case .object(let object) = value {
        if let instructions = try? ProbeInstructions(json: object) {
            do {
                let again = try ProbeInstructions(json: instructions.json)
                guard again == instructions else { fatalError("probe: instructions changed: \(instructions) -> \(again)") }
            } catch { fatalError("probe: re-encoded instructions are refused: \(error)") }
        }
        _ = try? ProbeReport(object)
    }
    let text = String(decoding: line, as: UTF8.self)
    if let range = try? PortRange(parsing: text, field: "ports") {
        guard (try? PortRange(parsing: range.description, field: "ports")) == range else { fatalError("probe: port range \(range)") }
    }
    _ = try? ProbeAddress.list(text, field: "targets")
}

/// The lines ProbeLines finds in `bytes` given `piece` bytes at a time, and whether it stopped at one too long.
private func lines(_ bytes: [UInt8], limit: Int, piece: Int) -> (lines: [ArraySlice<UInt8>], tooLong: Bool) {
    var splitter = ProbeLines(limit: limit)
    var found: [ArraySlice<UInt8>] = []
    var start = 0
    var end = 0
    while end < bytes.count {
        end = min(end + piece, bytes.count)
        reading: while true {
            switch splitter.next(in: bytes[start..<end]) {
            case .line(let line, let consumed):
                found.append(line)
                start += consumed
            case .incomplete: break reading
            case .tooLong: return (found, true)
            }
        }
    }
    return (found, false)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let limit = ProbeMessage.maximumLineBytes
    // What the lines are: split on '\n', up to the first one over the limit (a trailing part is incomplete,
    // or too long once past the limit).
    var expected: [ArraySlice<UInt8>] = []
    var expectedTooLong = false
    var rest = bytes[...]
    while let newline = rest.firstIndex(of: 0x0A) {
        let line = rest[..<newline]
        if line.count > limit { expectedTooLong = true; break }
        expected.append(line)
        rest = rest[(newline + 1)...]
    }
    if !expectedTooLong && rest.count > limit { expectedTooLong = true }
    for piece in [bytes.count, 1 + (size > 0 ? Int(bytes[0] & 0x3F) : 0)] where piece > 0 {
        let (found, tooLong) = lines(bytes, limit: limit, piece: piece)
        guard found.map(Array.init) == expected.map(Array.init), tooLong == expectedTooLong else {
            fatalError("probe: ProbeLines in pieces of \(piece) found \(found.count) lines (too long: \(tooLong)), expected \(expected.count) (\(expectedTooLong))")
        }
    }
    // Every line, and a long report line as a whole.
    for line in expected { check(line: line) }
    if bytes.count > limit { check(line: bytes[...]) }
    return 0
}
