// The HostessManifests build-tool plugin: compiles a target's server manifests (`*.manifest.json`) into it,
// and checks its wiring files (`wiring.yaml`, `wiring.json`, `NAME.wiring.yaml`, …) against them, so that an
// invalid manifest or wiring fails `swift build` with `file:line:column:` diagnostics.

import Foundation
import PackagePlugin

/// Adds one build command per target that has manifests or wiring files: `hostess-manifest-tool`, with the
/// files as inputs and `HostessCompiled.swift` (the `CompiledManifests` enum) as output.
@main
struct HostessManifests: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let files = module.sourceFiles.map(\.url).sorted { $0.path < $1.path }
        let manifests = files.filter { $0.lastPathComponent.hasSuffix(".manifest.json") }
        let wirings = files.filter { name in
            ["wiring.yaml", "wiring.yml", "wiring.json"].contains { name.lastPathComponent == $0 || name.lastPathComponent.hasSuffix("." + $0) }
        }
        guard !manifests.isEmpty || !wirings.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "HostessCompiled.swift")
        var arguments = ["--output", output.path]
        for manifest in manifests { arguments += ["--manifest", manifest.path] }
        for wiring in wirings { arguments += ["--wiring", wiring.path] }
        return [
            .buildCommand(
                displayName: "Checking and compiling the Hostess manifests of \(target.name)",
                executable: try context.tool(named: "hostess-manifest-tool").url, arguments: arguments,
                inputFiles: manifests + wirings, outputFiles: [output])
        ]
    }
}
