@testable import CloudFormation
import Foundation
import StevedoreCore
import Testing

/// The deployer's decisions, driven by hand: which steps start when, what their outcomes do,
/// and how failures roll back, with no service behind them.
struct StackDeploymentTests {
    var state = CloudFormationState(names: ResourceNames())
    var random = Xoshiro256(seed: 7)
    var changes = ChangeSet()
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    static let chain = """
        Resources:
          Role:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument: {}
          Queue:
            Type: AWS::SQS::Queue
          Function:
            Type: AWS::Lambda::Function
            Properties:
              Role: !GetAtt Role.Arn
              Environment: {Variables: {QUEUE: !Ref Queue}}
        Outputs:
          Function:
            Value: !GetAtt Function.Arn
            Export: {Name: fn-arn}
        """

    func request(_ text: String, name: String = "app") throws -> StackRequest {
        StackRequest(stackName: name, originalTemplate: text, template: try StackTemplate.parse(text), parameters: [], tags: nil, capabilities: ["CAPABILITY_IAM"])
    }

    mutating func start() -> [StartedStep] {
        state.startSteps(now: now, using: &random, changes: &changes)
    }

    mutating func finish(_ step: StartedStep, _ outcome: StepOutcome) {
        state.finishStep(stackId: step.stackId, key: step.key, outcome: outcome, now: now, using: &random, changes: &changes)
    }

    mutating func succeed(_ step: StartedStep) {
        finish(step, .succeeded(physicalId: step.step.physicalId, values: ResourceValues(ref: step.step.physicalId, attributes: ["Arn": "arn:" + step.step.logicalId])))
    }

    func stack(_ id: String) -> StackRecord { state.stacks[id]! }

