import HostessTestSupport

// MARK: - Response mutations

/// The fuzz tests' alphabet: the bytes HTTP framing turns on, and a few that must never pass.
let responseMutationAlphabet: [UInt8] = Array("HTTP/1.0 2345;:=\r\n\t xXaF,chunked".utf8) + [0, 0x7F, 0xFF]

/// One of `samples` with one to four random edits (a byte replaced, inserted or removed, or the rest cut off).
func mutatedResponse(_ samples: [String], _ random: inout SplitMix64) -> [UInt8] {
    var input = Array(random.pick(samples).utf8)
    for _ in 0..<(1 + random.below(4)) {
        let position = random.below(input.count + 1)
        switch random.below(4) {
        case 0 where position < input.count: input[position] = random.pick(responseMutationAlphabet)
        case 1: input.insert(random.pick(responseMutationAlphabet), at: position)
        case 2 where position < input.count: input.remove(at: position)
        default: input = Array(input[..<position])
        }
    }
    return input
}
