import AgentProtocol
import APIGateway
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import CloudFormation
import ECS
import ECSShapes
import EventBridge
import Foundation
import IAM
import Lambda
import LoadBalancing
import Secrets
import LambdaShapes
import Logs
import Athena
import S3
import SNS
import SQS
import StevedoreCore
import Synchronization

/// Every service's state, composed into the one state the committer changes: a write that crosses
/// services (a function environment is a task, a scaling decision sets a service's desired count)
/// commits in one turn. Each service sees it through its host protocol.
public struct ControlPlaneState: Sendable, LambdaHost, ScalingHost, CapacityHost, IAMHost, SecretsHost, GatewayHost, LoadBalancingHost, LogsHost, EventBridgeHost, SNSHost, S3Host, CloudFormationHost, AthenaHost {
    public var ecs: ECSState
    public var sqs: SQSState
    public var lambda: FunctionsState
    public var scaling: ScalingState
    public var capacity: CapacityState
    public var iam: IAMState
    public var secrets: SecretsState
    public var gateway: GatewayState
    public var loadBalancing: TargetGroupState
    public var logs: LogsState
    public var events: EventBridgeState
    public var sns: SNSState
    public var s3: S3State
    public var cloudFormation: CloudFormationState
    public var athena: AthenaState

    /// States loaded from rows in this process so far (see `restore`).
    private static let loads = Atomic<Int>(0)

    public init(names: ResourceNames) {
        ecs = ECSState(names: names)
        sqs = SQSState(names: names)
        lambda = FunctionsState(names: names)
        scaling = ScalingState(names: names)
        capacity = CapacityState(names: names)
        iam = IAMState(names: names)
        secrets = SecretsState(names: names)
        gateway = GatewayState(names: names)
        loadBalancing = TargetGroupState(names: names)
        logs = LogsState(names: names)
        events = EventBridgeState(names: names)
        sns = SNSState(names: names)
        s3 = S3State(names: names)
        cloudFormation = CloudFormationState(names: names)
        athena = AthenaState(names: names)
        athena.provide(ClusterTables.database)
    }

    /// The settings every service's state starts with (flags; not stored).
    public struct Settings: Sendable {
        public var scheduler = SchedulerSettings()
        public var functions = FunctionSettings()
        public var scaling = ScalingSettings()
        /// Where queue URLs point: this control plane's endpoint.
        public var endpoint = "http://127.0.0.1:8340"
        /// Where the gateway serves APIs (`--gateway-listen`), for their `apiEndpoint`.
        public var gatewayEndpoint = GatewayEndpoint()

        public init() {}
    }

    /// Rebuilds every service's state from the stored rows; agents get a full timeout to reconnect.
    public static func restore(names: ResourceNames, settings: Settings, rows: StoredRows, now: Date) throws -> ControlPlaneState {
        var state = ControlPlaneState(names: names)
        state.ecs = try ECSState.restore(names: names, rows: rows)
        state.sqs = try SQSState.restore(names: names, rows: rows)
        state.lambda = try FunctionsState.restore(names: names, rows: rows)
        state.scaling = try ScalingState.restore(names: names, rows: rows)
        state.capacity = try CapacityState.restore(names: names, rows: rows)
        state.iam = try IAMState.restore(names: names, rows: rows)
        // The key ring takes only IAM states newer than the last it took: a state reloaded after a
        // failed commit must count as newer than any before it, whatever the clock says (a clock
        // stepped back would otherwise have the ring ignore revocations). Each load starts a new
        // generation of revisions, 2^40 changes apart.
        state.iam.revision = Self.loads.add(1, ordering: .relaxed).newValue << 40
        state.secrets = try SecretsState.restore(names: names, rows: rows)
        state.gateway = try GatewayState.restore(names: names, rows: rows)
        state.loadBalancing = try TargetGroupState.restore(names: names, rows: rows)
        state.logs = try LogsState.restore(names: names, rows: rows)
        state.events = try EventBridgeState.restore(names: names, rows: rows)
        state.sns = try SNSState.restore(names: names, rows: rows)
        state.s3 = try S3State.restore(names: names, rows: rows)
        state.cloudFormation = try CloudFormationState.restore(names: names, rows: rows)
        state.athena = try AthenaState.restore(names: names, rows: rows)
        state.athena.provide(ClusterTables.database)
        state.apply(settings)
        state.ecs.resetLiveness(now: now)
        return state
    }

    public mutating func apply(_ settings: Settings) {
        ecs.settings = settings.scheduler
        lambda.settings = settings.functions
        scaling.settings = settings.scaling
        sqs.endpoint = settings.endpoint
        sns.endpoint = settings.endpoint
        gateway.endpoint = settings.gatewayEndpoint
        lambda.settings.urlEndpoint = FunctionUrlEndpoint(scheme: settings.gatewayEndpoint.scheme, port: settings.gatewayEndpoint.port)
    }

    /// What every write does last, in its own turn: ECS's changes become events on the default
    /// bus (delivered in the same commit, so none is lost or sent for a change that was not).
    public mutating func finishWrite(_ mutation: inout Mutation) {
        guard events.listensForECSEvents else { return }
        let committed = mutation.changes
        publishECSEvents(of: committed, now: mutation.now, using: &mutation.random, changes: &mutation.changes)
    }

    /// A container instance registered: capacity groups link it to their instance.
    public mutating func containerInstanceRegistered(_ arn: String, changes: inout ChangeSet) {
        linkRegisteredInstance(arn, changes: &changes)
    }
}
