/// The version every Stevedore binary reports.
public enum StevedoreVersion {
    public static let current = "0.1.0"
}
