// Fuzz target `json`: HostessModel's JSONParser over arbitrary bytes (up to an entry's 64 KiB).
// Oracle: a document that parses serializes (jsonBytes) to text that parses back to an equal value, and
// serializing that value gives the same bytes again (the writer is canonical for what it writes).
import HostessModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let value = try? JSONParser.parse(input) else { return 0 }
    let written = value.jsonBytes
    let again: JSONValue
    do { again = try JSONParser.parse(written) } catch {
        fatalError("json: the writer's output does not parse: \(error); text \(String(decoding: written, as: UTF8.self))")
    }
    guard again == value else {
        fatalError("json: round trip changed the value: \(value) -> \(again)")
    }
    guard again.jsonBytes == written else {
        fatalError("json: writing is not stable: \(String(decoding: written, as: UTF8.self))")
    }
    return 0
}
