/// The few text helpers shared by the control plane and the agent, without Foundation's
/// internationalization layer (the agent imports FoundationEssentials only, which keeps ICU out
/// of its memory).
extension StringProtocol {
    /// Without leading and trailing spaces, tabs, carriage returns and newlines.
    public var trimmingWhitespace: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
