import Foundation
import Glibc
import Testing

// MARK: - The plugin at build time

/// A small package outside this one that uses the HostessManifests plugin: one executable target with the
/// example manifests and a wiring file, built with `swift build` in its own scratch directory.
struct FixturePackage {
    let root: String
    let target: String

    init(scratch: ScratchDirectory) throws {
        root = scratch.path + "/fixture"
        target = root + "/Sources/fixture-server"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try """
        // swift-tools-version:6.0
        import PackageDescription

        let package = Package(
            name: "Fixture",
            dependencies: [.package(name: "Hostess", path: "\(repositoryRoot)")],
            targets: [
                .executableTarget(
                    name: "fixture-server", dependencies: [.product(name: "HostessModel", package: "Hostess")],
                    plugins: [.plugin(name: "HostessManifests", package: "Hostess")])
            ]
        )
        """.write(toFile: root + "/Package.swift", atomically: true, encoding: .utf8)
        try """
        for compiled in CompiledManifests.all { print(compiled.manifest.name, compiled.manifest.classCode, compiled.manifest.terminals.count) }
        print("wirings:", CompiledManifests.wirings.map(\\.file))
        """.write(toFile: target + "/main.swift", atomically: true, encoding: .utf8)
        for role in ["pty-server", "gpu-renderer", "mp4-encoder"] {
            try FileManager.default.copyItem(atPath: "\(exampleManifests)/\(role).manifest.json", toPath: "\(target)/\(role).manifest.json")
        }
    }

    /// Writes the target's wiring.yaml.
    func wiring(_ text: String) throws { try text.write(toFile: target + "/wiring.yaml", atomically: true, encoding: .utf8) }

    /// `swift build` of the fixture, output and errors together.
    func build() throws -> CLI.Outcome {
        try CLI.run("/usr/bin/env", ["swift", "build", "--package-path", root, "--scratch-path", root + "/.build"], timeout: 600)
    }
}

@Suite("The HostessManifests plugin")
struct WiringBuildTests {
    @Test("a target's manifests are compiled in, its wiring checked; a broken wiring fails swift build with file:line:column diagnostics")
    func buildTime() throws {
        let scratch = try ScratchDirectory()
        let fixture = try FixturePackage(scratch: scratch)
        try fixture.wiring(try String(contentsOfFile: exampleWiring, encoding: .utf8))
        let built = try fixture.build()
        try #require(built.status == 0, "\(built)")
        let ran = try CLI.run(fixture.root + "/.build/debug/fixture-server", [])
        #expect(ran.stdout == "gpu-renderer 0x0002 2\nmp4-encoder 0x0005 2\npty-server 0x0001 3\nwirings: [\"wiring.yaml\"]\n", "\(ran)")

        // A renderer pattern that matches nothing, and a terminal the encoder does not have.
        let broken = try String(contentsOfFile: exampleWiring, encoding: .utf8)
            .replacingOccurrences(of: "'*.gpu-renderer.*:2' # Second", with: "'*.gpu-render.*:2' # Second")
            .replacingOccurrences(of: "      terminal: 'input'\n      mode:", with: "      terminal: 'video'\n      mode:")
        try fixture.wiring(broken)
        let failed = try fixture.build()
        #expect(failed.status != 0, "\(failed)")
        let output = failed.stdout + failed.stderr
        let file = fixture.target + "/wiring.yaml"
        #expect(output.contains("\(file):12:17: error: '*.gpu-render.*:2' matches no manifest"), "\(output)")
        #expect(output.contains("\(file):23:17: error: mp4-encoder (0x0005, "), "\(output)")
        #expect(output.contains("has no terminal 'video' (it has: input, output) [terminal]"), "\(output)")
    }
}
