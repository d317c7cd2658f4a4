/// Wildcard patterns: IAM's (`*` matches any run of characters, also none; `?` exactly one), and
/// the same matching for other spellings (SQL's LIKE: `%` and `_`).
public enum Wildcard {
    public static func matches(_ pattern: String, _ text: String, ignoringCase: Bool) -> Bool {
        if pattern == "*" { return true }
        let pattern = Array((ignoringCase ? pattern.lowercased() : pattern).utf8)
        let text = Array((ignoringCase ? text.lowercased() : text).utf8)
        return matches(pattern, text, anyRun: UInt8(ascii: "*"), one: UInt8(ascii: "?"))
    }

    /// Greedy matching with one backtrack point (the last `anyRun`): linear in practice, no recursion.
    public static func matches<Element: Equatable>(_ pattern: [Element], _ text: [Element], anyRun: Element, one: Element) -> Bool {
        var p = 0
        var t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == anyRun {
                star = p
                resume = t
                p += 1
            } else if p < pattern.count, pattern[p] == one || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == anyRun { p += 1 }
        return p == pattern.count
    }
}
