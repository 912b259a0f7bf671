// Fuzz target `command`: the line protocol's request decoder (HostessDaemon's Request(line:)), over lines up
// to 64 KiB (an entry's size; the framing's limit, Limits.lineBytes, is 1 MiB).
// Oracles: a line that is JSON decodes to the same request, or the same refusal, as its JSON re-serialized
// compactly and as the same JSON with white space around it (the decoder reads values, not bytes); a
// request decodes the same from its object (Request(object:)).
import HostessDaemon
import HostessModel

private func decode(_ bytes: some Collection<UInt8>) -> Result<Request, RequestError> {
    Result { () throws(RequestError) in try Request(line: bytes) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = UnsafeBufferPointer(start: data, count: size)
    let decoded = decode(line)
    guard let value = try? JSONParser.parse(line) else {
        if case .success(let request) = decoded { fatalError("command: decoded \(request) from a line that is not JSON") }
        return 0
    }
    let compact = decode(value.jsonBytes)
    guard compact == decoded else { fatalError("command: \(decoded) but re-serialized \(compact)") }
    let spaced = decode(Array(" \t".utf8) + value.jsonBytes + Array("\r\n ".utf8))
    guard spaced == decoded else { fatalError("command: \(decoded) but with white space \(spaced)") }
    if case .object(let object) = value {
        let fromObject = Result { () throws(RequestError) in try Request(object: object) }
        guard fromObject == decoded else { fatalError("command: \(decoded) but from the object \(fromObject)") }
    }
    return 0
}
