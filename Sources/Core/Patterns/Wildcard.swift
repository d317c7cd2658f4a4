/// IAM's wildcards: `*` matches any run of characters (also none), `?` exactly one.
public enum Wildcard {
    public static func matches(_ pattern: String, _ text: String, ignoringCase: Bool) -> Bool {
        if pattern == "*" { return true }
        let pattern = Array((ignoringCase ? pattern.lowercased() : pattern).utf8)
        let text = Array((ignoringCase ? text.lowercased() : text).utf8)
        // Greedy matching with one backtrack point: linear in practice, no recursion.
        var p = 0
        var t = 0
        var star: Int?
        var resume = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "?") || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = p
                resume = t
                p += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}
