/// Containers' output for CloudWatch Logs: what the agent ships for containers whose task
/// definition asks for the `awslogs` driver.
extension WorkChannel {
    /// `POST`: a batch of a container's log events; with no events, only makes sure the group
    /// (when `createGroup`) and the stream exist, before the container starts.
    public static let logEventsPath = "/v1/agent/log-events"
}

public struct LogEventsBatch: Codable, Sendable, Equatable {
    public struct Event: Codable, Sendable, Equatable {
        /// Milliseconds since the epoch.
        public var timestamp: Int
        public var message: String

        public init(timestamp: Int, message: String) {
            self.timestamp = timestamp
            self.message = message
        }
    }

    public var containerInstanceArn: String
    public var taskArn: String
    public var group: String
    public var stream: String
    /// `awslogs-create-group`: a missing group is made instead of refused.
    public var createGroup: Bool
    /// In time order.
    public var events: [Event]

    public init(containerInstanceArn: String, taskArn: String, group: String, stream: String, createGroup: Bool, events: [Event]) {
        self.containerInstanceArn = containerInstanceArn
        self.taskArn = taskArn
        self.group = group
        self.stream = stream
        self.createGroup = createGroup
        self.events = events
    }
}

/// What the control plane answers a batch with: the stream's newest event time, so an agent that
/// restarts while a container runs goes on from there.
public struct LogEventsAccepted: Codable, Sendable, Equatable {
    public var lastEventTimestamp: Int?

    public init(lastEventTimestamp: Int?) {
        self.lastEventTimestamp = lastEventTimestamp
    }
}
