import Foundation
import HostessDirectory
import HostessHTTP
import HostessModel
import Testing

// MARK: - Fixtures

/// The responses in Fixtures/, captured from a real etcd 3.4 by Fixtures/capture.sh, each as curl received it.
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The bytes of `name`.http.
    static func raw(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent("\(name).http")))
    }

    /// The complete response `name`.http, read by HTTPResponseParser.
    static func response(_ name: String) throws -> HTTPClientResponse {
        var parser = HTTPResponseParser()
        guard case .response(let response, _) = parser.parse(try raw(name), atEndOfInput: true) else {
            throw TestFailure("\(name).http is not a complete HTTP response")
        }
        return response
    }

    /// The body of `name`.http, a complete response.
    static func body(_ name: String) throws -> [UInt8] { try response(name).body }

    /// The body of the watch stream `name`.http as it was received, up to where the capture stopped (curl stopped
    /// most watches before etcd ended them, so they have no last chunk), read by HTTPResponseStreamParser.
    static func streamBody(_ name: String) throws -> [UInt8] {
        var parser = HTTPResponseStreamParser()
        let output = try parser.parse(try raw(name))
        guard output.head?.status == 200, output.head?.header("transfer-encoding") == "chunked" else {
            throw TestFailure("\(name).http is not a chunked 200 response")
        }
        return output.body
    }
}

/// A fixture that is not what a test expects of it.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Decoding helpers

/// The replies a test decodes, by the decoder that reads them.
enum ReplyKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case grant, keepAlive, header, range, deleteRange, authentication

    var testDescription: String { rawValue }

    /// Decodes `body` with this kind's decoder, giving what it read as a printable value.
    func decode(_ body: [UInt8]) throws(EtcdError) -> String {
        switch self {
        case .grant: return String(describing: try EtcdLease(grantReply: body))
        case .keepAlive: return String(describing: try EtcdLease(keepAliveReply: body))
        case .header: return String(describing: try EtcdHeader(reply: body))
        case .range: return String(describing: try EtcdRange(reply: body))
        case .deleteRange: return String(describing: try EtcdDeleteRange(reply: body))
        case .authentication: return String(describing: try EtcdAuthentication(reply: body))
        }
    }
}

/// Every response `bytes` give an ``EtcdWatchDecoder`` appended in pieces of the sizes `cuts` draws (each drained
/// before the next), and the error that stopped it, if any.
func watchResponses(
    _ bytes: [UInt8], maximumObjectBytes: Int = EtcdWatchDecoder.defaultMaximumObjectBytes, cuts: (Int) -> Int
) -> (responses: [EtcdWatchResponse], error: EtcdError?) {
    var decoder = EtcdWatchDecoder(maximumObjectBytes: maximumObjectBytes)
    var responses: [EtcdWatchResponse] = []
    var offset = 0
    repeat {
        let size = min(max(0, cuts(bytes.count - offset)), bytes.count - offset)
        decoder.append(bytes[offset..<(offset + size)])
        offset += size
        do {
            while let response = try decoder.next() { responses.append(response) }
        } catch {
            return (responses, error)
        }
    } while offset < bytes.count
    return (responses, nil)
}

// MARK: - Editing JSON

extension JSONValue {
    /// This value with the member or element at `path` (`kvs[1].key`, `result.header`) replaced by `value` (a
    /// member added if need be), or removed when `value` is nil. Nil when the path does not lead there.
    func replacing(_ path: String, with value: JSONValue?) -> JSONValue? {
        var steps: [PathStep] = []
        for part in path.split(separator: ".") {
            var name = Substring(part)
            var indices: [Int] = []
            while name.hasSuffix("]"), let open = name.lastIndex(of: "[") {
                guard let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) else { return nil }
                indices.insert(index, at: 0)
                name = name[..<open]
            }
            steps.append(.member(String(name)))
            steps.append(contentsOf: indices.map(PathStep.element))
        }
        return replacing(steps[...], with: value)
    }

    private enum PathStep {
        case member(String)
        case element(Int)
    }

    private func replacing(_ steps: ArraySlice<PathStep>, with value: JSONValue?) -> JSONValue? {
        guard let step = steps.first else { return value }
        let rest = steps.dropFirst()
        switch (self, step) {
        case (.object(var object), .member(let name)):
            if rest.isEmpty {
                guard object[name] != nil || value != nil else { return nil }
                object[name] = value
            } else {
                guard let replaced = object[name]?.replacing(rest, with: value) else { return nil }
                object[name] = replaced
            }
            return .object(object)
        case (.array(var elements), .element(let index)):
            guard elements.indices.contains(index) else { return nil }
            if rest.isEmpty {
                if let value { elements[index] = value } else { elements.remove(at: index) }
            } else {
                guard let replaced = elements[index].replacing(rest, with: value) else { return nil }
                elements[index] = replaced
            }
            return .array(elements)
        default:
            return nil
        }
    }
}
