import HostessModel
import HostessProbing
import HostessSystem
import HostessTestSupport
import Testing

// MARK: - Fixtures

/// The secrets of every test; the expected hashes and MACs below were worked out outside Swift
/// (`printf '%s' … | sha256sum`, Python's `hmac`).
enum Fixture {
    static let passphrase = "correct-horse-battery-staple"
    static let probeHash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    static let nonce = "0123456789abcdef0123456789abcdef"
    static let otherNonce = "fedcba9876543210fedcba9876543210"
    static let mac64 = String(repeating: "ab", count: 32)

    /// A report using every part of the wire form: IPv4 and IPv6, whole and fractional latencies, every failure reason.
    static let report = ProbeReport(
        results: [
            .init(ip: "10.0.0.1", port: 10000, latency: 1.25), .init(ip: "::1", port: 10004, latency: 0),
            .init(ip: "10.0.0.1", port: 10003, latency: 17),
        ],
        ips: ["10.0.0.1", "::1"], ports: PortRange(lowerBound: 10000, upperBound: 10004), totalTests: 10,
        failures: [.refused: 3, .timeout: 1, .authFailed: 1, .unreachable: 1, .error: 1], authFailed: ["[::1]:10001"])

    /// `report`'s line on the connection with `nonce`, newline included.
    static var reportLine: [UInt8] { ProbeMessage.report(report, passphrase: passphrase, nonce: nonce) }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func object(_ text: String) -> JSONObject {
        guard case .object(let object)? = try? JSONParser.parse(text) else { preconditionFailure("not a JSON object: \(text)") }
        return object
    }

    /// The error `body` throws (nil when it throws none).
    static func refusal(_ body: () throws -> Void) -> ProbeError? {
        do {
            try body()
            return nil
        } catch let error as ProbeError {
            return error
        } catch {
            Issue.record("not a ProbeError: \(error)")
            return nil
        }
    }
}

// MARK: - ProbeSecrets

@Suite struct ProbeSecretsTests {
    @Test("responseHash is the SHA-256 hex of probeHash + passphrase (sha256sum)")
    func responseHash() {
        #expect(
            ProbeSecrets.responseHash(probeHash: Fixture.probeHash, passphrase: Fixture.passphrase)
                == "a2e111e0b46d4feaac66e67f5519956e32eadd2b9323ad958bdb0f6c1557a157")
    }

    @Test("terminateHash is the SHA-256 hex of \"terminate\" + passphrase (sha256sum)")
    func terminateHash() {
        #expect(ProbeSecrets.terminateHash(passphrase: Fixture.passphrase) == "37c496037235bdccd98177c7c08e1ab9af0b63df95973dddd37599df499b13e6")
    }

    @Test("the MACs of PROBE_COMPLETE and TERMINATE are HMAC-SHA256(passphrase, nonce LF word) (Python's hmac)")
    func wordMACs() {
        #expect(
            ProbeMessage.completeMAC(passphrase: Fixture.passphrase, nonce: Fixture.nonce)
                == "9aae45e5586c49b8d72604ff942f71772952490304fbffec8822365e42f851ce")
        #expect(
            ProbeMessage.terminateMAC(passphrase: Fixture.passphrase, nonce: Fixture.nonce)
                == "6108130e8b54392e6638b8c263291027f4dc02f9d138d109f2f5db786cb4f382")
        #expect(
            ProbeSecrets.mac(passphrase: Fixture.passphrase, nonce: Fixture.nonce, Fixture.bytes("complete"))
                == ProbeMessage.completeMAC(passphrase: Fixture.passphrase, nonce: Fixture.nonce))
    }

    @Test("mac then verify accepts, for any text", arguments: ["", "complete", "{\"type\":\"PROBE_RESULTS\"", String(repeating: "x", count: 5000)])
    func roundTrip(text: String) {
        let mac = ProbeSecrets.mac(passphrase: Fixture.passphrase, nonce: Fixture.nonce, Fixture.bytes(text))
        #expect(mac.utf8.count == 64)
        #expect(mac.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        #expect(ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, Fixture.bytes(text)))
    }

    @Test("verify refuses another nonce, another passphrase, another MAC, an upper-case MAC")
    func verifyRefuses() {
        let text = Fixture.bytes("the bytes a MAC covers")
        let mac = ProbeSecrets.mac(passphrase: Fixture.passphrase, nonce: Fixture.nonce, text)
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.otherNonce, text))
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase + "!", nonce: Fixture.nonce, text))
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: "another-passphrase-entirely", nonce: Fixture.nonce, text))
        #expect(!ProbeSecrets.verify(mac: mac.uppercased(), passphrase: Fixture.passphrase, nonce: Fixture.nonce, text))
        #expect(!ProbeSecrets.verify(mac: String(mac.dropLast()), passphrase: Fixture.passphrase, nonce: Fixture.nonce, text))
        #expect(!ProbeSecrets.verify(mac: "", passphrase: Fixture.passphrase, nonce: Fixture.nonce, text))
        // The nonce and the text are separated: moving a byte across the newline changes the MAC.
        #expect(
            ProbeSecrets.mac(passphrase: Fixture.passphrase, nonce: "ab", Fixture.bytes("c"))
                != ProbeSecrets.mac(passphrase: Fixture.passphrase, nonce: "a", Fixture.bytes("bc")))
    }

    @Test("verify refuses the text with any one byte changed, or one byte more or fewer")
    func verifyRefusesChangedByte() {
        let text = Fixture.bytes("{\"type\":\"PROBE_RESULTS\",\"results\":[]")
        let mac = ProbeSecrets.mac(passphrase: Fixture.passphrase, nonce: Fixture.nonce, text)
        for position in text.indices {
            var changed = text
            changed[position] ^= 0x01
            #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, changed), "byte \(position)")
        }
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, text.dropLast()))
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, text + [0x20]))
    }

    @Test("equal compares hex text exactly; random gives fresh lower-case hex")
    func equalAndRandom() {
        #expect(ProbeSecrets.equal(Fixture.probeHash, Fixture.probeHash))
        #expect(!ProbeSecrets.equal(Fixture.probeHash, Fixture.probeHash.uppercased()))
        #expect(!ProbeSecrets.equal(Fixture.probeHash, String(Fixture.probeHash.dropLast())))
        let a = ProbeSecrets.random(bytes: ProbeSecrets.nonceDigits / 2)
        let b = ProbeSecrets.random(bytes: ProbeSecrets.nonceDigits / 2)
        #expect(a.utf8.count == ProbeSecrets.nonceDigits)
        #expect(a.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        #expect(a != b)
    }
}

