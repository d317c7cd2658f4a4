#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import StevedoreCore

/// Where a bucket sends notice of its objects' changes (PutBucketNotificationConfiguration):
/// topics, queues and functions, each for some events and keys, and EventBridge for all.
public struct NotificationConfiguration: Codable, Sendable, Equatable {
    public enum DestinationKind: String, Codable, Sendable {
        case topic, queue, function

        /// The configuration's element and the element naming its ARN, as S3's XML spells them.
        public var elements: (configuration: String, arn: String) {
            switch self {
            case .topic: ("TopicConfiguration", "Topic")
            case .queue: ("QueueConfiguration", "Queue")
            case .function: ("CloudFunctionConfiguration", "CloudFunction")
            }
        }
    }

    public struct FilterRule: Codable, Sendable, Equatable {
        /// `prefix` or `suffix`, in any case, as given.
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public struct Destination: Codable, Sendable, Equatable {
        public var id: String
        public var kind: DestinationKind
        public var arn: String
        /// As configured: `s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`, …
        public var events: [String]
        public var filterRules: [FilterRule]

        public init(id: String, kind: DestinationKind, arn: String, events: [String], filterRules: [FilterRule] = []) {
            self.id = id
            self.kind = kind
            self.arn = arn
            self.events = events
            self.filterRules = filterRules
        }

        var prefix: String { filterRules.first { $0.name.lowercased() == "prefix" }?.value ?? "" }
        var suffix: String { filterRules.first { $0.name.lowercased() == "suffix" }?.value ?? "" }

        /// Whether an event (`ObjectCreated:Put`) on the key is one this destination is told of.
        public func matches(eventName: String, key: String) -> Bool {
            events.contains { NotificationConfiguration.event($0, covers: eventName) } && key.hasPrefix(prefix) && key.hasSuffix(suffix)
        }
    }

    public var destinations: [Destination] = []
    /// Whether every event also goes to the account's default EventBridge bus.
    public var eventBridge = false

    public init(destinations: [Destination] = [], eventBridge: Bool = false) {
        self.destinations = destinations
        self.eventBridge = eventBridge
    }

    public var isEmpty: Bool { destinations.isEmpty && !eventBridge }

    /// The destinations told of an event on a key, in the configuration's order.
    public func destinations(for eventName: String, key: String) -> [Destination] {
        destinations.filter { $0.matches(eventName: eventName, key: key) }
    }

    public static let maximumDestinations = 100

    /// The event types a configuration may name (botocore's `Event` enumeration).
    public static let eventTypes: Set<String> = [
        "s3:ReducedRedundancyLostObject", "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*", "s3:ObjectRestore:Post", "s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete", "s3:Replication:*",
        "s3:Replication:OperationFailedReplication", "s3:Replication:OperationNotTracked", "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold", "s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated", "s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete", "s3:ObjectAcl:Put",
    ]

    /// Whether a configured event type (`s3:ObjectCreated:*`) covers an event (`ObjectCreated:Put`).
    static func event(_ configured: String, covers eventName: String) -> Bool {
        let configured = configured.hasPrefix("s3:") ? String(configured.dropFirst(3)) : configured
        if configured.hasSuffix(":*") { return eventName.hasPrefix(configured.dropLast()) }
        return configured == eventName
    }

    /// Whether two configured event types have an event in common.
    static func overlap(_ a: String, _ b: String) -> Bool {
        let (a, b) = (String(a.dropFirst(3)), String(b.dropFirst(3)))
        let wide = { (type: String) in type.hasSuffix(":*") ? String(type.dropLast()) : nil }
        if let prefix = wide(a) { return b.hasPrefix(prefix) || wide(b).map { prefix.hasPrefix($0) } ?? false }
        if let prefix = wide(b) { return a.hasPrefix(prefix) }
        return a == b
    }
}

// MARK: Validation

extension NotificationConfiguration {
    /// The configuration as S3 accepts it: known events, one prefix and one suffix rule at most,
    /// and no event on a key told to two destinations. Ids left out are made here.
    public mutating func validate(using generator: inout some RandomNumberGenerator) throws(AWSError) {
        // Bounds on what one configuration costs: every object write looks at its destinations.
        guard destinations.count <= Self.maximumDestinations else {
            throw S3Error.invalidArgument("A notification configuration may have at most \(Self.maximumDestinations) destinations.", name: "NotificationConfiguration")
        }
        for index in destinations.indices {
            var seen: Set<String> = []
            destinations[index].events = destinations[index].events.filter { seen.insert($0).inserted }
            guard destinations[index].events.count <= Self.eventTypes.count else { throw S3Error.malformedXML }
        }
        for index in destinations.indices {
            let destination = destinations[index]
            guard Self.parses(destination.arn, as: destination.kind) else {
                throw S3Error.invalidArgument("The ARN could not be parsed", name: destination.kind.elements.arn, value: destination.arn)
            }
            for event in destination.events where !Self.eventTypes.contains(event) {
                throw S3Error.invalidArgument("The event is not supported for notifications", name: "Event", value: event)
            }
            var names: Set<String> = []
            for (position, rule) in destination.filterRules.enumerated() {
                let name = rule.name.lowercased()
                guard name == "prefix" || name == "suffix" else {
                    throw S3Error.invalidArgument("filter rule name must be either prefix or suffix", name: "FilterRule.Name", value: rule.name)
                }
                guard names.insert(name).inserted else {
                    throw S3Error.invalidArgument("Cannot specify more than one \(name) rule in a filter.", name: "FilterRule.Name", value: rule.name)
                }
                guard rule.value.utf8.count <= 1024 else {
                    throw S3Error.invalidArgument(
                        "Size of filter rule value cannot exceed 1024 bytes in UTF-8 representation", name: "FilterRule.Value", value: rule.value)
                }
                // Stored as S3 answers them back: `Prefix`, `Suffix`.
                destinations[index].filterRules[position].name = name == "prefix" ? "Prefix" : "Suffix"
            }
            if destination.id.isEmpty { destinations[index].id = Data(Identifiers.uuid(using: &generator).utf8).base64EncodedString() }
        }
        for (index, first) in destinations.enumerated() {
            for second in destinations[(index + 1)...] {
                guard let (a, b) = Self.sharedEvent(first, second), Self.keysOverlap(first, second) else { continue }
                if first.filterRules.isEmpty, second.filterRules.isEmpty {
                    throw S3Error.invalidArgument(
                        "Configurations overlap. Configurations on the same bucket cannot share a common event type.", name: "Event", value: a + ", " + b)
                }
                throw S3Error.invalidArgument(
                    "Configuration is ambiguously defined. Cannot have overlapping suffixes in two rules if the prefixes are overlapping for the same event type.",
                    name: "Event", value: a + ", " + b)
            }
        }
    }

