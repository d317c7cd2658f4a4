import AWSProtocols
import Capacity
import ControlPlane
import ECS
import Foundation
import Logging
import StevedoreCore
import Testing

/// Reads that name the record kinds they depend on (see ECSAPI) stay cached while other kinds
/// change. A kind left out serves stale answers; this catches it: a script of every kind of ECS
/// write runs against a real committer, and after each write every such read is answered by a
/// dispatcher with a read cache (warm from the step before) and by one without. They must agree.
struct ReadDependencyTests {
    static let prefix = "AmazonEC2ContainerServiceV20141113."

    /// The reads compared after each write: those that name their kinds, in the spellings that
    /// matter, and a few that depend on everything (as a check on the check).
    static let reads: [(String, String)] = [
        ("ListClusters", "{}"),
        ("ListClusters", #"{"maxResults":1}"#),
        ("DescribeTaskDefinition", #"{"taskDefinition":"web"}"#),
        ("DescribeTaskDefinition", #"{"taskDefinition":"web:1","include":["TAGS"]}"#),
        ("ListTaskDefinitions", "{}"),
        ("ListTaskDefinitions", #"{"status":"INACTIVE"}"#),
        ("ListTaskDefinitionFamilies", "{}"),
        ("ListTaskDefinitionFamilies", #"{"status":"ALL"}"#),
        ("ListContainerInstances", #"{"cluster":"c1"}"#),
        ("ListContainerInstances", #"{"cluster":"c1","status":"DRAINING"}"#),
        ("ListContainerInstances", #"{"cluster":"c1","filter":"runningTasksCount > 0"}"#),
        ("ListAttributes", #"{"cluster":"c1","targetType":"container-instance"}"#),
        ("ListAttributes", #"{"cluster":"c1","targetType":"container-instance","attributeName":"stack"}"#),
        ("ListServices", #"{"cluster":"c1"}"#),
        ("ListServices", #"{"cluster":"c2"}"#),
        ("ListServices", #"{"cluster":"c1","launchType":"EC2"}"#),
        ("ListServices", #"{"cluster":"c1","schedulingStrategy":"REPLICA"}"#),
        ("ListContainerInstances", #"{"cluster":"c1","status":"INACTIVE"}"#),
        ("DescribeClusters", #"{"clusters":["c1","c2"]}"#),
        ("DescribeServices", #"{"cluster":"c1","services":["svc"]}"#),
        ("ListTasks", #"{"cluster":"c1"}"#),
    ]

    @Test func cachedReadsAgreeWithComputedOnesAfterEveryKindOfWrite() async throws {
        let directory = NSTemporaryDirectory() + "stevedore-reads-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let controlPlane = try await ControlPlane(configuration: ControlPlaneConfiguration(port: 0, dataDirectory: directory), logger: logger)
        let committer = controlPlane.committer
        var cached = AWSJSONDispatcher(readCache: ReadCache(version: committer.version))
        var computed = AWSJSONDispatcher()
        cached.add(ECSAPI.operations(committer: committer, pollEndpoint: "http://127.0.0.1:1"))
        computed.add(ECSAPI.operations(committer: committer, pollEndpoint: "http://127.0.0.1:1"))
        cached.add(CapacityAPI.operations(committer: committer))
        let script = Script(dispatcher: cached) {
            // What the scheduler loop does every pass: start and stop services' tasks.
            try await committer.write { root, m throws(AWSError) in
                root.ecs.reconcileServices(now: m.now, using: &m.random, changes: &m.changes)
            }
        }

        var compared = 0
        func compareReads(after step: String) async throws {
            for (operation, body) in Self.reads {
                let fromCache = await script.call(operation, body)
                let fresh = await Self.call(computed, operation, body)
                #expect(
                    String(decoding: fromCache.body, as: UTF8.self) == String(decoding: fresh.body, as: UTF8.self),
                    "\(operation) \(body) after \(step)")
                compared += 1
            }
        }

        try await compareReads(after: "nothing")
        for step in Script.steps {
            try await script.run(step)
            try await compareReads(after: step.name)
        }
        #expect(compared == Self.reads.count * (Script.steps.count + 1))
    }

    static func call(_ dispatcher: AWSJSONDispatcher, _ operation: String, _ body: String) async -> APIResponse {
        await dispatcher.handle(
            target: prefix + operation, body: Array(body.utf8), context: OperationContext(requestId: "r", bodySize: body.utf8.count))
    }
}

/// The writes, in an order where each has something to act on; ARNs learned on the way.
final class Script: @unchecked Sendable {
    struct Step: Sendable {
        var name: String
        /// The request's body; nil: a pass of the service scheduler instead of a request.
        var body: (@Sendable (Script) -> String)?
    }

    let dispatcher: AWSJSONDispatcher
    let schedulerPass: @Sendable () async throws -> Void
    var instanceArn = ""
    var taskArns: [String] = []
    /// The tasks of service `svc`, as the last step left them.
    var serviceTaskArns: [String] = []

    init(dispatcher: AWSJSONDispatcher, schedulerPass: @escaping @Sendable () async throws -> Void) {
        self.dispatcher = dispatcher
        self.schedulerPass = schedulerPass
    }

    func call(_ operation: String, _ body: String) async -> APIResponse {
        await ReadDependencyTests.call(dispatcher, operation, body)
    }

    func run(_ step: Step) async throws {
        let listed = await call("ListTasks", #"{"cluster":"c1","serviceName":"svc"}"#)
        serviceTaskArns = (try JSONSerialization.jsonObject(with: Data(listed.body)) as? [String: Any])?["taskArns"] as? [String] ?? []
        guard let body = step.body else { return try await schedulerPass() }
        let operation = String(step.name.split(separator: " ")[0])
        let response = await call(operation, body(self))
        #expect(response.status == 200, "\(step.name): \(String(decoding: response.body, as: UTF8.self))")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] ?? [:]
        if let instance = json["containerInstance"] as? [String: Any], let arn = instance["containerInstanceArn"] as? String {
            instanceArn = arn
        }
        if let tasks = json["tasks"] as? [[String: Any]] {
            taskArns += tasks.compactMap { $0["taskArn"] as? String }
        }
    }

    static let definition = #"{"family":"web","containerDefinitions":[{"name":"app","image":"busybox","memory":64}],"tags":[{"key":"team","value":"a"}]}"#

    static let steps: [Step] = [
        Step(name: "CreateCluster c1") { _ in #"{"clusterName":"c1"}"# },
        Step(name: "CreateCluster c2") { _ in #"{"clusterName":"c2"}"# },
        Step(name: "RegisterTaskDefinition") { _ in definition },
        Step(name: "RegisterTaskDefinition again") { _ in definition },
        Step(name: "RegisterContainerInstance") { _ in
            #"{"cluster":"c1","instanceIdentityDocument":"{\"instanceId\":\"i-1\"}","totalResources":[{"name":"CPU","type":"INTEGER","integerValue":4096},{"name":"MEMORY","type":"INTEGER","integerValue":8192}]}"#
        },
        Step(name: "PutAttributes") { s in
            #"{"cluster":"c1","attributes":[{"name":"stack","value":"prod","targetType":"container-instance","targetId":"\#(s.instanceArn)"}]}"#
        },
        Step(name: "RunTask") { _ in #"{"cluster":"c1","taskDefinition":"web","count":2}"# },
        Step(name: "SubmitTaskStateChange") { s in #"{"cluster":"c1","task":"\#(s.taskArns[0])","status":"RUNNING"}"# },
        Step(name: "CreateService") { _ in #"{"cluster":"c1","serviceName":"svc","taskDefinition":"web","desiredCount":1}"# },
        Step(name: "scheduler pass", body: nil),
        Step(name: "UpdateService") { _ in #"{"cluster":"c1","service":"svc","desiredCount":2}"# },
        Step(name: "scheduler pass again", body: nil),
        Step(name: "SubmitTaskStateChange of a service's task") { s in
            #"{"cluster":"c1","task":"\#(s.serviceTaskArns.first ?? "none")","status":"RUNNING"}"#
        },
        Step(name: "TagResource task definition") { _ in
            #"{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:task-definition/web:1","tags":[{"key":"team","value":"b"}]}"#
        },
        Step(name: "TagResource cluster") { _ in #"{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:cluster/c1","tags":[{"key":"k","value":"v"}]}"# },
        Step(name: "StopTask") { s in #"{"cluster":"c1","task":"\#(s.taskArns[1])"}"# },
        Step(name: "UpdateContainerInstancesState") { s in #"{"cluster":"c1","containerInstances":["\#(s.instanceArn)"],"status":"DRAINING"}"# },
        Step(name: "DeleteAttributes") { s in #"{"cluster":"c1","attributes":[{"name":"stack","targetId":"\#(s.instanceArn)"}]}"# },
        Step(name: "DeregisterTaskDefinition") { _ in #"{"taskDefinition":"web:1"}"# },
        Step(name: "UntagResource") { _ in #"{"resourceArn":"arn:aws:ecs:us-east-1:000000000000:task-definition/web:1","tagKeys":["team"]}"# },
        Step(name: "DeleteTaskDefinitions") { _ in #"{"taskDefinitions":["web:1"]}"# },
        Step(name: "UpdateService to zero") { _ in #"{"cluster":"c1","service":"svc","desiredCount":0}"# },
        Step(name: "scheduler pass stopping", body: nil),
        Step(name: "DeleteService") { _ in #"{"cluster":"c1","service":"svc","force":true}"# },
        Step(name: "DeregisterContainerInstance") { s in #"{"cluster":"c1","containerInstance":"\#(s.instanceArn)","force":true}"# },
        Step(name: "DeleteCluster c2") { _ in #"{"cluster":"c2"}"# },
        Step(name: "PutClusterCapacityProviders") { _ in #"{"cluster":"c1","capacityProviders":[],"defaultCapacityProviderStrategy":[]}"# },
    ]
}
