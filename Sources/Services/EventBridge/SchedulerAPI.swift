#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AWSProtocols
import SchedulerShapes
import SNS
import StevedoreCore

/// EventBridge Scheduler (REST-JSON, signing name `scheduler`): schedules and schedule groups.
public enum SchedulerAPI {
    static let schedules = "/schedules"
    static let groups = "/schedule-groups"

    public static func routes<Committer: StateCommitting>(committer: Committer) -> RESTRoutes where Committer.Root: EventBridgeHost & SNSHost {
        var routes = RESTRoutes(errorStyle: .restJSON)
        for (method, replacing) in [("POST", false), ("PUT", true)] {
            routes.json(method, schedules + "/{name}") { (input: SCHCreateScheduleInput, request) throws(AWSError) in
                let name = request.parameter("name")
                let arn = try await committer.write { root, m throws(AWSError) in
                    try root.events.putSchedule(name: name, input, replacing: replacing, now: m.now, using: &m.random, changes: &m.changes)
                }
                return replacing ? ScheduleArnOutput(ScheduleArn: arn) : ScheduleArnOutput(ScheduleArn: arn)
            }
        }
        routes.respond("GET", schedules + "/{name}") { request throws(AWSError) in
            let (name, group) = (request.parameter("name"), request.query("groupName"))
            return try await committer.read { root, _ throws(AWSError) in root.events.scheduleOutput(try root.events.schedule(name, group: group)) }
        }
        routes.respond("DELETE", schedules + "/{name}") { request throws(AWSError) in
            let (name, group) = (request.parameter("name"), request.query("groupName"))
            try await committer.write { root, m throws(AWSError) in try root.events.deleteSchedule(name, group: group, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", schedules) { request throws(AWSError) in
            let input = SCHListSchedulesInput(
                GroupName: request.query("ScheduleGroup"), MaxResults: request.query("MaxResults", as: Int.self), NamePrefix: request.query("NamePrefix"),
                NextToken: request.query("NextToken"), State: request.query("State").flatMap(SCHScheduleState.init(rawValue:)))
            return try await committer.read { root, _ throws(AWSError) in try root.events.listSchedules(input) }
        }
        routes.json("POST", groups + "/{name}") { (input: SCHCreateScheduleGroupInput, request) throws(AWSError) in
            let name = request.parameter("name")
            let arn = try await committer.write { root, m throws(AWSError) in
                try root.events.createScheduleGroup(name, tags: input.Tags, now: m.now, changes: &m.changes)
            }
            return SCHCreateScheduleGroupOutput(ScheduleGroupArn: arn)
        }
        routes.respond("GET", groups + "/{name}") { request throws(AWSError) in
            let name = request.parameter("name")
            return try await committer.read { root, _ throws(AWSError) in try root.events.scheduleGroupOutput(name) }
        }
        routes.respond("DELETE", groups + "/{name}") { request throws(AWSError) in
            let name = request.parameter("name")
            try await committer.write { root, m throws(AWSError) in try root.events.deleteScheduleGroup(name, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", groups) { request throws(AWSError) in
            let input = SCHListScheduleGroupsInput(
                MaxResults: request.query("MaxResults", as: Int.self), NamePrefix: request.query("NamePrefix"), NextToken: request.query("NextToken"))
            return try await committer.read { root, _ throws(AWSError) in try root.events.listScheduleGroups(input) }
        }
        routes.json("POST", "/tags/{arn}") { (input: SCHTagResourceInput, request) throws(AWSError) in
            let arn = request.parameter("arn")
            try await committer.write { root, m throws(AWSError) in try root.events.tagScheduleGroup(arn, add: input.Tags, remove: [], now: m.now, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("DELETE", "/tags/{arn}") { request throws(AWSError) in
            let (arn, keys) = (request.parameter("arn"), request.queryAll("TagKeys"))
            try await committer.write { root, m throws(AWSError) in try root.events.tagScheduleGroup(arn, add: [], remove: keys, now: m.now, changes: &m.changes) }
            return EmptyOutput()
        }
        routes.respond("GET", "/tags/{arn}") { request throws(AWSError) in
            let arn = request.parameter("arn")
            return SCHListTagsForResourceOutput(Tags: try await committer.read { root, _ throws(AWSError) in try root.events.scheduleGroupTags(arn) })
        }
        return routes
    }

    /// IAM actions of the routes (`scheduler:<Operation>`), keyed by method and path template.
    public static let iamActions: [String: String] = [
        "POST \(schedules)/{name}": "scheduler:CreateSchedule", "PUT \(schedules)/{name}": "scheduler:UpdateSchedule",
        "GET \(schedules)/{name}": "scheduler:GetSchedule", "DELETE \(schedules)/{name}": "scheduler:DeleteSchedule",
        "GET \(schedules)": "scheduler:ListSchedules", "POST \(groups)/{name}": "scheduler:CreateScheduleGroup",
        "GET \(groups)/{name}": "scheduler:GetScheduleGroup", "DELETE \(groups)/{name}": "scheduler:DeleteScheduleGroup",
        "GET \(groups)": "scheduler:ListScheduleGroups", "POST /tags/{arn}": "scheduler:TagResource", "DELETE /tags/{arn}": "scheduler:UntagResource",
        "GET /tags/{arn}": "scheduler:ListTagsForResource",
    ]
}

/// CreateSchedule's and UpdateSchedule's answer.
struct ScheduleArnOutput: Codable, Sendable {
    var ScheduleArn: String
}
