import AgentProtocol
import ECSShapes
import StevedoreCore
/// Task-level `cpu` and `memory` strings, parsed as AWS does: `"1024"` or `"1 vCPU"` for CPU units,
/// `"2048"` or `"2 GB"` for MiB.
public enum TaskSize {
    /// CPU units from `"512"`, `"0.5 vCPU"`, `"2vcpu"`; `nil` when the text is neither.
    public static func cpuUnits(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace
        if let units = Int(trimmed) { return units }
        let lower = trimmed.lowercased()
        guard lower.hasSuffix("vcpu") else { return nil }
        let number = String(lower.dropLast(4)).trimmingWhitespace
        // Swift's Double reads "inf" and "1e300" too: only whole units an Int holds are sizes.
        guard let vcpus = Double(number), vcpus > 0, vcpus <= 1_000_000 else { return nil }
        return Int(exactly: vcpus * 1024)
    }

    /// MiB from `"2048"`, `"2 GB"`, `"0.5GB"`, `"512 MiB"`; `nil` when the text is none of these.
    public static func memoryMiB(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace
        if let mib = Int(trimmed) { return mib }
        let lower = trimmed.lowercased()
        for (suffix, factor) in [("gib", 1024.0), ("gb", 1024.0), ("mib", 1.0), ("mb", 1.0)] where lower.hasSuffix(suffix) {
            let number = String(lower.dropLast(suffix.count)).trimmingWhitespace
            guard let value = Double(number), value > 0, value <= 1_000_000_000 else { return nil }
            return Int(exactly: value * factor)
        }
        return nil
    }
}