    @Test mutating func createsInDependencyOrderThenCompletes() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        let first = start()
        #expect(Set(first.map(\.step.logicalId)) == ["Role", "Queue"], "independent resources start together")
        #expect(first.allSatisfy { $0.step.action == .create })
        #expect(start().isEmpty, "nothing more until they finish")
        succeed(first[0])
        #expect(start().isEmpty, "the function waits for both")
        succeed(first[1])
        let second = start()
        #expect(second.map(\.step.logicalId) == ["Function"])
        #expect(second[0].step.properties["Role"]?.string == "arn:Role")
        #expect(second[0].step.physicalId.hasPrefix("app-Function-"))
        succeed(second[0])
        #expect(start().isEmpty)
        #expect(stack(id).status == "CREATE_COMPLETE")
        #expect(stack(id).outputs == [StackOutput(key: "Function", value: "arn:Function", description: nil, exportName: "fn-arn")])
        #expect(stack(id).events.first?.status == "REVIEW_IN_PROGRESS" || stack(id).events.first?.status == "CREATE_IN_PROGRESS")
        #expect(stack(id).events.last?.status == "CREATE_COMPLETE")
        #expect(state.exports["fn-arn"]?.value == "arn:Function")
        #expect(throws: AWSError(type: "AlreadyExistsException", message: "Stack [app] already exists")) {
            try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func aFailureRollsBackWhatWasMadeInReverseOrder() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        for step in start() { succeed(step) }
        let function = start()
        finish(function[0], .failed("Resource handler returned message: \"no\""))
        let deletions = start()
        #expect(stack(id).status == "ROLLBACK_IN_PROGRESS")
        #expect(stack(id).statusReason == "The following resource(s) failed to create: [Function]. Rollback requested by user.")
        #expect(Set(deletions.map(\.step.logicalId)) == ["Role", "Queue"], "the failed function had nothing to delete")
        #expect(deletions.allSatisfy { $0.step.action == .delete })
        for step in deletions { succeed(step) }
        #expect(start().isEmpty)
        #expect(stack(id).status == "ROLLBACK_COMPLETE")
        #expect(stack(id).resources.values.allSatisfy { $0.status == "DELETE_COMPLETE" })
        #expect(stack(id).outputs.isEmpty)
    }

    @Test mutating func deletionWaitsForDependents() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        for step in start() { succeed(step) }
        for step in start() { succeed(step) }
        _ = start()
        try state.deleteStack("app", retain: [], now: now, using: &random, changes: &changes)
        let first = start()
        #expect(first.map(\.step.logicalId) == ["Function"])
        succeed(first[0])
        let rest = start()
        #expect(Set(rest.map(\.step.logicalId)) == ["Role", "Queue"])
        for step in rest { succeed(step) }
        _ = start()
        #expect(stack(id).status == "DELETE_COMPLETE")
        #expect(state.stack("app") == nil, "a deleted stack is found by id only")
        #expect(state.stack(id)?.isDeleted == true)
        #expect(state.exports.isEmpty)
    }

    @Test mutating func anUpdateReplacesWhereItMustAndCleansUp() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        for step in start() { succeed(step) }
        for step in start() { succeed(step) }
        _ = start()
        let oldQueue = stack(id).resources["Queue"]?.physicalId
        let changed = Self.chain.replacingOccurrences(of: "    Type: AWS::SQS::Queue\n", with: "    Type: AWS::SQS::Queue\n    Properties:\n      FifoQueue: true\n")
        _ = try state.updateStack(try request(changed), now: now, using: &random, changes: &changes)
        let replace = start()
        #expect(replace.map(\.step.logicalId) == ["Queue"])
        #expect(replace[0].step.action == .create, "FifoQueue cannot change in place")
        succeed(replace[0])
        let dependent = start()
        #expect(dependent.map(\.step.logicalId) == ["Function"], "the function sees the new queue's URL")
        #expect(dependent[0].step.action == .update)
        succeed(dependent[0])
        let cleanup = start()
        #expect(stack(id).status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        #expect(cleanup.map(\.step.physicalId) == [oldQueue!])
        succeed(cleanup[0])
        _ = start()
        #expect(stack(id).status == "UPDATE_COMPLETE")
        #expect(throws: AWSError.cfnValidation("No updates are to be performed.")) {
            try state.updateStack(try request(changed), now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func aFailedUpdateRollsBack() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        for step in start() { succeed(step) }
        for step in start() { succeed(step) }
        _ = start()
        let before = stack(id).resources
        let changed = Self.chain.replacingOccurrences(of: "QUEUE: !Ref Queue", with: "QUEUE: !Ref Queue, MORE: x") + """

              Topic:
                Type: AWS::SNS::Topic
            """.replacingOccurrences(of: "      Topic", with: "  Topic").replacingOccurrences(of: "        Type", with: "    Type")
        _ = try state.updateStack(try request(changed.replacingOccurrences(of: "Outputs:\n  Function:\n    Value: !GetAtt Function.Arn\n    Export: {Name: fn-arn}\n", with: "") + "\nOutputs:\n  F:\n    Value: x\n"), now: now, using: &random, changes: &changes)
        let steps = start()
        #expect(Set(steps.map(\.step.logicalId)) == ["Function", "Topic"])
        for step in steps {
            if step.step.logicalId == "Function" { finish(step, .failed("bad")) } else { succeed(step) }
        }
        let undo = start()
        #expect(stack(id).status == "UPDATE_ROLLBACK_IN_PROGRESS")
        #expect(undo.map(\.step.logicalId) == ["Function"], "the function is changed back")
        #expect(undo[0].step.properties["Environment"]?["Variables"]?["MORE"] == nil)
        succeed(undo[0])
        let cleanup = start()
        #expect(cleanup.map(\.step.logicalId) == ["Topic"], "what the update made goes")
        succeed(cleanup[0])
        _ = start()
        #expect(stack(id).status == "UPDATE_ROLLBACK_COMPLETE")
        #expect(Set(stack(id).resources.keys) == Set(before.keys))
        #expect(stack(id).outputs.first?.key == "Function")
    }

    @Test mutating func aRestartFailsCutOffCreatesAndRollsBack() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        let first = start()
        succeed(first.first { $0.step.logicalId == "Queue" }!)
        // ecsd stops while the role is being created.
        state.interruptSteps(now: now, using: &random, changes: &changes)
        let deletions = start()
        #expect(stack(id).status == "ROLLBACK_IN_PROGRESS")
        #expect(Set(deletions.map(\.step.logicalId)) == ["Queue", "Role"], "the role's chosen name is deleted in case it was made")
        for step in deletions { succeed(step) }
        _ = start()
        #expect(stack(id).status == "ROLLBACK_COMPLETE")
    }

    @Test mutating func changeSetsDescribeAndApplyAChange() throws {
        let (changeSetId, stackId) = try state.createChangeSet(
            .init(stack: try request(Self.chain), changeSetName: "one", changeSetType: "CREATE", description: nil), now: now, using: &random, changes: &changes)
        #expect(stack(stackId).status == "REVIEW_IN_PROGRESS")
        let (_, record) = try state.changeSet(changeSetId, stackName: nil)
        #expect(record.status == "CREATE_COMPLETE")
        #expect(Set(record.changes.map(\.logicalId)) == ["Role", "Queue", "Function"])
        #expect(record.changes.allSatisfy { $0.action == "Add" })
        try state.executeChangeSet("one", stackName: "app", disableRollback: false, now: now, using: &random, changes: &changes)
        #expect(stack(stackId).status == "CREATE_IN_PROGRESS")
        #expect(stack(stackId).changeSets.isEmpty)
        #expect(throws: AWSError.changeSetNotFound("one")) { try state.changeSet("one", stackName: "app") }
        for _ in 0..<3 { for step in start() { succeed(step) } }
        _ = start()
        #expect(stack(stackId).status == "CREATE_COMPLETE")
        let (unchanged, _) = try state.createChangeSet(
            .init(stack: try request(Self.chain), changeSetName: "two", changeSetType: "UPDATE", description: nil), now: now, using: &random, changes: &changes)
        let (_, same) = try state.changeSet(unchanged, stackName: nil)
        #expect(same.status == "FAILED")
        #expect(same.statusReason == "The submitted information didn't contain changes. Submit different information to create a change set.")
        #expect(throws: AWSError(type: "InvalidChangeSetStatus", message: "ChangeSet [\(unchanged)] cannot be executed in its current status of [FAILED]")) {
            try state.executeChangeSet(unchanged, stackName: nil, disableRollback: false, now: now, using: &random, changes: &changes)
        }
    }

    @Test mutating func aFailedDeleteIsTriedAgainAndRetainsWhatItIsTold() throws {
        let id = try state.createStack(try request(Self.chain), now: now, using: &random, changes: &changes)
        for _ in 0..<3 { for step in start() { succeed(step) } }
        _ = start()
        try state.deleteStack("app", retain: [], now: now, using: &random, changes: &changes)
        let function = start()
        finish(function[0], .failed("in use"))
        _ = start()
        #expect(stack(id).status == "DELETE_FAILED")
        try state.deleteStack("app", retain: [], now: now, using: &random, changes: &changes)
        let again = start()
        #expect(again.map(\.step.logicalId) == ["Function"], "the resource that failed to go is tried again")
        finish(again[0], .failed("still in use"))
        _ = start()
        try state.deleteStack(id, retain: ["Function"], now: now, using: &random, changes: &changes)
        let rest = start()
        #expect(Set(rest.map(\.step.logicalId)) == ["Role", "Queue"], "a retained resource is skipped")
        for step in rest { succeed(step) }
        _ = start()
        #expect(stack(id).status == "DELETE_COMPLETE")
        #expect(stack(id).resources["Function"]?.status == "DELETE_SKIPPED")
    }

    @Test mutating func aFailedParameterOnlyUpdateRestoresTheParameters() throws {
        let text = "Parameters:\n  Delay:\n    Type: Number\n    Default: 1\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      DelaySeconds: !Ref Delay\n"
        let id = try state.createStack(try request(text), now: now, using: &random, changes: &changes)
        for step in start() { succeed(step) }
        _ = start()
        var update = try request(text)
        update.parameters = [ParameterInput(key: "Delay", value: "5")]
        _ = try state.updateStack(update, now: now, using: &random, changes: &changes)
        let step = start()
        #expect(step.first?.step.properties["DelaySeconds"]?.string == "5")
        finish(step[0], .failed("no"))
        let undo = start()
        #expect(undo.first?.step.properties["DelaySeconds"]?.string == "1", "changed back to the previous value")
        succeed(undo[0])
        _ = start()
        #expect(stack(id).status == "UPDATE_ROLLBACK_COMPLETE")
        #expect(stack(id).parameters == [StackParameter(key: "Delay", value: "1")])
    }

    @Test mutating func aReplacementThatKeepsItsIdIsNotCleanedUp() throws {
        let text = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      FifoQueue: false\n"
        let id = try state.createStack(try request(text), now: now, using: &random, changes: &changes)
        let create = start()
        finish(create[0], .succeeded(physicalId: "same", values: ResourceValues(ref: "same")))
        _ = start()
        _ = try state.updateStack(try request(text.replacingOccurrences(of: "false", with: "true")), now: now, using: &random, changes: &changes)
        let replace = start()
        #expect(replace.first?.step.action == .create)
        finish(replace[0], .succeeded(physicalId: "same", values: ResourceValues(ref: "same")))
        #expect(start().isEmpty, "nothing to delete: the service answered with the live resource")
        #expect(stack(id).status == "UPDATE_COMPLETE")
    }

    @Test mutating func capabilitiesAreRequired() throws {
        var request = try request(Self.chain)
        request.capabilities = []
        #expect(throws: AWSError(type: "InsufficientCapabilitiesException", message: "Requires capabilities : [CAPABILITY_IAM]")) {
            try state.createStack(request, now: now, using: &random, changes: &changes)
        }
    }

    @Test func missingStacksAreRefusedInSamsExpectedWords() {
        #expect(throws: AWSError.cfnValidation("Stack with id nothing does not exist")) { try state.existingStack("nothing") }
    }
}
