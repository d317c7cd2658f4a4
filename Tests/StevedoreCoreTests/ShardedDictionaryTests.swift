import StevedoreCore
import Testing

/// A sharded dictionary behaves as a dictionary, however it was built.
struct ShardedDictionaryTests {
    @Test func behavesAsADictionary() {
        var generator = Xoshiro256(seed: 7)
        var plain: [String: Int] = [:]
        var sharded = ShardedDictionary<Int>()
        for step in 0..<5_000 {
            let key = "arn:aws:ecs:us-east-1:000000000000:task/c/\(generator.next() % 2_000)"
            switch step % 3 {
            case 0, 1:
                #expect(sharded.updateValue(step, forKey: key) == plain.updateValue(step, forKey: key))
            default:
                #expect(sharded.removeValue(forKey: key) == plain.removeValue(forKey: key))
            }
            #expect(sharded.count == plain.count)
        }
        #expect(Dictionary(uniqueKeysWithValues: sharded.map { ($0.key, $0.value) }) == plain)
        #expect(Set(sharded.keys) == Set(plain.keys) && sharded.values.reduce(0, +) == plain.values.reduce(0, +))
        for (key, value) in plain { #expect(sharded[key] == value) }
        #expect(sharded["absent"] == nil)
    }
}
