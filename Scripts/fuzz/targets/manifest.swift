// Fuzz target `manifest`: server manifests (HostessWiring's ManifestFile over SourceDocument.json and .yaml),
// up to 64 KiB (an entry's size; the readers' own limit is 1 MiB).
// Oracles: SourceDocument.json reads exactly what JSONParser reads (the same value, the same refusal); a
// manifest that decodes has a canonical JSON text that decodes to the same manifest and the same text (a
// fixed point); a YAML document's value written as JSON reads back equal, and decodes to the same manifest.
import HostessModel
import HostessWiring

private func manifest(_ document: SourceDocument) -> ManifestFile? {
    guard case .success(let file) = ManifestFile.decode(document) else { return nil }
    return file
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let parsed = try? JSONParser.parse(bytes)
    let json = try? SourceDocument.json(bytes, file: "fuzz.manifest.json")
    guard json?.value == parsed else { fatalError("manifest: SourceDocument.json read \(String(describing: json?.value)), JSONParser \(String(describing: parsed))") }
    var documents: [SourceDocument] = []
    if let json { documents.append(json) }
    if let yaml = try? SourceDocument.yaml(bytes, file: "fuzz.manifest.yaml") {
        let text = yaml.value.jsonBytes
        guard let back = try? SourceDocument.json(text, file: "back.json"), back.value == yaml.value else {
            fatalError("manifest: the YAML document's JSON does not read back: \(String(decoding: text, as: UTF8.self))")
        }
        guard manifest(back) == manifest(yaml).map({ ManifestFile(copy: $0, file: "back.json") }) else {
            fatalError("manifest: the YAML document decodes differently as JSON")
        }
        documents.append(yaml)
    }
    for document in documents {
        for path in document.locations.keys { _ = document.location(of: path + ".missing[3]") }
        guard let file = manifest(document) else { continue }
        let canonical = Array(file.canonicalJSON.utf8)
        guard let again = try? SourceDocument.json(canonical, file: file.file), let decoded = manifest(again) else {
            fatalError("manifest: the canonical JSON does not decode: \(file.canonicalJSON)")
        }
        guard decoded.manifest == file.manifest, decoded.canonicalJSON == file.canonicalJSON else {
            fatalError("manifest: canonical JSON is not a fixed point: \(file.canonicalJSON) -> \(decoded.canonicalJSON)")
        }
        _ = WiringCheck(manifests: [(file.file, canonical)], wirings: [])
    }
    return 0
}

extension ManifestFile {
    /// The same manifest as if read from `file`.
    init(copy: ManifestFile, file: String) {
        self = copy
        self.file = file
    }
}
