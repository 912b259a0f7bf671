import HostessModel

// MARK: - Workload

/// `count` registrations with distinct ids. Classes cycle through 16 values and each entry has 4 of 8
/// capabilities, so the benchmark's query (one class, two capabilities, a free terminal) matches about 1%.
func workload(_ count: Int) -> [Registration] {
    var generator = SplitMix64(seed: 42)
    let pool = (0..<8).map { "cap\($0)" }
    return (0..<count).compactMap { index in
        let uuid = uuid(from: &generator)
        var capabilities = pool
        capabilities.shuffle(using: &generator)
        guard
            let name = try? ServerName(
                fqdn: "bench.local", servername: "server-\(index % 97)", classCode: ClassCode(UInt16(index % 16)),
                owner: "root", authentication: .no, authMechanism: "none", uuid: uuid),
            let input = try? Terminal(name: "input", direction: .input, multiplexing: .none),
            let output = try? Terminal(name: "output", direction: .output, multiplexing: .fanout)
        else { return nil }
        return try? Registration(
            name: name, terminals: [input, output], capabilities: Array(capabilities.prefix(4)).sorted(),
            metadata: ["index": .int(Int64(index))])
    }
}

/// The benchmark's filtered query: class 0x0003, capabilities cap1 and cap2, at least one free terminal.
let benchmarkFilter = ServerFilter(classCode: ClassCode(3), capabilities: ["cap1", "cap2"], availableTerminals: 1)

/// SplitMix64, so every run registers the same entries.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A random-looking but reproducible UUID.
func uuid(from generator: inout SplitMix64) -> String {
    let hex = Array("0123456789abcdef")
    var text = ""
    for position in 0..<32 {
        if [8, 12, 16, 20].contains(position) { text.append("-") }
        text.append(hex[Int(generator.next() % 16)])
    }
    return text
}