    /// Whether an ARN has ARN's parts and names the service of its configuration.
    static func parses(_ arn: String, as kind: DestinationKind) -> Bool {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        let service = switch kind {
        case .topic: "sns"
        case .queue: "sqs"
        case .function: "lambda"
        }
        return parts.count == 6 && parts[0] == "arn" && !parts[1].isEmpty && parts[2] == service && !parts[5].isEmpty
    }

    /// The first pair of event types, one from each destination, that have an event in common.
    static func sharedEvent(_ first: Destination, _ second: Destination) -> (String, String)? {
        for a in first.events {
            for b in second.events where overlap(a, b) { return (a, b) }
        }
        return nil
    }

    /// Whether some key would pass both destinations' filters: a prefix overlaps another that
    /// starts it (or none), and so do suffixes that end one another.
    static func keysOverlap(_ first: Destination, _ second: Destination) -> Bool {
        let prefixes = first.prefix.hasPrefix(second.prefix) || second.prefix.hasPrefix(first.prefix)
        let suffixes = first.suffix.hasSuffix(second.suffix) || second.suffix.hasSuffix(first.suffix)
        return prefixes && suffixes
    }
}

// MARK: XML

extension S3XML {
    /// A `<NotificationConfiguration>` body, or MalformedXML when an element S3 requires is missing.
    public static func parseNotification(_ body: [UInt8]) throws(AWSError) -> NotificationConfiguration {
        guard let root = XMLNode.parse(body), root.name == "NotificationConfiguration" else { throw S3Error.malformedXML }
        var configuration = NotificationConfiguration()
        for child in root.children {
            let kind: NotificationConfiguration.DestinationKind
            switch child.name {
            case "TopicConfiguration": kind = .topic
            case "QueueConfiguration": kind = .queue
            case "CloudFunctionConfiguration": kind = .function
            case "EventBridgeConfiguration":
                configuration.eventBridge = true
                continue
            default: throw S3Error.malformedXML
            }
            let events = child.all("Event").map(\.text)
            guard let arn = child.value(kind.elements.arn), !events.isEmpty else { throw S3Error.malformedXML }
            var rules: [NotificationConfiguration.FilterRule] = []
            if let filter = child.child("Filter") {
                for rule in filter.child("S3Key")?.all("FilterRule") ?? [] {
                    guard let name = rule.value("Name"), let value = rule.value("Value") else { throw S3Error.malformedXML }
                    rules.append(.init(name: name, value: value))
                }
            }
            configuration.destinations.append(.init(id: child.value("Id") ?? "", kind: kind, arn: arn, events: events, filterRules: rules))
        }
        return configuration
    }

    /// GetBucketNotificationConfiguration's answer: topics, then queues, then functions.
    public static func notification(_ configuration: NotificationConfiguration?) -> [UInt8] {
        document("NotificationConfiguration") { xml in
            guard let configuration else { return }
            for kind in [NotificationConfiguration.DestinationKind.topic, .queue, .function] {
                for destination in configuration.destinations where destination.kind == kind {
                    xml.element(kind.elements.configuration) { xml in
                        xml.element("Id", destination.id)
                        xml.element(kind.elements.arn, destination.arn)
                        for event in destination.events { xml.element("Event", event) }
                        if !destination.filterRules.isEmpty {
                            xml.element("Filter") { xml in
                                xml.element("S3Key") { xml in
                                    for rule in destination.filterRules {
                                        xml.element("FilterRule") { xml in
                                            xml.element("Name", rule.name)
                                            xml.element("Value", rule.value)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if configuration.eventBridge { xml.element("EventBridgeConfiguration") { _ in } }
        }
    }
}
