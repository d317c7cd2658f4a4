#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import ApplicationAutoScalingShapes
import ECS
import ECSShapes
import StevedoreCore

/// Application Auto Scaling's state: scalable targets (ECS services' desired counts) with their
/// policies, scheduled actions, alarms and activities.
public struct ScalingState: Sendable {
    public let names: ResourceNames
    public var settings = ScalingSettings()
    /// By ``ScalableTargetRecord/key(_:_:_:)``.
    public package(set) var scalableTargets: [String: ScalableTargetRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.scalableTargets]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> ScalingState {
        var state = ScalingState(names: names)
        for record in try rows.decode(ScalableTargetRecord.self) {
            state.scalableTargets[record.recordKey] = record
        }
        return state
    }
}

/// The composed state scaling runs in: its own, and ECS's services whose desired counts it sets.
public protocol ScalingHost: ECSHost {
    var scaling: ScalingState { get set }
}

extension RecordKind {
    public static let scalableTargets = RecordKind("scalable_targets")
}

extension ECSState {
    /// The service a `service/<cluster>/<service>` resource id names.
    public func scalingService(_ resourceId: String) throws(AWSError) -> ServiceRecord {
        let parts = resourceId.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "service", !parts[1].isEmpty, !parts[2].isEmpty else {
            throw .aasValidation("ResourceId must look like service/<cluster>/<service> for ECS; got '\(resourceId)'.")
        }
        guard let service = service(parts[2], inCluster: parts[1]), service.service.serviceStatus == .active else {
            throw .aasValidation("ECS service doesn't exist: \(resourceId)")
        }
        return service
    }
}
