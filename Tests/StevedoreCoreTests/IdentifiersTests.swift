import StevedoreCore
import Testing

struct IdentifiersTests {
    /// The same two draws of the generator, spelled the slow and obvious way.
    private static func expectedHex(seed: UInt64) -> String {
        var generator = Xoshiro256(seed: seed)
        return [generator.next(), generator.next()].map { value in
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }

    @Test(arguments: [0, 1, 7, 42, 0xFFFF_FFFF] as [UInt64])
    func hex32IsTheTwoDrawsInLowercaseHexPaddedToSixteenDigitsEach(seed: UInt64) {
        var generator = Xoshiro256(seed: seed)
        #expect(Identifiers.hex32(using: &generator) == Self.expectedHex(seed: seed))
    }

    @Test(arguments: [0, 1, 7, 42, 0xFFFF_FFFF] as [UInt64])
    func uuidIsHex32WithDashesAtEightTwelveSixteenAndTwenty(seed: UInt64) {
        var generator = Xoshiro256(seed: seed)
        let uuid = Identifiers.uuid(using: &generator)
        let hex = Array(Self.expectedHex(seed: seed))
        let expected = [hex[0..<8], hex[8..<12], hex[12..<16], hex[16..<20], hex[20..<32]].map { String($0) }.joined(separator: "-")
        #expect(uuid == expected)
        #expect(uuid.utf8.count == 36)
    }

    @Test func smallValuesKeepTheirLeadingZeros() {
        struct Counting: RandomNumberGenerator {
            var value: UInt64 = 0
            mutating func next() -> UInt64 {
                value += 1
                return value
            }
        }
        var generator = Counting()
        #expect(Identifiers.hex32(using: &generator) == "00000000000000010000000000000002")
        #expect(Identifiers.uuid(using: &generator) == "00000000-0000-0003-0000-000000000004")
    }
}
