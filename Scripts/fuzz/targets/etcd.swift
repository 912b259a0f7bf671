// Fuzz target `etcd`: the fleet directory's decoders of etcd's v3 JSON gateway (HostessDirectory): every
// reply decoder, the watch stream's EtcdWatchDecoder, and Base64, over bodies up to 64 KiB.
// Oracles: a reply decodes to the same value or error as its JSON re-serialized compactly (the decoders read
// JSON values, not bytes); the watch decoder gives the same responses and the same error fed the stream
// whole, split at a point the input chooses, and in pieces of 1 to 16 bytes; Base64 decodes what it encodes.
//
// Input: byte 0 chooses the piece size (bits 0-3) and a small response limit (bit 7), bytes 1-2 the split
// point; the rest is the body.
import HostessDirectory
import HostessModel

private struct Replies: Hashable {
    var header: Result<EtcdHeader, EtcdError>
    var grant: Result<EtcdLease, EtcdError>
    var keepAlive: Result<EtcdLease, EtcdError>
    var range: Result<EtcdRange, EtcdError>
    var deleteRange: Result<EtcdDeleteRange, EtcdError>
    var authentication: Result<EtcdAuthentication, EtcdError>

    init(_ body: [UInt8]) {
        header = Result { () throws(EtcdError) in try EtcdHeader(reply: body) }
        grant = Result { () throws(EtcdError) in try EtcdLease(grantReply: body) }
        keepAlive = Result { () throws(EtcdError) in try EtcdLease(keepAliveReply: body) }
        range = Result { () throws(EtcdError) in try EtcdRange(reply: body) }
        deleteRange = Result { () throws(EtcdError) in try EtcdDeleteRange(reply: body) }
        authentication = Result { () throws(EtcdError) in try EtcdAuthentication(reply: body) }
    }
}

/// What the watch decoder makes of `stream` arriving in pieces that end at `cuts`: its responses in order,
/// then the error it throws (from next() or finish()), or nil at a clean end.
private func watch(_ stream: [UInt8], limit: Int, cuts: [Int]) -> (responses: [EtcdWatchResponse], error: EtcdError?) {
    var decoder = EtcdWatchDecoder(maximumObjectBytes: limit)
    var responses: [EtcdWatchResponse] = []
    var previous = 0
    for cut in cuts + [stream.count] where cut >= previous {
        decoder.append(stream[previous..<cut])
        previous = cut
        do {
            while let response = try decoder.next() {
                _ = response.cancellation
                _ = response.resumeRevision(from: 1)
                responses.append(response)
            }
        } catch {
            // Once thrown, the same error on every call.
            do {
                _ = try decoder.next()
                fatalError("etcd: a watch error did not stick")
            } catch let again {
                guard again == error else { fatalError("etcd: a watch error changed: \(error) then \(again)") }
            }
            return (responses, error)
        }
    }
    do { try decoder.finish() } catch { return (responses, error) }
    return (responses, nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 3 else { return 0 }
    let control = data[0]
    let body = Array(UnsafeBufferPointer(start: data + 3, count: size - 3))
    let point = (Int(data[1]) << 8 | Int(data[2])) % (body.count + 1)

    let replies = Replies(body)
    if let document = try? JSONParser.parse(body) {
        let compact = Replies(document.jsonBytes)
        guard compact == replies else { fatalError("etcd: a reply decodes differently re-serialized: \(replies) vs \(compact)") }
    }

    let limit = control & 0x80 != 0 ? 256 : EtcdWatchDecoder.defaultMaximumObjectBytes
    let whole = watch(body, limit: limit, cuts: [])
    let split = watch(body, limit: limit, cuts: [point])
    guard split.responses == whole.responses, split.error == whole.error else {
        fatalError("etcd: the watch stream split at \(point) gives \(split), whole \(whole)")
    }
    let piece = Int(control & 0x0F) + 1
    let pieces = watch(body, limit: limit, cuts: Array(stride(from: piece, to: body.count, by: piece)))
    guard pieces.responses == whole.responses, pieces.error == whole.error else {
        fatalError("etcd: the watch stream in pieces of \(piece) gives \(pieces), whole \(whole)")
    }

    if let decoded = try? Base64.decode(bytes: body) {
        let encoded = Base64.encodedBytes(decoded)
        guard (try? Base64.decode(bytes: encoded)) == decoded else { fatalError("etcd: Base64 does not decode what it encodes") }
        guard Base64.encode(decoded) == String(decoding: encoded, as: UTF8.self) else { fatalError("etcd: Base64's two encoders differ") }
    }
    return 0
}
