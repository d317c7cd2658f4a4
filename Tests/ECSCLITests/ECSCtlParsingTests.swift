import ArgumentParser
@testable import ECSCLI
import ECSShapes
import StevedoreTestSupport
import Testing

/// ecsctl's command line: nouns and verbs parse into the requests they send, and mistakes are
/// refused before anything is sent, with a message that says what to type instead.
struct ECSCtlParsingTests {
    @Test func taskRunParsesItsOptions() throws {
        let command = try ECSCtl.parseAsRoot([
            "task", "run", "web:3", "--cluster", "prod", "--count", "2", "--env", "A=1", "--env", "B=x=y",
            "--strategy", "spread:attribute:ecs.availability-zone", "--strategy", "binpack:memory", "--constraint", "distinctInstance",
            "--output", "json",
        ])
        let run = try #require(command as? TaskCommand.Run)
        #expect(run.taskDefinition == "web:3")
        #expect(run.cluster.name == "prod")
        #expect(run.count == 2)
        #expect(run.global.output == .json)
        #expect(try parsePairs(run.environment, what: "env").map { "\($0.0)|\($0.1)" } == ["A|1", "B|x=y"])
        #expect(
            try run.placement.parsedStrategies() == [
                PlacementStrategy(type: .spread, field: "attribute:ecs.availability-zone"), PlacementStrategy(type: .binpack, field: "memory"),
            ])
        #expect(try run.placement.parsedConstraints() == [PlacementConstraint(type: .distinctInstance)])
    }

    @Test func noPlacementFlagsSendNoPlacementFields() throws {
        let run = try #require(try ECSCtl.parseAsRoot(["task", "run", "web"]) as? TaskCommand.Run)
        #expect(try run.placement.parsedStrategies() == nil)
        #expect(try run.placement.parsedConstraints() == nil)
        #expect(run.global.output == .table)
    }

    @Test func memberOfConstraintsKeepTheirExpression() throws {
        let run = try #require(
            try ECSCtl.parseAsRoot(["task", "run", "web", "--constraint", "memberOf:attribute:stack == prod"]) as? TaskCommand.Run)
        #expect(try run.placement.parsedConstraints() == [PlacementConstraint(type: .memberOf, expression: "attribute:stack == prod")])
    }

    @Test func unknownStrategiesAndConstraintsAreRefusedWithTheChoices() throws {
        let strategy = try #require(try ECSCtl.parseAsRoot(["task", "run", "web", "--strategy", "pack"]) as? TaskCommand.Run)
        let refused = #expect(throws: ValidationError.self) { try strategy.placement.parsedStrategies() }
        #expect(refused?.message.contains("use random, binpack:cpu|memory or spread:<field>") == true)
        let constraint = try #require(try ECSCtl.parseAsRoot(["task", "run", "web", "--constraint", "sameZone"]) as? TaskCommand.Run)
        let refusedConstraint = #expect(throws: ValidationError.self) { try constraint.placement.parsedConstraints() }
        #expect(refusedConstraint?.message.contains("distinctInstance or memberOf:<expression>") == true)
    }

    @Test func malformedPairsNameTheBadItem() {
        let error = #expect(throws: ValidationError.self) { try parsePairs(["A=1", "oops"], what: "env") }
        #expect(error?.message == "env 'oops' must look like key=value.")
    }

    @Test func unknownVerbsAndMissingArgumentsAreParseErrors() {
        #expect(throws: (any Error).self) { try ECSCtl.parseAsRoot(["task", "explode"]) }
        #expect(throws: (any Error).self) { try ECSCtl.parseAsRoot(["task", "run"]) }
        #expect(throws: (any Error).self) { try ECSCtl.parseAsRoot(["task", "run", "web", "--output", "yaml"]) }
        #expect(throws: (any Error).self) { try ECSCtl.parseAsRoot(["task", "run", "web", "--count", "many"]) }
    }

    @Test func tablesAlignColumnsAndLeaveTheLastOneRagged() {
        let text = Printer.renderTable(["NAME", "STATUS", "TASKS"], [["web", "ACTIVE", "3"], ["batch-jobs", "INACTIVE", "0"]])
        #expect(
            text == """
                NAME        STATUS    TASKS
                web         ACTIVE    3
                batch-jobs  INACTIVE  0

                """)
    }

    @Test func shortIdentifiersForTables() {
        #expect(shortId("arn:aws:ecs:us-east-1:000000000000:task/prod/0123abcd") == "0123abcd")
        #expect(shortId(nil) == "-")
        #expect(shortTaskDefinition("arn:aws:ecs:us-east-1:000000000000:task-definition/web:3") == "web:3")
    }
}

struct LogWindowTests {
    @Test func windowsAreANumberAndAUnit() {
        #expect(LogWindow.milliseconds("30s") == 30_000 && LogWindow.milliseconds("10m") == 600_000)
        #expect(LogWindow.milliseconds("2h") == 7_200_000 && LogWindow.milliseconds("1d") == 86_400_000)
        for bad in ["", "10", "m", "-1m", "1w", "x1h"] { #expect(LogWindow.milliseconds(bad) == nil, "\(bad)") }
    }
}

/// Several endpoints (replicas): ecsctl uses the first that accepts a connection.
struct EndpointChoiceTests {
    @Test func theFirstEndpointThatAcceptsAConnectionIsUsed() throws {
        let listener = try LoopbackSocket(listening: true)
        defer { listener.close() }
        let open = "http://127.0.0.1:\(listener.port)"
        // Port 1 on loopback: nothing listens there.
        let closed = "http://127.0.0.1:1"
        #expect(EndpointChoice.reachable("\(closed), \(open)") == open)
        #expect(EndpointChoice.reachable(open) == open)
        #expect(EndpointChoice.reachable("\(closed),http://127.0.0.1:2") == closed, "none answers: the first, which fails with its own message")
    }
}
