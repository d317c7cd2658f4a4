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

    @Test(arguments: [0, 1, 7, 100, 101, 523])
    func sortedPagesMatchAscendingPages(count: Int) throws {
        var generator = Xoshiro256(seed: UInt64(count) + 99)
        let keys = (0..<count).map { _ in "task/\(generator.next() % 1_000_000)" }
        // Built by single insertions (in random order, with removals) and in bulk: the same order.
        var inserted = SortedKeys()
        for key in keys { inserted.insert(key) }
        for key in keys.prefix(count / 3) { inserted.remove(key) }
        for key in keys.prefix(count / 3) { inserted.insert(key) }
        let bulk = SortedKeys(unordered: keys + keys.prefix(5))
        #expect(inserted == bulk)
        #expect(bulk.keys == Array(Set(keys)).sorted())
        for size in [1, 3, 100] {
            let sorted = try allPages { try Pagination.sortedPage(bulk, maxResults: size, nextToken: $0) { _ in true } }
            let selected = try allPages { try Pagination.ascendingPage(keys, maxResults: size, nextToken: $0) }
            #expect(sorted == selected)
            // A filter leaves out keys but still fills each page.
            let even = try allPages { try Pagination.sortedPage(bulk, maxResults: size, nextToken: $0) { $0.last!.wholeNumberValue! % 2 == 0 } }
            #expect(even.flatMap { $0 } == bulk.keys.filter { $0.last!.wholeNumberValue! % 2 == 0 })
            #expect(even.dropLast().allSatisfy { $0.count == size })
        }
    }

    @Test func sortedKeysMembership() {
        var keys = SortedKeys()
        for key in ["b", "d", "a", "c", "b"] { keys.insert(key) }
        #expect(keys.keys == ["a", "b", "c", "d"])
        #expect(keys.contains("c") && !keys.contains("e"))
        keys.remove("c")
        keys.remove("zz")
        #expect(keys.keys == ["a", "b", "d"])
        #expect(Array(keys.keys(after: "b")) == ["d"] && Array(keys.keys(after: "bb")) == ["d"] && Array(keys.keys(after: nil)) == ["a", "b", "d"])
    }

    @Test func refusals() {
        #expect(throws: AWSError.invalidParameter("maxResults must be between 1 and 100; got 0.")) {
            try Pagination.ascendingPage(["a"], maxResults: 0, nextToken: nil)
        }
        #expect(throws: AWSError.invalidParameter("maxResults must be between 1 and 100; got 101.")) {
            try Pagination.sortedPage(SortedKeys(), maxResults: 101, nextToken: nil) { _ in true }
        }
        #expect(throws: AWSError.self) { try Pagination.ascendingPage(["a"], maxResults: 1, nextToken: "not-a-token") }
    }
}
