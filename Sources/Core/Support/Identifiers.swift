/// A fast, seedable random number generator (xoshiro256**). The control plane seeds one from the
/// system at start; tests seed it with a constant so placements are reproducible.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var splitMix = seed
        func next() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    public init() {
        var system = SystemRandomNumberGenerator()
        self.init(seed: system.next())
    }

    public mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = (state.3 << 45) | (state.3 >> 19)
        return result
    }
}

/// Identifiers in ECS's formats.
public enum Identifiers {
    /// 32 lowercase hex characters, as new-format task and container-instance ids.
    public static func hex32(using generator: inout some RandomNumberGenerator) -> String {
        hex(generator.next()) + hex(generator.next())
    }

    /// A UUID-shaped id (8-4-4-4-12), as container ids and request ids.
    public static func uuid(using generator: inout some RandomNumberGenerator) -> String {
        let text = hex32(using: &generator)
        let chars = Array(text)
        return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
            + String(chars[16..<20]) + "-" + String(chars[20..<32])
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
