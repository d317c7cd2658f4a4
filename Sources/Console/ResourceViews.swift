import APIGateway
import APIGatewayShapes
import CloudFormation
import Foundation
import StevedoreCore

/// The APIs and stacks pages: an API's routes and what each is integrated with; a stack's
/// resources and events.
public enum ResourceViews {
    public struct RouteView: Encodable, Sendable, Equatable {
        public var route: String
        public var integration: String
        public var authorization: String
    }

    public struct APIView: Encodable, Sendable, Equatable {
        public var id: String
        public var name: String
        /// HTTP, WEBSOCKET or REST.
        public var kind: String
        public var stages: [String]
        public var routes: [RouteView]
        public var traffic: TrafficTotals
        /// Per minute over the last half hour, oldest first.
        public var minutes: [TrafficMinute]
    }

    public struct TrafficMinute: Encodable, Sendable, Equatable {
        /// The minute's start, in milliseconds since 1970.
        public var time: Int64
        public var requests: Int
        public var clientErrors: Int
        public var serverErrors: Int
        public var p50: Double?
        public var p99: Double?
    }

    public struct TrafficTotals: Encodable, Sendable, Equatable {
        public var requests: Int
        public var clientErrors: Int
        public var serverErrors: Int
        /// Requests per minute, averaged over the window.
        public var perMinute: Double
        public var p50: Double?
        public var p99: Double?
    }

    /// Every minute of the window (empty ones included), and their totals.
    public static func traffic(_ minutes: [APITrafficWindow.Minute], now: Date) -> (TrafficTotals, [TrafficMinute]) {
        let current = Int64((now.timeIntervalSince1970 / 60).rounded(.down))
        let byMinute = Dictionary(minutes.map { ($0.minute, $0) }) { _, last in last }
        var all: [Double] = []
        let shown = ((current - APITrafficWindow.minutes + 1)...current).map { minute -> TrafficMinute in
            guard let figures = byMinute[minute] else {
                return TrafficMinute(time: minute * 60_000, requests: 0, clientErrors: 0, serverErrors: 0)
            }
            let sorted = figures.latencies.sorted()
            all += sorted
            return TrafficMinute(
                time: minute * 60_000, requests: figures.requests, clientErrors: figures.clientErrors, serverErrors: figures.serverErrors,
                p50: sorted.isEmpty ? nil : FunctionViews.percentile(sorted, 0.5), p99: sorted.isEmpty ? nil : FunctionViews.percentile(sorted, 0.99))
        }
        all.sort()
        let requests = shown.reduce(0) { $0 + $1.requests }
        let totals = TrafficTotals(
            requests: requests, clientErrors: shown.reduce(0) { $0 + $1.clientErrors }, serverErrors: shown.reduce(0) { $0 + $1.serverErrors },
            perMinute: Double(requests) / Double(APITrafficWindow.minutes), p50: all.isEmpty ? nil : FunctionViews.percentile(all, 0.5),
            p99: all.isEmpty ? nil : FunctionViews.percentile(all, 0.99))
        return (totals, shown)
    }

    public struct StackSummary: Encodable, Sendable, Equatable {
        /// The stack's id (its ARN).
        public var id: String
        public var name: String
        public var status: String
        public var statusReason: String?
        public var createdAt: Date
        public var updatedAt: Date?
        public var resources: Int
    }

    public struct ResourceView: Encodable, Sendable, Equatable {
        public var logicalId: String
        public var type: String
        public var physicalId: String?
        public var status: String
        public var statusReason: String?
    }

    public struct EventView: Encodable, Sendable, Equatable {
        public var time: Date
        public var logicalId: String
        public var type: String
        public var status: String
        public var reason: String?
    }

    public struct StackPage: Encodable, Sendable {
        public var summary: StackSummary
        public var outputs: [String: String]
        public var resources: [ResourceView]
        public var events: [EventView]
    }

    public static func apis(_ gateway: GatewayState, traffic: (String) -> [APITrafficWindow.Minute] = { _ in [] }, now: Date) -> [APIView] {
        var views: [APIView] = []
        for record in gateway.apis.values {
            let routes = record.routes.values.map { route in
                let integrationId = route.target.map { $0.hasPrefix("integrations/") ? String($0.dropFirst("integrations/".count)) : $0 }
                let integration = integrationId.flatMap { record.integrations[$0] }
                return RouteView(
                    route: route.routeKey,
                    integration: integration.map { "\($0.integrationType?.rawValue ?? "") \($0.integrationUri ?? "")".trimmingCharacters(in: .whitespaces) } ?? "",
                    authorization: route.authorizationType?.rawValue ?? "NONE")
            }.sorted { $0.route < $1.route }
            let id = record.api.apiId ?? ""
            let (totals, minutes) = Self.traffic(traffic(id), now: now)
            views.append(
                APIView(
                    id: id, name: record.api.name, kind: record.api.protocolType.rawValue, stages: record.stages.keys.sorted(), routes: routes,
                    traffic: totals, minutes: minutes))
        }
        for record in gateway.restApis.values {
            var routes: [RouteView] = []
            for resource in record.resources.values {
                for (method, details) in resource.resourceMethods ?? [:] {
                    let integration = details.methodIntegration
                    routes.append(
                        RouteView(
                            route: "\(method) \(resource.path ?? "")",
                            integration: "\(integration?.type?.rawValue ?? "") \(integration?.uri ?? "")".trimmingCharacters(in: .whitespaces),
                            authorization: details.authorizationType ?? "NONE"))
                }
            }
            let (totals, minutes) = Self.traffic(traffic(record.id), now: now)
            views.append(
                APIView(
                    id: record.id, name: record.api.name ?? "", kind: "REST", stages: record.stages.keys.sorted(), routes: routes.sorted { $0.route < $1.route },
                    traffic: totals, minutes: minutes))
        }
        return views.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
    }

    public static func stacks(_ cloudFormation: CloudFormationState) -> [StackSummary] {
        cloudFormation.stacks.values.filter { $0.status != "DELETE_COMPLETE" }.map(summary).sorted { $0.name < $1.name }
    }

    static func summary(_ stack: StackRecord) -> StackSummary {
        StackSummary(
            id: stack.stackId, name: stack.stackName, status: stack.status, statusReason: stack.statusReason, createdAt: stack.creationTime,
            updatedAt: stack.lastUpdatedTime, resources: stack.resources.count)
    }

    public static func stack(_ name: String, in cloudFormation: CloudFormationState) -> StackPage? {
        guard let stack = cloudFormation.stacks.values.first(where: { $0.stackName == name && $0.status != "DELETE_COMPLETE" }) else { return nil }
        let resources = stack.resources.values.map { resource in
            ResourceView(
                logicalId: resource.logicalId, type: resource.type, physicalId: resource.physicalId, status: resource.status,
                statusReason: resource.statusReason)
        }.sorted { $0.logicalId < $1.logicalId }
        let events = stack.events.sorted { $0.timestamp > $1.timestamp }.prefix(100).map { event in
            EventView(time: event.timestamp, logicalId: event.logicalId, type: event.type, status: event.status, reason: event.reason)
        }
        var outputs: [String: String] = [:]
        for output in stack.outputs { outputs[output.key] = output.value }
        return StackPage(summary: summary(stack), outputs: outputs, resources: resources, events: Array(events))
    }
}
