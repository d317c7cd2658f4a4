/// Naming rules shared by clusters, families, containers, volumes, services, functions and queues:
/// letters, digits, underscores and hyphens.
public enum NameRules {
    /// 1–`maxLength` (255) letters, digits, underscores and hyphens.
    public static func isValidName(_ name: String, maxLength: Int = 255) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxLength else { return false }
        return name.utf8.allSatisfy(isNameByte)
    }

    /// An ASCII letter, digit, underscore or hyphen.
    public static func isNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
            || byte == 0x2D
    }
}