// MARK: - ProbeMessage

@Suite struct ProbeMessageTests {
    static let responseHash = ProbeSecrets.responseHash(probeHash: Fixture.probeHash, passphrase: Fixture.passphrase)

    static let messages: [ProbeMessage] = [
        .probe(hash: Fixture.probeHash), .probe(hash: "0123456789abcdef"), .probe(hash: String(repeating: "f", count: 128)),
        .beacon(hash: responseHash, nonce: Fixture.nonce),
        .complete(mac: ProbeMessage.completeMAC(passphrase: Fixture.passphrase, nonce: Fixture.nonce)),
        .terminate(
            hash: ProbeSecrets.terminateHash(passphrase: Fixture.passphrase),
            mac: ProbeMessage.terminateMAC(passphrase: Fixture.passphrase, nonce: Fixture.nonce)),
    ]

    @Test("every message but a report is one line that decodes back to it", arguments: messages)
    func roundTrip(message: ProbeMessage) throws {
        let line = ProbeMessage.line(message)
        #expect(line.last == 0x0A)
        #expect(line.filter { $0 == 0x0A }.count == 1)
        #expect(line.count <= ProbeMessage.maximumLineBytes)
        #expect(try ProbeMessage(line: line.dropLast()) == message)
    }

    @Test("the lines' bytes: type first, members in the design's order")
    func layout() {
        #expect(
            String(decoding: ProbeMessage.line(.probe(hash: Fixture.probeHash)), as: UTF8.self)
                == #"{"type":"PROBE","hash":"\#(Fixture.probeHash)"}"# + "\n")
        #expect(
            String(decoding: ProbeMessage.line(.beacon(hash: Self.responseHash, nonce: Fixture.nonce)), as: UTF8.self)
                == #"{"type":"BEACON","hash":"\#(Self.responseHash)","nonce":"\#(Fixture.nonce)"}"# + "\n")
        #expect(
            String(decoding: ProbeMessage.line(.complete(mac: Fixture.mac64)), as: UTF8.self)
                == #"{"type":"PROBE_COMPLETE","mac":"\#(Fixture.mac64)"}"# + "\n")
        #expect(
            String(decoding: ProbeMessage.line(.terminate(hash: Fixture.probeHash, mac: Fixture.mac64)), as: UTF8.self)
                == #"{"type":"TERMINATE","hash":"\#(Fixture.probeHash)","mac":"\#(Fixture.mac64)"}"# + "\n")
    }

    // MARK: Reports

    @Test("a report line decodes back to the report and the MAC it carries")
    func reportRoundTrip() throws {
        let line = Fixture.reportLine
        #expect(line.last == 0x0A)
        #expect(line.filter { $0 == 0x0A }.count == 1)
        guard case .results(let report, let mac) = try ProbeMessage(line: line.dropLast()) else {
            Issue.record("not a report")
            return
        }
        #expect(report == Fixture.report)
        #expect(String(decoding: line.dropLast().suffix(66), as: UTF8.self) == mac + "\"}")
    }

