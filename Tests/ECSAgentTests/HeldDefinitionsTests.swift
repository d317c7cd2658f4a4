import AgentProtocol
import ECSShapes
import Testing

/// The definitions an agent keeps so the control plane can leave them out of later assignments.
struct HeldDefinitionsTests {
    static func definition(_ family: String, _ revision: Int) -> TaskDefinition {
        var definition = TaskDefinition(containerDefinitions: [ContainerDefinition(name: "a", image: "busybox")], family: family, revision: revision)
        definition.taskDefinitionArn = "arn:aws:ecs:us-east-1:000000000000:task-definition/\(family):\(revision)"
        return definition
    }

    static func assignment(_ family: String, _ revision: Int, carrying: Bool, desired: DesiredTaskStatus = .running, function: Bool = false)
        -> AgentAssignment
    {
        var task = ECSTask()
        task.taskArn = "arn:aws:ecs:us-east-1:000000000000:task/c/\(family)\(revision)"
        task.taskDefinitionArn = "arn:aws:ecs:us-east-1:000000000000:task-definition/\(family):\(revision)"
        task.desiredTaskStatus = desired
        return AgentAssignment(
            sequence: 1, task: task, taskDefinition: carrying ? definition(family, revision) : nil,
            function: function ? environment : nil)
    }

    static let environment = FunctionEnvironmentSpec(
        functionName: "f", version: "$LATEST", revisionId: "r", kind: .python, runtime: "python3.12", handler: "app.handler",
        image: "stevedore/python", entryPoint: nil, command: nil, workingDirectory: nil, memory: 128, timeout: 3, ephemeralStorage: 512,
        environment: [:], codeHash: nil, layerHashes: [])

    @Test func aCarriedDefinitionIsKeptAndFillsInLaterAssignmentsThatLeaveItOut() {
        var held = HeldDefinitions()
        #expect(held.names.isEmpty)
        _ = held.complete([Self.assignment("web", 1, carrying: true)])
        #expect(held.names == ["web:1"])
        let later = held.complete([Self.assignment("web", 1, carrying: false), Self.assignment("web", 2, carrying: false)])
        #expect(later[0].taskDefinition == Self.definition("web", 1))
        #expect(later[1].taskDefinition == nil, "a revision never received is not made up")
    }

    @Test func stopsAndFunctionEnvironmentsGetNoDefinition() {
        var held = HeldDefinitions()
        _ = held.complete([Self.assignment("web", 1, carrying: true)])
        let stop = held.complete([Self.assignment("web", 1, carrying: false, desired: .stopped)])
        #expect(stop[0].taskDefinition == nil)
        let environment = held.complete([Self.assignment("web", 1, carrying: false, function: true)])
        #expect(environment[0].taskDefinition == nil)
    }

    @Test func theLeastRecentlyUsedGoesBeyondCapacityAndRemoveAllForgetsEverything() {
        var held = HeldDefinitions()
        _ = held.complete((0...HeldDefinitions.capacity).map { Self.assignment("f\($0)", 1, carrying: true) })
        #expect(held.names.count == HeldDefinitions.capacity)
        #expect(!held.names.contains("f0:1"))
        // Using f1 makes f2 the oldest.
        _ = held.complete([Self.assignment("f1", 1, carrying: false)])
        _ = held.complete([Self.assignment("new", 1, carrying: true)])
        #expect(held.names.contains("f1:1"))
        #expect(!held.names.contains("f2:1"))
        #expect(held.names.last == "new:1")
        held.removeAll()
        #expect(held.names.isEmpty)
        #expect(held.complete([Self.assignment("new", 1, carrying: false)])[0].taskDefinition == nil)
    }

    @Test func aPollNamesDefinitionsByFamilyAndRevision() {
        #expect(HeldDefinitions.name(ofArn: "arn:aws:ecs:us-east-1:000000000000:task-definition/web:12") == "web:12")
    }
}

extension HeldDefinitionsTests {
    @Test func aDefinitionArrivingInAnAnswerDoesNotPushOutOneALaterAssignmentOfItNeeds() {
        var held = HeldDefinitions()
        _ = held.complete((0..<HeldDefinitions.capacity).map { Self.assignment("f\($0)", 1, carrying: true) })
        // f0 is the oldest: a new definition first, then a task of f0 the control plane left out.
        let answer = held.complete([Self.assignment("new", 1, carrying: true), Self.assignment("f0", 1, carrying: false)])
        #expect(answer[1].taskDefinition == Self.definition("f0", 1))
        #expect(held.names.count == HeldDefinitions.capacity)
    }
}
