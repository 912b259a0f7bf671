import HostessModel

// MARK: - WiringCheck

/// The whole check that `hostess wiring validate` and the build-tool plugin run: read every manifest and
/// wiring file, then validate each wiring against the manifests. Files are given as bytes; reading them is
/// the caller's.
public struct WiringCheck: Sendable {
    /// The largest file read, in bytes.
    public static let maximumFileBytes = 1 << 20

    /// The manifests that were valid.
    public private(set) var manifests: [ManifestFile] = []
    /// The wirings that were valid documents, with their document.
    public private(set) var wirings: [(document: SourceDocument, wiring: Wiring)] = []
    /// Every broken rule, in file order.
    public private(set) var diagnostics: [WiringDiagnostic] = []

    /// Checks `manifests` and `wirings`, each a file name and its bytes.
    public init(manifests manifestFiles: [(file: String, bytes: [UInt8])], wirings wiringFiles: [(file: String, bytes: [UInt8])]) {
        var names: [String: String] = [:]
        for (file, bytes) in manifestFiles {
            guard let document = read(file: file, bytes: bytes) else { continue }
            switch ManifestFile.decode(document) {
            case .success(let manifest):
                if let first = names[manifest.manifest.name] {
                    diagnostics.append(
                        WiringDiagnostic(
                            document: document, path: "name", rule: .manifest,
                            message: "a second manifest named '\(manifest.manifest.name)' (the first is \(first)); servernames must be unique"))
                    continue
                }
                names[manifest.manifest.name] = file
                manifests.append(manifest)
            case .failure(let diagnostic): diagnostics.append(diagnostic)
            }
        }
        for (file, bytes) in wiringFiles {
            guard let document = read(file: file, bytes: bytes) else { continue }
            let (wiring, problems) = Wiring.decode(document)
            diagnostics += problems
            guard let wiring else { continue }
            diagnostics += WiringValidator.validate(wiring, in: document, manifests: manifests)
            wirings.append((document, wiring))
        }
        diagnostics.sort()
    }

    /// Reads one file by its name's ending (`.yaml`/`.yml` YAML, anything else JSON), noting why it cannot be.
    private mutating func read(file: String, bytes: [UInt8]) -> SourceDocument? {
        do { return try Self.document(file: file, bytes: bytes) } catch {
            diagnostics.append(WiringDiagnostic(error))
            return nil
        }
    }

    /// Parses a file as YAML when its name ends in `.yaml` or `.yml`, else as JSON.
    public static func document(file: String, bytes: [UInt8]) throws(SourceError) -> SourceDocument {
        guard bytes.count <= maximumFileBytes else {
            throw SourceError(file: file, location: .start, message: "the file is \(bytes.count) bytes; at most \(maximumFileBytes) are read")
        }
        let lower = file.lowercased()
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return try SourceDocument.yaml(bytes, file: file) }
        return try SourceDocument.json(bytes, file: file)
    }

    /// Whether a file name is a wiring file: `wiring.yaml`, `wiring.yml`, `wiring.json`, or `NAME.wiring.` one of those.
    public static func isWiringFile(_ name: String) -> Bool {
        ["wiring.yaml", "wiring.yml", "wiring.json"].contains { name == $0 || name.hasSuffix("." + $0) }
    }
}
