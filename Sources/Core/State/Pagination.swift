import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `maxResults`/`nextToken` paging over a list in its output order. The token names the last
/// item returned, so paging stays correct while items are added or removed.
public enum Pagination {
    public static func page<Item>(
        _ items: [Item],
        key: (Item) -> String,
        maxResults: Int?,
        nextToken: String?,
        limit: Int = 100,
        comesAfter: (String, String) -> Bool
    ) throws(AWSError) -> (page: [Item], nextToken: String?) {
        let (size, last) = try validate(maxResults: maxResults, nextToken: nextToken, limit: limit)
        var start = 0
        if let last {
            start = items.firstIndex { comesAfter(key($0), last) } ?? items.count
        }
        let end = min(items.count, start + size)
        let page = Array(items[start..<end])
        let token = end < items.count ? page.last.map { encodeToken(key($0)) } : nil
        return (page, token)
    }

    /// ``page(_:key:maxResults:nextToken:limit:comesAfter:)`` over keys in ascending order, for
    /// unsorted keys: selects the page without sorting them all (a ListTasks page of 100 out of
    /// thousands of tasks costs a pass, not a sort).
    public static func ascendingPage(
        _ keys: [String], maxResults: Int?, nextToken: String?, limit: Int = 100
    ) throws(AWSError) -> (page: [String], nextToken: String?) {
        let (size, last) = try validate(maxResults: maxResults, nextToken: nextToken, limit: limit)
        // The `size + 1` smallest keys after the token, ascending: a page and whether more follow.
        var smallest: [String] = []
        smallest.reserveCapacity(size + 1)
        for key in keys {
            if let last, key <= last { continue }
            if smallest.count == size + 1 {
                guard key < smallest[size] else { continue }
                smallest.removeLast()
            }
            var low = 0
            var high = smallest.count
            while low < high {
                let middle = (low + high) / 2
                if smallest[middle] < key { low = middle + 1 } else { high = middle }
            }
            smallest.insert(key, at: low)
        }
        guard smallest.count > size else { return (smallest, nil) }
        let page = Array(smallest.prefix(size))
        return (page, encodeToken(page[size - 1]))
    }

    /// ``ascendingPage(_:maxResults:nextToken:limit:)`` over keys already kept in order
    /// (``SortedKeys``): starts at the token by a binary search and stops once the page is full, so
    /// a page costs its own size (plus the keys `isIncluded` skips), not the number of keys.
    public static func sortedPage(
        _ keys: SortedKeys, maxResults: Int?, nextToken: String?, limit: Int = 100, where isIncluded: (String) -> Bool
    ) throws(AWSError) -> (page: [String], nextToken: String?) {
        let (size, last) = try validate(maxResults: maxResults, nextToken: nextToken, limit: limit)
        var page: [String] = []
        for key in keys.keys(after: last) where isIncluded(key) {
            if page.count == size { return (page, encodeToken(page[size - 1])) }
            page.append(key)
        }
        return (page, nil)
    }

    /// The page size asked for and the last key of the previous page, or AWS's refusal.
    private static func validate(maxResults: Int?, nextToken: String?, limit: Int) throws(AWSError) -> (size: Int, last: String?) {
        let size = maxResults ?? limit
        guard (1...limit).contains(size) else {
            throw .invalidParameter("maxResults must be between 1 and \(limit); got \(size).")
        }
        guard let nextToken else { return (size, nil) }
        guard let last = decodeToken(nextToken) else {
            throw .invalidParameter("The nextToken '\(nextToken.prefix(40))' is not valid: pass the nextToken of a previous response unchanged.")
        }
        return (size, last)
    }

    static func encodeToken(_ key: String) -> String {
        Data(("v1:" + key).utf8).base64EncodedString()
    }

    static func decodeToken(_ token: String) -> String? {
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8),
            text.hasPrefix("v1:")
        else { return nil }
        return String(text.dropFirst(3))
    }
}
