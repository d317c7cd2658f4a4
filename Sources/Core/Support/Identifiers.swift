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
        let high = generator.next()
        let low = generator.next()
        return String(unsafeUninitializedCapacity: 32) { bytes in
            writeHex(high, into: bytes, at: 0)
            writeHex(low, into: bytes, at: 16)
            return 32
        }
    }

    /// A UUID-shaped id (8-4-4-4-12), as container ids and request ids: `hex32` with dashes.
    public static func uuid(using generator: inout some RandomNumberGenerator) -> String {
        let high = generator.next()
        let low = generator.next()
        return String(unsafeUninitializedCapacity: 36) { bytes in
            var digits = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &digits) { scratch in
                let hex = scratch.bindMemory(to: UInt8.self)
                writeHex(high, into: hex, at: 0)
                writeHex(low, into: hex, at: 16)
                var written = 0
                for (index, digit) in hex.prefix(32).enumerated() {
                    if index == 8 || index == 12 || index == 16 || index == 20 {
                        bytes[written] = UInt8(ascii: "-")
                        written += 1
                    }
                    bytes[written] = digit
                    written += 1
                }
            }
            return 36
        }
    }

    /// Sixteen lowercase hex digits of `value`, most significant first, from `offset`.
    private static func writeHex(_ value: UInt64, into bytes: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        for position in 0..<16 {
            let nibble = UInt8(truncatingIfNeeded: value >> UInt64(60 - 4 * position)) & 0xF
            bytes[offset + position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
    }
}
