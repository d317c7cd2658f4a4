@testable import CloudFormation
import Foundation
import StevedoreCore
import Testing

/// Templates read and checked, and the intrinsic functions worked out, as CloudFormation does.
struct TemplateTests {
    static let yaml = """
        AWSTemplateFormatVersion: '2010-09-09'
        Description: a queue and a function
        Parameters:
          Env:
            Type: String
            AllowedValues: [dev, prod]
            Default: dev
          Size:
            Type: Number
            Default: 128
          Zones:
            Type: CommaDelimitedList
            Default: "a,b"
        Mappings:
          Sizes:
            dev: {Memory: 128}
            prod: {Memory: 1024}
        Conditions:
          IsProd: !Equals [!Ref Env, prod]
          NotProd: !Not [!Condition IsProd]
        Resources:
          Queue:
            Type: AWS::SQS::Queue
            Properties:
              VisibilityTimeout: 30
          Function:
            Type: AWS::Lambda::Function
            Properties:
              Role: !GetAtt Role.Arn
              MemorySize: !FindInMap [Sizes, !Ref Env, Memory]
              Environment:
                Variables:
                  QUEUE: !Ref Queue
                  WHERE: !Sub "${AWS::Region}/${Queue.Arn}/${!Literal}"
                  ZONE: !Select [1, !Ref Zones]
                  JOINED: !Join ["-", [!Ref Env, !If [IsProd, big, small]]]
                  OMITTED: !If [IsProd, yes, !Ref AWS::NoValue]
          Role:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument: {}
          Extra:
            Type: AWS::SNS::Topic
            Condition: IsProd
        Outputs:
          QueueUrl:
            Value: !Ref Queue
            Export:
              Name: !Sub "${AWS::StackName}-queue"
        """

    @Test func readsSectionsAndOrdersResourcesByDependency() throws {
        let template = try StackTemplate.parse(Self.yaml)
        #expect(template.description == "a queue and a function")
        #expect(template.parameters.map(\.name) == ["Env", "Size", "Zones"])
        #expect(template.parameters[2].isList)
        #expect(template.dependencies()["Function"] == ["Role", "Queue"])
        let order = try template.creationOrder()
        #expect(order.firstIndex(of: "Function")! > order.firstIndex(of: "Role")!)
        #expect(order.firstIndex(of: "Function")! > order.firstIndex(of: "Queue")!)
        #expect(template.requiredCapabilities() == ["CAPABILITY_IAM"])
    }

    @Test func resolvesIntrinsicsAgainstParametersConditionsAndResources() throws {
        let template = try StackTemplate.parse(Self.yaml)
        var context = IntrinsicContext()
        context.stackName = "app"
        context.region = "eu-west-1"
        context.mappings = template.mappings
        context.conditionDeclarations = template.conditions
        context.parameters = ["Env": .text("prod"), "Size": .text("128"), "Zones": .list(["a", "b"])]
        context.resources = [
            "Queue": ResourceValues(ref: "http://q/app-Queue", attributes: ["Arn": "arn:q"]),
            "Role": ResourceValues(ref: "role", attributes: ["Arn": "arn:role"]),
        ]
        let conditions = try context.evaluateConditions()
        #expect(conditions == ["IsProd": true, "NotProd": false])
        let function = try #require(template.resource("Function"))
        let resolved = try #require(try context.resolve(function.properties, conditions: conditions))
        #expect(resolved["Role"]?.string == "arn:role")
        #expect(resolved["MemorySize"] == .integer(1024))
        let variables = try #require(resolved["Environment"]?["Variables"])
        #expect(variables["QUEUE"]?.string == "http://q/app-Queue")
        #expect(variables["WHERE"]?.string == "eu-west-1/arn:q/${Literal}")
        #expect(variables["ZONE"]?.string == "b")
        #expect(variables["JOINED"]?.string == "prod-big")
        #expect(variables["OMITTED"]?.string == "yes")

        context.parameters["Env"] = .text("dev")
        let dev = try context.evaluateConditions()
        let devResolved = try #require(try context.resolve(function.properties, conditions: dev))
        #expect(devResolved["Environment"]?["Variables"]?["OMITTED"] == nil, "AWS::NoValue leaves the member out")
        #expect(devResolved["Environment"]?["Variables"]?["JOINED"]?.string == "dev-small")
    }

