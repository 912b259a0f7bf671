import HostessModel

// MARK: - ManifestFile

/// A server manifest read from its file (`NAME.manifest.json`), with the document it came from.
public struct ManifestFile: Hashable, Sendable {
    /// The file name manifests have, so that a directory or a target can hold other JSON too.
    public static let suffix = ".manifest.json"

    /// The file, as it was named.
    public var file: String
    /// The manifest.
    public var manifest: ServerManifest
    /// The manifest's canonical JSON text (members in schema order), as compiled into binaries.
    public var canonicalJSON: String

    /// Decodes and checks a manifest document: the schema, and that a running instance's name and
    /// terminals would be valid (the servername, owner and mechanism grammar, terminal names and sizes).
    /// - Returns: the manifest, or the diagnostics that say why it is not one.
    public static func decode(_ document: SourceDocument) -> Result<ManifestFile, WiringDiagnostic> {
        func diagnostic(_ error: HostessError) -> WiringDiagnostic {
            // ServerManifest names its fields from a root called "manifest".
            var path = error.field
            if let field = path, field == "manifest" { path = "" } else if let field = path, field.hasPrefix("manifest.") {
                path = String(field.dropFirst("manifest.".count))
            }
            return WiringDiagnostic(document: document, path: path, rule: .manifest, message: error.message)
        }
        let manifest: ServerManifest
        do {
            manifest = try ServerManifest(json: document.value)
            // A fixed, valid fqdn and UUID: what is checked is everything the manifest itself decides.
            _ = try manifest.registration(fqdn: "localhost", uuid: "00000000-0000-0000-0000-000000000000")
        } catch {
            return .failure(diagnostic(error))
        }
        return .success(ManifestFile(file: document.file, manifest: manifest, canonicalJSON: String(decoding: manifest.json.jsonBytes, as: UTF8.self)))
    }

    /// `pty-server (0x0001, pty-server.manifest.json)`, for messages that list manifests.
    var summary: String { "\(manifest.name) (\(manifest.classCode), \(file))" }
}
