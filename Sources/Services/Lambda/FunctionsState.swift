#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ECS
import SQS
import StevedoreCore

/// Lambda's state: functions with their versions and aliases, layers, and the durable queue of
/// asynchronous invocations. Operations are pure functions over it; those that cross into other
/// services (environments are ECS tasks, dead letters are SQS messages) run on ``LambdaHost``.
public struct FunctionsState: Sendable {
    public let names: ResourceNames
    public var settings = FunctionSettings()
    public package(set) var functions: [String: FunctionRecord] = [:]
    public package(set) var layers: [String: LayerRecord] = [:]
    public package(set) var asyncEvents: [String: AsyncEventRecord] = [:]
    /// Event source mappings (queues read for functions) by UUID.
    public package(set) var eventSourceMappings: [String: EventSourceMappingRecord] = [:]

    public init(names: ResourceNames) {
        self.names = names
    }

    public static let recordKinds: [RecordKind] = [.functions, .layers, .asyncEvents, .eventSourceMappings]

    public static func restore(names: ResourceNames, rows: StoredRows) throws -> FunctionsState {
        var state = FunctionsState(names: names)
        for record in try rows.decode(FunctionRecord.self) {
            state.functions[record.name] = record
        }
        for record in try rows.decode(LayerRecord.self) {
            state.layers[record.name] = record
        }
        for record in try rows.decode(AsyncEventRecord.self) {
            state.asyncEvents[record.requestId] = record
        }
        for record in try rows.decode(EventSourceMappingRecord.self) {
            state.eventSourceMappings[record.uuid] = record
        }
        return state
    }
}

/// The composed state Lambda runs in: its own, ECS's (execution environments are tasks) and
/// SQS's (dead-letter queues and destinations).
public protocol LambdaHost: ECSHost, SQSHost {
    var lambda: FunctionsState { get set }
}

extension RecordKind {
    public static let functions = RecordKind("functions")
    public static let layers = RecordKind("layers")
    public static let asyncEvents = RecordKind("async_events")
}