    @Test func otherFunctions() throws {
        let context = IntrinsicContext()
        func resolve(_ json: String) throws -> Document? {
            try context.resolve(try #require(Document.parseJSON(Array(json.utf8))), conditions: [:])
        }
        #expect(try resolve(#"{"Fn::Split": [",", "a,b,,c"]}"#) == .array([.string("a"), .string("b"), .string(""), .string("c")]))
        #expect(try resolve(#"{"Fn::Base64": "hi"}"#)?.string == "aGk=")
        #expect(try resolve(#"{"Fn::Length": [1, 2, 3]}"#) == .integer(3))
        #expect(try resolve(#"{"Fn::ToJsonString": {"a": [1, "b"]}}"#)?.string == #"{"a":[1,"b"]}"#)
        #expect(try resolve(#"{"Fn::Cidr": ["10.0.0.0/16", 3, 8]}"#) == .array([.string("10.0.0.0/24"), .string("10.0.1.0/24"), .string("10.0.2.0/24")]))
        #expect(try resolve(#"{"Fn::GetAZs": ""}"#)?.items.count == 3)
        #expect(try resolve(#"{"Fn::Equals": [7, "7"]}"#) == .bool(true), "compared as text, as a Number parameter's value is")
        #expect(try resolve(#"{"Fn::Sub": ["${A}-${B}", {"A": "x", "B": {"Ref": "AWS::AccountId"}}]}"#)?.string == "x-123456789012")
        #expect(throws: AWSError.cfnValidation("Template error: Fn::Select cannot select nonexistent value at index 5")) {
            try resolve(#"{"Fn::Select": [5, ["a"]]}"#)
        }
        #expect(throws: AWSError.cfnValidation("No export named nothing found. Rollback requested by user.")) {
            try resolve(#"{"Fn::ImportValue": "nothing"}"#)
        }
    }

    @Test func refusesBrokenTemplatesInCloudFormationsWords() {
        #expect(throws: AWSError.cfnValidation("Template format error: At least one Resources member must be defined.")) {
            try StackTemplate.parse("Resources: {}")
        }
        #expect(throws: AWSError.cfnValidation("Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template")) {
            try StackTemplate.parse("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref Nope\n")
        }
        #expect(throws: AWSError.cfnValidation("Template error: instance of Fn::GetAtt references undefined resource Nope")) {
            try StackTemplate.parse("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !GetAtt Nope.Arn\n")
        }
        #expect(throws: AWSError.cfnValidation("Circular dependency between resources: [A, B]")) {
            try StackTemplate.parse("Resources:\n  A:\n    Type: AWS::SNS::Topic\n    DependsOn: B\n  B:\n    Type: AWS::SNS::Topic\n    DependsOn: A\n")
        }
        #expect(throws: AWSError.cfnValidation("Template format error: Every Parameters object must contain a Type member.")) {
            try StackTemplate.parse("Parameters:\n  P: {}\nResources:\n  A:\n    Type: AWS::SNS::Topic\n")
        }
        #expect(throws: AWSError.cfnValidation("Template format error: JSON not well-formed.")) { try StackTemplate.parse("{\"Resources\": ") }
        #expect(throws: AWSError.cfnValidation("Template format error: Invalid template property or properties [Resource]")) {
            try StackTemplate.parse("Resource:\n  A:\n    Type: AWS::SNS::Topic\n")
        }
    }

    @Test func parametersAreCheckedAgainstTheirDeclarations() throws {
        let template = try StackTemplate.parse(Self.yaml)
        let resolved = try CloudFormationState.resolveParameters(template.parameters, [ParameterInput(key: "Env", value: "prod")], previous: [])
        #expect(resolved.map(\.value) == ["prod", "128", "a,b"])
        #expect(throws: AWSError.cfnValidation("Parameter 'Env' must be one of AllowedValues")) {
            try CloudFormationState.resolveParameters(template.parameters, [ParameterInput(key: "Env", value: "qa")], previous: [])
        }
        #expect(throws: AWSError.cfnValidation("Parameter 'Size' must be a number.")) {
            try CloudFormationState.resolveParameters(template.parameters, [ParameterInput(key: "Size", value: "big")], previous: [])
        }
        #expect(throws: AWSError.cfnValidation("Parameters: [Nope] do not exist in the template")) {
            try CloudFormationState.resolveParameters(template.parameters, [ParameterInput(key: "Nope", value: "x")], previous: [])
        }
        let required = try StackTemplate.parse("Parameters:\n  Name:\n    Type: String\nResources:\n  A:\n    Type: AWS::SNS::Topic\n")
        #expect(throws: AWSError.cfnValidation("Parameters: [Name] must have values")) {
            try CloudFormationState.resolveParameters(required.parameters, [], previous: [])
        }
        let previous = [StackParameter(key: "Name", value: "old")]
        #expect(try CloudFormationState.resolveParameters(required.parameters, [ParameterInput(key: "Name", value: nil, usePreviousValue: true)], previous: previous).first?.value == "old")
    }

    @Test func madeUpNamesKeepTheSuffixWithinTheTypesLimit() {
        let name = ResourceTypes.physicalName(
            type: "AWS::Lambda::Function", stackName: String(repeating: "s", count: 60), logicalId: "HelloWorldFunction", suffix: "ABCDEFGHIJKL")
        #expect(name.count == 64)
        #expect(name.hasSuffix("-ABCDEFGHIJKL"))
        #expect(ResourceTypes.physicalName(type: "AWS::S3::Bucket", stackName: "App", logicalId: "Bucket", suffix: "ABC") == "app-bucket-abc")
    }

    @Test func replacementFollowsTheTypesImmutableProperties() {
        let old = Document.object([("QueueName", .string("a")), ("DelaySeconds", .integer(1))])
        #expect(ResourceTypes.replacement(type: "AWS::SQS::Queue", old: old, new: old.with("DelaySeconds", .integer(2))) == "False")
        #expect(ResourceTypes.replacement(type: "AWS::SQS::Queue", old: old, new: old.with("QueueName", .string("b"))) == "True")
    }
}
