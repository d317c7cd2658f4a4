import AgentProtocol
import ECSShapes
import StevedoreCore
/// Tag limits shared by every taggable resource.
public enum TagRules {
    public static let maxTags = 50

    public static func validate(_ tags: [ResourceTag], existing: Int = 0) throws(AWSError) {
        guard tags.count + existing <= maxTags else {
            throw .invalidParameter("A resource can have at most \(maxTags) tags; this request would give it \(tags.count + existing).")
        }
        for tag in tags {
            guard let key = tag.key, !key.isEmpty, key.count <= 128 else {
                throw .invalidParameter("Tag keys must be 1-128 characters; got '\(tag.key ?? "")'.")
            }
            guard (tag.value ?? "").count <= 256 else {
                throw .invalidParameter("The value of tag '\(key)' is longer than 256 characters.")
            }
            guard !key.lowercased().hasPrefix("aws:") else {
                throw .invalidParameter("Tag key '\(key)' uses the reserved prefix 'aws:'.")
            }
        }
    }

    /// Applies `new` over `existing`: same keys are replaced, others kept, order stable.
    public static func merge(_ existing: [ResourceTag], _ new: [ResourceTag]) -> [ResourceTag] {
        var result = existing
        for tag in new {
            if let index = result.firstIndex(where: { $0.key == tag.key }) {
                result[index] = tag
            } else {
                result.append(tag)
            }
        }
        return result
    }
}
