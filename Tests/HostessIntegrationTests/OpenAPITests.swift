import Foundation
import Testing

/// docs/openapi.yaml describes the HTTP interface: it must be a valid OpenAPI document and list exactly the
/// contract's endpoints.
@Suite("OpenAPI document")
struct OpenAPITests {
    /// The repository's root, from this file's path (Tests/HostessIntegrationTests/OpenAPITests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let document = root.appendingPathComponent("docs/openapi.yaml")

    /// Every path of the HTTP contract and the methods it serves.
    static let expected: [String: Set<String>] = [
        "/servers": ["get", "head"],
        "/servers/{id}": ["get", "head", "delete"],
        "/query": ["post"],
        "/register": ["post"],
        "/servers/{id}/heartbeat": ["post"],
        "/servers/{id}/terminals/{name}/in-use": ["post"],
        "/servers/{id}/terminals/{name}/available": ["post"],
        "/capabilities": ["post"],
        "/reserve": ["post"],
        "/reservations": ["get", "head"],
        "/reservations/{id}": ["get", "head", "delete"],
        "/connectomes": ["get", "head"],
        "/connectomes/{id}": ["get", "head"],
        "/peers": ["get", "head"],
        "/announcement": ["get", "head"],
        "/connection-methods": ["get", "head"],
        "/probe": ["post"],
        "/health": ["get", "head"],
        "/metrics": ["get", "head"],
    ]

    @Test("openapi-spec-validator accepts docs/openapi.yaml")
    func validates() throws {
        let probe = try Self.python(["-c", "import openapi_spec_validator"])
        guard probe.status == 0 else {
            Issue.record(
                """
                the Python module openapi_spec_validator is missing for `python3` on PATH; .ci/run installs it \
                (python3 -m pip install openapi-spec-validator). python3 said (status \(probe.status)):
                \(probe.stdout)\(probe.stderr)
                """)
            return
        }
        let outcome = try Self.python(["-m", "openapi_spec_validator", Self.document.path])
        #expect(
            outcome.status == 0,
            "openapi_spec_validator exited with \(outcome.status):\nstdout:\n\(outcome.stdout)\nstderr:\n\(outcome.stderr)")
        #expect(outcome.stdout.contains("OK"), "stdout:\n\(outcome.stdout)\nstderr:\n\(outcome.stderr)")
    }

    @Test("docs/openapi.yaml lists exactly the contract's paths and methods")
    func pathsMatchTheContract() throws {
        let text = try String(contentsOf: Self.document, encoding: .utf8)
        var found: [String: Set<String>] = [:]
        var inPaths = false
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if !line.hasPrefix(" "), !line.isEmpty {
                // A top-level key: `paths:` opens the section, any other closes it.
                inPaths = line.hasPrefix("paths:")
                current = nil
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                let path = String(line.dropFirst(2).dropLast())
                #expect(found[path] == nil, "path \(path) appears twice")
                found[path] = []
                current = path
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let key = String(line.dropFirst(4).dropLast())
                if ["get", "head", "post", "put", "patch", "delete", "options", "trace"].contains(key) {
                    found[current, default: []].insert(key)
                }
            }
        }
        #expect(Set(found.keys) == Set(Self.expected.keys), "paths in docs/openapi.yaml: \(found.keys.sorted())")
        for (path, methods) in Self.expected {
            #expect(found[path] == methods, "methods of \(path)")
        }
    }

    /// Runs `python3` from PATH (the same one .ci/run installs the validator for) and collects its output.
    private static func python(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        process.currentDirectoryURL = root
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes fully before waiting, so a large output cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        if group.wait(timeout: .now() + 120) == .timedOut {
            process.terminate()
            throw OpenAPITestFailure("python3 \(arguments) did not finish within 120 s")
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

private struct OpenAPITestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
