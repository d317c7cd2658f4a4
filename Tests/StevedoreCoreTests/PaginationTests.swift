import StevedoreCore
import Testing

/// Paging by the last key returned: `ascendingPage` over unsorted keys gives exactly the pages
/// `page` gives over the same keys sorted.
struct PaginationTests {
    func allPages(_ pageOf: (String?) throws -> (page: [String], nextToken: String?)) throws -> [[String]] {
        var pages: [[String]] = []
        var token: String?
        repeat {
            let (page, next) = try pageOf(token)
            pages.append(page)
            token = next
        } while token != nil
        return pages
    }

    @Test(arguments: [0, 1, 7, 100, 101, 523])
    func ascendingPagesMatchPagesOfTheSortedKeys(count: Int) throws {
        var generator = Xoshiro256(seed: UInt64(count))
        let keys = (0..<count).map { _ in "task/\(generator.next() % 1_000_000)" }
        for size in [1, 3, 100] {
            let selected = try allPages { try Pagination.ascendingPage(keys, maxResults: size, nextToken: $0) }
            let sorted = try allPages {
                try Pagination.page(keys.sorted(), key: { $0 }, maxResults: size, nextToken: $0, comesAfter: >)
            }
            #expect(selected == sorted)
            #expect(selected.flatMap { $0 } == Array(Set(keys)).sorted() || keys.count != Set(keys).count)
        }
    }

    @Test func refusals() {
        #expect(throws: AWSError.invalidParameter("maxResults must be between 1 and 100; got 0.")) {
            try Pagination.ascendingPage(["a"], maxResults: 0, nextToken: nil)
        }
        #expect(throws: AWSError.self) { try Pagination.ascendingPage(["a"], maxResults: 1, nextToken: "not-a-token") }
    }
}
