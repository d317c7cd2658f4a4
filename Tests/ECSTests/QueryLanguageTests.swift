import AgentProtocol
@testable import ECS
import ECSShapes
import StevedoreCore
import StevedoreTestSupport
import Testing

/// An instance as the query language sees it.
struct FakeInstance: QueryTarget {
    var agentConnected = true
    var agentVersion: String? = "1.80.0"
    var ec2InstanceId: String? = "i-abcd1234"
    var registeredAtSeconds: Double? = 1_529_360_908  // 2018-06-18T22:28:28Z
    var runningTasksCount = 2
    var attributes: [String: String?] = [
        "ecs.instance-type": "t2.small", "ecs.availability-zone": "us-east-1a", "stack": "prod",
        "ecs.capability.container-health-check": nil, "weight": "10",
    ]
    var groups: [String] = ["service:web", "family:batch"]

    func attributeValue(_ name: String) -> String?? { attributes[name] }
    func hasTask(inGroupMatching predicate: (String) -> Bool) -> Bool { groups.contains(where: predicate) }
}

struct QueryLanguageTests {
    let instance = FakeInstance()

    func matches(_ expression: String, _ target: FakeInstance? = nil) throws -> Bool {
        try QueryExpression.parse(expression).matches(target ?? instance)
    }

    func parseError(_ expression: String) -> String? {
        do {
            _ = try QueryExpression.parse(expression)
            return nil
        } catch {
            return error.message
        }
    }

    @Test(arguments: [
        ("attribute:ecs.instance-type == t2.small", true),
        ("attribute:ecs.instance-type equals t2.small", true),
        ("attribute:ecs.instance-type != t2.small", false),
        ("attribute:ecs.instance-type not_equals t2.micro", true),
        ("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]", true),
        ("attribute:ecs.availability-zone in ['us-east-1c', \"us-east-1d\"]", false),
        ("attribute:ecs.availability-zone !in [us-east-1c]", true),
        ("attribute:ecs.availability-zone not_in [us-east-1a]", false),
        ("attribute:ecs.instance-type =~ t2.*", true),
        ("attribute:ecs.instance-type matches g2.*", false),
        ("attribute:ecs.instance-type !~ g2.*", true),
        ("attribute:ecs.instance-type not_matches t2.*", false),
        ("attribute:stack exists", true),
        ("attribute:ecs.capability.container-health-check exists", true),
        ("attribute:missing exists", false),
        ("attribute:missing !exists", true),
        ("attribute:stack not_exists", false),
        ("attribute:weight > 9", true),
        ("attribute:weight greater_than 10", false),
        ("attribute:weight >= 10", true),
        ("attribute:weight greater_than_equal 11", false),
        ("attribute:weight < 11", true),
        ("attribute:weight less_than 10", false),
        ("attribute:weight <= 10", true),
        ("attribute:weight less_than_equal 9", false),
        ("attribute:missing == x", false),
        ("attribute:missing != x", true),
    ])
    func attributeOperators(_ expression: String, _ expected: Bool) throws {
        #expect(try matches(expression) == expected, "\(expression)")
    }

    @Test(arguments: [
        ("agentConnected == true", true),
        ("agentConnected != true", false),
        ("agentVersion < 1.81.0", true),
        ("agentVersion >= 1.80", true),
        ("agentVersion == 1.80.0", true),
        ("agentVersion > 1.100.0", false),
        ("ec2InstanceId == i-abcd1234", true),
        ("ec2InstanceId in ['i-abcd1234', 'i-wxyx7890']", true),
        ("ec2InstanceId =~ i-.*", true),
        ("registeredAt < 2018-06-19", true),
        ("registeredAt > 2018-06-18T22:28:27Z", true),
        ("registeredAt == 2018-06-18T22:28:28+00:00", true),
        ("registeredAt <= 2018-06-18T23:28:27+01:00", false),
        ("registeredAt >= 2018-06-18T22:28:28", true),
        ("runningTasksCount == 2", true),
        ("runningTasksCount > 1", true),
        ("runningTasksCount <= 1", false),
        ("task:group == service:web", true),
        ("task:group == service:db", false),
        ("task:group != service:db", true),
        ("task:group != service:web", false),
        ("task:group in [service:db, family:batch]", true),
        ("task:group =~ service:.*", true),
        ("task:group exists", true),
    ])
    func otherSubjects(_ expression: String, _ expected: Bool) throws {
        #expect(try matches(expression) == expected, "\(expression)")
    }

    @Test(arguments: [
        ("attribute:stack == prod and attribute:ecs.instance-type == t2.small", true),
        ("attribute:stack == prod && attribute:ecs.instance-type == t2.micro", false),
        ("attribute:stack == dev or attribute:ecs.instance-type == t2.small", true),
        ("attribute:stack == dev || attribute:ecs.instance-type == t2.micro", false),
        ("not(task:group == service:web)", false),
        ("!(task:group == database)", true),
        ("attribute:stack == dev or attribute:stack == prod and runningTasksCount == 2", true),
        ("(attribute:stack == dev or attribute:stack == prod) and runningTasksCount == 3", false),
        ("attribute:ecs.instance-type =~ t2.* and not(attribute:ecs.availability-zone in [us-east-1d])", true),
        ("not((attribute:stack == prod))", false),
    ])
    func combinations(_ expression: String, _ expected: Bool) throws {
        #expect(try matches(expression) == expected, "\(expression)")
    }

    @Test func disconnectedAgent() throws {
        var down = instance
        down.agentConnected = false
        #expect(try matches("agentConnected == false", down))
        #expect(try !matches("agentConnected == true", down))
    }

    @Test func spacingIsOptionalAroundSymbols() throws {
        #expect(try matches("runningTasksCount==2&&attribute:stack==prod"))
        #expect(try matches("agentVersion<1.81.0"))
    }

    @Test(arguments: [
        ("", "empty"),
        ("attribute:stack", "expected an operator"),
        ("attribute:stack ==", "expected a value"),
        ("colour == red", "Unknown subject 'colour'"),
        ("runningTasksCount =~ 1", "cannot be used with runningTasksCount"),
        ("agentConnected > true", "cannot be used with agentConnected"),
        ("runningTasksCount > many", "whole number"),
        ("registeredAt > yesterday", "registeredAt compares with a date"),
        ("agentConnected == maybe", "true or false"),
        ("attribute:a == b and", "expected a subject"),
        ("(attribute:a == b", "expected ')'"),
        ("attribute:a == b)", "expected 'and', 'or'"),
        ("attribute:a in a, b", "expected a list"),
        ("attribute:a in [a b]", "expected ',' or ']'"),
        ("attribute:a == 'open", "Unterminated quoted string"),
        ("attribute:a =~ '[z-a]'", "not a valid regular expression"),
        ("not attribute:a == b", "expected '(' after not"),
    ])
    func parseErrors(_ expression: String, _ fragment: String) {
        let message = parseError(expression)
        #expect(message?.contains(fragment) == true, "\(expression): \(message ?? "parsed")")
    }
}
