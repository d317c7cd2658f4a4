import AgentProtocol
@testable import ECS
import ECSShapes
import Foundation
import StevedoreCore
import StevedoreTestSupport
import Testing

/// ExecuteCommand's checks: where a command runs, and ECS's refusals.
struct ExecuteCommandTests {
    func runningTask(enabled: Bool) throws -> (SchedulerFixture, String) {
        var fixture = SchedulerFixture()
        try fixture.addInstance()
        try fixture.register()
        let arn = try fixture.apply {
            try $0.runTask(RunTaskRequest(cluster: "c", enableExecuteCommand: enabled, taskDefinition: "web"), now: $1, using: &$2, changes: &$3)
        }.tasks![0].taskArn!
        return (fixture, arn)
    }

    func request(_ task: String, command: String = "sh -c 'echo \"a b\"'", container: String? = nil, interactive: Bool = true) -> ExecuteCommandRequest {
        ExecuteCommandRequest(cluster: "c", container: container, command: command, interactive: interactive, task: task)
    }

    @Test func aRunningTaskWithExecuteCommandIsATarget() throws {
        var (fixture, arn) = try runningTask(enabled: true)
        #expect(throws: AWSError.invalidParameter("The execute command failed because the task is PENDING; it must be RUNNING.")) {
            try fixture.ecs.execTarget(request(arn))
        }
        try fixture.agentsReport()
        // ECS Exec's agent shows as running with the container.
        #expect(fixture.ecs.tasks[arn]!.task.containers![0].managedAgents == [
            ManagedAgent(lastStartedAt: fixture.now, name: .executeCommandAgent, lastStatus: "RUNNING")
        ])
        let target = try fixture.ecs.execTarget(request(ARN(arn)!.resourceId.split(separator: "/").last.map(String.init)!))
        #expect(target.taskArn == arn && target.containerName == "app" && target.instanceArn == fixture.live[0].task.containerInstanceArn)
        #expect(target.command == ["sh", "-c", "echo \"a b\""])
        #expect(throws: AWSError.invalidParameter("The container 'db' was not found in the task (its containers: app).")) {
            try fixture.ecs.execTarget(request(arn, container: "db"))
        }
        #expect(throws: AWSError.invalidParameter("Interactive is the only mode supported currently.")) {
            try fixture.ecs.execTarget(request(arn, interactive: false))
        }
        #expect(throws: AWSError.invalidParameter("The command 'sh -c 'oops' is empty or has an unclosed quote.")) {
            try fixture.ecs.execTarget(request(arn, command: "sh -c 'oops"))
        }
    }

    @Test func aTaskStartedWithoutExecuteCommandIsNotConnected() throws {
        var (fixture, arn) = try runningTask(enabled: false)
        try fixture.agentsReport()
        #expect(throws: AWSError(
            type: "TargetNotConnectedException",
            message:
                "The execute command failed because execute command was not enabled when the task was run or the execute command agent isn’t running. Wait and try the request again."
        )) { try fixture.ecs.execTarget(request(arn)) }
        #expect(throws: AWSError.invalidParameter("The referenced task was not found: 'nope' in cluster c.")) {
            try fixture.ecs.execTarget(request("nope"))
        }
    }

    @Test(arguments: [
        ["sh"], ["echo", "it's", "two  spaces"], ["printf", "%s\\n", "a\"b", ""], ["a b", "$HOME", "back\\slash"],
    ])
    func commandWordsComeBackAsQuoted(_ words: [String]) {
        #expect(CommandLineWords.split(words.map(CommandLineWords.quoted).joined(separator: " ")) == words)
    }

    @Test func commandWordsSplitAsAShellDoes() {
        #expect(CommandLineWords.split(#"  ls  -l "/my dir" it\'s 'a"b' "#) == ["ls", "-l", "/my dir", "it's", "a\"b"])
        #expect(CommandLineWords.split("echo 'open") == nil)
        #expect(CommandLineWords.split("   ") == [])
    }

    @Test func framesSurviveArrivingInPieces() throws {
        let frames = [ExecFrame(.stdout, Array("hello".utf8)), ExecFrame(.exit, text: "3"), ExecFrame(.endOfInput)]
        let bytes = ExecFrame.encode(frames)
        var decoder = ExecFrameDecoder()
        var decoded: [ExecFrame] = []
        for byte in bytes { decoded += try decoder.frames([byte]) }
        #expect(decoded == frames && decoder.pending == 0)
        var broken = ExecFrameDecoder()
        #expect(throws: ExecFrameError(kind: 9)) { try broken.frames([9, 0, 0, 0, 0]) }
    }
}
