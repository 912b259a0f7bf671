import HostessModel
import Testing

@testable import HostessWiring

/// Testing has a `SourceLocation` too; in these tests the name is HostessWiring's.
typealias SourceLocation = HostessWiring.SourceLocation

// MARK: - SourceDocument

@Suite("SourceDocument locations")
struct SourceDocumentTests {
    let document = SourceDocument(
        file: "w.yaml", value: .null,
        locations: ["": .start, "connections": SourceLocation(line: 2, column: 3), "connections[0].source": SourceLocation(line: 3, column: 7)])

    @Test("a path the document has is found", arguments: [
        ("connections", SourceLocation(line: 2, column: 3)), ("connections[0].source", SourceLocation(line: 3, column: 7)),
    ])
    func exact(path: String, location: SourceLocation) {
        #expect(document.location(of: path) == location)
    }

    @Test("a missing path falls back to the nearest enclosing value", arguments: [
        ("connections[0].source.terminal", SourceLocation(line: 3, column: 7)),
        ("connections[1]", SourceLocation(line: 2, column: 3)),
        ("validation.required_servers[0].count", SourceLocation.start),
    ])
    func enclosing(path: String, location: SourceLocation) {
        #expect(document.location(of: path) == location)
    }

    @Test("parents step through members and elements")
    func parents() {
        #expect(SourceDocument.parent(of: "a.b[2]") == "a.b")
        #expect(SourceDocument.parent(of: "a.b") == "a")
        #expect(SourceDocument.parent(of: "a") == "")
        #expect(SourceDocument.parent(of: "") == nil)
        #expect(SourceDocument.parent(of: "a[0][1]") == "a[0]")
    }
}
