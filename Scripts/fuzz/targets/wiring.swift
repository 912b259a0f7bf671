// Fuzz target `wiring`: wiring files (HostessWiring's Wiring.decode over SourceDocument.yaml and .json, then
// WiringValidator against the example manifests, and WiringPlan), up to 64 KiB.
// Oracles: a YAML wiring's value written as JSON decodes to the same wiring with the same diagnostics (rule
// and message, the line and column numbers they cite aside: only locations may differ); every server pattern's description parses back to an equal
// pattern; a plan made from a valid wiring over no servers is refused, never trapped.
import HostessModel
import HostessWiring

/// The example manifests (docs/examples/manifests), compiled in so that the harness reads no file.
private let manifestTexts: [(String, String)] = [
    ("gpu-renderer.manifest.json", #"""
{
  "name": "gpu-renderer",
  "class": "0x0002",
  "owner": "system",
  "authentication": { "required": "no", "mechanism": "none" },
  "terminals": [
    { "name": "input", "direction": "input", "multiplexing": "none", "protocol": "ansi-escape" },
    { "name": "output", "direction": "output", "multiplexing": "fanout", "protocol": "h264" }
  ],
  "capabilities": ["gpu", "h264"],
  "metadata": { "version": "1.0.0", "description": "Renders a terminal's output to H.264 frames" }
}
"""#),
    ("mp4-encoder.manifest.json", #"""
{
  "name": "mp4-encoder",
  "class": "0x0005",
  "owner": "system",
  "authentication": { "required": "no", "mechanism": "none" },
  "terminals": [
    { "name": "input", "direction": "input", "multiplexing": "none", "protocol": "h264" },
    { "name": "output", "direction": "output", "multiplexing": "fanout", "protocol": "mp4" }
  ],
  "capabilities": ["mp4", "h264"],
  "metadata": { "version": "1.0.0", "description": "Muxes H.264 streams into an MP4 file" }
}
"""#),
    ("pty-server.manifest.json", #"""
{
  "name": "pty-server",
  "class": "0x0001",
  "owner": "system",
  "authentication": { "required": "no", "mechanism": "none" },
  "terminals": [
    { "name": "stdin", "direction": "input", "multiplexing": "none", "protocol": "raw-bytes" },
    { "name": "stdout", "direction": "output", "multiplexing": "fanout", "protocol": "ansi-escape" },
    { "name": "stderr", "direction": "output", "multiplexing": "fanout", "protocol": "ansi-escape" }
  ],
  "capabilities": ["pty", "vt100", "ansi-parsing"],
  "metadata": { "version": "1.0.0", "description": "PTY server for terminal emulation" }
}
"""#),
]

private let manifests: [ManifestFile] = manifestTexts.compactMap { name, text in
    guard let document = try? SourceDocument.json(Array(text.utf8), file: name), case .success(let file) = ManifestFile.decode(document) else {
        fatalError("wiring: the example manifest \(name) does not decode")
    }
    return file
}

/// The diagnostics' rules and messages, with the line and column numbers some messages cite blanked (a
/// document and its JSON text put values on different lines).
private func summary(_ diagnostics: [WiringDiagnostic]) -> [String] {
    diagnostics.map { "\($0.rule.rawValue): \(withoutPositions($0.message))" }.sorted()
}

private func withoutPositions(_ message: String) -> String {
    var out: [UInt8] = []
    let bytes = Array(message.utf8)
    var index = 0
    while index < bytes.count {
        out.append(bytes[index])
        index += 1
        for word in ["line ", "column "] where out.count >= word.utf8.count && out.suffix(word.utf8.count).elementsEqual(word.utf8) {
            if index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { out.append(UInt8(ascii: "#")) }
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func exercise(_ document: SourceDocument) -> (wiring: Wiring?, diagnostics: [String]) {
    let (wiring, problems) = Wiring.decode(document)
    var all = problems
    if let wiring {
        all += WiringValidator.validate(wiring, in: document, manifests: manifests)
        for connection in wiring.connections {
            for endpoint in connection.sources + connection.targets.map(\.endpoint) {
                let pattern = endpoint.pattern
                guard let again = try? ServerPattern(parsing: pattern.description), again == pattern else {
                    fatalError("wiring: pattern \(pattern.description.debugDescription) does not parse back equal")
                }
            }
        }
        do {
            _ = try WiringPlan.make(wiring, in: document, entries: [], connectomeID: WiringPlan.connectomeID(of: document))
            if !wiring.requiredServers.isEmpty || !wiring.connections.isEmpty {
                // No servers: a plan that needs one cannot be made.
                if wiring.requiredServers.contains(where: { $0.count > 0 }) { fatalError("wiring: a plan without servers") }
            }
        } catch {}
    }
    return (wiring, summary(all))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    precondition(manifests.count == manifestTexts.count)
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = WiringCheck(manifests: [], wirings: [("fuzz.wiring.yaml", bytes), ("fuzz.wiring.json", bytes)])
    if let json = try? SourceDocument.json(bytes, file: "wiring.json") { _ = exercise(json) }
    if let yaml = try? SourceDocument.yaml(bytes, file: "wiring.yaml") {
        let fromYAML = exercise(yaml)
        let text = yaml.value.jsonBytes
        guard let json = try? SourceDocument.json(text, file: "wiring.json") else {
            fatalError("wiring: the YAML document's JSON does not read back")
        }
        let fromJSON = exercise(json)
        guard fromJSON.wiring == fromYAML.wiring, fromJSON.diagnostics == fromYAML.diagnostics else {
            fatalError("wiring: YAML and its JSON decode differently:\n\(fromYAML)\n\(fromJSON)")
        }
    }
    return 0
}
