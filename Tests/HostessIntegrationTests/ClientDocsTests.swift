import Foundation
import Testing

/// docs/client.md shows the client library as a user of the package sees it: every Swift block must
/// typecheck against the built modules, importing only the package's public products, and the example
/// server must depend on nothing else either.
@Suite("the client library's docs")
struct ClientDocsTests {
    static let root = DocumentedReaderTests.root
    /// The modules a user of the package may import: its library products and the toolchain's.
    static let publicModules: Set<String> = [
        "HostessClient", "HostessModel", "HostessRegion", "Foundation", "Glibc", "Dispatch", "Synchronization", "PackageDescription",
    ]

    /// The Swift code blocks of a Markdown file.
    static func swiftBlocks(_ path: String) throws -> [String] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append((current ?? []).joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The modules a Swift file imports.
    static func imports(_ source: String) -> Set<String> {
        Set(source.split(separator: "\n").compactMap { line in line.hasPrefix("import ") ? String(line.dropFirst("import ".count)) : nil })
    }

    static let blocks = (try? swiftBlocks(root + "/docs/client.md")) ?? []

    @Test("docs/client.md has its blocks: the package manifest and the client's uses")
    func hasBlocks() {
        #expect(Self.blocks.count == 6, "the typecheck test covers 6 blocks; docs/client.md has \(Self.blocks.count)")
        #expect(Self.blocks.first?.hasPrefix("// swift-tools-version:6.0") == true)
    }

    @Test("each Swift block of docs/client.md typechecks against the package, importing only public products", arguments: 0..<6)
    func typechecks(index: Int) throws {
        try #require(index < Self.blocks.count, "docs/client.md has \(Self.blocks.count) Swift blocks")
        let block = Self.blocks[index]
        #expect(Self.imports(block).isSubset(of: Self.publicModules), "\(Self.imports(block))")
        let scratch = try ScratchDirectory()
        let file = try scratch.write("main.swift", block)
        let build = URL(fileURLWithPath: Binaries.path("hostessd")).deletingLastPathComponent().path
        let swiftc = URL(fileURLWithPath: "/opt/swift/usr/bin/swiftc").path
        let compiler = FileManager.default.isExecutableFile(atPath: swiftc) ? swiftc : "/usr/bin/swiftc"
        let arguments =
            block.contains("import PackageDescription")
            ? ["-typecheck", "-swift-version", "6", "-package-description-version", "6.0", "-I", Self.manifestAPI(compiler), file]
            : [
                "-typecheck", "-swift-version", "6", "-I", build + "/Modules", "-Xcc", "-fmodule-map-file=\(build)/CShim.build/module.modulemap", file,
            ]
        let outcome = try CLI.run(compiler, arguments, timeout: 120)
        #expect(outcome.status == 0, "block \(index):\n\(block)\n\(outcome)")
    }

    /// PackageDescription's module, beside the compiler (`usr/bin/swiftc` → `usr/lib/swift/pm/ManifestAPI`).
    static func manifestAPI(_ compiler: String) -> String {
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: compiler)).map {
            $0.hasPrefix("/") ? $0 : URL(fileURLWithPath: compiler).deletingLastPathComponent().appendingPathComponent($0).path
        } ?? compiler
        return URL(fileURLWithPath: resolved).deletingLastPathComponent().deletingLastPathComponent().path + "/lib/swift/pm/ManifestAPI"
    }

    @Test("the example server imports, and its target depends on, public products only")
    func exampleUsesPublicProducts() throws {
        let source = try String(contentsOfFile: Self.root + "/Sources/hostess-example-server/main.swift", encoding: .utf8)
        #expect(Self.imports(source).isSubset(of: Self.publicModules), "\(Self.imports(source))")
        let manifest = try String(contentsOfFile: Self.root + "/Package.swift", encoding: .utf8)
        let target = try #require(manifest.range(of: #"name: "hostess-example-server", dependencies: ["#))
        let dependencies = manifest[target.upperBound...].prefix { $0 != "]" }
        #expect(dependencies == #""HostessClient", "HostessModel""#, "\(dependencies)")
    }
}
