import StevedoreCore
import Testing

/// A trie dictionary behaves as a dictionary, however it was built, and a copy keeps its contents
/// while the original changes.
struct TrieDictionaryTests {
    @Test func behavesAsADictionary() {
        var generator = Xoshiro256(seed: 7)
        var plain: [String: Int] = [:]
        var trie = TrieDictionary<Int>()
        var copy = trie
        var copied: [String: Int] = [:]
        for step in 0..<5_000 {
            if step == 2_500 { (copy, copied) = (trie, plain) }
            let key = "arn:aws:ecs:us-east-1:000000000000:task/c/\(generator.next() % 2_000)"
            switch step % 3 {
            case 0, 1:
                #expect(trie.updateValue(step, forKey: key) == plain.updateValue(step, forKey: key))
            default:
                #expect(trie.removeValue(forKey: key) == plain.removeValue(forKey: key))
            }
            #expect(trie.count == plain.count)
        }
        #expect(Dictionary(uniqueKeysWithValues: trie.map { ($0.key, $0.value) }) == plain)
        #expect(Set(trie.keys) == Set(plain.keys) && trie.values.reduce(0, +) == plain.values.reduce(0, +))
        for (key, value) in plain { #expect(trie[key] == value) }
        #expect(trie["absent"] == nil)
        #expect(Dictionary(uniqueKeysWithValues: copy.map { ($0.key, $0.value) }) == copied, "a copy is not changed by later writes")
    }
}