    @Test("reportCovers is exactly the bytes before ,\"mac\":\" — the line's object without its mac, less the closing brace")
    func reportCovers() throws {
        let line = Array(Fixture.reportLine.dropLast())
        let covers = try #require(ProbeMessage.reportCovers(line))
        guard case .results(_, let mac) = try ProbeMessage(line: line) else {
            Issue.record("not a report")
            return
        }
        #expect(Array(covers) + Fixture.bytes(#","mac":""#) + Fixture.bytes(mac) + Fixture.bytes("\"}") == line)
        // Independently: the covered bytes and a brace are the line's object without `mac`, member for member.
        var expected = Fixture.object(String(decoding: line, as: UTF8.self))
        expected["mac"] = nil
        #expect(Fixture.object(String(decoding: covers + [UInt8(ascii: "}")], as: UTF8.self)) == expected)
        #expect(covers.first == UInt8(ascii: "{"))
        #expect(!String(decoding: covers, as: UTF8.self).contains("\"mac\""))
    }

    @Test("the MAC in a report line verifies over its covered bytes, and only on its own connection")
    func reportMACVerifies() throws {
        let line = Array(Fixture.reportLine.dropLast())
        let covers = try #require(ProbeMessage.reportCovers(line))
        guard case .results(_, let mac) = try ProbeMessage(line: line) else {
            Issue.record("not a report")
            return
        }
        #expect(ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, covers))
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.otherNonce, covers))
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: "another-passphrase-entirely", nonce: Fixture.nonce, covers))
        #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, line))
        // The same report on another connection carries another MAC over the same bytes.
        let other = Array(ProbeMessage.report(Fixture.report, passphrase: Fixture.passphrase, nonce: Fixture.otherNonce).dropLast())
        #expect(ProbeMessage.reportCovers(other) == covers)
        #expect(other != line)
    }

    @Test("a report line with any byte before its mac flipped no longer verifies")
    func reportFlippedByte() throws {
        let line = Array(Fixture.reportLine.dropLast())
        let covers = try #require(ProbeMessage.reportCovers(line))
        let mac = String(decoding: line.suffix(66).prefix(64), as: UTF8.self)
        for position in covers.indices {
            var damaged = line
            damaged[position] ^= 0x01
            let damagedCovers = try #require(ProbeMessage.reportCovers(damaged))
            #expect(!ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, damagedCovers), "byte \(position)")
        }
    }

    @Test(
        "reportCovers is nil for lines that do not end with the mac member",
        arguments: [
            "", "}", #"{"type":"PROBE","hash":"\#(Fixture.probeHash)"}"#,
            #","mac":"\#(Fixture.mac64)"}"#,  // nothing before the member
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64)"}"# + "\n",  // the newline left on
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64.dropLast())"}"#,  // 63 digits
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64)0"}"#,  // 65 digits
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64.uppercased())"}"#,  // not lower-case hex
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64.dropLast(2))"x"}"#,  // a quote inside the digits
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64)" }"#,  // a space before the brace
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64)""#,  // no brace
            #"{"type":"PROBE_RESULTS", "mac":"\#(Fixture.mac64)"}"#,  // not the exact marker
            #"{"type":"PROBE_RESULTS","mac":"\#(Fixture.mac64)","x":1}"#,  // mac not last
        ])
    func reportCoversNil(line: String) {
        #expect(ProbeMessage.reportCovers(Fixture.bytes(line)) == nil)
    }

    // MARK: Refusals

    struct Refusal: Sendable, CustomTestStringConvertible {
        var line: String
        var field: String
        var testDescription: String { "\(field) ← \(line.prefix(70))" }
    }

    static let hash = Fixture.probeHash
    static let mac = Fixture.mac64
    static let nonce = Fixture.nonce
    static let refusals: [Refusal] = [
        Refusal(line: "not JSON", field: "line"),
        Refusal(line: "", field: "line"),
        Refusal(line: #"{"type":"PROBE","hash":"\#(hash)"} {}"#, field: "line"),
        Refusal(line: #"{"type":"PROBE","type":"PROBE","hash":"\#(hash)"}"#, field: "line"),  // a duplicate key
        Refusal(line: #"["PROBE"]"#, field: "line"),
        Refusal(line: #""PROBE""#, field: "line"),
        Refusal(line: "42", field: "line"),
        Refusal(line: #"{"hash":"\#(hash)"}"#, field: "type"),
        Refusal(line: #"{"type":7,"hash":"\#(hash)"}"#, field: "type"),
        Refusal(line: #"{"type":"PING","hash":"\#(hash)"}"#, field: "type"),
        Refusal(line: #"{"type":"probe","hash":"\#(hash)"}"#, field: "type"),
        Refusal(line: #"{"type":"PROBE","hash":"\#(hash)","extra":1}"#, field: "extra"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash)","nonce":"\#(nonce)","mac":"\#(mac)"}"#, field: "mac"),
        Refusal(line: #"{"type":"PROBE_COMPLETE","mac":"\#(mac)","hash":"\#(hash)"}"#, field: "hash"),
        Refusal(line: #"{"type":"TERMINATE","hash":"\#(hash)","mac":"\#(mac)","nonce":"\#(nonce)"}"#, field: "nonce"),
        Refusal(line: #"{"type":"PROBE_RESULTS","results":[],"extra":1,"mac":"\#(mac)"}"#, field: "extra"),
        Refusal(line: #"{"type":"PROBE"}"#, field: "hash"),
        Refusal(line: #"{"type":"PROBE","hash":"\#(hash.uppercased())"}"#, field: "hash"),
        Refusal(line: #"{"type":"PROBE","hash":"\#(hash.dropLast())g"}"#, field: "hash"),
        Refusal(line: #"{"type":"PROBE","hash":"0123456789abcde"}"#, field: "hash"),  // 15 digits
        Refusal(line: #"{"type":"PROBE","hash":"\#(String(repeating: "a", count: 129))"}"#, field: "hash"),
        Refusal(line: #"{"type":"PROBE","hash":64}"#, field: "hash"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash.dropLast())","nonce":"\#(nonce)"}"#, field: "hash"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash)a","nonce":"\#(nonce)"}"#, field: "hash"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash.uppercased())","nonce":"\#(nonce)"}"#, field: "hash"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash)","nonce":"\#(nonce.dropLast())"}"#, field: "nonce"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash)","nonce":"\#(nonce)0"}"#, field: "nonce"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash)","nonce":"\#(hash)"}"#, field: "nonce"),
        Refusal(line: #"{"type":"BEACON","hash":"\#(hash)"}"#, field: "nonce"),
        Refusal(line: #"{"type":"PROBE_COMPLETE","mac":"\#(mac.dropLast())"}"#, field: "mac"),
        Refusal(line: #"{"type":"PROBE_COMPLETE","mac":"\#(mac)a"}"#, field: "mac"),
        Refusal(line: #"{"type":"PROBE_COMPLETE","mac":"\#(mac.uppercased())"}"#, field: "mac"),
        Refusal(line: #"{"type":"PROBE_COMPLETE"}"#, field: "mac"),
        Refusal(line: #"{"type":"TERMINATE","hash":"\#(hash)","mac":"\#(mac.dropLast())"}"#, field: "mac"),
        Refusal(line: #"{"type":"TERMINATE","hash":"\#(hash.dropLast(2))","mac":"\#(mac)"}"#, field: "hash"),
        Refusal(line: #"{"type":"TERMINATE","hash":null,"mac":"\#(mac)"}"#, field: "hash"),
    ]

    @Test("a refused line names the member at fault", arguments: refusals)
    func refusal(_ refusal: Refusal) {
        let error = Fixture.refusal { _ = try ProbeMessage(line: Fixture.bytes(refusal.line)) }
        #expect(error?.field == refusal.field, "\(String(describing: error))")
        #expect(error?.reason.isEmpty == false)
    }

    /// The report line with its mac digits replaced by `digits`.
    static func reportLine(mac digits: String) -> [UInt8] {
        let line = Array(Fixture.reportLine.dropLast())
        return Array(line.dropLast(66)) + Fixture.bytes(digits + "\"}")
    }

    @Test("a report line whose mac is not 64 lower-case hex digits is refused naming mac", arguments: [63, 65, 0])
    func reportMACLength(digits: Int) {
        let error = Fixture.refusal { _ = try ProbeMessage(line: Self.reportLine(mac: String(repeating: "a", count: digits))) }
        #expect(error?.field == "mac")
        let upper = Fixture.refusal { _ = try ProbeMessage(line: Self.reportLine(mac: String(repeating: "A", count: 64))) }
        #expect(upper?.field == "mac")
    }

    @Test("a report line's own errors name the report field")
    func reportFieldErrors() {
        let line = String(decoding: Fixture.reportLine.dropLast(), as: UTF8.self)
        let moved = line.replacingFirst(#""ip":"10.0.0.1""#, with: #""ip":"10.0.0.9""#)
        let error = Fixture.refusal { _ = try ProbeMessage(line: Fixture.bytes(moved)) }
        #expect(error?.field == "results[0].ip")
        let noMAC = Fixture.refusal { _ = try ProbeMessage(line: Fixture.bytes(String(line.dropLast(74)) + "}")) }
        #expect(noMAC?.field == "mac")
    }
}

extension String {
    /// The text with the first `target` replaced (the test needs no Foundation).
    func replacingFirst(_ target: String, with replacement: String) -> String {
        let text = Array(utf8)
        let pattern = Array(target.utf8)
        guard pattern.count <= text.count else { return self }
        for start in 0...(text.count - pattern.count) where Array(text[start..<(start + pattern.count)]) == pattern {
            return String(decoding: text[..<start] + Array(replacement.utf8) + text[(start + pattern.count)...], as: UTF8.self)
        }
        return self
    }
}

// MARK: - ProbeReport

@Suite struct ProbeReportTests {
    /// A report object from JSON text of its members; each default is valid with the others.
    static func text(
        results: String = #"[{"success":true,"ip":"10.0.0.1","port":10000,"latency":1.5},{"success":true,"ip":"::1","port":10004,"latency":3}]"#,
        ips: String = #"["10.0.0.1","::1"]"#, portRange: String = "[10000,10004]", totalTests: String = "10", successfulTests: String = "2",
        failures: String = #"{"refused":5,"timeout":2,"auth_failed":1,"unreachable":0,"error":0}"#, authFailed: String = #"["10.0.0.1:10001"]"#
    ) -> String {
        var matrix: [String] = []
        if !ips.isEmpty { matrix.append(#""ips":\#(ips)"#) }
        if !portRange.isEmpty { matrix.append(#""portRange":\#(portRange)"#) }
        if !totalTests.isEmpty { matrix.append(#""totalTests":\#(totalTests)"#) }
        if !successfulTests.isEmpty { matrix.append(#""successfulTests":\#(successfulTests)"#) }
        var members: [String] = []
        if !results.isEmpty { members.append(#""results":\#(results)"#) }
        members.append(#""testedMatrix":{\#(matrix.joined(separator: ","))}"#)
        if !failures.isEmpty { members.append(#""failures":\#(failures)"#) }
        if !authFailed.isEmpty { members.append(#""authFailed":\#(authFailed)"#) }
        return "{" + members.joined(separator: ",") + "}"
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var what: String
        var json: String
        var field: String
        var testDescription: String { "\(what) → \(field)" }
    }

    static func result(_ ip: String = "10.0.0.1", _ port: String = "10000", latency: String = "1.5", success: String = "true") -> String {
        #"{"success":\#(success),"ip":"\#(ip)","port":\#(port),"latency":\#(latency)}"#
    }

    static let tooManyNamed = "[" + (0...ProbeReport.maximumNamedFailures).map { _ in #""10.0.0.1:10001""# }.joined(separator: ",") + "]"
    static let tooManyIPs = "[" + (1...65).map { #""10.0.1.\#($0)""# }.joined(separator: ",") + "]"

    static let refusals: [Refusal] = [
        Refusal(what: "a result's ip is not among the tested", json: text(results: "[\(result("10.0.0.2"))]", successfulTests: "1"), field: "results[0].ip"),
        Refusal(
            what: "a result's ip is a spelling of a tested one", json: text(results: "[\(result("0:0::1"))]", successfulTests: "1"),
            field: "results[0].ip"),
        Refusal(
            what: "a port above the range", json: text(results: "[\(result()),\(result("::1", "10005"))]"), field: "results[1].port"),
        Refusal(what: "a port below the range", json: text(results: "[\(result("10.0.0.1", "9999"))]", successfulTests: "1"), field: "results[0].port"),
        Refusal(what: "a negative port", json: text(results: "[\(result("10.0.0.1", "-1"))]", successfulTests: "1"), field: "results[0].port"),
        Refusal(what: "a pair twice", json: text(results: "[\(result()),\(result(latency: "2"))]"), field: "results[1]"),
        Refusal(what: "successfulTests above the results", json: text(successfulTests: "3"), field: "testedMatrix.successfulTests"),
        Refusal(what: "successfulTests below the results", json: text(successfulTests: "1"), field: "testedMatrix.successfulTests"),
        Refusal(what: "successfulTests missing", json: text(successfulTests: ""), field: "testedMatrix.successfulTests"),
        Refusal(what: "totalTests not ips × ports", json: text(totalTests: "9"), field: "testedMatrix.totalTests"),
        Refusal(what: "totalTests too many", json: text(totalTests: "11"), field: "testedMatrix.totalTests"),
        Refusal(what: "totalTests missing", json: text(totalTests: ""), field: "testedMatrix.totalTests"),
        Refusal(what: "totalTests not an integer", json: text(totalTests: "\"10\""), field: "testedMatrix.totalTests"),
        Refusal(what: "a negative latency", json: text(results: "[\(result(latency: "-0.5"))]", successfulTests: "1"), field: "results[0].latency"),
        Refusal(what: "a negative integer latency", json: text(results: "[\(result(latency: "-1"))]", successfulTests: "1"), field: "results[0].latency"),
        Refusal(what: "a latency above an hour", json: text(results: "[\(result(latency: "3600001"))]", successfulTests: "1"), field: "results[0].latency"),
        Refusal(what: "a latency that is a string", json: text(results: "[\(result(latency: "\"fast\""))]", successfulTests: "1"), field: "results[0].latency"),
        Refusal(what: "a latency that is null", json: text(results: "[\(result(latency: "null"))]", successfulTests: "1"), field: "results[0].latency"),
        Refusal(what: "success false", json: text(results: "[\(result(success: "false"))]", successfulTests: "1"), field: "results[0].success"),
        Refusal(what: "success 1", json: text(results: "[\(result(success: "1"))]", successfulTests: "1"), field: "results[0].success"),
        Refusal(
            what: "success missing", json: text(results: #"[{"ip":"10.0.0.1","port":10000,"latency":1}]"#, successfulTests: "1"),
            field: "results[0].success"),
        Refusal(what: "a result that is not an object", json: text(results: "[1]", successfulTests: "1"), field: "results[0]"),
        Refusal(what: "a port that is a string", json: text(results: "[\(result("10.0.0.1", "\"10000\""))]", successfulTests: "1"), field: "results[0]"),
        Refusal(what: "results missing", json: text(results: "", successfulTests: "0"), field: "results"),
        Refusal(what: "results not an array", json: text(results: "{}", successfulTests: "0"), field: "results"),
        Refusal(what: "too many authFailed", json: text(authFailed: tooManyNamed), field: "authFailed"),
        Refusal(what: "an authFailed entry not a string", json: text(authFailed: "[10001]"), field: "authFailed"),
        Refusal(what: "an authFailed entry too long", json: text(authFailed: "[\"\(String(repeating: "1", count: 65))\"]"), field: "authFailed"),
        Refusal(what: "a failure reason not known", json: text(failures: #"{"refused":5,"bogus":1}"#), field: "failures.bogus"),
        Refusal(what: "a failure reason in the wrong case", json: text(failures: #"{"authFailed":1}"#), field: "failures.authFailed"),
        Refusal(what: "a negative failure count", json: text(failures: #"{"refused":-1}"#), field: "failures.refused"),
        Refusal(what: "a failure count above totalTests", json: text(failures: #"{"timeout":11}"#), field: "failures.timeout"),
        Refusal(what: "a failure count that is a string", json: text(failures: #"{"error":"1"}"#), field: "failures.error"),
        Refusal(what: "testedMatrix missing", json: #"{"results":[]}"#, field: "testedMatrix"),
        Refusal(what: "testedMatrix not an object", json: #"{"results":[],"testedMatrix":[]}"#, field: "testedMatrix"),
        Refusal(what: "no ips", json: text(results: "[]", ips: "[]", totalTests: "0", successfulTests: "0"), field: "testedMatrix.ips"),
        Refusal(what: "ips missing", json: text(results: "[]", ips: "", totalTests: "0", successfulTests: "0"), field: "testedMatrix.ips"),
        Refusal(what: "65 ips", json: text(results: "[]", ips: tooManyIPs, totalTests: "325", successfulTests: "0"), field: "testedMatrix.ips"),
        Refusal(what: "an ip that is a name", json: text(ips: #"["10.0.0.1","localhost"]"#), field: "testedMatrix.ips"),
        Refusal(what: "an ip that is out of range", json: text(ips: #"["10.0.0.1","10.0.0.300"]"#), field: "testedMatrix.ips"),
        Refusal(what: "ips not an array", json: text(ips: #""10.0.0.1""#), field: "testedMatrix.ips"),
        Refusal(what: "an ip not a string", json: text(ips: #"["10.0.0.1",7]"#), field: "testedMatrix.ips[1]"),
        Refusal(what: "portRange missing", json: text(portRange: ""), field: "testedMatrix.portRange"),
        Refusal(what: "portRange one port", json: text(portRange: "[10000]"), field: "testedMatrix.portRange"),
        Refusal(what: "portRange from port 0", json: text(portRange: "[0,10004]"), field: "testedMatrix.portRange"),
        Refusal(what: "portRange reversed", json: text(portRange: "[10004,10000]"), field: "testedMatrix.portRange"),
        Refusal(what: "portRange beyond 65535", json: text(portRange: "[10000,65536]"), field: "testedMatrix.portRange"),
        Refusal(what: "portRange of strings", json: text(portRange: #"["10000","10004"]"#), field: "testedMatrix.portRange"),
    ]

    @Test("a report that does not add up is refused naming the field", arguments: refusals)
    func refusal(_ refusal: Refusal) {
        let object = Fixture.object(refusal.json)
        let error = Fixture.refusal { _ = try ProbeReport(object) }
        #expect(error?.field == refusal.field, "\(String(describing: error))")
    }

    @Test("the defaults of the refusal cases make a valid report")
    func validText() throws {
        let report = try ProbeReport(Fixture.object(Self.text()))
        #expect(report.results == [.init(ip: "10.0.0.1", port: 10000, latency: 1.5), .init(ip: "::1", port: 10004, latency: 3)])
        #expect(report.ips == ["10.0.0.1", "::1"])
        #expect(report.ports == PortRange(lowerBound: 10000, upperBound: 10004))
        #expect(report.totalTests == 10)
        #expect(report.successfulTests == 2)
        #expect(report.failures == [.refused: 5, .timeout: 2, .authFailed: 1, .unreachable: 0, .error: 0])
        #expect(report.authFailed == ["10.0.0.1:10001"])
    }

    @Test("failures and authFailed may be left out; an empty report of one address is valid")
    func optionalMembers() throws {
        let report = try ProbeReport(Fixture.object(Self.text(failures: "", authFailed: "")))
        #expect(report.failures.isEmpty)
        #expect(report.authFailed.isEmpty)
        let empty = try ProbeReport(
            Fixture.object(
                Self.text(results: "[]", ips: #"["::1"]"#, portRange: "[80,80]", totalTests: "1", successfulTests: "0", failures: #"{"refused":1}"#)))
        #expect(empty.results.isEmpty)
        #expect(empty.totalTests == 1)
        #expect(empty.failures == [.refused: 1])
    }

    @Test("tested addresses are read canonical, and results name them canonically")
    func canonicalIPs() throws {
        let report = try ProbeReport(Fixture.object(Self.text(ips: #"["10.0.0.1","0:0:0::1"]"#)))
        #expect(report.ips == ["10.0.0.1", "::1"])
    }

    @Test(
        "a valid report round-trips through members and init",
        arguments: [
            Fixture.report,
            ProbeReport(results: [], ips: ["192.168.1.1"], ports: PortRange(lowerBound: 1, upperBound: 65535), totalTests: 65535, failures: [.timeout: 65535]),
            ProbeReport(
                results: [.init(ip: "2001:db8::7", port: 443, latency: 0.1 + 0.2)], ips: ["2001:db8::7"], ports: PortRange(lowerBound: 443, upperBound: 443),
                totalTests: 1),
        ])
    func roundTrip(report: ProbeReport) throws {
        let decoded = try ProbeReport(report.members)
        #expect(decoded.results == report.results)
        #expect(decoded.ips == report.ips)
        #expect(decoded.ports == report.ports)
        #expect(decoded.totalTests == report.totalTests)
        #expect(decoded.authFailed == report.authFailed)
        // The wire form counts every reason, so an absent reason comes back as a zero.
        for failure in ProbeReport.Failure.allCases { #expect(decoded.failures[failure] ?? 0 == report.failures[failure] ?? 0) }
        #expect(ProbeReport.Failure.allCases.allSatisfy { decoded.failures[$0] != nil })
        // Encoded again, the same bytes.
        #expect(JSONValue.object(decoded.members).jsonBytes == JSONValue.object(report.members).jsonBytes)
    }

    @Test("a report naming every failure reason round-trips exactly")
    func exactRoundTrip() throws {
        #expect(try ProbeReport(Fixture.report.members) == Fixture.report)
    }

    @Test("members is the design's wire form")
    func wireForm() {
        let report = ProbeReport(
            results: [.init(ip: "10.0.0.1", port: 80, latency: 2.5)], ips: ["10.0.0.1"], ports: PortRange(lowerBound: 80, upperBound: 81), totalTests: 2,
            failures: [.refused: 1])
        let expected =
            #"{"results":[{"success":true,"ip":"10.0.0.1","port":80,"latency":2.5}],"#
            + #""testedMatrix":{"ips":["10.0.0.1"],"portRange":[80,81],"totalTests":2,"successfulTests":1},"#
            + #""failures":{"refused":1,"timeout":0,"auth_failed":0,"unreachable":0,"error":0},"authFailed":[]}"#
        #expect(String(decoding: JSONValue.object(report.members).jsonBytes, as: UTF8.self) == expected)
    }
}

// MARK: - ProbeLines

@Suite struct ProbeLinesTests {
    static func line(_ text: String, consumed: Int) -> ProbeLines.Next { .line(ArraySlice(Array(text.utf8)), consumed: consumed) }

    /// The line text of `next`, or nil.
    static func text(_ next: ProbeLines.Next) -> String? {
        guard case .line(let line, _) = next else { return nil }
        return String(decoding: line, as: UTF8.self)
    }

    @Test("a line split across two appends is found once its newline arrives, newline counted in consumed")
    func splitLine() {
        var lines = ProbeLines(limit: 100)
        var buffer = Array(#"{"type":"PRO"#.utf8)
        #expect(lines.next(in: buffer[...]) == .incomplete)
        #expect(lines.next(in: buffer[...]) == .incomplete)
        buffer += Array(#"BE"}"#.utf8) + [0x0A] + Array("{".utf8)
        let next = lines.next(in: buffer[...])
        #expect(Self.text(next) == #"{"type":"PROBE"}"#)
        guard case .line(let line, let consumed) = next else { return }
        #expect(consumed == line.count + 1)
        #expect(consumed == 17)
        buffer.removeFirst(consumed)
        #expect(lines.next(in: buffer[...]) == .incomplete)
    }

    @Test("an empty line is a line of no bytes that consumes one")
    func emptyLine() {
        var lines = ProbeLines(limit: 10)
        #expect(lines.next(in: ArraySlice<UInt8>([0x0A])) == Self.line("", consumed: 1))
        #expect(lines.next(in: ArraySlice<UInt8>()) == .incomplete)
    }

    @Test("the limit: a line of exactly limit bytes is a line; one more is tooLong, with or without its newline")
    func limit() {
        var lines = ProbeLines(limit: 8)
        #expect(lines.next(in: Array("12345678\n".utf8)[...]) == Self.line("12345678", consumed: 9))
        lines = ProbeLines(limit: 8)
        #expect(lines.next(in: Array("123456789\n".utf8)[...]) == .tooLong)
        lines = ProbeLines(limit: 8)
        #expect(lines.next(in: Array("12345678".utf8)[...]) == .incomplete)
        #expect(lines.next(in: Array("123456789".utf8)[...]) == .tooLong)
        lines = ProbeLines(limit: 8)
        #expect(lines.next(in: Array(String(repeating: "x", count: 1000).utf8)[...]) == .tooLong)
    }

    @Test("a long line whose newline arrives late is still tooLong; the limit can be raised between calls")
    func lateNewline() {
        var lines = ProbeLines(limit: 4)
        var buffer = Array("abc".utf8)
        #expect(lines.next(in: buffer[...]) == .incomplete)
        buffer += Array("defg\n".utf8)
        #expect(lines.next(in: buffer[...]) == .tooLong)
        lines = ProbeLines(limit: 4)
        #expect(lines.next(in: Array("abc".utf8)[...]) == .incomplete)
        lines.limit = 16
        #expect(lines.next(in: Array("abcdefg\n".utf8)[...]) == Self.line("abcdefg", consumed: 8))
    }

    @Test("several lines in one buffer come out in order, from a slice that does not start at zero")
    func severalLines() {
        var lines = ProbeLines(limit: 16)
        let buffer = Array("junk|a\nbb\n\nccc\ndd".utf8)
        var rest = buffer[5...]
        var found: [String] = []
        while case .line(let line, let consumed) = lines.next(in: rest) {
            #expect(line.startIndex == rest.startIndex)
            found.append(String(decoding: line, as: UTF8.self))
            rest = rest.dropFirst(consumed)
        }
        #expect(found == ["a", "bb", "", "ccc"])
        #expect(String(decoding: rest, as: UTF8.self) == "dd")
        #expect(lines.next(in: rest) == .incomplete)
    }

    @Test("the same lines whatever the chunking (seeded)")
    func randomChunks() {
        var generator = SplitMix64(seed: 0x4C49_4E45)
        let texts = (0..<40).map { _ in generator.string(from: Array("abc{}\":,"), count: generator.below(30)) }
        let stream = Array(texts.map { $0 + "\n" }.joined().utf8)
        for _ in 0..<50 {
            var lines = ProbeLines(limit: 30)
            var buffer: [UInt8] = []
            var offset = 0
            var found: [String] = []
            while offset < stream.count {
                let take = min(stream.count - offset, 1 + generator.below(12))
                buffer += stream[offset..<(offset + take)]
                offset += take
                while case .line(let line, let consumed) = lines.next(in: buffer[...]) {
                    found.append(String(decoding: line, as: UTF8.self))
                    buffer.removeFirst(consumed)
                }
            }
            #expect(found == texts)
            #expect(buffer.isEmpty)
        }
    }
}

// MARK: - Fuzzing

@Suite struct ProbeFuzzTests {
    /// Random bytes, truncations and damaged copies of `line`, and splices of it with JSON-ish noise.
    static func damaged(_ line: [UInt8], using generator: inout SplitMix64) -> [UInt8] {
        switch generator.below(5) {
        case 0:
            return (0..<generator.below(600)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        case 1:
            return Array(line.prefix(generator.below(line.count)))
        case 2:
            return Array(line.dropFirst(1 + generator.below(line.count)))
        case 3:
            var copy = line
            for _ in 0...generator.below(3) { copy[generator.below(copy.count)] ^= UInt8(1 + generator.below(255)) }
            return copy
        default:
            let cut = generator.below(line.count)
            let noise = (0..<generator.below(40)).map { _ in generator.pick(Array("{}[]\",:0123456789abcdef\n -.etrufnl".utf8)) }
            return Array(line.prefix(cut)) + noise + Array(line.dropFirst(cut + generator.below(8)))
        }
    }

    @Test("20,000 random, truncated and damaged lines: no crash, only ProbeError, and no damaged report verifies")
    func fuzz() {
        let report = Array(Fixture.reportLine.dropLast())
        let others = ProbeMessageTests.messages.map { Array(ProbeMessage.line($0).dropLast()) }
        var generator = SplitMix64(seed: 0x5052_4F42)
        var refused = 0
        for round in 0..<20_000 {
            let source = generator.chance(60) ? report : generator.pick(others)
            let input = Self.damaged(source, using: &generator)
            let covers = ProbeMessage.reportCovers(input)
            if let covers {
                #expect(covers.count == input.count - 74)
                #expect(Array(covers) == Array(input.prefix(covers.count)))
            }
            do {
                let message = try ProbeMessage(line: input)
                // Damage that still decodes (a digit changed, a spliced copy) must not carry a valid MAC.
                if case .results(_, let mac) = message, input != report {
                    let verified = covers.map { ProbeSecrets.verify(mac: mac, passphrase: Fixture.passphrase, nonce: Fixture.nonce, $0) } ?? false
                    #expect(!verified, "round \(round): a damaged report verified")
                }
            } catch {
                refused += 1
                #expect(!error.field.isEmpty && !error.reason.isEmpty, "round \(round)")
            }
        }
        #expect(refused > 15_000)
    }

    @Test("every strict prefix of a report line is refused and covers nothing")
    func truncations() {
        let report = Array(Fixture.reportLine.dropLast())
        for count in 0..<report.count {
            let prefix = report.prefix(count)
            #expect(ProbeMessage.reportCovers(prefix) == nil, "\(count) bytes")
            #expect(Fixture.refusal { _ = try ProbeMessage(line: prefix) } != nil, "\(count) bytes")
        }
    }
}
