/// Naming rules shared by clusters, families, containers, volumes and services:
/// 1–255 letters, digits, underscores and hyphens.
public enum NameRules {
    public static func isValidName(_ name: String, maxLength: Int = 255) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maxLength else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D
        }
    }
}
