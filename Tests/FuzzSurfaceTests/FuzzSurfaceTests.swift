import Foundation
import StevedoreCore
import StevedoreFuzzSurface
import Testing

/// Replays the committed fuzz corpus (Fuzz/corpus/<target>) and seeded mutations of it through
/// every decoder: each input may be refused, none may crash. `make fuzz` runs libFuzzer itself.
struct FuzzSurfaceTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Fuzz/corpus").standardized

    @Test(arguments: FuzzSurface.Target.allCases)
    func theCorpusAndMutationsOfItDecodeOrAreRefusedWithoutCrashing(target: FuzzSurface.Target) async throws {
        let directory = Self.corpus.appendingPathComponent(target.rawValue)
        let seeds = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map { name in
            Array(try Data(contentsOf: directory.appendingPathComponent(name)))
        }
        #expect(!seeds.isEmpty, "no seeds in \(directory.path)")
        var random = Xoshiro256(seed: 42)
        for seed in seeds {
            FuzzSurface.run(target, seed)
            for _ in 0..<300 {
                var input = seed
                for _ in 0..<Int(random.next(upperBound: 8 as UInt32)) + 1 where !input.isEmpty {
                    let index = Int(random.next(upperBound: UInt32(input.count)))
                    switch random.next(upperBound: 4 as UInt32) {
                    case 0: input[index] = UInt8(truncatingIfNeeded: random.next())
                    case 1: input.remove(at: index)
                    case 2: input.insert(UInt8(truncatingIfNeeded: random.next()), at: index)
                    default: input = Array(input.prefix(index))
                    }
                }
                FuzzSurface.run(target, input)
                // Seconds of decoding must not hold one of the test pool's threads the whole
                // time: tests waiting beside it on short deadlines would starve.
                await Task.yield()
            }
        }
    }
}
