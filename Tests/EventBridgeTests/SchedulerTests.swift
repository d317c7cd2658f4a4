import EventsShapes
import Foundation
import SchedulerShapes
import SQS
import SQSShapes
import StevedoreCore
import Testing

@testable import EventBridge

/// EventBridge Scheduler: when schedules fire and what their targets get.
struct SchedulerTests {
    var host = EventsHost()
    var random = Xoshiro256(seed: 11)
    var changes = ChangeSet()
    var now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z
    let queueArn = "arn:aws:sqs:us-east-1:000000000000:out"

    init() throws {
        _ = try host.sqs.createQueue(SQSCreateQueueRequest(QueueName: "out"), now: now, changes: &changes)
    }

    func input(_ expression: String, zone: String? = nil, window: Int? = nil, target: SCHTarget? = nil, delete: Bool = false) -> SCHCreateScheduleInput {
        SCHCreateScheduleInput(
            ActionAfterCompletion: delete ? .delete : nil,
            FlexibleTimeWindow: SCHFlexibleTimeWindow(MaximumWindowInMinutes: window, Mode: window == nil ? .off : .flexible),
            ScheduleExpression: expression, ScheduleExpressionTimezone: zone,
            Target: target ?? SCHTarget(Arn: queueArn, Input: #"{"job":"report"}"#, RoleArn: "arn:aws:iam::000000000000:role/scheduler"))
    }

    mutating func create(_ name: String, _ input: SCHCreateScheduleInput) throws {
        _ = try host.events.putSchedule(name: name, input, replacing: false, now: now, using: &random, changes: &changes)
    }

    mutating func fire(at date: Date) -> Int {
        now = date
        return host.fireDueScheduledTargets(now: now, using: &random, changes: &changes)
    }

    func bodies() -> [String] { (host.sqs.messages["out"] ?? [:]).values.sorted { $0.sequence < $1.sequence }.map(\.body) }

    @Test mutating func cronSchedulesFireInTheirTimeZone() throws {
        // 09:00 in Paris is 08:00 UTC in January.
        try create("morning", input("cron(0 9 * * ? *)", zone: "Europe/Paris"))
        let next = try #require(host.events.schedules["default/morning"]?.nextFireAt)
        #expect(next == Date(timeIntervalSince1970: 1_800_000_000 + 86_400))
        #expect(fire(at: next.addingTimeInterval(-1)) == 0)
        #expect(fire(at: next) == 1)
        #expect(bodies() == [#"{"job":"report"}"#])
        #expect(host.events.schedules["default/morning"]?.nextFireAt == next.addingTimeInterval(86_400))
    }

    @Test mutating func oneTimeSchedulesCanDeleteThemselves() throws {
        try create("once", input("at(2027-01-15T09:00:00)", delete: true))
        try create("kept", input("at(2027-01-15T09:00:00)"))
        #expect(fire(at: Date(timeIntervalSince1970: 1_800_000_000 + 3600)) == 2)
        #expect(host.events.schedules["default/once"] == nil)
        #expect(host.events.schedules["default/kept"]?.nextFireAt == nil)
        #expect(bodies().count == 2)
    }

    @Test mutating func flexibleWindowsDelayWithinTheWindow() throws {
        try create("flex", input("rate(1 hour)", window: 15))
        let record = try #require(host.events.schedules["default/flex"])
        let scheduled = try #require(record.nextScheduledAt)
        let fires = try #require(record.nextFireAt)
        #expect(fires >= scheduled && fires < scheduled.addingTimeInterval(900))
    }

    @Test mutating func busTargetsGetAnEventOfTheSchedulesSourceAndType() throws {
        _ = try host.events.putRule(EVBPutRuleRequest(Name: "from-scheduler", EventPattern: #"{"source":["billing"]}"#), now: now, changes: &changes)
        _ = try host.events.putTargets(EVBPutTargetsRequest(Rule: "from-scheduler", Targets: [EVBTarget(Id: "q", Arn: queueArn)]), changes: &changes)
        let target = SCHTarget(
            Arn: "arn:aws:events:us-east-1:000000000000:event-bus/default",
            EventBridgeParameters: SCHEventBridgeParameters(DetailType: "Invoice Due", Source: "billing"), Input: #"{"customer":7}"#,
            RoleArn: "arn:aws:iam::000000000000:role/scheduler")
        try create("invoices", input("rate(5 minutes)", target: target))
        #expect(fire(at: now.addingTimeInterval(300)) == 1)
        let event = try JSONDecoder().decode([String: JSONValue].self, from: Data(try #require(bodies().first).utf8))
        #expect(event["source"] == .string("billing") && event["detail-type"] == .string("Invoice Due"))
        #expect(event["detail"] == .object(["customer": .number(7)]))
        #expect(event["resources"] == .array([.string("arn:aws:scheduler:us-east-1:000000000000:schedule/default/invoices")]))
    }

    @Test mutating func badSchedulesAreRefused() throws {
        func refusal(_ name: String, _ input: SCHCreateScheduleInput) -> AWSError? {
            var state = host.events
            var random = self.random
            var changes = ChangeSet()
            do {
                _ = try state.putSchedule(name: name, input, replacing: false, now: now, using: &random, changes: &changes)
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal("x", input("every day"))?.type == "ValidationException")
        #expect(refusal("x", input("rate(1 hour)", zone: "Mars/Olympus"))?.type == "ValidationException")
        #expect(refusal("x", input("rate(1 hour)", window: 0))?.type == "ValidationException")
        #expect(refusal("bad name", input("rate(1 hour)"))?.type == "ValidationException")
        let kinesis = SCHTarget(Arn: "arn:aws:kinesis:us-east-1:000000000000:stream/s", RoleArn: "arn:aws:iam::000000000000:role/r")
        #expect(refusal("x", input("rate(1 hour)", target: kinesis))?.type == "ValidationException")
        var grouped = input("rate(1 hour)")
        grouped.GroupName = "nope"
        #expect(refusal("x", grouped)?.type == "ResourceNotFoundException")
        try create("dup", input("rate(1 hour)"))
        #expect(refusal("dup", input("rate(1 hour)")) == AWSError(type: "ConflictException", message: "Schedule dup already exists.", httpStatus: 409))
        #expect(throws: AWSError.self) { try host.events.schedule("missing", group: nil) }
        _ = try host.events.createScheduleGroup("team", tags: nil, now: now, changes: &changes)
        #expect(throws: AWSError.self) { try host.events.createScheduleGroup("team", tags: nil, now: now, changes: &changes) }
        #expect(throws: AWSError.self) { try host.events.deleteScheduleGroup("default", changes: &changes) }
    }
}
