import StevedoreCore
import Testing

/// `concurrentMap` is `map`: same results in the same order, split across cores or not, and the
/// first error thrown comes back.
struct ConcurrentMapTests {
    struct Refused: Error, Equatable { let value: Int }

    @Test(arguments: [0, 1, 10, 1023, 4096, 100_001])
    func resultsAreMapsResultsInOrder(count: Int) throws {
        let numbers = Array(0..<count)
        #expect(try numbers.concurrentMap(minimumPerCore: 1000) { $0 * 3 } == numbers.map { $0 * 3 })
    }

    @Test func anErrorInAnyChunkIsRethrown() {
        let numbers = Array(0..<10_000)
        #expect(throws: Refused(value: 9_999)) {
            try numbers.concurrentMap(minimumPerCore: 100) { value in
                if value == 9_999 { throw Refused(value: value) }
                return value
            }
        }
    }
}
