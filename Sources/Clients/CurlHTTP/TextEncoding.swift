/// Percent-encoding for URLs, without Foundation's internationalization layer (the agent imports
/// FoundationEssentials only, which keeps ICU out of its memory).
extension StringProtocol {
    /// Percent-encoded UTF-8: ASCII letters and digits stay, as do the characters in `keeping`;
    /// every other byte becomes `%XX`.
    public func percentEncoded(keeping: String = "") -> String {
        let kept = Set(keeping.utf8)
        var result = ""
        for byte in utf8 {
            let isAlphanumeric = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            if isAlphanumeric || kept.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                result += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]], as: UTF8.self)
            }
        }
        return result
    }
}
