import ECSAPI
import ECSCore
import Foundation

/// Application Auto Scaling (`AnyScaleFrontendService.<Operation>`, AWS JSON 1.1) for ECS services.
enum ScalingAPI {
    static let targetPrefix = "AnyScaleFrontendService"

    static func register(on dispatcher: inout AWSJSONDispatcher, committer: Committer) {
        func read<Input: Decodable & Sendable, Output: Encodable & Sendable>(
            _ name: String, _ operation: @escaping @Sendable (ECSState, Input) throws(AWSError) -> Output
        ) {
            dispatcher.register(targetPrefix, name, decodeErrorType: "ValidationException") { (input: Input, _) throws(AWSError) in
                try await committer.read { state, _ throws(AWSError) in try operation(state, input) }
            }
        }
        func write<Input: Decodable & Sendable, Output: Encodable & Sendable>(
            _ name: String, _ operation: @escaping @Sendable (inout ECSState, Input, inout Mutation) throws(AWSError) -> Output
        ) {
            dispatcher.register(targetPrefix, name, decodeErrorType: "ValidationException") { (input: Input, _) throws(AWSError) in
                try await committer.write { state, mutation throws(AWSError) in try operation(&state, input, &mutation) }
            }
        }
        struct Empty: Codable, Sendable {}

        write("RegisterScalableTarget") { (state, input: AASRegisterScalableTargetRequest, m) throws(AWSError) in
            try state.registerScalableTarget(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        write("DeregisterScalableTarget") { (state, input: AASDeregisterScalableTargetRequest, m) throws(AWSError) -> Empty in
            try state.deregisterScalableTarget(input, changes: &m.changes)
            return Empty()
        }
        read("DescribeScalableTargets") { (state, input: AASDescribeScalableTargetsRequest) throws(AWSError) in
            try state.describeScalableTargets(input)
        }
        write("PutScalingPolicy") { (state, input: AASPutScalingPolicyRequest, m) throws(AWSError) in
            try state.putScalingPolicy(input, now: m.now, using: &m.random, changes: &m.changes)
        }
        write("DeleteScalingPolicy") { (state, input: AASDeleteScalingPolicyRequest, m) throws(AWSError) -> Empty in
            try state.deleteScalingPolicy(input, changes: &m.changes)
            return Empty()
        }
        read("DescribeScalingPolicies") { (state, input: AASDescribeScalingPoliciesRequest) throws(AWSError) in
            try state.describeScalingPolicies(input)
        }
        write("PutScheduledAction") { (state, input: AASPutScheduledActionRequest, m) throws(AWSError) in
            try state.putScheduledAction(input, now: m.now, changes: &m.changes)
        }
        write("DeleteScheduledAction") { (state, input: AASDeleteScheduledActionRequest, m) throws(AWSError) -> Empty in
            try state.deleteScheduledAction(input, changes: &m.changes)
            return Empty()
        }
        read("DescribeScheduledActions") { (state, input: AASDescribeScheduledActionsRequest) throws(AWSError) in
            try state.describeScheduledActions(input)
        }
        read("DescribeScalingActivities") { (state, input: AASDescribeScalingActivitiesRequest) throws(AWSError) in
            try state.describeScalingActivities(input)
        }
    }
}
