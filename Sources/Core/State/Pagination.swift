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
        let size = maxResults ?? limit
        guard (1...limit).contains(size) else {
            throw .invalidParameter("maxResults must be between 1 and \(limit); got \(size).")
        }
        var start = 0
        if let nextToken {
            guard let last = decodeToken(nextToken) else {
                throw .invalidParameter("The nextToken '\(nextToken.prefix(40))' is not valid: pass the nextToken of a previous response unchanged.")
            }
            start = items.firstIndex { comesAfter(key($0), last) } ?? items.count
        }
        let end = min(items.count, start + size)
        let page = Array(items[start..<end])
        let token = end < items.count ? page.last.map { encodeToken(key($0)) } : nil
        return (page, token)
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
